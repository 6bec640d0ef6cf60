"""Who may use each catalog-intelligence page and endpoint: everyone with a role reads
impact, graph, scorecards and exports; only architects import; a signed-in user without a
role gets 403; anonymous browsers are sent to the login page, anonymous API calls 401."""

import pytest

from catalog.models import BackstageImport
from tests.catalog.intel.factories import build_estate

ROLES = ["architect", "steward", "finance", "executive", "service"]
READ_PAGES = [
    "/catalog/impact/system/netsuite/",
    "/catalog/impact/integration/time-sync/",
    "/catalog/scorecards/",
    "/catalog/intel/panel/system/netsuite/",
    "/catalog/backstage/export/",
]
READ_API = [
    "/api/v1/catalog/impact/?system=netsuite",
    "/api/v1/catalog/graph/?system=netsuite",
    "/api/v1/catalog/scorecards/",
    "/api/v1/catalog/export/backstage/",
    "/api/v1/catalog/import/backstage/unresolved/",
    "/api/v1/catalog/import/backstage/batches/",
]
VALID = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: t}\nspec: {type: team, children: []}\n"


@pytest.fixture
def estate(db):
    return build_estate()


@pytest.mark.parametrize("url", READ_PAGES)
def test_read_pages(estate, client_as, url):
    for name in ("architect", "steward", "finance", "executive"):
        assert client_as(name).get(url).status_code == 200, name
    assert client_as("outsider").get(url).status_code == 403
    anonymous = client_as(None).get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.mark.parametrize("url", READ_API)
def test_read_api(estate, api_as, url):
    for name in ROLES:
        assert api_as(name).get(url).status_code == 200, name
    assert api_as("outsider").get(url).status_code == 403
    assert api_as(None).get(url).status_code == 401


def test_import_pages_are_for_architects(estate, client_as, architect):
    batch = BackstageImport.objects.create(created_by=architect, files=[{"name": "t.yaml", "text": VALID}])
    urls = ["/catalog/backstage/import/", f"/catalog/backstage/import/{batch.pk}/"]
    for url in urls:
        assert client_as("architect").get(url).status_code == 200
        for name in ("steward", "finance", "executive", "outsider"):
            assert client_as(name).get(url).status_code == 403, (name, url)
        assert client_as(None).get(url).status_code == 302
    apply_url = f"/catalog/backstage/import/{batch.pk}/apply/"
    for name in ("steward", "finance", "executive", "outsider"):
        assert client_as(name).post(apply_url).status_code == 403
    batch.refresh_from_db()
    assert batch.status == "planned"
    assert client_as("architect").post(apply_url).status_code == 302
    batch.refresh_from_db()
    assert batch.status == "applied"


def test_import_api_is_for_architects(estate, api_as, architect):
    url = "/api/v1/catalog/import/backstage/"
    for name in ("steward", "finance", "executive", "service", "outsider"):
        assert api_as(name).post(url, {"documents": VALID}, format="json").status_code == 403, name
    assert api_as(None).post(url, {"documents": VALID}, format="json").status_code == 401
    assert not BackstageImport.objects.exists()
    assert api_as("architect").post(url, {"documents": VALID}, format="json").status_code == 200
    batch = BackstageImport.objects.get()
    apply_url = f"/api/v1/catalog/import/backstage/batches/{batch.pk}/apply/"
    assert api_as("finance").post(apply_url).status_code == 403
    assert api_as(None).post(apply_url).status_code == 401
    assert api_as("architect").post(apply_url).status_code == 201


def test_list_endpoints_query_count(estate, api_as, django_assert_max_num_queries, architect):
    for _i in range(30):
        BackstageImport.objects.create(created_by=architect, files=[])
    client = api_as("executive")
    client.get("/api/v1/catalog/import/backstage/batches/")
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/catalog/import/backstage/batches/?page_size=25").status_code == 200
