from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ControlPlaneConfig(AppConfig):
    name = "controlplane"
    verbose_name = "Control plane"

    def ready(self):
        from . import login_throttle, roles, schedules, schema  # noqa: F401  (schema registers the token scheme; login_throttle its signal receivers)

        # Permissions of apps migrated after our data migration only exist once
        # post_migrate has run, so the role groups are re-synced after every migrate.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="controlplane.sync_roles")
        post_migrate.connect(schedules.ensure_after_migrate, dispatch_uid="controlplane.schedules")
