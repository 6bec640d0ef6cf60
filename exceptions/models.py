"""Exception queues: where failed business transactions wait for the people who fix them."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from controlplane.validation import COMMENT_MAX_LENGTH

from .choices import OPEN_STATUSES, MatchMode, Resolution, Severity, Status

TARGET_HOURS_MAX = 24 * 366
TARGET_HOURS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(TARGET_HOURS_MAX)]


class Queue(models.Model):
    """A work queue (Billing, Master Data, PMO, Integration Ops) owned by a team, with
    resolution targets per severity that set each exception's due time."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    team = models.ForeignKey("catalog.Team", on_delete=models.PROTECT, related_name="exception_queues")
    # 1 hour .. 1 year: a due time further out is no target, and an hour count beyond the
    # integer column (or timedelta) would fail when the due time is computed.
    target_hours_critical = models.PositiveIntegerField(default=4, validators=TARGET_HOURS_VALIDATORS)
    target_hours_high = models.PositiveIntegerField(default=24, validators=TARGET_HOURS_VALIDATORS)
    target_hours_medium = models.PositiveIntegerField(default=72, validators=TARGET_HOURS_VALIDATORS)
    target_hours_low = models.PositiveIntegerField(default=168, validators=TARGET_HOURS_VALIDATORS)
    raise_severity_when_overdue = models.BooleanField(
        default=False, help_text="When an exception goes overdue, raise its severity one step."
    )
    # Some queues carry sensitive items (payroll, legal entities under audit): only the
    # owning team's members (and superusers) may see or work them.
    restricted = models.BooleanField(
        default=False, help_text="Only members of the owning team (and superusers) see and work this queue's exceptions."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("exceptions:list") + f"?queue={self.pk}"

    def target_hours(self, severity: str) -> int:
        return getattr(self, f"target_hours_{severity}")


class RoutingRule(models.Model):
    """One routing rule. Rules are tried in ``position`` order; the first whose every set
    condition matches decides the queue (and optionally assignee and severity)."""

    position = models.PositiveIntegerField(default=100, db_index=True)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    integration = models.ForeignKey("catalog.Integration", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey("catalog.CanonicalEntity", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    error_code = models.CharField(max_length=100, blank=True)
    error_code_match = models.CharField(max_length=6, choices=MatchMode.choices, default=MatchMode.EXACT)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    business_key = models.CharField(max_length=60, blank=True, help_text="e.g. legal_entity")
    business_value = models.CharField(max_length=200, blank=True, help_text="e.g. UK01")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="rules")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    raise_severity_to = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"#{self.position} {self.name}"

    def matches(self, *, integration_id, entity_id, error_code, severity, business_keys) -> bool:
        if self.integration_id and self.integration_id != integration_id:
            return False
        if self.entity_id and self.entity_id != entity_id:
            return False
        if self.error_code:
            if self.error_code_match == MatchMode.PREFIX:
                if not (error_code or "").startswith(self.error_code):
                    return False
            elif error_code != self.error_code:
                return False
        if self.severity and self.severity != severity:
            return False
        if self.business_key and str((business_keys or {}).get(self.business_key, "")) != self.business_value:
            return False
        return True


class DefaultQueue(models.Model):
    """Where an integration's exceptions go when no routing rule matches."""

    integration = models.OneToOneField("catalog.Integration", on_delete=models.CASCADE, related_name="default_exception_queue")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="default_for")

    def __str__(self):
        return f"{self.integration} -> {self.queue}"


class ReplayTarget(models.Model):
    """The endpoint an integration accepts corrected payloads on (kept here because the
    catalog's Integration belongs to another app)."""

    integration = models.OneToOneField("catalog.Integration", on_delete=models.CASCADE, related_name="replay_target")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="HMAC-SHA256 key for the signature header.")
    enabled = models.BooleanField(default=True)
    max_attempts = models.PositiveSmallIntegerField(default=4)

    def __str__(self):
        return f"Replay target of {self.integration}"


class BusinessExceptionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The exceptions ``user`` may see: everything in unrestricted queues, and in
        restricted ones only when the user is a member of the queue's team. The one place
        list, detail, API, CSV export and bulk actions take visibility from."""
        if getattr(user, "is_superuser", False):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        from catalog.models import TeamMember

        member_of = TeamMember.objects.filter(user=user).values("team_id")
        return self.filter(models.Q(queue__restricted=False) | models.Q(queue__team_id__in=member_of))

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, now=None):
        return self.open().filter(due_at__lt=now or timezone.now())


class BusinessException(models.Model):
    """A business transaction middleware could not complete, waiting in a queue.

    ``fingerprint`` groups repeats: only one open exception per fingerprint may exist (a
    partial unique index, so concurrent posts cannot create two). Common business keys are
    copied out of ``business_keys`` into indexed columns so a search by invoice number
    stays an index lookup at a million rows.
    """

    integration = models.ForeignKey("catalog.Integration", on_delete=models.PROTECT, related_name="business_exceptions")
    entity = models.ForeignKey(
        "catalog.CanonicalEntity", null=True, blank=True, on_delete=models.SET_NULL, related_name="business_exceptions"
    )
    error_code = models.CharField(max_length=100)
    message = models.TextField()
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    reported_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="exceptions")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_exceptions"
    )
    business_keys = models.JSONField(default=dict, blank=True)
    invoice_number = models.CharField(max_length=100, blank=True, db_index=True)
    project_code = models.CharField(max_length=100, blank=True, db_index=True)
    client = models.CharField(max_length=200, blank=True, db_index=True)
    legal_entity = models.CharField(max_length=50, blank=True, db_index=True)
    contract = models.CharField(max_length=100, blank=True, db_index=True)
    amount_at_risk = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    correlation_id = models.CharField(max_length=200, blank=True, db_index=True)
    fingerprint = models.CharField(max_length=128, db_index=True)
    occurrences = models.PositiveIntegerField(default=1)
    regressions = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)
    is_overdue = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_code = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True, help_text="The failed payload (size-limited).")
    original_payload = models.JSONField(null=True, blank=True, help_text="The payload as received, kept on first edit.")
    details = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BusinessExceptionQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]
        permissions = [
            ("replay_businessexception", "Can edit and replay a business exception's payload"),
            ("export_businessexception", "Can export business exceptions as CSV"),
            ("ingest_businessexception", "Can post business exceptions through the ingestion API"),
        ]
        constraints = [
            # Per integration: a caller-supplied fingerprint never merges into another
            # integration's exception.
            models.UniqueConstraint(
                fields=["integration", "fingerprint"], condition=Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="exc_one_open_per_integration_fingerprint",
            ),
        ]
        indexes = [
            # Keyset pagination of the list (newest activity first) with and without filters.
            models.Index(fields=["-last_seen", "-id"], name="exc_last_seen_id"),
            models.Index(fields=["status", "-last_seen", "-id"], name="exc_status_last_seen"),
            models.Index(fields=["queue", "status", "-last_seen"], name="exc_queue_status_seen"),
            models.Index(fields=["assignee", "status", "-last_seen"], name="exc_assignee_status_seen"),
            models.Index(fields=["integration", "-last_seen"], name="exc_integration_seen"),
            # Finance's default view, an integration's open exceptions newest first: the page
            # reads its 20-50 rows in order and stops. Without it PostgreSQL took every open
            # row of the integration, joined and sorted them all for the LIMIT (17 ms at 900
            # open rows, in the load run).
            models.Index(fields=["integration", "-last_seen", "-id"], name="exc_integration_open_seen",
                         condition=Q(status__in=[s.value for s in OPEN_STATUSES])),
            models.Index(fields=["status", "due_at"], name="exc_status_due"),
            models.Index(fields=["resolved_at"], name="exc_resolved_at"),
        ]

    def __str__(self):
        return f"EXC-{self.pk} {self.error_code}"

    def get_absolute_url(self):
        return reverse("exceptions:detail", kwargs={"pk": self.pk})

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def overdue_now(self):
        return self.is_open and self.due_at is not None and self.due_at < timezone.now()


class IdempotencyKey(models.Model):
    """An ingestion idempotency key, remembered so a repeat post returns the first result.

    Keys belong to the account that sent them (two middlewares may both use ``"1"``), and
    the item's body hash is kept so the same key with a different body is a 409, not a
    silent "already done". Keys stored before accounts were recorded have no account and
    no hash."""

    key = models.CharField(max_length=200)
    account = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    body_sha256 = models.CharField(max_length=64, blank=True)
    exception = models.ForeignKey(BusinessException, on_delete=models.CASCADE, related_name="idempotency_keys")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="exc_idempotency_key_per_account")]
        indexes = [models.Index(fields=["key"], name="exc_idempotency_key")]

    def __str__(self):
        return self.key


class Comment(models.Model):
    """A note on an exception; ``@username`` mentions are linked to the users named."""

    exception = models.ForeignKey(BusinessException, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(max_length=COMMENT_MAX_LENGTH)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="exception_mentions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment on EXC-{self.exception_id}"


class ReplayAttempt(models.Model):
    """One HTTP attempt to deliver a corrected payload to the integration's replay target."""

    exception = models.ForeignKey(BusinessException, on_delete=models.CASCADE, related_name="replay_attempts")
    replay_id = models.UUIDField(default=uuid.uuid4, db_index=True, help_text="Shared by the retries of one replay.")
    attempt = models.PositiveSmallIntegerField(default=1)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        # One row per attempt even when a task is delivered twice (see exceptions.replay).
        constraints = [models.UniqueConstraint(fields=["replay_id", "attempt"], name="exceptions_replay_attempt_once")]

    def __str__(self):
        return f"Replay {self.replay_id} attempt {self.attempt}"
