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
def create_service_account(*, name: str, role: str, actor=None) -> tuple[ServiceToken, str]:
    """Create (or reuse) the service user ``name`` in ``role`` and issue a new token.

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
    audit.record(actor=actor, action="service_token.created", obj=token, after={"user": user.username, "role": role_name})
    return token, key


@transaction.atomic
def revoke_service_token(*, token: ServiceToken, actor) -> ServiceToken:
    changed = ServiceToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not changed:
        raise InvalidTransition("This token is already revoked.")
    token.refresh_from_db(fields=["revoked_at"])
    audit.record(actor=actor, action="service_token.revoked", obj=token, after={"revoked_at": token.revoked_at})
    return token
