"""States and options of the stewardship app, with their transition tables."""

from django.db import models


class ScopeType(models.TextChoices):
    GLOBAL = "global", "Global"
    REGION = "region", "Region"
    LEGAL_ENTITY = "legal_entity", "Legal entity"
    BUSINESS_UNIT = "business_unit", "Business unit"


class SorStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


SOR_TRANSITIONS = {
    SorStatus.PROPOSED: {SorStatus.APPROVED, SorStatus.REJECTED},
    SorStatus.APPROVED: {SorStatus.SUPERSEDED},
    SorStatus.REJECTED: set(),
    SorStatus.SUPERSEDED: set(),
}


class SchemaFormat(models.TextChoices):
    JSON_SCHEMA = "json-schema", "JSON Schema"
    OPENAPI = "openapi", "OpenAPI"
    AVRO = "avro", "Avro"


class CompatLevel(models.TextChoices):
    BACKWARD = "BACKWARD", "Backward"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE", "Backward transitive"
    FORWARD = "FORWARD", "Forward"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE", "Forward transitive"
    FULL = "FULL", "Full"
    FULL_TRANSITIVE = "FULL_TRANSITIVE", "Full transitive"
    NONE = "NONE", "None"


class CompatPolicy(models.TextChoices):
    STRICT = "STRICT", "Strict"
    LENIENT = "LENIENT", "Lenient"


class RegistryMode(models.TextChoices):
    """Modes of the Confluent wire API (``/mode``): READONLY refuses registrations; IMPORT
    lets a migration tool register approved history with its own ids and version numbers."""

    READWRITE = "READWRITE", "Read and write"
    READONLY = "READONLY", "Read only"
    IMPORT = "IMPORT", "Import"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DEPRECATED = "deprecated", "Deprecated"
    # Permanently deleted through the wire API: off the wire for good; the row stays as a
    # tombstone so its number is never given again and its reviews stay in the history.
    DELETED = "deleted", "Permanently deleted"


VERSION_TRANSITIONS = {
    VersionStatus.DRAFT: {VersionStatus.IN_REVIEW},
    VersionStatus.CHANGES_REQUESTED: {VersionStatus.IN_REVIEW},
    VersionStatus.IN_REVIEW: {VersionStatus.APPROVED, VersionStatus.CHANGES_REQUESTED, VersionStatus.REJECTED,
                              VersionStatus.DRAFT},  # withdrawn by its author
    VersionStatus.APPROVED: {VersionStatus.DEPRECATED},
    VersionStatus.REJECTED: set(),
    VersionStatus.DEPRECATED: {VersionStatus.DELETED},
    VersionStatus.DELETED: set(),
}

# States in which the author may still edit the document.
EDITABLE_STATES = {VersionStatus.DRAFT, VersionStatus.CHANGES_REQUESTED}


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REQUEST_CHANGES = "request_changes", "Request changes"
    REJECT = "reject", "Reject"
