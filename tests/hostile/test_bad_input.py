"""Hostile input against the API and the HTML pages: every case gets a clear 4xx in the
project's error shape (or, for searches, a correct 2xx) and leaves the database as it was.

Runs on PostgreSQL: NUL bytes only fail there (text and jsonb columns refuse them).
"""

import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from catalog.models import Api, CanonicalEntity, Integration, System, Team
from controlplane.outbound import OutboundURLDenied, guard_url
from exceptions.models import BusinessException
from health.models import NotificationChannel, Probe
from stewardship.models import SchemaSubject, SchemaVersion
from tests.exceptions.factories import BusinessExceptionFactory
from tests.factories import EntityFactory, IntegrationFactory
from tests.stewardship.factories import SubjectFactory, VersionFactory

pytestmark = pytest.mark.postgres

WATCHED = [Team, System, Api, Integration, CanonicalEntity, SchemaSubject, SchemaVersion, BusinessException,
           Probe, NotificationChannel]


def counts():
    return {model.__name__: model.objects.count() for model in WATCHED}


def assert_error_shape(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    assert body["error"]["message"]


@pytest.fixture
def estate(require_postgres, cast):
    integration = IntegrationFactory(slug="sfdc-to-psa", name="Salesforce to PSA")
    entity = EntityFactory(slug="invoice", name="Invoice")
    subject = SubjectFactory(slug="invoice-schema", entity=entity)
    VersionFactory(subject=subject)
    exc = BusinessExceptionFactory(integration=integration)
    return {"integration": integration, "subject": subject, "exception": exc}


@pytest.fixture
def admin_api(superuser):
    client = APIClient()
    client.force_login(superuser)
    return client


def post_raw(client, url, body: bytes | str, content_type="application/json"):
    return client.generic("POST", url, body, content_type=content_type)


# --- request bodies ------------------------------------------------------------------------

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
NESTED_150 = json.dumps(json.loads('{"name": "x", "slug": "x", "metadata": ' + '{"a":' * 150 + "1" + "}" * 150 + "}"))

BODIES = {
    "malformed": '{"name": "Broken", "slug": ',
    "trailing-garbage": '{"name": "T", "slug": "t"} trailing',
    "deep-array-100k": DEEP_ARRAY,
    "deep-object-100k": DEEP_OBJECT,
    "nested-150-levels": NESTED_150,
    "not-an-object": '["name", "slug"]',
    "wrong-types": json.dumps({"name": 123, "slug": ["a"], "metadata": "nope"}),
    "nan-literal": '{"name": "N", "slug": "n", "metadata": {"x": NaN}}',
    "nul-in-name": json.dumps({"name": "Team\x00Null", "slug": "nul-team"}),
    "nul-in-json-field": json.dumps({"name": "Meta", "slug": "meta-nul", "metadata": {"k": "v\x00"}}),
    "nul-in-json-key": json.dumps({"name": "Meta", "slug": "meta-nul-key", "metadata": {"k\x00": "v"}}),
    "too-long-name": json.dumps({"name": "x" * 100_000, "slug": "long"}),
    "bad-slug-rtl": json.dumps({"name": "RTL", "slug": "abc\u202edef"}),
}


@pytest.mark.parametrize("case", list(BODIES), ids=list(BODIES))
def test_hostile_bodies_get_a_clear_400_and_change_nothing(case, estate, admin_api):
    before = counts()
    started = time.monotonic()
    response = post_raw(admin_api, "/api/v1/catalog/teams/", BODIES[case])
    assert time.monotonic() - started < 5
    assert_error_shape(response, 400)
    assert counts() == before


def test_non_utf8_body_is_a_400(estate, admin_api):
    before = counts()
    response = post_raw(admin_api, "/api/v1/catalog/teams/", b'{"name": "\xff\xfe", "slug": "x"}')
    assert_error_shape(response, 400)
    assert counts() == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
@pytest.mark.parametrize("url", ["/api/v1/catalog/teams/", "/api/v1/exceptions/ingest/"])
def test_body_over_the_upload_limit_is_a_413(url, estate, admin_api):
    before = counts()
    body = json.dumps({"name": "Big", "slug": "big", "description": "x" * 10_000})
    response = post_raw(admin_api, url, body)
    assert_error_shape(response, 413)
    assert response.json()["error"]["code"] == "request_too_large"
    assert counts() == before


def test_service_ingest_refuses_nul_in_business_keys(estate, api_as):
    before = counts()
    item = {"integration": "sfdc-to-psa", "error_code": "TAX", "message": "bad",
            "business_keys": {"invoice_number": "INV\x00-1"}}
    response = api_as("service").post("/api/v1/exceptions/ingest/", item, format="json")
    assert_error_shape(response, 400)
    assert counts() == before


# --- Unicode that is valid: stored and returned exactly ------------------------------------

VALID_NAMES = {
    "rtl-override": "Invoice \u202egnp.exe",
    "combining": "Cafe\u0301 Z\u0335\u0321a\u0336lgo",
    "emoji": "Billing \U0001f4b8\U0001f9fe team \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "max-length-200": "\u00e9" * 200,
}


@pytest.mark.parametrize("case", list(VALID_NAMES), ids=list(VALID_NAMES))
def test_unicode_names_round_trip(case, estate, admin_api):
    response = admin_api.post("/api/v1/catalog/teams/", {"name": VALID_NAMES[case], "slug": f"t-{case}"}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert Team.objects.get(slug=f"t-{case}").name == VALID_NAMES[case]
    assert admin_api.get(f"/api/v1/catalog/teams/t-{case}/").json()["name"] == VALID_NAMES[case]


# --- NUL and other junk in URLs ---------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/api/v1/catalog/teams/%00/",
    "/api/v1/catalog/teams/?q=%00",
    "/api/v1/exceptions/items/?q=a%00b",
    "/api/v1/kpis/approved-time-to-invoice/series/?scope_type=team&scope_key=%00",
    "/api/v1/stewardship/subjects/%00/",
])
def test_nul_in_the_url_is_a_400_not_a_500(url, estate, admin_api):
    before = counts()
    response = admin_api.get(url)
    assert_error_shape(response, 400, 404)
    assert counts() == before


@pytest.mark.parametrize("url", ["/catalog/teams/?q=%00", "/exceptions/list/?q=%00", "/stewardship/subjects/?q=%00"])
def test_nul_in_a_page_url_is_a_400(url, estate, client_as):
    response = client_as("architect").get(url)
    assert response.status_code in (200, 400)
    assert response.status_code != 500


# --- search boxes and filters -----------------------------------------------------------------

SQLISH = ["' OR 1=1 --", "%", "_", "\\", "%' UNION SELECT password FROM auth_user --", "a%_\\b"]
API_SEARCHES = [
    "/api/v1/catalog/teams/?q={}", "/api/v1/catalog/systems/?q={}", "/api/v1/catalog/systems/?vendor={}",
    "/api/v1/catalog/apis/?q={}", "/api/v1/catalog/integrations/?q={}", "/api/v1/catalog/integrations/?system={}",
    "/api/v1/catalog/entities/?q={}", "/api/v1/catalog/workflows/?q={}", "/api/v1/catalog/domains/?q={}",
    "/api/v1/exceptions/items/?q={}", "/api/v1/exceptions/items/?error_code={}", "/api/v1/health/status/?q={}",
    "/api/v1/stewardship/subjects/?q={}", "/api/v1/events/?correlation_key={}",
]


@pytest.mark.parametrize("template", API_SEARCHES)
def test_sql_looking_searches_find_nothing_in_the_api(template, estate, admin_api):
    from urllib.parse import quote

    for text in SQLISH:
        response = admin_api.get(template.format(quote(text)))
        assert response.status_code in (200, 400), (text, response.status_code, response.content[:300])
        if response.status_code == 200:
            assert response.json()["results"] == [], (template, text)


# Each page with the link its seeded row shows: present for a search that matches it, absent
# for the SQL-looking ones (filter dropdowns name objects too, so the row's link is the mark).
PAGE_SEARCHES = {
    "/catalog/integrations/?q={}": ("Salesforce", lambda e: f'href="/catalog/integrations/{e["integration"].slug}/"'),
    "/catalog/teams/?q={}": ("Team", lambda e: f'href="/catalog/teams/{e["integration"].owner_team.slug}/"'),
    "/exceptions/list/?q={}": (None, lambda e: f'href="/exceptions/{e["exception"].pk}/"'),
    "/stewardship/subjects/?q={}": ("invoice", lambda e: f'href="/stewardship/subjects/{e["subject"].slug}/"'),
}


@pytest.mark.parametrize("template", list(PAGE_SEARCHES))
def test_sql_looking_searches_find_nothing_on_pages(template, estate, client_as):
    from urllib.parse import quote

    client = client_as("architect")
    matching, mark = PAGE_SEARCHES[template]
    mark = mark(estate).encode()
    matching = matching or f"EXC-{estate['exception'].pk}"  # the exceptions search is exact
    control = client.get(template.format(quote(matching)))
    assert control.status_code == 200 and mark in control.content, (template, "the seeded row is listed")
    for text in SQLISH:
        response = client.get(template.format(quote(text)))
        assert response.status_code in (200, 400), (template, text, response.status_code)
        if response.status_code == 200:
            assert mark not in response.content, (template, text)


# --- JSON Schema documents built to explode the compatibility checker ------------------------

def _ref_chain(n):
    defs = {f"d{i}": {"$ref": f"#/definitions/d{i + 1}"} for i in range(n)}
    defs[f"d{n}"] = {"type": "string"}
    return {"type": "object", "properties": {"x": {"$ref": "#/definitions/d0"}}, "definitions": defs}


def _nested_combinators(depth, *, doubling):
    """allOf/anyOf/not nested ``depth`` deep; with ``doubling`` each level holds the one
    below twice, so a checker that expands combinators naively does 2**depth work."""
    node = {"type": "string"}
    for i in range(depth):
        other = node if doubling else {"type": "null"}
        node = {"allOf": [node, {"anyOf": [other, {"type": "null"}]}]} if i % 2 else {"anyOf": [node, {"not": other}]}
    return {"type": "object", "properties": {"x": node}}


EXPLOSIVE_SCHEMAS = {
    "ref-chain-500": _ref_chain(500),
    "ref-cycle": {"type": "object", "properties": {"x": {"$ref": "#/definitions/a"}},
                  "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}},
    "self-ref": {"$ref": "#"},
    "recursive-tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}},
                                                        "x": {"anyOf": [{"$ref": "#"}, {"allOf": [{"$ref": "#"}]}]}}},
    "combinators-doubling-10": _nested_combinators(10, doubling=True),
    "combinators-linear-30": _nested_combinators(30, doubling=False),
    "huge-enum-100k": {"type": "object", "properties": {"x": {"enum": list(range(100_000))}}},
    "many-properties-5k": {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5_000)}},
    "ref-to-nowhere": {"type": "object", "properties": {"x": {"$ref": "http://169.254.169.254/latest/meta-data"}}},
}


@pytest.mark.parametrize("case", list(EXPLOSIVE_SCHEMAS), ids=list(EXPLOSIVE_SCHEMAS))
def test_explosive_schemas_get_a_bounded_answer(case, estate, admin_api):
    document = EXPLOSIVE_SCHEMAS[case]
    previous = {"type": "object", "properties": {"x": {"type": "string"}}}
    started = time.monotonic()
    response = admin_api.post("/api/v1/stewardship/compatibility/",
                              {"schema": document, "previous": [previous]}, format="json")
    assert time.monotonic() - started < 15, case
    assert response.status_code in (200, 400), (case, response.status_code, response.content[:300])
    if response.status_code == 400:
        assert_error_shape(response, 400)
    else:
        assert "compatible" in response.json() or "findings" in response.json()

    # Submitted as a new version of a subject: a draft or a 4xx, in bounded time.
    before = SchemaVersion.objects.count()
    started = time.monotonic()
    response = admin_api.post("/api/v1/stewardship/versions/",
                              {"subject": "invoice-schema", "document": document}, format="json")
    assert time.monotonic() - started < 15, case
    assert response.status_code in (201, 400, 409), (case, response.status_code, response.content[:300])
    expected = before + (1 if response.status_code == 201 else 0)
    assert SchemaVersion.objects.count() == expected


# --- YAML bombs in Backstage imports -------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
)
YAML_BOMBS = {
    "billion-laughs": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: bomb\nspec:\n"
                      + "\n".join("  " + line for line in BILLION_LAUGHS.splitlines()),
    "anchor-fanout": "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: &m\n  name: fan\nspec:\n"
                     + "".join(f"  k{i}: *m\n" for i in range(500)),
    "python-tag": "!!python/object/apply:os.system ['true']\n",
    "deep-nesting": "a: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "huge-document": "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: huge\n  description: "
                     + "x" * (2 * 1024 * 1024) + "\n",
}


@pytest.mark.parametrize("case", list(YAML_BOMBS), ids=list(YAML_BOMBS))
def test_yaml_bombs_are_refused_in_bounded_time(case, estate, admin_api):
    before = counts()
    started = time.monotonic()
    response = admin_api.post("/api/v1/catalog/import/backstage/?dry_run=false", {"documents": YAML_BOMBS[case]},
                              format="json")
    assert time.monotonic() - started < 10, case
    assert response.status_code < 500, (case, response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert_error_shape(response, 400, 409, 413)
    else:  # the plan reports every document as refused; nothing entered the catalog
        items = response.json()["items"]
        assert items and all(item["action"] == "error" for item in items), response.json()
    assert counts() == before


# --- outbound URLs aimed at the inside ----------------------------------------------------------

INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://127.0.0.1:8000/admin/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://10.0.0.5/",
    "http://１２７.０.０.１:8000/",  # full-width digits
    "http://169。254．169｡254/",  # ideographic full stops
    "http://%31%32%37.0.0.1/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:7f00:1::]/",  # 6to4 of loopback
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_guard_url_refuses_internal_targets(url):
    # What replays and webhook deliveries call before connecting.
    with pytest.raises(OutboundURLDenied):
        guard_url(url, resolve=lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 0))])


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_probes_and_webhooks_refuse_internal_urls(url, estate, admin_api):
    before = counts()
    probe = admin_api.post("/api/v1/health/probes/", {"integration": "sfdc-to-psa", "name": "p", "url": url},
                           format="json")
    assert_error_shape(probe, 400)
    assert "url" in probe.json()["error"]["fields"], probe.json()
    team = estate["integration"].owner_team.slug
    channel = admin_api.post("/api/v1/health/channels/", {"team": team, "name": "hook", "kind": "webhook",
                                                          "target": url}, format="json")
    assert_error_shape(channel, 400)
    assert counts() == before


def test_probe_form_refuses_metadata_url(estate, client_as, superuser):
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    before = counts()
    slug = estate["integration"].slug
    response = client.post(f"/health/integrations/{slug}/probes/add/", {
        "name": "meta", "url": "http://169.254.169.254/", "method": "GET", "headers": "{}", "body": "",
        "timeout_ms": 1000, "interval_seconds": 60, "conditions": "[STATUS] == 200", "enabled": "on"})
    assert response.status_code in (200, 400, 404)
    assert counts() == before


def test_the_superuser_is_not_leaked_by_searches(estate, admin_api):
    # The classic tautology must not widen a search beyond what it names.
    response = admin_api.get("/api/v1/catalog/teams/", {"q": "' OR '1'='1"})
    assert response.status_code == 200 and response.json()["results"] == []
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_a_bad_flag_is_blamed_on_its_own_parameter(estate, admin_api):
    response = admin_api.get("/api/v1/catalog/export/backstage/", {"download": "maybe"})
    assert_error_shape(response, 400)
    assert list(response.json()["error"]["fields"]) == ["download"]
