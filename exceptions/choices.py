"""States, severities and resolution codes of business exceptions, with the transition
table every lifecycle service checks."""

from django.db import models


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


# Highest first; ``raise_severity`` moves one step towards the front.
SEVERITY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW]
SEVERITY_RANK = {s.value: i for i, s in enumerate(SEVERITY_ORDER)}


def raised(severity: str) -> str:
    """One step more severe (critical stays critical)."""
    return SEVERITY_ORDER[max(0, SEVERITY_RANK[severity] - 1)].value


class Status(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"
    REOPENED = "reopened", "Reopened"


OPEN_STATUSES = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.REOPENED)
CLOSED_STATUSES = (Status.RESOLVED, Status.DISMISSED)

# from -> allowed targets. Resolving straight from new is allowed because middleware
# auto-resolves and successful replays close whatever state the exception is in.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.ACKNOWLEDGED, Status.RESOLVED, Status.DISMISSED),
    Status.ACKNOWLEDGED: (Status.IN_PROGRESS, Status.RESOLVED, Status.DISMISSED),
    Status.IN_PROGRESS: (Status.RESOLVED, Status.DISMISSED),
    Status.RESOLVED: (Status.REOPENED,),
    Status.DISMISSED: (Status.REOPENED,),
    Status.REOPENED: (Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED, Status.DISMISSED),
}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, ())


class Resolution(models.TextChoices):
    FIXED_AT_SOURCE = "fixed_at_source", "Fixed at source"
    REPLAYED = "replayed", "Data corrected and replayed"
    DUPLICATE = "duplicate", "Duplicate"
    NOT_AN_ERROR = "not_an_error", "Not an error"
    WRITTEN_OFF = "written_off", "Written off"


# Codes that make sense when dismissing rather than fixing.
DISMISS_RESOLUTIONS = (Resolution.DUPLICATE, Resolution.NOT_AN_ERROR, Resolution.WRITTEN_OFF)


class MatchMode(models.TextChoices):
    EXACT = "exact", "Exact"
    PREFIX = "prefix", "Prefix"


class AgeBucket(models.TextChoices):
    LT_1D = "lt1d", "Under 1 day"
    D1_3 = "1to3d", "1–3 days"
    D3_7 = "3to7d", "3–7 days"
    GT_7D = "gt7d", "Over 7 days"


# The business keys kept in their own indexed columns (searchable at a million rows).
INDEXED_BUSINESS_KEYS = ("invoice_number", "project_code", "client", "legal_entity", "contract")
