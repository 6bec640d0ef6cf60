from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def sparkline(points, width=120, height=28):
    """A tiny inline SVG line of ``[(start, value), ...]``; gaps where there is no value."""
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
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.2f}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"
