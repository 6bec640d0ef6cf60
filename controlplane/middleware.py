import contextvars
import logging
import re
import uuid

from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

logger = logging.getLogger(__name__)
_request_id = contextvars.ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id():
    return _request_id.get()


class RequestIdMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when it is sane), echoes it
    in the response and makes it available to the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page needs a signed-in user, except views marked ``login_not_required``.

    The API authenticates inside DRF (tokens as well as sessions) and answers 401/403 in
    the project's error shape, so it is left to DRF instead of being redirected here.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


# --- the database is unreachable -------------------------------------------------------------

# Not "nothing was changed": a connection lost during COMMIT leaves the outcome unknown,
# which is what idempotency keys are for.
_DB_DOWN_MESSAGE = "The database is unavailable. Retry shortly; repeat writes with the same idempotency key."
RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc) -> bool:
    """True for the errors a lost or refused database connection raises (PostgreSQL
    restarting, failing over, the network cut). Constraint violations and bad SQL are
    DatabaseErrors too but are bugs or conflicts, not an outage, so they are not included."""
    from django.db import InterfaceError, OperationalError

    kinds = (OperationalError, InterfaceError)
    try:  # Django does not wrap every driver call: closing a server-side cursor (the
        # .iterator() of a form's choices) raises psycopg's own error.
        import psycopg

        kinds += (psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # SQLite-only installs
        pass
    if not isinstance(exc, kinds):
        return False
    # Class 40 (deadlock, serialization failure) is a race between requests, not an outage:
    # it stays a logged 500 so it gets fixed rather than hidden behind "unavailable".
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None) or ""
    return not sqlstate.startswith("40")


def database_unavailable_response(request):
    """503 with Retry-After: the API's error shape under /api/, a static page otherwise.

    Rendered without the request context on purpose: the context processors (the user's
    roles) would query the database that just failed."""
    from django.http import HttpResponse, JsonResponse
    from django.template.loader import render_to_string

    from .api import error_body

    request_id = getattr(request, "request_id", "")
    if request.path_info.startswith("/api/"):
        response = JsonResponse(
            error_body("database_unavailable", _DB_DOWN_MESSAGE, {"request_id": request_id}), status=503
        )
    else:
        response = HttpResponse(render_to_string("503.html", {"request_id": request_id}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection raised by a view into a clean 503 instead of a 500
    traceback. The worker keeps running: Django discards the broken connection at the end
    of the request (and CONN_HEALTH_CHECKS re-checks a persistent one before reuse), so
    the next request reconnects by itself once PostgreSQL is back.

    Errors raised inside other middleware (the session or user lookup) never reach
    ``process_exception``; the 500 handler (``controlplane.views.server_error``) answers
    those with the same 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response(request)
        return None


class RejectNulMiddleware:
    """A NUL byte in the path, the query string or a form field is never meaningful and
    PostgreSQL refuses it in any text comparison (a lookup or search would fail as a 500),
    so such requests are answered 400 before any view runs: in the API's error shape under
    /api/. Form bodies are checked for every HTML form in one place; API bodies are DRF's
    (``controlplane.parsers`` refuses NUL and lone surrogates in JSON). Lone surrogates
    cannot arrive in a form: Django decodes form bodies as UTF-8 with replacement."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return self._refuse(request, "The URL contains a NUL character.")
        if self._form_has_nul(request):
            return self._refuse(request, "A form field contains a NUL character.")
        return self.get_response(request)

    @staticmethod
    def _form_has_nul(request) -> bool:
        if request.method != "POST" or request.path.startswith("/api/"):
            return False
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return False
        try:
            fields = request.POST
        except Exception:  # noqa: BLE001  an oversized or malformed body: the view reports it as usual
            return False
        return any("\x00" in key or any("\x00" in value for value in fields.getlist(key)) for key in fields)

    @staticmethod
    def _refuse(request, message):
        if request.path.startswith("/api/"):
            from django.http import JsonResponse

            from .api import error_body

            return JsonResponse(error_body("bad_request", message), status=400)
        from django.http import HttpResponseBadRequest

        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (Django's never-cache set) on every response under
    ``settings.NO_STORE_PATH_PREFIXES``: the pages, exports and API answers that hold
    finance data (exception queues and their CSV, KPI pages and exports, the admin's control
    board). A shared proxy or the browser's disk cache must not keep a copy for the next
    person at that machine. One list, so a new finance page inherits it by its address."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.prefixes = tuple(settings.NO_STORE_PATH_PREFIXES)

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(self.prefixes):
            from django.utils.cache import add_never_cache_headers

            add_never_cache_headers(response)
        return response


# --- machine requests skip what only browsers need ---------------------------------------------

# Paths whose credential is in the URL (a heartbeat's token): always machine requests.
MACHINE_PATH_PREFIXES = ("/api/v1/heartbeat/",)
_TOKEN_KEYWORDS = (b"bearer ", b"token ")
# The Schema Registry wire API authenticates Kafka clients by HTTP Basic (service
# account:token) as well as bearer tokens, in its own views (stewardship.registry.views);
# a bad credential there is a 401, never a fall back to the session either.
REGISTRY_PREFIX = "/registry/confluent/"
_REGISTRY_KEYWORDS = (b"basic ", *_TOKEN_KEYWORDS)


def is_machine_request(request) -> bool:
    """An API request that carries a service token (``Authorization: Bearer|Token``) or a
    token-in-URL path, or a Schema Registry wire request with Basic or token credentials.
    Those are authenticated by the credential alone (a bad one is a 401, never a fall back
    to the session), so sessions, messages and the session user are of no use to them (a
    view that accepts only sessions sees an anonymous user: it fails closed). Pages outside
    /api/ are never machine requests: their sign-in check always runs."""
    known = request.__dict__.get("_is_machine")
    if known is None:
        path = request.path_info
        scheme = request.META.get("HTTP_AUTHORIZATION", "")[:7].lower().encode(errors="replace")
        if path.startswith("/api/"):
            known = path.startswith(MACHINE_PATH_PREFIXES) or scheme.startswith(_TOKEN_KEYWORDS)
        else:
            known = path.startswith(REGISTRY_PREFIX) and scheme.startswith(_REGISTRY_KEYWORDS)
        request._is_machine = known
    return known


class _BrowserOnly:
    """Runs the wrapped middleware for browser requests only (``is_machine_request``)."""

    def __call__(self, request):
        if is_machine_request(request):
            return self.get_response(request)
        return super().__call__(request)


def _browser_only(base, doc):
    attrs = {"__doc__": doc, "__module__": __name__}
    if hasattr(base, "process_view"):
        def process_view(self, request, *args):
            return None if is_machine_request(request) else base.process_view(self, request, *args)

        attrs["process_view"] = process_view
    return type(f"Browser{base.__name__}", (_BrowserOnly, base), attrs)


def _django_middlewares():
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.messages.middleware import MessageMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    return SessionMiddleware, AuthenticationMiddleware, MessageMiddleware


_Session, _Auth, _Messages = _django_middlewares()
BrowserSessionMiddleware = _browser_only(_Session, "Django's SessionMiddleware, skipped for machine requests.")
BrowserMessageMiddleware = _browser_only(_Messages, "Django's MessageMiddleware, skipped for machine requests.")


class BrowserAuthenticationMiddleware(_Auth):
    """Django's AuthenticationMiddleware; a machine request has no session, so its user
    starts anonymous (DRF sets the token's user when it authenticates)."""

    def process_request(self, request):
        if is_machine_request(request):
            from django.contrib.auth.models import AnonymousUser

            request.user = AnonymousUser()
            return
        super().process_request(request)
