"""Amount at risk on open exceptions, per currency, for other apps' messages (health's
notifications). Apart from selectors.py, which reaches the services, so that health can
read it without an import cycle (health -> exceptions.selectors -> ... -> health)."""

from django.db.models import Sum

from .choices import OPEN_STATUSES
from .models import BusinessException

NO_CURRENCY = "XXX"  # ISO 4217's "no currency": an exception reported without one


def open_amount_at_risk_by_integration(integration_ids) -> dict[int, dict[str, str]]:
    """{integration_id: {currency: "1200.30"}} over open exceptions, summed per currency in
    SQL (one query), as strings so a notification payload keeps the Decimal exactly."""
    rows = (BusinessException.objects.filter(integration_id__in=list(integration_ids), status__in=OPEN_STATUSES)
            .exclude(amount_at_risk=0).values_list("integration_id", "currency").annotate(total=Sum("amount_at_risk"))
            .order_by("integration_id", "currency"))
    result: dict[int, dict[str, str]] = {}
    for integration_id, currency, total in rows:
        result.setdefault(integration_id, {})[currency or NO_CURRENCY] = str(total)
    return result
