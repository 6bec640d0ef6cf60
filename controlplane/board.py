"""The control board: what needs attention now, across the capabilities. Shown on the
Django admin index (and usable by any page). One aggregate query per line."""

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone


@dataclass(frozen=True)
class BoardLine:
    label: str
    value: str
    url: str
    attention: bool  # shown highlighted when something needs doing


def attention_now() -> list[BoardLine]:
    from exceptions.choices import OPEN_STATUSES
    from exceptions.models import BusinessException
    from health.choices import Status as HealthStatus
    from health.models import HealthConfig, SlaBreach
    from stewardship.choices import SorStatus, VersionStatus
    from stewardship.models import SchemaVersion, SorAssignment

    now = timezone.now()
    exceptions = BusinessException.objects.filter(status__in=OPEN_STATUSES).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)),
    )
    # Money is never added across currencies: one total per currency, side by side.
    at_risk = (
        BusinessException.objects.filter(status__in=OPEN_STATUSES, amount_at_risk__isnull=False)
        .values("currency").annotate(total=Sum("amount_at_risk")).order_by("currency")
    )
    down = HealthConfig.objects.filter(status=HealthStatus.DOWN).count()
    breaches = SlaBreach.objects.filter(closed_at__isnull=True).count()
    reviews = SchemaVersion.objects.filter(status=VersionStatus.IN_REVIEW).count()
    proposals = SorAssignment.objects.filter(status=SorStatus.PROPOSED).count()
    exceptions_list = reverse("exceptions:list")
    return [
        BoardLine("Overdue exceptions", f"{exceptions['overdue']:,}", f"{exceptions_list}?overdue=true",
                  exceptions["overdue"] > 0),
        BoardLine("Open exceptions", f"{exceptions['open']:,}", reverse("exceptions:home"), False),
        BoardLine("Amount at risk on open exceptions", money_by_currency((r["currency"], r["total"]) for r in at_risk),
                  reverse("kpis:detail", args=["revenue-at-risk"]), False),
        BoardLine("Integrations down", f"{down:,}", f"{reverse('health:home')}?status=down", down > 0),
        BoardLine("SLA breaches open", f"{breaches:,}", reverse("health:sla"), breaches > 0),
        BoardLine("Schema versions waiting for review", f"{reviews:,}", reverse("stewardship:home"), reviews > 0),
        BoardLine("System-of-record proposals waiting", f"{proposals:,}", reverse("stewardship:sor-matrix"), proposals > 0),
    ]


def money_by_currency(pairs) -> str:
    """``[("GBP", 1200), ("USD", 80)]`` -> ``GBP 1,200.00 · USD 80.00`` (never one sum)."""
    shown = [f"{currency or '—'} {total:,.2f}" for currency, total in pairs if total]
    return " · ".join(shown) or "0.00"


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
