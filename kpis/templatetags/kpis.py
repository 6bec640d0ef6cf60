from decimal import Decimal

from django import template
from django.conf import settings
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def sparkline(points, width=120, height=28):
    """A tiny inline SVG line of ``[(start, value), ...]``; gaps where there is no value."""
    points = [(start, None if v is None else float(v)) for start, v in points]  # drawing only
    values = [v for _, v in points if v is not None]
    if len(values) < 2:
        return format_html('<span class="muted">{}</span>', "not enough data")
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(1, len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, (_, v) in enumerate(points) if v is not None
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="trend">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        width, height, width, height, coords,
    )


@register.filter
def kpi_value(value, unit=""):
    """A KPI figure as people read it; money keeps its cents (Decimal, never via float)."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    if unit == "amount":
        return f"{value.quantize(Decimal('0.01')):,}"
    if unit == "%":
        return f"{value.quantize(Decimal('0.01'))}"
    if abs(value) >= 100 or value == value.to_integral_value():
        return f"{value.quantize(Decimal('1')):,}"
    return f"{value.quantize(Decimal('0.1')):,}"


@register.filter
def money(value):
    """A Decimal (or its string, as snapshot details keep it) with thousands and cents."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"


STATUS_LABELS = {"ok": "on target", "warn": "near target", "bad": "off target"}


@register.filter
def status_label(status):
    """A card's status as words: 'ok' -> 'on target' (board, cards and detail say the same)."""
    return STATUS_LABELS.get(status, "no data")


@register.simple_tag
def kpi_unit(kpi, detail=None):
    """The unit beside a value: the reporting currency for money KPIs."""
    if kpi.unit == "amount":
        return (detail or {}).get("currency") or settings.REPORTING_CURRENCY
    return kpi.unit


@register.simple_tag
def bar(share, width=160, height=12):
    """One horizontal bar (an SVG, so it prints and needs no inline style) of ``share`` percent."""
    share = max(0.0, min(100.0, float(share or 0)))
    return format_html(
        '<svg class="bar" width="{}" height="{}" viewBox="0 0 {} {}" aria-hidden="true">'
        '<rect x="0" y="0" width="{}" height="{}" fill="currentColor"/></svg>',
        width, height, width, height, f"{width * share / 100:.1f}", height,
    )
