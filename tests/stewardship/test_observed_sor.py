"""The system of record as observed: who was seen writing an entity (events, runs and
exceptions), compared with the approved SoR; warehouses and replicas are copies, not
writers. Hand-built estate, known answers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from controlplane.models import AuditEntry
from exceptions.models import BusinessException, Queue
from health.models import SyncRun
from kpis.models import BusinessEvent
from stewardship import services
from stewardship.models import ObservedWriter
from stewardship.selectors import entity_findings
from tests.factories import EntityFactory, IntegrationFactory, SystemFactory

from .factories import SorFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
H = dt.timedelta(hours=1)


@pytest.fixture
def estate():
    invoice = EntityFactory(slug="invoice-x", name="Invoice X")
    erp, psa, crm, billing = (SystemFactory(slug=s, name=n) for s, n in (
        ("erp-x", "ERP"), ("psa-x", "PSA"), ("crm-x", "CRM"), ("billing-x", "Billing engine")))
    warehouse = SystemFactory(slug="dwh-x", name="Warehouse", is_copy=True)
    SorFactory(entity=invoice, system=erp, status="approved")
    into_sor = IntegrationFactory(name="PSA to ERP", source_system=psa, target_system=erp, entities=[invoice])
    to_dwh = IntegrationFactory(name="ERP to warehouse", source_system=erp, target_system=warehouse, entities=[invoice])
    # Neither end is the SoR, but the target is a copy: normal BI feeding, flagged before this change.
    billing_dwh = IntegrationFactory(name="Billing to warehouse", source_system=billing, target_system=warehouse,
                                     entities=[invoice])
    rogue = IntegrationFactory(name="PSA to CRM invoices", source_system=psa, target_system=crm, entities=[invoice])
    declared = IntegrationFactory(name="Billing to CRM", source_system=billing, target_system=crm, entities=[invoice])
    for n in range(3):
        BusinessEvent.objects.create(event_id=f"ok{n}", type="invoice_posted", correlation_key=f"OK-{n}",
                                     occurred_at=NOW - n * H, integration=into_sor)
    for n, key in enumerate(["INV-1", "INV-2"]):
        BusinessEvent.objects.create(event_id=f"rogue{n}", type="invoice_posted", correlation_key=key,
                                     occurred_at=NOW - (n + 1) * H, integration=rogue)
    BusinessEvent.objects.create(event_id="old", type="invoice_posted", correlation_key="INV-OLD",
                                 occurred_at=NOW - dt.timedelta(days=200), integration=rogue)  # outside the window
    SyncRun.objects.create(integration=to_dwh, run_key="a", status="success", finished_at=NOW - H, records_processed=40)
    SyncRun.objects.create(integration=to_dwh, run_key="b", status="success", finished_at=NOW - 2 * H,
                           records_processed=10)
    SyncRun.objects.create(integration=billing_dwh, run_key="c", status="success", finished_at=NOW - H,
                           records_processed=5)
    SyncRun.objects.create(integration=rogue, run_key="idle", status="success", finished_at=NOW - H,
                           records_processed=0)  # wrote nothing: no evidence
    queue = Queue.objects.create(name="Q", slug="q-x", team=rogue.owner_team)
    BusinessException.objects.create(integration=rogue, entity=invoice, queue=queue, error_code="DUP", message="m",
                                     fingerprint="f", invoice_number="INV-0", first_seen=NOW - 3 * H,
                                     last_seen=NOW - 3 * H, amount_at_risk=Decimal("1"), currency="EUR")
    return {"invoice": invoice, "erp": erp, "crm": crm, "warehouse": warehouse, "rogue": rogue,
            "declared": declared, "into_sor": into_sor, "to_dwh": to_dwh, "billing_dwh": billing_dwh}


def test_refresh_records_who_wrote_each_entity_in_one_statement(estate, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):  # whatever the volume: delete, insert-select, audit
        written = services.refresh_observed_writers(actor=None, now=NOW)
    rows = {(w.system.name, w.integration.name): (w.event_count, w.run_count, w.exception_count, w.sample_key)
            for w in ObservedWriter.objects.select_related("system", "integration")}
    assert written == 4 and rows == {
        ("ERP", "PSA to ERP"): (3, 0, 0, "OK-2"),
        ("Warehouse", "ERP to warehouse"): (0, 2, 0, ""),
        ("Warehouse", "Billing to warehouse"): (0, 1, 0, ""),
        ("CRM", "PSA to CRM invoices"): (2, 0, 1, "INV-2"),
    }
    rogue = ObservedWriter.objects.get(integration=estate["rogue"])
    assert rogue.first_seen == NOW - 3 * H and rogue.last_seen == NOW - H
    assert services.refresh_observed_writers(actor=None, now=NOW) == 4 and ObservedWriter.objects.count() == 4
    assert AuditEntry.objects.filter(action="sor.observed_writers_refreshed").count() == 2


def test_unmanaged_writers_come_with_evidence_and_copies_are_not_flagged(estate):
    services.refresh_observed_writers(actor=None, now=NOW)
    findings = entity_findings([estate["invoice"]])[estate["invoice"].pk]
    got = [(f["label"], f["severity"], f["integration"].name) for f in findings]
    assert got == [("Unmanaged writer", "high", "PSA to CRM invoices"),
                   ("Unmanaged writer (declared)", "medium", "Billing to CRM")]
    observed = findings[0]
    assert observed["evidence_url"] == "/traces/?key=INV-2"
    assert "CRM was seen writing it through PSA to CRM invoices (2 events, 1 exceptions" in observed["message"]


def test_entity_page_shows_observed_writers_by_role(estate, client_as):
    services.refresh_observed_writers(actor=None, now=NOW)
    html = client_as("steward").get(f"/stewardship/entities/{estate['invoice'].slug}/").content.decode()
    assert html.count("Declared copy") == 2 and "System of record</span>" in html
    assert 'href="/traces/?key=INV-2"' in html and "Unmanaged writer (declared)" in html
    assert client_as("outsider").get(f"/stewardship/entities/{estate['invoice'].slug}/").status_code == 403


def test_what_the_sor_sends_downstream_is_not_an_unmanaged_writer(estate):
    status = IntegrationFactory(name="ERP to CRM status", source_system=estate["erp"], target_system=estate["crm"],
                                entities=[estate["invoice"]])
    BusinessEvent.objects.create(event_id="st", type="invoice_posted", correlation_key="INV-S", occurred_at=NOW - H,
                                 integration=status)
    services.refresh_observed_writers(actor=None, now=NOW)
    assert ObservedWriter.objects.filter(integration=status).exists()
    findings = entity_findings([estate["invoice"]])[estate["invoice"].pk]
    assert status not in [f["integration"] for f in findings]
