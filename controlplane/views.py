import logging
import sys
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import search
from .api import api_not_found, api_server_error, error_body
from .middleware import database_unavailable_response, is_database_unavailable
from .roles import ROLE_DESCRIPTIONS, user_roles

logger = logging.getLogger(__name__)


@require_GET
def home(request):
    """The page after sign-in: the work waiting for each role the user holds."""
    from . import home as blocks

    held = user_roles(request.user)
    return render(request, "controlplane/home.html", {
        "blocks": blocks.blocks_for(request.user),
        "role_descriptions": {r: ROLE_DESCRIPTIONS[r] for r in sorted(held) if r in ROLE_DESCRIPTIONS},
    })


@login_not_required
@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico on pages without a <link rel="icon"> (the admin, Swagger UI)."""
    from django.templatetags.static import static

    return redirect(static("img/favicon.svg"))


@login_not_required
@require_GET
@never_cache
def healthz(request):
    """Liveness: the process answers. Touches nothing else on purpose."""
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker():
    from .celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@login_not_required
@require_GET
@never_cache
def readyz(request):
    """Readiness: the database and the broker answer; 503 otherwise. The status is public
    (load balancers probe it anonymously); which part failed, how, the database vendor and
    the broker transport describe the deployment and go to staff only."""
    checks = {}
    ok = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        started = time.perf_counter()
        try:
            check()
            checks[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as exc:  # any failure means "not ready", with the reason
            logger.warning("readiness check %s failed: %s", name, exc)
            ok = False
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    checks["database"]["vendor"] = connection.vendor
    checks["broker"]["transport"] = settings.CELERY_BROKER_URL.split("://", 1)[0]
    body = {"status": "ok" if ok else "unavailable"}
    if getattr(request.user, "is_staff", False) and request.user.is_active:
        body["checks"] = checks
    return JsonResponse(body, status=200 if ok else 503)


@login_not_required
def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return render(request, "404.html", status=404)


@login_not_required
def server_error(request):
    # Called while the exception is being handled, so sys.exc_info() names it. A database
    # outage raised in middleware (session, user) lands here rather than in
    # DatabaseUnavailableMiddleware.process_exception: answer it with the same 503.
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return render(request, "500.html", status=500)


@login_not_required
def permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        from .api import error_body

        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    return render(request, "403.html", status=403)


# --- global search ------------------------------------------------------------------------

SEARCH_PAGE_SIZE = 25
SEARCH_PREVIEW = 5


def _search_term(request):
    term = request.GET.get("q", "").strip()
    if len(term) > search.MAX_QUERY_LENGTH:
        return None, f"Search for at most {search.MAX_QUERY_LENGTH} characters."
    if "\x00" in term:
        return None, "The search contains a character that cannot be searched for."
    return term, ""


def _page(request, queryset):
    return Paginator(queryset, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))


@require_GET
def search_page(request):
    """Systems, APIs, integrations and teams by name; exceptions by business key.
    ``EXC-123`` opens that exception. One kind (``kind=``) is paginated; without it each
    kind shows its first few matches and how many there are."""
    from exceptions import selectors as exception_selectors
    from exceptions.models import BusinessException

    kinds = search.global_kinds(request.user)
    can_see_exceptions = request.user.has_perm("exceptions.view_businessexception")
    if not kinds and not can_see_exceptions:
        raise PermissionDenied
    term, error = _search_term(request)
    if error:
        return render(request, "controlplane/search.html", {"error": error, "q": ""}, status=400)
    only = request.GET.get("kind", "")
    if only and only != "exception" and only not in {k.key for k in kinds}:
        return render(request, "controlplane/search.html", {"error": "Unknown kind of result.", "q": term}, status=400)
    contains = request.GET.get("contains") == "1"
    context = {"q": term, "kind": only, "groups": [], "contains": contains}
    if not term:
        return render(request, "controlplane/search.html", context)
    match = search.EXCEPTION_KEY.match(term)
    if match and can_see_exceptions:
        exc = BusinessException.objects.visible_to(request.user).filter(pk=int(match.group(1))).first()
        if exc is not None:
            return redirect(exc.get_absolute_url())
        context["missing_exception"] = term.upper()
        return render(request, "controlplane/search.html", context)
    trace_key = _trace_of(request.user, term) if not only else ""
    for kind in kinds:
        if only and only != kind.key:
            continue
        qs = kind.search(term)
        if only:
            page = _page(request, qs)
            context["page_obj"] = page
            items = [kind.as_json(obj) for obj in page]
            total = page.paginator.count
        else:
            items = [kind.as_json(obj) for obj in qs[:SEARCH_PREVIEW]]
            total = qs.count() if len(items) == SEARCH_PREVIEW else len(items)
        context["groups"].append({"key": kind.key, "label": kind.label, "items": items, "total": total})
    if trace_key:
        trace_url = f"{reverse('traces:trace')}?{urlencode({'key': trace_key})}"
        if request.GET.get("trace") != "0" and not any(group["total"] for group in context["groups"]):
            return redirect(trace_url)  # a business key and nothing named like it: open its trace
        context["trace"] = {"key": trace_key, "url": trace_url}
    if can_see_exceptions and (not only or only == "exception"):
        contains_cheap = exception_selectors.key_contains_is_cheap()
        if contains and contains_cheap:
            qs = exception_selectors.by_key_contains(request.user, term)
        else:
            qs = exception_selectors.by_key(request.user, term)
        if only:
            page = _page(request, qs)
            context["page_obj"] = page
            rows, total = list(page), page.paginator.count
        else:
            rows = list(qs[:SEARCH_PREVIEW])
            total = qs.count() if len(rows) == SEARCH_PREVIEW else len(rows)
        context["exceptions"] = {"rows": rows, "total": total, "contains": contains and contains_cheap,
                                 "contains_offered": contains_cheap and not contains}
    return render(request, "controlplane/search.html", context)


def _trace_of(user, term: str) -> str:
    """``term`` as a trace key when something ``user`` may see carries it, else ""."""
    from traces import selectors as trace_selectors
    from traces.views import may_trace

    key = trace_selectors.clean_key(term)
    return key if key and may_trace(user) and trace_selectors.has_trace(key, user) else ""


@require_GET
def search_suggest(request):
    """Type-ahead for the filter pickers: ``kind`` and ``q`` -> up to 20 ``{value, label,
    hint, url}``, the value being what the filter takes (a slug, a username)."""
    kind = search.KINDS.get(request.GET.get("kind", ""))
    if kind is None:
        return JsonResponse(error_body("invalid", "Unknown kind.", {"kind": [f"One of: {', '.join(search.KINDS)}."]}),
                            status=400)
    if not kind.allowed(request.user):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    term, error = _search_term(request)
    if error:
        return JsonResponse(error_body("invalid", error, {"q": [error]}), status=400)
    return JsonResponse({"results": search.suggest(kind, term)})


@login_not_required
@require_GET
@never_cache
def metrics(request):
    """Prometheus / OpenMetrics exposition (controlplane.metrics). Not a page: scrapers
    present a bearer token or come from the allowlist; everyone else gets 401/403."""
    from django.http import HttpResponse
    from prometheus_client.exposition import choose_encoder

    from . import metrics as exposition

    allowed, why = exposition.caller_allowed(request)
    if not allowed:
        if why == "forbidden":
            return HttpResponse("Metrics are read by a scraper with a metrics token (docs/metrics.md); "
                                "this caller may not.\n", status=403, content_type="text/plain")
        message = "Invalid or revoked token.\n" if why == "invalid" else \
            "Authentication required: Authorization: Bearer <metrics token>.\n"
        response = HttpResponse(message, status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(exposition.registry())
    response = HttpResponse(content_type=content_type)
    # Prometheus asks for gzip; a 10,000-integration scrape shrinks about tenfold.
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        import gzip

        body = gzip.compress(body, compresslevel=1)
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept, Accept-Encoding"
    response.content = body
    return response
