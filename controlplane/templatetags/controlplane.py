from django import template
from django.urls import NoReverseMatch, reverse

from controlplane.audit import action_label, display_name, key_label, readable_history

register = template.Library()


@register.simple_tag
def optional_url(name, *args):
    """The URL of ``name``, or "" while that page does not exist (the nav skips it)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@register.inclusion_tag("controlplane/_history.html")
def object_history(obj, limit=50):
    """The audit trail of one object, newest first."""
    return {"entries": readable_history(obj, limit)}


@register.filter
def keylabel(name):
    """A business key or field name as people write it: ``invoice_number`` -> ``Invoice number``."""
    return key_label(name)


@register.filter
def actionlabel(action):
    """An audit action as words: ``businessexception.assigned`` -> ``assigned``."""
    return action_label(action)


@register.simple_tag(takes_context=True)
def query_with(context, **kwargs):
    """The current query string with some parameters replaced (pagination, sorting)."""
    params = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def control_board():
    """What needs attention now and the headline KPIs (the admin index shows them)."""
    from controlplane import board

    return {"lines": board.attention_now(), "kpis": board.headline_kpis(), "recent": board.recent_changes()}


@register.filter
def person(user, default="—"):
    """A user as people call them: the full name, else the username; ``default`` if none."""
    return display_name(user) if user else default


@register.filter
def duration(seconds):
    """Seconds as a person reads them: 86400 -> '24 h', 371 -> '6 min' (controlplane.units)."""
    from controlplane.units import duration as text

    return text(seconds)


@register.filter
def budget_left(percent):
    """An error budget's remainder: '42.0 %'; spent past it, 'none (spent 74.5× the budget)'
    rather than '-7347.6 %'."""
    if percent is None or percent == "":  # no SLA: the template's lookup gives ""
        return "—"
    percent = float(percent)
    if percent >= 0:
        return f"{percent:.1f} %"
    return f"none (spent {(100 - percent) / 100:.1f}× the budget)"
