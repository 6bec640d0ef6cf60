"""REST endpoints of the catalog. Serializers check fields; every write calls the one
service function for it, so the API obeys the same rules as the pages and the admin."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from catalog import filtersets, selectors, services
from catalog import stuck_list as stuck
from catalog.models import Workflow
from controlplane.pagination import StandardPagination
from controlplane.permissions import ModelRolePermission
from kpis.models import BusinessEvent

from . import serializers as s


class ChangePermission(ModelRolePermission):
    """Lifecycle moves are changes, whatever the HTTP verb."""

    perms_map = {**ModelRolePermission.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class CatalogViewSet(viewsets.ModelViewSet):
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "created_at", "updated_at"]
    ordering = ["name"]

    def _reload(self, obj):
        # Read back through the list queryset so the answer shows the saved relations.
        return self.get_queryset().get(pk=obj.pk)

    def perform_create(self, serializer):
        obj = services.create(self.queryset.model, actor=self.request.user, **serializer.validated_data)
        serializer.instance = self._reload(obj)

    def perform_update(self, serializer):
        obj = services.update(serializer.instance, actor=self.request.user, **serializer.validated_data)
        serializer.instance = self._reload(obj)

    def perform_destroy(self, instance):
        services.delete(instance, actor=self.request.user)


class LifecycleMixin:
    lifecycle_serializer = None

    def _change_lifecycle(self, request):
        obj = self.get_object()
        body = self.lifecycle_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.change_lifecycle(
            actor=request.user, obj=obj, lifecycle=body.validated_data["lifecycle"],
            note=body.validated_data.get("note", ""),
        )
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_200_OK)


class TeamViewSet(CatalogViewSet):
    """Teams that own systems, APIs and integrations, with their members."""

    queryset = selectors.teams()
    serializer_class = s.TeamSerializer
    filterset_class = filtersets.TeamFilterSet


class TeamMemberViewSet(viewsets.ModelViewSet):
    """People in teams. Add with POST, remove with DELETE; there is no edit."""

    queryset = selectors.team_members().order_by("team__name", "name")
    serializer_class = s.TeamMemberSerializer
    filterset_class = filtersets.TeamMemberFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = services.add_team_member(actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.remove_team_member(actor=self.request.user, member=instance)


class DomainViewSet(CatalogViewSet):
    """Business domains (Finance, Delivery, Sales, People...)."""

    queryset = selectors.domains()
    serializer_class = s.DomainSerializer
    filterset_class = filtersets.DomainFilterSet


class SystemViewSet(LifecycleMixin, CatalogViewSet):
    """Applications in the estate."""

    queryset = selectors.systems()
    serializer_class = s.SystemSerializer
    filterset_class = filtersets.SystemFilterSet
    lifecycle_serializer = s.SystemLifecycleSerializer
    ordering_fields = [*CatalogViewSet.ordering_fields, "category", "lifecycle", "vendor"]

    @extend_schema(request=s.SystemLifecycleSerializer, responses=s.SystemSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def lifecycle(self, request, slug=None):
        """Move the system along its lifecycle (planned → active → legacy/retiring → retired)."""
        return self._change_lifecycle(request)


class ApiViewSet(LifecycleMixin, CatalogViewSet):
    """Interfaces systems provide, by layer and style."""

    queryset = selectors.apis()
    serializer_class = s.ApiSerializer
    filterset_class = filtersets.ApiFilterSet
    lifecycle_serializer = s.ApiLifecycleSerializer
    ordering_fields = [*CatalogViewSet.ordering_fields, "layer", "lifecycle", "criticality"]

    @extend_schema(request=s.ApiLifecycleSerializer, responses=s.ApiSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def lifecycle(self, request, slug=None):
        """Move the API along its lifecycle; retiring is refused while it has consumers."""
        return self._change_lifecycle(request)


class EntityViewSet(CatalogViewSet):
    """Canonical business entities."""

    queryset = selectors.entities()
    serializer_class = s.EntitySerializer
    filterset_class = filtersets.EntityFilterSet


class WorkflowViewSet(CatalogViewSet):
    """End-to-end business workflows."""

    queryset = selectors.workflows()
    serializer_class = s.WorkflowSerializer
    filterset_class = filtersets.WorkflowFilterSet


class WorkflowStageViewSet(viewsets.ModelViewSet):
    """The ordered steps of each workflow (event type, expected integration, max latency).
    Filter with ``?workflow=<slug>``; architects edit them."""

    queryset = selectors.workflow_stages()
    serializer_class = s.WorkflowStageSerializer
    filterset_class = filtersets.WorkflowStageFilterSet
    pagination_class = StandardPagination

    def perform_create(self, serializer):
        serializer.instance = services.create_stage(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_stage(actor=self.request.user, stage=serializer.instance,
                                                    **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_stage(actor=self.request.user, stage=instance)


class StuckItemsView(GenericAPIView):
    """The stuck list of one workflow: items waiting for a step, late ones by default
    (``state=waiting`` for all), with a summary per currency that never adds currencies
    (beside it, the total converted to the reporting currency at each item's own date)."""

    permission_classes = [ModelRolePermission]
    queryset = BusinessEvent.objects.none()
    serializer_class = s.StuckItemSerializer
    pagination_class = StandardPagination
    filter_backends = []

    @extend_schema(parameters=[OpenApiParameter(name, str, required=False)
                               for name in ("as_of", "state", "stage", "integration", "currency", "key",
                                            "older_than_days", "page", "page_size")],
                   responses=s.StuckPageSerializer)
    def get(self, request, slug):
        workflow = get_object_or_404(Workflow, slug=slug)
        result = stuck.stuck_page(workflow, request.query_params, user=request.user, paginate=self.paginate_queryset)
        response = self.get_paginated_response(self.get_serializer(result["items"], many=True).data)
        response.data["summary"] = result["summary"]
        response.data["as_of"] = result["as_of"].isoformat()
        return response


class IntegrationViewSet(LifecycleMixin, CatalogViewSet):
    """Data flows between systems, with the APIs, entities and workflows involved and the SLA."""

    queryset = selectors.integrations()
    serializer_class = s.IntegrationSerializer
    filterset_class = filtersets.IntegrationFilterSet
    lifecycle_serializer = s.IntegrationLifecycleSerializer
    ordering_fields = [*CatalogViewSet.ordering_fields, "lifecycle", "criticality", "pattern"]

    @extend_schema(request=s.IntegrationLifecycleSerializer, responses=s.IntegrationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def lifecycle(self, request, slug=None):
        """Move the integration along its lifecycle; activation is refused while it uses retired parts."""
        return self._change_lifecycle(request)


class SlaViewSet(viewsets.ModelViewSet):
    """The SLA of each integration, addressed by the integration's slug. POST creates or
    replaces it (one SLA per integration)."""

    queryset = selectors.slas().order_by("integration__name")
    serializer_class = s.SlaSerializer
    filterset_class = filtersets.SlaFilterSet
    lookup_field = "integration__slug"
    lookup_url_kwarg = "integration"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def _upsert(self, serializer):
        data = dict(serializer.validated_data)
        integration = data.pop("integration", None) or serializer.instance.integration
        serializer.instance = services.upsert_sla(actor=self.request.user, integration=integration, **data)

    perform_create = _upsert
    perform_update = _upsert

    def perform_destroy(self, instance):
        services.delete_sla(actor=self.request.user, sla=instance)

