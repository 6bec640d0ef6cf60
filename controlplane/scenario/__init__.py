"""The demo scenario: one deterministic story of a mid-size consultancy, Northbridge
Partners, that every app's ``demo.py`` draws its rows from, so that the numbers on each
page can be explained from the rows behind them.

- ``story``: legal entities, tax codes, clients, projects, contracts, rate cards and
  consultants (fixed seed, same every run);
- ``flows``: 14 weeks of business events through the integrations that carry them
  (closed-won -> project activation, time approved -> invoice ready -> posted -> tax,
  milestone billing, payments, period close), with weekly rhythm and realistic latencies;
- ``failures``: the exceptions those flows raised, each on an integration that can raise
  it, with message, business keys, amount and payload that agree;
- ``receiver``: simulated ERP, PSA and billing endpoints (health checks and replay
  targets) served by the web process under ``/demo/`` when ``DEMO_ENDPOINTS`` is on.

Nothing here writes to the database; the loaders do, through the apps' services.
"""

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.utils import timezone


@dataclass(frozen=True)
class Scenario:
    now: dt.datetime
    invoices: list
    deals: list
    failures: list


_CLOCK = {}


def clock() -> dt.datetime:
    """The scenario's "now": fixed for the life of the process (to the minute), so every
    app's loader in one ``load_demo`` sees the same story."""
    if "now" not in _CLOCK:
        _CLOCK["now"] = timezone.now().replace(second=0, microsecond=0)
    return _CLOCK["now"]


@cache
def build(now: dt.datetime | None = None) -> Scenario:
    """The whole story up to ``now`` (default: ``clock()``)."""
    from . import failures, flows

    now = now or clock()
    invoices, deals = flows.simulate(now)
    return Scenario(now=now, invoices=invoices, deals=deals, failures=failures.generate(invoices, now))
