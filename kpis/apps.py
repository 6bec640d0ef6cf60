from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "kpis"
    verbose_name = "KPIs"

    def ready(self):
        from . import definitions  # noqa: F401  (registers the KPIs, and their names for KpiTarget)
