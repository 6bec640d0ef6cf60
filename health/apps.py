from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Integration health"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .maintenance import forget_windows
        from .models import MaintenanceWindow

        post_save.connect(forget_windows, sender=MaintenanceWindow, dispatch_uid="health-forget-windows-save")
        post_delete.connect(forget_windows, sender=MaintenanceWindow, dispatch_uid="health-forget-windows-delete")

