"""The shapes a trace is made of, in one place: the item every source returns, the kinds
of item, and the panel registration. Sources (``traces/sources.py``) and other apps'
plug-ins (workflow stages, OTLP spans) build these and nothing else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict


class Kind:
    """What an item on the timeline is."""

    EVENT = "event"
    RUN = "run"
    EXCEPTION = "exception"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    SPAN = "span"

    LABELS = {EVENT: "Business event", RUN: "Sync run", EXCEPTION: "Exception", REPLAY: "Replay",
              MISMATCH: "Reconciliation mismatch", SPAN: "Span"}


class TraceItem(TypedDict):
    """One thing that happened to a business key, on the lane of the system or
    integration where it happened. ``amount`` is a Decimal with its ISO ``currency`` (or
    None and ""); ``lane``, ``title`` and ``detail`` are words a person reads."""

    at: dt.datetime  # aware
    kind: str  # one of Kind
    lane: str
    lane_url: str
    title: str
    detail: str
    status: str
    amount: Decimal | None
    currency: str
    url: str


ITEM_KEYS = frozenset(TraceItem.__annotations__)

# fn(key, user) -> list[TraceItem]; must apply the user's permissions and visibility itself.
Source = Callable[[str, object], list]
# probe(key, user) -> QuerySet or None: rows exist exactly when the source has items for the key.
Probe = Callable[[str, object], object]
# fn(key, user, items) -> template context dict, or None to leave the panel out.
PanelFn = Callable[[str, object, list], "dict | None"]


@dataclass(frozen=True)
class Panel:
    """An extra panel shown above the timeline (e.g. the workflow stages of the key)."""

    name: str
    fn: PanelFn
    template: str


@dataclass(frozen=True)
class Lane:
    """A row of the timeline: one system or integration and its items in time order."""

    name: str
    url: str
    items: tuple


MAX_KEY_LENGTH = 200  # BusinessEvent.correlation_key and BusinessException.correlation_id
ITEMS_PER_SOURCE = 500  # a key carried by more than this is a category, not a transaction
