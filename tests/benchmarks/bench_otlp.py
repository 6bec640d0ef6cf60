"""OTLP trace ingest on PostgreSQL: spans per second through the full HTTP stack
(middleware, token, protobuf decoding, linking, bulk insert) in batches of 512 (the SDK
batch processor's default), all OK and with 5 % error spans (which open or count on
exceptions), beside the ceiling measured in the same run: ``bulk_create`` of the same rows
alone. The goal is 1,000 spans/s on 2 cores. The requests are the OpenTelemetry SDK's own
encoding (``encode_spans``) of spans it recorded.

Runs in its own throw-away database (test_<name>_bench); needs DATABASE_URL on PostgreSQL.
``BENCH_OTLP_SPANS`` sets the spans per run (default 20,480).
"""

import os
import time


def main():
    from django.db import connection

    if not os.environ.get("DATABASE_URL") or connection.vendor != "postgresql":
        print("skipped: bench_otlp needs PostgreSQL (set DATABASE_URL=postgres://...)")
        return
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{old_name}_otlp_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        _run(int(os.environ.get("BENCH_OTLP_SPANS", "20480")))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def _recorded_batches(total, batch, error_share, service):
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    every = int(1 / error_share) if error_share else 0
    for n in range(total):
        attrs = {"invoice.number": f"INV-{n // 4:06d}", "messaging.destination.name": "invoices.ready"}
        with tracer.start_as_current_span(f"step {n % 4}", attributes=attrs) as span:
            if every and n % every == 0:
                span.record_exception(ValueError(f"Tax code of invoice {n // 4} is not valid"))
                span.set_status(trace.Status(trace.StatusCode.ERROR, "Tax code is not valid"))
    spans = memory.get_finished_spans()
    provider.shutdown()
    return [encode_spans(spans[i:i + batch]).SerializeToString() for i in range(0, len(spans), batch)]


def _run(total):
    from django.test import Client

    from controlplane import roles
    from controlplane.services import create_service_account
    from telemetry import otlp, services
    from telemetry.models import Span
    from tests.factories import IntegrationFactory

    roles.sync_roles()
    _token, key = create_service_account(name="bench-otlp", role=roles.INTEGRATION, all_integrations=True)
    IntegrationFactory(slug="bench-invoices")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    print(f"{total:,} spans per run, 512 per request; goal 1,000 spans/s on 2 cores (machine shared: numbers under load)")

    results = {}
    for label, share in (("HTTP, all OK", 0.0), ("HTTP, 5 % errors", 0.05)):
        bodies = _recorded_batches(total, 512, share, "bench-invoices")
        Span.objects.all().delete()
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/otlp/v1/traces", data=body, content_type=otlp.PROTOBUF)
            assert response.status_code == 200, response.content[:200]
        elapsed = time.perf_counter() - started
        assert Span.objects.count() == total
        results[label] = total / elapsed

    # The ceiling: the same rows, decoded beforehand, stored by the service alone and by
    # bulk_create alone (no HTTP, no decoding, no linking).
    bodies = _recorded_batches(total, 512, 0.0, "bench-invoices")
    decoded = [list(otlp.spans_of(otlp.decode(b, otlp.PROTOBUF))) for b in bodies]
    Span.objects.all().delete()
    started = time.perf_counter()
    for spans in decoded:
        services.ingest_spans(spans=spans, actor=None)
    results["service alone (decoded)"] = total / (time.perf_counter() - started)
    rows = list(Span.objects.all())
    Span.objects.all().delete()
    for row in rows:
        row.pk = None
    started = time.perf_counter()
    Span.objects.bulk_create(rows, batch_size=1000)
    results["bulk_create alone (ceiling)"] = total / (time.perf_counter() - started)

    ceiling = results["bulk_create alone (ceiling)"]
    for label, rate in results.items():
        verdict = "" if "alone" in label else ("  meets 1,000/s" if rate >= 1000 else "  BELOW 1,000/s")
        print(f"  {label:<28} {rate:>9,.0f} spans/s  ({rate / ceiling:.2f} x ceiling){verdict}")
