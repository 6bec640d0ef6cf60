"""OTLP/HTTP trace requests in and out: decoding with opentelemetry-proto (binary protobuf,
or the JSON encoding, whose trace and span ids are hex, not base64), and flattening each
span into the plain values the service stores. Strings are cleaned as the database needs
them (no NUL, no lone surrogates) and capped."""

import base64
import gzip
import json
import zlib

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_ATTRIBUTES = 64
MAX_VALUE = 500
_STATUS = {Status.STATUS_CODE_UNSET: "unset", Status.STATUS_CODE_OK: "ok", Status.STATUS_CODE_ERROR: "error"}


class BadRequest(ValueError):
    """The body is not an OTLP trace request (HTTP 400)."""


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip or none), at most ``limit`` bytes."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; send gzip or none.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest(f"The gzip body does not inflate: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BadRequest(f"The inflated body exceeds {limit} bytes.")
    return out


def _hex_to_b64(value):
    if not isinstance(value, str) or not value:
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise BadRequest(f"{value[:40]!r} is not a hex trace or span id.") from None


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"The body is not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
        return request
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an ExportTraceServiceRequest object.")
    try:
        for resource_spans in data.get("resourceSpans") or []:
            for scope_spans in resource_spans.get("scopeSpans") or []:
                for span in scope_spans.get("spans") or []:
                    for field in ("traceId", "spanId", "parentSpanId"):
                        if field in span:
                            span[field] = _hex_to_b64(span[field])
                    for link in span.get("links") or []:
                        for field in ("traceId", "spanId"):
                            if field in link:
                                link[field] = _hex_to_b64(link[field])
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (AttributeError, TypeError, json_format.ParseError) as exc:
        raise BadRequest(f"The JSON body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return request


def encode_response(content_type: str, *, rejected: int = 0, message: str = "") -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json.dumps(json_format.MessageToDict(response)).encode()


def encode_status(content_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status body, as OTLP/HTTP answers a refused request."""
    from google.rpc.status_pb2 import Status as RpcStatus

    status = RpcStatus(code=code, message=message)
    if content_type == PROTOBUF:
        return status.SerializeToString()
    return json.dumps({"code": code, "message": message}).encode()


def clean(value, limit: int = MAX_VALUE) -> str:
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and "\x00" not in text:  # nearly every name and value: nothing to do
        return text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return clean(any_value.string_value)
    if kind in ("bool_value", "int_value", "double_value"):
        return getattr(any_value, kind)
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values[:MAX_ATTRIBUTES]]
    if kind == "kvlist_value":
        return {clean(kv.key, 100): _value(kv.value) for kv in any_value.kvlist_value.values[:MAX_ATTRIBUTES]}
    return clean(any_value.bytes_value.hex())


def attributes(key_values) -> dict:
    return {clean(kv.key, 100): _value(kv.value) for kv in key_values[:MAX_ATTRIBUTES]}


def spans_of(request: ExportTraceServiceRequest):
    """Each span as a dict: ids in hex, times in Unix nanoseconds, its attributes and its
    resource's (shared by the spans of one resource, not stored), status, and the error (status message, else the message of
    its first ``exception`` event) with its type."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                error, error_type = span.status.message, ""
                for event in span.events:
                    if event.name == "exception":
                        event_attrs = attributes(event.attributes)
                        error = error or str(event_attrs.get("exception.message") or "")
                        error_type = str(event_attrs.get("exception.type") or "")
                        break
                yield {
                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(), "name": clean(span.name, 200),
                    "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano,
                    "status": _STATUS.get(span.status.code, "unset"), "attributes": attrs, "resource": resource,
                    "service_name": clean(resource.get("service.name") or "", 200),
                    "error": clean(error), "error_type": clean(error_type, 100),
                }
