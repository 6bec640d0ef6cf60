"""REST API: who may do what, the error shape on bad input, and fixed query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Api, Integration, Sla, System, Team, TeamMember
from controlplane.models import AuditEntry
from tests.catalog.factories import (
    ApiFactory,
    DomainFactory,
    EntityFactory,
    IntegrationFactory,
    SlaFactory,
    SystemFactory,
    TeamFactory,
    WorkflowFactory,
    estate,
)

BASE = "/api/v1/catalog"
READERS = ["architect", "steward", "finance", "executive", "service"]
NON_WRITERS = ["steward", "finance", "executive", "service", "outsider"]


@pytest.fixture
def world(db):
    team = TeamFactory(slug="owners")
    source = SystemFactory(slug="crm", owner_team=team)
    target = SystemFactory(slug="erp", owner_team=team)
    api = ApiFactory(slug="crm-rest", provider_system=source, owner_team=team)
    integration = IntegrationFactory(slug="crm-to-erp", source_system=source, target_system=target, owner_team=team,
                                     apis=[api], lifecycle="planned")
    SlaFactory(integration=integration)
    DomainFactory(slug="finance-x")
    EntityFactory(slug="invoice-x")
    WorkflowFactory(slug="q2c-x")
    TeamFactory(slug="spare")
    return {"team": team, "source": source, "target": target, "api": api, "integration": integration}


def payloads(world, cast):
    """(collection, detail slug, create body, patch body) per resource."""
    return {
        "teams": ("spare", {"name": "New team", "slug": "new-team", "parent": "owners"}, {"chat_channel": "#x"}),
        "domains": ("finance-x", {"name": "Legal", "slug": "legal"}, {"owner_team": "owners"}),
        "systems": ("crm", {"name": "Zuora", "slug": "zuora", "owner_team": "owners", "category": "billing"},
                    {"vendor": "Salesforce"}),
        "apis": ("crm-rest", {"name": "ERP REST", "slug": "erp-rest", "provider_system": "erp",
                              "owner_team": "owners"}, {"version": "2.0"}),
        "entities": ("invoice-x", {"name": "Credit note", "slug": "credit-note"}, {"description": "x"}),
        "workflows": ("q2c-x", {"name": "Close", "slug": "close"}, {"owner_team": "owners"}),
        "integrations": ("crm-to-erp", {"name": "ERP to CRM", "slug": "erp-to-crm", "source_system": "erp",
                                        "target_system": "crm", "owner_team": "owners", "apis": ["crm-rest"]},
                         {"schedule": "*/5 * * * *"}),
        "slas": ("crm-to-erp", {"integration": "crm-to-erp", "availability_target": "99.0"},
                 {"p95_latency_ms": 100}),
        "team-members": (str(TeamMember.objects.get_or_create(team=world["team"], name="Ann")[0].pk),
                         {"team": "owners", "user": "finance"}, None),
    }


RESOURCES = ["teams", "domains", "systems", "apis", "entities", "workflows", "integrations", "slas", "team-members"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_reading(api_as, cast, world, resource):
    slug = payloads(world, cast)[resource][0]
    for who, expected in [(r, 200) for r in READERS] + [("outsider", 403), (None, 401)]:
        client = api_as(who)
        assert client.get(f"{BASE}/{resource}/").status_code == expected, who
        response = client.get(f"{BASE}/{resource}/{slug}/")
        assert response.status_code == expected, who
        if expected != 200:
            assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("resource", RESOURCES)
def test_only_architects_write(api_as, cast, world, resource):
    slug, create, patch = payloads(world, cast)[resource]
    before = AuditEntry.objects.count()
    for who, expected in [(w, 403) for w in NON_WRITERS] + [(None, 401)]:
        client = api_as(who)
        assert client.post(f"{BASE}/{resource}/", create, format="json").status_code == expected, who
        if patch is not None:
            assert client.patch(f"{BASE}/{resource}/{slug}/", patch, format="json").status_code == expected, who
            assert client.put(f"{BASE}/{resource}/{slug}/", create, format="json").status_code == expected, who
        assert client.delete(f"{BASE}/{resource}/{slug}/").status_code == expected, who
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("resource", RESOURCES)
def test_architect_creates_updates_and_deletes_with_audit(api_as, cast, world, resource):
    slug, create, patch = payloads(world, cast)[resource]
    client = api_as("architect")
    response = client.post(f"{BASE}/{resource}/", create, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    for key, value in create.items():
        if key not in ("user", "availability_target"):
            assert created[key] == value
    if patch is not None:
        response = client.patch(f"{BASE}/{resource}/{slug}/", patch, format="json")
        assert response.status_code == 200, response.json()
        for key, value in patch.items():
            assert response.json()[key] == value
    new_key = created.get("slug") or created.get("integration") or created.get("id")
    assert client.delete(f"{BASE}/{resource}/{new_key}/").status_code == 204
    assert client.get(f"{BASE}/{resource}/{new_key}/").status_code == 404
    assert AuditEntry.objects.filter(actor=cast["architect"]).count() >= 2


@pytest.mark.parametrize("resource", ["systems", "apis", "integrations"])
def test_lifecycle_action_permissions(api_as, world, resource):
    slug = {"systems": "crm", "apis": "crm-rest", "integrations": "crm-to-erp"}[resource]
    target = {"systems": "legacy", "apis": "deprecated", "integrations": "active"}[resource]
    for who, expected in [(w, 403) for w in NON_WRITERS] + [(None, 401), ("architect", 200)]:
        response = api_as(who).post(f"{BASE}/{resource}/{slug}/lifecycle/", {"lifecycle": target}, format="json")
        assert response.status_code == expected, who
    assert response.json()["lifecycle"] == target


def test_retiring_an_api_with_consumers_is_refused_with_the_list(api_as, world):
    client = api_as("architect")
    assert client.post(f"{BASE}/apis/crm-rest/lifecycle/", {"lifecycle": "deprecated"}, format="json").status_code == 200
    response = client.post(f"{BASE}/apis/crm-rest/lifecycle/", {"lifecycle": "retired"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["consumers"] == ["crm-to-erp"]
    assert Api.objects.get(slug="crm-rest").lifecycle == "deprecated"


def test_invalid_lifecycle_move_is_409_with_allowed_states(api_as, world):
    response = api_as("architect").post(f"{BASE}/systems/crm/lifecycle/", {"lifecycle": "planned"}, format="json")
    assert response.status_code == 409
    body = response.json()["error"]
    assert body["code"] == "invalid_transition" and "legacy" in body["message"]
    assert System.objects.get(slug="crm").lifecycle == "active"


def test_unknown_lifecycle_value_is_400(api_as, world):
    response = api_as("architect").post(f"{BASE}/systems/crm/lifecycle/", {"lifecycle": "zombie"}, format="json")
    assert response.status_code == 400
    assert "lifecycle" in response.json()["error"]["fields"]


def test_activating_through_the_api_with_a_retired_api_is_refused(api_as, world):
    Api.objects.filter(slug="crm-rest").update(lifecycle="retired")
    response = api_as("architect").post(f"{BASE}/integrations/crm-to-erp/lifecycle/", {"lifecycle": "active"},
                                        format="json")
    assert response.status_code == 400
    assert "crm-rest" in response.json()["error"]["message"]
    assert Integration.objects.get(slug="crm-to-erp").lifecycle == "planned"


@pytest.mark.parametrize("body,field", [
    ({"name": "X", "slug": "x", "owner_team": "nobody", "category": "erp"}, "owner_team"),
    ({"name": "X", "slug": "crm", "owner_team": "owners"}, "slug"),
    ({"name": "X" * 201, "slug": "x", "owner_team": "owners"}, "name"),
    ({"name": "X", "slug": "x" * 101, "owner_team": "owners"}, "slug"),
    ({"name": "X", "slug": "not a slug!", "owner_team": "owners"}, "slug"),
    ({"name": "X", "slug": "x", "owner_team": "owners", "category": "mainframe"}, "category"),
    ({"name": "X", "slug": "x"}, "owner_team"),
])
def test_bad_system_input_is_400_in_the_error_shape_and_changes_nothing(api_as, world, body, field):
    before = (System.objects.count(), AuditEntry.objects.count())
    response = api_as("architect").post(f"{BASE}/systems/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"] and error["message"]
    assert (System.objects.count(), AuditEntry.objects.count()) == before


def test_unknown_slug_in_a_many_to_many_is_400(api_as, world):
    response = api_as("architect").patch(f"{BASE}/integrations/crm-to-erp/", {"apis": ["crm-rest", "ghost"]},
                                         format="json")
    assert response.status_code == 400
    assert "apis" in response.json()["error"]["fields"]
    assert list(Integration.objects.get(slug="crm-to-erp").apis.values_list("slug", flat=True)) == ["crm-rest"]


def test_rename_to_an_existing_slug_is_400(api_as, world):
    response = api_as("architect").patch(f"{BASE}/systems/crm/", {"slug": "erp"}, format="json")
    assert response.status_code == 400
    assert System.objects.filter(slug="crm").exists()


def test_deleting_a_team_in_use_is_409(api_as, world):
    response = api_as("architect").delete(f"{BASE}/teams/owners/")
    assert response.status_code == 409
    assert "crm" in response.json()["error"]["message"]
    assert Team.objects.filter(slug="owners").exists()


def test_integration_with_nested_sla_is_created_in_one_call(api_as, world):
    body = {"name": "New", "slug": "new", "source_system": "erp", "target_system": "crm", "owner_team": "owners",
            "lifecycle": "active", "entities": [], "sla": {"availability_target": "99.500", "p95_latency_ms": 900}}
    response = api_as("architect").post(f"{BASE}/integrations/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["sla"]["availability_target"] == "99.500"
    assert Sla.objects.get(integration__slug="new").p95_latency_ms == 900


def test_filters(api_as, world):
    client = api_as("executive")
    other = IntegrationFactory(slug="other", lifecycle="active")
    rows = client.get(f"{BASE}/integrations/?system=crm").json()["results"]
    assert [r["slug"] for r in rows] == ["crm-to-erp"]
    rows = client.get(f"{BASE}/integrations/?lifecycle=active").json()["results"]
    assert [r["slug"] for r in rows] == [other.slug]
    rows = client.get(f"{BASE}/integrations/?api=crm-rest").json()["results"]
    assert [r["slug"] for r in rows] == ["crm-to-erp"]
    rows = client.get(f"{BASE}/systems/?q=crm").json()["results"]
    assert [r["slug"] for r in rows] == ["crm"]
    rows = client.get(f"{BASE}/apis/?owner_team=owners").json()["results"]
    assert [r["slug"] for r in rows] == ["crm-rest"]


@pytest.fixture
def big_estate(db):
    team = estate(30)
    for i in range(30):
        TeamMember.objects.create(team=team, name=f"Member {i}")
    return team


@pytest.mark.parametrize("resource", RESOURCES)
def test_list_endpoints_run_a_fixed_number_of_queries(api_as, big_estate, resource):
    client = api_as("executive")

    def count(size):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{BASE}/{resource}/?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        return len(ctx.captured_queries)

    small, large = count(5), count(15 if resource == "slas" else 30)
    assert small == large
    assert large <= 12
