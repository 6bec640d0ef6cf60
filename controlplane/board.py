"""The control board: what needs attention now, across the capabilities. Shown on the
Django admin index (and usable by any page). One aggregate query per line. The
exception lines are the KPI definitions computed now (live); the headline KPIs are
snapshots and show their period and the time they were computed."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone


@dataclass(frozen=True)
class BoardLine:
    label: str
    value: str
    url: str
    attention: bool  # shown highlighted when something needs doing


def attention_now() -> list[BoardLine]:
    from health.choices import Status as HealthStatus
    from health.models import HealthConfig, SlaBreach
    from kpis.choices import Period, ScopeType
    from kpis.definitions import KPIS
    from kpis.periods import window_containing
    from stewardship.choices import SorStatus, VersionStatus
    from stewardship.models import SchemaVersion, SorAssignment

    now = timezone.now()
    # One source per figure: the revenue-at-risk KPI's own computation, read now (live), so
    # these lines equal the KPI page's "so far" figure recomputed at this moment.
    at_risk, detail = KPIS["revenue-at-risk"].compute(window_containing(Period.DAY, now.date()), ScopeType.ALL)[""]
    exceptions = {"open": detail["count"], "overdue": detail["overdue"]}
    unconverted = detail["unconverted_count"]
    amount = f"{at_risk:,.2f} {detail['currency']}" + (f" (+{unconverted:,} without an FX rate)" if unconverted else "")
    down = HealthConfig.objects.filter(status=HealthStatus.DOWN).count()
    breaches = SlaBreach.objects.filter(closed_at__isnull=True).count()
    reviews = SchemaVersion.objects.filter(status=VersionStatus.IN_REVIEW).count()
    proposals = SorAssignment.objects.filter(status=SorStatus.PROPOSED).count()
    exceptions_list = reverse("exceptions:list")
    return [
        BoardLine("Overdue exceptions", f"{exceptions['overdue']:,}", f"{exceptions_list}?overdue=true",
                  exceptions["overdue"] > 0),
        BoardLine("Open exceptions", f"{exceptions['open']:,}", reverse("exceptions:home"), False),
        BoardLine("Amount at risk on open exceptions", amount,
                  reverse("kpis:detail", args=["revenue-at-risk"]), unconverted > 0),
        BoardLine("Integrations down", f"{down:,}", f"{reverse('health:home')}?status=down", down > 0),
        BoardLine("SLA breaches open", f"{breaches:,}", reverse("health:sla"), breaches > 0),
        BoardLine("Schema versions waiting for review", f"{reviews:,}", reverse("stewardship:home"), reviews > 0),
        BoardLine("System-of-record proposals waiting", f"{proposals:,}", reverse("stewardship:sor-matrix"), proposals > 0),
    ]


def recent_changes(limit: int = 10):
    """The latest audit entries, with readable changes (names, not ids)."""
    from .audit import readable_changes
    from .models import AuditEntry

    return readable_changes(AuditEntry.objects.select_related("actor", "content_type")[:limit])


HEADLINE_KPIS = ("approved-time-to-invoice", "invoice-ready-backlog", "revenue-at-risk", "exception-backlog",
                 "sla-attainment", "governance-coverage")


def headline_kpis():
    from kpis import selectors
    from kpis.choices import Period

    cards = {card.kpi.key: card for card in selectors.cards(period=Period.WEEK)}
    return [cards[key] for key in HEADLINE_KPIS if key in cards]
