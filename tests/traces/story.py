"""One invoice's journey across systems, as the trace tests and the browser test see it:
INV-2026-1133 is approved as time in Certinia, synced to NetSuite, fails tax in Avalara
(an exception, replayed), is posted, and shows up in a reconciliation's mismatches."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

KEY = "INV-2026-1133"


def build(architect):
    from exceptions.models import ReplayAttempt
    from health import services as health_services
    from kpis.models import BusinessEvent, Reconciliation
    from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
    from tests.factories import EntityFactory, IntegrationFactory, SystemFactory, TeamFactory

    certinia, netsuite, avalara = (SystemFactory(name=n) for n in ("Certinia PSA", "NetSuite ERP", "Avalara Tax"))
    time_sync = IntegrationFactory(name="Approved time → NetSuite", source_system=certinia, target_system=netsuite)
    tax = IntegrationFactory(name="NetSuite → Avalara tax", source_system=netsuite, target_system=avalara)
    t0 = timezone.now() - dt.timedelta(days=3)

    def event(n, type_, at, amount, currency="GBP", integration=time_sync, key=KEY, **attributes):
        return BusinessEvent.objects.create(event_id=f"story-{n}", type=type_, correlation_key=key, occurred_at=at,
                                            integration=integration, amount=amount, currency=currency,
                                            attributes=attributes)

    event(1, "time_approved", t0, Decimal("4200.00"), key="PRJ-742", invoice=KEY)  # the key only in attributes
    event(2, "invoice_ready", t0 + dt.timedelta(hours=2), Decimal("4200.00"))
    run, _ = health_services.record_run(integration=time_sync, actor=architect, status="success",
                                        finished_at=t0 + dt.timedelta(hours=3), run_key="run-77",
                                        records_processed=12, business_keys=[KEY, "INV-2026-1134"])
    exc = BusinessExceptionFactory(integration=tax, invoice_number=KEY, business_keys={"invoice_number": KEY},
                                   amount_at_risk=Decimal("840.00"), currency="USD",
                                   first_seen=t0 + dt.timedelta(hours=4), message="Tax code V7 unknown in Avalara")
    ReplayAttempt.objects.create(exception=exc, url="https://erp.example/replay", status_code=200, succeeded=True,
                                 started_at=t0 + dt.timedelta(hours=5), finished_at=t0 + dt.timedelta(hours=5))
    event(3, "invoice_posted", t0 + dt.timedelta(hours=6), Decimal("5040.00"), currency="USD", integration=tax)
    payroll = QueueFactory(name="Payroll", slug="payroll", team=TeamFactory(name="Payroll team"), restricted=True)
    hidden = BusinessExceptionFactory(integration=tax, queue=payroll, invoice_number=KEY, error_code="SALARY_SPLIT",
                                      business_keys={"invoice_number": KEY}, first_seen=t0 + dt.timedelta(hours=7))
    Reconciliation.objects.create(integration=time_sync, entity=EntityFactory(name="Invoice"),
                                  period_start=(t0 - dt.timedelta(days=2)).date(), period_end=(t0 - dt.timedelta(days=1)).date(),
                                  source_count=40, target_count=39, mismatched_count=1, mismatched_sample=[KEY])
    return {"time_sync": time_sync, "tax": tax, "run": run, "exception": exc, "hidden": hidden}
