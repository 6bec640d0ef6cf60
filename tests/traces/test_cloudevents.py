"""CloudEvents 1.0 over HTTP, sent by the CloudEvents Python SDK to a live server."""

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.utils import timezone

from kpis.models import BusinessEvent
from traces import services

live = pytest.mark.django_db(transaction=True)
SOURCE = "/netsuite/prod"


@pytest.fixture
def estate(cast):
    from stewardship.models import SchemaSubject, SchemaVersion
    from tests.factories import EntityFactory, IntegrationFactory

    erp = IntegrationFactory(slug="netsuite-invoices", name="NetSuite invoices")
    other = IntegrationFactory(slug="sap-invoices", name="SAP invoices")
    architect = cast["architect"]
    services.set_mapping(actor=architect, source=SOURCE, ce_type="com.netsuite.invoice.posted",
                         event_type="invoice_posted", integration=erp)
    services.set_mapping(actor=architect, source="/sap", ce_type="com.sap.invoice.posted", event_type="invoice_posted",
                         integration=other)
    subject = SchemaSubject.objects.create(name="Invoice posted", slug="invoice-posted", entity=EntityFactory())
    document = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "string"}}}
    SchemaVersion.objects.create(subject=subject, number=1, document=document, status="approved")
    SchemaVersion.objects.create(subject=subject, number=2, document=document, status="in_review")
    return {"erp": erp, "other": other}


def _event(n, **attributes):
    base = {"id": f"ns-{n}", "source": SOURCE, "type": "com.netsuite.invoice.posted", "specversion": "1.0",
            "subject": "INV-2026-1133", "time": timezone.now() - dt.timedelta(minutes=5),
            "datacontenttype": "application/json"}
    base.update(attributes)
    base = {k: v for k, v in base.items() if v is not None}  # None: leave the attribute out
    data = base.pop("data", {"amount": "5040.00", "currency": "USD", "customer": "Acme Ltd"})
    return CloudEvent(attributes=base, data=data)


class Answer:
    def __init__(self, status_code, text):
        self.status_code, self.text = status_code, text

    def json(self):
        return json.loads(self.text)


def _send(live_server, body: bytes, headers: dict) -> Answer:
    """A plain HTTP POST over a real socket (the SDK builds the message, not the transport)."""
    request = urllib.request.Request(f"{live_server.url}/api/v1/cloudevents/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return Answer(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode())


def _post(live_server, token, message):
    return _send(live_server, message.body, {**message.headers, "Authorization": f"Bearer {token}"})


def _batch(*events):
    fmt = JSONFormat()

    class Message:
        headers = {"Content-Type": "application/cloudevents-batch+json"}
        body = json.dumps([json.loads(fmt.write(e)) for e in events]).encode()

    return Message


@live
def test_the_sdk_posts_binary_structured_and_batches_to_a_live_server(estate, live_server, cast):
    """One live server for every mode (its database flush is the slow part)."""
    binary = _post(live_server, cast.token, to_binary(_event(1), JSONFormat()))
    assert binary.status_code == 200, binary.text
    assert binary.json()["created"] == 1
    stored = BusinessEvent.objects.get(event_id="ns-1")
    assert (stored.type, stored.correlation_key, str(stored.amount), stored.currency, stored.integration) == (
        "invoice_posted", "INV-2026-1133", "5040.00", "USD", estate["erp"])
    assert stored.attributes["customer"] == "Acme Ltd" and stored.attributes["cloudevents_source"] == SOURCE
    second = _event(2)
    structured = _post(live_server, cast.token, to_structured(second, JSONFormat()))
    assert structured.status_code == 200 and structured.json()["created"] == 1, structured.text
    again = _post(live_server, cast.token, to_structured(second, JSONFormat()))
    assert again.json()["duplicates"] == 1 and BusinessEvent.objects.filter(event_id="ns-2").count() == 1
    changed = _post(live_server, cast.token, to_structured(_event(2, subject="INV-2026-9999"), JSONFormat()))
    assert changed.status_code == 409  # the same id saying something else: the events API's idempotency

    batch = _post(live_server, cast.token, _batch(
        _event(10),
        _event(11, type="com.netsuite.invoice.voided"),  # no mapping
        _event(12, dataschema="https://registry.example/api/v1/stewardship/subjects/invoice-posted/versions/1"),
        _event(13, dataschema="https://registry.example/subjects/invoice-posted/versions/2"),  # in review
        _event(14, dataschema="https://registry.example/subjects/invoice-posted/versions/1", data={"amount": 5}),
        _event(15, subject=None),
        _event(16, data={"amount": "-3.00", "currency": "USD"}),  # the events API's rule: negatives only for credits
    ))
    assert batch.status_code == 200, batch.text
    results = {r["event_id"]: r for r in batch.json()["results"]}
    assert [results[f"ns-{n}"]["status"] for n in (10, 11, 12, 13, 14, 15, 16)] == [
        "created", "rejected", "created", "rejected", "rejected", "rejected", "rejected"]
    assert "No mapping" in results["ns-11"]["errors"]["type"][0]
    assert "not an approved schema version" in results["ns-13"]["errors"]["dataschema"][0]
    assert "amount" in results["ns-14"]["errors"]["data"][0]
    assert "subject" in results["ns-15"]["errors"]
    assert "amount" in results["ns-16"]["errors"]
    assert set(BusinessEvent.objects.values_list("event_id", flat=True)) == {"ns-1", "ns-2", "ns-10", "ns-12"}

    from controlplane import roles
    from controlplane.services import create_service_account

    _, key = create_service_account(name="sap-only", role=roles.INTEGRATION, integrations=[estate["other"]])
    refused = _post(live_server, key, to_binary(_event(20), JSONFormat()))
    assert refused.status_code == 403 and not BusinessEvent.objects.filter(event_id="ns-20").exists()
    sap = _event(21, source="/sap", type="com.sap.invoice.posted")
    assert _post(live_server, key, to_binary(sap, JSONFormat())).json()["created"] == 1
    nobody = _send(live_server, b"{}", {"Content-Type": "application/cloudevents+json"})
    assert nobody.status_code in (401, 403)


@pytest.mark.django_db
def test_what_is_not_cloudevents_is_a_clear_400(estate, api_as):
    api = api_as("service")

    def post(body, content_type):
        return api.post("/api/v1/cloudevents/", body, content_type=content_type)

    plain = post(b'{"hello": 1}', "application/json")
    assert plain.status_code == 400 and "binary mode" in plain.json()["error"]["message"]
    v03 = post(json.dumps({"specversion": "0.3", "id": "x", "source": "/s", "type": "t"}), "application/cloudevents+json")
    assert v03.status_code == 400 and "1.0" in json.dumps(v03.json())
    assert post(b"[]", "application/cloudevents-batch+json").status_code == 400
    deep = post(b"[" * 5000 + b"]" * 5000, "application/cloudevents-batch+json")
    assert deep.status_code == 400  # the hardened JSON parser reads every CloudEvents media type
    assert not BusinessEvent.objects.exists()


@pytest.mark.django_db
def test_mappings_are_kept_by_architects_through_the_api(estate, cast):
    from rest_framework.test import APIClient

    from controlplane.models import AuditEntry

    architect, finance = APIClient(), APIClient()
    architect.force_login(cast["architect"])
    finance.force_login(cast["finance"])
    body = {"source": "urn:psa:certinia", "ce_type": "com.certinia.time.approved", "event_type": "time_approved",
            "integration": "netsuite-invoices"}
    assert finance.post("/api/v1/cloudevents/mappings/", body, format="json").status_code == 403
    created = architect.post("/api/v1/cloudevents/mappings/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["integration_name"] == "NetSuite invoices"
    assert architect.post("/api/v1/cloudevents/mappings/", body, format="json").status_code == 409
    pk = created.json()["id"]
    changed = architect.patch(f"/api/v1/cloudevents/mappings/{pk}/", {"event_type": "milestone_completed"}, format="json")
    assert changed.status_code == 200 and changed.json()["event_type_label"] == "Milestone completed"
    assert finance.get("/api/v1/cloudevents/mappings/").status_code == 200
    assert architect.delete(f"/api/v1/cloudevents/mappings/{pk}/").status_code == 204
    assert AuditEntry.objects.filter(action__startswith="cloudevent_mapping.").count() >= 5
