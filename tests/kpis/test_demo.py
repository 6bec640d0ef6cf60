"""The demo's business events tell the same story as its exception queues."""

import datetime as dt
from collections import Counter

from controlplane import scenario
from controlplane.scenario.story import LEGAL_ENTITIES, WEEKS
from kpis import demo
from kpis.choices import EventType


class _Named(dict):
    def get(self, key, default=None):
        return key  # stand-ins for the catalog rows: the slug itself

    def __contains__(self, key):
        return True


def _events():
    story = scenario.build()
    return story, demo._events(story, _Named(), _Named())


def test_invoices_an_open_exception_holds_are_ready_but_not_posted():
    story, events = _events()
    posted = {e["correlation_key"] for e in events if e["type"] == EventType.INVOICE_POSTED}
    ready = {e["correlation_key"] for e in events if e["type"] == EventType.INVOICE_READY}
    held = {f.invoice.number for f in story.failures if f.is_open and f.invoice is not None}
    assert held and held <= ready and not held & posted
    # A resolved one was posted after its exception was resolved.
    for failure in story.failures:
        if failure.invoice is not None and failure.closed_at and failure.invoice.posted_at:
            assert failure.invoice.posted_at > failure.closed_at


def test_events_come_in_order_in_the_entitys_currency_with_a_weekly_rhythm():
    story, events = _events()
    assert all(e["occurred_at"] <= story.now for e in events)
    assert min(e["occurred_at"] for e in events) >= story.now - dt.timedelta(weeks=WEEKS + 1)
    by_key = {}
    for e in events:
        by_key.setdefault(e["correlation_key"], {})[e["type"]] = e
    for steps in by_key.values():
        if EventType.TIME_APPROVED in steps and EventType.INVOICE_POSTED in steps:
            assert (steps[EventType.TIME_APPROVED]["occurred_at"] < steps[EventType.INVOICE_READY]["occurred_at"]
                    < steps[EventType.INVOICE_POSTED]["occurred_at"])
    for e in events:
        if e["amount"] is not None and "legal_entity" in e["attributes"]:
            assert e["currency"] == LEGAL_ENTITIES[e["attributes"]["legal_entity"]].currency
    approvals = Counter(e["occurred_at"].weekday() for e in events if e["type"] == EventType.TIME_APPROVED)
    assert set(approvals) == {0}  # managers approve timesheets on Monday mornings


def test_rate_card_reconciliations_show_the_roles_missed_in_the_pricing_change():
    story = scenario.build()
    rows = demo._reconciliations(story, _Named(), _Named())
    rate_cards = [r for r in rows if r[0] == "sfdc-rate-cards-to-psa"]
    missed = sum(1 for f in story.failures if f.error_code == "RATE_CARD_MISMATCH" and f.is_open)
    assert missed and max(r[4] for r in rate_cards) == missed
    assert all(r[4] == 0 for r in rate_cards if r[2] < story.now - dt.timedelta(weeks=3))
