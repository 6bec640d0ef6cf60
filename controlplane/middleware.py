import contextvars
import re
import uuid

from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

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


class RejectNulMiddleware:
    """A NUL byte in the path or query string is never meaningful and PostgreSQL refuses it
    in any text comparison (a lookup or search would fail as a 500), so such requests are
    answered 400 before any view runs: in the API's error shape under /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.META.get(
            "QUERY_STRING", ""
        ):
            message = "The URL contains a NUL character."
            if request.path.startswith("/api/"):
                from django.http import JsonResponse

                from .api import error_body

                return JsonResponse(error_body("bad_request", message), status=400)
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
