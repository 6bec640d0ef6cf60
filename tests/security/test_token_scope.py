"""Machine credentials are scoped: a service token writes only for the integrations (or
systems) it speaks for; idempotency keys belong to the account that sent them; a caller's
fingerprint merges only within its integration."""

import importlib
import io

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from controlplane import roles
from controlplane.models import AuditEntry, ServiceToken
from controlplane.services import create_service_account, set_token_scope
from exceptions.models import BusinessException
from health.models import SyncRun
from health.services import config_for
from kpis.models import BusinessEvent
from tests.factories import IntegrationFactory, SystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(cast):
    """Two integrations; ``psa`` is the scoped middleware's, ``erp`` is someone else's."""
    return IntegrationFactory(slug="psa-to-erp", name="PSA to ERP"), IntegrationFactory(slug="crm-to-psa", name="CRM to PSA")


def _client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def scoped(estate):
    _token, key = create_service_account(name="psa-middleware", role=roles.INTEGRATION, integrations=["psa-to-erp"])
    return _client(key)


def _exception(slug, **extra):
    return {"integration": slug, "error_code": "TAX", "message": "Tax code unknown", **extra}


def _forbidden(response):
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "out_of_scope"
    return response.json()["error"]


def test_ingest_inside_the_scope_works_outside_is_403_and_stores_nothing(scoped, estate):
    assert scoped.post("/api/v1/exceptions/ingest/", _exception("psa-to-erp"), format="json").status_code == 201
    error = _forbidden(scoped.post("/api/v1/exceptions/ingest/", _exception("crm-to-psa"), format="json"))
    assert error["fields"]["integration"] == ["crm-to-psa"]
    # A batch with one item outside the scope is refused whole.
    batch = [_exception("psa-to-erp", error_code="OTHER"), _exception("crm-to-psa")]
    _forbidden(scoped.post("/api/v1/exceptions/ingest/", batch, format="json"))
    assert list(BusinessException.objects.values_list("integration__slug", "error_code")) == [("psa-to-erp", "TAX")]


def test_resolve_by_correlation_id_outside_the_scope_is_403_and_resolves_nothing(scoped, estate, api_as):
    api_as("service").post("/api/v1/exceptions/ingest/", [_exception("psa-to-erp", correlation_id="run-1"),
                                                         _exception("crm-to-psa", correlation_id="run-2")], format="json")
    _forbidden(scoped.post("/api/v1/exceptions/resolve/", {"correlation_id": "run-2"}, format="json"))
    _forbidden(scoped.post("/api/v1/exceptions/resolve/", {"correlation_id": "run-1", "integration": "crm-to-psa"},
                           format="json"))
    assert BusinessException.objects.filter(status="resolved").count() == 0
    assert scoped.post("/api/v1/exceptions/resolve/", {"correlation_id": "run-1"}, format="json").json() == {"resolved": 1}


def test_runs_heartbeats_and_events_outside_the_scope_are_403(scoped, estate):
    psa, crm = estate
    _forbidden(scoped.post(f"/api/v1/integrations/{crm.slug}/runs/", {"status": "success"}, format="json"))
    assert scoped.post(f"/api/v1/integrations/{psa.slug}/runs/", {"status": "success"}, format="json").status_code == 201
    # The heartbeat URL is itself the credential of one integration; a token sent with it must speak for it.
    crm_beat = f"/api/v1/heartbeat/{config_for(crm).heartbeat_token}/"
    _forbidden(scoped.post(crm_beat))
    assert APIClient().post(crm_beat).status_code == 200
    assert _client("cpt_not-a-token").post(crm_beat).status_code == 401
    assert SyncRun.objects.filter(integration=crm).count() == 1  # the anonymous ping only
    now = timezone.now().isoformat()
    event = {"event_id": "e-1", "type": "time_approved", "correlation_key": "P-1", "occurred_at": now}
    _forbidden(scoped.post("/api/v1/events/", {**event, "integration": crm.slug}, format="json"))
    # An event naming no integration speaks for none in particular: only an all-integrations token.
    _forbidden(scoped.post("/api/v1/events/", event, format="json"))
    assert scoped.post("/api/v1/events/", {**event, "integration": psa.slug}, format="json").json()["created"] == 1
    assert list(BusinessEvent.objects.values_list("event_id", flat=True)) == ["e-1"]


def test_a_system_scope_covers_the_integrations_from_and_to_it(estate):
    psa, crm = estate
    _token, key = create_service_account(name="erp-adapter", role=roles.INTEGRATION, systems=[psa.target_system.slug])
    client = _client(key)
    assert client.post("/api/v1/exceptions/ingest/", _exception(psa.slug), format="json").status_code == 201
    _forbidden(client.post("/api/v1/exceptions/ingest/", _exception(crm.slug), format="json"))
    # An integration added later to that system is covered without touching the token.
    later = IntegrationFactory(slug="hr-to-erp", source_system=SystemFactory(), target_system=psa.target_system)
    assert _client(key).post("/api/v1/exceptions/ingest/", _exception(later.slug), format="json").status_code == 201


def test_a_new_token_without_a_scope_writes_for_nothing_but_still_reads(estate):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_service_account", "mulesoft", role="integration", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "may read but write for no integration" in err.getvalue()
    client = _client(key)
    _forbidden(client.post("/api/v1/exceptions/ingest/", _exception("psa-to-erp"), format="json"))
    assert client.get("/api/v1/exceptions/items/").status_code == 200


def test_the_command_sets_a_scope_and_refuses_unknown_slugs(estate):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_service_account", "boomi", role="integration", integration=["psa-to-erp"], stdout=out, stderr=err)
    token = ServiceToken.objects.get(user__username="boomi")
    assert list(token.integrations.values_list("slug", flat=True)) == ["psa-to-erp"] and "PSA to ERP" in err.getvalue()
    assert _client(out.getvalue().strip()).post("/api/v1/exceptions/ingest/", _exception("psa-to-erp"),
                                                format="json").status_code == 201
    with pytest.raises(CommandError, match="Unknown integration"):
        call_command("create_service_account", "x", role="integration", integration=["nope"], stdout=out, stderr=err)
    call_command("create_service_account", "platform", role="integration", all_integrations=True, stdout=out, stderr=err)
    assert ServiceToken.objects.get(user__username="platform").all_integrations


def test_changing_a_scope_is_audited_and_applies_at_once(estate, superuser):
    token, key = create_service_account(name="psa-middleware", role=roles.INTEGRATION, integrations=["psa-to-erp"])
    set_token_scope(token=token, actor=superuser, integrations=["crm-to-psa"])
    entry = AuditEntry.objects.get(action="service_token.scope_changed")
    assert entry.before["integrations"] == ["psa-to-erp"] and entry.after["integrations"] == ["crm-to-psa"]
    _forbidden(_client(key).post("/api/v1/exceptions/ingest/", _exception("psa-to-erp"), format="json"))


def test_the_admin_edits_a_scope_through_the_service(estate, superuser):
    from django.test import Client

    token, _key = create_service_account(name="psa-middleware", role=roles.INTEGRATION)
    psa, crm = estate
    client = Client()
    client.force_login(superuser)
    response = client.post(f"/admin/controlplane/servicetoken/{token.pk}/change/", {"integrations": [psa.pk, crm.pk]})
    assert response.status_code == 302, response.content[:500]
    assert set(token.integrations.values_list("slug", flat=True)) == {"psa-to-erp", "crm-to-psa"}
    assert AuditEntry.objects.filter(action="service_token.scope_changed", actor=superuser).exists()


def test_tokens_issued_before_scopes_existed_speak_for_all_integrations(estate):
    token, _ = create_service_account(name="legacy", role=roles.INTEGRATION)
    assert not token.all_integrations
    migration = importlib.import_module("controlplane.migrations.0004_service_token_scope")
    migration.existing_tokens_speak_for_all(django_apps, None)
    token.refresh_from_db()
    assert token.all_integrations and token.speaks_for(estate[1].pk)


# --- fingerprints and idempotency keys ---------------------------------------------------

def test_a_caller_fingerprint_merges_only_within_its_integration(api_as, estate):
    client = api_as("service")
    first = client.post("/api/v1/exceptions/ingest/", _exception("psa-to-erp", fingerprint="shared"), format="json").json()
    other = client.post("/api/v1/exceptions/ingest/", _exception("crm-to-psa", fingerprint="shared"), format="json").json()
    again = client.post("/api/v1/exceptions/ingest/", _exception("psa-to-erp", fingerprint="shared"), format="json").json()
    assert other["outcome"] == "created" and other["id"] != first["id"]
    assert again["id"] == first["id"] and again["occurrences"] == 2
    # The set-based batch path keeps them apart too.
    batch = client.post("/api/v1/exceptions/ingest/", [_exception("psa-to-erp", fingerprint="b"),
                                                       _exception("crm-to-psa", fingerprint="b")], format="json").json()
    assert len({r["id"] for r in batch["results"]}) == 2


def test_idempotency_keys_belong_to_the_account(api_as, estate):
    _token, key = create_service_account(name="other-middleware", role=roles.INTEGRATION, all_integrations=True)
    mine = api_as("service").post("/api/v1/exceptions/ingest/", _exception("psa-to-erp", idempotency_key="1"),
                                  format="json").json()
    theirs = _client(key).post("/api/v1/exceptions/ingest/", _exception("crm-to-psa", idempotency_key="1"),
                               format="json")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]


def test_the_same_key_with_the_same_body_answers_the_stored_one_a_different_body_is_409(api_as, estate):
    client = api_as("service")
    body = _exception("psa-to-erp", amount_at_risk="10.00", currency="GBP")
    stored = client.post("/api/v1/exceptions/ingest/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()
    same = client.post("/api/v1/exceptions/ingest/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert same.status_code == 200 and same.json()["id"] == stored["id"] and same.json()["outcome"] == "idempotent"
    changed = client.post("/api/v1/exceptions/ingest/", {**body, "amount_at_risk": "99.00"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="k-1")
    assert changed.status_code == 409
    error = changed.json()["error"]
    assert error["code"] == "idempotency_conflict" and error["fields"]["id"] == stored["id"]
    assert BusinessException.objects.get().amount_at_risk == 10 and BusinessException.objects.get().occurrences == 1
    # In a batch: every conflicting item is named and nothing of the batch is stored.
    response = client.post("/api/v1/exceptions/ingest/", [_exception("psa-to-erp", error_code="NEW", idempotency_key="k-2"),
                                                          {**body, "message": "changed", "idempotency_key": "k-1"}],
                           format="json")
    assert response.status_code == 409
    assert response.json()["error"]["fields"]["items"] == [{"index": 1, "idempotency_key": "k-1", "id": stored["id"]}]
    assert not BusinessException.objects.filter(error_code="NEW").exists()
