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
        # The plug-ins of other apps: the workflow-stages panel and the middleware's spans.
        from catalog.stages import stages_panel
        from telemetry.selectors import spans_for_key, spans_probe

        sources.register_panel("stages", stages_panel, "catalog/_trace_stages.html")
        sources.register_source(spans_for_key, probe=spans_probe)
