"""The header's global search and the pickers' type-ahead: names in, the right rows out,
visibility respected, bad input a clear 400."""

import pytest
from django.test import override_settings

from catalog import services as catalog_services
from controlplane import audit
from controlplane.models import AuditEntry
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory, SystemFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_names_across_kinds_with_links(client_as, django_assert_max_num_queries):
    erp = SystemFactory(name="NetSuite ERP")
    IntegrationFactory(name="Approved time → NetSuite", target_system=erp)
    TeamFactory(name="Finance Systems")
    client = client_as("executive")
    with django_assert_max_num_queries(15):  # one more: the EXISTS that asks whether a trace carries the term
        response = client.get("/search/", {"q": "netsuite"})
    groups = {g["key"]: g for g in response.context["groups"]}
    assert [i["label"] for i in groups["system"]["items"]] == ["NetSuite ERP"]
    assert [i["label"] for i in groups["integration"]["items"]] == ["Approved time → NetSuite"]
    assert groups["team"]["total"] == 0
    assert erp.get_absolute_url() in response.content.decode()


def test_one_kind_is_paginated(client_as):
    for n in range(30):
        SystemFactory(name=f"Billing engine {n:02d}")
    client = client_as("architect")
    first = client.get("/search/", {"q": "billing engine", "kind": "system"})
    assert first.context["page_obj"].paginator.count == 30 and len(first.context["groups"][0]["items"]) == 25
    second = client.get("/search/", {"q": "billing engine", "kind": "system", "page": 2})
    assert [i["label"] for i in second.context["groups"][0]["items"]] == [f"Billing engine {n}" for n in range(25, 30)]


def test_exc_number_opens_the_exception_and_respects_restricted_queues(client_as, finance):
    open_queue = QueueFactory(name="Invoices")
    secret = QueueFactory(name="Payroll", restricted=True)
    visible = BusinessExceptionFactory(queue=open_queue)
    hidden = BusinessExceptionFactory(queue=secret)
    client = client_as("finance")
    response = client.get("/search/", {"q": f"exc-{visible.pk}"})
    assert response.status_code == 302 and response["Location"] == visible.get_absolute_url()
    # A restricted queue's item does not open, and the page does not say it exists.
    response = client.get("/search/", {"q": f"EXC-{hidden.pk}"})
    assert response.status_code == 200 and b"that you can see" in response.content
    by_key = client.get("/search/", {"q": hidden.invoice_number})
    assert by_key.context["exceptions"]["total"] == 0


def test_exact_key_search_says_so_and_offers_contains_when_cheap(client_as):
    exc = BusinessExceptionFactory(invoice_number="INV-UK-2026-0042", business_keys={"invoice_number": "INV-UK-2026-0042"})
    BusinessExceptionFactory(invoice_number="INV-UK-2026-0043")
    client = client_as("finance")
    # A key that something carries opens its trace; trace=0 lists the results instead.
    assert client.get("/search/", {"q": "INV-UK-2026-0042"})["Location"] == "/traces/?key=INV-UK-2026-0042"
    exact = client.get("/search/", {"q": "INV-UK-2026-0042", "trace": "0"})
    assert [e.pk for e in exact.context["exceptions"]["rows"]] == [exc.pk]
    html = exact.content.decode()
    assert "<strong>exactly</strong>" in html and "Invoice number: INV-UK-2026-0042" in html
    assert exact.context["exceptions"]["contains_offered"]
    partial = client.get("/search/", {"q": "INV-UK-2026"})
    assert partial.context["exceptions"]["total"] == 0  # exact only: a prefix is not a key
    contains = client.get("/search/", {"q": "uk-2026", "kind": "exception", "contains": "1"})
    assert contains.context["exceptions"]["contains"] and contains.context["exceptions"]["total"] == 2
    with override_settings(EXCEPTIONS_CONTAINS_SEARCH_MAX_ROWS=1):
        big = client.get("/search/", {"q": "INV-UK-2026-0042", "trace": "0"})
        assert not big.context["exceptions"]["contains_offered"] and "containing" not in big.content.decode()
        refused = client.get("/search/", {"q": "uk-2026", "kind": "exception", "contains": "1"})
        assert not refused.context["exceptions"]["contains"] and refused.context["exceptions"]["total"] == 0


@pytest.mark.parametrize("params", [{"q": "x" * 101}, {"q": "a\x00b"}, {"q": "x", "kind": "nonsense"}])
def test_bad_search_is_a_400(client_as, params):
    assert client_as("finance").get("/search/", params).status_code == 400


def test_suggest_returns_names_with_slugs_as_values(client_as, django_assert_max_num_queries):
    team = TeamFactory(name="Delivery Systems", slug="delivery-systems")
    TeamFactory(name="Finance Systems")
    client = client_as("finance")
    with django_assert_max_num_queries(6):
        response = client.get("/search/suggest/", {"kind": "team", "q": "deliv"})
    assert response.json()["results"] == [
        {"value": "delivery-systems", "label": "Delivery Systems", "hint": "", "url": team.get_absolute_url()}
    ]
    everyone = client.get("/search/suggest/", {"kind": "team"}).json()["results"]
    assert [r["label"] for r in everyone] == ["Delivery Systems", "Finance Systems"]
    bad = client.get("/search/suggest/", {"kind": "secrets"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["kind"]
    assert client.get("/search/suggest/", {"kind": "team", "q": "y" * 101}).status_code == 400


def test_suggest_people_shows_full_names_of_active_accounts(client_as, finance, cast):
    finance.first_name, finance.last_name = "Fran", "Finance"
    finance.save()
    cast["outsider"].is_active = False
    cast["outsider"].save()
    results = client_as("steward").get("/search/suggest/", {"kind": "user", "q": "f"}).json()["results"]
    assert {"value": "finance", "label": "Fran Finance", "hint": "finance", "url": ""} in results
    assert "outsider" not in [r["value"] for r in results]


def test_filter_pickers_show_the_chosen_name_and_submit_the_slug(client_as):
    team = TeamFactory(name="Finance Systems", slug="finance-systems")
    IntegrationFactory(name="Invoice ready → Billing", owner_team=team)
    IntegrationFactory(name="Other")
    response = client_as("architect").get("/catalog/integrations/", {"owner_team": "finance-systems"})
    html = response.content.decode()
    assert [i.name for i in response.context["object_list"]] == ["Invoice ready → Billing"]
    assert 'data-picker="team"' in html and '<option value="finance-systems" selected>Finance Systems</option>' in html
    assert "(slug)" not in html
    # The API takes the same slug through the same FilterSet.
    api = client_as("architect").get("/api/v1/catalog/integrations/", {"owner_team": "finance-systems"}).json()
    assert [row["name"] for row in api["results"]] == ["Invoice ready → Billing"]


def test_history_reads_names_and_labels_not_ids(architect):
    finance_team = TeamFactory(name="Finance Systems")
    delivery = TeamFactory(name="Delivery Systems")
    integration = IntegrationFactory(owner_team=finance_team, criticality=2)
    catalog_services.update_integration(actor=architect, integration=integration, owner_team=delivery, criticality=1)
    entry = audit.readable_history(integration)[0]
    rows = {label: (old, new) for label, old, new in entry.readable}
    assert rows["owner team"] == ("Finance Systems", "Delivery Systems")
    assert rows["criticality"] == ("Tier 2", "Tier 1 (business critical)")
    assert all("_id" not in label for label in rows)


def test_history_formatter_costs_one_query_per_related_model(architect, django_assert_max_num_queries):
    teams = [TeamFactory(name=f"Team {n}") for n in range(6)]
    integration = IntegrationFactory(owner_team=teams[0])
    for team in teams[1:]:
        catalog_services.update_integration(actor=architect, integration=integration, owner_team=team)
    entries = list(AuditEntry.objects.for_object(integration).select_related("actor", "content_type"))
    with django_assert_max_num_queries(1):
        audit.readable_changes(entries)
    assert [e.readable[0][1:] for e in entries if e.readable][0] == ("Team 4", "Team 5")


@pytest.mark.parametrize("name,label", [("invoice_number", "Invoice number"), ("owner_team", "Owner team"),
                                        ("sla_target", "SLA target"), ("correlation_id", "Correlation ID"),
                                        ("api", "API")])
def test_key_labels(name, label):
    assert audit.key_label(name) == label


def test_history_formatter_keeps_names_stored_where_an_id_would_be(architect):
    from controlplane.services import create_service_account

    token, _key = create_service_account(name="billing-bridge", role="Integration")
    audit.record(actor=architect, action="servicetoken.renamed", obj=token, before={"user": token.user_id},
                 after={"user": "billing-bridge"})
    entry = audit.readable_history(token)[0]
    assert entry.readable == [("user", "billing-bridge", "billing-bridge")]


def test_exception_list_total_and_detail_links_back_to_the_filtered_list(client_as):
    uk = QueueFactory(name="UK invoicing")
    exc = BusinessExceptionFactory(queue=uk)
    BusinessExceptionFactory(queue=uk)
    BusinessExceptionFactory()
    client = client_as("finance")
    listing = client.get("/exceptions/list/", {"queue": uk.pk, "status": "open"})
    assert listing.context["total"] == 2 and "2 exceptions" in listing.content.decode()
    back = f"/exceptions/list/?queue={uk.pk}&status=open"
    detail = client.get(f"/exceptions/{exc.pk}/", {"back": back})
    html = detail.content.decode()
    assert detail.context["back_url"] == back
    assert exc.integration.get_absolute_url() in html and f"/health/integrations/{exc.integration.slug}/" in html
    for elsewhere in ["https://evil.example/exceptions/list/", "//evil.example/", "/admin/"]:
        assert client.get(f"/exceptions/{exc.pk}/", {"back": elsewhere}).context["back_url"] == "/exceptions/list/"


def test_history_names_a_kpi_target_by_its_kpi_and_leaves_out_the_row_timestamp(architect):
    from kpis import services as kpi_services

    target = kpi_services.set_target(actor=architect, key="overdue-share", target=15, tolerance_pct=50)
    entry = audit.readable_history(target)[0]
    assert entry.object_repr == "Target of Overdue share"
    rows = {label: (old, new) for label, old, new in entry.readable}
    assert "target" in rows and "updated at" not in rows
    assert rows["KPI"] == (None, "Overdue share")  # the KPI's name, not its key


def test_history_shows_a_recorded_moment_as_a_utc_minute(architect):
    from controlplane.services import create_service_account

    token, _key = create_service_account(name="billing-bridge", role="Integration")
    audit.record(actor=architect, action="servicetoken.revoked", obj=token, before={"revoked_at": None},
                 after={"revoked_at": "2026-12-03T06:42:24.143125+00:00"})
    rows = {label: (old, new) for label, old, new in audit.readable_history(token)[0].readable}
    assert rows["revoked at"] == (None, "2026-12-03 06:42 UTC")


def test_history_shows_a_moment_the_entry_carries_outside_any_field_as_a_utc_minute(architect):
    from controlplane.services import create_service_account

    token, _key = create_service_account(name="writers-job", role="Integration")
    audit.record(actor=architect, action="servicetoken.used", obj=token,
                 after={"since": "2026-09-05T02:11:00+00:00", "note": "Tuesday"})
    rows = {label: (old, new) for label, old, new in audit.readable_history(token)[0].readable}
    assert rows["since"] == (None, "2026-09-05 02:11 UTC")
    assert rows["note"] == (None, "Tuesday")  # other texts as they are


def test_history_gives_a_yes_or_no_the_entry_carries_outside_any_field(architect):
    from controlplane.services import create_service_account

    token, _key = create_service_account(name="checker", role="Integration")
    audit.record(actor=architect, action="servicetoken.checked", obj=token, before={"compatible": True},
                 after={"compatible": False})
    rows = {label: (old, new) for label, old, new in audit.readable_history(token)[0].readable}
    assert rows["compatible"] == ("yes", "no")  # not "True → False"


def test_history_gives_a_duration_field_in_hours_and_minutes(architect):
    from health.services import config_for, update_config
    from tests.factories import IntegrationFactory

    config = config_for(IntegrationFactory())
    update_config(integration=config.integration, actor=architect, expected_period_seconds=86400, grace_seconds=10800)
    rows = {label: (old, new) for label, old, new in audit.readable_history(config)[0].readable}
    assert rows["expected period"] == (None, "24 h")
    assert rows["grace"][1] == "3 h"
