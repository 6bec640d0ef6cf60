from django.contrib import admin, messages

from controlplane.admin import ActionsOnlyAdmin, ReadOnlyAdmin, ServiceErrorsAsMessages

from . import services
from .models import BusinessEvent, FxRate, KpiDirtyWindow, KpiSnapshot, KpiTarget, Reconciliation
from .periods import Window


@admin.register(KpiTarget)
class KpiTargetAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """Targets per KPI; saved through the service so each change is audited."""

    list_display = ("key", "target", "tolerance_pct", "updated_at")
    search_fields = ("key",)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.set_target(actor=request.user, key=obj.key, target=obj.target, tolerance_pct=obj.tolerance_pct)
        obj.pk = saved.pk


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(ActionsOnlyAdmin):
    list_display = ("key", "scope_type", "scope_key", "period", "period_start", "value", "computed_at")
    list_filter = ("key", "period", "scope_type")
    search_fields = ("key", "scope_key")
    date_hierarchy = "period_start"
    actions = ["recompute"]

    @admin.action(description="Recompute the selected snapshots' periods now", permissions=["change"])
    def recompute(self, request, queryset):
        windows = {Window(p, s) for p, s in queryset.values_list("period", "period_start").distinct()}
        count = sum(services.refresh_window(w) for w in windows)
        self.message_user(request, f"Recomputed {len(windows)} period(s): {count} snapshot(s).", messages.SUCCESS)


@admin.register(BusinessEvent)
class BusinessEventAdmin(ReadOnlyAdmin):
    """Events arrive through the API (``ingest_events``), deduplicated and range-checked."""

    list_display = ("event_id", "type", "correlation_key", "occurred_at", "workflow", "integration", "amount", "currency")
    list_filter = ("type", "workflow")
    search_fields = ("event_id", "correlation_key")
    date_hierarchy = "occurred_at"
    list_select_related = ("workflow", "integration")


@admin.register(Reconciliation)
class ReconciliationAdmin(ReadOnlyAdmin):
    """Reconciliations are reported through the API (``record_reconciliation``)."""

    list_display = ("integration", "entity", "period_start", "period_end", "source_count", "target_count", "mismatched_count")
    list_filter = ("entity",)
    search_fields = ("integration__name", "entity__name")
    list_select_related = ("integration", "entity")


@admin.register(FxRate)
class FxRateAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """Dated FX rates. Added and changed through the service (audited, and the money KPI
    snapshots they touch are recomputed); the ECB file is uploaded on the FX rates page."""

    list_display = ("date", "base", "quote", "rate", "source", "updated_at")
    list_filter = ("base", "quote")
    search_fields = ("base", "quote", "source")
    date_hierarchy = "date"
    fields = ("base", "quote", "date", "rate")

    def has_delete_permission(self, request, obj=None):
        return False  # a rate that fed signed figures is corrected by a new rate, not deleted

    def save_model(self, request, obj, form, change):
        services.record_fx_rates(actor=request.user, rates=[(obj.base, obj.quote, obj.date, obj.rate)],
                                 source=f"Admin ({request.user.get_username()})")
        obj.pk = FxRate.objects.get(base=obj.base.upper(), quote=obj.quote.upper(), date=obj.date).pk


@admin.register(KpiDirtyWindow)
class KpiDirtyWindowAdmin(ReadOnlyAdmin):
    """KPI windows waiting for the debounced refresh (read-only)."""

    list_display = ("key", "period", "period_start", "marked_at")
    list_filter = ("period", "key")
