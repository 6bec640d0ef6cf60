"""The probe sweep: claim the due probes, run them concurrently, store the results.

Claiming is one conditional UPDATE (``lease_owner`` set only where no live lease exists),
so two workers never run the same probe at once. ``next_due_at`` only advances when the
results are stored, in the same transaction; a worker killed mid-sweep leaves the lease to
expire and the next sweep re-runs the same ``scheduled_at``, which the unique constraint on
(probe, scheduled_at) deduplicates.
"""

import asyncio
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import http, maintenance, secrets
from .choices import ProbeState
from .conditions import ConditionError, ProbeResponse, evaluate, parse_conditions
from .models import Probe, ProbeResult

logger = logging.getLogger(__name__)

_FIELDS = ("id", "integration_id", "url", "method", "headers", "body", "timeout_ms", "interval_seconds", "conditions",
           "state", "consecutive_failures", "consecutive_successes", "next_due_at",
           "integration__health__failure_threshold", "integration__health__success_threshold")


def _setting(name, default):
    return getattr(settings, name, default)


@dataclass
class Claimed:
    id: int
    integration_id: int
    url: str
    method: str
    headers: dict
    body: str
    timeout_ms: int
    interval_seconds: int
    conditions: str
    state: str
    consecutive_failures: int
    consecutive_successes: int
    next_due_at: dt.datetime
    failure_threshold: int
    success_threshold: int


def claim_due(*, now=None, limit=None, owner=None):
    """Lease up to ``limit`` due probes to ``owner``; returns them (their ``next_due_at``
    is the scheduled time of this run)."""
    now = now or timezone.now()
    limit = limit or _setting("HEALTH_SWEEP_BATCH", 10000)
    owner = owner or uuid.uuid4().hex
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    candidates = list(
        Probe.objects.filter(free, enabled=True, next_due_at__lte=now).order_by("next_due_at").values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return owner, []
    lease = now + dt.timedelta(seconds=_setting("HEALTH_LEASE_SECONDS", 120))
    claimed_ids = []
    for start in range(0, len(candidates), 1000):
        chunk = candidates[start:start + 1000]
        Probe.objects.filter(free, pk__in=chunk, enabled=True, next_due_at__lte=now).update(lease_until=lease, lease_owner=owner)
        claimed_ids.extend(chunk)
    rows = []
    for start in range(0, len(claimed_ids), 1000):
        chunk = claimed_ids[start:start + 1000]
        rows.extend(Probe.objects.filter(pk__in=chunk, lease_owner=owner).order_by().values_list(*_FIELDS))
    claimed = [Claimed(*row[:-2], failure_threshold=row[-2] or 3, success_threshold=row[-1] or 2) for row in rows]
    return owner, claimed


async def _run_all(probes, concurrency, max_body):
    semaphore = asyncio.Semaphore(concurrency)
    async with http.make_session(limit=concurrency, max_body=max_body) as session:

        async def one(probe):
            async with semaphore:
                return await http.request(
                    session, probe.method, probe.url, headers=secrets.revealed_headers(probe.headers) or None,
                    data=probe.body.encode() if probe.body else None, timeout_s=probe.timeout_ms / 1000,
                    max_body=max_body,
                )

        return await asyncio.gather(*(one(p) for p in probes))


def run_probes(probes, *, concurrency=None, max_body=None):
    concurrency = concurrency or _setting("HEALTH_SWEEP_CONCURRENCY", 500)
    max_body = max_body or _setting("HEALTH_MAX_BODY_BYTES", 65536)
    if not probes:
        return []
    return http.run_async(_run_all(probes, concurrency, max_body))


_PARSED = {}


def _conditions(source):
    nodes = _PARSED.get(source)
    if nodes is None:
        try:
            nodes = parse_conditions(source)
        except ConditionError:
            nodes = ()
        if len(_PARSED) > 10000:
            _PARSED.clear()
        _PARSED[source] = nodes
    return nodes


def judge(probe, outcome):
    """(ok, error text) of one outcome against the probe's conditions."""
    if outcome.error and outcome.status is None:
        return False, outcome.error
    nodes = _conditions(probe.conditions)
    if not nodes:
        return False, "invalid conditions"
    response = ProbeResponse(status=outcome.status, response_ms=outcome.elapsed_ms, body=outcome.body,
                             connected=outcome.connected, truncated=outcome.truncated)
    ok, failed = evaluate(nodes, response)
    return ok, ("" if ok else f"failed: {failed}")[:200]


def _next_due(probe, now):
    step = dt.timedelta(seconds=probe.interval_seconds)
    nxt = probe.next_due_at + step
    if nxt <= now:  # we fell behind (worker down): skip the missed runs, keep the phase
        missed = int((now - probe.next_due_at) / step)
        nxt = probe.next_due_at + step * (missed + 1)
    return nxt


def _update_probes(updates, *, owner, now):
    """One UPDATE ... FROM (VALUES ...) per 1,000 probes (PostgreSQL and SQLite >= 3.33):
    bulk_update's CASE expressions are quadratic on SQLite. Only rows still leased to
    ``owner`` are touched, so a sweep whose lease was taken over changes nothing."""
    table = connection.ops.quote_name(Probe._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    pg = connection.vendor == "postgresql"
    row_sql = "(%s::bigint, %s::varchar, %s::integer, %s::integer, %s::varchar, %s::timestamptz)" if pg else "(%s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(updates), 1000):
            chunk = updates[start:start + 1000]
            params = []
            for pk, state, failures, successes, error, next_due in chunk:
                params.extend([pk, state, failures, successes, error, adapt(next_due)])
            values = ", ".join([row_sql] * len(chunk))
            source = (f"(VALUES {values}) AS v(id, state, cf, cs, err, nd)" if pg else
                      f"(SELECT column1 AS id, column2 AS state, column3 AS cf, column4 AS cs, column5 AS err, column6 AS nd "
                      f"FROM (VALUES {values})) AS v")
            cursor.execute(
                f"UPDATE {table} SET state = v.state, consecutive_failures = v.cf, consecutive_successes = v.cs, "
                f"last_error = v.err, next_due_at = v.nd, last_checked_at = %s, lease_until = NULL, lease_owner = '' "
                f"FROM {source} WHERE {table}.id = v.id AND {table}.lease_owner = %s",
                [adapt(now), *params, owner],
            )


def store(probes, outcomes, *, owner, now=None):
    """Results in bulk (deduplicated), probe states advanced, statuses refreshed for
    integrations whose probes changed state. Returns the ids of those integrations."""
    now = now or timezone.now()
    covers_all, in_maint = maintenance.active_integration_ids(now)
    results, updates, flipped = [], [], set()
    for probe, outcome in zip(probes, outcomes, strict=True):
        ok, error = judge(probe, outcome)
        results.append(ProbeResult(
            probe_id=probe.id, integration_id=probe.integration_id, scheduled_at=probe.next_due_at, checked_at=now,
            ok=ok, in_maintenance=covers_all or probe.integration_id in in_maint, status_code=outcome.status,
            response_ms=outcome.elapsed_ms if outcome.status is not None else None, error=error,
        ))
        state = probe.state
        if ok:
            successes, failures = probe.consecutive_successes + 1, 0
            if state != ProbeState.UP and (state == ProbeState.UNKNOWN or successes >= probe.success_threshold):
                state = ProbeState.UP
        else:
            successes, failures = 0, probe.consecutive_failures + 1
            if state != ProbeState.DOWN and failures >= probe.failure_threshold:
                state = ProbeState.DOWN
        if state != probe.state:
            flipped.add(probe.integration_id)
        updates.append((probe.id, state, failures, successes, error, _next_due(probe, now)))
    with transaction.atomic():
        ProbeResult.objects.bulk_create(results, batch_size=2000, ignore_conflicts=True)
        _update_probes(updates, owner=owner, now=now)
    if flipped:
        from .services import refresh_statuses

        refresh_statuses(flipped, now)
    return flipped


def sweep(*, limit=None, concurrency=None, now=None):
    """Claim, run and store one batch of due probes. Returns timing figures."""
    started, started_cpu = time.perf_counter(), time.process_time()
    owner, probes = claim_due(now=now, limit=limit)
    claimed_at, claimed_cpu = time.perf_counter(), time.process_time()
    outcomes = run_probes(probes, concurrency=concurrency)
    ran_at, ran_cpu = time.perf_counter(), time.process_time()
    flipped = store(probes, outcomes, owner=owner) if probes else set()
    stats = {
        "probes": len(probes), "failed": sum(1 for p, o in zip(probes, outcomes, strict=True) if not judge(p, o)[0]),
        "claim_s": round(claimed_at - started, 3), "run_s": round(ran_at - claimed_at, 3),
        "store_s": round(time.perf_counter() - ran_at, 3), "flipped_integrations": len(flipped),
        # CPU of this process per phase: on a shared machine wall time stretches, CPU does not.
        "claim_cpu": round(claimed_cpu - started_cpu, 3), "run_cpu": round(ran_cpu - claimed_cpu, 3),
        "store_cpu": round(time.process_time() - ran_cpu, 3),
    }
    if probes:
        logger.info("health sweep: %s", stats)
    return stats
