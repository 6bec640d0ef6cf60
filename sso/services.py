"""Single sign-on writes: the account an identity provider vouches for, and the roles and
team memberships its groups map to (settings OIDC_GROUP_ROLES / OIDC_GROUP_TEAMS). Called
by the OIDC backend at every sign-in; each change is one audit row.

Team memberships this mapping made carry ``external_ref = "sso"``, so a later sign-in
removes only those when a group goes; memberships added by hand are never touched. A team
that owns a restricted queue is governed by its leads (catalog.services): the mapping does
not add anyone to it, and says so in the audit log.
"""

import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Team, TeamMember
from controlplane import audit
from controlplane.errors import NotAllowed, ValidationFailed
from controlplane.roles import ROLE_PERMISSIONS

from .models import Identity

log = logging.getLogger(__name__)

SSO_REF = "sso"
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def groups_of(claims: dict) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return sorted({str(g)[:200] for g in value if isinstance(g, str | int) and str(g)})


def mapped(groups, mapping: dict) -> list[str]:
    """The names ``mapping`` gives the user's ``groups`` (sorted, each once)."""
    return sorted({name for group in groups for name in mapping.get(group, [])})


def _free_username(claims: dict) -> str:
    model = get_user_model()
    wanted = claims.get("preferred_username") or (claims.get("email") or "").split("@")[0] or claims["sub"]
    base = _USERNAME_UNSAFE.sub("-", str(wanted))[:140] or "user"
    name, n = base, 1
    while model.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _profile(claims: dict) -> dict:
    return {
        "email": str(claims.get("email") or "")[:254],
        "first_name": str(claims.get("given_name") or "")[:150],
        "last_name": str(claims.get("family_name") or "")[:150],
    }


@transaction.atomic
def sign_in_from_provider(*, issuer: str, claims: dict):
    """The user the provider's ``claims`` (userinfo, ``sub`` required) describe, made on
    first sign-in and brought up to date (profile, roles, mapped teams) on every one."""
    subject = str(claims.get("sub") or "")
    if not subject or len(subject) > 255:
        raise ValidationFailed("The identity provider sent no usable subject (sub).")
    groups = groups_of(claims)
    identity = Identity.objects.select_for_update().select_related("user").filter(
        issuer=issuer, subject=subject).first()
    profile = _profile(claims)
    if identity is None:
        user = get_user_model()(username=_free_username(claims), **profile)
        user.set_unusable_password()  # signs in through the provider only; no password reset either
        user.full_clean(exclude=["password"])
        user.save()
        identity = Identity.objects.create(user=user, issuer=issuer, subject=subject)
        audit.record(actor=user, action="sso.user_created", obj=user,
                     after={"username": user.username, **profile, "issuer": issuer},
                     note="First sign-in through single sign-on.")
    else:
        user = identity.user
        before = {name: getattr(user, name) for name in profile}
        if before != profile:
            for name, value in profile.items():
                setattr(user, name, value)
            user.save(update_fields=list(profile))
            audit.record(actor=user, action="sso.profile_updated", obj=user, before=before, after=profile,
                         note="Updated from the identity provider at sign-in.")
    if user.is_active:
        _apply_roles(user, groups)
        _apply_teams(user, groups)
    identity.groups = groups
    identity.last_sign_in = timezone.now()
    identity.save(update_fields=["groups", "last_sign_in"])
    return user


def _apply_roles(user, groups):
    wanted = [role for role in mapped(groups, settings.OIDC_GROUP_ROLES) if role in ROLE_PERMISSIONS]
    held = sorted(user.groups.filter(name__in=ROLE_PERMISSIONS).values_list("name", flat=True))
    if held == wanted:
        return
    user.groups.remove(*Group.objects.filter(name__in=set(held) - set(wanted)))
    user.groups.add(*Group.objects.filter(name__in=set(wanted) - set(held)))
    audit.record(actor=user, action="sso.roles_applied", obj=user, before={"roles": held}, after={"roles": wanted},
                 note=f"Roles from the identity provider's groups: {', '.join(groups) or 'none'}.")


def _apply_teams(user, groups):
    wanted_slugs = mapped(groups, settings.OIDC_GROUP_TEAMS)
    wanted = {team.pk: team for team in Team.objects.filter(slug__in=wanted_slugs)}
    missing = sorted(set(wanted_slugs) - {team.slug for team in wanted.values()})
    if missing:
        log.warning("OIDC_GROUP_TEAMS names teams that do not exist: %s", ", ".join(missing))
    memberships = {m.team_id: m for m in TeamMember.objects.filter(user=user).select_related("team")}
    note = "From the identity provider's groups at sign-in."
    for team_id, team in sorted(wanted.items()):
        if team_id in memberships:
            continue
        try:
            catalog_services.add_team_member(actor=user, team=team, user=user, external_ref=SSO_REF, note=note)
        except NotAllowed as exc:
            audit.record(actor=user, action="sso.team_skipped", obj=team, after={"user": user.username},
                         note=f"Not added from the identity provider: {exc.message}")
    for team_id, member in memberships.items():
        if member.external_ref == SSO_REF and team_id not in wanted:
            try:
                catalog_services.remove_team_member(actor=user, member=member, note=note)
            except NotAllowed as exc:
                audit.record(actor=user, action="sso.team_skipped", obj=member.team, before={"user": user.username},
                             note=f"Not removed by the identity provider: {exc.message}")
