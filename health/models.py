"""Integration health: pull probes and their results, pushed sync runs and heartbeats, the
status of each integration with its flips, maintenance windows, hourly/daily rollups, SLA
breaches and team notifications."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from controlplane import units

from .choices import (
    ChannelKind,
    DeliveryStatus,
    Granularity,
    HttpMethod,
    PingKind,
    ProbeState,
    Recurrence,
    RunSource,
    RunStatus,
    SlaMetric,
    Status,
)


class HealthConfig(models.Model):
    """The health settings and current status of one integration: thresholds, the
    expected push schedule (for "late"), the heartbeat token, and the status itself."""

    integration = models.OneToOneField("catalog.Integration", on_delete=models.CASCADE, related_name="health")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNKNOWN, db_index=True)
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    paused = models.BooleanField(default=False, help_text="Paused integrations are not alerted on.")
    failure_threshold = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)], help_text="Down after N consecutive failures."
    )
    success_threshold = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(100)], help_text="Up again after M successes."
    )
    expected_period_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="How often a run or heartbeat is expected; empty = no schedule."
    )
    grace_seconds = models.PositiveIntegerField(default=300, help_text="Extra time before a missed run counts as late.")
    heartbeat_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    consecutive_run_failures = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "health configuration"

    def __str__(self):
        return f"Health of {self.integration}"

    def get_absolute_url(self):
        return reverse("health:integration", kwargs={"slug": self.integration.slug})


class Probe(models.Model):
    """A pull check of an integration (optionally of one of its APIs): an HTTP request and
    the conditions its answer must meet. ``next_due_at``/``lease_*`` drive the sweep."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="probes")
    api = models.ForeignKey("catalog.Api", null=True, blank=True, on_delete=models.SET_NULL, related_name="probes")
    name = models.CharField(max_length=100, default="default")
    url = models.URLField(max_length=500)
    method = models.CharField(max_length=7, choices=HttpMethod.choices, default=HttpMethod.GET)
    headers = models.JSONField(
        default=dict, blank=True,
        help_text='Header values; secrets are stored encrypted ("enc:...") or as "env:NAME" references.',
    )
    body = models.TextField(blank=True)
    timeout_ms = models.PositiveIntegerField(default=5000, validators=[MinValueValidator(100), MaxValueValidator(60000)])
    interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(86400)]
    )
    conditions = models.TextField(
        default="[STATUS] == 200", help_text="One condition per line; all must hold, e.g. [RESPONSE_TIME] < 800."
    )
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=ProbeState.choices, default=ProbeState.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_due_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["integration", "name"]
        constraints = [models.UniqueConstraint(fields=["integration", "name"], name="health_probe_unique_name")]
        indexes = [models.Index(fields=["enabled", "next_due_at"], name="health_probe_due")]

    def __str__(self):
        return f"{self.integration} / {self.name}"


class ProbeResult(models.Model):
    """One probe run, compact: kept for ``HEALTH_RESULT_RETENTION_DAYS`` then only rollups
    remain. Unique per (probe, scheduled_at) so a re-delivered sweep cannot duplicate."""

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="results")
    # Denormalised so rollups group results without a join.
    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="+", db_index=False)
    scheduled_at = models.DateTimeField()
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    in_maintenance = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_ms = models.PositiveIntegerField(null=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["probe", "scheduled_at"], name="health_result_once_per_run")]
        indexes = [models.Index(fields=["checked_at"], name="health_result_checked")]

    def __str__(self):
        return f"{self.probe_id} @ {self.scheduled_at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'fail'}"


class SyncRun(models.Model):
    """A run of an integration reported by the middleware (API) or a bare heartbeat."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="sync_runs")
    run_key = models.CharField(max_length=100, help_text="Idempotency key: the caller's run id.")
    source = models.CharField(max_length=10, choices=RunSource.choices, default=RunSource.API)
    status = models.CharField(max_length=8, choices=RunStatus.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    records_processed = models.PositiveIntegerField(default=0)
    records_failed = models.PositiveIntegerField(default=0)
    lag_seconds = models.PositiveIntegerField(null=True, blank=True)
    in_maintenance = models.BooleanField(default=False)
    clock_skew_seconds = models.IntegerField(
        default=0, help_text="How far in the future the reported finish was; it was clamped to the receive time."
    )
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    business_keys = models.JSONField(
        default=list, blank=True,
        help_text="The business keys the run carried (invoice numbers, project codes...): what finds it in a trace.",
    )

    class Meta:
        ordering = ["-finished_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "run_key"], name="health_run_idempotent")]
        indexes = [models.Index(fields=["integration", "-finished_at"], name="health_run_recent")]

    def __str__(self):
        return f"{self.integration} run {self.run_key} ({self.status})"


class HeartbeatPing(models.Model):
    """One call of an integration's heartbeat URL in healthchecks.io's ping protocol:
    ``start``, ``success``, ``fail`` (or an exit status), or ``log`` (kept, changes
    nothing). The request body (capped by ``HEARTBEAT_BODY_LIMIT_BYTES``) is the run's log.
    Success and fail pings are also a ``SyncRun``; its ``started_at`` is the matching
    ``start`` (same ``rid``, or the last start without one since the previous run)."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="heartbeat_pings",
                                    db_index=False)
    kind = models.CharField(max_length=8, choices=PingKind.choices)
    rid = models.UUIDField(null=True, blank=True, help_text="The caller's run id (?rid=), pairing a start with its end.")
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()
    method = models.CharField(max_length=7, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="The request body: the job's output.")
    body_truncated = models.BooleanField(default=False)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="pings")

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "heartbeat ping"
        indexes = [
            models.Index(fields=["integration", "-received_at"], name="health_ping_recent"),
            models.Index(fields=["integration", "rid", "-received_at"], name="health_ping_start",
                         condition=models.Q(kind="start")),
            models.Index(fields=["received_at"], name="health_ping_received"),
        ]

    def __str__(self):
        return f"{self.integration} ping {self.kind}"

    @property
    def duration_seconds(self):
        run = self.run
        if run is None or run.started_at is None:
            return None
        return (run.finished_at - run.started_at).total_seconds()


class Flip(models.Model):
    """A change of an integration's status, with why. Drives notifications and downtime."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="health_flips")
    from_status = models.CharField(max_length=12, choices=Status.choices)
    to_status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.CharField(max_length=300)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "status change"
        indexes = [models.Index(fields=["integration", "-at"], name="health_flip_recent")]

    def __str__(self):
        return f"{self.integration}: {self.from_status} -> {self.to_status}"


class MaintenanceWindow(models.Model):
    """Planned work: no alerts and no SLA counting while it is active. One-off windows use
    ``starts_at``/``ends_at``; weekly ones a weekday set and a start time; cron ones a
    five-field cron expression; recurring windows last ``duration_minutes``. No
    integration means every integration."""

    name = models.CharField(max_length=200)
    integration = models.ForeignKey(
        "catalog.Integration", null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    recurrence = models.CharField(max_length=6, choices=Recurrence.choices, default=Recurrence.ONCE)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    weekdays = models.CharField(max_length=20, blank=True, help_text="Weekly: ISO weekdays 1=Mon..7=Sun, e.g. 6,7")
    start_time = models.TimeField(null=True, blank=True, help_text="Weekly: start time (UTC).")
    cron = models.CharField(max_length=100, blank=True, help_text="Cron: minute hour day month weekday (UTC).")
    duration_minutes = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1), MaxValueValidator(10080)])
    active_from = models.DateTimeField(null=True, blank=True, help_text="Recurring: first day it applies.")
    active_until = models.DateTimeField(null=True, blank=True, help_text="Recurring: last day it applies.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def schedule_text(self) -> str:
        """When it applies, in words: 'every Sunday at 02:00 UTC for 2 h'."""
        length = units.duration(self.duration_minutes * 60)
        if self.recurrence == Recurrence.ONCE:
            return f"{self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M} UTC" if self.starts_at and self.ends_at else ""
        if self.recurrence == Recurrence.WEEKLY:
            at = f" at {self.start_time:%H:%M} UTC" if self.start_time else ""
            return f"every {units.weekdays(self.weekdays)}{at} for {length}"
        return f"cron {self.cron} (UTC) for {length}"


class Rollup(models.Model):
    """Hourly or daily figures of one integration, computed in SQL from raw results and
    runs. Charts and SLA windows read these, so raw results can be pruned."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="health_rollups")
    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    period_start = models.DateTimeField()
    checks = models.PositiveIntegerField(default=0, help_text="Checks outside maintenance.")
    checks_ok = models.PositiveIntegerField(default=0)
    checks_maintenance = models.PositiveIntegerField(default=0)
    latency_avg_ms = models.FloatField(null=True)
    latency_p95_ms = models.FloatField(null=True)
    latency_max_ms = models.PositiveIntegerField(null=True)
    runs = models.PositiveIntegerField(default=0)
    runs_failed = models.PositiveIntegerField(default=0)
    records_processed = models.PositiveBigIntegerField(default=0)
    records_failed = models.PositiveBigIntegerField(default=0)
    max_lag_seconds = models.PositiveIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "granularity", "period_start"], name="health_rollup_unique")
        ]
        indexes = [models.Index(fields=["granularity", "period_start"], name="health_rollup_period")]

    def __str__(self):
        return f"{self.integration_id} {self.granularity} {self.period_start:%Y-%m-%d %H:00}"


class SlaBreach(models.Model):
    """An SLA target missed over a window. Opened once per (integration, metric) while
    missing, closed on recovery; ``fingerprint`` is what the exception queue deduplicates on."""

    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="sla_breaches")
    metric = models.CharField(max_length=24, choices=SlaMetric.choices)
    window = models.CharField(max_length=4, default="30d")
    value = models.FloatField(null=True)
    target = models.FloatField(null=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    fingerprint = models.CharField(max_length=200, db_index=True)
    handed_off = models.BooleanField(default=False, help_text="An exception was opened in the ops queue.")

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = "SLA breach"
        verbose_name_plural = "SLA breaches"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "metric"], condition=models.Q(closed_at__isnull=True), name="health_breach_one_open"
            )
        ]

    def __str__(self):
        return f"{self.integration} {self.metric} breach"

    WINDOW_WORDS = {"24h": "the last 24 hours", "7d": "the last 7 days", "30d": "the last 30 days"}

    def sentence(self) -> str:
        """What was missed, in words and units: 'Availability was 93.33% over the last 30
        days (target 99%)'. The breach's exception and the integration's page say it alike."""
        if self.value is None:
            return f"{self.get_metric_display()} target missed"
        over = self.WINDOW_WORDS.get(self.window, f"the last {self.window}")
        value, target = self.value, self.target
        if self.metric == SlaMetric.AVAILABILITY:
            return f"Availability was {value:.2f}% over {over} (target {target:g}%)"
        if self.metric == SlaMetric.LATENCY:
            return f"p95 latency was {value:,.0f} ms over {over} (target {target:,.0f} ms)"
        if self.metric == SlaMetric.FRESHNESS:
            return f"Data was up to {units.duration(value)} old over {over} (freshness target {units.duration(target)})"
        if self.metric == SlaMetric.EXCEPTION_RESOLUTION:
            return f"Exceptions took {value:.1f} h to resolve over {over} (target {target:g} h)"
        return f"{self.get_metric_display()} was {value:.2f} over {over} (target {target:g})"


class NotificationChannel(models.Model):
    """Where a team is told about flips and breaches: an email address, a generic JSON
    webhook (signed per Standard Webhooks with ``secret``), a Slack incoming webhook (Block
    Kit), a Teams Workflows webhook (Adaptive Card) or another chat's plain-text webhook."""

    team = models.ForeignKey("catalog.Team", on_delete=models.CASCADE, related_name="health_channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    target = models.CharField(max_length=500, help_text="Email address or webhook URL.")
    secret = models.CharField(max_length=500, blank=True, help_text="Webhook signing secret (stored encrypted).")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="health_channel_unique_name")]

    def __str__(self):
        return f"{self.team} / {self.name}"

    @property
    def masked_target(self) -> str:
        """What readers may see: a webhook URL is itself a credential (Slack/Teams), so
        only its scheme and host are shown; email addresses are shown whole."""
        if self.kind == ChannelKind.EMAIL:
            return self.target
        from urllib.parse import urlsplit

        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname or ''}/…" if parts.scheme else "…"


class Notification(models.Model):
    """One message to one channel about one flip (or breach), with its delivery status.
    Unique per (channel, flip) and (channel, breach, event) so nothing is sent twice."""

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    flip = models.ForeignKey(Flip, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    breach = models.ForeignKey(SlaBreach, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=20, default="flip")
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "flip"], condition=models.Q(flip__isnull=False), name="health_notify_once_per_flip"),
            models.UniqueConstraint(
                fields=["channel", "breach", "event"], condition=models.Q(breach__isnull=False), name="health_notify_once_per_breach"
            ),
        ]

    def __str__(self):
        return f"{self.channel}: {self.subject}"


class DeliveryAttempt(models.Model):
    """One try at sending a notification: when, how it ended, the answer's status code and
    how long it took. The channel page lists them, so retries are visible one by one."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["notification", "number"], name="health_attempt_once")]

    def __str__(self):
        return f"{self.notification_id} attempt {self.number} ({'ok' if self.ok else 'failed'})"
