"""Validation of ingestion posts: turns raw JSON items into ``services.IngestItem`` with
every item's errors collected, so a bad batch is refused whole with a per-item report."""

from decimal import Decimal, InvalidOperation

from django.conf import settings

from catalog.models import CanonicalEntity
from catalog.selectors import integrations_by_slug
from controlplane.validation import currency_problem, parse_instant

from .choices import Severity
from .services import IngestItem, payload_size

_STR_LIMITS = {"error_code": 100, "message": 10_000, "correlation_id": 200, "fingerprint": 128,
               "idempotency_key": 200, "currency": 3}


def validate_items(raw_items: list, *, header_key: str = "") -> tuple[list[IngestItem], list[dict]]:
    """-> (items, errors). ``errors`` is ``[{"index": i, "errors": {field: [message]}}]``;
    when it is not empty nothing may be stored."""
    limit = settings.EXCEPTIONS_MAX_PAYLOAD_BYTES
    slugs = {r.get("integration") for r in raw_items if isinstance(r, dict) and isinstance(r.get("integration"), str)}
    integrations = integrations_by_slug(slugs) if slugs else {}
    entity_slugs = {r.get("entity") for r in raw_items if isinstance(r, dict) and isinstance(r.get("entity"), str)}
    entities = dict(CanonicalEntity.objects.filter(slug__in=entity_slugs).values_list("slug", "id")) if entity_slugs else {}
    severities = frozenset(Severity.values)  # the enum builds a new list on every access
    items, errors = [], []
    single = len(raw_items) == 1
    for index, raw in enumerate(raw_items):
        problems: dict[str, list[str]] = {}

        def bad(field, message, problems=problems):
            problems.setdefault(field, []).append(message)

        if not isinstance(raw, dict):
            errors.append({"index": index, "errors": {"non_field_errors": ["Each item must be a JSON object."]}})
            continue
        for field in ("integration", "error_code", "message"):
            if not isinstance(raw.get(field), str) or not raw.get(field).strip():
                bad(field, "This field is required.")
        for field, maximum in _STR_LIMITS.items():
            value = raw.get(field)
            if value is not None and not isinstance(value, str):
                bad(field, "Must be a string.")
            elif isinstance(value, str) and len(value) > maximum:
                bad(field, f"At most {maximum} characters.")
        integration = None
        if isinstance(raw.get("integration"), str) and raw["integration"].strip():
            integration = integrations.get(raw["integration"])
            if integration is None:
                bad("integration", f"Unknown integration {raw['integration']!r}.")
        entity_id = None
        if raw.get("entity") is not None:
            entity_id = entities.get(raw["entity"]) if isinstance(raw["entity"], str) else None
            if entity_id is None:
                bad("entity", f"Unknown entity {raw['entity']!r}.")
        severity = raw.get("severity") or Severity.MEDIUM
        if severity not in severities:
            bad("severity", f"One of {', '.join(Severity.values)}.")
        keys = raw.get("business_keys") or {}
        if not isinstance(keys, dict) or any(isinstance(v, dict | list) for v in keys.values()):
            bad("business_keys", "An object of key: value pairs (values are strings or numbers).")
            keys = {}
        else:
            keys = {str(k): ("" if v is None else str(v) if not isinstance(v, str) else v.strip()) for k, v in keys.items()}
        amount = raw.get("amount_at_risk")
        if amount is not None:
            try:
                amount = Decimal(str(amount))
                if amount < 0 or amount >= Decimal("1e14") or not amount.is_finite():
                    raise InvalidOperation
                amount = amount.quantize(Decimal("0.01"))
            except (InvalidOperation, ValueError):
                bad("amount_at_risk", "A non-negative number.")
                amount = None
        currency = raw.get("currency") or ""
        currency = currency.strip().upper() if isinstance(currency, str) else currency
        if isinstance(currency, str) and (problem := currency_problem(currency, amount)):
            bad("currency", problem)
        details = raw.get("details") or {}
        if not isinstance(details, dict):
            bad("details", "Must be an object.")
        payload = raw.get("payload")
        if payload is not None and payload_size(payload) > limit:
            bad("payload", f"Payload is {payload_size(payload)} bytes; the limit is {limit}.")
        seen_at = None
        if raw.get("occurred_at") is not None:
            seen_at, problem = parse_instant(raw["occurred_at"])
            if problem:
                bad("occurred_at", problem)
        key = raw.get("idempotency_key") or ""
        if not key and header_key:
            key = header_key if single else f"{header_key}:{index}"
        if problems:
            errors.append({"index": index, "errors": problems})
            continue
        items.append(IngestItem(
            integration=integration, entity_id=entity_id, error_code=raw["error_code"].strip(),
            message=raw["message"], severity=severity, business_keys=keys, amount_at_risk=amount,
            currency=currency, correlation_id=raw.get("correlation_id") or "",
            fingerprint=raw.get("fingerprint") or "", idempotency_key=key, payload=payload,
            details=details, seen_at=seen_at,
        ))
    return items, errors
