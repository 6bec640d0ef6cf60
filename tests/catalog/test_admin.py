"""Admin as the control board: every model registered, and saves still leave audit rows."""

import pytest
from django.contrib import admin
from django.urls import reverse

from catalog.models import Api, CanonicalEntity, Domain, Integration, Sla, System, Team, TeamMember, Workflow
from controlplane.models import AuditEntry
from tests.catalog.factories import IntegrationFactory, SlaFactory, SystemFactory, TeamFactory

MODELS = [Team, TeamMember, Domain, System, Api, CanonicalEntity, Workflow, Integration, Sla]


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_every_catalog_model_is_registered():
    for model in MODELS:
        assert admin.site.is_registered(model), model


def test_changelists_and_search_work(admin_client, db):
    SlaFactory(integration=IntegrationFactory(name="Time to invoice"))
    for model in MODELS:
        url = reverse(f"admin:catalog_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, model
        assert admin_client.get(url + "?q=invoice").status_code == 200, model
    response = admin_client.get(reverse("admin:catalog_integration_changelist") + "?q=invoice")
    assert b"Time to invoice" in response.content


def test_admin_save_goes_through_the_service_and_is_audited(admin_client, superuser, db):
    system = SystemFactory(vendor="Oracle")
    url = reverse("admin:catalog_system_change", args=[system.pk])
    data = {"name": system.name, "slug": system.slug, "description": "", "external_ref": "", "metadata": "{}",
            "vendor": "Oracle NetSuite", "product": "", "category": "erp", "deployment": "cloud",
            "lifecycle": "active", "owner_team": system.owner_team.pk, "domain": "", "business_owner": "",
            "data_residency": "", "rate_limits": "", "retirement_date": ""}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.for_object(system).get()
    assert (entry.action, entry.actor, entry.after) == ("system.updated", superuser, {"vendor": "Oracle NetSuite"})


def test_admin_refusal_saves_nothing(admin_client, db):
    system = SystemFactory(lifecycle="active")
    url = reverse("admin:catalog_system_change", args=[system.pk])
    data = {"name": "Renamed", "slug": system.slug, "description": "", "external_ref": "", "metadata": "{}",
            "vendor": "", "product": "", "category": "erp", "deployment": "cloud", "lifecycle": "planned",
            "owner_team": system.owner_team.pk, "domain": "", "business_owner": "", "data_residency": "",
            "rate_limits": "", "retirement_date": ""}
    response = admin_client.post(url, data, follow=True)
    assert "Not saved" in response.content.decode()
    system.refresh_from_db()
    assert (system.name, system.lifecycle) == (system.name, "active") and system.name != "Renamed"


def test_admin_team_with_inline_member_is_audited(admin_client, db):
    url = reverse("admin:catalog_team_add")
    data = {"name": "Finance Systems", "slug": "finance-systems", "description": "", "external_ref": "",
            "metadata": "{}", "email": "", "chat_channel": "", "parent": "",
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0", "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000", "memberships-0-name": "Ann Lee", "memberships-0-email": "",
            "memberships-0-role": "Lead", "memberships-0-user": ""}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:3000]
    team = Team.objects.get(slug="finance-systems")
    assert list(team.memberships.values_list("name", flat=True)) == ["Ann Lee"]
    assert [e.action for e in AuditEntry.objects.for_object(team).order_by("id")] == ["team.created",
                                                                                      "team.member_added"]


def test_admin_delete_is_audited_and_refused_when_in_use(admin_client, db):
    team = TeamFactory()
    SystemFactory(owner_team=team)
    lonely = TeamFactory()
    response = admin_client.post(reverse("admin:catalog_team_delete", args=[lonely.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="team.deleted", object_id=str(lonely.pk)).exists()
    response = admin_client.post(reverse("admin:catalog_team_delete", args=[team.pk]), {"post": "yes"})
    assert b"protected" in response.content
    assert Team.objects.filter(pk=team.pk).exists()
    assert not AuditEntry.objects.filter(action="team.deleted", object_id=str(team.pk)).exists()
