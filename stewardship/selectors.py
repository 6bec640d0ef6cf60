"""Reads of the stewardship app that are more than one line: affected consumers, review
queues, the SoR matrix and its findings."""

from collections import defaultdict

from django.db.models import Exists, OuterRef, Q

from catalog.choices import Criticality, SystemLifecycle
from catalog.models import CanonicalEntity, Integration

from .choices import ReviewDecision, ScopeType, SorStatus, VersionStatus
from .models import Review, SchemaVersion, SorAssignment


def approved_versions(subject):
    """Approved versions of ``subject``, oldest first (what the compatibility check compares)."""
    return subject.versions.filter(status=VersionStatus.APPROVED, number__isnull=False).order_by("number")


def latest_approved(subject):
    return subject.versions.filter(status=VersionStatus.APPROVED).order_by("-number").first()


def affected_integrations(subject):
    """Integrations that use the subject's API or carry its entity, with their teams."""
    if subject.api_id:
        qs = Integration.objects.filter(apis=subject.api_id)
    else:
        qs = Integration.objects.filter(entities=subject.entity_id)
    return qs.select_related("owner_team", "source_system", "target_system").distinct().order_by("criticality", "name")


def requires_two_approvals(subject) -> bool:
    """Finance-sensitive APIs and anything a tier-1 integration depends on need two stewards."""
    if subject.api_id and subject.api.finance_sensitive:
        return True
    return affected_integrations(subject).filter(criticality=Criticality.TIER_1).exists()


def waiting_for_review(user):
    """Versions in review that ``user`` may review and has not yet approved this round."""
    mine = Review.objects.filter(
        version=OuterRef("pk"), reviewer=user, round=OuterRef("round"), decision=ReviewDecision.APPROVE
    )
    return (
        SchemaVersion.objects.filter(status=VersionStatus.IN_REVIEW)
        .exclude(author=user)
        .annotate(already=Exists(mine))
        .filter(already=False)
        .select_related("subject", "author")
        .order_by("submitted_at")
    )


# --- SoR matrix and findings ----------------------------------------------------------------

RETIRING_STATES = {SystemLifecycle.RETIRING, SystemLifecycle.RETIRED}


def sor_matrix(entities=None):
    """Rows of the SoR matrix: entities down, scopes across.

    Returns ``(scopes, rows)`` where ``scopes`` is the ordered list of (scope_type,
    scope_value) columns and each row is ``{"entity", "cells": [{"approved": [...],
    "pending": [...]}...], "findings": [...]}``. Two queries plus the findings'.
    """
    if entities is None:
        entities = CanonicalEntity.objects.order_by("name")
    entities = list(entities)
    assignments = list(
        SorAssignment.objects.filter(
            entity__in=entities, status__in=[SorStatus.APPROVED, SorStatus.PROPOSED]
        ).select_related("system", "steward", "proposed_by")
    )
    scope_set = {(ScopeType.GLOBAL.value, "")}
    by_cell = defaultdict(lambda: {"approved": [], "pending": []})
    for a in assignments:
        scope_set.add((a.scope_type, a.scope_value))
        bucket = "approved" if a.status == SorStatus.APPROVED else "pending"
        by_cell[(a.entity_id, a.scope_type, a.scope_value)][bucket].append(a)
    order = {k: i for i, k in enumerate(ScopeType.values)}
    scopes = sorted(scope_set, key=lambda s: (order[s[0]], s[1]))
    findings = entity_findings(entities, assignments=assignments)
    rows = []
    for entity in entities:
        cells = [by_cell.get((entity.pk, st, sv), {"approved": [], "pending": []}) for st, sv in scopes]
        rows.append({"entity": entity, "cells": cells, "findings": findings.get(entity.pk, [])})
    return [{"type": st, "value": sv, "label": "Global" if st == ScopeType.GLOBAL else f"{ScopeType(st).label}: {sv}"}
            for st, sv in scopes], rows


def entity_findings(entities, assignments=None):
    """Findings per entity id: ``no_sor``, ``unmanaged_writer`` and ``sor_retiring``.

    An unmanaged writer is an integration carrying the entity whose target system is not
    one of the entity's approved SoR systems and whose source is not one either: it writes
    the entity somewhere from a place that does not own it.
    """
    entities = list(entities)
    ids = [e.pk for e in entities]
    if assignments is None:
        assignments = SorAssignment.objects.filter(entity__in=ids, status=SorStatus.APPROVED).select_related("system")
    sor_systems = defaultdict(dict)
    for a in assignments:
        if a.status == SorStatus.APPROVED:
            sor_systems[a.entity_id][a.system_id] = a.system
    carriers = (
        Integration.entities.through.objects.filter(canonicalentity_id__in=ids)
        .exclude(integration__lifecycle="retired")
        .select_related("integration__source_system", "integration__target_system")
    )
    result = defaultdict(list)
    for entity in entities:
        if not sor_systems.get(entity.pk):
            result[entity.pk].append({"kind": "no_sor", "label": "No SoR", "severity": "high", "message": "No approved system of record."})
        for system in sor_systems.get(entity.pk, {}).values():
            if system.lifecycle in RETIRING_STATES:
                result[entity.pk].append({
                    "kind": "sor_retiring", "label": "SoR retiring", "severity": "medium", "system": system,
                    "message": f"System of record {system.name} is {system.get_lifecycle_display().lower()}.",
                })
    for link in carriers:
        systems = sor_systems.get(link.canonicalentity_id)
        if not systems:
            continue  # already reported as no_sor; every writer would be "unmanaged"
        integration = link.integration
        if integration.target_system_id not in systems and integration.source_system_id not in systems:
            result[link.canonicalentity_id].append({
                "kind": "unmanaged_writer", "label": "Unmanaged writer", "severity": "high", "integration": integration,
                "message": (f"{integration.name} writes it from {integration.source_system.name} into "
                            f"{integration.target_system.name}; neither is its system of record."),
            })
    return result


def entities_without_sor():
    approved = SorAssignment.objects.filter(entity=OuterRef("pk"), status=SorStatus.APPROVED)
    return CanonicalEntity.objects.annotate(has_sor=Exists(approved)).filter(has_sor=False)


def pending_sor_proposals(user=None):
    qs = SorAssignment.objects.filter(status=SorStatus.PROPOSED).select_related("entity", "system", "proposed_by")
    if user is not None:
        qs = qs.filter(~Q(proposed_by=user))
    return qs.order_by("created_at")


def review_findings(version) -> list[dict]:
    """The findings of ``version``'s stored report, each with its plain sentence and its
    ``counterexample`` (``None`` for compatible findings). Reports stored before
    counterexamples existed get them computed here, on a copy (a read never writes)."""
    import copy

    from .compat import counterexamples

    findings = version.findings
    if all("counterexample" in f for f in findings if not f.get("compatible", True)):
        return findings
    report = copy.deepcopy(version.compat_report or {})
    numbers = {f.get("against_version") for f in findings}
    documents = dict(version.subject.versions.filter(number__in=[n for n in numbers if n]).values_list("number", "document"))
    counterexamples.enrich(report, new=version.document, previous_by_number=documents, fmt=version.subject.format)
    return report.get("findings", [])


def with_top_number(queryset):
    """Versions annotated with their subject's highest number, so ``display_name`` of many
    versions costs no query each."""
    from django.db.models import Max, Subquery

    top = (SchemaVersion.objects.filter(subject_id=OuterRef("subject_id")).values("subject_id")
           .annotate(top=Max("number")).values("top"))
    return queryset.annotate(subject_top_number=Subquery(top))
