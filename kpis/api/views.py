import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Workflow
from catalog.selectors import integrations_by_slug
from controlplane import scope as token_scope
from controlplane import serializing
from controlplane.errors import IdempotencyConflict, NotFound, ValidationFailed
from controlplane.pagination import LargeCursorPagination
from controlplane.validation import date_problem

from .. import selectors, services
from ..choices import Period, ScopeType
from ..definitions import KPIS
from ..filtersets import FxRateFilterSet
from ..models import BusinessEvent, FxRate
from ..periods import window_containing
from .serializers import (
    MAX_BATCH,
    EventBatchResultSerializer,
    EventInSerializer,
    EventSerializer,
    FxRateSerializer,
    KpiSerializer,
    ReconciliationSerializer,
    SeriesPointSerializer,
)


def batch_items(request, noun: str) -> list[dict]:
    """The body as a list of objects: one object or a list of 1..MAX_BATCH, else a 400."""
    items = request.data if isinstance(request.data, list) else [request.data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ValidationFailed(f"Send one {noun} object or a non-empty list of {noun} objects.")
    if len(items) > MAX_BATCH:
        raise ValidationFailed(f"A batch holds at most {MAX_BATCH} {noun}s; this one has {len(items)}.")
    return items


class EventListCreateView(generics.ListAPIView):
    """``GET``: business events, newest first (cursor pages). ``POST``: one event or a list
    of up to 1,000. Idempotent by ``event_id``; each bad item is rejected with its reasons
    while the good ones are stored."""

    serializer_class = EventSerializer
    pagination_class = LargeCursorPagination
    queryset = BusinessEvent.objects.select_related("workflow", "integration")
    filterset_fields = ["type", "correlation_key"]
    ordering_fields = []

    @extend_schema(request=EventInSerializer(many=True), responses={200: EventBatchResultSerializer})
    def post(self, request):
        return store_event_items(request, batch_items(request, "event"))


def store_event_items(request, items: list, refused: dict | None = None) -> Response:
    """Validate and store events-API items, each accepted or rejected on its own, and answer
    the batch result (400 when every item was rejected). ``refused`` maps an index to
    ``(event_id, errors)`` for items the caller already found unusable (an unreadable
    CloudEvent); their place in ``items`` is ignored. The one path of POST /events/ and
    POST /cloudevents/."""
    refused = refused or {}
    usable = [i for n, i in enumerate(items) if n not in refused and isinstance(i, dict)]
    workflows = {i.get("workflow") for i in usable if isinstance(i.get("workflow"), str) and i.get("workflow")}
    integrations = {i.get("integration") for i in usable if isinstance(i.get("integration"), str) and i.get("integration")}
    # No query (nor the ORM's work of building one) for a name no item gives.
    context = {"lookups": {
        "workflow": dict(Workflow.objects.filter(slug__in=workflows).values_list("slug", "id")) if workflows else {},
        "integration": {slug: i.pk for slug, i in integrations_by_slug(integrations).items()} if integrations else {},
    }}
    valid, results = [], []
    for index, item in enumerate(items):
        if index in refused:
            event_id, errors = refused[index]
            results.append({"index": index, "event_id": event_id, "status": "rejected", "errors": errors})
            continue
        data, errors = serializing.validate(EventInSerializer, item, context=context)
        event_id = item.get("event_id") if isinstance(item.get("event_id"), str) else None
        if errors is None:
            valid.append((index, data))
            results.append(None)
        else:
            results.append({"index": index, "event_id": event_id, "status": "rejected", "errors": errors})
    try:
        stored = services.ingest_events(items=[data for _, data in valid], scope=token_scope.of_request(request))
    except IdempotencyConflict as conflict:
        # Report the indexes of the request, not of the valid subset, and show the stored event.
        for clash in conflict.fields.get("items", []):
            clash["index"] = valid[clash["index"]][0]
        known = BusinessEvent.objects.filter(pk=conflict.fields.get("id")).select_related("workflow", "integration").first()
        if known is not None:
            conflict.fields["event"] = EventSerializer(known).data
        raise
    for (index, _), outcome in zip(valid, stored, strict=True):
        results[index] = {"index": index, **outcome}
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "duplicate", "rejected")}
    code = status.HTTP_400_BAD_REQUEST if counts["rejected"] == len(items) else status.HTTP_200_OK
    body = {"created": counts["created"], "duplicates": counts["duplicate"], "rejected": counts["rejected"], "results": results}
    if code == status.HTTP_400_BAD_REQUEST:
        body = {"error": {"code": "validation_failed", "message": "Every event in the request was rejected.",
                          "fields": {"results": results}}}
    return Response(body, status=code)


class ReconciliationCreateView(APIView):
    """Record the reconciliation of one integration, entity and period (an upsert)."""

    required_perms = {"POST": ["kpis.add_reconciliation"]}

    @extend_schema(request=ReconciliationSerializer, responses={200: ReconciliationSerializer, 201: ReconciliationSerializer})
    def post(self, request):
        serializer = ReconciliationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        recon, created = services.record_reconciliation(
            actor=request.user, integration=data.pop("integration"), entity=data.pop("entity"),
            period_start=data.pop("period_start"), period_end=data.pop("period_end"),
            scope=token_scope.of_request(request), **data,
        )
        return Response(ReconciliationSerializer(recon).data, status=201 if created else 200)


def _period_param(request) -> str:
    period = request.query_params.get("period", Period.WEEK)
    if period not in Period.values:
        raise ValidationFailed(f"period must be one of {', '.join(Period.values)}.", fields={"period": ["Invalid."]})
    return period


def _date_param(request, name, default):
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD).", fields={name: ["Invalid date."]}) from None
    problem = date_problem(value)
    if problem:
        raise ValidationFailed(f"{name}: {problem}", fields={name: [problem]})
    return value


class KpiListView(APIView):
    """Every KPI with its latest value for the whole estate, target and status."""

    required_perms = {"GET": ["kpis.view_kpisnapshot"]}

    @extend_schema(
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, enum=Period.values)],
        responses={200: KpiSerializer(many=True)},
    )
    def get(self, request):
        period = _period_param(request)
        today = timezone.now().date()
        cards = selectors.cards(period=period, first=today - dt.timedelta(days=40), last=today)
        return Response(KpiSerializer([
            {"key": c.kpi.key, "name": c.kpi.name, "description": c.kpi.description, "unit": c.kpi.unit,
             "direction": c.kpi.direction, "formula": c.kpi.formula, "period": period, "period_start": c.window_start,
             "value": c.value, "detail": c.detail, "target": c.target, "status": c.status,
             "computed_at": c.computed_at,
             "so_far": {"period_start": c.running.start, "value": c.running_value, "detail": c.running_detail,
                        "computed_at": c.running_computed_at} if c.running else None}
            for c in cards
        ], many=True).data)


class KpiSeriesView(APIView):
    """A KPI's values per period for one scope, for BI tools."""

    required_perms = {"GET": ["kpis.view_kpisnapshot"]}

    @extend_schema(
        parameters=[
            OpenApiParameter("period", OpenApiTypes.STR, enum=Period.values),
            OpenApiParameter("from", OpenApiTypes.DATE), OpenApiParameter("to", OpenApiTypes.DATE),
            OpenApiParameter("scope_type", OpenApiTypes.STR, enum=ScopeType.values),
            OpenApiParameter("scope_key", OpenApiTypes.STR),
        ],
        responses={200: SeriesPointSerializer(many=True)},
    )
    def get(self, request, key):
        if key not in KPIS:
            raise NotFound(f"No KPI {key!r}. Known: {', '.join(KPIS)}.")
        period = _period_param(request)
        last = _date_param(request, "to", timezone.now().date())
        first = _date_param(request, "from", last - dt.timedelta(days=90))
        if first > last:
            raise ValidationFailed("from is after to.", fields={"from": ["Must not be after to."]})
        if (last - first).days > 3660:
            raise ValidationFailed("Ask for at most ten years at a time.")
        scope_type = request.query_params.get("scope_type", ScopeType.ALL)
        if scope_type not in ScopeType.values:
            raise ValidationFailed(f"scope_type must be one of {', '.join(ScopeType.values)}.")
        scope_key = request.query_params.get("scope_key", "")[:100] if scope_type != ScopeType.ALL else ""
        if scope_key and scope_key in selectors.hidden_scopes(request.user, KPIS[key]).get(scope_type, ()):
            # The same answer as an unknown scope: a restricted queue's figure is not isolated for outsiders.
            raise NotFound(f"No {scope_type} {scope_key!r} for this KPI.")
        points = selectors.series(key, period=period, first=window_containing(period, first).start, last=last,
                                  scope_type=scope_type, scope_key=scope_key)
        return Response(SeriesPointSerializer(
            [{"period_start": start, "value": value, "detail": detail} for start, value, detail in points], many=True).data)



class FxRateListCreateView(generics.ListAPIView):
    """``GET``: dated FX rates, newest first (filters: base, quote, date_from, date_to).
    ``POST``: one rate or a list of up to 1,000 (finance); a known pair and day is
    replaced. All or nothing: one bad item refuses the batch with every item's errors."""

    serializer_class = FxRateSerializer
    pagination_class = LargeCursorPagination
    queryset = FxRate.objects.all()
    filterset_class = FxRateFilterSet
    ordering_fields = []

    @extend_schema(request=FxRateSerializer(many=True), responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        items = batch_items(request, "rate")
        serializers_ = [FxRateSerializer(data=item) for item in items]
        errors = {str(i): s.errors for i, s in enumerate(serializers_) if not s.is_valid()}
        if errors:
            raise ValidationFailed(f"{len(errors)} of {len(items)} rates are invalid; nothing was stored.", fields=errors)
        summary = services.record_fx_rates(
            actor=request.user, source=f"API ({request.user.get_username()})",
            rates=[(d["base"], d["quote"], d["date"], d["rate"]) for d in (s.validated_data for s in serializers_)],
        )
        return Response(summary, status=status.HTTP_201_CREATED)
