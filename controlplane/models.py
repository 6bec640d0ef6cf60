import hashlib
import secrets

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class AuditEntryQuerySet(models.QuerySet):
    def for_object(self, obj):
        return self.filter(
            content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
        )

    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")


class AuditEntry(models.Model):
    """One recorded change: who did what to which object, with the values before and after.

    Written by ``controlplane.audit.record`` in the same transaction as the change, never
    updated or deleted (the queryset and ``save`` refuse it; admin shows it read-only).
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_repr = models.CharField(max_length=150, blank=True, help_text="Username at the time, kept if the user goes.")
    action = models.CharField(max_length=80, db_index=True)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-created_at"])]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_repr or 'system'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only.")

    @property
    def changes(self):
        """(field, before, after) for each field whose value differs."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class ServiceTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ServiceToken(models.Model):
    """An API token of a service account (middleware). Only a SHA-256 of the token is kept:
    tokens are 256-bit random strings, so a fast hash is enough and lookups stay indexed.

    A token speaks for the integrations in its scope: the ones listed, those whose source
    or target is one of its systems, or every integration when ``all_integrations`` is set.
    A new token's scope is empty (it may write nothing for any integration) until it is
    given one; tokens issued before scopes existed were given ``all_integrations`` by a data
    migration so nothing in production broke (see docs/security.md).
    """

    PREFIX = "cpt_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_tokens")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token in logs.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    all_integrations = models.BooleanField(
        default=False, help_text="Speaks for every integration, present and future (the platform's own middleware)."
    )
    integrations = models.ManyToManyField("catalog.Integration", blank=True, related_name="+",
                                          help_text="Integrations this token speaks for.")
    systems = models.ManyToManyField("catalog.System", blank=True, related_name="+",
                                     help_text="Systems this token speaks for: every integration from or to them.")
    read_metrics = models.BooleanField(
        default=False, help_text="May scrape /metrics (a Prometheus server's token); writes nothing."
    )

    objects = ServiceTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def generate_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self):
        return self.revoked_at is None

    def integration_ids(self) -> set[int] | None:
        """The ids of the integrations this token speaks for; None means all of them.
        Read once per token object (one request)."""
        if self.all_integrations:
            return None
        cached = getattr(self, "_integration_ids", None)
        if cached is None:
            from catalog.models import Integration

            system_ids = list(self.systems.values_list("pk", flat=True))
            cached = set(self.integrations.values_list("pk", flat=True))
            if system_ids:
                cached |= set(Integration.objects.filter(
                    models.Q(source_system_id__in=system_ids) | models.Q(target_system_id__in=system_ids)
                ).values_list("pk", flat=True))
            self._integration_ids = cached
        return cached

    def speaks_for(self, integration_id) -> bool:
        allowed = self.integration_ids()
        return allowed is None or integration_id in allowed

    def scope_label(self) -> str:
        if self.all_integrations:
            return "all integrations"
        names = [*self.integrations.values_list("name", flat=True), *(f"system {n}" for n in self.systems.values_list("name", flat=True))]
        return ", ".join(names) or "nothing (no scope set)"


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the same transaction as the change that needs
    it (the transactional outbox). Publishing happens after commit; when the broker is
    unreachable the row stays pending and ``controlplane.outbox.relay`` publishes it later,
    so no queued work is lost and no request fails because the broker is down.

    The Celery task id is ``outbox-<pk>``: a consumer that must not run twice for one
    message (delivery is at-least-once) can use it to deduplicate (``outbox.exclusive``).
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    eta = models.DateTimeField(null=True, blank=True, help_text="Not published before this time (countdown / eta).")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True, help_text="Set by consumers that deduplicate on it.")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed publish attempts.")
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="outbox_pending")]

    def __str__(self):
        return f"{self.task} #{self.pk} ({'sent' if self.sent_at else 'pending'})"

    @property
    def task_id(self):
        return f"outbox-{self.pk}"
