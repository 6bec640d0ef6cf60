"""``validate_schema``: is a document a valid schema of its format?"""

from __future__ import annotations

import re

from jsonschema.validators import (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)

from .types import FORMATS


def _norm_uri(uri: str) -> str:
    return re.sub(r"^https?://", "", uri).rstrip("#/")


_KNOWN_DRAFTS = {
    _norm_uri(cls.META_SCHEMA.get("$schema") or cls.META_SCHEMA.get("id", "")): cls
    for cls in (Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator)
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_OPENAPI_VERSION = re.compile(r"^3\.(0|1)\.\d+(-.+)?$")
MAX_MESSAGES = 50


def _where(path) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "#" + "".join("/" + p for p in parts)


def _validator_class(document, default):
    uri = document.get("$schema") if isinstance(document, dict) else None
    if uri is None:
        return default, None
    if not isinstance(uri, str):
        return None, "#/$schema: must be a string naming a JSON Schema draft."
    cls = _KNOWN_DRAFTS.get(_norm_uri(uri))
    if cls is None:
        return None, f"#/$schema: unknown JSON Schema dialect {uri!r}; use draft-07 or 2020-12."
    return cls, None


def _metaschema_errors(document, cls, prefix: str = "#") -> list[str]:
    messages = []
    for error in sorted(cls(cls.META_SCHEMA).iter_errors(document), key=lambda e: list(e.path)):
        where = _where(error.path)
        where = prefix + where[1:]
        messages.append(f"{where}: {error.message}")
        if len(messages) >= MAX_MESSAGES:
            break
    return messages


def _local_ref_errors(document) -> list[str]:
    """``$ref`` values pointing inside the document that resolve to nothing."""
    from .jsonschema_diff import Doc

    doc = Doc(document)
    messages = []
    stack = [(document, "#")]
    while stack and len(messages) < MAX_MESSAGES:
        raw, ptr = stack.pop()
        if isinstance(raw, dict):
            ref = raw.get("$ref")
            if isinstance(ref, str) and (ref.startswith("#") or (doc.base and ref.startswith(doc.base))):
                node = doc.node(raw, "ref")
                if doc.resolve(node) is None:
                    messages.append(f"{ptr}/$ref: {ref!r} does not resolve inside the document.")
            for k, v in raw.items():
                if k not in ("enum", "const", "default", "examples", "example") and isinstance(v, (dict, list)):
                    stack.append((v, f"{ptr}/{str(k).replace('~', '~0').replace('/', '~1')}"))
        elif isinstance(raw, list):
            stack.extend((v, f"{ptr}/{i}") for i, v in enumerate(raw) if isinstance(v, (dict, list)))
    return sorted(messages)


def _json_schema(document) -> list[str]:
    if not isinstance(document, (dict, bool)):
        return ["#: a JSON Schema must be an object or a boolean."]
    # No $schema: draft-07, as Confluent Schema Registry reads such a schema.
    cls, problem = _validator_class(document, Draft7Validator)
    if problem:
        return [problem]
    messages = _metaschema_errors(document, cls)
    if not messages and isinstance(document, dict):
        messages = _local_ref_errors(document)
    return messages


def _openapi(document) -> list[str]:
    if not isinstance(document, dict):
        return ["#: an OpenAPI document must be an object."]
    messages = []
    version = document.get("openapi")
    if not isinstance(version, str) or not _OPENAPI_VERSION.match(version):
        messages.append(f"#/openapi: must be a version string 3.0.x or 3.1.x, got {version!r}.")
        v31 = False
    else:
        v31 = version.startswith("3.1")
    info = document.get("info")
    if not isinstance(info, dict):
        messages.append("#/info: required object is missing.")
    else:
        for key in ("title", "version"):
            if not isinstance(info.get(key), str):
                messages.append(f"#/info/{key}: required string is missing.")
    paths = document.get("paths")
    if paths is None:
        if not v31 or not (document.get("webhooks") or document.get("components")):
            messages.append("#/paths: required object is missing.")
        paths = {}
    if not isinstance(paths, dict):
        messages.append("#/paths: must be an object.")
        paths = {}
    comps = document.get("components")
    if comps is not None and not isinstance(comps, dict):
        messages.append("#/components: must be an object.")
    elif isinstance(comps, dict) and "schemas" in comps and not isinstance(comps["schemas"], dict):
        messages.append("#/components/schemas: must be an object.")
    schema_cls = Draft202012Validator if v31 else Draft4Validator
    for path, item in paths.items():
        pptr = "#/paths/" + str(path).replace("~", "~0").replace("/", "~1")
        if not str(path).startswith("/"):
            messages.append(f"{pptr}: path must start with '/'.")
        if not isinstance(item, dict):
            messages.append(f"{pptr}: path item must be an object.")
            continue
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            optr = f"{pptr}/{method}"
            if not isinstance(op, dict):
                messages.append(f"{optr}: operation must be an object.")
                continue
            if "responses" not in op and not v31:
                messages.append(f"{optr}/responses: required object is missing.")
            elif "responses" in op and not isinstance(op["responses"], dict):
                messages.append(f"{optr}/responses: must be an object.")
            params = op.get("parameters", [])
            if not isinstance(params, list):
                messages.append(f"{optr}/parameters: must be an array.")
                params = []
            for i, param in enumerate(params):
                if not isinstance(param, dict):
                    messages.append(f"{optr}/parameters/{i}: a parameter must be an object.")
                elif "$ref" not in param:
                    for key in ("name", "in"):
                        if not isinstance(param.get(key), str):
                            messages.append(f"{optr}/parameters/{i}/{key}: required string is missing.")
            body = op.get("requestBody")
            if body is not None and not isinstance(body, dict):
                messages.append(f"{optr}/requestBody: must be an object.")
            elif isinstance(body, dict) and "content" in body and not isinstance(body["content"], dict):
                messages.append(f"{optr}/requestBody/content: must be an object.")
            responses = op.get("responses")
            for status, resp in (responses.items() if isinstance(responses, dict) else ()):
                rptr = f"{optr}/responses/{_esc(status)}"
                if not isinstance(resp, dict):
                    messages.append(f"{rptr}: a response must be an object.")
                elif "content" in resp and not isinstance(resp["content"], dict):
                    messages.append(f"{rptr}/content: must be an object.")
    for ptr, schema in _schema_objects(document):
        if isinstance(schema, (dict, bool)):
            messages.extend(_metaschema_errors(schema, schema_cls, prefix=ptr))
        else:
            messages.append(f"{ptr}: a schema object must be an object.")
        if len(messages) >= MAX_MESSAGES:
            break
    return messages[:MAX_MESSAGES]


def _esc(s) -> str:
    return str(s).replace("~", "~0").replace("/", "~1")


def _d(v) -> dict:
    return v if isinstance(v, dict) else {}


def _schema_objects(document):
    """(pointer, schema) for the schema objects of an OpenAPI document."""
    for name, schema in _d(_d(document.get("components")).get("schemas")).items():
        yield f"#/components/schemas/{_esc(name)}", schema
    for path, item in _d(document.get("paths")).items():
        pptr = "#/paths/" + _esc(path)
        for method in _METHODS:
            op = _d(_d(item).get(method))
            optr = f"{pptr}/{method}"
            params = op.get("parameters") if isinstance(op.get("parameters"), list) else []
            for i, param in enumerate(params):
                if isinstance(param, dict) and "schema" in param:
                    yield f"{optr}/parameters/{i}/schema", param["schema"]
            for media, mt in _d(_d(op.get("requestBody")).get("content")).items():
                if isinstance(mt, dict) and "schema" in mt:
                    yield f"{optr}/requestBody/content/{_esc(media)}/schema", mt["schema"]
            for status, resp in _d(op.get("responses")).items():
                for media, mt in _d(_d(resp).get("content")).items():
                    if isinstance(mt, dict) and "schema" in mt:
                        yield f"{optr}/responses/{_esc(status)}/content/{_esc(media)}/schema", mt["schema"]


def _openapi_spec_validator(document) -> list[str]:
    """openapi-spec-validator's verdict (the OpenAPI Initiative's schemas, every $ref resolved)."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
    from referencing.exceptions import Unresolvable

    cls = OpenAPIV31SpecValidator if str(document.get("openapi", "")).startswith("3.1") else OpenAPIV30SpecValidator
    messages = []
    try:
        for error in cls(document).iter_errors():
            where = _where(getattr(error, "path", ()) or ())
            messages.append(f"{where}: {error.message.splitlines()[0]}")
            if len(messages) >= MAX_MESSAGES:
                break
    except Unresolvable as exc:
        ref = getattr(exc, "ref", None) or str(exc)[:200]
        messages.append(f"#: the reference {ref!r} does not resolve inside the document.")
    return sorted(set(messages))


def validate_schema(document, fmt: str = "json-schema") -> list[str]:
    """Return [] when ``document`` is a valid schema of ``fmt``, else human messages.

    JSON Schema: checked against the metaschema its ``$schema`` names (default draft-07, as in
    Confluent Schema Registry; draft-04,
    06, 07, 2019-09 and 2020-12 are known), then every local ``$ref`` must resolve. OpenAPI
    3.0/3.1: structural checks (``openapi`` version, ``info``, ``paths``, operations) and every
    schema object inside (3.1: 2020-12 metaschema; 3.0: draft-04, its closest ancestor); when
    those pass, openapi-spec-validator has the last word (its messages, every $ref resolved).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown schema format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    if fmt == "avro":
        from . import avro

        try:
            avro.parse(document)
        except ValueError as exc:
            return [f"#: {exc}"]
        return []
    try:
        if fmt == "json-schema":
            return _json_schema(document)
        return _openapi(document) or _openapi_spec_validator(document)
    except RecursionError:
        return ["#: the document nests too deeply to be checked."]

