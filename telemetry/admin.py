from django.contrib import admin

from .models import Span


@admin.register(Span)
class SpanAdmin(admin.ModelAdmin):
    """Read-only: spans come from OTLP (telemetry.services.ingest_spans) and go by retention."""

    list_display = ("name", "integration", "flow", "business_key", "status", "duration_ms", "started_at")
    list_filter = ("status", "integration")
    search_fields = ("business_key", "trace_id", "name")
    list_select_related = ("integration",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
