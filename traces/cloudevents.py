"""CloudEvents 1.0 over HTTP, read with the CloudEvents SDK, and mapped onto the business
events of ``POST /api/v1/events/``:

=============  =====================================================================
CloudEvents    business event
=============  =====================================================================
``id``         ``event_id`` (idempotency: the same id with the same body is a duplicate)
``type``       ``type``, through the ``CloudEventMapping`` of (``source``, ``type``)
``source``     the mapping's integration (and workflow)
``subject``    ``correlation_key`` (the business key: INV-2026-1133)
``time``       ``occurred_at`` (required here: a fact without a time cannot be traced)
``data``       ``attributes``; ``data.amount`` and ``data.currency`` become the amount
``dataschema`` must name an approved schema version (``.../subjects/<slug>/versions/<n>``);
               ``data`` is validated against it
=============  =====================================================================

Binary mode (``ce-*`` headers, data in the body), structured mode
(``application/cloudevents+json``) and batches (``application/cloudevents-batch+json``, a
JSON array of structured events) are read; each event is accepted or rejected on its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
SCHEMA_PATH = re.compile(r"/subjects/(?P<slug>[-a-zA-Z0-9_]+)/versions/(?P<number>\d{1,9})/?$")
MAX_BATCH = 1000


@dataclass
class Incoming:
    """One CloudEvent of the request: the event dict for the events API, or its errors."""

    ce_id: str | None = None
    item: dict | None = None
    errors: dict = field(default_factory=dict)


def parsers():
    """DRF parsers for the two CloudEvents JSON media types and binary mode's JSON data:
    the project's hardened JSON parser (depth, NUL, surrogates, size) under their names."""
    from controlplane.parsers import JSONParser

    class StructuredEventParser(JSONParser):
        media_type = STRUCTURED

    class BatchParser(JSONParser):
        media_type = BATCH

    return [StructuredEventParser, BatchParser, JSONParser]


def read_http(headers, data) -> list[tuple]:
    """The request's events as ``(event | None, ce_id, errors)``, read by the SDK from the
    headers and the body (already parsed by the hardened JSON parser). A request that is
    not CloudEvents at all raises ValidationFailed (400)."""
    from cloudevents.core.bindings.http import HTTPMessage, from_binary
    from cloudevents.core.formats.json import JSONFormat

    from controlplane.errors import ValidationFailed

    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    fmt = JSONFormat()
    if content_type == BATCH:
        if not isinstance(data, list) or not data:
            raise ValidationFailed("A batch is a non-empty JSON array of structured CloudEvents.")
        if len(data) > MAX_BATCH:
            raise ValidationFailed(f"A batch holds at most {MAX_BATCH} events; this one has {len(data)}.")
        return [_parse(lambda r=r: fmt.read(None, json.dumps(r)), r) for r in data]
    if content_type == STRUCTURED:
        return [_parse(lambda: fmt.read(None, json.dumps(data)), data)]
    ce_headers = {k.lower(): v for k, v in headers.items() if k.lower().startswith("ce-") or k.lower() == "content-type"}
    if not any(k.startswith("ce-") for k in ce_headers):
        raise ValidationFailed(
            f"Send CloudEvents: binary mode (ce-* headers), {STRUCTURED} or {BATCH}.",
            fields={"content_type": [content_type or "missing"]})
    raw = {k[3:]: v for k, v in ce_headers.items() if k.startswith("ce-")}
    body = json.dumps(data).encode() if data is not None else b""
    return [_parse(lambda: from_binary(HTTPMessage(headers=ce_headers, body=body), fmt), raw)]


def _parse(read, raw):
    from cloudevents.core.exceptions import BaseCloudEventException

    ce_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    if not isinstance(raw, dict):
        return None, ce_id, {"event": ["Each item is a JSON object (a structured CloudEvent)."]}
    if str(raw.get("specversion")) != "1.0":
        return None, ce_id, {"specversion": ["Only CloudEvents 1.0 is accepted."]}
    try:
        return read(), ce_id, {}
    except BaseCloudEventException as exc:
        return None, ce_id, {"event": [str(exc)[:500]]}
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return None, ce_id, {"event": [f"Unreadable CloudEvent: {str(exc)[:300]}"]}


def to_event_items(parsed: list) -> list[Incoming]:
    """Map each parsed CloudEvent onto an events-API item (workflow and integration by
    slug), or record why it cannot be."""
    from .models import CloudEventMapping

    pairs = {(e.get_source(), e.get_type()) for e, _, _ in parsed if e is not None}
    mappings = {}
    if pairs:
        from django.db.models import Q

        cond = Q()
        for source, ce_type in pairs:
            cond |= Q(source=source, ce_type=ce_type)
        mappings = {(m.source, m.ce_type): m for m in
                    CloudEventMapping.objects.filter(cond).select_related("integration", "workflow")}
    schemas = _claimed_schemas({e.get_dataschema() for e, _, _ in parsed if e is not None and e.get_dataschema()})
    out = []
    for event, ce_id, errors in parsed:
        if event is None:
            out.append(Incoming(ce_id=ce_id, errors=errors))
            continue
        out.append(_map_one(event, mappings, schemas))
    return out


def _map_one(event, mappings, schemas) -> Incoming:
    incoming = Incoming(ce_id=event.get_id())
    mapping = mappings.get((event.get_source(), event.get_type()))
    if mapping is None:
        incoming.errors["type"] = [f"No mapping of type {event.get_type()!r} from source {event.get_source()!r}; "
                                   "an architect adds it under CloudEvents mappings."]
    if not event.get_subject():
        incoming.errors["subject"] = ["Give the business key (invoice number, project code) as the subject."]
    if event.get_time() is None:
        incoming.errors["time"] = ["Give the time the business fact occurred."]
    data = event.get_data()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        incoming.errors["data"] = ["data must be a JSON object (datacontenttype application/json)."]
        data = {}
    claimed = event.get_dataschema()
    if claimed:
        version = schemas.get(claimed)
        if version is None:
            incoming.errors["dataschema"] = [f"{claimed} is not an approved schema version."]
        else:
            from stewardship.validation import validate_payload

            problems = validate_payload(version.pk, version.document, data, limit=10)
            if problems:
                incoming.errors["data"] = [f"{p['path']}: {p['message']}" for p in problems]
    if incoming.errors:
        return incoming
    attributes = {k: v for k, v in data.items() if k not in ("amount", "currency")}
    if event.get_source() not in attributes.values():
        attributes.setdefault("cloudevents_source", event.get_source())
    incoming.item = {
        "event_id": event.get_id(), "type": mapping.event_type, "correlation_key": event.get_subject(),
        "occurred_at": event.get_time().isoformat(), "attributes": attributes,
        "integration": mapping.integration.slug if mapping.integration else "",
        "workflow": mapping.workflow.slug if mapping.workflow else "",
    }
    if data.get("amount") is not None:
        incoming.item["amount"] = data["amount"]
    if data.get("currency"):
        incoming.item["currency"] = data["currency"]
    return incoming


def _claimed_schemas(uris: set[str]) -> dict:
    """The approved schema version each ``dataschema`` URI names, if it names one."""
    from stewardship.choices import VersionStatus
    from stewardship.models import SchemaVersion

    out = {}
    for uri in uris:
        match = SCHEMA_PATH.search(uri.split("?")[0].split("#")[0])
        if match is None:
            continue
        version = (SchemaVersion.objects.filter(subject__slug=match["slug"], number=int(match["number"]),
                                                status=VersionStatus.APPROVED).first())
        if version is not None:
            out[uri] = version
    return out
