"""The demo's exception queues tell one coherent story (controlplane/scenario)."""

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model

from catalog import demo as catalog_demo
from controlplane import scenario
from controlplane.management.commands.load_demo import Command as LoadDemo
from controlplane.scenario.failures import CODES, target
from exceptions import demo, schema_check, services
from exceptions.models import BusinessException, Queue, ReplayTarget
from stewardship import demo as stewardship_demo
from stewardship.models import SchemaSubject
from stewardship.selectors import latest_approved

pytestmark = pytest.mark.django_db

QUEUE_TEAMS = {"Billing": "finance-systems", "Master Data": "revenue-operations", "PMO": "delivery-systems",
               "Procure-to-Pay": "procurement-systems", "Integration Ops": "integration-platform"}


@pytest.fixture
def estate(monkeypatch):
    from stewardship import validation

    # Compiled validators are cached by version id, and ids repeat across rolled-back tests.
    validation.clear_cache()
    monkeypatch.setenv("DEMO_BASE_URL", "http://127.0.0.1:8137")
    LoadDemo()._users()
    catalog_demo.load(stdout=io.StringIO())
    stewardship_demo.load(io.StringIO())
    demo.load(io.StringIO())


def test_without_the_demo_catalog_it_skips(db):
    out = io.StringIO()
    demo.load(out)
    assert "skipped" in out.getvalue() and not BusinessException.objects.exists()


def test_every_exception_belongs_to_an_integration_that_can_raise_it_in_a_queue_its_team_works(estate):
    excs = list(BusinessException.objects.select_related("integration", "queue__team", "entity"))
    assert len(excs) > 100
    for exc in excs:
        integrations, entity, queue = CODES[exc.error_code]
        assert exc.integration.slug in integrations, (exc.error_code, exc.integration.slug)
        assert exc.entity.slug == entity and exc.queue.name == queue
    assert {q.name: q.team.slug for q in Queue.objects.select_related("team")} == QUEUE_TEAMS
    # Only the UK tax-code items go to Fran by the routing rule.
    assigned = BusinessException.objects.open().filter(assignee__username="finance")
    assert assigned.exists() and {e.error_code for e in assigned} <= {"TAX_CODE_INVALID", "PO_NUMBER_TOO_LONG"}
    assert not any(re.search(r"Acme|Globex|Initech|Umbrella|Stark|Wayne|Hooli", e.client) for e in excs)


STORY_CODES = {"TAX_CODE_INVALID", "RATE_CARD_MISMATCH"}  # the UK tax-code change, the missed rate cards


def test_the_overdue_items_are_the_storys(estate):
    open_ = BusinessException.objects.open()
    overdue = open_.filter(is_overdue=True)
    assert 8 <= open_.count() <= 60
    assert 0 < overdue.count() < open_.count()
    assert set(overdue.values_list("error_code", flat=True)) <= STORY_CODES
    assert overdue.filter(error_code="TAX_CODE_INVALID", legal_entity="UK01").count() >= overdue.count() / 2


@pytest.mark.parametrize("hours", range(0, 168, 7))
def test_whatever_the_day_and_hour_it_is_loaded_only_the_story_is_overdue(hours):
    """Routine failures are worked within their queue's target on any day of the week, and
    today's SAP outage and the refused replay finance retries are always there (one of last week's UK tax-code failures)."""
    now = dt.datetime(2026, 11, 30, 0, 30, tzinfo=dt.UTC) + dt.timedelta(hours=hours)  # from a Monday
    story = scenario.build(now)
    open_ = [f for f in story.failures if f.is_open]
    overdue = {f.error_code for f in open_ if f.seen_at + target(f.queue, f.severity) < now}
    assert overdue and overdue <= STORY_CODES, f"{now:%a %H:%M}"
    assert sum(f.error_code == "SAP_RFC_TIMEOUT" for f in open_) == 4, "today's SAP gateway outage"
    refused = [f for f in open_ if f.failed_replay]
    assert len(refused) == 1 and refused[0].status == "in_progress" and refused[0].correction == refused[0].payload


def _approved(slug):
    return latest_approved(SchemaSubject.objects.get(slug=slug))


def test_failing_payloads_break_the_approved_schema_where_the_message_says_and_the_correction_validates(estate):
    invoice = _approved("invoice").document
    pattern = re.compile(invoice["properties"]["number"]["pattern"])
    corrections = {f.key: f for f in scenario.build().failures}
    checked = 0
    for exc in BusinessException.objects.select_related("entity"):  # open and closed
        number = exc.business_keys.get("invoice_number")
        if number:
            assert pattern.match(number), number  # the seeded invoice numbers follow the schema
        # as received (the replayed ones, and one whose replay was refused, were corrected since)
        errors = schema_check.validate_against_entity_schema(exc.entity, exc.original_payload or exc.payload)
        if errors is None:
            continue  # no approved JSON Schema for this entity (rate cards, purchase orders)
        failure = corrections[exc.correlation_id.removeprefix("demo-")]
        if exc.message.startswith("$"):
            path = re.escape(exc.message.split(":", 1)[0]).replace(r"\[\*\]", r"\[\d+\]")
            assert errors and all(re.match(path + ":", e) for e in errors), (exc.message, errors)
        assert schema_check.validate_against_entity_schema(exc.entity, failure.correction) == [], exc.message
        checked += 1
    assert checked >= 50


def test_amount_and_keys_agree_with_the_payload(estate):
    for exc in BusinessException.objects.filter(entity__slug="invoice").exclude(payload__isnull=True):
        payload = exc.original_payload or exc.payload
        assert payload["currency"] == exc.currency and payload["legalEntity"] == exc.legal_entity
        if payload["lines"]:
            assert abs(sum(line["amount"] for line in payload["lines"]) - float(exc.amount_at_risk)) < 0.01
        assert payload["number"].endswith(exc.invoice_number.split("-")[1])


def test_replay_targets_point_at_the_demo_receiver_on_host_and_port(estate):
    urls = list(ReplayTarget.objects.values_list("url", flat=True))
    assert len(urls) >= 6 and all(u.startswith("http://127.0.0.1:8137/demo/") for u in urls)


def test_loading_again_changes_nothing_and_what_was_decided_stays_decided(estate):
    first = BusinessException.objects.count()
    fran = get_user_model().objects.get(username="finance")
    fixed, dropped = BusinessException.objects.open().order_by("pk")[:2]
    services.resolve(exception=fixed, actor=fran, resolution_code="fixed_at_source")
    services.dismiss(exception=dropped, actor=fran, resolution_code="duplicate")
    demo.load(io.StringIO())
    assert BusinessException.objects.count() == first
    fixed.refresh_from_db()
    dropped.refresh_from_db()
    assert (fixed.status, dropped.status, fixed.occurrences) == ("resolved", "dismissed", 1)
