"""The demo's simulated systems: replay targets that accept a valid corrected payload and
refuse an invalid one the way NetSuite would, and health endpoints for the probes."""

import io
import json
import time

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controlplane.management.commands.load_demo import Command as LoadDemo
from controlplane.scenario import build
from controlplane.scenario.receiver import secret_for
from exceptions.replay import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    from catalog import demo as catalog_demo
    from stewardship import demo as stewardship_demo
    from stewardship import validation

    validation.clear_cache()  # cached by version id, and ids repeat across rolled-back tests
    caches["demo_receiver"].clear()  # what an earlier test's replays left remembered
    settings.DEMO_ENDPOINTS = True
    LoadDemo()._users()
    catalog_demo.load(stdout=io.StringIO())
    stewardship_demo.load(io.StringIO())  # the approved Invoice schema the receiver checks against
    return Client()


def post(client, path, document, *, system="netsuite", key="exc-1-abc", secret=None):
    body = json.dumps(document).encode()
    stamp = str(int(time.time()))
    return client.post(path, body, content_type="application/json", headers={
        "Idempotency-Key": key, TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret or secret_for(system), stamp, key, body)})


def _tax_failure():
    return next(f for f in build().failures if f.error_code == "TAX_CODE_INVALID" and f.is_open)


def test_a_corrected_invoice_is_accepted_and_the_failing_one_refused_as_its_message_says(receiver):
    failure = _tax_failure()
    refused = post(receiver, "/demo/netsuite/invoices", failure.payload)
    assert refused.status_code == 400
    detail = refused.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_FLD_VALUE" and "GB-VAT20" in detail["detail"]
    assert detail["o:errorPath"].startswith("lines[") and detail["o:errorPath"].endswith("taxCode")
    accepted = post(receiver, "/demo/netsuite/invoices", failure.correction, key="exc-1-def")
    assert accepted.status_code == 201 and accepted.json()["tranId"] == failure.invoice.number
    # The same Idempotency-Key again gets the first answer.
    again = post(receiver, "/demo/netsuite/invoices", failure.correction, key="exc-1-def")
    assert (again.status_code, again.json()) == (201, accepted.json())


def test_accepting_a_replay_writes_nothing_to_the_database(receiver):
    """On SQLite a replay attempt holds the write lock while it POSTs; a receiver that wrote
    to the same database (the default cache is the database there) would wait for that
    lock and answer after the replay had timed out, so the demo's first replay failed."""
    failure = _tax_failure()
    with CaptureQueriesContext(connection) as queries:
        accepted = post(receiver, "/demo/netsuite/invoices", failure.correction, key="exc-1-nowrite")
        again = post(receiver, "/demo/netsuite/invoices", failure.correction, key="exc-1-nowrite")
    assert accepted.status_code == again.status_code == 201
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []


def test_the_ledger_refuses_a_tax_code_of_another_legal_entity(receiver):
    failure = _tax_failure()
    wrong = json.loads(json.dumps(failure.correction))
    wrong["lines"][0]["taxCode"] = "US-TX"  # valid in the schema, not for UK01
    response = post(receiver, "/demo/netsuite/invoices", wrong)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["detail"] == "Invalid taxcode reference key US-TX for subsidiary UK01."


def test_unsigned_or_wrongly_signed_requests_are_refused(receiver):
    failure = _tax_failure()
    assert post(receiver, "/demo/netsuite/invoices", failure.correction, secret="guess").status_code == 401
    assert receiver.post("/demo/netsuite/invoices", "{}", content_type="application/json").status_code == 401
    assert post(receiver, "/demo/netsuite/invoices", failure.correction, system="certinia").status_code == 401


def test_the_sap_gateway_is_down_today(receiver, caplog):
    de = next(f for f in build().failures if f.error_code == "SAP_RFC_TIMEOUT")
    caplog.set_level("WARNING", logger="django.request")
    response = post(receiver, "/demo/sap/invoices", de.correction, system="sap")
    assert response.status_code == 503 and "sapgw00" in response.json()["o:errorDetails"][0]["detail"]
    health = receiver.get("/demo/sap/health")
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    # A played outage is not the demo server failing: no ERROR lines in `make demo`'s output.
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_health_endpoints_answer_with_their_systems_latency(receiver):
    started = time.perf_counter()
    response = receiver.get("/demo/netsuite/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert time.perf_counter() - started >= response.json()["latency_ms"] / 1000 * 0.9
    assert receiver.get("/demo/nosuch/health").status_code == 404
    assert receiver.post("/demo/netsuite/nosuch", "{}", content_type="application/json").status_code == 404


def test_everything_is_a_404_when_demo_endpoints_are_off(settings):
    settings.DEMO_ENDPOINTS = False
    client = Client()
    assert client.get("/demo/netsuite/health").status_code == 404
    assert client.post("/demo/netsuite/invoices", "{}", content_type="application/json").status_code == 404


def test_load_demo_refuses_up_front_when_its_targets_are_not_allowed(settings, monkeypatch):
    """Run by hand without `make demo`'s allowlist, the loader says what to set and loads
    nothing, instead of a traceback halfway through (after the catalog was loaded)."""
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    from catalog.models import System

    settings.OUTBOUND_URL_ALLOWLIST = []
    monkeypatch.setenv("DEMO_BASE_URL", "http://127.0.0.1:8137")
    with pytest.raises(CommandError, match="OUTBOUND_URL_ALLOWLIST"):
        call_command("load_demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="finance").exists()
    assert not System.objects.exists()
