"""``{% load stewardship %}{% entity_stewardship entity %}``: the SoR assignments and
findings of one entity, for other apps' pages (the catalog's entity page)."""

from django import template

from ..choices import SorStatus
from ..selectors import entity_findings

register = template.Library()


@register.inclusion_tag("stewardship/_entity_panel.html", takes_context=True)
def entity_stewardship(context, entity):
    user = context.get("user")
    allowed = bool(user and user.has_perm("stewardship.view_sorassignment"))
    if not allowed:
        return {"allowed": False}
    assignments = entity.sor_assignments.filter(status__in=[SorStatus.APPROVED, SorStatus.PROPOSED]).select_related("system")
    return {
        "allowed": True,
        "entity": entity,
        "assignments": assignments,
        "findings": entity_findings([entity]).get(entity.pk, []),
    }


@register.filter
def ticks(text):
    """A finding's plain sentence with its `field names` set as code (escaped first)."""
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    parts = escape(text or "").split("`")
    return mark_safe("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))
