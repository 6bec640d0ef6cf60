"""Reads of spans. ``spans_for_key`` is the business trace's source of technical hops:
the lead registers it beside the other trace sources."""

from django.db.models import Q

from exceptions.models import BusinessException

from .models import Span, SpanStatus

MAX_ITEMS = 500


def _detail(span: Span) -> str:
    parts = [f"flow {span.flow}" if span.flow else "", f"step {span.name}", f"{span.duration_ms:,} ms"]
    if span.status == SpanStatus.ERROR:
        parts.append(f"error: {span.error or 'failed'}")
    return " · ".join(p for p in parts if p)


def spans_probe(key: str, user):
    """Rows exist when ``spans_for_key`` has items for ``user`` (the header search asks)."""
    key = (key or "").strip()
    if not key or not user.has_perm("telemetry.view_span"):
        return None
    return Span.objects.filter(business_key=key)


def spans_for_key(key: str, user) -> list[dict]:
    """The spans that carried business key ``key``, oldest first, as trace items. A span
    whose exception ``user`` may not see (a restricted queue) is left out: its error is
    that exception's message. Nothing for a user without ``telemetry.view_span``."""
    key = (key or "").strip()
    if not key or not user.has_perm("telemetry.view_span"):
        return []
    hidden = Q(exception__isnull=False) & ~Q(exception__in=BusinessException.objects.visible_to(user))
    spans = (Span.objects.filter(business_key=key).exclude(hidden).select_related("integration")
             .order_by("started_at", "id")[:MAX_ITEMS])
    items = []
    for span in spans:
        integration = span.integration
        lane_url = integration.get_absolute_url() if integration else ""
        items.append({
            "at": span.started_at,
            "kind": "span",
            "lane": integration.name if integration else (span.service_name or "Unknown service"),
            "lane_url": lane_url,
            "title": f"{span.name} failed" if span.status == SpanStatus.ERROR else span.name,
            "detail": _detail(span),
            "status": span.status,
            "amount": None,
            "currency": "",
            "url": span.exception.get_absolute_url() if span.exception_id else lane_url,
        })
    return items
