"""Demo exception queues from the scenario (controlplane/scenario/failures.py): five queues
owned by the teams that work them, routing rules per error code, replay targets on the
simulated ERP/PSA endpoints, and the exceptions Northbridge's flows raised over 14 weeks.

Open exceptions go through ``services.ingest`` (routing, due times) and the lifecycle
services (acknowledge, assign, start, comment) like real ones; the closed history is
bulk-inserted with its real timestamps. Idempotent: queues and rules by name, targets by
integration, exceptions by their demo fingerprint ``demo:<key>`` whatever their status, so
nothing a user resolved or dismissed comes back on a second load."""

import datetime as dt
import uuid

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import CanonicalEntity, Integration, Team
from controlplane import scenario
from controlplane.scenario.failures import CODES, QUEUES
from controlplane.scenario.receiver import secret_for

from . import services
from .choices import INDEXED_BUSINESS_KEYS, Status
from .models import BusinessException, Queue, ReplayAttempt, ReplayTarget, RoutingRule

# integration slug -> (receiver system, resource): where its corrected payloads are replayed
REPLAY_TARGETS = {
    "psa-time-to-netsuite": ("netsuite", "invoices"),
    "psa-milestones-to-netsuite": ("netsuite", "invoices"),
    "netsuite-tax-avalara": ("netsuite", "invoices"),
    "zuora-invoices-to-netsuite": ("netsuite", "invoices"),
    "sfdc-to-netsuite-customer": ("netsuite", "customers"),
    "sfdc-to-psa-client": ("certinia", "clients"),
    "mobile-time-to-psa": ("certinia", "time-entries"),
    "psa-time-to-sap": ("sap", "invoices"),
}
FINGERPRINT = "demo:{}"


def base_url() -> str:
    """Where the demo web server listens (``make demo`` exports HOST and PORT)."""
    import os

    return os.environ.get("DEMO_BASE_URL") or f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"


def _queues(teams):
    queues = {}
    for name, team_slug, description, hours, escalate in QUEUES:
        data = {"name": name, "team": teams[team_slug], "description": description,
                "target_hours_critical": hours[0], "target_hours_high": hours[1], "target_hours_medium": hours[2],
                "target_hours_low": hours[3], "raise_severity_when_overdue": escalate}
        queue = Queue.objects.filter(name=name).first()
        if queue is None or any(getattr(queue, k) != v for k, v in data.items()):
            queue = services.save_queue(actor=None, data=data, queue=queue)
        queues[name] = queue
    return queues


def _rules(queues, finance):
    rules = [(10, "UK tax codes to Billing (Fran)", {"error_code": "TAX_CODE_INVALID", "business_key": "legal_entity",
                                                     "business_value": "UK01", "assignee": finance}, "Billing")]
    for position, (code, (_integrations, _entity, queue)) in enumerate(sorted(CODES.items()), start=2):
        extra = {"raise_severity_to": "high"} if code == "RATE_CARD_MISMATCH" else {}
        rules.append((position * 10, f"{code.replace('_', ' ').capitalize()} to {queue}", {"error_code": code, **extra},
                      queue))
    for position, name, conditions, queue in rules:
        data = {"position": position, "name": name, "queue": queues[queue], "error_code_match": "exact", **conditions}
        rule = RoutingRule.objects.filter(name=name).first()
        if rule is None or any(getattr(rule, k) != v for k, v in data.items()):
            services.save_routing_rule(actor=None, data=data, rule=rule)
    return len(rules)


def _replay_targets(integrations):
    base = base_url().rstrip("/")
    made = 0
    for slug, (system, resource) in REPLAY_TARGETS.items():
        if slug not in integrations:
            continue
        url = f"{base}/demo/{system}/{resource}"
        target = ReplayTarget.objects.filter(integration=integrations[slug]).first()
        if target is None:
            ReplayTarget.objects.create(integration=integrations[slug], url=url, secret=secret_for(system))
        elif target.url != url:  # the demo moved to another HOST/PORT
            ReplayTarget.objects.filter(pk=target.pk).update(url=url)
        made += 1
    return made


def _indexed(keys):
    return {k: str(keys.get(k, ""))[:50 if k == "legal_entity" else 100] for k in INDEXED_BUSINESS_KEYS}


def _history(failures, integrations, entities, queues):
    """Closed exceptions, inserted with the times they really had."""
    rows = []
    for f in failures:
        queue = queues[f.queue]
        seen = f.seen_at
        rows.append(BusinessException(
            integration=integrations[f.integration], entity=entities.get(f.entity), error_code=f.error_code,
            message=f.message, severity=f.severity, reported_severity=f.severity, status=f.status, queue=queue,
            business_keys=f.business_keys, amount_at_risk=f.amount, currency=f.currency,
            correlation_id=f"demo-{f.key}", fingerprint=FINGERPRINT.format(f.key), occurrences=f.occurrences,
            first_seen=seen, last_seen=seen, due_at=services.due_at(queue, f.severity, seen),
            resolved_at=f.closed_at, resolution_code=f.resolution, resolution_note=f.note,
            payload=f.correction if f.resolution == "replayed" and f.correction else f.payload,
            original_payload=f.payload if f.resolution == "replayed" and f.correction else None,
            **_indexed(f.business_keys),
        ))
    BusinessException.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _open(failures, integrations, entities, users):
    """Open exceptions through ingestion and the lifecycle services."""
    from .services import IngestItem

    items = [IngestItem(
        integration=integrations[f.integration], entity_id=getattr(entities.get(f.entity), "pk", None),
        error_code=f.error_code, message=f.message, severity=f.severity, business_keys=f.business_keys,
        amount_at_risk=f.amount, currency=f.currency, correlation_id=f"demo-{f.key}",
        fingerprint=FINGERPRINT.format(f.key), payload=f.original_payload or f.payload, seen_at=f.seen_at,
    ) for f in failures]
    results = services.ingest(items=items, actor=None) if items else []
    for f, result in zip(failures, results, strict=True):
        exc = BusinessException.objects.get(pk=result["id"])
        worker = users.get(f.assignee)
        if f.occurrences > 1:
            BusinessException.objects.filter(pk=exc.pk).update(occurrences=f.occurrences)
        if f.status in (Status.ACKNOWLEDGED, Status.IN_PROGRESS) and worker:
            exc = services.acknowledge(exception=exc, actor=worker, assignee=worker)
        elif worker and exc.assignee_id != worker.pk:
            exc = services.assign(exception=exc, actor=worker, assignee=worker)
        if f.status == Status.IN_PROGRESS and worker:
            exc = services.start_progress(exception=exc, actor=worker)
        if f.comment and worker:
            services.add_comment(exception=exc, actor=worker, body=f.comment)
        if f.failed_replay:
            _failed_replay(exc, f, worker)
    return len(items)


def _failed_replay(exc, failure, worker):
    """History: the corrected payload was replayed once and refused (the ledger was down)."""
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id).first()
    if target is None:
        return
    BusinessException.objects.filter(pk=exc.pk).update(payload=failure.payload, original_payload=failure.original_payload)
    started = timezone.now() - dt.timedelta(hours=20)
    ReplayAttempt.objects.create(
        exception=exc, replay_id=uuid.uuid4(), attempt=target.max_attempts, requested_by=worker, started_at=started,
        finished_at=started + dt.timedelta(seconds=2), url=target.url, status_code=failure.failed_replay["status"],
        succeeded=False, error=f"HTTP {failure.failed_replay['status']}", response_excerpt=failure.failed_replay["body"],
        duration_ms=1840,
    )


def load(stdout=None):
    def say(msg):
        if stdout is not None:
            stdout.write(msg)

    integrations = {i.slug: i for i in Integration.objects.all()}
    teams = {t.slug: t for t in Team.objects.all()}
    if not all(q[1] in teams for q in QUEUES) or not all(i in integrations for c in CODES.values() for i in c[0]):
        say("exceptions: the demo catalog is not loaded; skipped.")
        return
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["finance", "steward2", "architect"])}
    queues = _queues(teams)
    rules = _rules(queues, users.get("finance"))
    targets = _replay_targets(integrations)
    story = scenario.build()
    known = set(BusinessException.objects.filter(fingerprint__startswith="demo:").values_list("fingerprint", flat=True))
    fresh = [f for f in story.failures if FINGERPRINT.format(f.key) not in known]
    entities = {e.slug: e for e in CanonicalEntity.objects.all()}
    closed = _history([f for f in fresh if not f.is_open], integrations, entities, queues)
    opened = _open([f for f in fresh if f.is_open], integrations, entities, users)
    services.mark_overdue(actor=None)
    demo_rows = BusinessException.objects.filter(fingerprint__startswith="demo:")
    say(f"exceptions: {len(queues)} queues, {rules} rules, {targets} replay targets on {base_url()}/demo/, "
        f"{demo_rows.open().count()} open ({demo_rows.open().filter(is_overdue=True).count()} overdue) and "
        f"{demo_rows.exclude(pk__in=demo_rows.open()).count()} closed demo exceptions ({opened + closed} new).")
