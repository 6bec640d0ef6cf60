"""Demo FX rates: a year of daily EUR-based reference rates for the currencies the demo's
events and exceptions use, so its money KPIs convert instead of counting amounts apart.
Deterministic (a seeded walk), stored through the service, so loading twice replaces the
same rates with themselves. Weekends are skipped as the ECB does: the rate rule falls back
to Friday's."""

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

DAYS = 400
START = {"GBP": Decimal("0.8600"), "USD": Decimal("1.0800"), "CHF": Decimal("0.9400")}


def seed_rates(stdout=None) -> int:
    from . import services

    rng = random.Random(2026)
    today = timezone.now().date()
    levels = dict(START)
    rates = []
    for offset in range(DAYS, -1, -1):
        day = today - dt.timedelta(days=offset)
        for code in sorted(levels):
            levels[code] = (levels[code] * Decimal(str(1 + rng.uniform(-0.003, 0.003)))).quantize(Decimal("0.0001"))
            if day.weekday() < 5:
                rates.append(("EUR", code, day, levels[code]))
    summary = services.record_fx_rates(actor=None, rates=rates, source="Demo reference rates")
    if stdout is not None:
        stdout.write(f"FX: {summary['rates']} demo rates ({summary['created']} new).")
    return summary["rates"]
