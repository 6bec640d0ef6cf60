"""Roles are Django groups whose permissions are declared here, in one place.

Each role lists permission patterns (``app_label.codename`` with shell-style wildcards).
``sync_roles`` makes every group hold exactly the permissions its patterns match; it runs
from the data migration and again after every ``migrate`` so permissions of models added
later reach the groups. The README's role matrix is this table.
"""

from fnmatch import fnmatch

ARCHITECT = "Architect"
STEWARD = "Steward"
FINANCE = "Finance"
EXECUTIVE = "Executive"
INTEGRATION = "Integration"

# Reading is a permission too: a signed-in account with no role sees nothing.
_READ_ALL = "*.view_*"
# Never granted through a role: account, session and token tables, and beat schedules.
# Importing a registry's history with its ids (stewardship.import_schema) skips the review, so
# an admin grants it to one migration account, never to a whole role.
_NEVER = ("auth.*", "admin.*", "sessions.*", "contenttypes.*", "controlplane.*_servicetoken", "django_celery_beat.*",
          "stewardship.import_schema")

ROLE_PERMISSIONS: dict[str, list[str]] = {
    ARCHITECT: [_READ_ALL, "catalog.*", "health.*", "stewardship.validate_payload", "exceptions.*_queue",
                "exceptions.*_routingrule", "exceptions.*_defaultqueue", "exceptions.*_replaytarget",
                "traces.*_cloudeventmapping"],
    STEWARD: [_READ_ALL, "stewardship.*"],
    FINANCE: [
        _READ_ALL,
        "exceptions.change_businessexception",
        "exceptions.add_comment",
        "exceptions.replay_businessexception",
        "exceptions.export_businessexception",
        "kpis.add_fxrate",
        "kpis.change_fxrate",
    ],
    EXECUTIVE: [_READ_ALL],
    INTEGRATION: [
        _READ_ALL,
        "exceptions.add_businessexception",
        "exceptions.ingest_businessexception",
        "health.add_syncrun",
        "stewardship.validate_payload",
        "stewardship.register_schema",
        "kpis.add_businessevent",
        "kpis.add_reconciliation",
        "telemetry.add_span",
    ],
}

ROLE_DESCRIPTIONS = {
    ARCHITECT: "Registers systems, APIs, integrations, owners and SLAs; imports Backstage descriptors.",
    STEWARD: "Owns system-of-record assignments; reviews and approves schema versions (never their own).",
    FINANCE: "Works the exception queues: assign, comment, edit and replay, resolve, export; keeps the FX rates.",
    EXECUTIVE: "Reads the KPI pages and everything else; changes nothing.",
    INTEGRATION: "Service accounts for middleware: post exceptions, runs, heartbeats, events and traces by token.",
}


def permissions_for(role: str, all_permissions):
    """The subset of ``all_permissions`` (Permission objects with content_type selected)
    that ``role`` holds."""
    patterns = ROLE_PERMISSIONS[role]
    chosen = []
    for perm in all_permissions:
        name = f"{perm.content_type.app_label}.{perm.codename}"
        if any(fnmatch(name, never) for never in _NEVER):
            continue
        if any(fnmatch(name, pattern) for pattern in patterns):
            chosen.append(perm)
    return chosen


def sync_roles(group_model=None, permission_model=None):
    if group_model is None:
        from django.contrib.auth.models import Group as group_model
        from django.contrib.auth.models import Permission as permission_model
    all_permissions = list(permission_model.objects.select_related("content_type"))
    for role in ROLE_PERMISSIONS:
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set(permissions_for(role, all_permissions))


def sync_roles_after_migrate(sender, using="default", **kwargs):
    from django.contrib.auth.models import Group

    if not Group.objects.using(using).exists() and sender.name != "controlplane":
        return
    sync_roles()


def user_roles(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return cached
