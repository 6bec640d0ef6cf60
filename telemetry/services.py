"""The one write path of spans: ``ingest_spans`` (from the OTLP endpoint) and
``purge_spans`` (retention). Error spans open or count on exceptions through
``exceptions.services.ingest``, the same path middleware posts take, so routing, dedupe,
regressions and the audit trail are theirs."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Integration
from controlplane import audit
from controlplane import scope as token_scope
from exceptions.services import IngestItem, ingest

from .models import Span, SpanStatus

# Starts further than this from now (either way) are refused: a clock a day off is a bug.
_WINDOW = dt.timedelta(days=30)


def _first(attrs: dict, names) -> tuple[str, str]:
    for name in names:
        value = attrs.get(name)
        if value not in (None, "", [], {}):
            return name, str(value)[:200]
    return "", ""


def _integration_slug(span: dict) -> str:
    _, slug = _first(span["attributes"], settings.OTLP_INTEGRATION_ATTRIBUTES)
    if not slug and span.get("resource"):
        _, slug = _first(span["resource"], settings.OTLP_INTEGRATION_ATTRIBUTES)
    return slug or settings.OTLP_SERVICE_INTEGRATIONS.get(span["service_name"]) or span["service_name"]


def _fingerprint(integration, span: Span, error_type: str) -> str:
    parts = {"span": span.name, "error_type": error_type, "business_key": span.business_key}
    said = [integration.slug, "otlp"] + [f"{p}={parts[p]}" for p in settings.OTLP_EXCEPTION_DEDUPE_BY if p in parts]
    return "otlp:" + hashlib.sha256("|".join(said).encode()).hexdigest()[:40]


def _exception_item(span: Span, error_type: str) -> IngestItem:
    key_name = span.business_key_attribute.replace(".", "_") or "business_key"
    return IngestItem(
        integration=span.integration, error_code=(error_type or "span_error")[:100],
        message=(span.error or f"{span.name} failed")[:500], severity=settings.OTLP_EXCEPTION_SEVERITY,
        business_keys={key_name: span.business_key} if span.business_key else {}, currency="",
        correlation_id=span.trace_id, fingerprint=_fingerprint(span.integration, span, error_type),
        details={"source": "otlp", "trace_id": span.trace_id, "span_id": span.span_id, "step": span.name,
                 "flow": span.flow, "service": span.service_name, "duration_ms": span.duration_ms},
        seen_at=span.started_at,
    )


@transaction.atomic
def ingest_spans(*, spans: list[dict], actor, scope=None) -> tuple[int, list[str]]:
    """Store the flattened OTLP ``spans`` (telemetry.otlp.spans_of). A span is refused,
    and counted with a reason, when its ids or times are unusable or when ``scope`` (the
    caller's service token) does not speak for its integration (or, for a span of no
    known integration, for all of them). Returns (rejected count, reasons, at most 10)."""
    now = timezone.now()
    slugs = {_integration_slug(s) for s in spans}
    integrations = {i.slug: i for i in Integration.objects.filter(slug__in=slugs - {""})}
    rows, errors, rejected, reasons = [], [], 0, []

    def refuse(reason):
        nonlocal rejected
        rejected += 1
        if reason not in reasons and len(reasons) < 10:
            reasons.append(reason)

    for data in spans:
        if len(data["trace_id"]) != 32 or len(data["span_id"]) != 16 or set(data["trace_id"]) == {"0"}:
            refuse("a span without a valid trace or span id")
            continue
        if not data["start_ns"] or data["end_ns"] < data["start_ns"]:
            refuse(f"span {data['name']!r}: missing start or ends before it starts")
            continue
        started = dt.datetime.fromtimestamp(data["start_ns"] / 1e9, tz=dt.UTC)
        if abs(started - now) > _WINDOW:
            refuse(f"span {data['name']!r}: starts more than {_WINDOW.days} days from now")
            continue
        integration = integrations.get(_integration_slug(data))
        if not token_scope.allows(scope, integration.pk if integration else None):
            refuse(f"this token does not speak for {integration.slug if integration else 'spans of no integration'}")
            continue
        attrs = data["attributes"]
        key_name, key = _first(attrs, settings.OTLP_BUSINESS_KEY_ATTRIBUTES)
        _, flow = _first(attrs, settings.OTLP_FLOW_ATTRIBUTES)
        span = Span(
            trace_id=data["trace_id"], span_id=data["span_id"], parent_span_id=data["parent_span_id"],
            integration=integration, service_name=data["service_name"], name=data["name"] or "(unnamed)",
            flow=flow, business_key=key, business_key_attribute=key_name[:100], started_at=started,
            duration_ms=min(int((data["end_ns"] - data["start_ns"]) / 1e6), 2**31 - 1),
            status=data["status"], error=data["error"] if data["status"] == SpanStatus.ERROR else "",
            attributes=attrs, received_at=now,
        )
        rows.append(span)
        if span.status == SpanStatus.ERROR and integration is not None and "off" not in settings.OTLP_EXCEPTION_DEDUPE_BY:
            errors.append((span, data["error_type"]))
    if errors:
        # An exporter retrying a batch must not count its errors twice.
        seen = set(Span.objects.filter(trace_id__in={s.trace_id for s, _ in errors},
                                       span_id__in={s.span_id for s, _ in errors}).values_list("trace_id", "span_id"))
        errors = [(s, t) for s, t in errors if (s.trace_id, s.span_id) not in seen]
    if errors:
        results = ingest(items=[_exception_item(s, t) for s, t in errors], actor=actor, scope=scope)
        for (span, _), result in zip(errors, results, strict=True):
            span.exception_id = result["id"]
    Span.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return rejected, reasons


@transaction.atomic
def purge_spans(*, now=None) -> int:
    """Delete spans received more than OTLP_RETENTION_DAYS ago; one audit row says how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.OTLP_RETENTION_DAYS)
    deleted, _ = Span.objects.filter(received_at__lt=cutoff).delete()
    if deleted:
        audit.record(actor=None, action="telemetry.spans_purged",
                     after={"deleted": deleted, "before": cutoff.isoformat()})
    return deleted
