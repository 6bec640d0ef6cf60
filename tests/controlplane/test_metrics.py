"""/metrics: read back with prometheus_client's own parsers (text 0.0.4 and OpenMetrics),
who may scrape it, a query count that does not grow with the estate, and a real
Prometheus server (Debian's ``prometheus``) scraping a live instance."""

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from controlplane.models import OutboxMessage
from controlplane.services import create_service_account
from exceptions.choices import Status as ExceptionStatus
from health.choices import Granularity, Status
from health.models import Rollup
from health.sweep import _remember
from kpis.choices import Period, ScopeType
from kpis.models import KpiSnapshot, KpiTarget
from kpis.periods import window_containing
from tests.conftest import IN_CI
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory, SlaFactory, TeamFactory
from tests.health.factories import HealthConfigFactory

BEARER = "m" * 40


def _estate():
    """Two named integrations (one down with an SLA), exceptions in two currencies and
    two queues, outbox backlog, a KPI snapshot beside its target, a recorded sweep."""
    team = TeamFactory(name="Finance Systems", slug="finance-systems")
    billing = IntegrationFactory(name="PSA to ERP invoices", slug="psa-erp-invoices", owner_team=team)
    crm = IntegrationFactory(name="CRM rate cards", slug="crm-rate-cards", owner_team=team)
    HealthConfigFactory(integration=billing, status=Status.DOWN)
    HealthConfigFactory(integration=crm, status=Status.UP)
    SlaFactory(integration=billing, availability_target="99.0", p95_latency_ms=500)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Rollup.objects.bulk_create([
        Rollup(integration=billing, granularity=Granularity.HOUR, period_start=now - dt.timedelta(hours=h),
               checks=100, checks_ok=99 if h % 2 else 100, latency_p95_ms=250.0)
        for h in range(1, 11)
    ])
    billing_q = QueueFactory(name="Billing exceptions", slug="billing", team=team)
    tax_q = QueueFactory(name="Tax mismatches", slug="tax", team=team)
    BusinessExceptionFactory(integration=billing, queue=billing_q, severity="high", amount_at_risk=Decimal("1200.10"),
                             currency="GBP")
    BusinessExceptionFactory(integration=billing, queue=billing_q, severity="high", amount_at_risk=Decimal("0.20"),
                             currency="GBP")
    BusinessExceptionFactory(integration=crm, queue=tax_q, severity="critical", amount_at_risk=Decimal("500"),
                             currency="EUR")
    BusinessExceptionFactory(integration=crm, queue=tax_q, severity="low", amount_at_risk=Decimal("999"),
                             currency="EUR", status=ExceptionStatus.RESOLVED)
    OutboxMessage.objects.create(task="health.tasks.deliver_notification", args=[1],
                                 created_at=timezone.now() - dt.timedelta(seconds=90))
    OutboxMessage.objects.create(task="health.tasks.deliver_notification", args=[2],
                                 eta=timezone.now() + dt.timedelta(hours=1))
    last_week = window_containing(Period.WEEK, timezone.now().date() - dt.timedelta(days=7))
    KpiTarget.objects.create(key="approved-time-to-invoice", target=48)
    KpiSnapshot.objects.create(key="approved-time-to-invoice", scope_type=ScopeType.ALL, scope_key="",
                               period=Period.WEEK, period_start=last_week.start, value=Decimal("60.5"))
    _remember({"probes": 40, "failed": 3}, duration_s=1.25)
    return billing


def _samples(families):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def _one(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def scraper(db, settings):
    settings.METRICS_BEARER_TOKEN = BEARER
    settings.METRICS_ALLOWED_IPS = []
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {BEARER}")


def test_text_format_parses_and_carries_the_estate(scraper):
    _estate()
    response = scraper.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(parse_text(response.content.decode()))
    assert _one(samples, "controlplane_integration_info", integration="psa-erp-invoices",
                integration_name="PSA to ERP invoices", team="Finance Systems") == 1
    who = {"integration": "psa-erp-invoices"}
    assert _one(samples, "controlplane_integration_status", **who, status="down") == 1
    assert _one(samples, "controlplane_integration_status", integration="crm-rate-cards", status="up") == 1
    assert _one(samples, "controlplane_integrations", status="down") == 1
    assert _one(samples, "controlplane_integrations", status="up") == 1
    assert _one(samples, "controlplane_integrations", status="late") == 0
    # 995 of 1000 checks passed: 99.5% against a 99% target leaves half the budget.
    assert _one(samples, "controlplane_sla_availability_ratio", **who, window="30d") == pytest.approx(0.995)
    assert _one(samples, "controlplane_sla_availability_target_ratio", **who, window="30d") == pytest.approx(0.99)
    assert _one(samples, "controlplane_sla_error_budget_remaining_ratio", **who, window="30d") == pytest.approx(0.5)
    assert _one(samples, "controlplane_sla_attained", **who, window="30d", metric="availability") == 1
    assert _one(samples, "controlplane_sla_p95_latency_target_seconds", **who, window="30d") == pytest.approx(0.5)
    assert _one(samples, "controlplane_open_exceptions", queue="Billing exceptions", severity="high") == 2
    assert _one(samples, "controlplane_open_exceptions", queue="Tax mismatches", severity="critical") == 1
    assert ("controlplane_open_exceptions", (("queue", "Tax mismatches"), ("severity", "low"))) not in samples
    # Per currency, never added across; the resolved EUR 999 is not at risk.
    assert _one(samples, "controlplane_open_exceptions_amount_at_risk", currency="GBP") == pytest.approx(1200.30)
    assert _one(samples, "controlplane_open_exceptions_amount_at_risk", currency="EUR") == pytest.approx(500)
    kpi = {"kpi": "approved-time-to-invoice", "kpi_name": "Approved time to invoice", "unit": "hours", "period": "week"}
    assert _one(samples, "controlplane_kpi_value", **kpi) == pytest.approx(60.5)
    assert _one(samples, "controlplane_kpi_target", **kpi) == 48
    assert _one(samples, "controlplane_kpi_on_target", **kpi) == 0  # 60.5 h is past 48 h + 10 %
    assert _one(samples, "controlplane_outbox_messages", state="pending") == 1
    assert _one(samples, "controlplane_outbox_messages", state="delayed") == 1
    assert 85 <= _one(samples, "controlplane_outbox_oldest_pending_age_seconds") < 300
    assert _one(samples, "controlplane_probe_sweep_duration_seconds") == pytest.approx(1.25)
    assert _one(samples, "controlplane_probe_sweep_probes", outcome="failed") == 3
    assert ("controlplane_task_queue_messages", (("queue", "celery"),)) in samples


def test_openmetrics_is_negotiated_and_parses_with_units(scraper):
    _estate()
    response = scraper.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    text = response.content.decode()
    assert text.rstrip().endswith("# EOF")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert families["controlplane_sla_p95_latency_seconds"].unit == "seconds"
    assert families["controlplane_open_exceptions_amount_at_risk"].type == "gauge"
    samples = _samples(families.values())
    assert _one(samples, "controlplane_open_exceptions_amount_at_risk", currency="GBP") == pytest.approx(1200.30)


def test_query_count_does_not_grow_with_the_estate(scraper):
    _estate()
    with CaptureQueriesContext(connection) as small:
        assert scraper.get("/metrics").status_code == 200
    for _ in range(12):
        SlaFactory(integration=HealthConfigFactory(integration=IntegrationFactory(), status=Status.LATE).integration)
    with CaptureQueriesContext(connection) as large:
        body = scraper.get("/metrics").content.decode()
    assert len(large) == len(small) <= 20
    assert 'controlplane_integrations{status="late"} 12.0' in body


def test_who_may_scrape(db, settings, client):
    settings.METRICS_BEARER_TOKEN = BEARER
    settings.METRICS_ALLOWED_IPS = []
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "x" * 40).status_code == 401
    # An ordinary service token (middleware posting exceptions) may not read the estate's figures.
    _token, plain = create_service_account(name="middleware", role="integration", all_integrations=True)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 403
    token, key = create_service_account(name="prometheus", role="integration", read_metrics=True)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {BEARER}").status_code == 200
    from controlplane.services import revoke_service_token

    revoke_service_token(token=token, actor=None)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    # The allowlist: the test client comes from 127.0.0.1.
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 401
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200
    # A signed-in person is not a scraper: the session alone opens nothing.
    settings.METRICS_ALLOWED_IPS = []
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    assert client.get("/metrics").status_code == 403


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prometheus_binary():
    path = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None)
    if path is None:
        message = "Prometheus (Debian package 'prometheus') is needed for this test but is not installed"
        if IN_CI:
            pytest.fail(message + " (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return path


@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_the_live_instance(live_server, settings, tmp_path):
    binary = _prometheus_binary()
    settings.METRICS_ALLOWED_IPS = []
    _estate()
    _token, key = create_service_account(name="prometheus", role="integration", read_metrics=True)
    (tmp_path / "token").write_text(key)
    target = urllib.parse.urlsplit(live_server.url).netloc
    (tmp_path / "prometheus.yml").write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "controlplane", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}],
                            "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")}}],
    }))
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),
    )
    query = urllib.parse.urlencode({"query": 'controlplane_open_exceptions_amount_at_risk{currency="GBP"}'})
    try:
        deadline, result, up = time.monotonic() + 40, [], None
        while time.monotonic() < deadline and not result:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=2) as resp:
                    result = json.load(resp)["data"]["result"]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2) as resp:
                    up = json.load(resp)["data"]["activeTargets"]
            except OSError:
                continue
        assert result, f"Prometheus never stored the series; targets: {up}; log: {(tmp_path / 'prometheus.log').read_text()[-2000:]}"
        assert float(result[0]["value"][1]) == pytest.approx(1200.30)
        assert result[0]["metric"]["job"] == "controlplane"
        assert up[0]["health"] == "up"
    finally:
        process.terminate()
        process.wait(timeout=10)
