"""OpenAPI 3.0 / 3.1 breaking-change diff.

``compare(old, new)`` answers "does an API described by ``new`` still serve the clients written
against ``old``?". The rule behind every verdict: narrowing what a request accepts, or widening
what a response returns, breaks clients; the opposite changes are compatible.

Paths are JSON pointers into the document: into ``new`` for changes and additions, into ``old``
for removals. A ``$ref`` is followed and the pointer continues from the referenced component
(``#/components/schemas/Pet/properties/name``), so a component shared by many operations is
reported once. (old pointer, new pointer, side) triples are memoised, which also stops
recursive schemas from looping.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from .messages import message_for

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# type: compatible?
OPENAPI_TYPES: dict[str, bool] = {
    "PATH_ADDED": True,
    "PATH_REMOVED": False,
    "OPERATION_ADDED": True,
    "OPERATION_REMOVED": False,
    "REQUEST_PARAMETER_ADDED": True,
    "REQUEST_PARAMETER_REQUIRED_ADDED": False,
    "REQUEST_PARAMETER_REMOVED": True,
    "REQUEST_PARAMETER_REQUIRED": False,
    "REQUEST_PARAMETER_OPTIONAL": True,
    "REQUEST_PARAMETER_TYPE_CHANGED": False,
    "REQUEST_PARAMETER_TYPE_WIDENED": True,
    "REQUEST_BODY_ADDED": True,
    "REQUEST_BODY_REQUIRED_ADDED": False,
    "REQUEST_BODY_REQUIRED": False,
    "REQUEST_BODY_OPTIONAL": True,
    "REQUEST_BODY_REMOVED": False,
    "REQUEST_MEDIA_TYPE_ADDED": True,
    "REQUEST_MEDIA_TYPE_REMOVED": False,
    "REQUEST_PROPERTY_ADDED": True,
    "REQUEST_PROPERTY_REQUIRED_ADDED": False,
    "REQUEST_PROPERTY_REMOVED": True,
    "REQUEST_PROPERTY_REQUIRED": False,
    "REQUEST_PROPERTY_OPTIONAL": True,
    "REQUEST_PROPERTY_TYPE_CHANGED": False,
    "REQUEST_PROPERTY_TYPE_WIDENED": True,
    "REQUEST_ENUM_NARROWED": False,
    "REQUEST_ENUM_WIDENED": True,
    "REQUEST_ENUM_CHANGED": False,
    "RESPONSE_STATUS_ADDED": True,
    "RESPONSE_STATUS_REMOVED": True,
    "RESPONSE_SUCCESS_STATUS_REMOVED": False,
    "RESPONSE_MEDIA_TYPE_ADDED": True,
    "RESPONSE_MEDIA_TYPE_REMOVED": False,
    "RESPONSE_PROPERTY_ADDED": True,
    "RESPONSE_PROPERTY_REMOVED": False,
    "RESPONSE_PROPERTY_REQUIRED": True,
    "RESPONSE_PROPERTY_OPTIONAL": False,
    "RESPONSE_PROPERTY_TYPE_CHANGED": False,
    "RESPONSE_PROPERTY_TYPE_NARROWED": True,
    "RESPONSE_ENUM_WIDENED": False,
    "RESPONSE_ENUM_NARROWED": True,
    "RESPONSE_ENUM_CHANGED": False,
}

_ALL_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def esc(name) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")


def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


class _Doc:
    def __init__(self, root):
        self.root = root if isinstance(root, dict) else {}
        v = str(self.root.get("openapi", ""))
        self.v30 = v.startswith("3.0")

    def get(self, ptr: str):
        target = self.root
        for part in ptr[2:].split("/") if ptr.startswith("#/") else []:
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return None
        return target

    def deref(self, obj, ptr: str, hops: int = 0):
        """Follow ``$ref`` chains; returns (object, pointer)."""
        while isinstance(obj, dict) and isinstance(obj.get("$ref"), str) and hops < 32:
            ref = obj["$ref"]
            if not ref.startswith("#"):
                break
            target = self.get(ref)
            if target is None:
                break
            obj, ptr = target, ref
            hops += 1
        return obj, ptr


class _Differ:
    def __init__(self, old, new, deadline):
        self.old = _Doc(old)
        self.new = _Doc(new)
        self.deadline = deadline
        self.out: list[tuple[str, str, str]] = []  # (type, path, context)
        self.seen: set = set()

    def add(self, ftype: str, path: str, context: str = "") -> None:
        self.out.append((ftype, path, context))

    # -- paths and operations -------------------------------------------------------------------
    def run(self):
        old_paths = _dict(self.old.root.get("paths"))
        new_paths = _dict(self.new.root.get("paths"))
        for path, old_item in old_paths.items():
            self.deadline.tick()
            base = "#/paths/" + esc(path)
            if path not in new_paths:
                self.add("PATH_REMOVED", base, path)
                continue
            oi, _ = self.old.deref(old_item, base)
            ni, _ = self.new.deref(new_paths[path], base)
            oi, ni = _dict(oi), _dict(ni)
            for method in METHODS:
                if method not in oi:
                    if method in ni:
                        self.add("OPERATION_ADDED", f"{base}/{method}", f"{method.upper()} {path}")
                    continue
                if method not in ni:
                    self.add("OPERATION_REMOVED", f"{base}/{method}", f"{method.upper()} {path}")
                    continue
                self.operation(path, method, oi, ni, f"{base}/{method}")
        for path in new_paths:
            if path not in old_paths:
                self.add("PATH_ADDED", "#/paths/" + esc(path), path)

    def operation(self, path, method, oi, ni, ptr):
        label = f"{method.upper()} {path}"
        oo, no = _dict(oi.get(method)), _dict(ni.get(method))
        self.parameters(label, oi, oo, ni, no, ptr)
        self.request_body(label, oo, no, ptr)
        self.responses(label, oo, no, ptr)

    def _params(self, doc: _Doc, item, op, ptr):
        out = {}
        for _level, src, base in (("path", item, ptr.rsplit("/", 1)[0]), ("op", op, ptr)):
            params = src.get("parameters")
            if not isinstance(params, list):
                continue
            for i, p in enumerate(params):
                p, pptr = doc.deref(p, f"{base}/parameters/{i}")
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    out[(p.get("in"), p["name"])] = (p, pptr)
        return out

    def parameters(self, label, oi, oo, ni, no, ptr):
        old = self._params(self.old, oi, oo, ptr)
        new = self._params(self.new, ni, no, ptr)
        for key, (op, optr) in old.items():
            where = f"{key[0]} parameter {key[1]!r} of {label}"
            if key not in new:
                self.add("REQUEST_PARAMETER_REMOVED", optr, where)
                continue
            np_, nptr = new[key]
            was, now = bool(op.get("required")), bool(np_.get("required"))
            if now and not was:
                self.add("REQUEST_PARAMETER_REQUIRED", nptr + "/required", where)
            elif was and not now:
                self.add("REQUEST_PARAMETER_OPTIONAL", nptr + "/required", where)
            if "schema" in op and "schema" in np_:
                self.schema(op["schema"], optr + "/schema", np_["schema"], nptr + "/schema", "request",
                            where, param=True)
        for key, (np_, nptr) in new.items():
            if key not in old:
                where = f"{key[0]} parameter {key[1]!r} of {label}"
                self.add("REQUEST_PARAMETER_REQUIRED_ADDED" if np_.get("required") else "REQUEST_PARAMETER_ADDED",
                         nptr, where)

    def request_body(self, label, oo, no, ptr):
        ob, obp = self.old.deref(oo.get("requestBody"), ptr + "/requestBody")
        nb, nbp = self.new.deref(no.get("requestBody"), ptr + "/requestBody")
        where = f"the request body of {label}"
        if not isinstance(ob, dict) and not isinstance(nb, dict):
            return
        if not isinstance(ob, dict):
            self.add("REQUEST_BODY_REQUIRED_ADDED" if nb.get("required") else "REQUEST_BODY_ADDED", nbp, where)
            return
        if not isinstance(nb, dict):
            self.add("REQUEST_BODY_REMOVED", obp, where)
            return
        was, now = bool(ob.get("required")), bool(nb.get("required"))
        if now and not was:
            self.add("REQUEST_BODY_REQUIRED", nbp + "/required", where)
        elif was and not now:
            self.add("REQUEST_BODY_OPTIONAL", nbp + "/required", where)
        self.content(ob, obp, nb, nbp, "request", where)

    def responses(self, label, oo, no, ptr):
        old, new = _dict(oo.get("responses")), _dict(no.get("responses"))
        for status, oresp in old.items():
            rptr = f"{ptr}/responses/{esc(status)}"
            where = f"the {status} response of {label}"
            if status not in new:
                success = str(status).startswith("2")
                self.add("RESPONSE_SUCCESS_STATUS_REMOVED" if success else "RESPONSE_STATUS_REMOVED", rptr, where)
                continue
            o, op_ = self.old.deref(oresp, rptr)
            n, np_ = self.new.deref(new[status], rptr)
            if isinstance(o, dict) and isinstance(n, dict):
                self.content(o, op_, n, np_, "response", where)
        for status in new:
            if status not in old:
                self.add("RESPONSE_STATUS_ADDED", f"{ptr}/responses/{esc(status)}", f"the {status} response of {label}")

    def content(self, o, optr, n, nptr, side, where):
        oc, nc = _dict(o.get("content")), _dict(n.get("content"))
        prefix = "REQUEST" if side == "request" else "RESPONSE"
        for media, omt in oc.items():
            mptr = f"/content/{esc(media)}"
            if media not in nc:
                self.add(prefix + "_MEDIA_TYPE_REMOVED", optr + mptr, f"{media} in {where}")
                continue
            omt, nmt = _dict(omt), _dict(nc[media])
            if "schema" in omt and "schema" in nmt:
                self.schema(omt["schema"], optr + mptr + "/schema", nmt["schema"], nptr + mptr + "/schema",
                            side, where)
        for media in nc:
            if media not in oc:
                self.add(prefix + "_MEDIA_TYPE_ADDED", f"{nptr}/content/{esc(media)}", f"{media} in {where}")

    # -- schemas ----------------------------------------------------------------------------------
    def schema(self, o, optr, n, nptr, side, where, param=False):
        self.deadline.tick()
        o, optr = self.old.deref(o, optr)
        n, nptr = self.new.deref(n, nptr)
        key = (optr, nptr, side)
        if key in self.seen:
            return
        self.seen.add(key)
        if not isinstance(o, dict) or not isinstance(n, dict):
            return
        o, n = self._flatten(self.old, o, optr), self._flatten(self.new, n, nptr)
        prefix = "REQUEST" if side == "request" else "RESPONSE"
        kind = "PARAMETER" if param else "PROPERTY"
        ot, nt = _types(o, self.old.v30), _types(n, self.new.v30)
        if ot != nt:
            widened = _covers(nt, ot)
            narrowed = _covers(ot, nt)
            if side == "request":
                self.add(f"REQUEST_{kind}_TYPE_WIDENED" if widened else f"REQUEST_{kind}_TYPE_CHANGED",
                         nptr + "/type", where)
            else:
                self.add("RESPONSE_PROPERTY_TYPE_NARROWED" if narrowed else "RESPONSE_PROPERTY_TYPE_CHANGED",
                         nptr + "/type", where)
        oe, ne = _enum(o), _enum(n)
        if oe != ne and (oe is not None or ne is not None):
            if oe is None:
                change = "NARROWED"
            elif ne is None:
                change = "WIDENED"
            elif ne >= oe:
                change = "WIDENED"
            elif oe >= ne:
                change = "NARROWED"
            else:
                change = "CHANGED"
            self.add(f"{prefix}_ENUM_{change}", nptr + ("/enum" if "enum" in n else ""), where)
        # object properties
        op, np_ = o.get("_props", {}), n.get("_props", {})
        oreq, nreq = o.get("_required", set()), n.get("_required", set())
        for name, (osch, osptr) in op.items():
            if name not in np_:
                self.add(f"{prefix}_PROPERTY_REMOVED", osptr, where)
                continue
            nsch, nsptr = np_[name]
            if side == "request":
                if name in nreq and name not in oreq:
                    self.add("REQUEST_PROPERTY_REQUIRED", nptr + "/required", f"property {name!r} in {where}")
                elif name in oreq and name not in nreq:
                    self.add("REQUEST_PROPERTY_OPTIONAL", nptr + "/required", f"property {name!r} in {where}")
            else:
                if name in oreq and name not in nreq:
                    self.add("RESPONSE_PROPERTY_OPTIONAL", nptr + "/required", f"property {name!r} in {where}")
                elif name in nreq and name not in oreq:
                    self.add("RESPONSE_PROPERTY_REQUIRED", nptr + "/required", f"property {name!r} in {where}")
            self.schema(osch, osptr, nsch, nsptr, side, where)
        for name, (_nsch, nsptr) in np_.items():
            if name not in op:
                if side == "request" and name in nreq:
                    self.add("REQUEST_PROPERTY_REQUIRED_ADDED", nsptr, where)
                else:
                    self.add(f"{prefix}_PROPERTY_ADDED", nsptr, where)
        # arrays
        if isinstance(o.get("items"), dict) and isinstance(n.get("items"), dict):
            self.schema(o["items"], o["_items_ptr"], n["items"], n["_items_ptr"], side, where, param=param)

    def _flatten(self, doc: _Doc, s: dict, ptr: str) -> dict:
        """Merge ``allOf`` members' properties/required/type into one view of the schema."""
        props: dict = {}
        required: set = set()
        view = dict(s)
        view["_items_ptr"] = ptr + "/items"
        stack = [(s, ptr, True)]
        while stack:
            cur, cptr, first = stack.pop()
            if not first:
                cur, cptr = doc.deref(cur, cptr)
            if not isinstance(cur, dict):
                continue
            for name, sub in _dict(cur.get("properties")).items():
                props.setdefault(name, (sub, f"{cptr}/properties/{esc(name)}"))
            if isinstance(cur.get("required"), list):
                required.update(x for x in cur["required"] if isinstance(x, str))
            if not first:
                for kw in ("type", "enum", "nullable"):
                    if kw in cur and kw not in view:
                        view[kw] = cur[kw]
                if "items" in cur and "items" not in view:
                    view["items"] = cur["items"]
                    view["_items_ptr"] = cptr + "/items"
            members = cur.get("allOf") if isinstance(cur.get("allOf"), list) else []
            for i, sub in enumerate(members):
                stack.append((sub, f"{cptr}/allOf/{i}", False))
        view["_props"] = props
        view["_required"] = required
        return view


def _dict(v):
    return v if isinstance(v, dict) else {}


def _types(s: dict, v30: bool):
    t = s.get("type")
    if t is None:
        return None  # any type
    types = {t} if isinstance(t, str) else {x for x in t if isinstance(x, str)} if isinstance(t, list) else set()
    if s.get("nullable") is True:
        types.add("null")
    return frozenset(types)


def _covers(wide, narrow) -> bool:
    """Does type set ``wide`` accept everything ``narrow`` does? (None = any type)."""
    if wide is None:
        return True
    if narrow is None:
        return False
    for t in narrow:
        if t in wide or (t == "integer" and "number" in wide):
            continue
        return False
    return True


def _enum(s: dict):
    if isinstance(s.get("enum"), list):
        return frozenset(_canon(v) for v in s["enum"])
    if "const" in s:
        return frozenset({_canon(s["const"])})
    return None


def compare(writer, reader, *, policy: str, deadline) -> list[tuple[str, str, bool, str]]:
    """Breaking-change findings for clients of ``writer`` served by ``reader``.

    ``policy`` does not change OpenAPI verdicts (it is about JSON Schema content models).
    """
    differ = _Differ(writer, reader, deadline)
    differ.run()
    out = []
    for ftype, path, context in differ.out:
        ok = OPENAPI_TYPES[ftype]
        msg = message_for(ftype, path, ok)
        if context:
            msg = msg[:-1] + f" ({context})."
        out.append((ftype, path, ok, msg))
    return out
