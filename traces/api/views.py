from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.errors import ValidationFailed
from controlplane.permissions import HasRole
from kpis.api.serializers import EventBatchResultSerializer
from kpis.api.views import store_event_items

from .. import cloudevents, selectors, services
from ..models import CloudEventMapping
from .serializers import CloudEventMappingSerializer, TraceSerializer


class TraceView(APIView):
    """The trace of one business key or correlation id: business events, sync runs,
    exceptions, replays and reconciliation mismatches that carry it, oldest first, each
    on the lane of the system or integration where it happened. What the caller's role
    may not read, and exceptions of restricted queues it is not a member of, are left out."""

    permission_classes = [HasRole]

    @extend_schema(parameters=[OpenApiParameter("key", OpenApiTypes.STR, required=True)],
                   responses={200: TraceSerializer})
    def get(self, request):
        key = selectors.clean_key(request.query_params.get("key"))
        if not key:
            raise ValidationFailed("Give ?key=, a business key or correlation id of at most 200 characters.",
                                   fields={"key": ["Required, at most 200 characters."]})
        t = selectors.trace(key, request.user)
        return Response(TraceSerializer({
            "key": t.key, "lanes": [lane.name for lane in t.lanes], "truncated": t.truncated, "items": t.items,
            "panels": [{"name": p["name"], **_jsonable(p["context"])} for p in t.panels],
        }).data)


def _jsonable(context):
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(context, cls=DjangoJSONEncoder, default=str))


class CloudEventsView(APIView):
    """CloudEvents 1.0 over HTTP: binary mode (``ce-*`` headers), structured mode
    (``application/cloudevents+json``) or a batch (``application/cloudevents-batch+json``).
    Each event becomes a business event through the (source, type) mapping, with the same
    validation and idempotency as ``POST /api/v1/events/``; each is accepted or rejected on
    its own. Service tokens are held to their integration scope."""

    required_perms = {"POST": ["kpis.add_businessevent"]}

    def get_parsers(self):
        return [parser() for parser in cloudevents.parsers()]

    @extend_schema(request={cloudevents.STRUCTURED: OpenApiTypes.OBJECT, cloudevents.BATCH: OpenApiTypes.OBJECT,
                            "application/json": OpenApiTypes.OBJECT},
                   responses={200: EventBatchResultSerializer})
    def post(self, request):
        mapped = cloudevents.to_event_items(cloudevents.read_http(request.headers, request.data))
        refused = {n: (m.ce_id, m.errors) for n, m in enumerate(mapped) if m.item is None}
        return store_event_items(request, [m.item or {} for m in mapped], refused=refused)


class MappingListCreateView(generics.ListAPIView):
    """``GET``: the CloudEvents (source, type) → business event type mappings. ``POST``:
    add one (architects)."""

    serializer_class = CloudEventMappingSerializer
    queryset = CloudEventMapping.objects.select_related("integration", "workflow")
    filterset_fields = ["source", "event_type"]
    ordering_fields = []

    @extend_schema(request=CloudEventMappingSerializer, responses={201: CloudEventMappingSerializer})
    def post(self, request):
        serializer = CloudEventMappingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mapping = services.set_mapping(actor=request.user, **serializer.validated_data)
        return Response(CloudEventMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)


class MappingDetailView(generics.RetrieveAPIView):
    """``GET``, ``PATCH`` (change what a type maps to) and ``DELETE`` one mapping."""

    serializer_class = CloudEventMappingSerializer
    queryset = CloudEventMapping.objects.select_related("integration", "workflow")

    @extend_schema(request=CloudEventMappingSerializer, responses={200: CloudEventMappingSerializer})
    def patch(self, request, pk):
        mapping = self.get_object()
        serializer = CloudEventMappingSerializer(mapping, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = {name: serializer.validated_data.get(name, getattr(mapping, name)) for name in services.MAPPING_FIELDS}
        mapping = services.set_mapping(actor=request.user, mapping=mapping, **values)
        return Response(CloudEventMappingSerializer(mapping).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.delete_mapping(actor=request.user, mapping=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
