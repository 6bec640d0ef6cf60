"""Machine endpoints of catalog intelligence: impact, neighbourhood graph, scorecards,
Backstage import (dry run / apply) and export."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import backstage, estate_graph, impact, scorecards, services
from catalog.models import BackstageImport, EntityDerivation, UnresolvedReference
from controlplane.errors import ValidationFailed
from controlplane.pagination import StandardPagination
from controlplane.parsers import JSONParser

from .intel_serializers import (
    BackstageImportSerializer,
    DerivationSerializer,
    ExportQuerySerializer,
    GraphQuerySerializer,
    ImpactQuerySerializer,
    UnresolvedReferenceSerializer,
)

READ = ["catalog.view_integration"]
IMPORT = ["catalog.import_backstage"]


def _object(kind, slug):
    obj = impact.get_object(kind, slug)
    if obj is None:
        raise ValidationFailed(f"no {kind} with slug {slug!r}", code="unknown_object", fields={kind: ["Not found."]})
    return obj


class ImpactView(APIView):
    """What is affected if a system, API, canonical entity or integration goes down or changes."""

    required_perms = {"GET": READ}

    @extend_schema(
        parameters=[
            *(OpenApiParameter(k, str, description=f"{k} slug") for k in ("system", "api", "entity", "integration")),
            OpenApiParameter("change", str, enum=sorted({c for cs in impact.CHANGES.values() for c in cs}),
                             description="system: outage (default) or retire; api/entity: breaking; integration: down"),
            OpenApiParameter("depth", str, description="hops to list: 1 (default) .. 50, or 'all'"),
            OpenApiParameter("direct_page", int), OpenApiParameter("downstream_page", int),
            OpenApiParameter("page_size", int, description="1..200, default 25"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        query = ImpactQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        return Response(impact.answer(_object(options.pop("kind"), options.pop("slug")), **options))


class GraphView(APIView):
    """The neighbourhood of a system or integration as Cytoscape elements."""

    required_perms = {"GET": READ}

    @extend_schema(
        parameters=[OpenApiParameter(k, str, description=f"{k} slug") for k in ("system", "integration")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        query = GraphQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(estate_graph.neighbourhood(_object(**query.validated_data)))


class EstateMapView(APIView):
    """Every system and integration as Cytoscape elements, filtered by domain, team, tier,
    workflow and entity (slugs); at most 300 integrations, the most critical first."""

    required_perms = {"GET": READ}

    @extend_schema(parameters=[OpenApiParameter(k, str, description=f"{k} slug") for k in ("domain", "team", "workflow", "entity")]
                   + [OpenApiParameter("tier", int, enum=[1, 2, 3])], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(estate_graph.filtered_map(request.query_params)[1])


class ScorecardView(APIView):
    """Per-check and per-team counts of failing governance checks; ``?objects=true`` lists
    the failing objects per team too."""

    required_perms = {"GET": READ}

    @extend_schema(parameters=[OpenApiParameter("objects", bool)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        with_objects = request.query_params.get("objects", "").lower() in ("1", "true", "yes")
        return Response(scorecards.summary(with_objects=with_objects))


def _flag(value, default, name="dry_run"):
    if value is None or value == "":
        return default
    lowered = str(value).lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    # Named after the parameter actually sent: ?download=x used to be blamed on dry_run.
    raise ValidationFailed(f"{name} must be true or false", fields={name: ["Must be true or false."]})


class BackstageImportView(APIView):
    """Import Backstage descriptors: multipart ``files`` (one or more) or JSON
    ``{"documents": "<yaml text>"}``. ``?dry_run=true`` (the default) stores the batch and
    returns its plan; ``?dry_run=false`` applies it at once."""

    required_perms = {"POST": IMPORT}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        parameters=[OpenApiParameter("dry_run", bool, description="default true")],
        request={"multipart/form-data": {"type": "object", "properties": {"files": {"type": "array", "items": {
            "type": "string", "format": "binary"}}}},
            "application/json": {"type": "object", "properties": {"documents": {"type": "string"}}}},
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        dry_run = _flag(request.query_params.get("dry_run"), True)
        files = []
        for upload in request.FILES.getlist("files"):
            if upload.size > backstage.max_bytes():
                files.append((upload.name, upload.size))  # not read: the plan names it as oversized
            else:
                files.append((upload.name, upload.read()))
        documents = request.data.get("documents") if hasattr(request.data, "get") else None
        if documents:
            if not isinstance(documents, str):
                raise ValidationFailed("documents must be YAML text", fields={"documents": ["Must be a string."]})
            files.append(("documents", documents))
        if not files:
            raise ValidationFailed(
                "send one or more files (multipart field 'files') or JSON {\"documents\": \"...\"}",
                fields={"files": ["No files."]},
            )
        batch = backstage.plan_batch(actor=request.user, files=files)
        if not dry_run:
            batch = backstage.apply_batch(actor=request.user, batch_id=batch.pk)
        return Response({"batch": batch.pk, "status": batch.status, **batch.plan}, status=200 if dry_run else 201)


class BackstageApplyView(APIView):
    """Apply a stored dry run (409 when it was applied already)."""

    required_perms = {"POST": IMPORT}

    @extend_schema(request=None, responses={201: BackstageImportSerializer})
    def post(self, request, pk):
        batch = backstage.apply_batch(actor=request.user, batch_id=pk)
        return Response(BackstageImportSerializer(batch).data, status=201)


class BackstageImportListView(generics.ListAPIView):
    """Import batches, newest first."""

    queryset = BackstageImport.objects.all()
    serializer_class = BackstageImportSerializer
    pagination_class = StandardPagination


class UnresolvedReferenceListView(generics.ListAPIView):
    """References from imported entities to entities not in the catalog yet."""

    queryset = UnresolvedReference.objects.all()
    serializer_class = UnresolvedReferenceSerializer
    pagination_class = StandardPagination


class BackstageExportView(APIView):
    """The catalog as multi-document Backstage YAML (``?owner=team-slug``, ``?kind=API``)."""

    required_perms = {"GET": READ}

    @extend_schema(
        parameters=[ExportQuerySerializer, OpenApiParameter("download", bool)],
        # Multi-document YAML: no single JSON Schema describes it, so no schema is claimed.
        responses={(200, "application/yaml"): OpenApiResponse(description="Backstage catalog-info YAML documents.")},
    )
    def get(self, request):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        text = backstage.export_yaml(**query.validated_data)
        response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        if _flag(request.query_params.get("download"), False, name="download"):
            response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
        return response


class DerivationViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Declared derivations between canonical entities ("Invoice is derived from Time
    entry", optionally only in one system). Impact analysis follows them downstream."""

    queryset = EntityDerivation.objects.select_related("source_entity", "derived_entity", "system")
    serializer_class = DerivationSerializer
    pagination_class = StandardPagination

    def perform_create(self, serializer):
        serializer.instance = services.create_derivation(actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_derivation(actor=self.request.user, derivation=instance)
