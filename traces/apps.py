from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Business transaction traces"

    def ready(self):
        from django.db.models import JSONField

        from . import builtin, sources
        from .lookups import CarriesValue

        JSONField.register_lookup(CarriesValue)
        for fn, probe in builtin.SOURCES:
            sources.register_source(fn, probe=probe)
