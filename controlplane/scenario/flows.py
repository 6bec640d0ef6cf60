"""Fourteen weeks of Northbridge Partners' business, as the events middleware reports.

The weekly rhythm: consultants submit timesheets on Friday, managers approve them on
Monday morning, the approved time reaches NetSuite (or SAP for DE01) within an hour or
two as invoice lines, the Tuesday billing run makes the invoice ready, and billing
operations post it between Tuesday and Thursday (AvaTax calculates tax at posting).
Fixed-fee projects bill milestones when the client signs a phase off; retainers bill on
the first Monday of the month from Zuora. New work arrives as closed-won opportunities a
few a week and is activated as a Certinia project a few days later. Clients pay 30 to 45
days after posting. Each month closes on its third working day with revenue posted.

Invoices hit by a failure (see ``failures``) are not posted until their exception is
resolved, so the invoice-ready backlog and the exception queues tell the same story.
"""

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from .story import SEED, WEEKS, day_rate, estate, invoice_number, week_start


@dataclass
class Invoice:
    number: str
    project: object  # story.Project
    kind: str  # "time", "milestone", "retainer"
    integration: str  # slug of the integration that carries it to the ledger
    approved_at: dt.datetime  # time approved / milestone completed / bill run
    ready_at: dt.datetime
    posted_at: dt.datetime | None  # None: still in the backlog
    lines: list = field(default_factory=list)  # [(description, Decimal amount, tax code)]
    failure: str = ""  # error code of the exception that held it, if any

    @property
    def amount(self) -> Decimal:
        return sum((a for _d, a, _t in self.lines), Decimal("0"))

    @property
    def currency(self) -> str:
        return self.project.currency

    @property
    def legal_entity(self) -> str:
        return self.project.client.legal_entity

    def payload(self, *, tax_code=None, number=None, po_number=None, lines=True) -> dict:
        """The canonical Invoice document (the approved Invoice schema) for this invoice."""
        doc = {
            "number": number or self.number,
            "clientId": self.project.client.id,
            "legalEntity": self.legal_entity,
            "currency": self.currency,
            "dueDate": (self.ready_at + dt.timedelta(days=30)).date().isoformat(),
            "memo": f"{self.project.name} ({self.project.code})",
            "lines": [
                {"description": d, "amount": float(a), "taxCode": tax_code or t, "projectCode": self.project.code}
                for d, a, t in self.lines
            ] if lines else [],
        }
        po = po_number if po_number is not None else self.project.po_number
        if po:
            doc["poNumber"] = po
        return doc


@dataclass
class Deal:
    key: str  # the opportunity id
    client: object
    amount: Decimal
    currency: str
    won_at: dt.datetime
    activated_at: dt.datetime | None


def _at(day: dt.datetime, hours: float) -> dt.datetime:
    return day + dt.timedelta(hours=hours)


def _ledger_integration(legal_entity: str, kind: str) -> str:
    if kind == "retainer":
        return "zuora-invoices-to-netsuite"
    if legal_entity == "DE01":
        return "psa-time-to-sap"
    return "psa-milestones-to-netsuite" if kind == "milestone" else "psa-time-to-netsuite"


def simulate(now: dt.datetime):
    """(invoices, deals) for the 14 weeks before ``now``; nothing dated after ``now``."""
    rng = random.Random(SEED + 1)
    books = estate()
    invoices, deals = [], []
    sequence = {"UK01": 4_100, "US01": 7_300, "DE01": 2_200}

    def number(le):
        sequence[le] += 1
        return invoice_number(le, sequence[le])

    for weeks_back in range(WEEKS, -1, -1):
        monday = week_start(now, weeks_back)
        week_index = WEEKS - weeks_back
        for project in books.projects:
            le = project.client.legal_entity
            if project.billing_type == "T&M":
                approved = _at(monday, 8.5 + rng.uniform(0, 4))
                lines = []
                for consultant in project.consultants:
                    hours = rng.choice([16, 24, 32, 36, 40])
                    amount = (day_rate(le, consultant.role) * Decimal(hours) / 8).quantize(Decimal("0.01"))
                    lines.append((f"{consultant.role}, {consultant.name}: {hours} h, week of {monday:%d %b}",
                                  amount, project.client.entity.tax_codes[0]))
                ready = _at(approved, rng.lognormvariate(2.6, 0.35))  # ~14 h: the Tuesday billing run
                posted = _at(ready, rng.lognormvariate(3.0, 0.5))  # ~20 h of review, mostly Tue-Thu
                invoices.append(Invoice(number(le), project, "time", _ledger_integration(le, "time"), approved, ready,
                                        posted, lines))
            elif project.billing_type == "retainer" and monday.day <= 7:
                bill_run = _at(monday, 5)
                fee = (day_rate(le, "Manager") * 8).quantize(Decimal("1"))
                invoices.append(Invoice(number(le), project, "retainer", _ledger_integration(le, "retainer"),
                                        bill_run, _at(bill_run, 0.5), _at(bill_run, rng.uniform(1, 6)),
                                        [(f"Managed service retainer, {monday:%B %Y}", fee,
                                          project.client.entity.tax_codes[0])]))
            for name, amount, due_week in project.milestones:
                if due_week == week_index:
                    done = _at(monday, 24 * rng.randint(0, 4) + rng.uniform(9, 17))
                    ready = _at(done, rng.uniform(2, 8))
                    posted = _at(ready, 24 * rng.lognormvariate(0.2, 0.6))
                    invoices.append(Invoice(number(le), project, "milestone", _ledger_integration(le, "milestone"),
                                            done, ready, posted, [(f"{name}, {project.name}", Decimal(amount),
                                                                   project.client.entity.tax_codes[0])]))
        for n in range(rng.choice([2, 3, 3, 4])):
            client = rng.choice(books.clients)
            won = _at(monday, 24 * rng.randint(0, 4) + rng.uniform(10, 18))
            amount = Decimal(rng.choice([80, 120, 150, 220, 340, 480])) * 1000
            deals.append(Deal(f"OPP-{week_index:02d}{n}{client.id[-3:]}", client, amount, client.entity.currency, won,
                              _at(won, 24 * rng.lognormvariate(1.0, 0.45))))
    invoices = [i for i in invoices if i.approved_at <= now]
    for invoice in invoices:
        if invoice.ready_at > now:
            invoice.ready_at = None
            invoice.posted_at = None
        elif invoice.posted_at and invoice.posted_at > now:
            invoice.posted_at = None
    for deal in deals:
        if deal.activated_at and deal.activated_at > now:
            deal.activated_at = None
    return [i for i in invoices if i.ready_at is not None or i.approved_at <= now], [d for d in deals if d.won_at <= now]


def payment_at(invoice: Invoice) -> dt.datetime | None:
    """When the client paid: 30 to 45 days after posting, later for public sector."""
    if invoice.posted_at is None:
        return None
    rng = random.Random(invoice.number)
    days = rng.uniform(30, 45) + (12 if invoice.project.client.segment == "public-sector" else 0)
    return invoice.posted_at + dt.timedelta(days=days)


def month_closes(now: dt.datetime) -> list[dt.datetime]:
    """The close of each month in the history: its third working day, 17:00 UTC."""
    first = week_start(now, WEEKS).date().replace(day=1)
    closes = []
    month = first
    while True:
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        day, working = month, 0
        while True:
            if day.weekday() < 5:
                working += 1
                if working == 3:
                    break
            day += dt.timedelta(days=1)
        at = dt.datetime.combine(day, dt.time(17), tzinfo=dt.UTC)
        if at > now:
            return closes
        closes.append(at)
