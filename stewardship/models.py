"""Systems of record per entity and scope, and governed schema versions with their reviews."""

from django.conf import settings
from django.db import models
from django.db.models import Max, Q
from django.urls import reverse

from .choices import (
    CompatLevel,
    CompatPolicy,
    RegistryMode,
    ReviewDecision,
    SchemaFormat,
    ScopeType,
    SorStatus,
    VersionStatus,
)

_UNSET = object()


class StewardshipSettings(models.Model):
    """The one row of global defaults (compatibility level and policy) that subjects
    inherit unless they override them. Created on first use from Django settings."""

    default_level = models.CharField(max_length=24, choices=CompatLevel.choices, default=CompatLevel.BACKWARD)
    default_policy = models.CharField(max_length=10, choices=CompatPolicy.choices, default=CompatPolicy.STRICT)
    registry_mode = models.CharField(max_length=16, choices=RegistryMode.choices, default=RegistryMode.READWRITE,
                                     help_text="Mode of the Schema Registry wire API for subjects that set none.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "stewardship settings"
        verbose_name_plural = "stewardship settings"

    def __str__(self):
        return f"Defaults: {self.default_level} / {self.default_policy}"

    @classmethod
    def get(cls):
        row, _ = cls.objects.get_or_create(
            pk=1,
            defaults={
                "default_level": getattr(settings, "STEWARDSHIP_DEFAULT_LEVEL", CompatLevel.BACKWARD),
                "default_policy": getattr(settings, "STEWARDSHIP_DEFAULT_POLICY", CompatPolicy.STRICT),
            },
        )
        return row


class SorAssignment(models.Model):
    """For an entity, in a scope, for an attribute group: which system is the system of
    record, and who stewards it. Proposed, then approved or rejected by another steward."""

    entity = models.ForeignKey("catalog.CanonicalEntity", on_delete=models.CASCADE, related_name="sor_assignments")
    scope_type = models.CharField(max_length=16, choices=ScopeType.choices, default=ScopeType.GLOBAL)
    scope_value = models.CharField(
        max_length=100, blank=True, help_text="Region, legal entity or business unit; empty for global."
    )
    attribute_group = models.CharField(max_length=100, default="all", help_text='e.g. "tax attributes"; "all" by default')
    system = models.ForeignKey("catalog.System", on_delete=models.PROTECT, related_name="sor_assignments")
    steward = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="stewarded_sors"
    )
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=SorStatus.choices, default=SorStatus.PROPOSED, db_index=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="proposed_sors"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="decided_sors"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comments = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity__name", "scope_type", "scope_value", "attribute_group", "-created_at"]
        verbose_name = "SoR assignment"
        permissions = [("decide_sorassignment", "Can approve or reject SoR proposals")]
        constraints = [
            # The heart of SoR governance: never two approved systems of record for the
            # same slice, whatever code path writes the row.
            models.UniqueConstraint(
                fields=["entity", "scope_type", "scope_value", "attribute_group"],
                condition=Q(status="approved"),
                name="sor_one_approved_per_scope",
            ),
            models.CheckConstraint(
                condition=(Q(scope_type="global", scope_value="") | (~Q(scope_type="global") & ~Q(scope_value=""))),
                name="sor_scope_value_matches_type",
            ),
        ]

    def __str__(self):
        return f"{self.entity} [{self.scope_label}/{self.attribute_group}] -> {self.system} ({self.status})"

    def get_absolute_url(self):
        return reverse("stewardship:sor-detail", kwargs={"pk": self.pk})

    @property
    def scope_label(self):
        if self.scope_type == ScopeType.GLOBAL:
            return "global"
        return f"{self.get_scope_type_display()}: {self.scope_value}"


class ObservedWriter(models.Model):
    """A system seen writing an entity through an integration: the integration carries the
    entity into its target system, and business events, sync runs or exceptions show it did
    (or tried to). Rebuilt as a whole by a periodic SQL refresh (``refresh_observed_writers``),
    never written per ingest; findings compare it with the approved SoR."""

    entity = models.ForeignKey("catalog.CanonicalEntity", on_delete=models.CASCADE, related_name="observed_writers")
    system = models.ForeignKey("catalog.System", on_delete=models.CASCADE, related_name="observed_writes")
    integration = models.ForeignKey("catalog.Integration", on_delete=models.CASCADE, related_name="observed_writes")
    event_count = models.PositiveIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0)
    exception_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    sample_key = models.CharField(max_length=200, blank=True, help_text="A business key it carried (evidence).")
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["entity", "system", "integration"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "system", "integration"], name="observedwriter_unique"),
        ]

    def __str__(self):
        return f"{self.system} writes {self.entity} through {self.integration}"


class SchemaSubject(models.Model):
    """The governed schema of one canonical entity or one API."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    entity = models.ForeignKey(
        "catalog.CanonicalEntity", null=True, blank=True, on_delete=models.PROTECT, related_name="schema_subjects"
    )
    api = models.ForeignKey("catalog.Api", null=True, blank=True, on_delete=models.PROTECT, related_name="schema_subjects")
    format = models.CharField(max_length=12, choices=SchemaFormat.choices, default=SchemaFormat.JSON_SCHEMA)
    compatibility_level = models.CharField(
        max_length=24, choices=CompatLevel.choices, blank=True, help_text="Empty: the global default."
    )
    policy = models.CharField(max_length=10, choices=CompatPolicy.choices, blank=True, help_text="Empty: the global default.")
    registry_mode = models.CharField(max_length=16, choices=RegistryMode.choices, blank=True,
                                     help_text="Schema Registry wire mode; empty: the global default.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(entity__isnull=False, api__isnull=True) | Q(entity__isnull=True, api__isnull=False)),
                name="subject_entity_xor_api",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("stewardship:subject-detail", kwargs={"slug": self.slug})

    @property
    def owner(self):
        return self.entity or self.api

    def effective_level(self, defaults=None):
        return self.compatibility_level or (defaults or StewardshipSettings.get()).default_level

    def effective_policy(self, defaults=None):
        return self.policy or (defaults or StewardshipSettings.get()).default_policy

    def effective_registry_mode(self, defaults=None):
        return self.registry_mode or (defaults or StewardshipSettings.get()).registry_mode


class RegistrySchema(models.Model):
    """A schema as the Confluent wire API names it: a global id for one schema text (with
    its references), shared by every subject whose approved version has that text, as
    Confluent does. Created when a version is published; never deleted, so an id is never
    reused and a consumer can always read old messages."""

    schema_type = models.CharField(max_length=12, help_text="Confluent schemaType: JSON or AVRO.")
    fingerprint = models.CharField(max_length=64, unique=True, editable=False,
                                   help_text="SHA-256 of the type, canonical text and references.")
    schema = models.TextField(help_text="The schema text served to clients (canonical JSON).")
    references = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "registry schema id"

    def __str__(self):
        return f"schema id {self.pk} ({self.schema_type})"


class SchemaVersion(models.Model):
    """One version of a subject's schema document, from draft to approval (when it gets
    its number and is published) or rejection. Approved documents never change."""

    subject = models.ForeignKey(SchemaSubject, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(null=True, blank=True, help_text="Assigned at approval: 1, 2, 3...")
    document = models.JSONField()
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="schema_versions")
    change_summary = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    round = models.PositiveIntegerField(default=0, help_text="Review round: incremented at each submission.")
    validity_errors = models.JSONField(default=list, blank=True)
    compat_report = models.JSONField(null=True, blank=True, help_text="Compatibility report stored at submission.")
    compared_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The latest approved version when this one was submitted (the diff's left side).",
    )
    level = models.CharField(max_length=24, choices=CompatLevel.choices, blank=True)
    policy = models.CharField(max_length=10, choices=CompatPolicy.choices, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    references = models.JSONField(default=list, blank=True,
                                  help_text="Confluent references [{name, subject, version}] given at registration.")
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True, editable=False,
                                   help_text="Wire identity of the document and references (empty off the wire).")
    registry_schema = models.ForeignKey(
        RegistrySchema, null=True, blank=True, on_delete=models.PROTECT, related_name="versions",
        help_text="The wire API's schema id, given at publication.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subject", "-number", "-created_at"]
        permissions = [
            ("review_schemaversion", "Can approve, reject or request changes on schema versions"),
            ("validate_payload", "Can validate payloads against approved schemas"),
            ("register_schema", "Can register schemas through the Schema Registry wire API"),
            # Never given by a role (controlplane.roles._NEVER): an admin grants it to the one
            # account that migrates a registry's history.
            ("import_schema", "Can import approved schemas with their ids and versions (wire API IMPORT mode)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "number"], condition=Q(number__isnull=False), name="schemaversion_unique_number"
            ),
        ]
        indexes = [models.Index(fields=["subject", "status", "number"])]

    def __str__(self):
        return self.display_name

    def get_absolute_url(self):
        return reverse("stewardship:version-detail", kwargs={"pk": self.pk})

    @property
    def would_be_number(self) -> int:
        """The number this version would get if it were approved now: one above the highest
        number its subject ever gave (numbers are never reused). A live value: it moves on
        when another version is approved first, so it never names an approved version."""
        top = getattr(self, "subject_top_number", _UNSET)
        if top is _UNSET:
            top = SchemaVersion.objects.filter(subject_id=self.subject_id).aggregate(top=Max("number"))["top"]
        return (top or 0) + 1

    @property
    def display_name(self) -> str:
        """"Invoice v4 (in review)": what people call a version everywhere (ids stay in URLs).
        Approved versions are "Invoice v3"; unnumbered ones show the number they would get;
        a rejected one never gets a number, so it is named by its submission date."""
        state = self.get_status_display().lower()
        if self.number:
            return f"{self.subject} v{self.number}" + ("" if self.status == VersionStatus.APPROVED else f" ({state})")
        if self.status == VersionStatus.REJECTED:
            when = self.submitted_at or self.created_at
            return f"{self.subject} proposal of {when:%Y-%m-%d} (rejected)" if when else f"{self.subject} proposal (rejected)"
        return f"{self.subject} v{self.would_be_number} ({state})"

    @property
    def findings(self):
        return (self.compat_report or {}).get("findings", [])

    @property
    def breaking_findings(self):
        return [f for f in self.findings if not f.get("compatible", True)]

    @property
    def is_compatible(self):
        if self.compat_report is None:
            return None
        return bool(self.compat_report.get("compatible"))


class Review(models.Model):
    """A steward's decision on a version in review, with a comment."""

    version = models.ForeignKey(SchemaVersion, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="schema_reviews")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    comment = models.TextField(blank=True)
    round = models.PositiveIntegerField(default=1)
    voided_at = models.DateTimeField(null=True, blank=True, help_text="Set when the author withdrew the submission.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Each steward approves a round once; two approvals must come from two people.
            models.UniqueConstraint(
                fields=["version", "reviewer", "round"], condition=Q(decision="approve"), name="review_one_approval_each"
            ),
        ]

    def __str__(self):
        return f"{self.get_decision_display()} by {self.reviewer} on {self.version}"


class FindingAcceptance(models.Model):
    """A steward's justified acceptance of one incompatible finding. Kept forever on the
    version so anyone can later see who accepted which breaking change and why."""

    version = models.ForeignKey(SchemaVersion, on_delete=models.CASCADE, related_name="acceptances")
    finding_type = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    steward = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "finding_type", "path"], name="acceptance_unique_finding"),
        ]

    def __str__(self):
        return f"{self.finding_type} {self.path} accepted by {self.steward}"
