"""Server-rendered catalog pages: permissions, forms, lifecycle buttons, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Api, CanonicalEntity, Domain, Integration, Sla, System, Team, TeamMember, Workflow
from controlplane.models import AuditEntry
from tests.catalog.factories import (
    ApiFactory,
    IntegrationFactory,
    SlaFactory,
    SystemFactory,
    TeamFactory,
    estate,
)

KINDS = {"team": Team, "domain": Domain, "system": System, "api": Api, "entity": CanonicalEntity,
         "workflow": Workflow, "integration": Integration}


@pytest.fixture
def some(db):
    estate(2)
    return {name: model.objects.order_by("pk").first() for name, model in KINDS.items()}


def read_urls(some):
    urls = [reverse("catalog:home")]
    for name, obj in some.items():
        urls += [reverse(f"catalog:{name}-list"), reverse(f"catalog:{name}-detail", args=[obj.slug])]
    return urls


def write_urls(some):
    urls = []
    for name, obj in some.items():
        urls += [reverse(f"catalog:{name}-create"), reverse(f"catalog:{name}-edit", args=[obj.slug]),
                 reverse(f"catalog:{name}-delete", args=[obj.slug])]
    return urls


def test_anonymous_users_are_sent_to_login(client, some):
    for url in read_urls(some) + write_urls(some):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_outsiders_get_403_everywhere(client_as, some):
    client = client_as("outsider")
    for url in read_urls(some) + write_urls(some):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("who", ["executive", "finance", "steward"])
def test_readers_read_but_cannot_open_forms_or_change_anything(client_as, some, who):
    client = client_as(who)
    audit_rows = AuditEntry.objects.count()
    for url in read_urls(some):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Edit</a>" not in response.content
    for url in write_urls(some):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "x"}).status_code == 403, url
    system = some["system"]
    response = client.post(reverse("catalog:system-lifecycle", args=[system.slug]), {"lifecycle": "legacy"})
    assert response.status_code == 403
    system.refresh_from_db()
    assert system.lifecycle == "active"
    team = some["team"]
    assert client.post(reverse("catalog:team-member-add", args=[team.slug]), {"name": "Eve"}).status_code == 403
    assert AuditEntry.objects.count() == audit_rows


def test_architect_sees_every_page_and_form(client_as, some):
    client = client_as("architect")
    for url in read_urls(some) + write_urls(some):
        assert client.get(url).status_code == 200, url


def test_detail_page_shows_relations_sla_history_and_the_intel_panel(client_as, architect):
    api = ApiFactory(name="Billing REST")
    integration = IntegrationFactory(name="Time to invoice", apis=[api])
    SlaFactory(integration=integration, availability_target="99.5", p95_latency_ms=750)
    from catalog import services

    services.update_integration(actor=architect, integration=integration, schedule="*/15 * * * *")
    services.upsert_sla(actor=architect, integration=integration, p95_latency_ms=800)
    response = client_as("executive").get(integration.get_absolute_url())
    html = response.content.decode()
    assert api.get_absolute_url() in html and integration.source_system.get_absolute_url() in html
    assert "99.5%" in html and "800 ms" in html
    assert "SLA updated" in html and "Sla updated" not in html  # acronyms stay acronyms
    # History reads as words: the action and the field label, not "integration.updated" / column names.
    assert "integration.updated" not in html and "Updated" in html and "schedule</span>: " in html and "*/15 * * * *" in html
    assert "catalog/intel/_panel.html" in [t.name for t in response.templates]


def test_register_a_system_through_the_form(client_as, architect):
    team = TeamFactory()
    response = client_as("architect").post(reverse("catalog:system-create"), {
        "name": "Zuora Billing", "slug": "zuora", "category": "billing", "deployment": "cloud",
        "lifecycle": "active", "owner_team": team.pk,
    })
    system = System.objects.get(slug="zuora")
    assert response.status_code == 302 and response.url == system.get_absolute_url()
    assert AuditEntry.objects.for_object(system).get().action == "system.created"


def test_form_errors_are_shown_inline_and_nothing_is_saved(client_as, some):
    audit_rows = AuditEntry.objects.count()
    response = client_as("architect").post(reverse("catalog:system-create"), {
        "name": "x" * 250, "slug": some["system"].slug, "category": "mainframe",
    })
    assert response.status_code == 400
    form = response.context["form"]
    assert {"name", "slug", "category", "owner_team"} <= set(form.errors)
    assert b'class="errorlist"' in response.content
    assert System.objects.count() == 2 and AuditEntry.objects.count() == audit_rows


def test_domain_refusal_is_shown_on_the_form_and_nothing_is_saved(client_as, db):
    retired = ApiFactory(slug="old-rfc", lifecycle="retired")
    source, target = SystemFactory(), SystemFactory()
    response = client_as("architect").post(reverse("catalog:integration-create"), {
        "name": "Sync", "slug": "sync", "source_system": source.pk, "target_system": target.pk,
        "owner_team": source.owner_team.pk, "apis": [retired.pk], "pattern": "api_sync", "criticality": 2,
        "lifecycle": "active", "sla-measurement_window": "30d", "sla-availability_target": "99.9",
    })
    assert response.status_code == 400
    assert "old-rfc" in response.content.decode()
    assert not Integration.objects.filter(slug="sync").exists() and not Sla.objects.exists()


def test_integration_form_saves_the_sla(client_as, db):
    source, target = SystemFactory(), SystemFactory()
    client = client_as("architect")
    response = client.post(reverse("catalog:integration-create"), {
        "name": "Sync", "slug": "sync", "source_system": source.pk, "target_system": target.pk,
        "owner_team": source.owner_team.pk, "pattern": "batch", "criticality": 1, "lifecycle": "planned",
        "sla-availability_target": "99.9", "sla-max_sync_lag_minutes": "30", "sla-measurement_window": "7d",
    })
    assert response.status_code == 302
    sla = Sla.objects.get(integration__slug="sync")
    assert (sla.max_sync_lag_minutes, sla.measurement_window) == (30, "7d")
    # Editing changes the SLA too.
    response = client.post(reverse("catalog:integration-edit", args=["sync"]), {
        "name": "Sync", "slug": "sync", "source_system": source.pk, "target_system": target.pk,
        "owner_team": source.owner_team.pk, "pattern": "batch", "criticality": 1, "lifecycle": "planned",
        "sla-availability_target": "99.5", "sla-max_sync_lag_minutes": "30", "sla-measurement_window": "7d",
    })
    assert response.status_code == 302
    sla.refresh_from_db()
    assert str(sla.availability_target) == "99.500"


def test_edit_form_keeps_the_stored_row_when_refused(client_as, db):
    system = SystemFactory(lifecycle="active", name="CRM")
    owner = system.owner_team
    response = client_as("architect").post(reverse("catalog:system-edit", args=[system.slug]), {
        "name": "CRM renamed", "slug": system.slug, "category": "crm", "deployment": "cloud",
        "lifecycle": "planned", "owner_team": owner.pk,
    })
    assert response.status_code == 409
    assert "allowed next states" in response.content.decode().lower()
    system.refresh_from_db()
    assert (system.name, system.lifecycle) == ("CRM", "active")


def test_lifecycle_buttons(client_as, db):
    api = ApiFactory(lifecycle="published")
    IntegrationFactory(slug="consumer", apis=[api])
    client = client_as("architect")
    page = client.get(api.get_absolute_url()).content.decode()
    assert 'value="deprecated"' in page and 'value="retired"' not in page
    client.post(reverse("catalog:api-lifecycle", args=[api.slug]), {"lifecycle": "deprecated"})
    api.refresh_from_db()
    assert api.lifecycle == "deprecated"
    response = client.post(reverse("catalog:api-lifecycle", args=[api.slug]), {"lifecycle": "retired"}, follow=True)
    assert "consumer" in response.content.decode()
    api.refresh_from_db()
    assert api.lifecycle == "deprecated"


def test_delete_with_confirmation_and_refusal_when_in_use(client_as, db):
    client = client_as("architect")
    lonely = SystemFactory()
    team = lonely.owner_team
    assert b"Yes, delete" in client.get(reverse("catalog:system-delete", args=[lonely.slug])).content
    response = client.post(reverse("catalog:team-delete", args=[team.slug]), follow=True)
    assert "still referenced" in response.content.decode()
    assert Team.objects.filter(pk=team.pk).exists()
    response = client.post(reverse("catalog:system-delete", args=[lonely.slug]))
    assert response.status_code == 302 and not System.objects.filter(pk=lonely.pk).exists()


def test_team_members_are_managed_on_the_team_page(client_as, cast, db):
    team = TeamFactory()
    client = client_as("architect")
    client.post(reverse("catalog:team-member-add", args=[team.slug]), {"user": cast["finance"].pk, "role": "Lead"})
    member = TeamMember.objects.get(team=team)
    assert member.name == "finance"
    assert b"Lead" in client.get(team.get_absolute_url()).content
    client.post(reverse("catalog:team-member-remove", args=[team.slug, member.pk]))
    assert not TeamMember.objects.exists()


def test_list_search_filter_and_sort(client_as, db):
    team = TeamFactory(slug="fin")
    SystemFactory(name="NetSuite", slug="netsuite", category="erp", owner_team=team)
    SystemFactory(name="Avalara", slug="avalara", category="tax")
    SystemFactory(name="Zuora", slug="zuora", category="billing", owner_team=team)
    client = client_as("executive")

    def names(query):
        return [s.name for s in client.get(reverse("catalog:system-list") + query).context["object_list"]]

    assert names("?q=netsu") == ["NetSuite"]
    assert names("?owner_team=fin") == ["NetSuite", "Zuora"]
    assert names("?category=tax&category=billing") == ["Avalara", "Zuora"]
    assert names("?sort=-name") == ["Zuora", "NetSuite", "Avalara"]
    assert names("?sort=bogus") == ["Avalara", "NetSuite", "Zuora"]
    response = client.get(reverse("catalog:system-list") + "?page_size=2&page=2")
    assert [s.name for s in response.context["object_list"]] == ["Zuora"]


def test_every_input_has_a_label(client_as, db):
    import re

    html = client_as("architect").get(reverse("catalog:integration-create")).content.decode()
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    assert ids and ids <= labelled


@pytest.fixture
def big_estate(db):
    estate(30)


@pytest.mark.parametrize("name", list(KINDS))
def test_list_pages_run_a_fixed_number_of_queries(client_as, big_estate, name):
    client = client_as("executive")
    client.get(reverse("catalog:home"))  # warm the session

    def count(size):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse(f"catalog:{name}-list") + f"?page_size={size}")
        assert response.status_code == 200
        assert len(response.context["object_list"]) == size
        return len(ctx.captured_queries)

    small, large = count(5), count(30)
    assert small == large
    assert large <= 15


def test_home_page_query_count(client_as, big_estate, django_assert_max_num_queries):
    client = client_as("executive")
    with django_assert_max_num_queries(20):
        response = client.get(reverse("catalog:home"))
    assert response.context["counts"]["integrations"]["total"] == 30


@pytest.mark.parametrize("name", list(KINDS))
def test_submitting_the_untouched_filter_form_lists_everything(client_as, some, name):
    """What a browser sends for an untouched filter form must not filter anything out."""
    import re

    client = client_as("executive")
    url = reverse(f"catalog:{name}-list")
    html = client.get(url).content.decode()
    form = html[html.index('<form method="get"'):html.index("</form>", html.index('<form method="get"'))]
    params = []
    for select in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        field, options = select
        if "multiple" in form.split(f'name="{field}"')[1].split(">")[0]:
            continue
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', options) or re.search(
            r'<option value="([^"]*)"', options)
        params.append((field, selected.group(1)))
    for field in re.findall(r'<input type="text" name="([^"]+)"', form):
        params.append((field, ""))
    query = "&".join(f"{k}={v}" for k, v in params)
    everything = client.get(url + "?page_size=100").context["paginator"].count
    assert client.get(f"{url}?{query}&page_size=100").context["paginator"].count == everything > 0


@pytest.mark.parametrize("name", list(KINDS))
def test_a_bare_list_url_lists_everything(client_as, some, name):
    response = client_as("executive").get(reverse(f"catalog:{name}-list"))
    assert response.context["paginator"].count == KINDS[name].objects.count() > 0
    assert some[name].get_absolute_url() in response.content.decode()
