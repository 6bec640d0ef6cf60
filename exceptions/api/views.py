"""The exceptions API: ingestion and auto-resolve for machines; list, detail, moves,
comments and replay for people; queues and routing rules for architects and admins."""

from django.conf import settings
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane import scope as token_scope
from controlplane.api import error_body
from controlplane.errors import ValidationFailed
from controlplane.pagination import LargeCursorPagination

from .. import services
from ..filtersets import BusinessExceptionFilterSet
from ..ingestion import validate_items
from ..models import BusinessException, Queue, RoutingRule
from ..selectors import routing_preview
from . import serializers as s

INGEST = "exceptions.ingest_businessexception"
CHANGE = "exceptions.change_businessexception"


class ExceptionCursorPagination(LargeCursorPagination):
    ordering = ("-last_seen", "-id")


class IngestView(APIView):
    """Post one exception object or a list of up to EXCEPTIONS_MAX_BATCH. All or nothing:
    one bad item refuses the whole batch (400) with every bad item's errors."""

    required_perms = {"POST": [INGEST]}

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = request.data
        single = isinstance(data, dict)
        raw_items = [data] if single else data
        if not isinstance(raw_items, list) or not raw_items:
            raise ValidationError({"non_field_errors": ["Send one JSON object or a non-empty list of objects."]})
        limit = settings.EXCEPTIONS_MAX_BATCH
        if len(raw_items) > limit:
            return Response(error_body("batch_too_large", f"{len(raw_items)} items; at most {limit} per post."), status=400)
        items, errors = validate_items(raw_items, header_key=request.headers.get("Idempotency-Key", "")[:190])
        if errors:
            return Response(error_body(
                "validation_failed", f"{len(errors)} of {len(raw_items)} item(s) are invalid; nothing was stored.",
                {"items": errors},
            ), status=400)
        results = services.ingest(items=items, actor=request.user, scope=token_scope.of_request(request))
        created = any(r["outcome"] == "created" for r in results)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(results[0] if single else {"results": results}, status=code)


class AutoResolveView(APIView):
    """Middleware says the source fixed itself: resolve by fingerprint or correlation id
    (optionally of one ``integration``). A token may resolve only within its scope."""

    required_perms = {"POST": [INGEST]}

    @extend_schema(request=s.ResolveSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        ser = s.ResolveSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        count = services.auto_resolve(actor=request.user, scope=token_scope.of_request(request), **ser.validated_data)
        return Response({"resolved": count})


TRANSITIONS = ("acknowledge", "assign", "start", "resolve", "dismiss", "reopen")


class BusinessExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = BusinessException.objects.select_related("integration", "entity", "queue", "assignee")
    filter_backends = [DjangoFilterBackend]
    filterset_class = BusinessExceptionFilterSet
    pagination_class = ExceptionCursorPagination

    @property
    def required_perms(self):
        read = ["exceptions.view_businessexception"]
        return {
            "comments": {"GET": read, "POST": ["exceptions.add_comment"]},
            "replay": {"POST": ["exceptions.replay_businessexception"]},
            "bulk": {"POST": [CHANGE]},
            **{name: {"POST": [CHANGE]} for name in TRANSITIONS},
        }.get(self.action, {"GET": read})

    def get_serializer_class(self):
        return s.BusinessExceptionDetailSerializer if self.action == "retrieve" else s.BusinessExceptionSerializer

    def filter_queryset(self, queryset):
        # Without query parameters every filter is a no-op, but building the FilterSet (a
        # deep copy of its filters, a bound form, its validation) still cost a millisecond
        # on each detail action: a resolve, an assign.
        if not self.request.query_params:
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self):
        if self.action in TRANSITIONS:
            # Only the visibility check: the service reads the row afresh (with what the
            # answer shows) inside its transaction.
            return BusinessException.objects.visible_to(self.request.user)
        qs = super().get_queryset().visible_to(self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related("replay_attempts", "comments__author", "comments__mentions")
        return qs

    def _transition(self, request, name):
        exc = self.get_object()
        ser = s.TransitionSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        common = {"exception": exc, "actor": request.user, "expected_status": d.get("expected_status") or None}
        if name == "acknowledge":
            moved = services.acknowledge(assignee=d.get("assignee"), **common)
        elif name == "assign":
            if "assignee" not in d:
                raise ValidationError({"assignee": ["This field is required (null to unassign)."]})
            moved = services.assign(assignee=d["assignee"], **common)
        elif name == "start":
            moved = services.start_progress(**common)
        elif name == "resolve":
            if not d.get("resolution_code"):
                raise ValidationError({"resolution_code": ["This field is required."]})
            moved = services.resolve(resolution_code=d["resolution_code"], note=d["note"], **common)
        elif name == "dismiss":
            moved = services.dismiss(resolution_code=d.get("resolution_code") or "not_an_error", note=d["note"], **common)
        else:
            moved = services.reopen(note=d["note"], **common)
        return Response(s.BusinessExceptionSerializer(moved).data)

    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._transition(request, "acknowledge")

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        return self._transition(request, "assign")

    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._transition(request, "start")

    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._transition(request, "resolve")

    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._transition(request, "dismiss")

    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._transition(request, "reopen")

    @extend_schema(methods=["GET"], responses=s.CommentSerializer(many=True))
    @extend_schema(methods=["POST"], request=s.CommentSerializer, responses={201: s.CommentSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=s.CommentSerializer, pagination_class=None)
    def comments(self, request, pk=None):
        exc = self.get_object()
        if request.method == "GET":
            qs = exc.comments.select_related("author").prefetch_related("mentions")
            return Response(s.CommentSerializer(qs, many=True).data)
        ser = s.CommentSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        comment = services.add_comment(exception=exc, actor=request.user, body=ser.validated_data["body"])
        return Response(s.CommentSerializer(comment).data, status=201)

    @extend_schema(request=s.ReplaySerializer, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], serializer_class=s.ReplaySerializer)
    def replay(self, request, pk=None):
        exc = self.get_object()
        ser = s.ReplaySerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        kwargs = {"payload": ser.validated_data["payload"]} if "payload" in ser.validated_data else {}
        replay_id = services.request_replay(exception=exc, actor=request.user, **kwargs)
        return Response({"replay_id": str(replay_id), "status": "queued"}, status=202)

    @action(detail=False, methods=["post"], serializer_class=s.BulkSerializer)
    def bulk(self, request):
        ser = s.BulkSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        name = d["action"]
        kwargs = {}
        if name == "assign":
            kwargs["assignee"] = d.get("assignee") or request.user
        elif name in ("resolve", "dismiss"):
            kwargs = {"resolution_code": d.get("resolution_code") or ("not_an_error" if name == "dismiss" else None),
                      "note": d["note"]}
            if not kwargs["resolution_code"]:
                raise ValidationError({"resolution_code": ["This field is required."]})
        elif name == "replay" and not request.user.has_perm("exceptions.replay_businessexception"):
            return Response(error_body("permission_denied", "You may not replay."), status=403)
        done, failed = services.bulk_apply(ids=d["ids"], actor=request.user, action=name, **kwargs)
        return Response({"done": done, "failed": {str(k): v for k, v in failed.items()}})


class _ServiceWriteMixin:
    """Writes through the audited services instead of serializer.save()."""

    save_service = None
    kwarg = None

    def perform_create(self, serializer):
        serializer.instance = type(self).save_service(actor=self.request.user, data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).save_service(
            actor=self.request.user, data=serializer.validated_data, **{self.kwarg: serializer.instance}
        )


class QueueViewSet(_ServiceWriteMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Queue.objects.select_related("team")
    serializer_class = s.QueueSerializer
    save_service = staticmethod(services.save_queue)
    kwarg = "queue"
    filterset_fields = ["team"]


class RoutingRuleViewSet(_ServiceWriteMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                         mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = RoutingRule.objects.select_related("integration", "entity", "queue", "assignee")
    serializer_class = s.RoutingRuleSerializer
    save_service = staticmethod(services.save_routing_rule)
    kwarg = "rule"
    filterset_fields = ["queue", "enabled"]

    def perform_destroy(self, instance):
        services.delete_routing_rule(actor=self.request.user, rule=instance)

    @extend_schema(
        request=s.RoutingRuleSerializer,
        responses=inline_serializer("RoutingPreview", {
            "count": serializers.IntegerField(),
            "changes": serializers.ListField(child=inline_serializer("RoutingPreviewChange", {
                "id": serializers.IntegerField(), "current_queue": serializers.CharField(),
                "proposed_queue": serializers.CharField(),
            })),
        }),
    )
    @action(detail=False, methods=["post"], url_path="preview")
    def preview(self, request):
        """Which recent open exceptions would route differently with this (unsaved) rule;
        give ``id`` to preview an edit of an existing rule."""
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send the rule as a JSON object.")
        instance = None
        if request.data.get("id") not in (None, ""):
            try:
                rule_id = int(request.data["id"])
            except (TypeError, ValueError):
                raise ValidationFailed("id must be a rule number.", fields={"id": ["Not a number."]}) from None
            instance = self.get_queryset().filter(pk=rule_id).first()
        ser = s.RoutingRuleSerializer(instance, data=request.data)
        ser.is_valid(raise_exception=True)
        rule = instance or RoutingRule()
        for key, value in ser.validated_data.items():
            setattr(rule, key, value)
        changes = routing_preview(rule, user=request.user)
        return Response({"count": len(changes), "changes": [
            {"id": c["exception"].pk, "current_queue": c["current"].slug, "proposed_queue": c["proposed"].slug}
            for c in changes
        ]})

    @property
    def required_perms(self):
        if self.action == "preview":
            return {"POST": ["exceptions.change_routingrule"]}
        return None
