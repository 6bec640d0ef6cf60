"""Reads of the wire API: what a Schema Registry client may see. Only approved versions
(and, when a client asks for ``deleted=true``, the deprecated ones: Confluent's soft-deleted
versions) are served; drafts and versions in review never are."""

from stewardship.choices import VersionStatus
from stewardship.models import RegistrySchema, SchemaSubject, SchemaVersion

from . import identity

WIRE_FORMATS = tuple(identity.WIRE_TYPES)


def _states(deleted: bool):
    return (VersionStatus.APPROVED, VersionStatus.DEPRECATED) if deleted else (VersionStatus.APPROVED,)


def wire_subject(name: str):
    """The subject a client names (its slug), if its format is one the wire serves."""
    return SchemaSubject.objects.filter(slug=name, format__in=WIRE_FORMATS).first()


def subject_names(*, prefix: str = "", deleted: bool = False):
    """Subjects with at least one served version, by name."""
    qs = SchemaSubject.objects.filter(format__in=WIRE_FORMATS, versions__status__in=_states(deleted))
    if prefix:
        qs = qs.filter(slug__startswith=prefix)
    return qs.order_by("slug").values_list("slug", flat=True).distinct()


def version_numbers(subject, *, deleted: bool = False):
    return (subject.versions.filter(status__in=_states(deleted), number__isnull=False)
            .order_by("number").values_list("number", flat=True))


def wire_version(subject, number: int | None = None, *, deleted: bool = False):
    """Version ``number`` of the subject, or its latest (``number`` None), if served."""
    qs = subject.versions.filter(status__in=_states(deleted), number__isnull=False).select_related("registry_schema")
    if number is None:
        return qs.order_by("-number").first()
    return qs.filter(number=number).first()


def lookup(subject, fingerprint: str, *, deleted: bool = False):
    """The served version of the subject whose text (and references) has ``fingerprint``."""
    return (subject.versions.filter(status__in=_states(deleted), fingerprint=fingerprint)
            .select_related("registry_schema").order_by("number").first())


def awaiting_with(subject, fingerprint: str):
    """A version of that text still waiting for a steward (to say so on a failed lookup)."""
    return subject.versions.filter(status=VersionStatus.IN_REVIEW, fingerprint=fingerprint).first()


def schema_by_id(schema_id: int):
    """The schema of an id while a served (approved or soft-deleted) version has it: an id
    whose every version was permanently deleted is gone from the wire."""
    return (RegistrySchema.objects.filter(pk=schema_id, versions__status__in=_states(True))
            .order_by("pk").first())


def subjects_of_schema(schema_id: int, *, deleted: bool = False):
    return (SchemaSubject.objects.filter(versions__registry_schema_id=schema_id, versions__status__in=_states(deleted))
            .order_by("slug").values_list("slug", flat=True).distinct())


def versions_of_schema(schema_id: int, *, deleted: bool = False):
    return (SchemaVersion.objects.filter(registry_schema_id=schema_id, status__in=_states(deleted))
            .order_by("subject__slug", "number").values_list("subject__slug", "number"))


def referenced_by(subject, number: int):
    """Ids of the approved schemas whose references name this version."""
    return (SchemaVersion.objects.filter(status=VersionStatus.APPROVED,
                                         references__contains=[{"subject": subject.slug, "version": number}])
            .exclude(registry_schema__isnull=True).order_by("registry_schema_id")
            .values_list("registry_schema_id", flat=True).distinct())


def _referenced_version(subject_slug: str, number: int):
    """(format, document, references) of an approved or soft-deleted version, for
    ``references.bundle``; None when there is none (drafts, reviews and purged ones never
    resolve)."""
    return (SchemaVersion.objects.filter(subject__slug=subject_slug, number=number,
                                         status__in=(VersionStatus.APPROVED, VersionStatus.DEPRECATED))
            .values_list("subject__format", "document", "references").first())


def resolved(fmt: str, document, references):
    """``document`` with its Confluent references inlined (itself when it has none): what the
    compatibility check, the counterexamples and payload validation read. Raises
    ``references.ReferenceError_`` (a ValueError) when a reference does not resolve."""
    from . import references as refs

    return refs.bundle(fmt, document, references, _referenced_version)


def referencing_versions(subject, number: int):
    """Versions (any state but purged or rejected) whose references name this version: what
    a permanent delete must not pull the ground from under."""
    return (SchemaVersion.objects.filter(references__contains=[{"subject": subject.slug, "version": number}])
            .exclude(status__in=(VersionStatus.DELETED, VersionStatus.REJECTED))
            .select_related("subject").order_by("subject__slug", "number"))
