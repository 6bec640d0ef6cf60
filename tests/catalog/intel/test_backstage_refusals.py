"""The Backstage importer writes through the catalog's services: what the services refuse,
an import refuses too, entity by entity, with the service's message; the rest imports.
Built on Backstage's own example descriptors (shared/conformance/backstage) plus
hand-made hostile documents."""

import pytest

from catalog import backstage, services
from catalog.models import Api, BackstageImport, Integration, System, Team, UnresolvedReference
from controlplane.models import AuditEntry
from tests.catalog.intel.test_backstage import conformance_files, run  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

HEADER = "apiVersion: backstage.io/v1alpha1\n"


def integration(name, source, target, lifecycle="production", apis=()):
    consumes = f", consumesApis: [{', '.join(apis)}]" if apis else ""
    return (f"{HEADER}kind: Component\nmetadata:\n  name: {name}\n  annotations:\n"
            f"    controlplane.io/source-system: {source}\n    controlplane.io/target-system: {target}\n"
            f"spec: {{type: integration, lifecycle: {lifecycle}, owner: team-a{consumes}}}\n")


def resource(name, lifecycle):
    return f"{HEADER}kind: Resource\nmetadata: {{name: {name}}}\nspec: {{type: database, owner: team-a, lifecycle: {lifecycle}}}\n"


def outcome(result, name):
    return next((i["action"], i["reason"]) for i in result.items if i["name"] == name)


@pytest.fixture
def estate(conformance_files):  # noqa: F811
    """Backstage's example estate imported, plus an active integration artists-db -> portal."""
    run(conformance_files)
    result = run([("sync.yaml", integration("artist-sync", "resource:artists-db", "artist-engagement-portal"))])
    assert outcome(result, "artist-sync") == ("create", "")
    return conformance_files


def test_active_integration_of_a_retired_system_is_refused_and_the_rest_imports(estate):
    System.objects.filter(slug="artists-db").update(lifecycle="retired")  # retired earlier, by whoever
    text = "---\n".join([
        integration("artist-feed", "resource:artists-db", "artist-engagement-portal"),
        f"{HEADER}kind: Group\nmetadata: {{name: team-z}}\nspec: {{type: team, children: []}}\n",
    ])
    result = run([("hostile.yaml", text)])
    action, reason = outcome(result, "artist-feed")
    assert action == "error"
    assert "cannot be active while it uses retired parts" in reason and "artists-db" in reason
    assert not Integration.objects.filter(slug="artist-feed").exists()
    assert outcome(result, "team-z") == ("create", "")
    # Planned, it may exist: a retired system keeps no active integration, not every one.
    result = run([("later.yaml", integration("artist-feed", "resource:artists-db", "artist-engagement-portal",
                                             lifecycle="experimental"))])
    assert outcome(result, "artist-feed") == ("create", "")
    assert Integration.objects.get(slug="artist-feed").lifecycle == "planned"


def test_system_retired_in_the_same_import_cannot_carry_a_new_active_integration(estate):
    text = "---\n".join([resource("old-store", "retired"),
                         integration("old-feed", "resource:old-store", "artist-engagement-portal")])
    result = run([("hostile.yaml", text)])
    assert outcome(result, "old-store")[0] == "create"
    action, reason = outcome(result, "old-feed")
    assert action == "error" and "System “old-store” is retired." in reason


def test_system_still_in_use_is_not_retired(estate):
    retire = [(name, text.replace(b"owner: team-a\n", b"owner: team-a\n  lifecycle: retired\n"))
              if name == "artists-db-resource.yaml" else (name, text) for name, text in estate]
    assert any(b"lifecycle: retired" in text for _name, text in retire)
    # The table allows retired only from retiring; the in-use rule is what stops it here.
    services.change_lifecycle(actor=None, obj=System.objects.get(slug="artists-db"), lifecycle="retiring")
    result = run(retire)
    action, reason = outcome(result, "artists-db")
    assert action == "error"
    assert "still in use by" in reason and "artist-sync" in reason
    assert System.objects.get(slug="artists-db").lifecycle == "retiring"
    assert outcome(result, "artist-lookup")[0] == "unchanged"  # the rest went on
    # Once the integration is retired (through the service), the same file retires the system.
    sync = Integration.objects.get(slug="artist-sync")
    services.change_lifecycle(actor=None, obj=sync, lifecycle="retired")
    result = run(retire)
    assert outcome(result, "artists-db")[0] == "update"
    assert System.objects.get(slug="artists-db").lifecycle == "retired"


def test_lifecycle_transition_table_is_not_skipped(estate):
    # artists-db is "production" (active); Backstage now says experimental (planned): no way back.
    text = resource("artists-db", "experimental")
    result = run([("back.yaml", text)])
    action, reason = outcome(result, "artists-db")
    assert action == "error" and "cannot move from active to planned" in reason
    assert System.objects.get(slug="artists-db").lifecycle == "active"
    # A retired system stays retired, whatever a descriptor says.
    services.change_lifecycle(actor=None, obj=System.objects.get(slug="artist-engagement-portal"),
                              lifecycle="retiring")
    Integration.objects.filter(slug="artist-sync").update(lifecycle="retired")
    services.change_lifecycle(actor=None, obj=System.objects.get(slug="artist-engagement-portal"),
                              lifecycle="retired")
    portal = (f"{HEADER}kind: System\nmetadata: {{name: artist-engagement-portal}}\n"
              "spec: {owner: team-a, lifecycle: production, domain: artists}\n")
    action, reason = outcome(run([("p.yaml", portal)]), "artist-engagement-portal")
    assert action == "error" and "cannot move from retired to active" in reason and "final state" in reason


def test_dry_run_reports_the_same_refusals(estate):
    System.objects.filter(slug="artists-db").update(lifecycle="retired")
    text = integration("artist-feed", "resource:artists-db", "artist-engagement-portal")
    planned = run([("h.yaml", text)], dry_run=True)
    applied = run([("h.yaml", text)])
    assert planned.items == applied.items and outcome(applied, "artist-feed")[0] == "error"


def test_reference_resolved_later_obeys_the_rules(estate):
    """An active integration consuming an API Backstage has not described yet: when the API
    arrives retired, the reference is not applied (the integration cannot be active on a
    retired API); it is reported and stays open."""
    result = run([("c.yaml", integration("artist-calls", "resource:artists-db", "artist-engagement-portal",
                                         apis=["artist-search"]))])
    assert outcome(result, "artist-calls")[0] == "create"
    assert UnresolvedReference.objects.filter(field="consumesApis", target_ref="api:default/artist-search").exists()
    api = (f"{HEADER}kind: API\nmetadata: {{name: artist-search}}\n"
           "spec: {type: openapi, lifecycle: retired, owner: team-a, definition: 'openapi: 3.0.0'}\n")
    result = run([("api.yaml", api)])
    assert outcome(result, "artist-search")[0] == "create"
    refused = [i for i in result.items if i["ref"] == "component:default/artist-calls"]
    assert refused and refused[0]["action"] == "error"
    assert "not applied" in refused[0]["reason"] and "retired" in refused[0]["reason"]
    assert not Integration.objects.get(slug="artist-calls").apis.exists()
    assert UnresolvedReference.objects.filter(field="consumesApis", target_ref="api:default/artist-search").exists()


def test_applied_batch_leaves_the_services_audit_rows(estate, architect):
    batch = backstage.plan_batch(actor=architect, files=[
        ("f.yaml", integration("artist-mirror", "resource:artists-db", "artist-engagement-portal"))])
    backstage.apply_batch(actor=architect, batch_id=batch.pk)
    created = Integration.objects.get(slug="artist-mirror")
    entry = AuditEntry.objects.get(action="integration.created", object_id=str(created.pk))
    assert (entry.actor, entry.note) == (architect, f"Backstage import #{batch.pk}")
    assert BackstageImport.objects.get(pk=batch.pk).status == "applied"
    # A lifecycle change by import is the service's update row, before and after.
    text = resource("artists-db", "deprecated")
    batch = backstage.plan_batch(actor=architect, files=[("d.yaml", text)])
    backstage.apply_batch(actor=architect, batch_id=batch.pk)
    system = System.objects.get(slug="artists-db")
    entry = AuditEntry.objects.filter(action="system.updated", object_id=str(system.pk)).latest("id")
    assert (entry.before["lifecycle"], entry.after["lifecycle"]) == ("active", "retiring")


def test_the_placeholder_owner_is_made_by_the_service(db):
    text = f"{HEADER}kind: System\nmetadata: {{name: lonely}}\nspec: {{owner: nobody-yet}}\n"
    run([("l.yaml", text)])
    team = Team.objects.get(slug=backstage.PLACEHOLDER_TEAM)
    assert AuditEntry.objects.filter(action="team.created", object_id=str(team.pk),
                                     note="placeholder owner for Backstage import").exists()
    assert not Api.objects.exists()


def test_system_and_its_last_integration_retired_in_one_file(estate):
    """Systems are written before integrations; the retirement refused at first (still in
    use) is tried again once the integration is retired in the same import."""
    services.change_lifecycle(actor=None, obj=System.objects.get(slug="artists-db"), lifecycle="retiring")
    text = "---\n".join([resource("artists-db", "retired"),
                         integration("artist-sync", "resource:artists-db", "artist-engagement-portal",
                                     lifecycle="retired")])
    result = run([("retire.yaml", text)])
    assert outcome(result, "artists-db") == ("update", "")
    assert outcome(result, "artist-sync") == ("update", "")
    assert System.objects.get(slug="artists-db").lifecycle == "retired"
    assert Integration.objects.get(slug="artist-sync").lifecycle == "retired"
    assert [i["name"] for i in result.items].count("artists-db") == 1
