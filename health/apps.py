from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Integration health"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
