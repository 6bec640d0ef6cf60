
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Integration
from catalog.selectors import integrations_by_slug
from controlplane import scope as token_scope
from controlplane import serializing
from controlplane.api import error_body
from controlplane.authentication import ServiceTokenAuthentication
from controlplane.errors import DomainError, IdempotencyConflict, ValidationFailed
from controlplane.pagination import LargeCursorPagination

from .. import services
from ..choices import WINDOWS
from ..models import Flip, HealthConfig, MaintenanceWindow, Notification, NotificationChannel, Probe, SyncRun
from ..sla import sla_rows
from . import serializers as s


class IntegrationRunsView(APIView):
    """Sync runs of one integration. POST (service token, ``health.add_syncrun``) reports a
    run; ``run_id`` or an ``Idempotency-Key`` header makes repeats harmless."""

    required_perms = {"GET": ["health.view_syncrun"], "POST": ["health.add_syncrun"]}

    @extend_schema(responses=s.SyncRunSerializer(many=True))
    def get(self, request, slug):
        integration = get_object_or_404(Integration, slug=slug)
        runs = SyncRun.objects.filter(integration=integration).select_related("integration")[:100]
        return Response(s.SyncRunSerializer(runs, many=True).data)

    @extend_schema(request=s.SyncRunInSerializer, responses={201: s.SyncRunSerializer, 200: s.SyncRunSerializer})
    def post(self, request, slug):
        integration = integrations_by_slug([slug]).get(slug)
        if integration is None:
            raise Http404("No Integration matches the given query.")
        data = serializing.validated(s.SyncRunInSerializer, request.data)
        run_key = data.get("run_id") or request.headers.get("Idempotency-Key") or None
        if run_key and len(run_key) > 100:
            raise ValidationFailed("The idempotency key may be at most 100 characters.")
        try:
            run, created = services.record_run(
                integration=integration, actor=request.user, status=data["status"], started_at=data.get("started_at"),
                finished_at=data.get("finished_at"), run_key=run_key, records_processed=data.get("records_processed", 0),
                records_failed=data.get("records_failed", 0), lag_seconds=data.get("lag_seconds"),
                scope=token_scope.of_request(request), business_keys=data.get("business_keys", ()),
            )
        except IdempotencyConflict as conflict:  # show the stored run, as events show the stored event
            known = SyncRun.objects.filter(pk=conflict.fields.get("id")).select_related("integration").first()
            if known is not None:
                conflict.fields["run"] = s.SyncRunSerializer(known).data
            raise
        return Response(serializing.represent(s.SyncRunSerializer, run),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def heartbeat(request, token, failed=False, action=None):
    """healthchecks.io's ping protocol, so cron wrappers (runitor, curl one-liners) work
    unchanged: ``<token>`` success, ``/start``, ``/fail``, ``/<exit status 0-255>``,
    ``/log``, an optional ``?rid=<uuid>`` run id, the request body kept as the run's log.
    The token in the URL is the credential. A caller that also sends a service token is
    held to that token's scope."""
    try:
        token = uuid.UUID(str(token))
    except ValueError:
        return JsonResponse(error_body("not_found", "Unknown heartbeat URL."), status=404)
    kind, exit_status = ("fail" if failed else None), None
    if action is not None and action.isdigit():
        exit_status = int(action)
    elif action is not None:
        kind = action
    rid = request.GET.get("rid") or None
    if rid is not None:
        try:
            rid = uuid.UUID(rid)
        except ValueError:
            return JsonResponse(error_body("validation_failed", "rid must be a UUID.", {"rid": ["Not a UUID."]}), status=400)
    try:
        authenticated = ServiceTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        return JsonResponse(error_body("authentication_failed", str(exc.detail)), status=401)
    body = request.read(settings.HEARTBEAT_BODY_LIMIT_BYTES + 1) if request.method == "POST" else b""
    try:
        run = services.heartbeat(
            token=token, kind=kind, exit_status=exit_status, rid=rid, body=body, method=request.method,
            user_agent=request.headers.get("User-Agent", ""), scope=authenticated[1] if authenticated else None,
        )
    except DomainError as exc:
        return JsonResponse(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if run is None:
        return JsonResponse({"ok": True, "ping": kind})
    return JsonResponse({"ok": True, "run_id": run.run_key, "status": run.status})


class StatusViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Current status of every integration with health data."""

    queryset = HealthConfig.objects.select_related("integration").order_by("integration__name")
    serializer_class = s.StatusSerializer
    lookup_field = "integration__slug"
    lookup_url_kwarg = "slug"
    filterset_fields = ["status", "paused"]


class ProbeViewSet(viewsets.ModelViewSet):
    queryset = Probe.objects.select_related("integration", "api").order_by("integration__name", "name")
    serializer_class = s.ProbeSerializer
    filterset_fields = ["enabled", "state"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_probe(actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("integration", None)
        secret_headers = data.pop("secret_headers", None)
        serializer.instance = services.update_probe(probe=serializer.instance, actor=self.request.user,
                                                    secret_headers=secret_headers, **data)

    def perform_destroy(self, instance):
        services.delete_probe(probe=instance, actor=self.request.user)


class MaintenanceWindowViewSet(viewsets.ModelViewSet):
    queryset = MaintenanceWindow.objects.select_related("integration")
    serializer_class = s.MaintenanceWindowSerializer

    def perform_create(self, serializer):
        serializer.instance = services.save_maintenance_window(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.save_maintenance_window(
            actor=self.request.user, window=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete_maintenance_window(window=instance, actor=self.request.user)


class ChannelViewSet(viewsets.ModelViewSet):
    queryset = NotificationChannel.objects.select_related("team")
    serializer_class = s.ChannelSerializer

    def perform_create(self, serializer):
        serializer.instance = services.save_channel(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.save_channel(actor=self.request.user, channel=serializer.instance,
                                                    **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_channel(channel=instance, actor=self.request.user)


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Notification.objects.select_related("channel", "channel__team")
    serializer_class = s.NotificationSerializer
    pagination_class = LargeCursorPagination
    filterset_fields = ["status", "event"]


class FlipViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Flip.objects.select_related("integration")
    serializer_class = s.FlipSerializer
    pagination_class = LargeCursorPagination
    filterset_fields = ["to_status"]


class SlaAttainmentView(generics.GenericAPIView):
    """SLA figures and attainment per integration over ``?window=24h|7d|30d``."""

    required_perms = {"GET": ["health.view_rollup"]}

    @extend_schema(parameters=[OpenApiParameter("window", str, enum=list(WINDOWS))], responses=dict)
    def get(self, request):
        window = request.query_params.get("window", "30d")
        if window not in WINDOWS:
            raise ValidationFailed(f"window must be one of {', '.join(WINDOWS)}.", fields={"window": ["Invalid."]})
        rows = []
        for sla, figs, result in sla_rows(window):
            rows.append({
                "integration": sla.integration.slug, "team": sla.integration.owner_team.slug, "window": window,
                "figures": figs or {},
                "targets": {str(metric): item for metric, item in result.items()},
                "meeting_all": all(item["met"] is not False for item in result.values()),
            })
        return Response({"window": window, "results": rows})


