"""Demo business events and reconciliations for the last 120 days, then a KPI backfill.

Deterministic (seeded random, stable event ids), so loading twice stores nothing new."""

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from catalog.models import CanonicalEntity, Integration, Workflow

from . import demo_fx, services
from .choices import EventType
from .models import BusinessEvent, KpiTarget, Reconciliation

DAYS = 120


def _integration_for(workflow_slug):
    return Integration.objects.filter(workflows__slug=workflow_slug).order_by("slug").first()


def load(stdout):
    demo_fx.seed_rates(stdout)
    rng = random.Random(2026)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    workflows = {w.slug: w for w in Workflow.objects.all()}
    items = []

    def event(event_id, type_, key, at, workflow, amount=None):
        if at > now:
            return
        integration = _integrations.get(workflow)
        items.append(dict(
            event_id=event_id, type=type_, correlation_key=key, occurred_at=at,
            workflow=workflows.get(workflow), integration=integration,
            amount=Decimal(amount).quantize(Decimal("0.01")) if amount is not None else None,
            currency="GBP" if amount is not None else "", attributes={},
        ))

    _integrations = {slug: _integration_for(slug) for slug in ("time-to-invoice", "project-setup", "milestone-to-revenue")}
    for n in range(400):
        start = now - dt.timedelta(days=rng.uniform(1, DAYS), hours=rng.randint(0, 23))
        key = f"TS-{2026}-{n:05d}"
        amount = rng.randint(2_000, 60_000)
        event(f"demo-ta-{n}", EventType.TIME_APPROVED, key, start, "time-to-invoice")
        event(f"demo-ir-{n}", EventType.INVOICE_READY, key, start + dt.timedelta(hours=rng.uniform(4, 30)), "time-to-invoice", amount)
        if rng.random() < 0.85:  # the rest is the invoice-ready backlog
            event(f"demo-ip-{n}", EventType.INVOICE_POSTED, key, start + dt.timedelta(hours=rng.lognormvariate(3.8, 0.6)), "time-to-invoice", amount)
    for n in range(120):
        won = now - dt.timedelta(days=rng.uniform(2, DAYS))
        key = f"OPP-{n:04d}"
        event(f"demo-cw-{n}", EventType.CLOSED_WON, key, won, "project-setup", rng.randint(50_000, 900_000))
        event(f"demo-pa-{n}", EventType.PROJECT_ACTIVATED, key, won + dt.timedelta(days=rng.lognormvariate(1.3, 0.5)), "project-setup")
    for n in range(150):
        done = now - dt.timedelta(days=rng.uniform(2, DAYS))
        key = f"MS-{n:04d}"
        amount = rng.randint(10_000, 120_000)
        event(f"demo-mc-{n}", EventType.MILESTONE_COMPLETED, key, done, "milestone-to-revenue", amount)
        event(f"demo-mi-{n}", EventType.INVOICE_POSTED, key, done + dt.timedelta(days=rng.lognormvariate(0.9, 0.6)), "milestone-to-revenue", amount)
    known = set(BusinessEvent.objects.filter(event_id__in=[i["event_id"] for i in items]).values_list("event_id", flat=True))
    fresh = [BusinessEvent(**i) for i in items if i["event_id"] not in known]
    BusinessEvent.objects.bulk_create(fresh, batch_size=1000)
    services.close_ready_invoices()

    recons = 0
    entity_slugs = ["invoice", "time-entry", "client", "project"]
    entities = {e.slug: e for e in CanonicalEntity.objects.filter(slug__in=entity_slugs)}
    pairs = [(i, entities[s]) for s in entity_slugs if s in entities for i in Integration.objects.filter(entities__slug=s)[:2]]
    today = now.date()
    for week in range(DAYS // 7):
        period_end = today - dt.timedelta(days=today.weekday() + 1 + 7 * week)
        period_start = period_end - dt.timedelta(days=6)
        for integration, entity in pairs:
            source = rng.randint(200, 3000)
            mismatched = rng.choice([0, 0, 0, 1, 2, 5, 12])
            source_amount = Decimal(rng.randint(50_000, 900_000))
            _, created = Reconciliation.objects.get_or_create(
                integration=integration, entity=entity, period_start=period_start, period_end=period_end,
                defaults=dict(source_count=source, target_count=source - mismatched, mismatched_count=mismatched,
                              source_amount=source_amount,
                              target_amount=source_amount - Decimal(rng.choice([0, 0, 120, 950, 4200])),
                              mismatched_sample=[f"KEY-{rng.randint(1000, 9999)}" for _ in range(min(mismatched, 5))]),
            )
            recons += created
    for key, target in (("approved-time-to-invoice", 48), ("invoice-ready-backlog", 40)):
        KpiTarget.objects.get_or_create(key=key, defaults={"target": target})
    count = services.backfill(first=today - dt.timedelta(days=DAYS), last=today)
    stdout.write(f"KPIs: {len(fresh)} new events, {recons} new reconciliations, {count} snapshots computed.")
