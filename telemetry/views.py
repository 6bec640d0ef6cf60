"""``POST /otlp/v1/traces``: OTLP/HTTP (protobuf or JSON, gzip or not), authenticated with
a service token (``Authorization: Bearer <token>``, what exporters send through
``OTEL_EXPORTER_OTLP_TRACES_HEADERS``) whose role may add spans. Answers as OTLP asks: an
``ExportTraceServiceResponse`` (with ``partial_success`` naming refused spans) in the
request's encoding, or a ``google.rpc.Status`` body with 400/401/403/413/415."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import AuthenticationFailed

from controlplane.authentication import ServiceTokenAuthentication

from . import otlp, services

# google.rpc.Code values
_INVALID_ARGUMENT, _UNAUTHENTICATED, _PERMISSION_DENIED = 3, 16, 7


def _refuse(content_type, status, code, message):
    response = HttpResponse(otlp.encode_status(content_type, code, message), status=status,
                            content_type=content_type)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="otlp"'
    return response


@csrf_exempt
@login_not_required
@require_POST
def traces(request):
    content_type = (request.content_type or "").lower()
    if content_type not in (otlp.PROTOBUF, otlp.JSON):
        return _refuse(otlp.JSON, 415, _INVALID_ARGUMENT,
                       f"Content-Type must be {otlp.PROTOBUF} or {otlp.JSON}, not {content_type or 'none'}.")
    try:
        found = ServiceTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        return _refuse(content_type, 401, _UNAUTHENTICATED, str(exc.detail))
    if found is None and request.user.is_authenticated:
        return _refuse(content_type, 403, _PERMISSION_DENIED, "This endpoint takes a service token, not a session.")
    if found is None:
        return _refuse(content_type, 401, _UNAUTHENTICATED, "Send a service token: Authorization: Bearer <token>.")
    user, token = found
    if not user.has_perm("telemetry.add_span"):
        return _refuse(content_type, 403, _PERMISSION_DENIED, "This token's role may not send spans.")
    limit = settings.OTLP_MAX_BODY_BYTES
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return _refuse(content_type, 413, _INVALID_ARGUMENT, f"The body exceeds {limit} bytes.")
    try:
        body = otlp.inflate(request.body, request.headers.get("Content-Encoding", ""), limit)
        spans = list(otlp.spans_of(otlp.decode(body, content_type)))
    except otlp.BadRequest as exc:
        return _refuse(content_type, 400, _INVALID_ARGUMENT, str(exc))
    if len(spans) > settings.OTLP_MAX_SPANS_PER_REQUEST:
        return _refuse(content_type, 413, _INVALID_ARGUMENT,
                       f"{len(spans)} spans in one request; at most {settings.OTLP_MAX_SPANS_PER_REQUEST}.")
    rejected, reasons = services.ingest_spans(spans=spans, actor=user, scope=token)
    return HttpResponse(otlp.encode_response(content_type, rejected=rejected, message="; ".join(reasons)),
                        content_type=content_type)
