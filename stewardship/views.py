"""HTML pages of the stewardship app: dashboard, subjects, the review page, the SoR matrix."""

import json

from django.contrib import messages
from django.db.models import Count, Max, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, TemplateView

from catalog.models import CanonicalEntity
from controlplane.errors import DomainError
from controlplane.views_mixins import FilteredListView, RolePermissionMixin

from . import selectors, services
from .choices import EDITABLE_STATES, SorStatus, VersionStatus
from .diffing import side_by_side
from .filtersets import SchemaSubjectFilterSet
from .forms import AcceptanceForm, CommentForm, DraftForm, SorProposalForm, SubjectForm, SubjectSettingsForm
from .models import SchemaSubject, SchemaVersion, SorAssignment


def _form_errors(form, exc: DomainError):
    for field, problems in (exc.fields or {}).items():
        target = field if field in form.fields else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(target, str(problem))
    if not exc.fields:
        form.add_error(None, exc.message)


class HomeView(RolePermissionMixin, TemplateView):
    """The steward's dashboard: what waits for my review, my drafts, pending SoR proposals."""

    permission_required = "stewardship.view_schemaversion"
    template_name = "stewardship/home.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        context = super().get_context_data(**kwargs)
        context["waiting"] = selectors.with_top_number(selectors.waiting_for_review(user))[:50]
        context["mine"] = selectors.with_top_number(
            SchemaVersion.objects.filter(author=user, status__in=[*EDITABLE_STATES, VersionStatus.IN_REVIEW])
            .select_related("subject").order_by("-updated_at")
        )[:50]
        context["proposals"] = selectors.pending_sor_proposals()[:50]
        context["published"] = (
            SchemaVersion.objects.filter(status=VersionStatus.APPROVED).select_related("subject")
            .order_by("-approved_at")[:10]
        )
        context["no_sor_count"] = selectors.entities_without_sor().count()
        return context


class SubjectListView(FilteredListView):
    permission_required = "stewardship.view_schemasubject"
    model = SchemaSubject
    filterset_class = SchemaSubjectFilterSet
    template_name = "stewardship/subject_list.html"
    sort_fields = {"name": "name", "updated": "-updated_at"}
    default_sort = "name"

    def get_queryset(self):
        self.queryset = SchemaSubject.objects.select_related("entity", "api").annotate(
            latest_number=Max("versions__number", filter=Q(versions__status=VersionStatus.APPROVED)),
            in_review=Count("versions", filter=Q(versions__status=VersionStatus.IN_REVIEW)),
        )
        return super().get_queryset()


class SubjectCreateView(RolePermissionMixin, View):
    permission_required = "stewardship.add_schemasubject"

    def get(self, request):
        initial = {k: request.GET[k] for k in ("entity", "api") if request.GET.get(k)}
        return render(request, "stewardship/subject_form.html", {"form": SubjectForm(initial=initial)})

    def post(self, request):
        form = SubjectForm(request.POST)
        if form.is_valid():
            try:
                subject = services.create_subject(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Subject {subject.name} created.")
                return redirect(subject)
        return render(request, "stewardship/subject_form.html", {"form": form}, status=400)


class SubjectDetailView(RolePermissionMixin, DetailView):
    permission_required = "stewardship.view_schemasubject"
    model = SchemaSubject
    template_name = "stewardship/subject_detail.html"

    def get_queryset(self):
        return SchemaSubject.objects.select_related("entity", "api", "api__owner_team")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        subject = self.object
        context["versions"] = selectors.with_top_number(
            subject.versions.select_related("author", "subject").order_by("-number", "-created_at"))
        context["consumers"] = selectors.affected_integrations(subject)
        context["two_approvals"] = selectors.requires_two_approvals(subject)
        context["settings_form"] = SubjectSettingsForm(
            initial={"compatibility_level": subject.compatibility_level, "policy": subject.policy}
        )
        return context


class SubjectSettingsView(RolePermissionMixin, View):
    """Per-subject override of the compatibility level and policy."""

    permission_required = "stewardship.change_schemasubject"

    def post(self, request, slug):
        subject = get_object_or_404(SchemaSubject, slug=slug)
        form = SubjectSettingsForm(request.POST)
        if form.is_valid():
            services.update_subject(actor=request.user, subject=subject, **form.cleaned_data)
            messages.success(request, "Compatibility settings saved; they apply to the next submission.")
        else:
            messages.error(request, "Choose a known level and policy.")
        return redirect(subject)


class DraftCreateView(RolePermissionMixin, View):
    permission_required = "stewardship.add_schemaversion"

    def prepare(self, request, *args, **kwargs):
        self.subject = get_object_or_404(SchemaSubject, slug=kwargs["slug"])

    def get(self, request, slug):
        latest = selectors.latest_approved(self.subject)
        form = DraftForm(initial={"document": latest.document if latest else {"type": "object", "properties": {}}})
        return render(request, "stewardship/draft_form.html", {"form": form, "subject": self.subject})

    def post(self, request, slug):
        form = DraftForm(request.POST)
        if form.is_valid():
            try:
                version = services.create_draft(actor=request.user, subject=self.subject, **form.cleaned_data)
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, "Draft saved. Submit it for review when ready.")
                return redirect(version)
        return render(request, "stewardship/draft_form.html", {"form": form, "subject": self.subject}, status=400)


class DraftEditView(RolePermissionMixin, View):
    permission_required = "stewardship.change_schemaversion"

    def prepare(self, request, *args, **kwargs):
        self.version = get_object_or_404(SchemaVersion.objects.select_related("subject"), pk=kwargs["pk"])

    def get(self, request, pk):
        form = DraftForm(initial={"document": self.version.document, "change_summary": self.version.change_summary})
        return render(request, "stewardship/draft_form.html", {"form": form, "subject": self.version.subject, "version": self.version})

    def post(self, request, pk):
        form = DraftForm(request.POST)
        if form.is_valid():
            try:
                services.update_draft(actor=request.user, version=self.version, **form.cleaned_data)
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, "Draft updated.")
                return redirect(self.version)
        context = {"form": form, "subject": self.version.subject, "version": self.version}
        return render(request, "stewardship/draft_form.html", context, status=400)


class VersionDetailView(RolePermissionMixin, DetailView):
    """The review page: structural diff with findings in place, findings list with
    acceptance forms, affected consumers, reviews and history, and the decision form."""

    permission_required = "stewardship.view_schemaversion"
    model = SchemaVersion
    template_name = "stewardship/version_detail.html"
    context_object_name = "version"

    def get_queryset(self):
        return selectors.with_top_number(SchemaVersion.objects.select_related(
            "subject", "subject__api", "subject__entity", "author", "compared_with"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        version = self.object
        user = self.request.user
        previous = version.compared_with
        if previous is None and version.status in EDITABLE_STATES:
            previous = selectors.latest_approved(version.subject)
        findings = selectors.review_findings(version)
        acceptances = {(a.finding_type, a.path): a for a in version.acceptances.select_related("steward")}
        rows = []
        for f in findings:
            rows.append({**f, "acceptance": acceptances.get((f.get("type"), f.get("path"))),
                         "example": _example(f)})
        context.update(
            previous=previous,
            diff=side_by_side(previous.document if previous else None, version.document, findings),
            finding_rows=rows,
            pending_breaking=[r for r in rows if not r.get("compatible", True) and not r["acceptance"]],
            acceptances=list(acceptances.values()),
            consumers=selectors.affected_integrations(version.subject),
            reviews=version.reviews.select_related("reviewer"),
            approvals=version.reviews.filter(round=version.round, decision="approve").count(),
            is_author=version.author_id == user.pk,
            can_review=(version.status == VersionStatus.IN_REVIEW and version.author_id != user.pk
                        and user.has_perm("stewardship.review_schemaversion")),
            can_edit=version.status in EDITABLE_STATES and version.author_id == user.pk,
            can_deprecate=version.status == VersionStatus.APPROVED and user.has_perm("stewardship.review_schemaversion"),
            can_withdraw=version.status == VersionStatus.IN_REVIEW and version.author_id == user.pk,
            comment_form=CommentForm(),
        )
        return context


def _example(finding):
    """The counterexample of a finding as the review page shows it: who accepts the document,
    who refuses it and why, the document pretty-printed."""
    example = finding.get("counterexample")
    if not example:
        return None
    against = f"v{finding.get('against_version')}"
    if finding.get("direction") == "FORWARD":
        accepts, refuses = "this version", f"consumers still on {against}"
    else:
        accepts, refuses = against, "this version"
    return {**example, "accepts": accepts, "refuses": refuses,
            "pretty": json.dumps(example.get("document"), indent=2, ensure_ascii=False) if example.get("found") else ""}


class VersionActionView(RolePermissionMixin, View):
    """POST-only endpoints of the review page; each calls one service."""

    action = None
    ACTIONS = {
        "submit": ("stewardship.change_schemaversion", "Submitted for review."),
        "approve": ("stewardship.review_schemaversion", "Approval recorded."),
        "request-changes": ("stewardship.review_schemaversion", "Changes requested."),
        "reject": ("stewardship.review_schemaversion", "Version rejected."),
        "deprecate": ("stewardship.review_schemaversion", "Version deprecated."),
        "accept": ("stewardship.review_schemaversion", "Finding accepted."),
        "withdraw": ("stewardship.change_schemaversion", "Withdrawn: the version is a draft again; its reviews are void."),
    }

    def get_permission_required(self):
        return [self.ACTIONS[self.action][0]]

    def post(self, request, pk):
        version = get_object_or_404(SchemaVersion, pk=pk)
        # The state the reviewer saw; a change since then is a conflict, not a silent success.
        seen = request.POST.get("seen_status")
        if seen and seen != version.status:
            version.status = seen
        seen_round = request.POST.get("seen_round")
        if seen_round and seen_round.isdigit():
            version.round = int(seen_round)
        comment = request.POST.get("comment", "")
        try:
            if self.action == "submit":
                services.submit(actor=request.user, version=version)
            elif self.action == "approve":
                version = services.approve(actor=request.user, version=version, comment=comment)
            elif self.action == "request-changes":
                services.request_changes(actor=request.user, version=version, comment=comment)
            elif self.action == "reject":
                services.reject(actor=request.user, version=version, comment=comment)
            elif self.action == "deprecate":
                services.deprecate(actor=request.user, version=version, comment=comment)
            elif self.action == "withdraw":
                services.withdraw_version(actor=request.user, version=version, comment=comment)
            elif self.action == "accept":
                form = AcceptanceForm(request.POST)
                if not form.is_valid():
                    messages.error(request, "Write a justification for the acceptance.")
                    return redirect(version)
                services.accept_finding(actor=request.user, version=version, **form.cleaned_data)
        except DomainError as exc:
            details = []
            for problems in (exc.fields or {}).values():
                details.extend(str(p) for p in (problems if isinstance(problems, list) else [problems]))
            messages.error(request, exc.message + (" " + "; ".join(details[:10]) if details else ""))
            return redirect(reverse("stewardship:version-detail", kwargs={"pk": pk}))
        message = self.ACTIONS[self.action][1]
        if self.action == "approve" and version.status == VersionStatus.APPROVED:
            message = f"Approved and published as version {version.number}."
        messages.success(request, message)
        return redirect(reverse("stewardship:version-detail", kwargs={"pk": pk}))


class SorMatrixView(RolePermissionMixin, TemplateView):
    permission_required = "stewardship.view_sorassignment"
    template_name = "stewardship/sor_matrix.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["scopes"], context["rows"] = selectors.sor_matrix()
        context["finding_count"] = sum(len(r["findings"]) for r in context["rows"])
        return context


class SorProposeView(RolePermissionMixin, View):
    permission_required = "stewardship.add_sorassignment"

    def get(self, request):
        initial = {k: request.GET[k] for k in ("entity", "scope_type", "scope_value") if request.GET.get(k)}
        return render(request, "stewardship/sor_form.html", {"form": SorProposalForm(initial=initial)})

    def post(self, request):
        form = SorProposalForm(request.POST)
        if form.is_valid():
            try:
                assignment = services.propose_sor(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, "Proposal recorded; another steward must approve it.")
                return redirect(assignment)
        return render(request, "stewardship/sor_form.html", {"form": form}, status=400)


class SorDetailView(RolePermissionMixin, DetailView):
    permission_required = "stewardship.view_sorassignment"
    model = SorAssignment
    template_name = "stewardship/sor_detail.html"
    context_object_name = "assignment"

    def get_queryset(self):
        return SorAssignment.objects.select_related("entity", "system", "steward", "proposed_by", "decided_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        a = self.object
        user = self.request.user
        context["can_decide"] = (a.status == SorStatus.PROPOSED and a.proposed_by_id != user.pk
                                 and user.has_perm("stewardship.decide_sorassignment"))
        context["current"] = SorAssignment.objects.filter(
            entity=a.entity, scope_type=a.scope_type, scope_value=a.scope_value, attribute_group=a.attribute_group,
            status=SorStatus.APPROVED,
        ).exclude(pk=a.pk).select_related("system").first()
        return context


class SorDecideView(RolePermissionMixin, View):
    permission_required = "stewardship.decide_sorassignment"
    decision = None

    def post(self, request, pk):
        assignment = get_object_or_404(SorAssignment, pk=pk)
        seen = request.POST.get("seen_status")
        if seen:
            assignment.status = seen
        func = services.approve_sor if self.decision == "approve" else services.reject_sor
        try:
            func(actor=request.user, assignment=assignment, comment=request.POST.get("comment", ""))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Proposal approved." if self.decision == "approve" else "Proposal rejected.")
        return redirect(reverse("stewardship:sor-detail", kwargs={"pk": pk}))


class EntityStewardshipView(RolePermissionMixin, DetailView):
    """One entity's stewardship: its SoR assignments, findings and schema subjects."""

    permission_required = "stewardship.view_sorassignment"
    model = CanonicalEntity
    template_name = "stewardship/entity_detail.html"
    context_object_name = "entity"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entity = self.object
        context["assignments"] = entity.sor_assignments.select_related("system", "steward", "proposed_by").order_by(
            "scope_type", "scope_value", "attribute_group", "-created_at"
        )
        context["findings"] = selectors.entity_findings([entity]).get(entity.pk, [])
        context["observed"] = selectors.observed_writers(entity)
        context["observed_days"] = services.OBSERVED_LOOKBACK_DAYS
        context["subjects"] = entity.schema_subjects.all()
        context["carriers"] = entity.integrations.select_related("source_system", "target_system", "owner_team")
        return context
