from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from controlplane.roles import user_roles

from . import selectors


def may_trace(user) -> bool:
    """Any role may open a trace; each source then shows only what the role may read."""
    return bool(user.is_authenticated and (user.is_superuser or user_roles(user)))


@require_GET
def trace_page(request):
    """The timeline of one business key: one lane per system or integration, in time order."""
    if not may_trace(request.user):
        raise PermissionDenied
    raw = request.GET.get("key", "")
    key = selectors.clean_key(raw)
    context = {"key": key, "raw": raw[:200]}
    if raw and not key:
        context["error"] = "Give a business key or correlation id of at most 200 characters."
        return render(request, "traces/trace.html", context, status=400)
    if key:
        trace = selectors.trace(key, request.user)
        context.update(trace=trace, rows=selectors.swimlane_rows(trace))
    return render(request, "traces/trace.html", context)
