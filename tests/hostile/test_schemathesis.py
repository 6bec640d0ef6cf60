"""Schemathesis against ``/api/schema/``: every operation, as a service token and as a
superuser session, must answer without a 5xx and exactly as the schema says (documented
status code, content type and body).

The project's WSGI application runs in-process on the test database (seeded with the demo
estate so GET-by-id paths hit real rows); the schema is fetched from ``/api/schema/`` the
way a client would. Each operation gets a few positive and a few negative (schema-violating)
cases, derandomized so CI is repeatable. The run's numbers are printed in the terminal
summary ("schemathesis summary") and every distinct failure is listed when the test fails.
"""

import json
import secrets
import time
from collections import Counter

import pytest
import schemathesis
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection, positive_data_acceptance

from .conftest import seed_estate
from .summary import SCHEMATHESIS_PROPERTY

pytestmark = pytest.mark.postgres

# Cases per operation and generation mode; 144 operations x 2 modes x 2 auth modes.
MAX_EXAMPLES = {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 2}
# Left out: these two judge the API's validation against what the schema can express, and
# OpenAPI cannot express "a slug that exists" or "exactly one of system or integration", so
# every correct 400 for an unknown reference would count as a failure. Wrong input is
# covered by the other checks (no 5xx, documented status, error body shape) and by
# tests/hostile/test_bad_input.py.
EXCLUDED_CHECKS = [positive_data_acceptance, negative_data_rejection]
# Values for path parameters that name no model lookup of a viewset.
PATH_FALLBACKS = {
    "/api/v1/integrations/{slug}/runs/": ("catalog.Integration", "slug"),
    "/api/v1/kpis/{key}/series/": ("kpis.KpiTarget", "key"),  # seeded with a real KPI key
}


def _real_path_parameters(path: str) -> dict | None:
    """An existing object's lookup value for ``path``'s one parameter, or None."""
    from django.apps import apps

    if path in PATH_FALLBACKS:
        label, field = PATH_FALLBACKS[path]
        model = apps.get_model(label)
        name = path.split("{")[1].split("}")[0]
        value = model.objects.values_list(field, flat=True).order_by("pk").first()
        return {name: value} if value is not None else None
    if path.count("{") != 1:
        return None
    name = path.split("{")[1].split("}")[0]
    try:
        match = resolve(path.replace("{" + name + "}", "1"))
    except Resolver404:
        return None
    view = getattr(match.func, "cls", None)
    queryset = getattr(view, "queryset", None)
    if queryset is None:
        return None
    field = getattr(view, "lookup_field", "pk")
    value = queryset.model.objects.values_list(field, flat=True).order_by("pk").first()
    return {name: value} if value is not None else None


def _session_credentials(user):
    """Cookies and header for a signed-in browser session that passes Django's CSRF check
    (SessionAuthentication enforces CSRF on unsafe methods)."""
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    return cookies, {"X-CSRFToken": csrf}


def _check_name(failure: Failure) -> str:
    return failure.checks[0] if failure.checks else type(failure).__name__


def run_schemathesis(schema, *, auth_label, headers, cookies, excluded_checks):
    counts = Counter()
    failures: dict[tuple, str] = {}
    by_check = Counter()
    operations = 0
    started = time.monotonic()

    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures[("schema", str(result.err()))] = "invalid operation in schema"
            continue
        operation = result.ok()
        operations += 1
        real = _real_path_parameters(operation.path)
        for mode, max_examples in MAX_EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode)
            if real and mode is GenerationMode.POSITIVE:
                strategy = st.one_of(operation.as_strategy(generation_mode=mode, path_parameters=real), strategy)

            @settings(
                max_examples=max_examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case):
                counts["cases"] += 1
                response = case.call(headers=headers, cookies=cookies)
                if response.status_code >= 500:
                    counts["server_errors"] += 1
                try:
                    case.validate_response(response, headers=headers, excluded_checks=excluded_checks)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        key = (case.operation.label, _check_name(failure), failure.title)
                        if key not in failures:
                            by_check[_check_name(failure)] += 1
                            failures[key] = (
                                f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]!r}"
                                f" -> {response.status_code} {response.text[:300]!r}\n    {failure.message[:500]}"
                            )

            try:
                check()
            except Exception as exc:  # generation impossible for this mode (e.g. no negative form)
                if "Unsatisfiable" in type(exc).__name__ or "generate" in str(exc).lower():
                    continue
                raise

    summary = {
        "auth": auth_label,
        "operations": operations,
        "cases": counts["cases"],
        "server_errors": counts["server_errors"],
        "failures": len(failures),
        "failures_by_check": dict(by_check),
        "seconds": time.monotonic() - started,
    }
    return summary, failures


@pytest.fixture
def seeded(db, superuser, cast):
    seed_estate()


@pytest.mark.parametrize("auth_mode", ["service-token", "superuser-session"])
def test_api_conforms_to_its_schema(auth_mode, seeded, wsgi_app, cast, superuser, require_postgres, record_property):
    token_header = {"Authorization": f"Bearer {cast.token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=token_header)
    assert len(list(schema.get_all_operations())) >= 100, "the schema lists the API"

    if auth_mode == "service-token":
        headers, cookies, excluded = token_header, None, EXCLUDED_CHECKS
    else:
        cookies, headers = _session_credentials(superuser)
        # ignored_auth re-sends without the Authorization header; the session cookie still
        # signs the request in, so the check cannot apply (the token run covers it).
        excluded = [*EXCLUDED_CHECKS, ignored_auth]

    summary, failures = run_schemathesis(
        schema, auth_label=auth_mode, headers=headers, cookies=cookies, excluded_checks=excluded
    )
    record_property(SCHEMATHESIS_PROPERTY, json.dumps(summary))
    print(json.dumps(summary))
    assert summary["cases"] > summary["operations"], "every operation ran cases"
    assert not failures, f"{len(failures)} distinct schemathesis failures:\n" + "\n".join(
        f"- {op} [{check}] {title}: {detail}" for (op, check, title), detail in sorted(failures.items())
    )
