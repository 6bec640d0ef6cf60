from django.db import models


class SpanStatus(models.TextChoices):
    UNSET = "unset", "Unset"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Span(models.Model):
    """One technical hop reported by the middleware over OTLP: which flow and step, how
    long, whether it failed, linked to the integration it ran for and to the business key
    it carried (``invoice.number``, say), so it can stand beside that key's business
    events. Kept for ``OTLP_RETENTION_DAYS`` (``telemetry.tasks.purge_spans``). A span sent
    twice (an exporter's retry) is stored once: trace and span id are unique."""

    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    integration = models.ForeignKey("catalog.Integration", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="spans")
    service_name = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, help_text="The step: the span's name.")
    flow = models.CharField(max_length=200, blank=True, help_text="The flow, from the configured attributes.")
    business_key = models.CharField(max_length=200, blank=True)
    business_key_attribute = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=SpanStatus.choices, default=SpanStatus.UNSET)
    error = models.CharField(max_length=500, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    exception = models.ForeignKey("exceptions.BusinessException", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="spans")
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [models.UniqueConstraint(fields=["trace_id", "span_id"], name="telemetry_span_unique_id")]
        indexes = [
            models.Index(fields=["business_key", "started_at"], name="telemetry_span_key"),
            models.Index(fields=["integration", "-started_at"], name="telemetry_span_integration"),
        ]

    def __str__(self):
        return f"{self.name} ({self.trace_id[:8]})"
