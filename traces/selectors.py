"""Reading a trace: every registered source's items for one key, checked and in time order,
grouped into lanes; and the panels above it."""

from __future__ import annotations

from dataclasses import dataclass

from .sources import panels, probe_of, sources
from .types import ITEM_KEYS, ITEMS_PER_SOURCE, MAX_KEY_LENGTH, Lane


def clean_key(raw) -> str:
    """The key as searched: stripped, at most MAX_KEY_LENGTH characters, or "" if unusable."""
    key = (raw or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        return ""
    return key


def key_variants(key: str) -> list[str]:
    """Keys are matched as sent and upper-cased (``inv-2026-1133`` finds ``INV-2026-1133``),
    as the exception list's key filter does."""
    return list(dict.fromkeys([key, key.upper()]))


def items_for(key: str, user) -> list[dict]:
    """Every item of every source for ``key`` that ``user`` may see, oldest first."""
    items = []
    for source in sources():
        for item in source(key, user):
            missing = ITEM_KEYS - item.keys()
            if missing:
                raise ValueError(f"{source.__module__}.{source.__name__} returned an item without {sorted(missing)}")
            items.append(item)
    items.sort(key=lambda i: (i["at"], i["kind"], i["title"]))
    return items


def has_trace(key: str, user) -> bool:
    """Whether anything ``user`` may see carries ``key``: one statement over the sources'
    probes, then any source without a probe, until one has items."""
    from django.db import connection

    parts, params, unprobed = [], [], []
    for source in sources():
        probe = probe_of(source)
        if probe is None:
            unprobed.append(source)
            continue
        qs = probe(key, user)
        if qs is not None:
            # A count over at most ITEMS_PER_SOURCE rows, not EXISTS: under EXISTS (a LIMIT 1)
            # PostgreSQL may bet on a sequential scan finding a row early, and a key carried
            # nowhere then reads the whole table.
            sql, qs_params = qs.order_by().values("pk")[:ITEMS_PER_SOURCE].query.sql_with_params()
            parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS probe{len(parts)})")
            params.extend(qs_params)
    if parts:
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + " + ".join(parts), params)
            if cursor.fetchone()[0]:
                return True
    return any(source(key, user) for source in unprobed)


def lanes_of(items: list[dict]) -> list[Lane]:
    """One lane per system or integration, in the order they first appear."""
    grouped: dict[str, list] = {}
    urls: dict[str, str] = {}
    for item in items:
        grouped.setdefault(item["lane"], []).append(item)
        urls.setdefault(item["lane"], item["lane_url"])
    return [Lane(name=name, url=urls[name], items=tuple(rows)) for name, rows in grouped.items()]


def panel_contexts(key: str, user, items: list[dict]) -> list[dict]:
    out = []
    for panel in panels():
        context = panel.fn(key, user, items)
        if context is not None:
            out.append({"name": panel.name, "template": panel.template, "context": context})
    return out


@dataclass(frozen=True)
class Trace:
    """Everything the page and the API show of one key."""

    key: str
    items: list
    lanes: list
    panels: list
    truncated: bool  # a source hit ITEMS_PER_SOURCE: the oldest items of each kind are shown


def trace(key: str, user) -> Trace:
    items = items_for(key, user)
    counts: dict[str, int] = {}
    for row in items:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return Trace(key=key, items=items, lanes=lanes_of(items), panels=panel_contexts(key, user, items),
                 truncated=any(n >= ITEMS_PER_SOURCE for n in counts.values()))


def swimlane_rows(t: Trace) -> list[dict]:
    """One row per item in time order, with the item in its lane's column."""
    index = {lane.name: n for n, lane in enumerate(t.lanes)}
    from .types import Kind

    return [{"item": row, "kind_label": Kind.LABELS.get(row["kind"], row["kind"]), "before": range(index[row["lane"]]),
             "after": range(len(t.lanes) - index[row["lane"]] - 1)} for row in t.items]
