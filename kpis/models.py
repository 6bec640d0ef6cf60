"""Business events and reconciliations posted by middleware, and the KPI snapshots and
targets computed from them (and from the exception queues and health data)."""

from django.db import models
from django.utils import timezone

from .choices import EventType, Period, ScopeType


class BusinessEvent(models.Model):
    """A business milestone seen by middleware (time approved, invoice posted...).
    ``event_id`` is the sender's id: posting the same event twice stores it once."""

    event_id = models.CharField(max_length=100, unique=True)
    workflow = models.ForeignKey(
        "catalog.Workflow", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    integration = models.ForeignKey(
        "catalog.Integration", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    type = models.CharField(max_length=30, choices=EventType.choices)
    correlation_key = models.CharField(max_length=200, help_text="Project code, contract id or invoice number.")
    occurred_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="On invoice_ready events: when the first invoice_posted with the same key occurred. Kept at "
                  "ingestion so the backlog reads only open rows instead of anti-joining all history.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["type", "correlation_key", "occurred_at"]),
            models.Index(fields=["type", "occurred_at"]),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["closed_at"]),
            models.Index(
                fields=["occurred_at"], condition=models.Q(type="invoice_ready", closed_at__isnull=True),
                name="kpis_event_open_ready",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.correlation_key} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Reconciliation(models.Model):
    """Counts and amounts of one entity in source and target of an integration for a period.
    Posting the same (integration, entity, period) again replaces the figures."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="reconciliations")
    entity = models.ForeignKey("catalog.CanonicalEntity", on_delete=models.CASCADE, related_name="reconciliations")
    period_start = models.DateField()
    period_end = models.DateField()
    source_count = models.PositiveIntegerField()
    target_count = models.PositiveIntegerField()
    source_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    target_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    mismatched_count = models.PositiveIntegerField(default=0)
    mismatched_sample = models.JSONField(default=list, blank=True)
    currency = models.CharField(max_length=3, blank=True,
                                help_text="ISO 4217 code of the amounts; blank means the reporting currency.")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period_end", "integration"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "entity", "period_start", "period_end"], name="reconciliation_unique_period"
            ),
            models.CheckConstraint(condition=models.Q(period_end__gte=models.F("period_start")), name="reconciliation_period_order"),
        ]

    def __str__(self):
        return f"{self.integration} {self.entity} {self.period_start}..{self.period_end}"


# KPI key -> the name its page shows; filled by kpis.definitions.register (which imports
# this module, so this module cannot import it).
KPI_NAMES: dict[str, str] = {}


def kpi_choices():
    """The KPIs by name, for the fields holding a KPI's key (admin lists, filters and the
    audit history show "Overdue share", not ``overdue-share``)."""
    return sorted(KPI_NAMES.items(), key=lambda item: item[1])


class KpiTarget(models.Model):
    """The target of one KPI, editable in admin. Amber is within ``tolerance_pct`` of it."""

    key = models.CharField("KPI", max_length=60, unique=True, choices=kpi_choices)
    target = models.FloatField()
    tolerance_pct = models.FloatField(default=10.0, help_text="How far past the target is still amber, in percent.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "KPI target"
        verbose_name_plural = "KPI targets"

    def __str__(self):
        return f"Target of {KPI_NAMES.get(self.key, self.key)}"


class KpiSnapshot(models.Model):
    """One computed KPI value for a scope and period. Recomputing a period overwrites it."""

    key = models.CharField("KPI", max_length=60, choices=kpi_choices)
    scope_type = models.CharField(max_length=12, choices=ScopeType.choices, default=ScopeType.ALL)
    scope_key = models.CharField(max_length=100, blank=True, help_text="Slug of the workflow, team or integration.")
    period = models.CharField(max_length=5, choices=Period.choices)
    period_start = models.DateField()
    # Decimal, not float: money values reach the page and the CSV exactly as computed.
    value = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True,
                                help_text="Empty when there was nothing to measure.")
    detail = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key", "scope_type", "scope_key", "period", "period_start"]
        verbose_name = "KPI snapshot"
        verbose_name_plural = "KPI snapshots"
        constraints = [
            models.UniqueConstraint(
                fields=["key", "scope_type", "scope_key", "period", "period_start"], name="kpisnapshot_unique"
            )
        ]
        indexes = [models.Index(fields=["key", "period", "scope_type", "period_start"])]

    def __str__(self):
        return f"{self.key} {self.scope_type}:{self.scope_key} {self.period} {self.period_start} = {self.value}"


class FxRate(models.Model):
    """A dated FX reference rate: one ``base`` is worth ``rate`` units of ``quote`` on
    ``date`` (the ECB publishes EUR-based rates: base EUR, quote USD, 1.0823). Money KPIs
    convert each amount with the rate of its own date, else the latest earlier one."""

    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    date = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=100, blank=True, help_text="Where the rate came from (file name, API caller).")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "date"], name="fxrate_unique_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fxrate_positive"),
            models.CheckConstraint(condition=~models.Q(base=models.F("quote")), name="fxrate_two_currencies"),
        ]
        # The conversion subquery: latest rate of a pair on or before a day.
        indexes = [models.Index(fields=["base", "quote", "-date"], name="fxrate_pair_latest")]

    def __str__(self):
        return f"1 {self.base} = {self.rate} {self.quote} on {self.date}"


class KpiDirtyWindow(models.Model):
    """A KPI snapshot (key x period window, every scope) that data arriving since its last
    computation has touched. Ingestion marks rows; one debounced refresh drains them, so a
    burst of posts costs one recomputation per window, not one per post."""

    key = models.CharField(max_length=60)
    period = models.CharField(max_length=5, choices=Period.choices)
    period_start = models.DateField()
    marked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["period_start", "period", "key"]
        constraints = [models.UniqueConstraint(fields=["key", "period", "period_start"], name="kpidirty_unique")]

    def __str__(self):
        return f"{self.key} {self.period} {self.period_start} (dirty since {self.marked_at:%H:%M:%S})"
