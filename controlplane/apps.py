from django.apps import AppConfig
from django.db.backends.signals import connection_created
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
        # The database cache table (the default cache without Redis) comes with `migrate`.
        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="controlplane.cache_table")

        # One date-time rule for every serializer (controlplane/validation.py): a model
        # DateTimeField becomes an InstantField in every ModelSerializer, so no writable
        # date-time can skip the window and offset checks.
        from django.db import models
        from rest_framework import serializers

        from .validation import InstantField, tolerate_out_of_range_timestamps

        serializers.ModelSerializer.serializer_field_mapping[models.DateTimeField] = InstantField
        connection_created.connect(tolerate_out_of_range_timestamps, dispatch_uid="controlplane.tolerant_timestamps")


def _create_cache_table(sender, using="default", verbosity=1, **kwargs):
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=max(0, verbosity - 1))
