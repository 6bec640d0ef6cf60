"""OTLP/HTTP traces: the OpenTelemetry SDK's own OTLP exporter sends to a live server;
spans land linked to their integration and business key, error spans open (and count on)
exceptions, and the business trace gets the technical hops."""

import datetime as dt
import json
import urllib.request
from urllib.error import HTTPError

import pytest
from django.utils import timezone
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from controlplane import roles
from controlplane.services import create_service_account
from exceptions.models import BusinessException
from telemetry import services
from telemetry.models import Span
from telemetry.selectors import spans_for_key
from tests.conftest import make_user
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db
_live = pytest.mark.django_db(transaction=True)  # a live server sees only committed rows


@pytest.fixture
def invoices(settings):
    integration = IntegrationFactory(name="Certinia → NetSuite invoices", slug="certinia-netsuite-invoices")
    settings.OTLP_SERVICE_INTEGRATIONS = {"boomi-invoice-sync": integration.slug}
    return integration


@pytest.fixture
def token(invoices):
    _, key = create_service_account(name="boomi", role=roles.INTEGRATION, integrations=[invoices])
    return key


def _middleware_run(invoice="INV-1001", fail=True, service="boomi-invoice-sync"):
    """What an instrumented middleware flow records: one span per step, the business key
    as an attribute, the failed step with the exception the SDK records."""
    collected = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(collected))
    tracer = provider.get_tracer("middleware")
    attrs = {"invoice.number": invoice, "messaging.destination.name": "invoices.ready"}
    with tracer.start_as_current_span("receive invoice", attributes=attrs):
        with tracer.start_as_current_span("post invoice to ERP", attributes=attrs) as step:
            if fail:
                step.record_exception(ValueError("Tax code GB-VAT20 is not valid"))
                step.set_status(trace.Status(trace.StatusCode.ERROR, "Tax code GB-VAT20 is not valid"))
    provider.shutdown()
    return collected.get_finished_spans()


def _exporter(live_server, key, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return OTLPSpanExporter(endpoint=f"{live_server.url}/otlp/v1/traces", headers=headers, timeout=10, **kwargs)


@_live
def test_the_sdk_exporter_sends_spans_linked_to_integration_and_key(live_server, invoices, token):
    finance = make_user("finance", roles.FINANCE)
    assert _exporter(live_server, token).export(_middleware_run()) == SpanExportResult.SUCCESS
    spans = {s.name: s for s in Span.objects.all()}
    assert set(spans) == {"receive invoice", "post invoice to ERP"}
    step = spans["post invoice to ERP"]
    assert step.integration == invoices and step.business_key == "INV-1001"
    assert step.flow == "invoices.ready" and step.status == "error"
    assert step.parent_span_id == spans["receive invoice"].span_id
    exc = BusinessException.objects.get()
    assert step.exception == exc and exc.integration == invoices
    assert exc.error_code == "ValueError" and exc.invoice_number == "INV-1001" and exc.occurrences == 1
    assert exc.correlation_id == step.trace_id

    items = spans_for_key("INV-1001", finance)
    assert [i["title"] for i in items] == ["receive invoice", "post invoice to ERP failed"]
    failed = items[1]
    assert failed["kind"] == "span" and failed["lane"] == invoices.name and failed["status"] == "error"
    assert "flow invoices.ready" in failed["detail"] and "error: Tax code GB-VAT20 is not valid" in failed["detail"]
    assert failed["url"] == exc.get_absolute_url() and failed["lane_url"] == invoices.get_absolute_url()
    assert failed["amount"] is None and failed["currency"] == ""
    # The technical hops sit on the business trace of the key, beside its events and exceptions.
    from traces.selectors import has_trace, items_for

    assert "post invoice to ERP failed" in [i["title"] for i in items_for("INV-1001", finance) if i["kind"] == "span"]
    assert has_trace("INV-1001", finance)


@_live
def test_a_retried_batch_is_stored_once_a_repeat_counts_on_its_exception_and_json_is_taken_too(
        live_server, invoices, token):
    run = _middleware_run()
    exporter = _exporter(live_server, token, compression=Compression.Gzip)
    assert exporter.export(run) == SpanExportResult.SUCCESS
    assert exporter.export(run) == SpanExportResult.SUCCESS  # the exporter's retry of the same batch
    assert Span.objects.count() == 2 and BusinessException.objects.get().occurrences == 1
    assert exporter.export(_middleware_run()) == SpanExportResult.SUCCESS  # the next run fails alike
    assert Span.objects.count() == 4 and BusinessException.objects.get().occurrences == 2
    assert exporter.export(_middleware_run(invoice="INV-1002")) == SpanExportResult.SUCCESS
    assert BusinessException.objects.count() == 2  # another invoice: its own exception (default rule)
    _send_json(live_server, token)


def _send_json(live_server, token):
    """A run without errors in OTLP/JSON: stored, no exception opened."""
    before = BusinessException.objects.count()
    message = json_format.MessageToDict(encode_spans(_middleware_run(invoice="INV-2000", fail=False)))
    for resource in message["resourceSpans"]:  # OTLP/JSON writes ids in hex, not base64
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = json_format.base64.b64decode(span[field]).hex()
    request = urllib.request.Request(f"{live_server.url}/otlp/v1/traces", data=json.dumps(message).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and json.load(response) == {}
    assert sorted(Span.objects.filter(business_key="INV-2000").values_list("name", "status")) == [
        ("post invoice to ERP", "unset"), ("receive invoice", "unset")]
    assert BusinessException.objects.count() == before


def _post(live_server, body, headers):
    request = urllib.request.Request(f"{live_server.url}/otlp/v1/traces", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except HTTPError as exc:
        return exc.code, exc.read()


@_live
def test_who_may_send_and_what_is_refused(live_server, invoices, token):
    other = IntegrationFactory(slug="workday-hris")
    _, other_key = create_service_account(name="other-mw", role=roles.INTEGRATION, integrations=[other])
    _, exec_key = create_service_account(name="reporting", role=roles.EXECUTIVE, all_integrations=True)
    run = _middleware_run()
    assert _exporter(live_server, None).export(run) == SpanExportResult.FAILURE  # no token: 401
    assert _exporter(live_server, "not-a-token").export(run) == SpanExportResult.FAILURE
    assert _exporter(live_server, exec_key).export(run) == SpanExportResult.FAILURE  # a role that may not send
    assert not Span.objects.exists()
    # A token for another integration: OTLP's partial success names the refused spans.
    body = encode_spans(run).SerializeToString()
    status, answer = _post(live_server, body, {"Content-Type": "application/x-protobuf",
                                               "Authorization": f"Bearer {other_key}"})
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse.FromString(answer)
    assert status == 200 and response.partial_success.rejected_spans == 2
    assert "does not speak for certinia-netsuite-invoices" in response.partial_success.error_message
    assert not Span.objects.exists() and not BusinessException.objects.exists()
    assert _post(live_server, b"\x0a\xff garbage", {"Content-Type": "application/x-protobuf",
                                                     "Authorization": f"Bearer {token}"})[0] == 400
    assert _post(live_server, b"{}", {"Content-Type": "text/plain", "Authorization": f"Bearer {token}"})[0] == 415


def test_retention_purges_old_spans(invoices, token, settings):
    settings.OTLP_RETENTION_DAYS = 7
    run = [{"trace_id": "ab" * 16, "span_id": f"{n:016x}", "parent_span_id": "", "name": "step", "start_ns": 0,
            "end_ns": 0, "status": "ok", "attributes": {}, "service_name": "boomi-invoice-sync", "error": "",
            "error_type": "", "resource": {}} for n in range(1, 4)]
    now_ns = int(timezone.now().timestamp() * 1e9)
    for span in run:
        span["start_ns"], span["end_ns"] = now_ns, now_ns + 5_000_000
    assert services.ingest_spans(spans=run, actor=None) == (0, [])
    assert services.purge_spans(now=timezone.now() + dt.timedelta(days=6)) == 0
    assert services.purge_spans(now=timezone.now() + dt.timedelta(days=8)) == 3
    assert not Span.objects.exists()


def _raw_span(name="step", key="INV-9", status="error", n=1):
    now_ns = int(timezone.now().timestamp() * 1e9)
    return {"trace_id": "cd" * 16, "span_id": f"{n:016x}", "parent_span_id": "", "name": name, "start_ns": now_ns,
            "end_ns": now_ns + 1_000_000, "status": status, "attributes": {"invoice.number": key},
            "service_name": "boomi-invoice-sync", "error": "Ledger closed", "error_type": "LedgerClosed",
            "resource": {}}


def test_a_span_whose_exception_sits_in_a_restricted_queue_is_shown_only_to_its_team(invoices):
    from catalog.models import TeamMember
    from tests.factories import TeamFactory

    payroll = TeamFactory(slug="payroll-team", name="Payroll")
    services.ingest_spans(spans=[_raw_span()], actor=None)
    exc = BusinessException.objects.get()
    member, outsider = make_user("member", roles.FINANCE), make_user("outsider-fin", roles.FINANCE)
    TeamMember.objects.create(team=payroll, user=member, name="Member")
    from exceptions.models import Queue

    Queue.objects.filter(pk=exc.queue_id).update(team=payroll, restricted=True)
    assert [i["title"] for i in spans_for_key("INV-9", member)] == ["step failed"]
    assert spans_for_key("INV-9", outsider) == []
    assert spans_for_key("INV-9", make_user("nobody")) == []  # no role: no view permission


def test_hostile_strings_in_otlp_json_are_stored_cleaned(invoices, token, client):
    now_ns = int(timezone.now().timestamp() * 1e9)
    body = ('{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":'
            '"boomi-invoice-sync"}}]},"scopeSpans":[{"spans":[{"traceId":"' + "ef" * 16 + '","spanId":"'
            + "12" * 8 + '","name":"post\\u0000 invoice","startTimeUnixNano":"' + str(now_ns)
            + '","endTimeUnixNano":"' + str(now_ns + 10) + '","attributes":[{"key":"invoice.number","value":'
            '{"stringValue":"INV-\\u00001"}}]}]}]}]}')
    response = client.post("/otlp/v1/traces", data=body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    span = Span.objects.get()
    assert span.name == "post invoice" and span.business_key == "INV-1"  # NUL dropped (PostgreSQL refuses it)
    for bad in (body.replace("ef" * 16, "not-hex"), body.replace("post\\u0000", "post\\ud800")):
        refused = client.post("/otlp/v1/traces", data=bad, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {token}")
        assert refused.status_code == 400 and refused.json()["code"] == 3  # google.rpc INVALID_ARGUMENT
    assert Span.objects.count() == 1
