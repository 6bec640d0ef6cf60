"""Control-plane writes: service accounts and their tokens."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from . import audit
from .errors import InvalidTransition, ValidationFailed
from .models import ServiceToken
from .roles import ROLE_PERMISSIONS


@transaction.atomic
def create_service_account(*, name: str, role: str, actor=None, integrations=(), systems=(),
                           all_integrations: bool = False, read_metrics: bool = False) -> tuple[ServiceToken, str]:
    """Create (or reuse) the service user ``name`` in ``role`` and issue a new token that
    speaks for ``integrations`` and ``systems`` (slugs or objects), or for every
    integration with ``all_integrations``. With none of them the token may read but write
    for no integration until it is given a scope (``set_token_scope``). ``read_metrics``
    lets it scrape ``/metrics`` (a Prometheus server's token).

    Returns the token row and the secret, which is shown once and never stored."""
    role_name = next((r for r in ROLE_PERMISSIONS if r.lower() == role.lower()), None)
    if role_name is None:
        raise ValidationFailed(f"Unknown role {role!r}; choose one of {', '.join(ROLE_PERMISSIONS)}.")
    if not name or len(name) > 150:
        raise ValidationFailed("A service account needs a name of 1 to 150 characters.")
    User = get_user_model()
    user, created = User.objects.get_or_create(username=name, defaults={"is_active": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role_name))
    key = ServiceToken.generate_key()
    token = ServiceToken.objects.create(
        user=user, name=name, key_prefix=key[: len(ServiceToken.PREFIX) + 6], key_hash=ServiceToken.hash_key(key)
    )
    integration_objs, system_objs = _scope_objects(integrations, systems)
    token.all_integrations = bool(all_integrations)
    token.read_metrics = bool(read_metrics)
    token.save(update_fields=["all_integrations", "read_metrics"])
    token.integrations.set(integration_objs)
    token.systems.set(system_objs)
    audit.record(actor=actor, action="service_token.created", obj=token,
                 after={"user": user.username, "role": role_name, **_scope_snapshot(token)})
    return token, key


def _scope_objects(integrations, systems):
    from catalog.models import Integration, System

    found = []
    for model, values, label in ((Integration, integrations, "integration"), (System, systems, "system")):
        values = list(values or ())
        slugs = [v for v in values if isinstance(v, str)]
        objs = [v for v in values if not isinstance(v, str)]
        by_slug = {o.slug: o for o in model.objects.filter(slug__in=slugs)}
        unknown = sorted(set(slugs) - set(by_slug))
        if unknown:
            raise ValidationFailed(f"Unknown {label}(s): {', '.join(unknown)}.", fields={label: unknown})
        found.append([*objs, *by_slug.values()])
    return found


def _scope_snapshot(token: ServiceToken) -> dict:
    return {
        "all_integrations": token.all_integrations,
        "read_metrics": token.read_metrics,
        "integrations": sorted(token.integrations.values_list("slug", flat=True)),
        "systems": sorted(token.systems.values_list("slug", flat=True)),
    }


@transaction.atomic
def set_token_scope(*, token: ServiceToken, actor, integrations=(), systems=(), all_integrations: bool = False,
                    read_metrics: bool | None = None) -> ServiceToken:
    """Replace what ``token`` speaks for (slugs or objects) and, unless None, whether it may
    scrape ``/metrics``. Audited with before and after."""
    token = ServiceToken.objects.select_for_update().get(pk=token.pk)
    before = _scope_snapshot(token)
    integration_objs, system_objs = _scope_objects(integrations, systems)
    token.all_integrations = bool(all_integrations)
    if read_metrics is not None:
        token.read_metrics = bool(read_metrics)
    token.save(update_fields=["all_integrations", "read_metrics"])
    token.integrations.set(integration_objs)
    token.systems.set(system_objs)
    after = _scope_snapshot(token)
    if after != before:
        audit.record(actor=actor, action="service_token.scope_changed", obj=token, before=before, after=after)
    _forget_after_commit(token)
    return token


@transaction.atomic
def revoke_service_token(*, token: ServiceToken, actor) -> ServiceToken:
    changed = ServiceToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not changed:
        raise InvalidTransition("This token is already revoked.")
    token.refresh_from_db(fields=["revoked_at"])
    audit.record(actor=actor, action="service_token.revoked", obj=token, after={"revoked_at": token.revoked_at})
    _forget_after_commit(token)
    return token


def _forget_after_commit(token):
    """This process stops using its cached copy at once; others within a second (the
    cache's lifetime, controlplane.authentication)."""
    from .authentication import forget

    forget(token.key_hash)
    transaction.on_commit(lambda: forget(token.key_hash))
