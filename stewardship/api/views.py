"""The stewardship API under /api/v1/stewardship/. Views translate HTTP to service calls."""

import time

from django.db.models import Max, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.errors import NotFound, ValidationFailed
from controlplane.permissions import ModelRolePermission

from .. import services
from ..choices import SchemaFormat, VersionStatus
from ..filtersets import SchemaSubjectFilterSet, SchemaVersionFilterSet, SorAssignmentFilterSet
from ..models import SchemaSubject, SchemaVersion, SorAssignment, StewardshipSettings
from ..selectors import with_top_number
from ..validation import validate_payload
from . import serializers as s


class ActionRolePermission(ModelRolePermission):
    """Like the default, but a viewset's custom actions name their own permissions in
    ``action_perms`` (e.g. approving needs ``review_schemaversion``, not ``change_``)."""

    def has_permission(self, request, view):
        perms = getattr(view, "action_perms", {}).get(getattr(view, "action", None))
        if perms is not None:
            return bool(request.user and request.user.is_authenticated and request.user.has_perms(perms))
        return super().has_permission(request, view)


class SchemaSubjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Schema subjects: the schema of one canonical entity or one API. Looked up by slug."""

    queryset = SchemaSubject.objects.select_related("entity", "api").annotate(
        latest_number=Max("versions__number", filter=Q(versions__status=VersionStatus.APPROVED))
    ).order_by("name")
    serializer_class = s.SchemaSubjectSerializer
    filterset_class = SchemaSubjectFilterSet
    permission_classes = [ActionRolePermission]
    lookup_field = "slug"
    action_perms = {"validate": ["stewardship.validate_payload"], "preview": ["stewardship.add_schemaversion"]}

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["defaults"] = StewardshipSettings.get()
        return context

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        # ``format`` is optional in the API (the model defaults it); the service needs it named.
        data.setdefault("format", SchemaFormat.JSON_SCHEMA)
        serializer.instance = services.create_subject(actor=self.request.user, **data)

    @extend_schema(request=s.SubjectUpdateSerializer, responses=s.SchemaSubjectSerializer)
    def update(self, request, *args, **kwargs):
        subject = self.get_object()
        serializer = s.SubjectUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.update_subject(actor=request.user, subject=subject, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=subject.pk)).data)

    @extend_schema(request=s.ValidateRequestSerializer, responses=s.ValidateResponseSerializer)
    @action(detail=True, methods=["post"])
    def validate(self, request, slug=None):
        """Validate a payload against the latest approved version (or ``version``)."""
        body = s.ValidateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # One query for the common case: the version with its subject's format.
        versions = SchemaVersion.objects.filter(subject__slug=slug).select_related("subject").only(
            "id", "number", "document", "subject__format", "subject__slug"
        )
        number = body.validated_data.get("version")
        if number:
            version = versions.filter(number=number, status__in=[VersionStatus.APPROVED, VersionStatus.DEPRECATED]).first()
        else:
            version = versions.filter(status=VersionStatus.APPROVED).order_by("-number").first()
        if version is None:
            get_object_or_404(SchemaSubject, slug=slug)
            raise NotFound(f"No approved version {number or ''} of {slug}.".replace("  ", " "))
        fmt = version.subject.format
        if fmt not in (SchemaFormat.JSON_SCHEMA, SchemaFormat.AVRO):
            raise ValidationFailed(
                "Payload validation applies to JSON Schema and Avro subjects.", code="unsupported_format"
            )
        started = time.perf_counter()
        errors = validate_payload(version.pk, version.document, body.validated_data["payload"], fmt=fmt)
        elapsed = time.perf_counter() - started
        response = Response({"valid": not errors, "version": version.number, "errors": errors})
        response["Server-Timing"] = f"validate;dur={elapsed * 1000:.3f}"
        return response


    @extend_schema(request=s.PreviewRequestSerializer, responses=s.PreviewResponseSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request, slug=None):
        """The compatibility report a draft would get if submitted now (the subject's level and
        policy, counterexamples included); nothing is stored."""
        subject = self.get_object()
        body = s.PreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(services.preview(subject=subject, document=body.validated_data["document"]))


class SchemaVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Versions of subjects: create a draft, edit it, submit it, review it."""

    queryset = SchemaVersion.objects.select_related("subject", "author").order_by("-created_at", "-id")
    filterset_class = SchemaVersionFilterSet
    permission_classes = [ActionRolePermission]
    action_perms = {
        "submit": ["stewardship.change_schemaversion"],
        "approve": ["stewardship.review_schemaversion"],
        "request_changes": ["stewardship.review_schemaversion"],
        "reject": ["stewardship.review_schemaversion"],
        "deprecate": ["stewardship.review_schemaversion"],
        "accept_finding": ["stewardship.review_schemaversion"],
        "withdraw": ["stewardship.change_schemaversion"],
    }

    def get_queryset(self):
        qs = with_top_number(super().get_queryset())
        if self.action != "list":
            qs = qs.prefetch_related("reviews__reviewer", "acceptances__steward")
        return qs

    def get_serializer_class(self):
        return s.SchemaVersionListSerializer if self.action == "list" else s.SchemaVersionSerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_draft(
            actor=self.request.user, subject=data["subject"], document=data["document"],
            change_summary=data.get("change_summary", ""),
        )

    @extend_schema(request=s.DraftUpdateSerializer)
    def update(self, request, *args, **kwargs):
        version = self.get_object()
        body = s.DraftUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.update_draft(actor=request.user, version=version, **body.validated_data)
        return self._fresh(version)

    def _fresh(self, version, code=status.HTTP_200_OK):
        return Response(s.SchemaVersionSerializer(self.get_queryset().get(pk=version.pk)).data, status=code)

    def _commented(self, request, func):
        version = self.get_object()
        body = s.CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        func(actor=request.user, version=version, comment=body.validated_data["comment"])
        return self._fresh(version)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        version = self.get_object()
        services.submit(actor=request.user, version=version)
        return self._fresh(version)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._commented(request, services.approve)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request, pk=None):
        return self._commented(request, services.request_changes)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._commented(request, services.reject)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The author takes a submission in review back to draft; its reviews are void."""
        return self._commented(request, services.withdraw_version)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request, pk=None):
        return self._commented(request, services.deprecate)

    @extend_schema(request=s.AcceptFindingSerializer)
    @action(detail=True, methods=["post"], url_path="accept-finding")
    def accept_finding(self, request, pk=None):
        version = self.get_object()
        body = s.AcceptFindingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        services.accept_finding(actor=request.user, version=version, finding_type=data["type"], path=data["path"],
                                justification=data["justification"])
        return self._fresh(version, status.HTTP_201_CREATED)


class SorAssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           viewsets.GenericViewSet):
    """System-of-record assignments. POST proposes; approve/reject decide."""

    queryset = SorAssignment.objects.select_related("entity", "system", "steward", "proposed_by", "decided_by")
    serializer_class = s.SorAssignmentSerializer
    filterset_class = SorAssignmentFilterSet
    permission_classes = [ActionRolePermission]
    action_perms = {
        "approve": ["stewardship.decide_sorassignment"],
        "reject": ["stewardship.decide_sorassignment"],
    }

    def perform_create(self, serializer):
        serializer.instance = services.propose_sor(actor=self.request.user, **serializer.validated_data)

    def _decide(self, request, func):
        assignment = self.get_object()
        body = s.CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        func(actor=request.user, assignment=assignment, comment=body.validated_data["comment"])
        return Response(self.get_serializer(self.get_queryset().get(pk=assignment.pk)).data)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, services.approve_sor)

    @extend_schema(request=s.CommentSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, services.reject_sor)


class CompatibilityView(APIView):
    """Stateless compatibility check: ``schema`` against ``previous`` (oldest first)."""

    required_perms = {"POST": ["stewardship.view_schemasubject"]}

    @extend_schema(request=s.CompatibilityRequestSerializer, responses=s.CompatibilityResponseSerializer)
    def post(self, request):
        from stewardship import compat

        body = s.CompatibilityRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        errors = compat.validate_schema(data["schema"], data["format"])
        if errors:
            raise ValidationFailed("The schema is not valid.", fields={"schema": list(errors)})
        for i, previous in enumerate(data["previous"], start=1):
            errors = compat.validate_schema(previous, data["format"])
            if errors:
                raise ValidationFailed(f"Previous schema {i} is not valid.", fields={"previous": {str(i - 1): list(errors)}})
        report = compat.check(
            new=data["schema"], previous=data["previous"], level=data["level"], policy=data["policy"],
            fmt=data["format"], previous_versions=list(range(1, len(data["previous"]) + 1)), time_budget=5.0,
        )
        return Response(report.to_dict())
