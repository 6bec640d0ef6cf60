"""The mapping of CloudEvents onto business events, per sender (``source``)."""

from django.db import models

from kpis.choices import EventType


class CloudEventMapping(models.Model):
    """How events of one CloudEvents ``source`` and ``type`` become business events: the
    event type they are, and the integration (and workflow) the source speaks for. An
    event whose (source, type) has no mapping is refused, so a sender cannot invent
    business event types. Written only through ``traces.services``."""

    source = models.CharField(max_length=200, help_text="The CloudEvents source, e.g. /netsuite/prod or urn:psa:certinia.")
    ce_type = models.CharField("CloudEvents type", max_length=200, help_text="e.g. com.netsuite.invoice.posted")
    event_type = models.CharField(max_length=30, choices=EventType.choices)
    integration = models.ForeignKey(
        "catalog.Integration", null=True, blank=True, on_delete=models.PROTECT, related_name="cloudevent_mappings",
        help_text="The integration that carries these events; empty: none (a token for all integrations must post them).",
    )
    workflow = models.ForeignKey("catalog.Workflow", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "ce_type"]
        verbose_name = "CloudEvents type mapping"
        constraints = [models.UniqueConstraint(fields=["source", "ce_type"], name="cloudevent_mapping_unique")]

    def __str__(self):
        return f"{self.source} {self.ce_type} → {self.get_event_type_display()}"
