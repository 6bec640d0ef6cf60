"""The catalog's rules, enforced by the services whatever the caller."""

from decimal import Decimal

import pytest

from catalog import services
from catalog.models import Api, Integration, Sla, System, Team
from controlplane.errors import Conflict, InvalidTransition, ValidationFailed
from controlplane.models import AuditEntry
from tests.catalog.factories import ApiFactory, IntegrationFactory, SlaFactory, SystemFactory, TeamFactory

pytestmark = pytest.mark.django_db


def actions(obj):
    return list(AuditEntry.objects.for_object(obj).order_by("id").values_list("action", flat=True))


def test_create_writes_one_audit_row_with_the_new_values(architect):
    team = TeamFactory()
    system = services.create_system(actor=architect, name="NetSuite", slug="netsuite", owner_team=team,
                                    category="erp")
    entry = AuditEntry.objects.for_object(system).get()
    assert entry.action == "system.created"
    assert entry.actor == architect
    assert entry.after["name"] == "NetSuite" and entry.after["owner_team_id"] == team.pk


def test_update_records_only_what_changed_and_nothing_when_nothing_changed(architect):
    system = SystemFactory(vendor="Oracle")
    services.update_system(actor=architect, system=system, vendor="Oracle NetSuite", name=system.name)
    entry = AuditEntry.objects.for_object(system).get()
    assert entry.action == "system.updated"
    assert entry.before == {"vendor": "Oracle"} and entry.after == {"vendor": "Oracle NetSuite"}
    services.update_system(actor=architect, system=system, vendor="Oracle NetSuite")
    assert AuditEntry.objects.for_object(system).count() == 1


def test_duplicate_slug_is_a_validation_error_and_nothing_is_saved(architect):
    team = TeamFactory(slug="finance-systems")
    with pytest.raises(ValidationFailed) as exc:
        services.create_team(actor=architect, name="Another", slug="finance-systems")
    assert "slug" in exc.value.fields
    assert Team.objects.filter(slug="finance-systems").get() == team
    assert not AuditEntry.objects.filter(action="team.created").exists()


def test_oversized_field_is_refused(architect):
    with pytest.raises(ValidationFailed) as exc:
        services.create_team(actor=architect, name="x" * 201, slug="long")
    assert "name" in exc.value.fields
    assert not Team.objects.filter(slug="long").exists()


def test_integration_cannot_be_created_active_with_a_retired_api(architect):
    retired = ApiFactory(slug="old-soap", lifecycle="retired")
    source, target = SystemFactory(), SystemFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.create_integration(
            actor=architect, name="Sync", slug="sync", source_system=source, target_system=target,
            owner_team=source.owner_team, lifecycle="active", apis=[retired],
        )
    assert "old-soap" in exc.value.message
    assert exc.value.fields["apis"]
    assert not Integration.objects.filter(slug="sync").exists()


def test_integration_cannot_be_created_active_between_retired_systems(architect):
    source = SystemFactory(slug="sap-ecc", lifecycle="retired")
    target = SystemFactory()
    middleware = SystemFactory(slug="old-esb", lifecycle="retired")
    with pytest.raises(ValidationFailed) as exc:
        services.create_integration(
            actor=architect, name="Sync", slug="sync", source_system=source, target_system=target,
            middleware_system=middleware, owner_team=target.owner_team, lifecycle="active",
        )
    assert "sap-ecc" in exc.value.message and "old-esb" in exc.value.message
    assert set(exc.value.fields) == {"source_system", "middleware_system"}
    # Planned is fine: it is activation that is refused.
    services.create_integration(
        actor=architect, name="Sync", slug="sync", source_system=source, target_system=target,
        owner_team=target.owner_team, lifecycle="planned",
    )


def test_activating_an_integration_that_uses_a_retired_api_is_refused(architect):
    retired = ApiFactory(slug="sap-rfc", lifecycle="retired")
    integration = IntegrationFactory(lifecycle="planned", apis=[retired])
    with pytest.raises(ValidationFailed) as exc:
        services.change_lifecycle(actor=architect, obj=integration, lifecycle="active")
    assert "sap-rfc" in exc.value.message
    integration.refresh_from_db()
    assert integration.lifecycle == "planned"
    assert actions(integration) == []


def test_an_active_integration_cannot_be_edited_to_use_a_retired_api(architect):
    integration = IntegrationFactory(lifecycle="active")
    retired = ApiFactory(lifecycle="retired")
    with pytest.raises(ValidationFailed):
        services.update_integration(actor=architect, integration=integration, apis=[retired])
    assert list(integration.apis.all()) == []


def test_retiring_an_api_with_consumers_lists_them(architect):
    api = ApiFactory(lifecycle="deprecated")
    IntegrationFactory(slug="b-consumer", apis=[api], lifecycle="active")
    IntegrationFactory(slug="a-consumer", apis=[api], lifecycle="planned")
    IntegrationFactory(slug="gone", apis=[api], lifecycle="retired")
    with pytest.raises(ValidationFailed) as exc:
        services.change_lifecycle(actor=architect, obj=api, lifecycle="retired")
    assert exc.value.fields["consumers"] == ["a-consumer", "b-consumer"]
    assert "a-consumer" in exc.value.message
    api.refresh_from_db()
    assert api.lifecycle == "deprecated"


def test_retiring_an_api_without_active_consumers_is_recorded(architect):
    api = ApiFactory(lifecycle="deprecated")
    IntegrationFactory(apis=[api], lifecycle="retired")
    services.change_lifecycle(actor=architect, obj=api, lifecycle="retired", note="replaced by v2")
    api.refresh_from_db()
    assert api.lifecycle == "retired"
    entry = AuditEntry.objects.for_object(api).get()
    assert (entry.action, entry.before, entry.after, entry.note) == (
        "api.lifecycle_changed", {"lifecycle": "deprecated"}, {"lifecycle": "retired"}, "replaced by v2")


def test_retiring_a_system_in_use_is_refused_with_its_apis_and_integrations(architect):
    system = SystemFactory(lifecycle="retiring")
    ApiFactory(slug="sys-api", provider_system=system, lifecycle="published")
    IntegrationFactory(slug="via-it", middleware_system=system, lifecycle="deprecated")
    with pytest.raises(ValidationFailed) as exc:
        services.change_lifecycle(actor=architect, obj=system, lifecycle="retired")
    assert exc.value.fields == {"apis": ["sys-api"], "integrations": ["via-it"]}


def test_retiring_a_system_through_an_update_follows_the_same_rules(architect):
    system = SystemFactory(lifecycle="retiring")
    ApiFactory(provider_system=system, lifecycle="published")
    with pytest.raises(ValidationFailed):
        services.update_system(actor=architect, system=system, lifecycle="retired")
    system.refresh_from_db()
    assert system.lifecycle == "retiring"


def test_invalid_lifecycle_move_names_the_allowed_next_states(architect):
    system = SystemFactory(lifecycle="active")
    with pytest.raises(InvalidTransition) as exc:
        services.change_lifecycle(actor=architect, obj=system, lifecycle="planned")
    assert exc.value.status_code == 409
    assert "legacy" in exc.value.message and "retiring" in exc.value.message
    api = ApiFactory(lifecycle="retired")
    with pytest.raises(InvalidTransition) as exc:
        services.change_lifecycle(actor=architect, obj=api, lifecycle="published")
    assert "none (final state)" in exc.value.message


def test_lifecycle_change_loses_to_a_concurrent_change(architect, monkeypatch):
    integration = IntegrationFactory(lifecycle="active")
    # Someone else retires it between our read and our conditional update.
    original_filter = Integration.objects.filter

    def racing_filter(*args, **kwargs):
        if "lifecycle" in kwargs:
            Integration.objects.all().update(lifecycle="deprecated")
        return original_filter(*args, **kwargs)

    monkeypatch.setattr(Integration.objects, "filter", racing_filter)
    with pytest.raises(Conflict):
        services.change_lifecycle(actor=architect, obj=integration, lifecycle="retired")


def test_deleting_a_referenced_row_is_a_conflict_listing_what_uses_it(architect):
    team = TeamFactory(slug="owners")
    SystemFactory(slug="crm", owner_team=team)
    with pytest.raises(Conflict) as exc:
        services.delete_team(actor=architect, team=team)
    assert "crm" in exc.value.message
    assert Team.objects.filter(slug="owners").exists()
    assert not AuditEntry.objects.filter(action="team.deleted").exists()


def test_delete_writes_an_audit_row(architect):
    system = SystemFactory()
    pk = system.pk
    services.delete_system(actor=architect, system=system)
    assert not System.objects.filter(pk=pk).exists()
    entry = AuditEntry.objects.get(action="system.deleted")
    assert entry.object_id == str(pk) and entry.before["slug"] == system.slug


def test_sla_upsert_creates_then_updates_and_records_on_the_integration(architect):
    integration = IntegrationFactory()
    services.upsert_sla(actor=architect, integration=integration, availability_target="99.5", p95_latency_ms=800)
    services.upsert_sla(actor=architect, integration=integration, availability_target="99.9")
    assert Sla.objects.get(integration=integration).availability_target == Decimal("99.9")
    entries = list(AuditEntry.objects.for_object(integration).order_by("id"))
    assert [e.action for e in entries] == ["integration.sla_created", "integration.sla_updated"]
    assert entries[1].after == {"sla.availability_target": "99.9"}


def test_sla_out_of_range_is_refused(architect):
    integration = IntegrationFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.upsert_sla(actor=architect, integration=integration, availability_target="120")
    assert "availability_target" in exc.value.fields
    assert not Sla.objects.exists()


def test_delete_sla(architect):
    sla = SlaFactory()
    services.delete_sla(actor=architect, sla=sla)
    assert not Sla.objects.exists()
    assert actions(sla.integration) == ["integration.sla_deleted"]


def test_source_and_target_must_differ(architect):
    system = SystemFactory()
    with pytest.raises(ValidationFailed):
        services.create_integration(actor=architect, name="Loop", slug="loop", source_system=system,
                                    target_system=system, owner_team=system.owner_team)


def test_team_cannot_be_its_own_ancestor(architect):
    parent = TeamFactory()
    child = TeamFactory(parent=parent)
    with pytest.raises(ValidationFailed):
        services.update_team(actor=architect, team=parent, parent=child)


def test_team_members_are_added_and_removed_with_audit(architect, finance):
    team = TeamFactory()
    member = services.add_team_member(actor=architect, team=team, user=finance, role="Billing lead")
    assert member.name == "finance" and member.email == finance.email
    with pytest.raises(ValidationFailed):
        services.add_team_member(actor=architect, team=team, user=finance)
    services.remove_team_member(actor=architect, member=member)
    assert not team.memberships.exists()
    assert actions(team) == ["team.member_added", "team.member_removed"]


def test_owner_team_is_required(architect):
    with pytest.raises(ValidationFailed) as exc:
        services.create_api(actor=architect, name="X", slug="x", provider_system=SystemFactory())
    assert "owner_team" in exc.value.fields
    assert not Api.objects.filter(slug="x").exists()
