import csv
import io

import pytest

from exceptions.models import BusinessException, RoutingRule

from .factories import BusinessExceptionFactory, QueueFactory, RoutingRuleFactory

PAGES = ["exceptions:home", "exceptions:list", "exceptions:mine", "exceptions:rules"]


@pytest.fixture
def some(db):
    q = QueueFactory(name="Billing")
    return [BusinessExceptionFactory(queue=q, legal_entity="UK01") for _ in range(3)]


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("who, code", [("finance", 200), ("executive", 200), ("architect", 200), ("outsider", 403)])
def test_page_permissions(client_as, some, name, who, code):
    from django.urls import reverse

    assert client_as(who).get(reverse(name)).status_code == code


def test_anonymous_redirected_to_login(client_as, some):
    resp = client_as(None).get("/exceptions/")
    assert resp.status_code == 302 and "/login/" in resp["Location"]


def test_home_shows_queue_numbers(client_as, some):
    body = client_as("finance").get("/exceptions/").content.decode()
    assert "Billing" in body and "GBP 3,000.00" in body


def test_list_filters_by_invoice_number_and_paginates_by_cursor(client_as, some, django_assert_max_num_queries):
    target = some[1]
    client = client_as("finance")
    with django_assert_max_num_queries(12):
        body = client.get("/exceptions/list/", {"q": target.invoice_number.lower()}).content.decode()
    assert f"EXC-{target.pk}" in body and f"EXC-{some[0].pk}<" not in body
    for _ in range(60):
        BusinessExceptionFactory(queue=some[0].queue)
    with django_assert_max_num_queries(12):
        resp = client.get("/exceptions/list/", {"status": "open"})
    assert resp.context["next_url"] and "cursor=" in resp.context["next_url"]
    assert len(resp.context["page"]) == 50
    second = client.get(resp.context["next_url"])
    ids_first = {e.pk for e in resp.context["page"]}
    ids_second = {e.pk for e in second.context["page"]}
    assert ids_first.isdisjoint(ids_second) and len(ids_first | ids_second) == 63


def test_list_filters(client_as, some, finance):
    client = client_as("finance")
    some[0].assignee = finance
    some[0].save()
    BusinessExceptionFactory(amount_at_risk=99999, severity="critical", status="resolved")

    def ids(**params):
        return {e.pk for e in client.get("/exceptions/list/", params).context["page"]}

    assert ids(assignee="finance") == {some[0].pk}
    assert len(ids(severity="critical")) == 1
    assert len(ids(status="open")) == 3
    assert len(ids(amount_min=50000)) == 1
    assert len(ids(overdue="true")) == 0
    assert len(ids(age="lt1d")) == 4
    mine = {e.pk for e in client.get("/exceptions/mine/").context["page"]}
    assert mine == {some[0].pk}


def test_csv_export_streams_filtered_rows(client_as, some):
    resp = client_as("finance").get("/exceptions/export.csv", {"q": some[0].invoice_number})
    assert resp.status_code == 200 and resp.streaming
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert len(rows) == 2 and rows[1][0] == f"EXC-{some[0].pk}"
    # Headers and values people read: labels, names, never slugs or column names.
    row = dict(zip(rows[0], rows[1], strict=True))
    assert rows[0][:3] == ["Exception", "Status", "Severity"] and "Invoice number" in rows[0]
    assert row["Integration"] == some[0].integration.name and row["Status"] == some[0].get_status_display()
    assert row["Invoice number"] == some[0].invoice_number
    assert client_as("executive").get("/exceptions/export.csv").status_code == 403


def test_detail_page_and_htmx_action(client_as, some, django_assert_max_num_queries):
    exc = some[0]
    client = client_as("finance")
    with django_assert_max_num_queries(20):
        body = client.get(f"/exceptions/{exc.pk}/").content.decode()
    assert exc.invoice_number in body and "Assign to me" in body
    resp = client.post(f"/exceptions/{exc.pk}/assign_me/", {"expected_status": "new"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and "Acknowledged" in resp.content.decode()
    # a second click from a stale page is told someone else moved it
    resp = client.post(f"/exceptions/{exc.pk}/start/", {"expected_status": "new"}, HTTP_HX_REQUEST="true")
    assert "Someone else changed" in resp.content.decode()
    exc.refresh_from_db()
    assert exc.status == "acknowledged"
    resp = client.post(f"/exceptions/{exc.pk}/resolve/", {"resolution_code": "written_off", "note": "n"})
    assert resp.status_code == 302
    exc.refresh_from_db()
    assert exc.status == "resolved"
    assert client_as("executive").post(f"/exceptions/{exc.pk}/reopen/").status_code == 403


def test_detail_forms_offer_people_by_name_and_no_resolution_by_default(client_as, cast, some):
    cast["finance"].first_name, cast["finance"].last_name = "Fran", "Finance"
    cast["finance"].save()
    exc = some[0]
    client = client_as("finance")
    body = client.get(f"/exceptions/{exc.pk}/").content.decode()
    assert '<option value="finance">Fran Finance</option>' in body and ">Nobody (unassign)</option>" in body
    assert '<option value="" selected disabled>Choose a resolution…</option>' in body
    from catalog.forms import TeamMemberForm
    from exceptions.forms import RoutingRuleForm
    from stewardship.forms import SorProposalForm

    assert (cast["finance"].pk, "Fran Finance") in [(c[0].value, c[1]) for c in RoutingRuleForm().fields["assignee"].choices if c[0]]
    assert "Fran Finance" in [c[1] for c in TeamMemberForm().fields["user"].choices]
    cast["steward"].first_name = "Sam"
    cast["steward"].save()
    assert "Sam" in [c[1] for c in SorProposalForm().fields["steward"].choices]
    resp = client.post(f"/exceptions/{exc.pk}/resolve/", {"resolution_code": "", "note": "n"}, HTTP_HX_REQUEST="true")
    assert "Choose a resolution code." in resp.content.decode()
    exc.refresh_from_db()
    assert exc.is_open


def test_comment_page_action(client_as, some):
    exc = some[0]
    resp = client_as("finance").post(f"/exceptions/{exc.pk}/comment/", {"body": "@steward look"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and "@steward look" in resp.content.decode()
    assert client_as("executive").post(f"/exceptions/{exc.pk}/comment/", {"body": "x"}).status_code == 403


def test_edit_and_replay_form_rejects_bad_json(client_as, some):
    from .factories import ReplayTargetFactory

    ReplayTargetFactory(integration=some[0].integration)
    resp = client_as("finance").post(f"/exceptions/{some[0].pk}/replay/", {"payload": "{bad"})
    assert resp.status_code == 400 and "Not valid JSON" in resp.content.decode()
    assert client_as("executive").post(f"/exceptions/{some[0].pk}/replay/", {"payload": "{}"}).status_code == 403


def test_bulk_resolve_and_assign(client_as, some, finance):
    client = client_as("finance")
    ids = [e.pk for e in some[:2]]
    resp = client.post("/exceptions/bulk/", {"ids": ids, "action": "assign_me"})
    assert resp.status_code == 302
    assert set(BusinessException.objects.filter(pk__in=ids).values_list("assignee", flat=True)) == {finance.pk}
    client.post("/exceptions/bulk/", {"ids": ids, "action": "resolve", "resolution_code": "duplicate"})
    assert set(BusinessException.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"resolved"}
    assert BusinessException.objects.get(pk=some[2].pk).status == "new"
    assert client_as("executive").post("/exceptions/bulk/", {"ids": ids, "action": "dismiss"}).status_code == 403


def test_rule_editor_preview_and_save(client_as, some):
    q2 = QueueFactory(name="Master Data")
    client = client_as("architect")
    data = {"position": 1, "name": "UK to MD", "enabled": "on", "error_code": "", "error_code_match": "exact",
            "business_key": "legal_entity", "business_value": "UK01", "queue": q2.pk}
    some[1].business_keys = {"legal_entity": "UK01"}
    some[1].save()
    resp = client.post("/exceptions/rules/new/", {**data, "preview": "1"})
    assert resp.status_code == 200
    assert [c["exception"].pk for c in resp.context["preview"]] == [some[1].pk]
    assert "Master Data" in resp.content.decode()
    assert RoutingRule.objects.count() == 0
    resp = client.post("/exceptions/rules/new/", {**data, "save": "1"})
    assert resp.status_code == 302 and RoutingRule.objects.get().name == "UK to MD"
    assert client_as("finance").get("/exceptions/rules/new/").status_code == 403


# --- API --------------------------------------------------------------------------------


@pytest.mark.parametrize("who, code", [("finance", 200), ("executive", 200), ("service", 200), ("outsider", 403), (None, 401)])
def test_api_list_permissions(api_as, some, who, code):
    assert api_as(who).get("/api/v1/exceptions/items/").status_code == code


def test_api_list_cursor_filters_and_query_count(api_as, some, django_assert_max_num_queries):
    client = api_as("finance")
    for _ in range(5):
        BusinessExceptionFactory(queue=some[0].queue)
    with django_assert_max_num_queries(8):
        resp = client.get("/api/v1/exceptions/items/", {"page_size": 3})
    body = resp.json()
    assert len(body["results"]) == 3 and body["next"] and "cursor=" in body["next"]
    resp = client.get("/api/v1/exceptions/items/", {"q": some[2].invoice_number})
    assert [r["id"] for r in resp.json()["results"]] == [some[2].pk]


def test_api_detail_and_transitions(api_as, some):
    exc = some[0]
    client = api_as("finance")
    detail = client.get(f"/api/v1/exceptions/items/{exc.pk}/").json()
    assert detail["payload"] == exc.payload and detail["business_keys"]["invoice_number"] == exc.invoice_number
    assert client.post(f"/api/v1/exceptions/items/{exc.pk}/acknowledge/", {}, format="json").json()["status"] == "acknowledged"
    resp = client.post(f"/api/v1/exceptions/items/{exc.pk}/acknowledge/", {}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "invalid_transition"
    resp = client.post(f"/api/v1/exceptions/items/{exc.pk}/start/", {"expected_status": "new"}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "conflict"
    assert client.post(f"/api/v1/exceptions/items/{exc.pk}/resolve/", {}, format="json").status_code == 400
    resp = client.post(f"/api/v1/exceptions/items/{exc.pk}/resolve/", {"resolution_code": "not_an_error"}, format="json")
    assert resp.json()["status"] == "resolved"
    assert client.post(f"/api/v1/exceptions/items/{exc.pk}/reopen/", {"note": "again"}, format="json").json()["status"] == "reopened"
    assert api_as("executive").post(f"/api/v1/exceptions/items/{exc.pk}/dismiss/", {}, format="json").status_code == 403
    assert api_as("service").post(f"/api/v1/exceptions/items/{exc.pk}/dismiss/", {}, format="json").status_code == 403


def test_api_comments_and_bulk(api_as, some):
    exc = some[0]
    client = api_as("finance")
    resp = client.post(f"/api/v1/exceptions/items/{exc.pk}/comments/", {"body": "@finance fyi"}, format="json")
    assert resp.status_code == 201 and resp.json()["mentions"] == ["finance"]
    assert len(client.get(f"/api/v1/exceptions/items/{exc.pk}/comments/").json()) == 1
    assert api_as("executive").post(f"/api/v1/exceptions/items/{exc.pk}/comments/", {"body": "x"}, format="json").status_code == 403
    resp = client.post("/api/v1/exceptions/items/bulk/", {"ids": [e.pk for e in some] + [999999], "action": "dismiss"}, format="json")
    assert sorted(resp.json()["done"]) == sorted(e.pk for e in some) and "999999" in resp.json()["failed"]


def test_api_queues_and_rules_writes_for_architect_only(api_as, some):
    team_slug = some[0].queue.team.slug
    queue = {"name": "PMO", "team": team_slug, "target_hours_high": 8}
    assert api_as("finance").post("/api/v1/exceptions/queues/", queue, format="json").status_code == 403
    resp = api_as("architect").post("/api/v1/exceptions/queues/", queue, format="json")
    assert resp.status_code == 201 and resp.json()["slug"] == "pmo"
    rule = {"name": "PMO rule", "queue": "pmo", "error_code": "TAX_", "error_code_match": "prefix", "position": 1}
    assert api_as("finance").post("/api/v1/exceptions/rules/", rule, format="json").status_code == 403
    preview = api_as("architect").post("/api/v1/exceptions/rules/preview/", rule, format="json")
    assert preview.status_code == 200 and preview.json()["count"] == 3
    assert api_as("finance").post("/api/v1/exceptions/rules/preview/", rule, format="json").status_code == 403
    resp = api_as("architect").post("/api/v1/exceptions/rules/", rule, format="json")
    assert resp.status_code == 201
    rid = resp.json()["id"]
    assert api_as("architect").patch(f"/api/v1/exceptions/rules/{rid}/", {"enabled": False}, format="json").json()["enabled"] is False
    assert api_as("architect").delete(f"/api/v1/exceptions/rules/{rid}/").status_code == 204
    assert api_as("executive").get("/api/v1/exceptions/rules/").status_code == 200
    RoutingRuleFactory()


@pytest.mark.parametrize("who, code", [("finance", 200), ("executive", 200), ("outsider", 403)])
def test_detail_permissions(client_as, api_as, some, who, code):
    assert client_as(who).get(f"/exceptions/{some[0].pk}/").status_code == code
    assert api_as(who).get(f"/api/v1/exceptions/items/{some[0].pk}/").status_code == code


@pytest.mark.parametrize("who, code", [("finance", 200), ("executive", 403), ("architect", 403), ("service", 403)])
def test_api_bulk_permissions(api_as, some, who, code):
    resp = api_as(who).post("/api/v1/exceptions/items/bulk/", {"ids": [some[0].pk], "action": "acknowledge"}, format="json")
    assert resp.status_code == code


def test_api_move_answers_with_names_in_few_queries(api_as, cast, some, django_assert_max_num_queries):
    """A resolve (the most frequent finance write) reads the row once in its transaction,
    with the relations its answer names; no read-back, no lazy load per relation."""
    exc = some[0]
    client = api_as("finance")
    client.post(f"/api/v1/exceptions/items/{exc.pk}/acknowledge/", {}, format="json")
    # session, user, permissions (2), visibility, savepoint, read, update, audit row, release
    with django_assert_max_num_queries(10):
        resp = client.post(f"/api/v1/exceptions/items/{exc.pk}/resolve/",
                           {"resolution_code": "fixed_at_source", "expected_status": "acknowledged"}, format="json")
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "resolved" and body["resolution_code"] == "fixed_at_source"
    assert body["integration"] == exc.integration.slug and body["queue"] == exc.queue.slug
    assert body["assignee"] == cast["finance"].username and body["resolved_at"]
    exc.refresh_from_db()
    assert exc.status == "resolved" and exc.resolved_at is not None
