"""Simulated ERP, PSA and billing endpoints for the demo (``/demo/<system>/...``).

Served by the web process only when ``DEMO_ENDPOINTS`` is on (default: ``DEBUG``);
otherwise every path here is a 404. Two kinds of endpoint:

- ``GET /demo/<system>/health``: what the demo's health probes call instead of the
  control plane's own ``/healthz``. Each system answers with its own latency (the
  on-premise SAP gateway is slow, AvaTax is fast) and its own realistic failures: AvaTax
  now and then answers 429 (rate limit), and the legacy SAP gateway is down today
  (``OUTAGES``), which the SAP exceptions in the demo queues are about.
- ``POST /demo/<system>/<resource>``: the replay targets. The request must carry the
  control plane's replay signature (``exceptions.replay``) made with the system's demo
  secret; the body must validate against the approved canonical schema for the resource
  and pass the ledger's own rules (tax code and currency belong to the legal entity), or
  the answer is the error the real system would give (NetSuite's REST error shape).
  A repeated Idempotency-Key gets the first answer again.
"""

import hmac
import json
import random
import time
import zlib

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .story import LEGAL_ENTITIES

# system -> (display name, median latency ms, spread ms, failure rate, failure status, failure detail)
SYSTEMS = {
    "netsuite": ("NetSuite ERP", 180, 120, 0.0, 503, ""),
    "certinia": ("Certinia PSA", 140, 90, 0.0, 503, ""),
    "salesforce": ("Salesforce Sales Cloud", 110, 60, 0.0, 503, ""),
    "avalara": ("Avalara AvaTax", 70, 40, 0.003, 429, "Rate limit exceeded: 2,000 requests per minute"),
    "zuora": ("Zuora Billing", 260, 160, 0.0, 503, ""),
    "workday": ("Workday HCM", 320, 180, 0.0, 503, ""),
    "adp": ("ADP Workforce Now", 290, 150, 0.0, 503, ""),
    "coupa": ("Coupa Procurement", 210, 120, 0.004, 502, "Bad gateway from the Coupa edge"),
    "docusign": ("DocuSign CLM", 190, 100, 0.0, 503, ""),
    "snowflake": ("Snowflake Data Cloud", 230, 140, 0.0, 503, ""),
    "mulesoft": ("MuleSoft Anypoint Platform", 60, 30, 0.0, 503, ""),
    "sap": ("SAP ECC FI (legacy EMEA)", 650, 250, 0.0, 503, ""),
}
# Systems that are down in the demo story, and what they say.
OUTAGES = {"sap": "RFC gateway sapgw00 on sap-fi-prd-01 is not answering (connection timed out after 30 s)"}
# catalog system slug -> receiver system
CATALOG_SYSTEMS = {
    "netsuite": "netsuite", "certinia-psa": "certinia", "salesforce": "salesforce", "avalara": "avalara",
    "zuora": "zuora", "workday": "workday", "adp": "adp", "coupa": "coupa", "docusign-clm": "docusign",
    "snowflake": "snowflake", "mulesoft": "mulesoft", "sap-fi-legacy": "sap",
}
# (system, resource) -> canonical schema subject the body must match
RESOURCES = {
    ("netsuite", "invoices"): "invoice",
    ("netsuite", "customers"): "client",
    ("certinia", "clients"): "client",
    ("certinia", "time-entries"): "time-entry",
    ("sap", "invoices"): "invoice",
}
MAX_LATENCY_MS = 2000


def secret_for(system: str) -> str:
    """The HMAC key a demo replay target of ``system`` signs with (demo only, not a secret)."""
    return f"demo-{system}-replay-key"


def _enabled():
    if not getattr(settings, "DEMO_ENDPOINTS", False):
        raise Http404("Demo endpoints are off.")


def _simulated(response):
    """A failure the demo plays on purpose (SAP's outage, a refused posting): the access log
    shows its status, but Django's request logger does not report it as the server's own
    ERROR, which read as the demo breaking to whoever watched `make demo`'s output."""
    response._has_been_logged = True  # django.utils.log.log_response skips logged responses
    return response


def _error(status, detail, code, path=None):
    """NetSuite REST's error shape (RFC 9457 problem details with o:errorDetails)."""
    item = {"detail": detail, "o:errorCode": code}
    if path:
        item["o:errorPath"] = path
    titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}
    return _simulated(JsonResponse({"title": titles.get(status, "Error"), "status": status,
                                    "o:errorDetails": [item]}, status=status))


@csrf_exempt
@login_not_required
@require_GET
def health(request, system):
    """A system's health endpoint with its latency and failures."""
    _enabled()
    if system not in SYSTEMS:
        raise Http404("No such demo system.")
    name, median, spread, failure_rate, failure_status, failure_detail = SYSTEMS[system]
    rng = random.Random()
    latency = max(5, min(MAX_LATENCY_MS, int(rng.gauss(median, spread / 2))))
    time.sleep(latency / 1000)
    if system in OUTAGES:
        return _simulated(JsonResponse({"status": "unavailable", "system": name, "error": OUTAGES[system]},
                                       status=503))
    if rng.random() < failure_rate:
        return _simulated(JsonResponse({"status": "error", "system": name, "error": failure_detail},
                                       status=failure_status))
    return JsonResponse({"status": "ok", "system": name, "latency_ms": latency})


def _signature_ok(request, system) -> bool:
    from exceptions.replay import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    key = request.headers.get("Idempotency-Key", "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not (stamp.isdigit() and key and given) or abs(time.time() - int(stamp)) > 300:
        return False
    return hmac.compare_digest(given, sign(secret_for(system), stamp, key, request.body))


def _schema_errors(subject_slug, body):
    from stewardship import selectors, validation
    from stewardship.models import SchemaSubject

    subject = SchemaSubject.objects.filter(slug=subject_slug, format="json-schema").first()
    version = selectors.latest_approved(subject) if subject else None
    if version is None:
        return []
    return validation.validate_payload(version.pk, version.document, body, limit=5)


def _ledger_rules(body) -> tuple[str, str] | None:
    """(path, detail) of the first rule an invoice breaks in the ledger, or None."""
    entity = LEGAL_ENTITIES.get(body.get("legalEntity", ""))
    if entity is None:
        return None
    if body.get("currency") != entity.currency:
        return "currency", f"Currency {body.get('currency')} is not the base currency of subsidiary {entity.code}."
    for n, line in enumerate(body.get("lines") or []):
        code = line.get("taxCode")
        if code and code not in entity.tax_codes:
            return f"lines[{n}].taxCode", f"Invalid taxcode reference key {code} for subsidiary {entity.code}."
    return None


@csrf_exempt
@login_not_required
@require_POST
def receive(request, system, resource):
    """Accept a replayed document the way the real system would, or refuse it with its error."""
    _enabled()
    subject = RESOURCES.get((system, resource))
    if subject is None:
        raise Http404("No such demo endpoint.")
    if not _signature_ok(request, system):
        return _error(401, "Invalid login attempt: the request signature does not match.", "INVALID_LOGIN")
    if system in OUTAGES:
        return _error(503, OUTAGES[system], "SERVICE_UNAVAILABLE")
    cache_key = f"demo-receiver:{system}:{request.headers['Idempotency-Key']}"
    cache = caches["demo_receiver"]  # files, not the database: see settings
    remembered = cache.get(cache_key)
    if remembered is not None:
        return JsonResponse(remembered["body"], status=remembered["status"])
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Invalid content in the request body: not JSON.", "INVALID_CONTENT")
    if not isinstance(body, dict):
        return _error(400, "Invalid content in the request body: expected an object.", "INVALID_CONTENT")
    errors = _schema_errors(subject, body)
    if errors:
        first = errors[0]
        return _error(400, f"Invalid field value: {first['message']}", "INVALID_FLD_VALUE",
                      path=first["path"].removeprefix("$").lstrip("."))
    problem = _ledger_rules(body) if subject == "invoice" else None
    if problem:
        return _error(400, problem[1], "INVALID_KEY_OR_REF", path=problem[0])
    record = body.get("number") or body.get("id") or "record"
    answer = {"status": 201, "body": {"id": str(zlib.crc32(str(record).encode()) % 10**7), "tranId": record, "status": "accepted",
                                      "system": SYSTEMS[system][0]}}
    cache.set(cache_key, answer, 3600)
    return JsonResponse(answer["body"], status=201)
