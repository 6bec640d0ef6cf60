"""Payload validation throughput: 10,000 payloads of about 5 KB through
``POST /api/v1/stewardship/subjects/{slug}/validate/`` (in-process, service token) versus
the cached validator alone. Prints both rates and the per-payload validator time.

``BENCH_VALIDATION_N`` changes the number of payloads (default 10000)."""

import json
import os
import statistics
import time


def _schema():
    line = {
        "type": "object", "additionalProperties": False,
        "required": ["lineNo", "description", "quantity", "unitPrice", "amount", "taxCode"],
        "properties": {
            "lineNo": {"type": "integer", "minimum": 1},
            "description": {"type": "string", "maxLength": 200},
            "quantity": {"type": "number", "minimum": 0},
            "unitPrice": {"type": "number"},
            "amount": {"type": "number"},
            "taxCode": {"type": "string", "pattern": "^[A-Z]{2}-[A-Z0-9]{2,6}$"},
            "projectCode": {"type": "string", "pattern": "^P-[0-9]{5}$"},
            "resource": {"type": "string"},
            "date": {"type": "string"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["number", "clientId", "currency", "lines"],
        "properties": {
            "number": {"type": "string", "pattern": "^INV-[0-9]+$"},
            "clientId": {"type": "string"},
            "currency": {"enum": ["USD", "EUR", "GBP", "CHF"]},
            "memo": {"type": "string", "maxLength": 500},
            "lines": {"type": "array", "minItems": 1, "items": line},
        },
    }


def _payload(i, lines=24):
    return {
        "number": f"INV-{100000 + i}", "clientId": f"CL-{i % 997:06d}", "currency": "EUR",
        "memo": "Professional services rendered in the period, per the statement of work.",
        "lines": [
            {"lineNo": n + 1, "description": f"Consulting - senior consultant - week {n}", "quantity": 7.5,
             "unitPrice": 185.0, "amount": 1387.5, "taxCode": "DE-VAT19", "projectCode": f"P-{10000 + n:05d}",
             "resource": f"R-{n:04d}", "date": "2026-11-02"}
            for n in range(lines)
        ],
    }


def main():
    from tests.benchmarks import test_database

    n = int(os.environ.get("BENCH_VALIDATION_N", "10000"))
    with test_database():
        _run(n)


def _run(n):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from controlplane import roles
    from controlplane.services import create_service_account
    from stewardship import services
    from stewardship.models import SchemaSubject
    from stewardship.validation import clear_cache, compile_validator, validate_payload
    from tests.factories import EntityFactory

    User = get_user_model()
    author = User.objects.create_user("bench-author")
    reviewer = User.objects.create_user("bench-reviewer")
    group = Group.objects.get(name=roles.STEWARD)
    author.groups.add(group)
    reviewer.groups.add(group)
    subject = services.create_subject(actor=author, name="Invoice", slug="bench-invoice", format="json-schema",
                                      entity=EntityFactory())
    version = services.submit(actor=author, version=services.create_draft(actor=author, subject=subject, document=_schema()))
    version = services.approve(actor=reviewer, version=version)
    assert SchemaSubject.objects.filter(slug="bench-invoice").exists()
    _, key = create_service_account(name="bench-service", role=roles.INTEGRATION, all_integrations=True)

    payloads = [_payload(i) for i in range(200)]
    bad = _payload(1)
    bad["lines"][3]["taxCode"] = "nope"
    size = len(json.dumps(payloads[0]))
    print(f"payload size: {size / 1024:.1f} KB, {len(payloads[0]['lines'])} lines; n = {n}")

    clear_cache()
    started = time.perf_counter()
    validate_payload(version.pk, version.document, payloads[0])
    print(f"first validation (compile + validate): {(time.perf_counter() - started) * 1000:.2f} ms")

    timings = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        errors = validate_payload(version.pk, version.document, payloads[i % len(payloads)])
        timings.append(time.perf_counter() - t0)
        assert not errors
    alone = time.perf_counter() - started
    assert validate_payload(version.pk, version.document, bad)
    timings.sort()
    print(f"validator alone: {n / alone:,.0f} payloads/s; per payload median {statistics.median(timings) * 1e6:.0f} us, "
          f"p99 {timings[int(len(timings) * 0.99)] * 1e6:.0f} us")

    python_validator = compile_validator(version.document, engine="python")
    m = max(1, n // 20)
    started = time.perf_counter()
    for i in range(m):
        python_validator.errors(payloads[i % len(payloads)], 100)
    print(f"pure-Python jsonschema fallback ({m} payloads): {m / (time.perf_counter() - started):,.0f} payloads/s")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = "/api/v1/stewardship/subjects/bench-invoice/validate/"
    bodies = [json.dumps({"payload": p}) for p in payloads]
    response = client.post(url, bodies[0], content_type="application/json")
    assert response.status_code == 200 and response.json()["valid"], response.content
    started = time.perf_counter()
    for i in range(n):
        response = client.post(url, bodies[i % len(bodies)], content_type="application/json")
    through = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["valid"]
    print(f"through the endpoint (in-process, token auth, {connection_vendor()}): {n / through:,.0f} payloads/s; "
          f"{through / n * 1000:.2f} ms per request")
    print(f"validator share of a request: {alone / through * 100:.0f}%")


def connection_vendor():
    from django.db import connection

    return connection.vendor
