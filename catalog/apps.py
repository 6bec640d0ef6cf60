from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from django.db.models.signals import post_delete, post_migrate, post_save

        from . import reference
        from .models import Integration
        from .selectors import forget_integrations

        post_save.connect(forget_integrations, sender=Integration, dispatch_uid="catalog-forget-integrations-save")
        post_delete.connect(forget_integrations, sender=Integration, dispatch_uid="catalog-forget-integrations-delete")
        post_migrate.connect(reference.seed_after_flush, sender=self, dispatch_uid="catalog-reference-data")
