"""Confluent schema references resolved into one self-contained document.

A schema registered with ``references: [{name, subject, version}]`` leans on other subjects'
versions: a JSON Schema ``$ref`` whose URI is a reference's ``name`` (``"customer.json"``,
``"customer.json#/definitions/Address"``), or an Avro named type defined in a referenced
schema (``"com.acme.Customer"``). The compatibility engine, the counterexamples and payload
validation all read single documents, so ``bundle`` inlines the referenced versions (and
theirs, transitively) before any of them sees a schema:

* JSON Schema: each referenced version is placed under the root's ``definitions`` (``$defs``
  for 2019-09 and later) at a key naming its subject and version, and every ``$ref`` to it
  becomes a local pointer; the embedded schema's own local ``$ref``s are re-rooted there.
* Avro: the referenced schemas are parsed first (fastavro, full names), then the referring
  one; a referenced named type is written out in full at its first use, by name afterwards.

Pure functions: ``fetch(subject, version) -> (format, document, references)`` (or None) is
the caller's way to read a referenced version.
"""

from __future__ import annotations

import copy
import re
from urllib.parse import urljoin

MAX_DEPTH = 16  # references of references of ...: a chain this long is a mistake, not a design
_SKIP = ("enum", "const", "default", "examples", "example")  # values, not schemas
_AVRO_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_AVRO_NAMED = frozenset({"record", "error", "enum", "fixed"})


class ReferenceError_(ValueError):  # noqa: N801 - a ValueError, named apart from the builtin ReferenceError
    """A reference that cannot be resolved (missing version, cycle, too deep, wrong format)."""


def bundle(fmt: str, document, references, fetch):
    """``document`` with its ``references`` resolved into it (``document`` itself when it
    has none). ``ReferenceError_`` when one cannot be resolved."""
    if not references:
        return document
    if fmt == "avro":
        return _bundle_avro(document, references, fetch)
    return _bundle_json(document, references, fetch)


def _fetched(ref, fetch, fmt):
    found = fetch(ref["subject"], ref["version"])
    if found is None:
        raise ReferenceError_(f"reference {ref['name']!r} names version {ref['version']} of subject "
                              f"{ref['subject']!r}, which is not an approved version")
    ref_fmt, document, references = found
    if ref_fmt != fmt:
        raise ReferenceError_(f"reference {ref['name']!r} names a {ref_fmt} subject from a {fmt} schema")
    return document, references or []


# --- JSON Schema ---------------------------------------------------------------------------------


def _key(ref) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{ref['subject']}.v{ref['version']}")


def _split(ref: str):
    url, _, fragment = ref.partition("#")
    return url, fragment


def _bundle_json(document, references, fetch):
    if not isinstance(document, dict):
        return document  # a boolean schema refers to nothing
    root = copy.deepcopy(document)
    uri = root.get("$schema")
    holder = "definitions" if uri is None or re.search(r"draft-0[3-7]", str(uri)) else "$defs"
    defs = root.get(holder)
    if not isinstance(defs, dict):
        defs = root[holder] = {}
    embedded: dict[tuple, str] = {}  # (subject, version) -> key under defs

    def place(ref, depth, chain):
        ident = (ref["subject"], ref["version"])
        if ident in embedded:
            return embedded[ident]
        if ident in chain:
            raise ReferenceError_(f"references form a cycle through {ref['subject']!r} version {ref['version']}")
        if depth > MAX_DEPTH:
            raise ReferenceError_(f"references nest more than {MAX_DEPTH} deep")
        target, its_refs = _fetched(ref, fetch, "json-schema")
        key = base_key = _key(ref)
        n = 1
        while key in defs:
            n += 1
            key = f"{base_key}_{n}"
        embedded[ident] = key
        defs[key] = True  # reserved while its own references are placed
        body = copy.deepcopy(target)
        if isinstance(body, dict):
            own_id = body.pop("$id", None) or body.pop("id", None)
            body.pop("$schema", None)
            targets = {r["name"]: place(r, depth + 1, chain | {ident}) for r in its_refs}
            _rewrite(body, f"/{holder}/{key}", own_id if isinstance(own_id, str) else "", its_refs, targets,
                     holder)
        defs[key] = body
        return key

    targets = {r["name"]: place(r, 1, frozenset()) for r in references}
    own_id = root.get("$id", root.get("id"))
    _rewrite(root, "", own_id if isinstance(own_id, str) else "", references, targets, holder,
             skip=set(embedded.values()))
    return root


def _rewrite(node, prefix, base, references, targets, holder, *, skip=frozenset()):
    """Rewrite the ``$ref``s of the schema ``node`` (placed at JSON pointer ``prefix`` of the
    bundle): local ones are re-rooted under ``prefix``, those naming a reference point at
    the place it was embedded. ``skip``: keys under the root's ``holder`` already rewritten."""
    base_url = base.split("#")[0]
    names = {}
    for ref in references:
        key = targets[ref["name"]]
        names[ref["name"]] = key
        if base_url:
            names[urljoin(base_url, ref["name"])] = key
    stack = [(node, True)]
    while stack:
        raw, top = stack.pop()
        if isinstance(raw, dict):
            value = raw.get("$ref")
            if isinstance(value, str):
                url, fragment = _split(value)
                absolute = urljoin(base_url, url) if base_url and url else url
                if not url or (base_url and absolute == base_url):
                    if prefix and (fragment == "" or fragment.startswith("/")):
                        raw["$ref"] = f"#{prefix}{fragment}"
                elif url in names or absolute in names:
                    key = names.get(url) or names[absolute]
                    if fragment == "" or fragment.startswith("/"):
                        raw["$ref"] = f"#/{holder}/{key}{fragment}"
            for k, v in raw.items():
                if k in _SKIP:
                    continue
                if top and k == holder and isinstance(v, dict):
                    stack.extend((sub, False) for name, sub in v.items() if name not in skip
                                 and isinstance(sub, dict | list))
                elif isinstance(v, dict | list):
                    stack.append((v, False))
        elif isinstance(raw, list):
            stack.extend((v, False) for v in raw if isinstance(v, dict | list))


# --- Avro ------------------------------------------------------------------------------------------


def _bundle_avro(document, references, fetch):
    import fastavro
    from fastavro.schema import SchemaParseException, UnknownType

    from stewardship.compat.avro import _load

    named: dict = {}
    done: set = set()

    def load(ref, depth, chain):
        ident = (ref["subject"], ref["version"])
        if ident in done:
            return
        if ident in chain:
            raise ReferenceError_(f"references form a cycle through {ref['subject']!r} version {ref['version']}")
        if depth > MAX_DEPTH:
            raise ReferenceError_(f"references nest more than {MAX_DEPTH} deep")
        target, its_refs = _fetched(ref, fetch, "avro")
        for inner in its_refs:
            load(inner, depth + 1, chain | {ident})
        try:
            fastavro.parse_schema(_load(target), named_schemas=named, _write_hint=False)
        except (UnknownType, SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ReferenceError_(f"the schema of reference {ref['name']!r} cannot be read with the types it "
                                  f"refers to: {exc}") from exc
        done.add(ident)

    for ref in references:
        load(ref, 1, frozenset())
    referenced = dict(named)
    try:
        parsed = fastavro.parse_schema(_load(document), named_schemas=named, _write_hint=False)
    except UnknownType as exc:
        name = exc.name.get("type") if isinstance(exc.name, dict) else exc.name
        raise ReferenceError_(f"unknown type {name!r} (neither defined here nor by a reference)") from exc
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ReferenceError_(f"this is not a valid Avro schema with its references: {exc}") from exc
    return _inline(parsed, referenced, set())


def _inline(node, referenced, defined):
    """``node`` (fastavro's parsed form: full names) with each referenced named type written
    out at its first use; a named type already written out is named, never defined twice."""
    if isinstance(node, str):
        if node in _AVRO_PRIMITIVES or node in defined or node not in referenced:
            return node
        return _inline(copy.deepcopy(referenced[node]), referenced, defined)
    if isinstance(node, list):
        return [_inline(branch, referenced, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in _AVRO_NAMED:
        name = node.get("name")
        if name in defined:
            return name
        defined.add(name)
        if kind in ("record", "error"):
            node["fields"] = [{**field, "type": _inline(field["type"], referenced, defined)}
                              for field in node.get("fields", [])]
        return node
    if kind == "array":
        node["items"] = _inline(node["items"], referenced, defined)
    elif kind == "map":
        node["values"] = _inline(node["values"], referenced, defined)
    elif not isinstance(kind, str) or kind not in _AVRO_PRIMITIVES:
        node["type"] = _inline(kind, referenced, defined)
    return node
