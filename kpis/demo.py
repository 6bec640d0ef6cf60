"""Demo business events and reconciliations from the scenario (controlplane/scenario/
flows.py), then a KPI backfill.

Every event is one step of Northbridge's story: time approved, invoice ready, invoice
posted (with the tax engine's code), payment received, milestones, closed-won deals and
their project activation, revenue posted at each month's close; amounts in the issuing
legal entity's currency. Invoices an open exception holds back are ready but not posted,
so the invoice-ready backlog and the exception queues agree. Weekly reconciliations count
what the integrations carried, with the mismatches the open exceptions explain (the rate
cards missed in the pricing change, this week's failures).

Deterministic (stable event ids), so loading twice stores nothing new."""

import datetime as dt
from decimal import Decimal

from catalog.models import CanonicalEntity, Integration, Workflow
from controlplane import scenario
from controlplane.scenario.flows import month_closes, payment_at
from controlplane.scenario.story import LEGAL_ENTITIES, WEEKS, estate, week_start

from . import demo_fx, services
from .choices import EventType, Period
from .models import BusinessEvent, KpiTarget, Reconciliation

DAILY_DAYS = 35
WORKFLOW = {"time": "time-to-invoice", "milestone": "milestone-to-revenue", "retainer": "quote-to-cash"}
# KPI key -> (target, tolerance %): where the firm wants to be.
TARGETS = {
    "approved-time-to-invoice": (48, 15),
    "invoice-ready-backlog": (20, 25),
    "closed-won-to-activation": (4, 25),
    "milestone-to-invoice": (2, 25),
    "revenue-at-risk": (250_000, 25),
    "time-to-resolve": (36, 25),
    "exception-backlog": (30, 20),
    "overdue-share": (15, 50),
}


def _events(story, integrations, workflows):
    items = []

    def add(type_, key, at, workflow, integration, amount=None, currency="", **attributes):
        if at is None or at > story.now:
            return
        items.append(dict(event_id=f"demo-{type_}-{key}", type=type_, correlation_key=key, occurred_at=at,
                          workflow=workflows.get(workflow), integration=integrations.get(integration),
                          amount=None if amount is None else Decimal(amount).quantize(Decimal("0.01")),
                          currency=currency if amount is not None else "", attributes=attributes))

    for inv in story.invoices:
        flow = WORKFLOW[inv.kind]
        keys = {"project": inv.project.code, "client": inv.project.client.name, "legal_entity": inv.legal_entity}
        if inv.kind == "time":
            add(EventType.TIME_APPROVED, inv.number, inv.approved_at, flow, inv.integration,
                **keys)
        elif inv.kind == "milestone":
            add(EventType.MILESTONE_COMPLETED, inv.number, inv.approved_at, flow, inv.integration, inv.amount,
                inv.currency, **keys)
        add(EventType.INVOICE_READY, inv.number, inv.ready_at, flow, inv.integration, inv.amount, inv.currency, **keys)
        add(EventType.INVOICE_POSTED, inv.number, inv.posted_at, flow, inv.integration, inv.amount, inv.currency,
            tax_engine="netsuite-tax-avalara" if inv.legal_entity != "DE01" else "sap-fi-legacy",
            tax_code=inv.lines[0][2] if inv.lines else "", **keys)
        paid = payment_at(inv)
        add(EventType.PAYMENT_RECEIVED, inv.number, paid, "collections", "netsuite-payments-to-sfdc", inv.amount,
            inv.currency, **keys)
    for deal in story.deals:
        add(EventType.CLOSED_WON, deal.key, deal.won_at, "project-setup", "sfdc-to-psa-project", deal.amount,
            deal.currency, client=deal.client.name)
        add(EventType.PROJECT_ACTIVATED, deal.key, deal.activated_at, "project-setup", "sfdc-to-psa-project",
            client=deal.client.name)
    for close in month_closes(story.now):
        month_end = close.replace(day=1) - dt.timedelta(days=1)
        for code, entity in LEGAL_ENTITIES.items():
            revenue = sum((i.amount for i in story.invoices if i.legal_entity == code and i.posted_at
                           and (i.posted_at.year, i.posted_at.month) == (month_end.year, month_end.month)), Decimal("0"))
            if revenue:
                add(EventType.REVENUE_POSTED, f"REV-{code}-{month_end:%Y%m}", close, "period-close",
                    "psa-revenue-to-netsuite", revenue, entity.currency, legal_entity=code)
    return items


def _reconciliations(story, integrations, entities):
    """(integration, entity, week start, source count, mismatched, source amount, mismatched amount, sample)."""
    books = estate()
    open_failures = [f for f in story.failures if f.is_open]
    rows = []
    for weeks_back in range(1, WEEKS + 1):
        start = week_start(story.now, weeks_back)
        end = start + dt.timedelta(days=7)

        def held(integration, since=start, until=end):
            return [f for f in open_failures if f.integration == integration and since <= f.seen_at < until]

        for integration in ("psa-time-to-netsuite", "psa-time-to-sap", "psa-milestones-to-netsuite"):
            carried = [i for i in story.invoices if i.integration == integration and i.ready_at
                       and start <= i.ready_at < end]
            if not carried:
                continue
            failed = held(integration)
            rows.append((integration, "invoice", start, len(carried), len(failed),
                         sum((i.amount for i in carried), Decimal("0")), sum((f.amount for f in failed), Decimal("0")),
                         [f.business_keys.get("invoice_number", f.key) for f in failed][:5]))
        failed = held("sfdc-to-psa-client")
        rows.append(("sfdc-to-psa-client", "client", start, len(books.clients), len(failed), None, None,
                     [f.business_keys["client"] for f in failed][:5]))
        # Rate cards: 7 roles x 3 entities; the roles missed in the pricing change stay mismatched until fixed.
        stale = [f for f in open_failures if f.error_code == "RATE_CARD_MISMATCH" and f.seen_at < end]
        rows.append(("sfdc-rate-cards-to-psa", "rate-card", start, 21, len(stale), None, None,
                     [f"{f.business_keys['rate_card']} / {f.business_keys['role']}" for f in stale][:5]))
    return [r for r in rows if r[0] in integrations and r[1] in entities]


def load(stdout):
    demo_fx.seed_rates(stdout)
    story = scenario.build()
    integrations = {i.slug: i for i in Integration.objects.all()}
    workflows = {w.slug: w for w in Workflow.objects.all()}
    items = _events(story, integrations, workflows)
    known = set(BusinessEvent.objects.filter(event_id__startswith="demo-").values_list("event_id", flat=True))
    fresh = [BusinessEvent(**i) for i in items if i["event_id"] not in known]
    BusinessEvent.objects.bulk_create(fresh, batch_size=1000)
    services.close_ready_invoices(keys={e.correlation_key for e in fresh})

    entities = {e.slug: e for e in CanonicalEntity.objects.all()}
    recons = []
    for slug, entity, start, count, mismatched, amount, missing, sample in _reconciliations(story, integrations, entities):
        if Reconciliation.objects.filter(integration=integrations[slug], entity=entities[entity],
                                         period_start=start.date()).exists():
            continue
        recons.append(Reconciliation(
            integration=integrations[slug], entity=entities[entity], period_start=start.date(),
            period_end=(start + dt.timedelta(days=6)).date(), source_count=count, target_count=count - mismatched,
            mismatched_count=mismatched, source_amount=amount,
            target_amount=None if amount is None else amount - missing, mismatched_sample=sample))
    Reconciliation.objects.bulk_create(recons)
    for key, (target, tolerance) in TARGETS.items():
        if not KpiTarget.objects.filter(key=key).exists():
            services.set_target(actor=None, key=key, target=target, tolerance_pct=tolerance)
    today = story.now.date()
    count = 0
    if fresh or recons:  # daily figures for the last five weeks, weekly and monthly for all of it
        count = services.backfill(first=today - dt.timedelta(days=DAILY_DAYS), last=today, periods=(Period.DAY,))
        count += services.backfill(first=today - dt.timedelta(weeks=WEEKS), last=today,
                                   periods=(Period.WEEK, Period.MONTH))
    from stewardship.services import refresh_observed_writers  # who wrote what, now that events exist

    writers = refresh_observed_writers(actor=None, now=story.now)
    stdout.write(f"Observed writers: {writers} (system, entity, integration) rows from events, runs and exceptions.")
    stdout.write(f"KPIs: {BusinessEvent.objects.count()} events ({len(fresh)} new), {Reconciliation.objects.count()} "
                 f"reconciliations ({len(recons)} new), {count} snapshots computed.")
