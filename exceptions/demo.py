"""Demo exception queues: four queues, routing rules and ~200 exceptions across the
catalog's integrations. Idempotent: queues and rules by name, exceptions by a demo
fingerprint; skips quietly when the catalog has no integrations."""

import datetime
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import CanonicalEntity, Integration, Team

from .choices import OPEN_STATUSES, Resolution, Status
from .models import BusinessException, Queue, ReplayTarget, RoutingRule

QUEUES = [
    ("Billing", "Invoices blocked by tax codes, rate cards and postings.", (4, 24, 48, 120), True),
    ("Master Data", "Clients, projects and rate cards that disagree between systems.", (8, 24, 72, 168), False),
    ("PMO", "Time and expenses without a project or contract.", (8, 48, 96, 240), False),
    ("Integration Ops", "Technical failures and exceptions no rule claimed.", (2, 8, 24, 72), True),
]
ERRORS = [
    ("TAX_CODE_MISMATCH", "Tax code {tax} is not valid for legal entity {le} in ERP", "Billing"),
    ("ERP_POSTING_REJECTED", "ERP rejected the invoice posting: period closed for {le}", "Billing"),
    ("RATE_CARD_MISMATCH", "Rate card differs between CRM and PSA for client {client}", "Master Data"),
    ("MD_CLIENT_UNKNOWN", "Client {client} does not exist in the billing engine", "Master Data"),
    ("TIME_NO_PROJECT", "Approved time has no project code for {client}", "PMO"),
    ("CONTRACT_EXPIRED", "Contract {contract} expired before the time was approved", "PMO"),
    ("HTTP_502_UPSTREAM", "Upstream ERP returned 502 Bad Gateway", "Integration Ops"),
]
CLIENTS = ["Acme Corp", "Globex", "Initech", "Umbrella plc", "Stark Industries", "Wayne Enterprises", "Hooli"]
LEGAL = [("UK01", "GBP"), ("US01", "USD"), ("DE01", "EUR")]


def load(stdout=None):
    def say(msg):
        if stdout is not None:
            stdout.write(msg)

    integrations = list(Integration.objects.select_related("owner_team").order_by("slug"))
    team = Team.objects.order_by("slug").first()
    if not integrations or team is None:
        say("exceptions: no integrations in the catalog; skipped.")
        return
    queues = {}
    for name, description, hours, escalate in QUEUES:
        queues[name], _ = Queue.objects.update_or_create(
            name=name,
            defaults={"slug": name.lower().replace(" ", "-"), "description": description, "team": team,
                      "target_hours_critical": hours[0], "target_hours_high": hours[1],
                      "target_hours_medium": hours[2], "target_hours_low": hours[3],
                      "raise_severity_when_overdue": escalate},
        )
    finance = get_user_model().objects.filter(username="finance").first()
    rules = [
        (10, "UK tax codes to Billing (Fran)", {"error_code": "TAX_", "error_code_match": "prefix", "business_key": "legal_entity",
                                                "business_value": "UK01", "assignee": finance}, "Billing"),
        (20, "Tax and postings to Billing", {"error_code": "TAX_", "error_code_match": "prefix"}, "Billing"),
        (30, "ERP postings to Billing", {"error_code": "ERP_POSTING_REJECTED"}, "Billing"),
        (40, "Master data to Master Data", {"error_code": "MD_", "error_code_match": "prefix"}, "Master Data"),
        (50, "Rate cards to Master Data", {"error_code": "RATE_CARD_MISMATCH", "raise_severity_to": "high"}, "Master Data"),
        (60, "Time and contracts to PMO", {"error_code": "TIME_", "error_code_match": "prefix"}, "PMO"),
        (70, "Contracts to PMO", {"error_code": "CONTRACT_EXPIRED"}, "PMO"),
    ]
    for position, name, conditions, queue in rules:
        RoutingRule.objects.update_or_create(name=name, defaults={"position": position, "queue": queues[queue], **conditions})
    ReplayTarget.objects.get_or_create(
        integration=integrations[0],
        defaults={"url": "https://replay.example.com/erp/invoices", "secret": "demo-secret-change-me"},
    )
    existing = set(BusinessException.objects.filter(fingerprint__startswith="demo-").values_list("fingerprint", flat=True))
    entities = list(CanonicalEntity.objects.order_by("slug")[:5])
    rng = random.Random(2026)
    now = timezone.now()
    objs = []
    for n in range(200):
        fingerprint = f"demo-{n:04d}"
        if fingerprint in existing:
            continue
        code, template, queue_name = rng.choice(ERRORS)
        le, currency = rng.choice(LEGAL)
        client = rng.choice(CLIENTS)
        invoice = f"INV-2026-{1000 + n:04d}"
        project = f"PRJ-{rng.randint(100, 999)}"
        contract = f"CTR-{le}-{rng.randint(10, 99)}"
        keys = {"invoice_number": invoice, "project_code": project, "client": client, "legal_entity": le, "contract": contract}
        severity = rng.choices(["critical", "high", "medium", "low"], weights=[1, 3, 5, 2])[0]
        queue = queues[queue_name]
        first = now - datetime.timedelta(hours=rng.randint(1, 24 * 20))
        occurrences = rng.choice([1, 1, 1, 2, 3, 7])
        last = min(now, first + datetime.timedelta(hours=rng.randint(0, 48)))
        status = rng.choices([Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED, Status.DISMISSED],
                             weights=[5, 2, 2, 3, 1])[0]
        due = first + datetime.timedelta(hours=queue.target_hours(severity))
        resolved = status in (Status.RESOLVED, Status.DISMISSED)
        objs.append(BusinessException(
            integration=rng.choice(integrations), entity=rng.choice(entities) if entities else None, error_code=code,
            message=template.format(tax=rng.choice(["V7", "S1", "Z0"]), le=le, client=client, contract=contract),
            severity=severity, reported_severity=severity, status=status, queue=queue,
            assignee=finance if status in (Status.ACKNOWLEDGED, Status.IN_PROGRESS) else None,
            business_keys=keys, amount_at_risk=Decimal(rng.randint(200, 250_000)), currency=currency,
            correlation_id=f"corr-{n:05d}", fingerprint=fingerprint, occurrences=occurrences,
            first_seen=first, last_seen=last, due_at=due, is_overdue=status in OPEN_STATUSES and due < now,
            resolved_at=last if resolved else None,
            resolution_code=(rng.choice([Resolution.FIXED_AT_SOURCE, Resolution.REPLAYED]) if status == Status.RESOLVED
                             else Resolution.NOT_AN_ERROR if resolved else ""),
            payload={"invoice": invoice, "legal_entity": le, "currency": currency, "client": client,
                     "lines": [{"project": project, "hours": rng.randint(1, 40), "tax_code": rng.choice(["V7", "S1"])}]},
            **keys,
        ))
    BusinessException.objects.bulk_create(objs)
    say(f"exceptions: {len(queues)} queues, {len(rules)} rules, {len(objs)} new demo exceptions.")
