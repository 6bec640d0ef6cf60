"""``/metrics``: the control plane's figures in the Prometheus / OpenMetrics text format.

One custom collector (``ControlPlaneCollector``) builds every family at scrape time from
the database, one query (or a fixed handful) per family, never one per integration, so a
scrape of 10,000 integrations costs the same number of queries as a scrape of ten
(tests/benchmarks/bench_metrics.py). Nothing is kept in process memory between scrapes:
several gunicorn workers on several hosts all answer the same figures, which a
``prometheus_client`` counter in one worker could not.

Money is summed per currency in SQL as Decimal and turned into a float only here, at the
exposition boundary; amounts in different currencies are never added (one series each).

Who may scrape: a caller from ``METRICS_ALLOWED_IPS``, a caller presenting
``METRICS_BEARER_TOKEN``, or a service token with ``read_metrics`` (see docs/metrics.md).
"""

import datetime as dt
import hmac
import ipaddress
import logging
import time

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from catalog.models import Integration
from exceptions.at_risk import NO_CURRENCY
from exceptions.choices import OPEN_STATUSES
from exceptions.models import BusinessException
from health.choices import SlaMetric, Status
from health.sla import attainment_of_every_sla
from health.sweep import last_sweep
from kpis.choices import Period
from kpis.selectors import cards

from .models import OutboxMessage, ServiceToken

logger = logging.getLogger(__name__)

NAMESPACE = "controlplane"


def _gauge(name, documentation, labels=(), unit=""):
    return GaugeMetricFamily(f"{NAMESPACE}_{name}", documentation, labels=list(labels), unit=unit)


def _ratio(percent):
    return None if percent is None else float(percent) / 100.0


class ControlPlaneCollector:
    """Yields every family; each ``_<family>`` method runs its own query so one failing
    source (the broker down) drops its family and not the whole scrape."""

    def __init__(self, *, now=None, sla_window: str | None = None):
        self.now = now
        self.sla_window = sla_window or getattr(settings, "METRICS_SLA_WINDOW", "30d")

    def collect(self):
        for part in (self._integrations, self._sla, self._exceptions, self._kpis, self._outbox,
                     self._task_queues, self._sweep):
            try:
                yield from part()
            except Exception:  # one family's failure must not blank the others
                logger.exception("metrics: %s failed", part.__name__)

    def _integrations(self):
        # The names people read ride on one info series per integration; the other
        # per-integration families carry only the stable ``integration`` label (its slug)
        # and are joined in PromQL: ``* on (integration) group_left (integration_name, team)
        # controlplane_integration_info`` (the kube-state-metrics pattern), which keeps a
        # 10,000-integration scrape to a few megabytes.
        info = _gauge("integration_info", "1 per integration, with its name and owning team.",
                      ("integration", "integration_name", "team"))
        by_integration = _gauge(
            "integration_status", "1 for the current health status of each integration (one series each).",
            ("integration", "status"))
        rows = Integration.objects.values_list("slug", "name", "owner_team__name", "health__status").order_by("slug")
        for slug, name, team, status in rows:
            info.add_metric([slug, name, team or ""], 1)
            by_integration.add_metric([slug, status or Status.UNKNOWN], 1)
        yield info
        yield by_integration
        counts = _gauge("integrations", "Integrations by current health status.", ("status",))
        found = dict(Integration.objects.values_list("health__status").annotate(n=Count("pk")).order_by())
        found[Status.UNKNOWN] = found.get(Status.UNKNOWN, 0) + found.pop(None, 0)
        for status in Status.values:
            counts.add_metric([status], found.get(status, 0))
        yield counts

    def _sla(self):
        labels = ("integration", "window")
        availability = _gauge("sla_availability_ratio", "Availability over the SLA window (0-1).", labels)
        target = _gauge("sla_availability_target_ratio", "The SLA's availability target (0-1).", labels)
        budget = _gauge("sla_error_budget_remaining_ratio",
                        "Error budget left over the window (1 = untouched, 0 = spent, below 0 = overspent).", labels)
        latency = _gauge("sla_p95_latency_seconds", "p95 probe latency over the window.", labels, unit="seconds")
        latency_target = _gauge("sla_p95_latency_target_seconds", "The SLA's p95 latency target.", labels,
                                unit="seconds")
        attained = _gauge("sla_attained", "1 when the SLA target of the metric is met over the window, 0 when missed.",
                          (*labels, "metric"))
        slugs = dict(Integration.objects.filter(sla__isnull=False).values_list("pk", "slug"))
        for integration_id, result in attainment_of_every_sla(self.sla_window, now=self.now).items():
            values = [slugs.get(integration_id, str(integration_id)), self.sla_window]
            avail = result.get(SlaMetric.AVAILABILITY)
            if avail:
                target.add_metric(values, _ratio(avail["target"]))
                if avail["value"] is not None:
                    availability.add_metric(values, _ratio(avail["value"]))
                if avail["budget"] is not None:
                    budget.add_metric(values, _ratio(avail["budget"]))
            p95 = result.get(SlaMetric.LATENCY)
            if p95:
                latency_target.add_metric(values, p95["target"] / 1000.0)
                if p95["value"] is not None:
                    latency.add_metric(values, p95["value"] / 1000.0)
            for metric, figure in result.items():
                if figure["met"] is not None:
                    attained.add_metric([*values, str(metric)], 1 if figure["met"] else 0)
        yield from (availability, target, budget, latency, latency_target, attained)

    def _exceptions(self):
        open_rows = BusinessException.objects.filter(status__in=OPEN_STATUSES)
        count = _gauge("open_exceptions", "Open business exceptions by queue and severity.", ("queue", "severity"))
        for queue, severity, n in (open_rows.values_list("queue__name", "severity").annotate(n=Count("pk"))
                                   .order_by("queue__name", "severity")):
            count.add_metric([queue, severity], n)
        yield count
        # Summed per currency in SQL (Decimal); float only for the exposition.
        amount = _gauge("open_exceptions_amount_at_risk", "Amount at risk on open exceptions, per currency "
                        "(never summed across currencies).", ("currency",))
        for currency, total in (open_rows.values_list("currency").annotate(total=Sum("amount_at_risk"))
                                .order_by("currency")):
            if currency or total:
                amount.add_metric([currency or NO_CURRENCY], float(total or 0))
        yield amount

    def _kpis(self):
        labels = ("kpi", "kpi_name", "unit", "period")
        value = _gauge("kpi_value", "A KPI's value over its last complete period.", labels)
        target = _gauge("kpi_target", "A KPI's target.", labels)
        on_target = _gauge("kpi_on_target", "1 when the KPI meets its target, 0.5 within tolerance, 0 when not.", labels)
        today = (self.now or timezone.now()).date()
        period = getattr(settings, "METRICS_KPI_PERIOD", Period.WEEK)
        score = {"ok": 1.0, "warn": 0.5, "bad": 0.0}
        for card in cards(period=period, first=today - dt.timedelta(days=62), last=today):
            values = [card.kpi.key, card.kpi.name, card.kpi.unit, period]
            if card.value is not None:
                value.add_metric(values, float(card.value))
            if card.target is not None:
                target.add_metric(values, float(card.target))
            if card.status in score:
                on_target.add_metric(values, score[card.status])
        yield from (value, target, on_target)

    def _outbox(self):
        now = self.now or timezone.now()
        due = Q(sent_at__isnull=True) & (Q(eta__isnull=True) | Q(eta__lte=now))
        row = OutboxMessage.objects.aggregate(
            pending=Count("pk", filter=due), delayed=Count("pk", filter=Q(sent_at__isnull=True, eta__gt=now)),
            oldest=Min("created_at", filter=due),
        )
        backlog = _gauge("outbox_messages", "Outbox messages not yet published to the broker.", ("state",))
        backlog.add_metric(["pending"], row["pending"])
        backlog.add_metric(["delayed"], row["delayed"])
        yield backlog
        age = _gauge("outbox_oldest_pending_age_seconds",
                     "Age of the oldest due outbox message not yet published (0 when none): the publish lag.",
                     unit="seconds")
        age.add_metric([], max(0.0, (now - row["oldest"]).total_seconds()) if row["oldest"] else 0.0)
        yield age

    def _task_queues(self):
        """Messages waiting in the broker per Celery queue: the work the workers have not
        picked up yet (kombu's passive declare, which every transport answers)."""
        from .celery import app

        queues = sorted({q.name for q in (app.conf.task_queues or [])} or {app.conf.task_default_queue or "celery"})
        depth = _gauge("task_queue_messages", "Messages waiting in the broker for a worker, per Celery queue.",
                       ("queue",))
        started = time.perf_counter()
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for name in queues:
                try:
                    _name, messages, _consumers = channel.queue_declare(queue=name, passive=True)
                except Exception:  # a queue no worker declared yet holds nothing
                    messages = 0
                depth.add_metric([name], messages)
        yield depth
        probe = _gauge("task_queue_check_duration_seconds", "How long asking the broker took.", unit="seconds")
        probe.add_metric([], time.perf_counter() - started)
        yield probe

    def _sweep(self):
        last = last_sweep()
        if not last:
            return
        duration = _gauge("probe_sweep_duration_seconds", "Wall time of the last probe sweep.", unit="seconds")
        duration.add_metric([], last["duration_s"])
        probes = _gauge("probe_sweep_probes", "Probes run by the last probe sweep.", ("outcome",))
        probes.add_metric(["failed"], last["failed"])
        probes.add_metric(["passed"], last["probes"] - last["failed"])
        finished = _gauge("probe_sweep_last_finished_timestamp_seconds", "When the last probe sweep finished (Unix time).",
                          unit="seconds")
        finished.add_metric([], last["finished_at"])
        yield from (duration, probes, finished)


def registry(**kwargs) -> CollectorRegistry:
    """A fresh registry holding only our collector (not the process/platform collectors
    of the default registry, which would describe one worker of many)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ControlPlaneCollector(**kwargs))
    return reg


# --- who may scrape ----------------------------------------------------------------------

def _allowed_networks():
    return [ipaddress.ip_network(n, strict=False) for n in getattr(settings, "METRICS_ALLOWED_IPS", [])]


def caller_allowed(request) -> tuple[bool, str]:
    """(allowed, why not): "" when allowed; "missing" (no credential: 401), "invalid" (an
    unknown or revoked token: 401) or "forbidden" (a valid caller that may not: 403). The
    IP allowlist uses REMOTE_ADDR (the proxy in front must set it to the client's address;
    a forwarded header is never trusted here)."""
    addr = request.META.get("REMOTE_ADDR") or ""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        ip = None
    if ip is not None and any(ip in net for net in _allowed_networks()):
        return True, ""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        # A signed-in person is not a scraper: the session opens nothing here.
        return False, "forbidden" if getattr(request.user, "is_authenticated", False) else "missing"
    configured = getattr(settings, "METRICS_BEARER_TOKEN", "")
    if configured and hmac.compare_digest(key.encode(), configured.encode()):
        return True, ""
    token = ServiceToken.objects.active().select_related("user").filter(key_hash=ServiceToken.hash_key(key)).first()
    if token is None or not token.user.is_active:
        return False, "invalid"
    return (True, "") if token.read_metrics else (False, "forbidden")
