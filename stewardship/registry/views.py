"""The Confluent Schema Registry REST API over governed subjects: thin handlers that parse
the wire format, call ``stewardship.services`` (writes) or ``.selectors`` (reads), and answer
in Confluent's content type and error bodies (``{"error_code": 40401, "message": ...}``).

Plain Django views rather than DRF ones: the wire API has its own error shape, and
``GET /schemas/ids/{id}`` is on every consumer's hot path (approved schemas never change, so
their bodies are cached per process).
"""

import json
import logging
from collections import OrderedDict
from threading import Lock

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions

from controlplane import scope
from controlplane.authentication import ServiceTokenAuthentication, ServiceTokenBasicAuthentication
from controlplane.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFound
from controlplane.validation import json_problem
from stewardship import compat, services
from stewardship.choices import RegistryMode, SchemaFormat, VersionStatus
from stewardship.models import StewardshipSettings
from stewardship.selectors import affected_integrations, compatibility_against

from . import identity, selectors

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
READ = "stewardship.view_schemaversion"
REGISTER = "stewardship.register_schema"
STEWARD = "stewardship.review_schemaversion"
# Our own codes (documented in docs/stewardship.md): the schema is in the steward review,
# or a steward refused it. HTTP 422 like Confluent's other "cannot be processed" answers.
AWAITING_APPROVAL = 42290
REFUSED_BY_STEWARD = 42291
MAX_INT = 2**31 - 1
MAX_LIST = 10_000  # limit=-1 (every item) still stops here
WIRE_MODES = (RegistryMode.READWRITE, RegistryMode.READONLY, RegistryMode.IMPORT)


class WireError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def respond(data, status=200):
    return HttpResponse(json.dumps(data), content_type=CONTENT_TYPE, status=status)


def error(status, code, message, **headers):
    response = respond({"error_code": code, "message": message}, status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


# --- authentication, permission, dispatch -----------------------------------------------------

_AUTHENTICATORS = (ServiceTokenBasicAuthentication(), ServiceTokenAuthentication())


def _authenticate(request):
    """(user, token) from HTTP Basic (account:token) or a bearer token; a browser session
    may read (never write: these views are CSRF-exempt for the clients' sake). A token's
    lookup is reused for a second (controlplane.authentication), so a revocation elsewhere
    is honoured within that second, here at once."""
    for authenticator in _AUTHENTICATORS:
        found = authenticator.authenticate(request)
        if found:
            return found
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if request.method not in ("GET", "HEAD"):
            raise SessionWrite
        return user, None
    return None


def _allowed(user, permission) -> bool:
    """``user.has_perm``, decided once per user object: Django builds every authentication
    backend anew on each call (the OIDC one reads its settings), which cost a cached read
    more than the rest of it. Django's backend already caches the permissions on the user
    object (``_perm_cache``), and a token's user object lives only as long as its cached
    lookup (a second, controlplane.authentication): the same rule, minus the rebuild."""
    decided = user.__dict__.setdefault("_registry_allowed", {})
    if permission not in decided:
        decided[permission] = user.has_perm(permission)
    return decided[permission]


class SessionWrite(Exception):
    """A signed-in browser session asked for more than a read."""


def _unauthorized(message):
    return error(401, 40101, message, WWW_Authenticate='Basic realm="schema-registry"')


def _domain_error(exc: DomainError):
    if exc.code == "incompatible":
        return error(409, 409, exc.message)
    if exc.code == "read_only":
        return error(422, 42205, exc.message)
    if isinstance(exc, NotAllowed):
        return error(403, 40301, exc.message)
    if isinstance(exc, (Conflict, InvalidTransition)):
        return error(422, 42205, exc.message)
    if isinstance(exc, NotFound):
        return error(404, 404, exc.message)
    return error(422, 42201, exc.message)


def endpoint(**methods):
    """A view serving ``methods`` = {"GET": (permission, handler), ...}."""

    @csrf_exempt
    @login_not_required
    def view(request, **kwargs):
        entry = methods.get("GET" if request.method == "HEAD" else request.method)
        if entry is None:
            return error(405, 405, f"HTTP {request.method} is not allowed here.")
        permission, handler = entry
        try:
            found = _authenticate(request)
        except drf_exceptions.AuthenticationFailed as exc:
            return _unauthorized(str(exc.detail))
        except SessionWrite:
            return error(403, 40301, "A browser session may only read here; clients send HTTP Basic "
                         "(service account:token) or a bearer token.")
        if found is None:
            return _unauthorized("Authentication required: HTTP Basic with the service account and its token "
                                 "(basic.auth.user.info), or a bearer token.")
        request.user, request.auth = found
        if not _allowed(request.user, permission):
            return error(403, 40301, "This account is not allowed to do that: "
                         + {READ: "reading schemas", REGISTER: "registering schemas"}.get(
                             permission, "changing configuration and mode or deleting needs a steward") + ".")
        try:
            return handler(request, **kwargs)
        except WireError as exc:
            return error(exc.status, exc.code, exc.message)
        except DomainError as exc:
            return _domain_error(exc)
        except DatabaseError:
            raise  # the project's 503 for an unreachable database (DatabaseUnavailableMiddleware)
        except Exception:
            # Clients parse only Confluent's error body; a bare HTML 500 reads as "unknown error".
            logger.exception("Schema Registry API error on %s %s", request.method, request.path)
            return error(500, 50001, "Internal error in the schema registry; it has been logged.")

    return view


# --- parsing ----------------------------------------------------------------------------------


def _flag(request, name) -> bool:
    return request.GET.get(name, "").strip().lower() in ("true", "1", "yes")


def _int_param(request, name, default, minimum):
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WireError(400, 400, f"Query parameter {name} must be an integer.") from None
    if not minimum <= value <= MAX_INT:
        raise WireError(400, 400, f"Query parameter {name} must be between {minimum} and {MAX_INT}.")
    return value


def _page(request, items):
    """Confluent's ``offset``/``limit`` (``-1``: all, up to MAX_LIST)."""
    offset = _int_param(request, "offset", 0, 0)
    limit = _int_param(request, "limit", -1, -1)
    size = MAX_LIST if limit <= 0 else min(limit, MAX_LIST)
    return list(items[offset:offset + size])


def _body(request) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise WireError(413, 41301, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} "
                        "bytes.") from None
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise WireError(400, 400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise WireError(422, 422, "The request body must be a JSON object.")
    problem = json_problem(data, settings.API_JSON_MAX_DEPTH)
    if problem:
        raise WireError(400, 400, f"The request body is refused: {problem}.")
    return data


def _references(raw):
    if raw in (None, []):
        return []
    if not isinstance(raw, list) or len(raw) > 100:
        raise WireError(422, 42201, "Invalid schema: references must be a list (at most 100).")
    for ref in raw:
        if not (isinstance(ref, dict) and isinstance(ref.get("name"), str) and isinstance(ref.get("subject"), str)
                and isinstance(ref.get("version"), int) and 1 <= ref["version"] <= MAX_INT):
            raise WireError(422, 42201, "Invalid schema: each reference is {name, subject, version}.")
    return identity.normalize_references(raw)


def _schema_from(body, subject):
    """(document, references) of the schema in a request body, for ``subject``."""
    text = body.get("schema")
    if not isinstance(text, str) or not text.strip():
        raise WireError(422, 42201, "Invalid schema: the body needs a 'schema' string.")
    if body.get("ruleSet") or body.get("metadata"):
        raise WireError(422, 42201, "Invalid schema: metadata and rule sets (data contracts) are not supported; "
                        "the control plane governs schemas through its steward review.")
    schema_type = body.get("schemaType") or "AVRO"
    expected = identity.wire_type(subject.format)
    if schema_type != expected:
        raise WireError(422, 42201, f"Invalid schema: subject '{subject.slug}' holds {subject.get_format_display()} "
                        f"schemas (schemaType {expected}), this one was sent as {schema_type}.")
    try:
        document = json.loads(text)
    except RecursionError:
        raise WireError(422, 42201, "Invalid schema: it nests too deeply.") from None
    except json.JSONDecodeError as exc:
        raise WireError(422, 42201, f"Invalid schema: not valid JSON ({exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno}).") from None
    problem = json_problem(document, settings.API_JSON_MAX_DEPTH)
    if problem:
        raise WireError(422, 42201, f"Invalid schema: {problem}.")
    return document, _references(body.get("references"))


def _subject(name):
    subject = selectors.wire_subject(name)
    if subject is None:
        raise WireError(404, 40401, f"Subject '{name}' not found.")
    return subject


def _version_number(raw):
    """None for ``latest`` (or -1), else the number."""
    if raw in ("latest", "-1"):
        return None
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_INT:
        raise WireError(422, 42202, f"The specified version '{raw}' is not a valid version id. Allowed values are "
                        f"between [1, {MAX_INT}] and the string \"latest\"")
    return number


def _served_version(request, subject, raw):
    version = selectors.wire_version(subject, _version_number(raw), deleted=_flag(request, "deleted"))
    if version is None:
        raise WireError(404, 40402, f"Version {raw} not found.")
    return version


def _typed(body, registry_schema):
    # Confluent leaves schemaType out for AVRO, its default, and references out when empty.
    if registry_schema.schema_type != "AVRO":
        body["schemaType"] = registry_schema.schema_type
    if registry_schema.references:
        body["references"] = registry_schema.references
    return body


def _version_body(subject, version):
    rs = version.registry_schema
    return _typed({"subject": subject.slug, "version": version.number, "id": rs.pk, "schema": rs.schema}, rs)


# --- subjects ---------------------------------------------------------------------------------


def root(request):
    return respond({})


def associations(request, namespace, name):
    """Confluent 8's topic-to-subject associations, which the clients' default subject name
    strategy asks for before falling back to the topic name: none here (subjects are
    named by the topic name strategy, ``<topic>-value``)."""
    return respond([])


def subject_list(request):
    names = selectors.subject_names(prefix=request.GET.get("subjectPrefix", ""), deleted=_flag(request, "deleted"))
    return respond(_page(request, names))


def version_list(request, subject):
    subject = _subject(subject)
    numbers = _page(request, selectors.version_numbers(subject, deleted=_flag(request, "deleted")))
    if not numbers:
        raise WireError(404, 40401, f"Subject '{subject.slug}' not found (it has no approved version yet).")
    return respond(numbers)


def _awaiting(request, version, submitted):
    subject = version.subject
    url = request.build_absolute_uri(version.get_absolute_url())
    if version.status == VersionStatus.IN_REVIEW:
        report = version.compat_report or {}
        consumers = getattr(version, "affected_count", None)  # counted by the submission just made
        if consumers is None:
            consumers = affected_integrations(subject).values("pk").count()
        return error(422, AWAITING_APPROVAL, (
            f"Schema awaits steward approval: {'submitted now' if submitted else 'already submitted'} for review as "
            f"a new version of subject '{subject.slug}' (level {version.level}, "
            f"{'compatible' if report.get('compatible') else 'incompatible'}, {consumers} affected "
            f"integration(s), {version.required_approvals} approval(s) needed). A steward approves it at {url}; "
            "register again afterwards to get its id."))
    last = version.reviews.order_by("-created_at").first()
    what = "rejected" if version.status == VersionStatus.REJECTED else "asked for changes to"
    return error(422, REFUSED_BY_STEWARD, (
        f"A steward {what} this schema for subject '{subject.slug}'"
        + (f": {last.comment}" if last and last.comment else "")
        + f". See {url}; register a changed schema."))


def register(request, subject):
    subject = _subject(subject)
    body = _body(request)
    document, references = _schema_from(body, subject)
    explicit = body.get("id") is not None or body.get("version") not in (None, -1)
    defaults = StewardshipSettings.get()
    if explicit or subject.effective_registry_mode(defaults) == RegistryMode.IMPORT:
        return _import(request, subject, body, document, references)
    version, submitted = services.register_from_wire(
        actor=request.user, subject=subject, document=document, references=references,
        scope=scope.of_request(request), defaults=defaults,
    )
    if version.status != VersionStatus.APPROVED:
        return _awaiting(request, version, submitted)
    return respond({"id": version.registry_schema_id})


def _import(request, subject, body, document, references):
    """A registration in IMPORT mode, with the ``id`` and ``version`` the schema had in the
    registry being migrated (both optional): ``services.import_from_wire``."""
    schema_id, number = body.get("id"), body.get("version")
    if schema_id is not None and not (isinstance(schema_id, int) and not isinstance(schema_id, bool)
                                      and 1 <= schema_id <= MAX_INT):
        raise WireError(422, 42205, f"Invalid schema id {schema_id!r}: a whole number in [1, {MAX_INT}].")
    if number is not None and number != -1:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_INT:
            raise WireError(422, 42202, f"The specified version '{number}' is not a valid version id. Allowed "
                            f"values are between [1, {MAX_INT}]")
    version = services.import_from_wire(actor=request.user, subject=subject, document=document,
                                        references=references, schema_id=schema_id,
                                        number=None if number == -1 else number)
    return respond({"id": version.registry_schema_id})


def version_detail(request, subject, version):
    subject = _subject(subject)
    return respond(_version_body(subject, _served_version(request, subject, version)))


def version_schema(request, subject, version):
    subject = _subject(subject)
    return HttpResponse(_served_version(request, subject, version).registry_schema.schema, content_type=CONTENT_TYPE)


def referenced_by(request, subject, version):
    subject = _subject(subject)
    found = _served_version(request, subject, version)
    return respond(_page(request, selectors.referenced_by(subject, found.number)))


def lookup(request, subject):
    subject = _subject(subject)
    document, references = _schema_from(_body(request), subject)
    fingerprint = identity.fingerprint(identity.wire_type(subject.format), document, references)
    version = selectors.lookup(subject, fingerprint, deleted=_flag(request, "deleted"))
    if version is None:
        waiting = selectors.awaiting_with(subject, fingerprint)
        hint = (f" A version with this text awaits steward approval at "
                f"{request.build_absolute_uri(waiting.get_absolute_url())}.") if waiting else ""
        raise WireError(404, 40403, "Schema not found." + hint)
    return respond(_version_body(subject, version))


def delete_subject(request, subject):
    subject = _subject(subject)
    served = list(selectors.version_numbers(subject))
    if _flag(request, "permanent"):
        if served:
            raise WireError(404, 40405, f"Subject '{subject.slug}' was not deleted first before being permanently "
                            "deleted.")
        return _purge(request, subject, None)
    if not served:
        if list(selectors.version_numbers(subject, deleted=True)):
            raise WireError(404, 40404, f"Subject '{subject.slug}' was soft deleted. Set permanent=true to delete "
                            "permanently.")
        raise WireError(404, 40401, f"Subject '{subject.slug}' not found.")
    return respond(services.deprecate_subject(actor=request.user, subject=subject,
                                              comment="Deleted through the Schema Registry API."))


def delete_version(request, subject, version):
    subject = _subject(subject)
    found = selectors.wire_version(subject, _version_number(version), deleted=True)
    if found is None:
        raise WireError(404, 40402, f"Version {version} not found.")
    if _flag(request, "permanent"):
        if found.status == VersionStatus.APPROVED:
            raise WireError(404, 40407, f"Subject '{subject.slug}' Version {found.number} was not deleted first "
                            "before being permanently deleted.")
        return _purge(request, subject, found)
    if found.status != VersionStatus.APPROVED:
        raise WireError(404, 40406, f"Subject '{subject.slug}' Version {found.number} was soft deleted. Set "
                        "permanent=true to delete permanently.")
    services.deprecate(actor=request.user, version=found, comment="Deleted through the Schema Registry API.")
    return respond(found.number)


def _purge(request, subject, version):
    """``permanent=true`` on a soft-deleted subject (``version`` None) or version: the
    steward's permanent delete (services.purge_*); 42206 while another schema refers to it."""
    ids = list(subject.versions.filter(status=VersionStatus.DEPRECATED).values_list("registry_schema_id", flat=True)
               if version is None else [version.registry_schema_id])
    if version is None and not ids:
        raise WireError(404, 40401, f"Subject '{subject.slug}' not found.")
    comment = "Permanently deleted through the Schema Registry API."
    try:
        if version is None:
            answer = services.purge_subject(actor=request.user, subject=subject, comment=comment)
        else:
            answer = services.purge_version(actor=request.user, version=version, comment=comment).number
    except Conflict as exc:
        if exc.code != "referenced":
            raise
        raise WireError(422, 42206, exc.message) from None
    with _ID_CACHE_LOCK:  # this process stops serving them now; others when their cache turns over
        for schema_id in ids:
            _ID_CACHE.pop(schema_id, None)
    return respond(answer)


# --- schemas by id ----------------------------------------------------------------------------

# id -> body of GET /schemas/ids/{id}: a registry schema never changes once created.
_ID_CACHE: "OrderedDict[int, bytes]" = OrderedDict()
_ID_CACHE_SIZE = 10_000
_ID_CACHE_LOCK = Lock()


def _schema_id(raw) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_INT:
        raise WireError(404, 40403, f"Schema {raw} not found")
    return value


def _registry_schema(raw):
    found = selectors.schema_by_id(_schema_id(raw))
    if found is None:
        raise WireError(404, 40403, f"Schema {raw} not found")
    return found


def schema_by_id(request, schema_id):
    key = _schema_id(schema_id)
    body = _ID_CACHE.get(key)
    if body is None:
        rs = _registry_schema(key)
        body = json.dumps(_typed({"schema": rs.schema}, rs)).encode()
        with _ID_CACHE_LOCK:
            _ID_CACHE[key] = body
            while len(_ID_CACHE) > _ID_CACHE_SIZE:
                _ID_CACHE.popitem(last=False)
    return HttpResponse(body, content_type=CONTENT_TYPE)


def schema_text_by_id(request, schema_id):
    return HttpResponse(_registry_schema(schema_id).schema, content_type=CONTENT_TYPE)


def schema_subjects(request, schema_id):
    rs = _registry_schema(schema_id)
    return respond(_page(request, selectors.subjects_of_schema(rs.pk, deleted=_flag(request, "deleted"))))


def schema_versions(request, schema_id):
    rs = _registry_schema(schema_id)
    pairs = _page(request, selectors.versions_of_schema(rs.pk, deleted=_flag(request, "deleted")))
    return respond([{"subject": s, "version": v} for s, v in pairs])


def schema_types(request):
    return respond([identity.WIRE_TYPES[f] for f in SchemaFormat.values if f in identity.WIRE_TYPES])


# --- compatibility ----------------------------------------------------------------------------


def compatibility(request, subject, version=None):
    """Test a schema against one version (``latest`` or a number) or, without a version,
    against every approved one, under the subject's configured level and policy."""
    subject = _subject(subject)
    document, references = _schema_from(_body(request), subject)
    document = _resolved(subject, document, references)
    errors = identity.schema_errors(document, subject.format)
    if errors:
        raise WireError(422, 42201, "Invalid schema: " + "; ".join(errors[:5]))
    against = None
    if version is not None:
        found = selectors.wire_version(subject, _version_number(version))
        if found is None and version not in ("latest", "-1"):
            raise WireError(404, 40402, f"Version {version} not found.")
        against = [found] if found else []
    level, policy, report, _ = compatibility_against(subject, document, against=against)
    body = {"is_compatible": bool(report.get("compatible"))}
    if _flag(request, "verbose"):
        body["messages"] = [f"{f.get('type')} at {f.get('path')} (against version {f.get('against_version')}, "
                            f"{f.get('direction')}, level {level}, policy {policy}): {f.get('message')}"
                            for f in report.get("findings", []) if not f.get("compatible", True)]
    return respond(body)


def _resolved(subject, document, references):
    """The schema with its references inlined, as the check reads it (42201 when one does
    not resolve)."""
    from . import references as refs

    try:
        return selectors.resolved(subject.format, document, references)
    except refs.ReferenceError_ as exc:
        raise WireError(422, 42201, f"Invalid schema: {exc}.") from None


# --- config and mode --------------------------------------------------------------------------


def _level_from(request):
    level = _body(request).get("compatibility")
    level = level.upper() if isinstance(level, str) else level
    if level not in compat.LEVELS:
        raise WireError(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, "
                        "backward_transitive, forward_transitive, and full_transitive")
    return level


def _mode_from(request):
    mode = _body(request).get("mode")
    mode = mode.upper() if isinstance(mode, str) else mode
    if mode not in WIRE_MODES:
        raise WireError(422, 42204, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT.")
    return mode


class WireSetting:
    """One of the wire API's two settings, global and per subject: the compatibility level
    (``/config``) and the mode (``/mode``). One set of handlers serves both."""

    def __init__(self, *, parse, put_key, get_key, global_field, subject_field, missing_code, label):
        self.parse, self.put_key, self.get_key = parse, put_key, get_key
        self.global_field, self.subject_field = global_field, subject_field
        self.missing_code, self.label = missing_code, label

    def global_value(self):
        return getattr(StewardshipSettings.get(), self.global_field)

    def effective(self, subject):
        return getattr(subject, self.subject_field) or self.global_value()

    # -- handlers --------------------------------------------------------------------------
    def get_global(self, request):
        return respond({self.get_key: self.global_value()})

    def put_global(self, request):
        value = self.parse(request)
        services.update_settings(actor=request.user, **{self.global_field: value})
        return respond({self.put_key: value})

    def get_subject(self, request, subject):
        subject = _subject(subject)
        if not getattr(subject, self.subject_field) and not _flag(request, "defaultToGlobal"):
            raise WireError(404, self.missing_code,
                            f"Subject '{subject.slug}' does not have subject-level {self.label} configured")
        return respond({self.get_key: self.effective(subject)})

    def put_subject(self, request, subject):
        subject = _subject(subject)
        value = self.parse(request)
        services.update_subject(actor=request.user, subject=subject, **{self.subject_field: value})
        return respond({self.put_key: value})

    def delete_subject(self, request, subject):
        subject = _subject(subject)
        previous = self.effective(subject)
        services.update_subject(actor=request.user, subject=subject, **{self.subject_field: ""})
        return respond({self.get_key: previous})


CONFIG = WireSetting(parse=_level_from, put_key="compatibility", get_key="compatibilityLevel",
                     global_field="default_level", subject_field="compatibility_level", missing_code=40408,
                     label="compatibility")
class ModeSetting(WireSetting):
    """``/mode``: changes go through ``services.set_registry_mode``, which holds the IMPORT rules
    (``force=true`` to import into a registry or subject that already holds schemas)."""

    def put_global(self, request):
        mode = self.parse(request)
        services.set_registry_mode(actor=request.user, mode=mode, force=_flag(request, "force"))
        return respond({self.put_key: mode})

    def put_subject(self, request, subject):
        subject = _subject(subject)
        mode = self.parse(request)
        services.set_registry_mode(actor=request.user, subject=subject, mode=mode, force=_flag(request, "force"))
        return respond({self.put_key: mode})


MODE = ModeSetting(parse=_mode_from, put_key="mode", get_key="mode", global_field="registry_mode",
                   subject_field="registry_mode", missing_code=40409, label="mode")
