"""The integration catalog: who owns what, which systems talk through which APIs, which
business entities and workflows each integration carries, and the SLA it promises."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from kpis.choices import EventType

from .choices import (
    ApiLayer,
    ApiLifecycle,
    ApiStyle,
    Criticality,
    DefinitionFormat,
    Deployment,
    IntegrationLifecycle,
    IntegrationPattern,
    MeasurementWindow,
    SystemCategory,
    SystemLifecycle,
)


class CatalogItem(models.Model):
    """Fields every catalog object shares. ``external_ref`` and ``metadata`` keep what an
    import from Backstage (or another catalog) said, so exports round-trip."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    external_ref = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="Reference in an external catalog, e.g. component:default/x."
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="Tags, annotations and links from imports.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name

    url_name = None

    def get_absolute_url(self):
        return reverse(f"catalog:{self.url_name}-detail", kwargs={"slug": self.slug})


class Team(CatalogItem):
    """A team that owns systems, APIs and integrations and is told when they break."""

    email = models.EmailField(blank=True)
    chat_channel = models.CharField(max_length=200, blank=True, help_text="e.g. #finance-integrations")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMember", blank=True, related_name="teams")

    url_name = "team"

    class Meta(CatalogItem.Meta):
        pass


class TeamMember(models.Model):
    """A person in a team. ``user`` links to a login when the person has one; people known
    only from an import (Backstage User entities) have a name and email only. ``is_lead``
    marks the team's leads."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="team_memberships"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=100, blank=True)
    # Leads govern who is in a team that owns a restricted exception queue (with superusers):
    # only they may change its membership or its queues' restriction (catalog/services.py).
    is_lead = models.BooleanField(
        default=False, help_text="Team lead: may change the membership of a team owning a restricted queue."
    )
    external_ref = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="teammember_unique_user_per_team"),
            models.UniqueConstraint(
                fields=["team", "email"], condition=~models.Q(email=""), name="teammember_unique_email_per_team"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.team})"


class Domain(CatalogItem):
    """A business domain (Finance, Delivery, Sales, People...)."""

    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="domains")

    url_name = "domain"

    class Meta(CatalogItem.Meta):
        pass


class System(CatalogItem):
    """An application in the estate: CRM, PSA, ERP, billing engine, data store..."""

    vendor = models.CharField(max_length=200, blank=True)
    product = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=20, choices=SystemCategory.choices, default=SystemCategory.OTHER)
    deployment = models.CharField(max_length=10, choices=Deployment.choices, default=Deployment.CLOUD)
    lifecycle = models.CharField(
        max_length=10, choices=SystemLifecycle.choices, default=SystemLifecycle.ACTIVE, db_index=True
    )
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="systems")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="systems")
    business_owner = models.CharField(max_length=200, blank=True)
    data_residency = models.CharField(max_length=100, blank=True, help_text="Region the data lives in, e.g. EU, US.")
    rate_limits = models.CharField(max_length=300, blank=True, help_text="Documented rate limits, e.g. 100 req/s.")
    retirement_date = models.DateField(null=True, blank=True)
    # A warehouse or read replica receives entities from their systems of record; that does
    # not make it a writer, so the observed-SoR findings leave it out (stewardship/selectors.py).
    is_copy = models.BooleanField(
        "holds copies", default=False,
        help_text="A data warehouse, lake or read replica: it holds copies of other systems' records and is never "
                  "their writer.",
    )

    url_name = "system"

    class Meta(CatalogItem.Meta):
        indexes = [models.Index(fields=["category", "lifecycle"])]


class Api(CatalogItem):
    """An interface a system provides, in API-led layers (system / process / experience)."""

    provider_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="apis")
    layer = models.CharField(max_length=12, choices=ApiLayer.choices, default=ApiLayer.SYSTEM)
    style = models.CharField(max_length=12, choices=ApiStyle.choices, default=ApiStyle.REST)
    version = models.CharField(max_length=50, blank=True)
    lifecycle = models.CharField(max_length=12, choices=ApiLifecycle.choices, default=ApiLifecycle.DRAFT, db_index=True)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="apis")
    criticality = models.PositiveSmallIntegerField(choices=Criticality.choices, default=Criticality.TIER_2)
    finance_sensitive = models.BooleanField(default=False)
    auth_policy = models.CharField(max_length=200, blank=True, help_text="e.g. OAuth2 client credentials")
    docs_url = models.URLField(max_length=500, blank=True)
    definition_format = models.CharField(max_length=10, choices=DefinitionFormat.choices, blank=True, default="")
    definition = models.TextField(blank=True, help_text="OpenAPI / AsyncAPI document (YAML or JSON).")

    url_name = "api"

    class Meta(CatalogItem.Meta):
        verbose_name = "API"
        verbose_name_plural = "APIs"


class CanonicalEntity(CatalogItem):
    """A business entity in the firm's canonical model (client, invoice, time entry...)."""

    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="entities")

    url_name = "entity"

    class Meta(CatalogItem.Meta):
        verbose_name = "canonical entity"
        verbose_name_plural = "canonical entities"


class Workflow(CatalogItem):
    """An end-to-end business process (quote-to-cash, time-to-invoice...)."""

    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflows")
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflows")

    url_name = "workflow"

    class Meta(CatalogItem.Meta):
        pass


class WorkflowStage(models.Model):
    """One step of a workflow, in order: the business event type that marks it done, the
    integration expected to carry it and how long it may take after the previous step.
    Stuck lists and trace panels read a workflow's stages (catalog/stages.py)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(50)], help_text="1 for the first step, 2 for the next..."
    )
    name = models.CharField(max_length=100, help_text="What people call the step, e.g. Invoice posted.")
    event_type = models.CharField(max_length=30, choices=EventType.choices,
                                  help_text="The business event that marks the step done.")
    integration = models.ForeignKey(
        "Integration", null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow_stages",
        help_text="The integration expected to carry the step (its failed runs explain a stuck item).",
    )
    max_latency_hours = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(24 * 366)],
        help_text="Hours after the previous step by which this one is due; empty: no deadline (always for step 1).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workflow", "position"]
        verbose_name = "workflow stage"
        constraints = [
            models.UniqueConstraint(fields=["workflow", "position"], name="stage_unique_position",
                                    violation_error_message="The workflow already has a step at this position."),
            models.UniqueConstraint(fields=["workflow", "event_type"], name="stage_unique_event_type",
                                    violation_error_message="The workflow already has a step for this event type."),
        ]

    def __str__(self):
        return f"{self.workflow}: {self.position}. {self.name}"

    def get_absolute_url(self):
        return reverse("catalog:workflow-detail", kwargs={"slug": self.workflow.slug}) + "#stages"


class StuckNotice(models.Model):
    """That the owning team of a workflow was told an item is stuck before ``stage``: the
    waiting ``event`` (the previous step's) passed the stage's deadline. One row per item
    and stage, so the periodic check tells each team once."""

    stage = models.ForeignKey(WorkflowStage, on_delete=models.CASCADE, related_name="stuck_notices")
    event = models.ForeignKey("kpis.BusinessEvent", on_delete=models.CASCADE, related_name="+")
    notified_at = models.DateTimeField()

    class Meta:
        ordering = ["-notified_at"]
        constraints = [models.UniqueConstraint(fields=["stage", "event"], name="stucknotice_once_per_item")]

    def __str__(self):
        return f"{self.event} stuck before {self.stage}"


class Integration(CatalogItem):
    """A flow of data from a source system to a target system, possibly through
    middleware, using APIs and carrying canonical entities for workflows."""

    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="outbound_integrations")
    target_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="inbound_integrations")
    middleware_system = models.ForeignKey(
        System, null=True, blank=True, on_delete=models.PROTECT, related_name="mediated_integrations"
    )
    apis = models.ManyToManyField(Api, blank=True, related_name="integrations")
    entities = models.ManyToManyField(CanonicalEntity, blank=True, related_name="integrations")
    workflows = models.ManyToManyField(Workflow, blank=True, related_name="integrations")
    pattern = models.CharField(max_length=10, choices=IntegrationPattern.choices, default=IntegrationPattern.API_SYNC)
    schedule = models.CharField(max_length=100, blank=True, help_text="Cron expression or interval, e.g. */15 * * * *")
    trigger = models.CharField(max_length=200, blank=True, help_text="Event that starts it, e.g. invoice approved")
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="integrations")
    criticality = models.PositiveSmallIntegerField(choices=Criticality.choices, default=Criticality.TIER_2)
    lifecycle = models.CharField(
        max_length=12, choices=IntegrationLifecycle.choices, default=IntegrationLifecycle.PLANNED, db_index=True
    )

    url_name = "integration"

    class Meta(CatalogItem.Meta):
        indexes = [models.Index(fields=["lifecycle", "criticality"])]


class Sla(models.Model):
    """The service level an integration promises. Empty targets are not measured."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="sla")
    availability_target = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 99.5",
    )
    p95_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    max_sync_lag_minutes = models.PositiveIntegerField(null=True, blank=True)
    exception_resolution_hours = models.PositiveIntegerField(null=True, blank=True)
    measurement_window = models.CharField(
        max_length=3, choices=MeasurementWindow.choices, default=MeasurementWindow.MONTH
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA"
        verbose_name_plural = "SLAs"

    def __str__(self):
        return f"SLA of {self.integration}"


# --- catalog intelligence ---


class BackstageImportStatus(models.TextChoices):
    PLANNED = "planned", "Planned (dry run shown)"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"


class BackstageImport(models.Model):
    """One upload of Backstage descriptor files. The documents are stored so that the
    architect can review the dry run and press Apply without uploading again."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(
        max_length=10, choices=BackstageImportStatus.choices, default=BackstageImportStatus.PLANNED, db_index=True
    )
    files = models.JSONField(default=list, help_text="[{name, text}] as uploaded.")
    plan = models.JSONField(default=dict, blank=True, help_text="The last dry run or apply result.")
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("import_backstage", "Can import Backstage descriptors")]

    def __str__(self):
        return f"Backstage import #{self.pk} ({self.status})"


class UnresolvedReference(models.Model):
    """A reference in an imported Backstage entity to an entity that is neither in the
    import nor in the catalog (``owner: sre``). Kept so it can be listed, and applied when
    a later import brings the target; rows are deleted once resolved."""

    source_ref = models.CharField(max_length=255, db_index=True, help_text="e.g. component:default/petstore")
    field = models.CharField(max_length=40, help_text="owner, providesApis, memberOf, parent...")
    target_ref = models.CharField(max_length=255, db_index=True, help_text="e.g. group:default/sre")
    payload = models.JSONField(default=dict, blank=True, help_text="What applying it needs (a member's name...).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source_ref", "field", "target_ref"]
        constraints = [
            models.UniqueConstraint(fields=["source_ref", "field", "target_ref"], name="unresolvedref_unique")
        ]

    def __str__(self):
        return f"{self.source_ref} {self.field} -> {self.target_ref}"


class EntityDerivation(models.Model):
    """A declared derivation: a system that receives ``source_entity`` produces
    ``derived_entity`` from it (approved time entries become invoice lines in the ERP).
    Impact analysis follows it one step per hop, so missing time entries in NetSuite reach
    whoever reads invoices from NetSuite. ``system`` limits it to where it happens; blank
    means wherever the source entity lands."""

    source_entity = models.ForeignKey(CanonicalEntity, on_delete=models.CASCADE, related_name="derivations")
    derived_entity = models.ForeignKey(CanonicalEntity, on_delete=models.CASCADE, related_name="derived_from_links")
    system = models.ForeignKey(
        System, null=True, blank=True, on_delete=models.CASCADE, related_name="entity_derivations",
        help_text="Where the derivation happens; blank: in any system the source entity is delivered to.",
    )
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source_entity__name", "derived_entity__name"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(source_entity=models.F("derived_entity")),
                                   name="derivation_not_self", violation_error_message="An entity is not derived from itself."),
            models.UniqueConstraint(fields=["source_entity", "derived_entity"], condition=models.Q(system__isnull=True),
                                    name="derivation_unique_anywhere",
                                    violation_error_message="This derivation is already declared."),
            models.UniqueConstraint(fields=["source_entity", "derived_entity", "system"],
                                    condition=models.Q(system__isnull=False), name="derivation_unique_in_system",
                                    violation_error_message="This derivation is already declared for that system."),
        ]

    def __str__(self):
        where = f" in {self.system}" if self.system_id else ""
        return f"{self.derived_entity} derived from {self.source_entity}{where}"
