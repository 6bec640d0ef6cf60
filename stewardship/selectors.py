"""Reads of the stewardship app that are more than one line: affected consumers, review
queues, the SoR matrix and its findings."""

from collections import defaultdict
from threading import Lock

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from catalog.choices import Criticality, SystemLifecycle
from catalog.models import CanonicalEntity, Integration
from catalog.stages import trace_url

from .choices import CompatLevel, ReviewDecision, ScopeType, SorStatus, VersionStatus
from .models import Review, SchemaVersion, SorAssignment


def approved_versions(subject):
    """Approved versions of ``subject``, oldest first (what the compatibility check compares)."""
    return subject.versions.filter(status=VersionStatus.APPROVED, number__isnull=False).order_by("number")


# (pk, approved_at) -> document of an approved version: approved documents never change, and
# a registration checks against every one of them (BACKWARD_TRANSITIVE), so each process
# reads and decodes each of them once. approved_at makes a key unique even where ids are
# reused (a test database rolled back).
_APPROVED_DOCUMENTS: dict = {}
_APPROVED_DOCUMENTS_MAX = 50_000


def _approved_documents(keys, fmt):
    """Documents of the approved versions ``keys`` = [(pk, approved_at), ...], with
    references resolved (versions they reference are approved or soft-deleted, and cannot be
    purged while referenced, so the bundle never goes stale)."""
    from .registry.selectors import resolved

    missing = {pk: (pk, approved_at) for pk, approved_at in keys if (pk, approved_at) not in _APPROVED_DOCUMENTS}
    if missing:
        if len(_APPROVED_DOCUMENTS) > _APPROVED_DOCUMENTS_MAX:
            _APPROVED_DOCUMENTS.clear()
        for pk, document, references in SchemaVersion.objects.filter(pk__in=list(missing)).values_list(
                "pk", "document", "references"):
            _APPROVED_DOCUMENTS[missing[pk]] = resolved(fmt, document, references)
    return [_APPROVED_DOCUMENTS[key] for key in keys]


# subject pk -> the approved versions (pk, approved_at) its last check in this process
# compared with. The first check against a set of approved versions names and builds their
# documents for the engine (~85 ms of CPU for 100 versions, ~15 ms once done); the threads
# of a fresh worker asked to check the same subject at once would each do it. The first
# check of a subject's set runs under the subject's lock here, so the others wait for it
# and then run warm. The lock covers the engine only (no database access under it).
_WARM_CHECKS: dict = {}
_WARMING_LOCKS: dict = {}
_WARMING_GUARD = Lock()


def _checked_once(subject_pk, keys, run):
    """``run()`` (the engine's check of ``subject_pk`` against the approved ``keys``),
    serialised with the other threads' while this process has not yet checked that set."""
    if _WARM_CHECKS.get(subject_pk) == keys:
        return run()
    with _WARMING_GUARD:
        lock = _WARMING_LOCKS.setdefault(subject_pk, Lock())
    with lock:
        result = run()
    if len(_WARM_CHECKS) > _APPROVED_DOCUMENTS_MAX:
        _WARM_CHECKS.clear()
    _WARM_CHECKS[subject_pk] = keys
    return result


def resolved_document(version):
    """A version's document with its Confluent references inlined (the document itself when
    it has none)."""
    from .registry.selectors import resolved

    return resolved(version.subject.format, version.document, version.references)


def approved_rows(subject):
    """(pk, approved_at as text, number) of the approved versions of ``subject``, oldest
    first: what ``compatibility_against`` compares with, as plain rows. One plain statement
    (a registration reads them for every check): no ORM compilation, and the time as the
    database writes it, which is all a cache key needs (no date-time parsing of 100 rows)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, CAST(approved_at AS TEXT), number FROM {SchemaVersion._meta.db_table} "
            "WHERE subject_id = %s AND status = %s AND number IS NOT NULL ORDER BY number",
            [subject.pk, VersionStatus.APPROVED.value])
        return [tuple(row) for row in cursor.fetchall()]


def compatibility_against(subject, document, *, against=None, defaults=None, explain=False, references=(),
                          rows=None, latest_id=False):
    """Check ``document`` under the subject's level and policy against ``against`` (approved
    versions, oldest first; default: all of them). Returns ``(level, policy, report dict,
    the newest version compared)``: what a submission stores and the wire API answers.
    ``explain`` adds each finding's plain sentence and verified counterexample (what the
    steward reads; the wire API, answering a client, leaves that to the review page).
    ``references`` (Confluent's) are resolved into ``document``, and every compared version's
    into its own, so a change made in a referenced type is seen. ``rows``: the caller's
    ``approved_rows(subject)``, when it has read them already. ``latest_id``: give the
    newest compared version by its id (the caller stores the link and reads nothing else of
    it), not as a model read for the purpose."""
    from django.conf import settings

    from stewardship import compat

    from .registry.selectors import resolved

    level = subject.effective_level(defaults)
    policy = subject.effective_policy(defaults)
    document = resolved(subject.format, document, references)
    if against is None:
        # Plain rows, not 100 model instances (building those cost a registration more than
        # half the comparisons); the newest is the one model the caller needs.
        rows = approved_rows(subject) if rows is None else rows
        numbers = [number for _pk, _at, number in rows]
        documents = (_approved_documents([(pk, at) for pk, at, _n in rows], subject.format)
                     if level != CompatLevel.NONE else [])
        # Without its document and report (loaded if someone reads them): the newest
        # version's report lists a finding per earlier version, and the caller needs the row.
        if not rows:
            latest = None
        elif latest_id:
            latest = rows[-1][0]
        else:
            latest = SchemaVersion.objects.defer("document", "compat_report").get(pk=rows[-1][0])
    else:
        previous = list(against)
        numbers = [v.number for v in previous]
        documents = [resolved(subject.format, v.document, v.references) for v in previous]
        latest = previous[-1] if previous else None
    if level == CompatLevel.NONE or not numbers:
        report = {"compatible": True, "timed_out": False, "findings": [], "checked_versions": []}
    else:
        def run():
            return compat.check(
                new=document, previous=documents, level=level, policy=policy, fmt=subject.format,
                previous_versions=numbers,
                time_budget=getattr(settings, "STEWARDSHIP_CHECK_TIME_BUDGET", 5.0),
            )

        if against is None:
            report = _checked_once(subject.pk, tuple((pk, at) for pk, at, _n in rows), run).to_dict()
        else:
            report = run().to_dict()
        if explain:
            from stewardship.compat import counterexamples

            counterexamples.enrich(report, new=document, fmt=subject.format,
                                   previous_by_number=dict(zip(numbers, documents, strict=True)),
                                   budget=getattr(settings, "STEWARDSHIP_COUNTEREXAMPLE_BUDGET", 2.0))
    return level, policy, report, latest


def latest_approved(subject):
    return subject.versions.filter(status=VersionStatus.APPROVED).order_by("-number").first()


def affected_integrations(subject, *, systems=True):
    """Integrations that use the subject's API or carry its entity, with their teams (and
    their source and target systems, unless ``systems`` is false: a submission reads the
    teams and tiers only, and the two extra joins cost it more than the rest of the read)."""
    if subject.api_id:
        qs = Integration.objects.filter(apis=subject.api_id)
    else:
        qs = Integration.objects.filter(entities=subject.entity_id)
    related = ("owner_team", "source_system", "target_system") if systems else ("owner_team",)
    return qs.select_related(*related).distinct().order_by("criticality", "name")


def requires_two_approvals(subject, integrations=None) -> bool:
    """Finance-sensitive APIs and anything a tier-1 integration depends on need two stewards.
    ``integrations``: ``affected_integrations(subject)``, when the caller has read them."""
    if subject.api_id and subject.api.finance_sensitive:
        return True
    if integrations is not None:
        return any(i.criticality == Criticality.TIER_1 for i in integrations)
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

    An unmanaged writer writes the entity into a system that is neither one of its approved
    systems of record nor a declared copy (a warehouse or read replica, ``System.is_copy``),
    from a source that is not its SoR either (what the SoR sends downstream is the design):

    - *observed* (``ObservedWriter``, rebuilt from events, runs and exceptions): the
      evidence comes with it (counts, last seen, a business key to trace);
    - *declared* only: an integration said to carry the entity from a system that is not
      its SoR, with nothing seen yet (medium: it may never run).

    Copies are not writers: an integration feeding the warehouse is how BI is meant to work.
    """
    from .models import ObservedWriter

    entities = list(entities)
    ids = [e.pk for e in entities]
    if assignments is None:
        assignments = SorAssignment.objects.filter(entity__in=ids, status=SorStatus.APPROVED).select_related("system")
    sor_systems = defaultdict(dict)
    for a in assignments:
        if a.status == SorStatus.APPROVED:
            sor_systems[a.entity_id][a.system_id] = a.system
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
    observed = (
        ObservedWriter.objects.filter(entity_id__in=ids, system__is_copy=False)
        .select_related("system", "integration__source_system", "integration__target_system")
        .order_by("entity_id", "-last_seen", "pk")
    )
    seen = set()
    for writer in observed:
        systems = sor_systems.get(writer.entity_id)
        if not systems or writer.system_id in systems or writer.integration.source_system_id in systems:
            continue  # no SoR is its own finding; writing into the SoR, or from it downstream, is the design
        seen.add((writer.entity_id, writer.integration_id))
        integration = writer.integration
        evidence = ", ".join(f"{n} {label}" for n, label in (
            (writer.event_count, "events"), (writer.run_count, "runs"), (writer.exception_count, "exceptions")) if n)
        result[writer.entity_id].append({
            "kind": "unmanaged_writer", "label": "Unmanaged writer", "severity": "high", "integration": integration,
            "system": writer.system, "observed": writer,
            "evidence_url": evidence_url(writer),
            "message": (f"{writer.system.name} was seen writing it through {integration.name} ({evidence}, last "
                        f"{writer.last_seen:%Y-%m-%d %H:%M} UTC); it is not its system of record nor a declared copy."),
        })
    carriers = (
        Integration.entities.through.objects.filter(canonicalentity_id__in=ids)
        .exclude(integration__lifecycle="retired").exclude(integration__target_system__is_copy=True)
        .select_related("integration__source_system", "integration__target_system")
        .order_by("canonicalentity_id", "integration__name")
    )
    for link in carriers:
        systems = sor_systems.get(link.canonicalentity_id)
        if not systems or (link.canonicalentity_id, link.integration_id) in seen:
            continue
        integration = link.integration
        if integration.target_system_id not in systems and integration.source_system_id not in systems:
            result[link.canonicalentity_id].append({
                "kind": "unmanaged_writer", "label": "Unmanaged writer (declared)", "severity": "medium",
                "integration": integration, "system": integration.target_system, "observed": None,
                "message": (f"{integration.name} is declared to write it from {integration.source_system.name} into "
                            f"{integration.target_system.name}; neither is its system of record (not seen yet)."),
            })
    return result


def evidence_url(writer) -> str:
    """Where to see what a writer did: the trace of a business key it carried, else the
    integration's health page with its runs."""
    if writer.sample_key:
        return trace_url(writer.sample_key)
    return reverse("health:integration", kwargs={"slug": writer.integration.slug})


def observed_writers(entity):
    """Everything seen writing ``entity``, with whether each is its SoR or a declared copy."""
    from .models import ObservedWriter

    sor = set(SorAssignment.objects.filter(entity=entity, status=SorStatus.APPROVED).values_list("system_id", flat=True))
    rows = list(ObservedWriter.objects.filter(entity=entity).select_related("system", "integration")
                .order_by("system__name", "integration__name"))
    for row in rows:
        row.evidence_url = evidence_url(row)
        row.role = "sor" if row.system_id in sor else "copy" if row.system.is_copy else "unmanaged"
    return rows


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
    from .registry.selectors import resolved

    findings = version.findings
    if all("counterexample" in f for f in findings if not f.get("compatible", True)):
        return findings
    report = copy.deepcopy(version.compat_report or {})
    numbers = {f.get("against_version") for f in findings}
    fmt = version.subject.format
    documents = {number: resolved(fmt, document, references) for number, document, references in
                 version.subject.versions.filter(number__in=[n for n in numbers if n]).values_list(
                     "number", "document", "references")}
    counterexamples.enrich(report, new=resolved_document(version), previous_by_number=documents, fmt=fmt)
    return report.get("findings", [])


def with_top_number(queryset):
    """Versions annotated with their subject's highest number, so ``display_name`` of many
    versions costs no query each."""
    from django.db.models import Max, Subquery

    top = (SchemaVersion.objects.filter(subject_id=OuterRef("subject_id")).values("subject_id")
           .annotate(top=Max("number")).values("top"))
    return queryset.annotate(subject_top_number=Subquery(top))
