"""Start-up check of the group mapping: a role that does not exist would silently grant
nothing, so it is an error that names the setting."""

from django.conf import settings
from django.core import checks

from controlplane.roles import ROLE_PERMISSIONS


@checks.register()
def group_roles_exist(app_configs, **kwargs):
    errors = []
    for group, roles in (getattr(settings, "OIDC_GROUP_ROLES", {}) or {}).items():
        for role in roles:
            if role not in ROLE_PERMISSIONS:
                errors.append(checks.Error(
                    f"OIDC_GROUP_ROLES maps {group!r} to {role!r}, which is not a role.",
                    hint=f"Roles: {', '.join(ROLE_PERMISSIONS)}.", id="sso.E001"))
    return errors
