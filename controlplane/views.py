import logging
import sys
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .api import api_not_found, api_server_error
from .middleware import database_unavailable_response, is_database_unavailable
from .roles import ROLE_DESCRIPTIONS, user_roles

logger = logging.getLogger(__name__)


@require_GET
def home(request):
    """Landing page: where each of the user's roles starts."""
    return render(
        request,
        "controlplane/home.html",
        {"role_descriptions": {r: ROLE_DESCRIPTIONS[r] for r in sorted(user_roles(request.user)) if r in ROLE_DESCRIPTIONS}},
    )


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
