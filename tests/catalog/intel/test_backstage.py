"""Backstage import and export, against Backstage's own example descriptors."""

import io
import os
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from catalog import backstage
from catalog.models import (
    Api,
    BackstageImport,
    Domain,
    Integration,
    System,
    Team,
    TeamMember,
    UnresolvedReference,
)
from controlplane.models import AuditEntry
from tests.catalog.intel.factories import build_estate
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[3]


def conformance_dir() -> Path:
    # CI: repo_root/../shared; a git worktree under <dir>/wt/<name> has it one level higher.
    candidates = [Path(os.environ["SHARED_DIR"])] if os.environ.get("SHARED_DIR") else []
    candidates += [ROOT / ".." / "shared", ROOT / ".." / ".." / "shared"]
    for candidate in candidates:
        if (candidate / "conformance" / "backstage").is_dir():
            return (candidate / "conformance" / "backstage").resolve()
    if IN_CI:
        pytest.fail("shared/conformance/backstage not found beside the repository")
    pytest.skip("shared/conformance/backstage not found beside the repository")


@pytest.fixture
def conformance_files():
    return [(p.name, p.read_bytes()) for p in sorted(conformance_dir().glob("*.yaml"))]


def run(files, dry_run=False, actor=None):
    return backstage.run_import(files, actor=actor, dry_run=dry_run)


def items_by(result, action):
    return [(i["file"], i["kind"], i["name"]) for i in result.items if i["action"] == action]


def catalog_counts():
    return tuple(m.objects.count() for m in (Team, TeamMember, Domain, System, Api, Integration, UnresolvedReference))


def empty_catalog():
    """What a freshly migrated database holds: the seeded domains, entities and workflows."""
    Integration.objects.all().delete()
    Api.objects.all().delete()
    System.objects.all().delete()
    Domain.objects.exclude(external_ref="").delete()
    Domain.objects.update(owner_team=None)
    TeamMember.objects.all().delete()
    Team.objects.all().delete()
    UnresolvedReference.objects.all().delete()


# --- the conformance files ------------------------------------------------------------------


def test_conformance_files_import(db, conformance_files):
    result = run(conformance_files)
    assert items_by(result, "error") == [("invalid-component.yaml", "Component", "invalid component")]
    error = next(i for i in result.items if i["action"] == "error")
    assert "invalid metadata.name 'invalid component'" in error["reason"]
    assert sorted(items_by(result, "skipped")) == [
        ("org.yaml", "Location", "example-groups"), ("team-a-group.yaml", "User", "guest")]
    assert result.summary() == {"create": 12, "error": 1, "skipped": 2}

    team_a = Team.objects.get(slug="team-a")
    assert team_a.email == "team-a@example.com" and team_a.external_ref == "group:default/team-a"
    assert team_a.parent is None  # its parent "backstage" is not in the folder: unresolved
    assert Team.objects.get(slug="acme-corp").metadata["backstage"]["spec"]["type"] == "organization"
    assert sorted(team_a.memberships.values_list("name", flat=True)) == [
        "Guest User", "Janelle Dawe", "Nigel Manning", "breanna.davison"]

    artists = Domain.objects.get(slug="artists")
    assert artists.owner_team == team_a and artists.name == "Artists"
    portal = System.objects.get(slug="artist-engagement-portal")
    assert portal.owner_team == team_a and portal.domain == artists
    assert System.objects.get(slug="artists-db").category == "data_store"
    lookup = System.objects.get(slug="artist-lookup")
    kept = lookup.metadata["backstage"]
    assert kept["tags"] == ["java", "data"] and len(kept["links"]) == 7
    assert kept["spec"]["dependsOn"] == ["resource:artists-db"] and kept["spec"]["lifecycle"] == "experimental"
    assert kept["annotations"]["backstage.io/techdocs-ref"].startswith("url:")

    petstore_api = Api.objects.get(slug="petstore")
    assert petstore_api.provider_system == System.objects.get(slug="petstore")
    assert "Swagger Petstore" in petstore_api.definition and petstore_api.definition_format == "openapi"
    assert petstore_api.lifecycle == "draft" and petstore_api.style == "rest"
    # Owners not in the import or the catalog: a placeholder team until they arrive.
    assert petstore_api.owner_team.slug == backstage.PLACEHOLDER_TEAM
    assert System.objects.get(slug="petstore").owner_team.slug == backstage.PLACEHOLDER_TEAM

    assert sorted(UnresolvedReference.objects.values_list("source_ref", "field", "target_ref")) == [
        ("api:default/petstore", "owner", "group:default/team-c"),
        ("component:default/petstore", "consumesApis", "api:default/searcher"),
        ("component:default/petstore", "owner", "group:default/sre"),
        ("component:default/petstore", "providesApis", "api:default/playback-order"),
        ("component:default/petstore", "providesApis", "api:default/streetlights"),
        ("group:default/team-a", "parent", "group:default/backstage"),
    ]
    assert AuditEntry.objects.filter(action="system.created").count() == 4
    assert AuditEntry.objects.filter(action="team.created").count() == 3  # 2 + the placeholder


def test_dry_run_changes_nothing_and_matches_apply(db, conformance_files):
    before = catalog_counts()
    audit_before = AuditEntry.objects.count()
    planned = run(conformance_files, dry_run=True)
    assert catalog_counts() == before and AuditEntry.objects.count() == audit_before
    applied = run(conformance_files)
    strip = [{k: v for k, v in item.items()} for item in planned.items]
    assert strip == applied.items
    assert planned.applied is False and applied.applied is True


def test_reimport_changes_nothing(db, conformance_files):
    run(conformance_files)
    counts = catalog_counts()
    audit_count = AuditEntry.objects.count()
    again = run(conformance_files)
    assert again.summary() == {"unchanged": 12, "error": 1, "skipped": 2}
    assert catalog_counts() == counts and AuditEntry.objects.count() == audit_count
    assert again.unresolved_created == 0


def test_round_trip_export_import_export_is_identical(db, conformance_files):
    run(conformance_files)
    first = backstage.export_yaml()
    empty_catalog()
    result = run([("export.yaml", first)])
    assert set(result.summary()) == {"create"}
    assert backstage.export_yaml() == first


def test_export_passes_backstage_rules(db, conformance_files):
    run(conformance_files)
    build_estate()
    documents = backstage.load_documents([("export.yaml", backstage.export_yaml())])
    assert documents and all(not d.error for d in documents)
    kinds = set()
    for document in documents:
        entity, error, skipped = backstage.validate(document)
        assert entity is not None, (document.data["metadata"]["name"], error or skipped)
        kinds.add(entity.kind)
    assert kinds == {"Group", "User", "Domain", "System", "Resource", "Component", "API"}
    petstore = next(d.data for d in documents if d.data["kind"] == "Component" and d.data["metadata"]["name"] == "petstore")
    # Unresolved references are exported as they were imported.
    assert petstore["spec"]["owner"] == "sre"
    assert petstore["spec"]["providesApis"] == ["petstore", "playback-order", "streetlights"]
    assert petstore["spec"]["consumesApis"] == ["searcher"]


def test_native_catalog_round_trips_including_integrations(db):
    estate = build_estate()
    # The estate's "sap-feed" is active on a retired system (made by factories, around the
    # services); an import refuses that (test_backstage_refusals.py), so it round-trips deprecated.
    Integration.objects.filter(pk=estate.sap_feed.pk).update(lifecycle="deprecated")
    first = backstage.export_yaml()
    docs = list(yaml.safe_load_all(first))
    time_sync = next(d for d in docs if d["metadata"]["name"] == "time-sync")
    annotations = time_sync["metadata"]["annotations"]
    assert time_sync["spec"]["type"] == "integration"
    assert annotations["controlplane.io/source-system"] == "certinia"
    assert annotations["controlplane.io/middleware-system"] == "mulesoft"
    assert annotations["controlplane.io/entities"] == "time-entry"
    assert time_sync["spec"]["consumesApis"] == ["netsuite-rest"]
    empty_catalog()
    result = run([("export.yaml", first)])
    assert "error" not in result.summary(), [i for i in result.items if i["action"] == "error"]
    again = Integration.objects.get(slug="time-sync")
    assert again.middleware_system.slug == "mulesoft" and again.criticality == 1
    assert list(again.apis.values_list("slug", flat=True)) == ["netsuite-rest"]
    assert list(again.workflows.values_list("slug", flat=True)) == [estate.time_to_invoice.slug]
    assert backstage.export_yaml() == first


def test_export_filters(db, conformance_files):
    run(conformance_files)
    owned = list(yaml.safe_load_all(backstage.export_yaml(owner="team-a")))
    assert {(d["kind"], d["metadata"]["name"]) for d in owned} >= {("Group", "team-a"), ("Domain", "artists")}
    assert all(d["spec"].get("owner") in (None, "team-a") for d in owned)
    assert "petstore" not in {d["metadata"]["name"] for d in owned}
    apis = list(yaml.safe_load_all(backstage.export_yaml(kind="API")))
    assert [(d["kind"], d["metadata"]["name"]) for d in apis] == [("API", "petstore")]


def test_later_import_resolves_references(db, conformance_files):
    run(conformance_files)
    later = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: sre}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-c}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: backstage}
spec: {type: team, children: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: streetlights}
spec: {type: asyncapi, lifecycle: production, owner: sre, definition: "asyncapi: 2.0.0"}
"""
    result = run([("later.yaml", later)])
    assert result.unresolved_resolved == 4
    assert System.objects.get(slug="petstore").owner_team.slug == "sre"
    assert Api.objects.get(slug="petstore").owner_team.slug == "team-c"
    assert Api.objects.get(slug="streetlights").provider_system.slug == "petstore"
    assert Team.objects.get(slug="team-a").parent.slug == "backstage"
    assert sorted(UnresolvedReference.objects.values_list("target_ref", flat=True)) == [
        "api:default/playback-order", "api:default/searcher"]
    assert AuditEntry.objects.filter(action="system.updated", note="owner → group:default/sre").exists()


def test_member_of_a_team_imported_later(db):
    user = """
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ann}
spec: {profile: {email: ann@example.com, displayName: Ann}, memberOf: [later-team]}
"""
    first = run([("u.yaml", user)])
    assert first.items[0]["unresolved"] == ["memberOf → group:default/later-team"]
    run([("g.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: later-team}\n"
                    "spec: {type: team, children: []}\n")])
    assert list(TeamMember.objects.values_list("team__slug", "name", "email")) == [("later-team", "Ann", "ann@example.com")]
    assert not UnresolvedReference.objects.exists()


# --- bad input is named, never fatal --------------------------------------------------------

VALID = """apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: good-team}
spec: {type: team, children: []}
"""

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("text, message", [
    (BOMB, "YAML bomb"),
    ("- just\n- a list\n", "not a mapping"),
    ("apiVersion: backstage.io/v1alpha1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n", "unknown kind 'Widget'"),
    ("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: service}\n",
     "missing required field(s): spec.lifecycle, spec.owner"),
    ("kind: Group\nmetadata: {name: g}\nspec: {type: team, children: []}\n", "missing required field(s): apiVersion"),
    ("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {description: x}\nspec: {}\n", "metadata.name"),
    ("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: -bad-}\nspec: {type: t, children: []}\n",
     "invalid metadata.name"),
    ("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: " + "a" * 64 + "}\nspec: {}\n",
     "invalid metadata.name"),
    ("key: [unclosed\n", "invalid YAML"),
])
def test_bad_documents_are_refused_with_a_reason_and_the_rest_imports(db, text, message):
    result = run([("bad.yaml", text), ("good.yaml", VALID)])
    errors = [i for i in result.items if i["action"] == "error"]
    assert len(errors) == 1 and message in errors[0]["reason"] and errors[0]["file"] == "bad.yaml"
    assert Team.objects.filter(slug="good-team").exists()


def test_bomb_under_the_alias_limit_is_refused_by_its_expansion(db, settings):
    settings.BACKSTAGE_IMPORT_MAX_ALIASES = 10_000
    result = run([("bomb.yaml", BOMB), ("good.yaml", VALID)])
    assert "expand it beyond" in result.items[0]["reason"]
    assert Team.objects.filter(slug="good-team").exists()


def test_oversized_file_is_refused(db, settings):
    settings.BACKSTAGE_IMPORT_MAX_BYTES = 200
    big = VALID.replace("good-team", "big-team") + "# " + "x" * 300 + "\n"
    result = run([("big.yaml", big), ("good.yaml", VALID)])
    assert result.items[0]["action"] == "error" and "over the 200-byte limit" in result.items[0]["reason"]
    assert not Team.objects.filter(slug="big-team").exists() and Team.objects.filter(slug="good-team").exists()


def test_a_few_aliases_are_fine(db):
    text = VALID.replace("spec: {type: team, children: []}", "spec: &s {type: team, children: []}")
    text += "---\n" + VALID.replace("good-team", "other-team").replace("spec: {type: team, children: []}", "spec: *s")
    # Aliases do not cross documents in YAML, so the second one is an error; the first imports.
    result = run([("a.yaml", text)])
    assert result.items[0]["action"] == "create"


def test_duplicate_entity_in_one_import(db):
    result = run([("a.yaml", VALID), ("b.yaml", VALID)])
    assert [i["action"] for i in result.items] == ["create", "error"]
    assert "duplicate of a.yaml document 1" in result.items[1]["reason"]


def test_integration_component_needs_source_and_target(db):
    build_estate()
    text = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: crm-sync
  annotations: {controlplane.io/source-system: salesforce}
spec: {type: integration, lifecycle: production, owner: fin}
"""
    result = run([("i.yaml", text)])
    assert result.items[0]["action"] == "error"
    assert "controlplane.io/target-system" in result.items[0]["reason"]
    fixed = text.replace("salesforce}", "salesforce, controlplane.io/target-system: component:netsuite}")
    result = run([("i.yaml", fixed)])
    assert result.items[0]["action"] == "create"
    sync = Integration.objects.get(slug="crm-sync")
    assert (sync.source_system.slug, sync.target_system.slug, sync.lifecycle) == ("salesforce", "netsuite", "active")


def test_update_reports_changed_fields(db, conformance_files):
    run(conformance_files)
    changed = [(name, text.replace(b"Stores artist details", b"Stores artists")) for name, text in conformance_files]
    result = run(changed)
    updates = [i for i in result.items if i["action"] == "update"]
    assert [(i["name"], i["changes"]) for i in updates] == [("artists-db", ["description"])]
    assert System.objects.get(slug="artists-db").description == "Stores artists"


# --- batches, API, pages, commands -----------------------------------------------------------


def test_batch_apply_once(db, conformance_files, architect):
    batch = backstage.plan_batch(actor=architect, files=conformance_files)
    assert batch.status == "planned" and not Team.objects.filter(slug="team-a").exists()
    applied = backstage.apply_batch(actor=architect, batch_id=batch.pk)
    assert applied.status == "applied" and applied.applied_by == architect
    assert Team.objects.filter(slug="team-a").exists()
    from controlplane.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        backstage.apply_batch(actor=architect, batch_id=batch.pk)
    assert AuditEntry.objects.filter(action="backstageimport.apply", object_id=str(batch.pk)).count() == 1


def test_api_import_dry_run_then_apply(db, api_as, conformance_files):
    client = api_as("architect")
    uploads = [io.BytesIO(text) for _, text in conformance_files]
    for upload, (name, _) in zip(uploads, conformance_files, strict=True):
        upload.name = name
    response = client.post("/api/v1/catalog/import/backstage/", {"files": uploads}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["applied"] is False and body["summary"]["create"] == 12 and body["status"] == "planned"
    assert not System.objects.exists()
    applied = client.post(f"/api/v1/catalog/import/backstage/batches/{body['batch']}/apply/")
    assert applied.status_code == 201 and applied.json()["status"] == "applied"
    assert System.objects.filter(slug="artist-lookup").exists()
    again = client.post(f"/api/v1/catalog/import/backstage/batches/{body['batch']}/apply/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    listed = client.get("/api/v1/catalog/import/backstage/unresolved/").json()
    assert listed["count"] == 6


def test_api_import_json_documents_applied(db, api_as):
    response = api_as("architect").post(
        "/api/v1/catalog/import/backstage/?dry_run=false", {"documents": VALID}, format="json")
    assert response.status_code == 201
    assert response.json()["summary"] == {"create": 1}
    assert Team.objects.filter(slug="good-team").exists()


def test_api_import_errors(db, api_as):
    client = api_as("architect")
    empty = client.post("/api/v1/catalog/import/backstage/", {}, format="json")
    assert empty.status_code == 400 and "files" in empty.json()["error"]["fields"]
    bad = client.post("/api/v1/catalog/import/backstage/?dry_run=maybe", {"documents": VALID}, format="json")
    assert bad.status_code == 400 and "dry_run" in bad.json()["error"]["fields"]


def test_api_export(db, api_as, conformance_files):
    run(conformance_files)
    response = api_as("executive").get("/api/v1/catalog/export/backstage/", {"kind": "Group", "download": "true"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/yaml")
    assert "attachment" in response["Content-Disposition"]
    assert {d["metadata"]["name"] for d in yaml.safe_load_all(response.content)} == {"acme-corp", "team-a"}
    assert api_as("executive").get("/api/v1/catalog/export/backstage/", {"kind": "Widget"}).status_code == 400


def test_upload_page_dry_run_then_apply(db, client_as, conformance_files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_as("architect")
    assert client.get("/catalog/backstage/import/").status_code == 200
    files = [SimpleUploadedFile(name, text, content_type="application/yaml") for name, text in conformance_files]
    response = client.post("/catalog/backstage/import/", {"files": files})
    batch = BackstageImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/catalog/backstage/import/{batch.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "invalid metadata.name" in page and 'id="apply-button"' in page
    assert not Team.objects.filter(slug="team-a").exists()
    applied = client.post(f"/catalog/backstage/import/{batch.pk}/apply/", follow=True)
    assert "Import applied" in applied.content.decode()
    assert Team.objects.filter(slug="team-a").exists()
    twice = client.post(f"/catalog/backstage/import/{batch.pk}/apply/", follow=True).content.decode()
    assert "already applied" in twice
    listing = client.get("/catalog/backstage/import/").content.decode()
    assert "group:default/sre" in listing


def test_export_download_page(db, client_as, conformance_files):
    run(conformance_files)
    response = client_as("finance").get("/catalog/backstage/export/", {"owner": "team-a"})
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert b"name: team-a" in response.content and b"petstore" not in response.content


def test_commands(db, tmp_path, conformance_files):
    out = io.StringIO()
    call_command("import_backstage", str(conformance_dir()), "--dry-run", stdout=out)
    assert "Dry run (nothing changed): 12 create, 1 error, 2 skipped" in out.getvalue()
    assert not Team.objects.filter(slug="team-a").exists()
    call_command("import_backstage", str(conformance_dir()), stdout=io.StringIO())
    assert Team.objects.filter(slug="team-a").exists()
    target = tmp_path / "catalog-info.yaml"
    call_command("export_backstage", "--owner", "team-a", "-o", str(target), stderr=io.StringIO())
    assert "kind: Group" in target.read_text()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("import_backstage", str(tmp_path / "missing.yaml"))


def test_odd_value_types_never_crash_the_import(db):
    odd = [
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: u1}\nspec: {memberOf: good-team}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c1}\n"
        "spec: {type: service, lifecycle: production, owner: [a, b], dependsOn: 7}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c2, annotations: oops}\n"
        "spec: {type: integration, lifecycle: production, owner: good-team}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a1}\n"
        "spec: {type: openapi, lifecycle: production, owner: good-team, definition: {openapi: 3.0.0}}\n",
        "apiVersion: 3\nkind: Group\nmetadata: {name: g1}\nspec: {type: team, children: []}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: 42}\nspec: {type: team, children: []}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: [x]\nspec: {}\n",
    ]
    result = run([("good.yaml", VALID), ("odd.yaml", "---\n".join(odd))])
    actions = {i["name"]: i["action"] for i in result.items if i["file"] == "odd.yaml"}
    assert actions["u1"] == "create"  # a lone string is one group
    assert TeamMember.objects.get(external_ref="user:default/u1").team.slug == "good-team"
    assert actions["c1"] == "error"
    assert any("spec.owner must be an entity reference" in i["reason"] for i in result.items)
    assert actions["c2"] == "error"
    assert actions["a1"] == "create" and "openapi" in Api.objects.get(slug="a1").definition
    errors = [i["reason"] for i in result.items if i["action"] == "error"]
    assert any("apiVersion 3" in e for e in errors) and any("invalid metadata.name 42" in e for e in errors)
    assert any("metadata must be a mapping" in e for e in errors)


def test_api_names_an_oversized_upload_without_reading_it(db, api_as, settings):
    settings.BACKSTAGE_IMPORT_MAX_BYTES = 1024
    big = io.BytesIO(VALID.replace("good-team", "big-team").encode() + b"#" * 2000)
    big.name = "big.yaml"
    good = io.BytesIO(VALID.encode())
    good.name = "good.yaml"
    response = api_as("architect").post(
        "/api/v1/catalog/import/backstage/?dry_run=false", {"files": [big, good]}, format="multipart")
    assert response.status_code == 201
    items = {i["file"]: i for i in response.json()["items"]}
    assert items["big.yaml"]["action"] == "error" and "over the 1024-byte limit" in items["big.yaml"]["reason"]
    assert items["good.yaml"]["action"] == "create"
    assert [f["name"] for f in BackstageImport.objects.get().files] == ["good.yaml"]


def test_concurrent_apply_of_one_batch_applies_once(transactional_db, require_postgres, cast):
    from controlplane.errors import DomainError
    from tests.concurrency import race

    batch = backstage.plan_batch(actor=cast["architect"], files=[("t.yaml", VALID)])

    def apply():
        try:
            backstage.apply_batch(actor=cast["architect"], batch_id=batch.pk)
            return "applied"
        except DomainError as exc:
            return exc.status_code

    outcomes = race([apply, apply])
    assert sorted(outcomes, key=str) == [409, "applied"]
    assert AuditEntry.objects.filter(action="backstageimport.apply").count() == 1
    assert Team.objects.filter(slug="good-team").count() == 1
