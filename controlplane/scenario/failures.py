"""The business exceptions Northbridge's flows raised, the way they happen.

Each error code belongs to the integrations that can raise it (``CODES``); its message
quotes the payload, and where the message is a schema violation the payload violates the
approved schema exactly there, while ``correction`` is what a finance user would change
(and validates). The stories:

- **The UK tax-code change** (Tuesday of last week): NetSuite renamed UK standard VAT from
  ``GB-VAT20`` to ``GB-S20``; the nightly tax-code feed to Certinia failed, so every UK
  invoice released until Thursday evening carried the retired code and bounced. Some were
  corrected and replayed; the rest wait in Billing, overdue: most of the overdue items.
- **SAP gateway outage** (this morning): the legacy EMEA ledger's RFC gateway stopped
  answering, so DE01 invoices time out; Integration Platform owns them.
- **The 2026 pricing change** (Friday before last): rate cards were raised in Salesforce and
  a few roles were missed in Certinia.
- The everyday trickle: a PO number pasted with its description, Zuora's invoice-number
  template without the hyphen, a milestone released with no lines, a country spelled out,
  a timesheet from the mobile app without a project or with a week on one day, a closed
  period at month end, supplier invoices failing the 3-way match.
"""

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from .flows import Invoice
from .story import (
    LEGAL_ENTITIES,
    RETIRED_UK_TAX_CODE,
    SEED,
    WEEKS,
    day_rate,
    estate,
    tax_change_day,
    week_start,
)

# error code -> (integrations that can raise it, canonical entity, queue)
CODES = {
    "TAX_CODE_INVALID": (("psa-time-to-netsuite", "netsuite-tax-avalara"), "invoice", "Billing"),
    "PO_NUMBER_TOO_LONG": (("psa-time-to-netsuite", "psa-milestones-to-netsuite"), "invoice", "Billing"),
    "INVOICE_NUMBER_FORMAT": (("zuora-invoices-to-netsuite",), "invoice", "Billing"),
    "MILESTONE_NO_LINES": (("psa-milestones-to-netsuite",), "invoice", "Billing"),
    "ERP_PERIOD_CLOSED": (("psa-revenue-to-netsuite",), "revenue-schedule", "Billing"),
    "CLIENT_COUNTRY_INVALID": (("sfdc-to-psa-client", "sfdc-to-netsuite-customer"), "client", "Master Data"),
    "RATE_CARD_MISMATCH": (("sfdc-rate-cards-to-psa",), "rate-card", "Master Data"),
    "TIME_NO_PROJECT": (("mobile-time-to-psa",), "time-entry", "PMO"),
    "TIME_HOURS_OVER_LIMIT": (("mobile-time-to-psa",), "time-entry", "PMO"),
    "THREE_WAY_MATCH_FAILED": (("coupa-invoices-to-netsuite",), "purchase-order", "Procure-to-Pay"),
    "SAP_RFC_TIMEOUT": (("psa-time-to-sap",), "invoice", "Integration Ops"),
    "WORKDAY_RAAS_UNAVAILABLE": (("workday-workers-to-psa",), "resource", "Integration Ops"),
}

# name, owning team, description, target hours (critical, high, medium, low), raise when overdue
QUEUES = [
    ("Billing", "finance-systems", "Invoices and journals the ledger refused: tax codes, PO numbers, numbering, "
     "closed periods.", (4, 24, 48, 120), True),
    ("Master Data", "revenue-operations", "Clients and rate cards that disagree between Salesforce, Certinia, "
     "NetSuite and Zuora.", (8, 24, 72, 168), False),
    ("PMO", "delivery-systems", "Timesheets and contracts Certinia could not accept.", (8, 48, 96, 240), False),
    ("Procure-to-Pay", "procurement-systems", "Supplier invoices that failed the 3-way match.", (8, 48, 96, 240), False),
    ("Integration Ops", "integration-platform", "Technical failures, SLA breaches and anything no rule claimed.",
     (2, 8, 24, 72), True),
]
SUPPLIERS = ["Castell IT Services", "Meridian Office Supplies", "Blackfriars Legal LLP", "Trave Cloud Hosting GmbH",
             "Summit Travel Management"]


@dataclass
class Failure:
    """One demo exception: what middleware posted, and what has happened to it since."""

    key: str  # stable: the demo fingerprint is "demo:<key>"
    integration: str
    entity: str
    error_code: str
    message: str
    severity: str
    business_keys: dict
    amount: Decimal
    currency: str
    payload: dict | None
    seen_at: dt.datetime
    correction: dict | None = None  # the payload a finance user would replay
    occurrences: int = 1
    status: str = "new"  # new, acknowledged, in_progress; or resolved / dismissed
    closed_at: dt.datetime | None = None
    resolution: str = ""
    note: str = ""
    assignee: str = ""  # demo username
    comment: str = ""
    failed_replay: dict | None = None  # an earlier replay the target refused: {"status", "body"}
    original_payload: dict | None = None  # as first received, when the payload was edited since
    invoice: Invoice | None = field(default=None, repr=False)

    @property
    def queue(self) -> str:
        return CODES[self.error_code][2]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


def _keys(invoice: Invoice, **extra) -> dict:
    keys = {"invoice_number": invoice.number, "project_code": invoice.project.code,
            "client": invoice.project.client.name, "legal_entity": invoice.legal_entity}
    if invoice.project.contract:
        keys["contract"] = invoice.project.contract.code
    return {**keys, **extra}


def _invoice_failure(code, invoice, *, integration, message, payload, correction, severity, seen_at, key=None):
    return Failure(key=key or f"{code.lower()}:{invoice.number}", integration=integration, entity="invoice",
                   error_code=code, message=message, severity=severity, business_keys=_keys(invoice),
                   amount=invoice.amount, currency=invoice.currency, payload=payload, correction=correction,
                   seen_at=seen_at, invoice=invoice)


# A routine failure is open while it is fresh (seen in the last FRESH hours: not picked up
# yet) or its resolution still lies ahead, but never past WITHIN of its queue's target: the
# teams work routine failures within target, so whatever the day and hour the demo is
# loaded, the only overdue items are the story's own (the UK tax-code change, the rate cards).
FRESH = dt.timedelta(hours=20)
WITHIN = 0.9


def target(queue: str, severity: str) -> dt.timedelta:
    hours = next(q[3] for q in QUEUES if q[0] == queue)
    return dt.timedelta(hours=hours[("critical", "high", "medium", "low").index(severity)])


def _close(failure, rng, *, now, hours, resolution="replayed", note=""):
    """Resolved ``hours`` after it was seen, unless it is still open (see FRESH); one that
    would otherwise outlive its queue's target was resolved in the last hour instead."""
    age, limit = now - failure.seen_at, target(failure.queue, failure.severity) * WITHIN
    closed = failure.seen_at + dt.timedelta(hours=hours)
    if closed.weekday() >= 5:  # nobody works the queues at the weekend: Monday morning
        closed = (closed + dt.timedelta(days=7 - closed.weekday())).replace(hour=9) + dt.timedelta(minutes=rng.randint(0, 180))
    if age < limit and (age < FRESH or closed >= now):
        return failure
    if closed >= now:
        closed = now - dt.timedelta(minutes=rng.randint(5, 60))
    failure.status = "dismissed" if resolution in ("duplicate", "not_an_error") else "resolved"
    failure.closed_at, failure.resolution = closed, resolution
    failure.note = note or {"replayed": "Corrected and replayed.", "fixed_at_source": "Fixed in the source system."}.get(resolution, "")
    if failure.invoice is not None and failure.invoice.posted_at is not None:
        failure.invoice.posted_at = max(failure.invoice.posted_at, closed + dt.timedelta(minutes=rng.randint(5, 90)))
    return failure


def _hold(failure):
    """An open failure holds its invoice back: ready, never posted."""
    if failure.is_open and failure.invoice is not None:
        failure.invoice.posted_at = None
        failure.invoice.failure = failure.error_code
    return failure


def _tax_story(invoices, now, rng):
    change = tax_change_day(now)
    fixed = change + dt.timedelta(days=3)  # Thursday 18:00: the feed re-run with the new codes
    hit = [i for i in invoices if i.legal_entity == "UK01" and i.ready_at and change <= i.ready_at < fixed
           and i.kind in ("time", "milestone")]
    out = []
    for n, invoice in enumerate(hit):
        integration = "psa-time-to-netsuite" if invoice.kind == "time" else "netsuite-tax-avalara"
        lines = len(invoice.lines)
        message = (f"$.lines[*].taxCode: '{RETIRED_UK_TAX_CODE}' is not an approved tax code for UK01 "
                   f"({'all ' if lines > 1 else ''}{lines} line{'s' if lines != 1 else ''}; retired in NetSuite on "
                   f"{change:%a %d %b}, UK standard rate is now GB-S20)")
        failure = _invoice_failure(
            "TAX_CODE_INVALID", invoice, integration=integration, message=message,
            payload=invoice.payload(tax_code=RETIRED_UK_TAX_CODE), correction=invoice.payload(tax_code="GB-S20"),
            severity="high", seen_at=invoice.ready_at + dt.timedelta(minutes=rng.randint(1, 4)))
        failure.assignee = "finance"  # the routing rule gives UK tax codes to Fran
        if n % 5 in (0, 3):  # the first ones Fran corrected on Wednesday and Thursday
            _close(failure, rng, now=now, hours=rng.uniform(20, 50))
        elif n % 5 == 1:
            failure.status = "in_progress"
            failure.comment = ("@finance NetSuite confirmed GB-S20 is the new UK standard rate; "
                               "correcting the remaining invoices line by line.")
        else:
            failure.status = "acknowledged"
        out.append(_hold(failure))
    return out


def _sap_outage(invoices, now, rng):
    since = now - dt.timedelta(hours=3, minutes=20)
    out = []
    # The four latest DE01 time invoices, whatever the day: their postings (or the re-posting
    # of a correction) went to SAP during the outage. Limited to the last two days, the story
    # had no SAP failure from Thursday morning to Tuesday (the billing run is on Tuesdays).
    for invoice in [i for i in invoices if i.legal_entity == "DE01" and i.kind == "time" and i.ready_at][-4:]:
        seen = max(since + dt.timedelta(minutes=7 * (len(out) + 1)), invoice.ready_at)
        if seen > now:
            continue
        failure = _invoice_failure(
            "SAP_RFC_TIMEOUT", invoice, integration="psa-time-to-sap",
            message=f"SAP RFC BAPI_ACC_DOCUMENT_POST for {invoice.number} timed out after 30 s "
                    "(gateway sapgw00 on sap-fi-prd-01 not answering)",
            payload=invoice.payload(), correction=invoice.payload(), severity="high", seen_at=seen)
        failure.occurrences = 1 + len(out) % 3
        out.append(_hold(failure))
    return out


def _first_unfailed(week, kind, chance, rng):
    """The week's first invoice of ``kind`` that has not failed yet, failing with ``chance``."""
    for invoice in [i for i in week if i.kind == kind and not i.failure][:1]:
        if rng.random() < chance:
            return invoice
    return None


def _held_until_fixed(failure, invoice, rng, *, now, mu):
    """The weekly trickle's failure: closed after a log-normal number of hours (median
    e**mu), holding its invoice back while open; the invoice is marked as failed."""
    invoice.failure = failure.error_code
    return _hold(_close(failure, rng, now=now, hours=rng.lognormvariate(mu, 0.5)))


def _weekly_trickle(invoices, now, rng):
    """A handful of failures a week over the whole history, mostly resolved in hours."""
    books = estate()
    out = []
    by_week = {}
    for invoice in invoices:
        if invoice.ready_at is not None:
            by_week.setdefault((now - invoice.ready_at).days // 7, []).append(invoice)
    pricing_change = week_start(now, 2) + dt.timedelta(days=4, hours=9)  # Friday before last
    for weeks_back in range(WEEKS, -1, -1):
        monday = week_start(now, weeks_back)
        week = sorted(by_week.get(weeks_back, []), key=lambda i: i.number)
        # The first billing run after month end is the month's heaviest: this week's share.
        for _pass in range(3 if weeks_back == 0 else 1):
            long_po = [i for i in week if i.project.po_number and i.kind in ("time", "milestone")
                       and i.legal_entity != "DE01" and not i.failure]
            for invoice in rng.sample(long_po, min(len(long_po), rng.choice([1, 2, 2, 3]))):
                pasted = f"{invoice.project.po_number} {invoice.project.client.name} SOW amendment 2"
                integration = "psa-time-to-netsuite" if invoice.kind == "time" else "psa-milestones-to-netsuite"
                failure = _invoice_failure(
                    "PO_NUMBER_TOO_LONG", invoice, integration=integration,
                    message=f"$.poNumber: '{pasted}' is longer than 40 characters (NetSuite otherrefnum limit)",
                    payload=invoice.payload(po_number=pasted), correction=invoice.payload(), severity="medium",
                    seen_at=invoice.ready_at + dt.timedelta(minutes=2))
                out.append(_held_until_fixed(failure, invoice, rng, now=now, mu=3.0))
            invoice = _first_unfailed(week, "retainer", 0.5, rng)
            if invoice:
                zuora_number = "INV" + invoice.number.split("-")[1].rjust(8, "0")
                failure = _invoice_failure(
                    "INVOICE_NUMBER_FORMAT", invoice, integration="zuora-invoices-to-netsuite",
                    message=f"$.number: '{zuora_number}' does not match '^INV-[0-9]+$' "
                            "(Zuora's invoice template drops the hyphen NetSuite expects)",
                    payload=invoice.payload(number=zuora_number), correction=invoice.payload(), severity="medium",
                    seen_at=invoice.ready_at + dt.timedelta(minutes=1))
                out.append(_held_until_fixed(failure, invoice, rng, now=now, mu=2.2))
            invoice = _first_unfailed(week, "milestone", 0.35, rng)
            if invoice:
                failure = _invoice_failure(
                    "MILESTONE_NO_LINES", invoice, integration="psa-milestones-to-netsuite",
                    message=f"$.lines: [] should be non-empty (milestone released from {invoice.project.code} "
                            "with no billable lines)",
                    payload=invoice.payload(lines=False), correction=invoice.payload(), severity="high",
                    seen_at=invoice.ready_at + dt.timedelta(minutes=3))
                out.append(_held_until_fixed(failure, invoice, rng, now=now, mu=1.6))
            # Master data: a country spelled out on a client changed in Salesforce.
            for _n in range(rng.choice([0, 1, 1, 2])):
                client = rng.choice(books.clients)
                country = {"GB": "United Kingdom", "US": "United States", "DE": "Germany"}[client.entity.country]
                integration = rng.choice(CODES["CLIENT_COUNTRY_INVALID"][0])
                seen = monday + dt.timedelta(days=rng.randint(0, 4), hours=rng.uniform(9, 17))
                if seen < now:
                    doc = {"id": client.id, "name": client.name, "billingCountry": country, "segment": client.segment}
                    failure = Failure(
                        key=f"client_country_invalid:{client.id}:{weeks_back}", integration=integration, entity="client",
                        error_code="CLIENT_COUNTRY_INVALID",
                        message=f"$.billingCountry: '{country}' is longer than 2 characters (ISO 3166 code expected, "
                                f"e.g. '{client.entity.country}')",
                        severity="medium", business_keys={"client": client.name, "legal_entity": client.legal_entity},
                        amount=Decimal("0"), currency=client.entity.currency, payload=doc,
                        correction={**doc, "billingCountry": client.entity.country}, seen_at=seen)
                    out.append(_close(failure, rng, now=now, hours=rng.lognormvariate(3.3, 0.6)))
            # Timesheets from the mobile app.
            for code in ("TIME_NO_PROJECT", "TIME_NO_PROJECT", "TIME_HOURS_OVER_LIMIT"):
                if rng.random() < (0.8 if code == "TIME_NO_PROJECT" else 0.4):
                    project = rng.choice(books.projects)
                    consultant = rng.choice(project.consultants)
                    seen = monday + dt.timedelta(days=rng.choice([-3, 0, 1, 2, 3]), hours=rng.uniform(9, 20))
                    if seen >= now:
                        continue
                    day = (seen - dt.timedelta(days=rng.randint(0, 4))).date().isoformat()
                    entry = {"id": f"TE-{rng.randint(300_000, 399_999)}", "resourceId": consultant.id, "date": day,
                             "hours": 8, "billable": True, "status": "submitted", "projectCode": project.code}
                    at_risk = (day_rate(project.client.legal_entity, consultant.role)).quantize(Decimal("0.01"))
                    if code == "TIME_NO_PROJECT":
                        payload = {k: v for k, v in entry.items() if k != "projectCode"}
                        message = (f"$: 'projectCode' is a required property (timesheet {entry['id']} from the mobile app "
                                   f"for {consultant.name}, {day})")
                    else:
                        payload = {**entry, "hours": 40}
                        message = (f"$.hours: 40 is greater than the maximum of 24 (a week's hours entered on {day} "
                                   f"by {consultant.name})")
                        at_risk *= 5
                    failure = Failure(
                        key=f"{code.lower()}:{entry['id']}", integration="mobile-time-to-psa", entity="time-entry",
                        error_code=code, message=message, severity="low" if code == "TIME_NO_PROJECT" else "medium",
                        business_keys={"project_code": project.code, "client": project.client.name,
                                       "legal_entity": project.client.legal_entity, "timesheet": entry["id"]},
                        amount=at_risk, currency=project.currency, payload=payload, correction=entry, seen_at=seen)
                    out.append(_close(failure, rng, now=now, hours=rng.lognormvariate(3.7, 0.5)))
            # Supplier invoices without a goods receipt.
            for _n in range(rng.choice([1, 1, 2, 3])):
                supplier = rng.choice(SUPPLIERS)
                seen = monday + dt.timedelta(days=rng.randint(0, 4), hours=rng.uniform(8, 18))
                if seen < now:
                    number, po = f"SI-{rng.randint(80_000, 89_999)}", f"PO-71{rng.randint(10_000, 99_999)}"
                    amount = Decimal(rng.randint(1_200, 38_000))
                    le = rng.choice(list(LEGAL_ENTITIES))
                    failure = Failure(
                        key=f"three_way:{number}", integration="coupa-invoices-to-netsuite", entity="purchase-order",
                        error_code="THREE_WAY_MATCH_FAILED",
                        message=f"Supplier invoice {number} from {supplier}: no goods receipt for {po} line 2 "
                                "(3-way match failed)",
                        severity="medium", business_keys={"supplier_invoice": number, "purchase_order": po,
                                                          "supplier": supplier, "legal_entity": le},
                        amount=amount, currency=LEGAL_ENTITIES[le].currency,
                        payload={"supplierInvoice": number, "supplier": supplier, "poNumber": po,
                                 "lines": [{"line": 1, "received": True}, {"line": 2, "received": False}]},
                        seen_at=seen)
                    out.append(_close(failure, rng, now=now, hours=rng.lognormvariate(3.4, 0.5),
                                      resolution="fixed_at_source", note="Receipt entered in Coupa."))
        # Workday's weekend maintenance, Saturday night: resolved by the next run.
        if weeks_back % 3 == 1:
            seen = monday - dt.timedelta(days=2) + dt.timedelta(hours=22)
            if seen < now:
                failure = Failure(
                    key=f"workday_raas:{monday:%Y%m%d}", integration="workday-workers-to-psa", entity="resource",
                    error_code="WORKDAY_RAAS_UNAVAILABLE",
                    message="Workday RaaS report Active_Workers_PSA returned 503 Service Unavailable (tenant "
                            "maintenance window)", severity="low", business_keys={"report": "Active_Workers_PSA"},
                    amount=Decimal("0"), currency="", payload=None, seen_at=seen, occurrences=3)
                out.append(_close(failure, rng, now=now, hours=rng.uniform(2, 6), resolution="fixed_at_source",
                                  note="Next run after the maintenance window succeeded."))
    # The pricing change: three roles missed in Certinia.
    for n, (le, role) in enumerate([("UK01", "Senior Consultant"), ("US01", "Manager"), ("DE01", "Director")]):
        crm = day_rate(le, role) * Decimal("1.06")
        psa = day_rate(le, role)
        booked = Decimal(60 + 25 * n)  # days booked at the old rate since the change
        seen = pricing_change + dt.timedelta(hours=19 + n)
        card = f"RC-{le[:2]}-2026-STD"
        failure = Failure(
            key=f"rate_card:{card}:{role}", integration="sfdc-rate-cards-to-psa", entity="rate-card",
            error_code="RATE_CARD_MISMATCH",
            message=f"Day rate for {role} on {card} differs: Salesforce {LEGAL_ENTITIES[le].currency} "
                    f"{crm:,.2f}, Certinia {LEGAL_ENTITIES[le].currency} {psa:,.2f}",
            severity="high", business_keys={"rate_card": card, "role": role, "legal_entity": le},
            amount=((crm - psa) * booked).quantize(Decimal("0.01")), currency=LEGAL_ENTITIES[le].currency,
            payload={"rateCard": card, "role": role, "salesforceRate": float(crm.quantize(Decimal("0.01"))),
                     "certiniaRate": float(psa), "currency": LEGAL_ENTITIES[le].currency},
            seen_at=seen)
        if n == 0:
            _close(failure, rng, now=now, hours=30, resolution="fixed_at_source",
                   note="Rate updated in Certinia; 14 timecards re-priced.")
        else:
            failure.status = "acknowledged"
        out.append(failure)
    return out


def _period_close(now, rng):
    """A revenue journal that arrived after last month's close, per legal entity."""
    from .flows import month_closes

    out = []
    closes = month_closes(now)
    for m, close in enumerate(closes):
        for le in ("US01", "UK01"):
            if (m + len(le)) % 2:
                continue
            seen = close + dt.timedelta(hours=2, minutes=m * 7)
            if seen >= now:
                continue
            period = (close.replace(day=1) - dt.timedelta(days=1)).strftime("%b %Y")
            journal = f"JE-{le}-{close:%y%m}-{rng.randint(100, 999)}"
            amount = Decimal(rng.randint(8_000, 60_000))
            failure = Failure(
                key=f"period_closed:{journal}", integration="psa-revenue-to-netsuite", entity="revenue-schedule",
                error_code="ERP_PERIOD_CLOSED",
                message=f"NetSuite rejected revenue journal {journal}: posting period {period} is closed for "
                        f"{LEGAL_ENTITIES[le].name} ({le})",
                severity="medium", business_keys={"journal": journal, "legal_entity": le, "period": period},
                amount=amount, currency=LEGAL_ENTITIES[le].currency,
                payload={"journal": journal, "legalEntity": le, "postingPeriod": period, "amount": float(amount)},
                seen_at=seen)
            out.append(_close(failure, rng, now=now, hours=rng.uniform(18, 40), resolution="fixed_at_source",
                              note="Posted to the next open period with the controller's approval."))
    return out


def generate(invoices, now):
    """Every demo failure, oldest first. Mutates the invoices they held back."""
    rng = random.Random(SEED + 2)
    failures = _tax_story(invoices, now, rng)
    failures += _sap_outage(invoices, now, rng)
    failures += _weekly_trickle(invoices, now, rng)
    failures += _period_close(now, rng)
    failures.sort(key=lambda f: (f.seen_at, f.key))
    # One UK invoice Fran already corrected and replayed yesterday while NetSuite was in a
    # maintenance window: refused with a 503, so it shows "Replay failed" with a retry
    # button. From the tax story, which every load has whatever the day (last week's).
    for failure in reversed(failures):
        if (failure.error_code == "TAX_CODE_INVALID" and failure.is_open
                and failure.integration == "psa-time-to-netsuite"):
            failure.original_payload, failure.payload = failure.payload, failure.correction
            failure.status, failure.assignee = "in_progress", "finance"
            failure.failed_replay = {"status": 503, "body": (
                '{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4","title":"Service Unavailable",'
                '"status":503,"o:errorDetails":[{"detail":"NetSuite is unavailable during scheduled maintenance.",'
                '"o:errorCode":"SERVICE_UNAVAILABLE"}]}')}
            break
    seen = set()
    unique = []
    for failure in failures:  # one failure per key (a key repeating is one exception seen again)
        if failure.key not in seen:
            seen.add(failure.key)
            unique.append(failure)
    return unique
