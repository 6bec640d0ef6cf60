"""JSON Schema diff with Confluent Schema Registry's semantics.

``compare(writer, reader)`` answers "can ``reader`` accept every document valid under ``writer``?"
as a list of change findings named after Confluent's ``Difference.Type`` values.

How it works
------------
* Each document is parsed lazily into :class:`Node` objects, one per (JSON pointer, view). A
  schema that mixes kinds (``{"type": "string", "enum": [...]}``) becomes a *synthetic* ``allOf``
  of its parts, the way Confluent's schema library models it; ``"type": [a, b]`` becomes an
  ``anyOf``; ``const`` is a one-element ``enum``; ``"type": ["x"]`` is ``"type": "x"``.
* ``$ref`` is resolved to the target node; nodes are cached per pointer so a recursive schema
  yields a finite graph.
* ``_Differ.pair`` memoises the result of every (writer node, reader node) pair. A pair met again
  while it is still being compared is a recursion cycle and counts as compatible (as in
  Confluent). A result that relied on such an assumption is memoised with it, and is computed
  again when the assumed pair has since turned out incompatible (Confluent's fixpoint fix: a
  result computed under "assume equal while recursing" is not reused once that fails).
  Results are trees (:class:`Result`) that reference sub-results instead of copying
  them, so the work is linear in the size of the schemas (recomputing after a failed
  assumption aside) and paths are only built at the end.
* The deadline is polled on every pair; hitting it raises ``CheckTimedOut``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring_ascii as _encode_string
from urllib.parse import unquote

from .rules import compatible_types

_META = {"$schema", "$id", "id", "title", "description", "default", "$comment", "examples",
         "definitions", "$defs", "readOnly", "writeOnly", "deprecated", "$anchor", "$vocabulary"}
_STRING_KW = ("minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType")
_NUMBER_KW = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_OBJECT_KW = ("properties", "required", "additionalProperties", "patternProperties", "dependencies",
              "dependentRequired", "dependentSchemas", "minProperties", "maxProperties",
              "propertyNames", "unevaluatedProperties")
_ARRAY_KW = ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
             "contains", "minContains", "maxContains", "unevaluatedItems")
_INFER = (("object", _OBJECT_KW), ("array", _ARRAY_KW), ("string", _STRING_KW), ("number", _NUMBER_KW))
_TYPES = ("string", "number", "integer", "object", "array", "boolean", "null")
_COMBINERS = ("allOf", "anyOf", "oneOf")
_MISSING = object()
_VALUE_KEYWORDS = frozenset(("enum", "const", "default", "examples"))
_REF_RE = re.compile(r'"\$ref":\s*"((?:[^"\\]|\\.)*)"')

# Kinds that behave like the empty schema ("accepts everything").
_EMPTY_KINDS = ("empty", "true")
WIDE = 8  # objects with at least this many properties skip unchanged ones by equality


def canon(value) -> str:
    """A canonical string for JSON equality (1 and 1.0 equal, True and 1 not)."""
    # The scalars an enum is mostly made of, as json.dumps writes them, without building an
    # encoder per call (dumps does when given options): the first check of a subject canons
    # every enum value of every approved version.
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _small(raw, limit: int) -> bool:
    """Does the JSON value have at most ``limit`` containers and scalars?"""
    stack, seen = [raw], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


def esc(name: str) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")


def _num(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _int(value):
    v = _num(value)
    return None if v is None else v


class Node:
    """One schema (or one part of a schema) in a parsed document."""

    __slots__ = ("doc", "ptr", "raw", "kind", "view", "meta", "parts", "criterion", "synthetic",
                 "integer", "_canon", "ref", "__weakref__")

    def __init__(self, doc, ptr, raw, kind, view, meta):
        self.doc = doc
        self.ptr = ptr
        self.raw = raw
        self.kind = kind
        self.view = view
        self.meta = meta  # (id, title, description, default-canon or _MISSING) or None
        self.parts = None  # combined: list of Node (built lazily for real combinators)
        self.criterion = None
        self.synthetic = False
        self.integer = False
        self._canon = None
        self.ref = None

    @property
    def canon(self):
        """Equality key for de-duplicating subschemas: canonical JSON for small schemas; for
        big ones (where serialising would cost more than it could save) the node's identity."""
        if self._canon is None:
            if _small(self.raw, 400):
                self._canon = self.view + ":" + canon(self.raw)
            else:
                self._canon = ("id", id(self))
        return self._canon

    @property
    def has_default(self) -> bool:
        return isinstance(self.raw, dict) and "default" in self.raw


class Doc:
    """A parsed schema document: lazily built nodes, cached per (pointer, view)."""

    def __init__(self, root):
        self.root = root
        self.nodes: dict[tuple[int, str], Node] = {}
        self._anchors = None
        self._enums: dict[int, tuple] = {}
        self._refs = None
        self._content_ids = None  # (the _ContentIds that named it, its ids or None)
        uri = root.get("$schema") if isinstance(root, dict) else None
        # draft-07 and older: siblings of $ref are ignored. No $schema reads as draft-07 (Confluent).
        self.legacy = uri is None or bool(isinstance(uri, str) and re.search(r"draft-0[3-7]", uri))
        root_id = root.get("$id", root.get("id")) if isinstance(root, dict) else None
        self.base = root_id.split("#")[0] if isinstance(root_id, str) else ""

    def enum_values(self, raw):
        """``_enum_values(raw)`` computed once per value (a cached Doc is compared again and
        again); the entry keeps ``raw`` so a reused id cannot hit."""
        hit = self._enums.get(id(raw))
        if hit is None or hit[0] is not raw:
            hit = self._enums[id(raw)] = (raw, _enum_values(raw))
        return hit[1]

    # -- construction -------------------------------------------------------------------------
    def node(self, raw, view: str = "full") -> Node:
        # Keyed by the identity of the JSON value: the document holds every value alive, and a
        # $ref target reached by resolution is the very value a walk would reach.
        key = (id(raw), view)
        found = self.nodes.get(key)
        if found is None:
            found = self._build(raw, "", view)
            self.nodes[key] = found
        return found

    def _build(self, raw, ptr, view) -> Node:
        if view == "full":
            if raw is True:
                return Node(self, ptr, raw, "true", view, None)
            if raw is False:
                return Node(self, ptr, raw, "false", view, None)
            if not isinstance(raw, dict):
                return Node(self, ptr, raw, "empty", view, None)
            meta = self._meta(raw)
            views = self._views(raw)
            if not views:
                return Node(self, ptr, raw, "empty", view, meta)
            if len(views) == 1:
                n = self._build(raw, ptr, views[0])
                n.view = "full"
                n.meta = meta
                return n
            n = Node(self, ptr, raw, "combined", view, meta)
            n.criterion = "allOf"
            n.synthetic = True
            n.parts = [self.node(raw, v) for v in views]
            return n
        if view == "ref":
            n = Node(self, ptr, raw, "ref", view, None)
            n.ref = raw["$ref"]
            return n
        if view == "types":
            n = Node(self, ptr, raw, "combined", view, None)
            n.criterion = "anyOf"
            n.synthetic = True
            n.parts = [self.node(raw, "type:" + t) for t in self._type_list(raw)]
            return n
        if view.startswith("type:"):
            t = view[5:]
            kind = "number" if t == "integer" else t
            n = Node(self, ptr, raw, kind, view, None)
            n.integer = t == "integer"
            return n
        if view == "inferred":
            n = Node(self, ptr, raw, "combined", view, None)
            n.criterion = "allOf"
            n.synthetic = True
            n.parts = [self.node(raw, "type:" + t) for t in self._inferred(raw)]
            return n
        if view == "enum":
            return Node(self, ptr, raw, "enum", view, None)
        if view == "not":
            return Node(self, ptr, raw, "not", view, None)
        if view in _COMBINERS:
            n = Node(self, ptr, raw, "combined", view, None)
            n.criterion = view
            subs = raw.get(view) if isinstance(raw.get(view), list) else []
            n.parts = [self.node(s) for s in subs]
            return n
        if view == "cond":
            return Node(self, ptr, raw, "conditional", view, None)
        raise AssertionError(view)  # pragma: no cover

    @staticmethod
    def _meta(raw):
        ident = raw.get("$id", raw.get("id"))
        return (
            ident if isinstance(ident, str) else None,
            raw.get("title"),
            raw.get("description"),
            canon(raw["default"]) if "default" in raw else _MISSING,
        )

    @staticmethod
    def _type_list(raw):
        t = raw.get("type")
        if isinstance(t, str):
            t = [t]
        if not isinstance(t, list):
            return []
        seen = []
        for item in t:
            if isinstance(item, str) and item in _TYPES and item not in seen:
                seen.append(item)
        # "integer" alongside "number" adds nothing
        if "integer" in seen and "number" in seen:
            seen.remove("integer")
        return seen

    @staticmethod
    def _inferred(raw):
        return [name for name, kws in _INFER if any(k in raw for k in kws)]

    def _views(self, raw):
        views = []
        if isinstance(raw.get("$ref"), str):
            views.append("ref")
            if self.legacy:
                return views
        types = self._type_list(raw)
        if len(types) == 1:
            views.append("type:" + types[0])
        elif len(types) > 1:
            views.append("types")
        elif "type" not in raw:
            inferred = self._inferred(raw)
            if len(inferred) == 1:
                views.append("type:" + inferred[0])
            elif inferred:
                views.append("inferred")
        if "enum" in raw or "const" in raw:
            views.append("enum")
        if "not" in raw:
            views.append("not")
        for c in _COMBINERS:
            if isinstance(raw.get(c), list):
                views.append(c)
        if any(k in raw for k in ("if", "then", "else")):
            views.append("cond")
        return views

    # -- references ---------------------------------------------------------------------------
    def resolve(self, node: Node):
        """The target node of a ``ref`` node, or None when it cannot be resolved."""
        target = self.resolve_ref(node.ref)
        return None if target is _MISSING else self.node(target)

    def resolve_ref(self, ref: str):
        """The JSON value a ``$ref`` string points at, or ``_MISSING``."""
        if self.base and ref.startswith(self.base):
            ref = ref[len(self.base):]
        if ref == "" or ref == "#":
            return self.root
        if ref.startswith("#/"):
            target = self.root
            for part in ref[2:].split("/"):
                part = unquote(part).replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    return _MISSING
            return target
        anchors = self._anchor_map()
        hit = anchors.get(ref) or anchors.get(ref.lstrip("#"))
        return _MISSING if hit is None else hit[0]

    def refs(self) -> set[str]:
        """Every ``$ref`` string in the document (found in its serialisation: C speed; a "$ref"
        key inside an enum value may be picked up too, which only makes callers more careful).
        Computed once: a cached Doc is compared again and again."""
        if self._refs is None:
            text = json.dumps(self.root, default=str)
            self._refs = frozenset(json.loads(f'"{m}"') for m in _REF_RE.findall(text))
        return self._refs

    def _anchor_map(self):
        if self._anchors is None:
            anchors = {}
            stack = [(self.root, "#")]
            while stack:
                raw, ptr = stack.pop()
                if isinstance(raw, dict):
                    ident = raw.get("$id", raw.get("id"))
                    if isinstance(ident, str) and ptr != "#":
                        anchors.setdefault(ident, (raw, ptr))
                        if self.base and ident.startswith(self.base):
                            anchors.setdefault(ident[len(self.base):], (raw, ptr))
                    anchor = raw.get("$anchor")
                    if isinstance(anchor, str):
                        anchors.setdefault("#" + anchor, (raw, ptr))
                    for k, v in raw.items():
                        if k not in ("enum", "const", "default", "examples") and isinstance(v, (dict, list)):
                            stack.append((v, f"{ptr}/{esc(k)}"))
                elif isinstance(raw, list):
                    for i, v in enumerate(raw):
                        if isinstance(v, (dict, list)):
                            stack.append((v, f"{ptr}/{i}"))
            self._anchors = anchors
        return self._anchors


def _equal_means_same(wdoc: Doc, rdoc: Doc) -> bool:
    """May two equal JSON subschemas of these documents be taken as equal without a diff?

    Yes when the documents are read the same way (dialect, base URI) and every ``$ref`` of either
    resolves to equal values in both, so an equal subtree also refers to equal things.
    """
    if wdoc.legacy != rdoc.legacy or wdoc.base != rdoc.base:
        return False
    for ref in wdoc.refs() | rdoc.refs():
        a, b = wdoc.resolve_ref(ref), rdoc.resolve_ref(ref)
        if a is _MISSING or b is _MISSING:
            if a is not b:
                return False
        elif a != b:
            return False
    return True


class Result:
    """Findings of one pair, as a tree: own findings plus (path segment, sub-result) links."""

    __slots__ = ("ok", "items")

    def __init__(self):
        self.ok = True
        self.items = []  # (type, seg, None) | (None, seg, Result)


_EMPTY_RESULT = Result()


def _scalar_key(v):
    # Exact: True is not 1, 1.0 is not 1, -0.0 is not 0.0.
    return (float, repr(v)) if type(v) is float else (type(v), v)


class _ContentIds:
    """Names JSON values by content, by hash-consing: each container gets an integer id from
    the tuple of its keys and its children's ids, so equal values get equal ids in linear
    time. One table per process, so an approved document (cached in ``_DOCS``) is named once,
    not at every check; a check starting when it has grown too big starts a new one (a
    document named by an older table is named again). ``next`` on a counter keeps ids unique
    across web threads."""

    MAX = 200_000
    MAX_RESULTS = 50_000

    @classmethod
    def current(cls) -> _ContentIds:
        """The table a new check names its documents with (one table for the whole check:
        ids of two tables are not comparable)."""
        global _CONTENT_IDS
        if len(_CONTENT_IDS.table) > cls.MAX:
            _CONTENT_IDS = cls()
        elif len(_CONTENT_IDS.results) > cls.MAX_RESULTS:
            _CONTENT_IDS.results.clear()
        return _CONTENT_IDS

    def __init__(self):
        self.table: dict[tuple, int] = {}
        self.counter = itertools.count()
        self.results: dict[tuple, Result] = {}  # pair results of the checks (``Shared``)

    def of_doc(self, doc: Doc):
        """{id(container): content id} for the document, or None when it does not qualify
        (see :class:`Shared`)."""
        hit = doc._content_ids
        if hit is not None and hit[0] is self:
            return hit[1]
        ids = None
        if not doc.refs():
            ids = {}
            try:
                if self._walk(doc.root, ids) is None:
                    ids = None
            except RecursionError:
                ids = None
        doc._content_ids = (self, ids)
        return ids

    def _walk(self, raw, ids):
        """The content id of ``raw``, filling ``ids``; None when a value appears twice."""
        if isinstance(raw, dict):
            items = []
            for k, v in raw.items():
                c = self._walk(v, ids)
                if c is None:
                    return None
                items.append((k, c))
            key = ("d", tuple(items))
        elif isinstance(raw, list):
            items = []
            for v in raw:
                c = self._walk(v, ids)
                if c is None:
                    return None
                items.append(c)
            key = ("l", tuple(items))
        else:
            return _scalar_key(raw)
        if id(raw) in ids:
            return None
        cid = self.table.get(key)
        if cid is None:
            cid = self.table.setdefault(key, next(self.counter))
        ids[id(raw)] = cid
        return cid


_CONTENT_IDS = _ContentIds()


class Shared:
    """Pair results shared by the comparisons of one check (``engine.check`` makes one), and
    by the checks after it in the process.

    A transitive check compares the new document with every approved version, and most of
    their subschemas are the same from one version to the next: a pair of subschemas with
    the same content is compared once, not once per version. A result is a function of the
    two subschemas' content only when nothing in the comparison goes by identity: neither
    document has a ``$ref`` (resolution, cycle assumptions), no JSON value appears twice in
    either (node identity, de-duplication of big parts) and the two share no value (the
    ``is`` shortcut). Documents that do not qualify are compared as before, unshared.

    Being a function of content, a result holds for the next check as well: the next
    registration of a subject mostly changes a property or two, so the pairs of its other
    subschemas with the approved versions' are not compared again. The results live with the
    content-id table that names their keys (ids of two tables are not comparable), at most
    ``_ContentIds.MAX_RESULTS`` of them."""

    def __init__(self):
        self.names = _ContentIds.current()
        self.results: dict[tuple, Result] = self.names.results

    def content_ids(self, doc: Doc):
        return self.names.of_doc(doc)


class _Differ:
    def __init__(self, policy, deadline, writer_doc, reader_doc, shared: Shared | None = None):
        self.compat = compatible_types(policy)
        self.deadline = deadline
        # (writer, reader) -> (result, the in-progress pairs it assumed compatible)
        self.memo: dict[tuple[int, int], tuple[Result, frozenset]] = {}
        self.in_progress: set[tuple[int, int]] = set()
        self.stack: list[tuple[int, int]] = []  # pairs being compared, outermost first
        self.leans: list[set] = []  # per stack frame: assumptions its result relies on
        self.failed: set[tuple[int, int]] = set()  # pairs whose result is incompatible
        self.wdoc = writer_doc
        self.rdoc = reader_doc
        self.shortcut = _equal_means_same(writer_doc, reader_doc)
        self.policy = policy
        self.shared = self.cids = None
        if shared is not None:
            wids, rids = shared.content_ids(writer_doc), shared.content_ids(reader_doc)
            if wids is not None and rids is not None and wids.keys().isdisjoint(rids.keys()):
                self.shared, self.cids = shared.results, {**wids, **rids}

    # -- result helpers -----------------------------------------------------------------------
    def add(self, res: Result, ftype: str, seg: str = "") -> None:
        res.items.append((ftype, seg, None))
        if ftype not in self.compat:
            res.ok = False

    @staticmethod
    def merge(res: Result, seg: str, sub: Result) -> None:
        if sub.items:
            res.items.append((None, seg, sub))
            if not sub.ok:
                res.ok = False

    # -- entry points -------------------------------------------------------------------------
    def optional(self, res: Result, seg: str, o: Node | None, u: Node | None) -> None:
        """Compare two schemas that may be absent (absent = no constraint)."""
        if o is None and u is None:
            return
        if o is None:
            self.add(res, "SCHEMA_ADDED", seg)
        elif u is None:
            self.add(res, "SCHEMA_REMOVED", seg)
        else:
            self.merge(res, seg, self.pair(o, u))

    def pair(self, o: Node, u: Node) -> Result:
        self.deadline.tick()
        if self.shortcut and o.raw is u.raw and o.view == u.view:
            return _EMPTY_RESULT  # the very same subschema (and every $ref resolves alike)
        o = self.deref(o)
        u = self.deref(u)
        key = (id(o), id(u))
        cached = self.memo.get(key)
        if cached is not None:
            res, assumed = cached
            if not (assumed & self.failed):
                self._lean_on(assumed)
                return res
            # it leaned on a pair assumed compatible that has since failed: compute it again
        if key in self.in_progress:
            self._lean_on((key,))
            return _EMPTY_RESULT  # recursion cycle: assume compatible for now
        skey = self._shared_key(o, u) if self.shared is not None else None
        if skey is not None:
            res = self.shared.get(skey)
            if res is not None:
                self.memo[key] = (res, frozenset())
                if not res.ok:
                    self.failed.add(key)
                return res
        self.in_progress.add(key)
        self.stack.append(key)
        self.leans.append(set())
        try:
            res = self._pair_structural(o, u)
            if not res.ok:
                res = self._fallback(o, u, res)
        finally:
            self.in_progress.discard(key)
            self.stack.pop()
            assumed = self.leans.pop()
        assumed.discard(key)
        if not res.ok:
            self.failed.add(key)
        self.memo[key] = (res, frozenset(assumed))
        if skey is not None and not assumed:
            self.shared[skey] = res
        self._lean_on(assumed)
        return res

    def _shared_key(self, o: Node, u: Node):
        """What the pair's result depends on, when it may be shared (see :class:`Shared`)."""
        oc = self.cids.get(id(o.raw)) if isinstance(o.raw, (dict, list)) else _scalar_key(o.raw)
        uc = self.cids.get(id(u.raw)) if isinstance(u.raw, (dict, list)) else _scalar_key(u.raw)
        if oc is None or uc is None:
            return None
        return (self.policy, oc, o.view, o.kind, o.doc.legacy, uc, u.view, u.kind, u.doc.legacy)

    def _lean_on(self, keys) -> None:
        """The frames now on the stack rely on ``keys`` (pairs in progress) being compatible.
        A frame leans on an assumption about an ancestor only; the ancestor's own frame drops it."""
        if not keys:
            return
        for k in keys:
            if k not in self.in_progress:
                continue
            below = False
            for frame, lean in zip(self.stack, self.leans, strict=True):
                if below:
                    lean.add(k)
                elif frame == k:
                    below = True

    def deref(self, n: Node) -> Node:
        hops = 0
        while n.kind == "ref":
            target = n.doc.resolve(n)
            if target is None or hops > 64:
                return n  # compared as an opaque reference
            n = target
            hops += 1
        return n

    # -- the main comparison --------------------------------------------------------------------
    def _fallback(self, o: Node, u: Node, res: Result) -> Result:
        # Sound fallbacks the structural diff misses: data valid under allOf(A, B, ...) is valid
        # under A alone, so a writer allOf is read by R when one member is; and a reader
        # anyOf(R1, R2, ...) reads W when one member does.
        if o.kind == "combined" and o.criterion == "allOf":
            for part in o.parts:
                sub = self.pair(part, u)
                if sub.ok:
                    alt = Result()
                    self._meta(alt, o, u)
                    self.add(alt, "PRODUCT_TYPE_NARROWED")
                    self.merge(alt, "", sub)
                    return alt
        if u.kind == "combined" and u.criterion == "anyOf" and o.kind == "combined":
            for part in u.parts:
                sub = self.pair(o, part)
                if sub.ok:
                    alt = Result()
                    self._meta(alt, o, u)
                    self.add(alt, "SUM_TYPE_EXTENDED")
                    self.merge(alt, "", sub)
                    return alt
        return res

    def _pair_structural(self, o: Node, u: Node) -> Result:
        res = Result()
        ok_kind, uk_kind = o.kind, u.kind

        # A synthetic allOf (several keywords of different kinds) against a plain schema:
        # compare as product types, the plain side being a one-part product.
        if ok_kind == "combined" and o.synthetic and o.criterion == "allOf" and uk_kind != "combined":
            if len(o.parts) != 1:
                self._meta(res, o, u)
                self._combined(res, o, u, u_parts=[u], u_criterion="allOf")
                return res
        if uk_kind == "combined" and u.synthetic and u.criterion == "allOf" and ok_kind != "combined":
            if uk_kind != ok_kind and u.parts and ok_kind not in ("false",):
                self._meta(res, o, u)
                self._combined(res, o, u, o_parts=[o], o_criterion="allOf")
                return res

        if ok_kind != "combined" and uk_kind == "combined":
            parts = u.parts
            if len(parts) == 1:
                sub = self.pair(o, parts[0])
                if sub.ok:
                    self._meta(res, o, u)
                    self.merge(res, "", sub)
                    return res
            elif u.criterion in ("anyOf", "oneOf"):
                for part in parts:
                    sub = self.pair(o, part)
                    if sub.ok:
                        self._meta(res, o, u)
                        self.merge(res, "", sub)
                        self.add(res, "SUM_TYPE_EXTENDED")
                        return res
        elif ok_kind == "combined" and uk_kind != "combined":
            if len(o.parts) == 1:
                sub = self.pair(o.parts[0], u)
                if sub.ok:
                    self._meta(res, o, u)
                    self.merge(res, "", sub)
                    return res

        if ok_kind != uk_kind:
            if ok_kind == "false" or uk_kind in _EMPTY_KINDS:
                return res
            if ok_kind in _EMPTY_KINDS and uk_kind in _EMPTY_KINDS:
                return res
            self.add(res, "TYPE_CHANGED")
            return res

        self._meta(res, o, u)
        handler = getattr(self, "_k_" + ok_kind, None)
        if handler is not None:
            handler(res, o, u)
        return res

    def _meta(self, res, o, u):
        om = o.meta or (None, None, None, _MISSING)
        um = u.meta or (None, None, None, _MISSING)
        if om == um:
            return
        if om[0] != um[0]:
            self.add(res, "ID_CHANGED", "/$id")
        if om[1] != um[1]:
            self.add(res, "TITLE_CHANGED", "/title")
        if om[2] != um[2]:
            self.add(res, "DESCRIPTION_CHANGED", "/description")
        if om[3] != um[3]:
            self.add(res, "DEFAULT_CHANGED", "/default")

    # -- kinds --------------------------------------------------------------------------------
    def _k_ref(self, res, o, u):
        if o.ref != u.ref:
            self.add(res, "REFERENCE_UNRESOLVED", "/$ref")

    def _bounded(self, res, name, ov, uv, added, removed, increased, decreased):
        if ov is None and uv is None:
            return
        if ov is not None and uv is not None and ov == uv:
            return
        if ov is None:
            self.add(res, added, "/" + name)
        elif uv is None:
            self.add(res, removed, "/" + name)
        elif ov < uv:
            self.add(res, increased, "/" + name)
        elif ov > uv:
            self.add(res, decreased, "/" + name)

    def _keyword(self, res, name, ov, uv, prefix):
        if ov == uv:
            return
        if ov is None:
            self.add(res, prefix + "_ADDED", "/" + name)
        elif uv is None:
            self.add(res, prefix + "_REMOVED", "/" + name)
        else:
            self.add(res, prefix + "_CHANGED", "/" + name)

    def _k_string(self, res, o, u):
        r1, r2 = o.raw, u.raw
        self._bounded(res, "maxLength", _int(r1.get("maxLength")), _int(r2.get("maxLength")),
                      "MAX_LENGTH_ADDED", "MAX_LENGTH_REMOVED", "MAX_LENGTH_INCREASED", "MAX_LENGTH_DECREASED")
        self._bounded(res, "minLength", _int(r1.get("minLength")), _int(r2.get("minLength")),
                      "MIN_LENGTH_ADDED", "MIN_LENGTH_REMOVED", "MIN_LENGTH_INCREASED", "MIN_LENGTH_DECREASED")
        self._keyword(res, "pattern", _str(r1.get("pattern")), _str(r2.get("pattern")), "PATTERN")
        self._keyword(res, "format", _str(r1.get("format")), _str(r2.get("format")), "FORMAT")
        self._keyword(res, "contentEncoding", _str(r1.get("contentEncoding")),
                      _str(r2.get("contentEncoding")), "CONTENT_ENCODING")
        self._keyword(res, "contentMediaType", _str(r1.get("contentMediaType")),
                      _str(r2.get("contentMediaType")), "CONTENT_MEDIA_TYPE")

    def _k_number(self, res, o, u):
        for side in ("lower", "upper"):
            self._number_bound(res, side, _bounds(o.raw, side), _bounds(u.raw, side))
        om, um = _decimal(o.raw.get("multipleOf")), _decimal(u.raw.get("multipleOf"))
        if om != um:
            if om is None:
                self.add(res, "MULTIPLE_OF_ADDED", "/multipleOf")
            elif um is None:
                self.add(res, "MULTIPLE_OF_REMOVED", "/multipleOf")
            elif um % om == 0:
                self.add(res, "MULTIPLE_OF_EXPANDED", "/multipleOf")
            elif om % um == 0:
                self.add(res, "MULTIPLE_OF_REDUCED", "/multipleOf")
            else:
                self.add(res, "MULTIPLE_OF_CHANGED", "/multipleOf")
        if o.integer != u.integer:
            self.add(res, "TYPE_EXTENDED" if o.integer else "TYPE_NARROWED", "/type")

    def _number_bound(self, res, side, ob, ub):
        """ob/ub: (inclusive value or None, exclusive value or None)."""
        if ob == ub:
            return
        inc_kw, exc_kw = ("minimum", "exclusiveMinimum") if side == "lower" else ("maximum", "exclusiveMaximum")
        inc_t, exc_t = ("MINIMUM", "EXCLUSIVE_MINIMUM") if side == "lower" else ("MAXIMUM", "EXCLUSIVE_MAXIMUM")
        same_shape = (ob[0] is None) == (ub[0] is None) and (ob[1] is None) == (ub[1] is None)
        if same_shape or (ob == (None, None)) or (ub == (None, None)):
            self._bounded(res, inc_kw, ob[0], ub[0], inc_t + "_ADDED", inc_t + "_REMOVED",
                          inc_t + "_INCREASED", inc_t + "_DECREASED")
            self._bounded(res, exc_kw, ob[1], ub[1], exc_t + "_ADDED", exc_t + "_REMOVED",
                          exc_t + "_INCREASED", exc_t + "_DECREASED")
            return
        # The bound moved between the inclusive and the exclusive keyword: compare the
        # effective bounds rather than the keywords (exclusiveMinimum 10 -> minimum 10 widens).
        oe, ue = _effective(ob, side), _effective(ub, side)
        if oe == ue:
            return
        kw = inc_kw if ub[0] is not None else exc_kw
        t = inc_t if ub[0] is not None else exc_t
        wider = _wider(oe, ue, side)
        if side == "lower":
            self.add(res, t + ("_DECREASED" if wider else "_INCREASED"), "/" + kw)
        else:
            self.add(res, t + ("_INCREASED" if wider else "_DECREASED"), "/" + kw)

    def _k_enum(self, res, o, u):
        ov, uv = o.doc.enum_values(o.raw), u.doc.enum_values(u.raw)
        if ov == uv:
            return
        seg = "/enum" if "enum" in u.raw else "/const"
        if uv >= ov:
            self.add(res, "ENUM_ARRAY_EXTENDED", seg)
        elif ov >= uv:
            self.add(res, "ENUM_ARRAY_NARROWED", seg)
        else:
            self.add(res, "ENUM_ARRAY_CHANGED", seg)

    def _k_not(self, res, o, u):
        on = o.doc.node(o.raw["not"])
        un = u.doc.node(u.raw["not"])
        sub = self.pair(un, on)  # reversed roles
        if sub.items:
            self.add(res, "NOT_TYPE_NARROWED" if sub.ok else "NOT_TYPE_EXTENDED", "/not")

    def _k_conditional(self, res, o, u):
        r1, r2 = o.raw, u.raw
        if canon(r1.get("if", _MISSING_JSON)) != canon(r2.get("if", _MISSING_JSON)):
            if "if" not in r1:
                self.add(res, "CONDITIONAL_ADDED", "/if")
            elif "if" not in r2:
                self.add(res, "CONDITIONAL_REMOVED", "/if")
            else:
                self.add(res, "CONDITION_CHANGED", "/if")
            return
        for kw in ("then", "else"):
            self.optional(res, "/" + kw, _child(o, kw), _child(u, kw))

    def _k_combined(self, res, o, u):
        self._combined(res, o, u)

    def _combined(self, res, o, u, o_parts=None, u_parts=None, o_criterion=None, u_criterion=None):
        oc = o_criterion or o.criterion
        uc = u_criterion or u.criterion
        self.deadline.check_now()
        o_parts = _dedup(o_parts if o_parts is not None else o.parts)
        u_parts = _dedup(u_parts if u_parts is not None else u.parts)
        if oc != uc:
            if uc == "anyOf":
                ctype = "COMBINED_TYPE_EXTENDED"
            elif uc == "oneOf" and len(o_parts) == 1:
                ctype = "COMBINED_TYPE_EXTENDED"
            elif uc == "allOf" and len(o_parts) == 1 and len(u_parts) == 1:
                ctype = "COMBINED_TYPE_EXTENDED"
            else:
                ctype = "COMBINED_TYPE_CHANGED"
            self.add(res, ctype)
            if ctype == "COMBINED_TYPE_CHANGED":
                return
        no, nu = len(o_parts), len(u_parts)
        if no < nu:
            self.add(res, "PRODUCT_TYPE_EXTENDED" if uc == "allOf" else "SUM_TYPE_EXTENDED")
        elif no > nu:
            self.add(res, "PRODUCT_TYPE_NARROWED" if uc == "allOf" else "SUM_TYPE_NARROWED")
        edges: dict[int, dict[int, Result]] = {}
        for i, op in enumerate(o_parts):
            row = {}
            for j, up in enumerate(u_parts):
                sub = self.pair(op, up)
                if sub.ok:
                    row[j] = sub
            edges[i] = row
        matching = _max_matching(edges, no)
        for i, j in sorted(matching.items()):
            seg = "" if (o.synthetic or o_criterion) else f"/{oc}/{i}"
            self.merge(res, seg, edges[i][j])
        if len(matching) < min(no, nu):
            # Show why: pair each unmatched writer part with an unmatched reader part of the same
            # kind and report that pair's findings.
            free = [j for j in range(nu) if j not in matching.values()]
            why, explained = [], True
            for i in range(no):
                if i in matching:
                    continue
                op = self.deref(o_parts[i])
                for j in free:
                    if self.deref(u_parts[j]).kind == op.kind:
                        free.remove(j)
                        seg = "" if (o.synthetic or o_criterion) else f"/{oc}/{i}"
                        sub = self.pair(o_parts[i], u_parts[j])
                        why.append((seg, sub))
                        explained = explained and not sub.ok
                        break
                else:
                    explained = False
            # Both sides synthetic ({"type": "string", "enum": [...]}: no combinator was written):
            # when the failing part pairs say what changed, a combinator finding would be a
            # second, spurious finding for the same change (an enum narrowed in place).
            in_place = (o.synthetic or o_criterion) and (u.synthetic or u_criterion) and no == nu
            if not (in_place and explained and why):
                self.add(res, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", "" if (o.synthetic or o_criterion) else "/" + oc)
            for seg, sub in why:
                self.merge(res, seg, sub)

    # -- objects --------------------------------------------------------------------------------
    def _k_object(self, res, o, u):
        r1, r2 = o.raw, u.raw
        op, up = _dict(r1.get("properties")), _dict(r2.get("properties"))
        oreq, ureq = _req(r1), _req(r2)
        for name in op:
            if name in up:
                was, now = name in oreq, name in ureq
                if was and not now:
                    self.add(res, "REQUIRED_ATTRIBUTE_REMOVED", "/required/" + esc(name))
                elif now and not was:
                    self.add(res, "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" if _has_default(up[name])
                             else "REQUIRED_ATTRIBUTE_ADDED", "/required/" + esc(name))
        # required names without a property declared on both sides (Confluent skips these)
        for name in sorted((oreq ^ ureq) - (set(op) | set(up))):
            self.add(res, "REQUIRED_ATTRIBUTE_REMOVED" if name in oreq else "REQUIRED_ATTRIBUTE_ADDED",
                     "/required/" + esc(name))
        self._pattern_properties(res, o, u)
        o_open, u_open = _open_object(r1), _open_object(r2)
        wide = self.shortcut and len(op) >= WIDE
        for name, oraw in op.items():
            seg = "/properties/" + esc(name)
            if name in up:
                uraw = up[name]
                # In a wide object most properties are unchanged: an equality test at C speed skips
                # them without building nodes (not tried in narrow objects, where chains of nested
                # objects would make repeated tests quadratic in the depth). Python's == takes
                # true for 1: such a change inside an otherwise equal literal goes unreported.
                if wide and type(oraw) is type(uraw) and oraw == uraw:
                    continue
                self.merge(res, seg, self.pair(o.doc.node(oraw), u.doc.node(uraw)))
                continue
            # removed: only the reader's content model matters
            if u_open:
                self.add(res, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", seg)
                continue
            partial = self._partial_object(u, name)
            if partial is not None:
                sub = self.pair(o.doc.node(oraw), partial)
                self.merge(res, seg, sub)
                self.add(res, "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                         else "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)
            elif oraw is False:
                self.add(res, "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg)
            else:
                self.add(res, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg)
        for name, uraw in up.items():
            if name in op:
                continue
            seg = "/properties/" + esc(name)
            required = name in ureq
            # added: only the writer's content model matters
            if o_open:
                if _is_empty_schema(uraw):
                    self.add(res, "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                elif required and _has_default(uraw):
                    self.add(res, "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                elif required:
                    self.add(res, "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                else:
                    self.add(res, "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                continue
            partial = self._partial_object(o, name)
            if partial is not None:
                sub = self.pair(partial, u.doc.node(uraw))
                self.merge(res, seg, sub)
                self.add(res, "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                         else "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)
            if required:
                self.add(res, "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL" if _has_default(uraw)
                         else "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", seg)
            else:
                self.add(res, "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", seg)
        self._dependencies(res, o, u)
        self._additional(res, o, u, "additionalProperties", "ADDITIONAL_PROPERTIES")
        self._unevaluated(res, o, u, "unevaluatedProperties", "UNEVALUATED_PROPERTIES")
        self.optional(res, "/propertyNames", _child(o, "propertyNames"), _child(u, "propertyNames"))
        self._bounded(res, "maxProperties", _int(r1.get("maxProperties")), _int(r2.get("maxProperties")),
                      "MAX_PROPERTIES_ADDED", "MAX_PROPERTIES_REMOVED", "MAX_PROPERTIES_INCREASED",
                      "MAX_PROPERTIES_DECREASED")
        self._bounded(res, "minProperties", _int(r1.get("minProperties")), _int(r2.get("minProperties")),
                      "MIN_PROPERTIES_ADDED", "MIN_PROPERTIES_REMOVED", "MIN_PROPERTIES_INCREASED",
                      "MIN_PROPERTIES_DECREASED")

    def _pattern_properties(self, res, o, u):
        """patternProperties compared by pattern; a pattern present on one side only is
        judged against the other side's additionalProperties (what those names fall back to)."""
        p1, p2 = _dict(o.raw.get("patternProperties")), _dict(u.raw.get("patternProperties"))
        if not p1 and not p2:
            return
        for pat in list(p1) + [k for k in p2 if k not in p1]:
            seg = "/patternProperties/" + esc(pat)
            if pat in p1 and pat in p2:
                self.merge(res, seg, self.pair(o.doc.node(p1[pat]), u.doc.node(p2[pat])))
                continue
            if pat in p1:  # pattern removed: the reader falls back to its additionalProperties
                ap = u.raw.get("additionalProperties", True)
                if ap is True or _is_empty_schema(ap):
                    self.add(res, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", seg)
                elif ap is False:
                    self.add(res, "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL" if p1[pat] is False
                             else "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg)
                else:
                    sub = self.pair(o.doc.node(p1[pat]), u.doc.node(ap))
                    self.merge(res, seg, sub)
                    self.add(res, "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                             else "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)
            else:  # pattern added: those names used to fall to the writer's additionalProperties
                ap = o.raw.get("additionalProperties", True)
                if ap is True or _is_empty_schema(ap):
                    self.add(res, "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                             if _is_empty_schema(p2[pat]) else "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                elif ap is False:
                    self.add(res, "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", seg)
                else:
                    sub = self.pair(o.doc.node(ap), u.doc.node(p2[pat]))
                    self.merge(res, seg, sub)
                    self.add(res, "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                             else "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)

    def _partial_object(self, n: Node, name: str):
        raw = n.raw
        for pattern, sub in _dict(raw.get("patternProperties")).items():
            try:
                if re.search(pattern, name):
                    return n.doc.node(sub)
            except re.error:
                continue
        ap = raw.get("additionalProperties", True)
        if isinstance(ap, dict):
            return n.doc.node(ap)
        uneval = raw.get("unevaluatedProperties", True)
        if "additionalProperties" not in raw and isinstance(uneval, dict):
            return n.doc.node(uneval)
        return None

    def _dependencies(self, res, o, u):
        oa, os_ = _deps(o.raw, o.doc.legacy)
        ua, us = _deps(u.raw, u.doc.legacy)
        for name in list(oa) + [k for k in ua if k not in oa]:
            seg = "/dependencies/" + esc(name)
            before, after = oa.get(name), ua.get(name)
            if after is None:
                self.add(res, "DEPENDENCY_ARRAY_REMOVED", seg)
            elif before is None:
                self.add(res, "DEPENDENCY_ARRAY_ADDED", seg)
            elif before != after:
                if after >= before:
                    self.add(res, "DEPENDENCY_ARRAY_EXTENDED", seg)
                elif before >= after:
                    self.add(res, "DEPENDENCY_ARRAY_NARROWED", seg)
                else:
                    self.add(res, "DEPENDENCY_ARRAY_CHANGED", seg)
        for name in list(os_) + [k for k in us if k not in os_]:
            seg = "/dependencies/" + esc(name)
            before, after = os_.get(name), us.get(name)
            if after is None:
                self.add(res, "DEPENDENCY_SCHEMA_REMOVED", seg)
            elif before is None:
                self.add(res, "DEPENDENCY_SCHEMA_ADDED", seg)
            else:
                self.merge(res, seg, self.pair(o.doc.node(before[0]),
                                               u.doc.node(after[0])))

    def _additional(self, res, o, u, kw, prefix):
        """additionalProperties / additionalItems: permitted?, and the schema if any."""
        a1, a2 = o.raw.get(kw, _MISSING), u.raw.get(kw, _MISSING)
        if kw == "additionalItems":
            a1, a2 = _additional_items(o.raw), _additional_items(u.raw)
        p1, p2 = a1 is not False, a2 is not False
        s1 = a1 if isinstance(a1, dict) else None
        s2 = a2 if isinstance(a2, dict) else None
        seg = "/" + ("items" if kw == "additionalItems" and "prefixItems" in u.raw else kw)
        if p1 != p2:
            self.add(res, prefix + ("_ADDED" if p2 else "_REMOVED"), seg)
        elif s1 is None and s2 is not None:
            self.add(res, prefix + "_NARROWED", seg)
        elif s2 is None and s1 is not None:
            self.add(res, prefix + "_EXTENDED", seg)
        elif s1 is not None:
            self.merge(res, seg, self.pair(o.doc.node(s1), u.doc.node(s2)))

    def _unevaluated(self, res, o, u, kw, prefix):
        a1, a2 = o.raw.get(kw, _MISSING), u.raw.get(kw, _MISSING)
        if a1 is _MISSING and a2 is _MISSING:
            return
        seg = "/" + kw
        if a1 is _MISSING:
            self.add(res, prefix + ("_REMOVED" if a2 is False else "_NARROWED"), seg)
        elif a2 is _MISSING:
            self.add(res, prefix + ("_ADDED" if a1 is False else "_EXTENDED"), seg)
        elif a1 is False and a2 is not False:
            self.add(res, prefix + "_ADDED", seg)
        elif a1 is not False and a2 is False:
            self.add(res, prefix + "_REMOVED", seg)
        elif _is_empty_schema(a1) and not _is_empty_schema(a2):
            self.add(res, prefix + "_NARROWED", seg)
        elif not _is_empty_schema(a1) and _is_empty_schema(a2):
            self.add(res, prefix + "_EXTENDED", seg)
        elif a1 is not False:
            self.merge(res, seg, self.pair(o.doc.node(a1), u.doc.node(a2)))

    # -- arrays ---------------------------------------------------------------------------------
    def _k_array(self, res, o, u):
        r1, r2 = o.raw, u.raw
        self.optional(res, "/items", _all_items(o), _all_items(u))
        t1, t2 = _tuple_items(o), _tuple_items(u)
        shared = min(len(t1), len(t2))
        for i in range(shared):
            self.merge(res, f"/{t1[i][1]}/{i}", self.pair(o.doc.node(t1[i][0]), u.doc.node(t2[i][0])))
        u_open, o_open = _open_array(r2), _open_array(r1)
        for i in range(shared, len(t1)):
            seg = f"/{t1[i][1]}/{i}"
            if u_open:
                self.add(res, "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", seg)
                continue
            partial = self._partial_array(u)
            if partial is not None:
                sub = self.pair(o.doc.node(t1[i][0]), partial)
                self.merge(res, seg, sub)
                self.add(res, "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                         else "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)
            elif t1[i][0] is False:
                self.add(res, "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg)
            else:
                self.add(res, "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg)
        for i in range(shared, len(t2)):
            seg = f"/{t2[i][1]}/{i}"
            if o_open:
                self.add(res, "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL" if _is_empty_schema(t2[i][0])
                         else "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", seg)
                continue
            partial = self._partial_array(o)
            if partial is not None:
                sub = self.pair(partial, u.doc.node(t2[i][0]))
                self.merge(res, seg, sub)
                self.add(res, "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.ok
                         else "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg)
            else:
                self.add(res, "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", seg)
        self._additional(res, o, u, "additionalItems", "ADDITIONAL_ITEMS")
        self._unevaluated(res, o, u, "unevaluatedItems", "UNEVALUATED_ITEMS")
        self.optional(res, "/contains", _child(o, "contains"), _child(u, "contains"))
        for kw, t in (("maxItems", "MAX_ITEMS"), ("minItems", "MIN_ITEMS"),
                      ("maxContains", "MAX_CONTAINS"), ("minContains", "MIN_CONTAINS")):
            self._bounded(res, kw, _int(r1.get(kw)), _int(r2.get(kw)),
                          t + "_ADDED", t + "_REMOVED", t + "_INCREASED", t + "_DECREASED")
        u1, u2 = r1.get("uniqueItems") is True, r2.get("uniqueItems") is True
        if u1 != u2:
            self.add(res, "UNIQUE_ITEMS_REMOVED" if u1 else "UNIQUE_ITEMS_ADDED", "/uniqueItems")

    def _partial_array(self, n: Node):
        a = _additional_items(n.raw)
        if isinstance(a, dict):
            return n.doc.node(a)
        if a is _MISSING:
            uneval = n.raw.get("unevaluatedItems", _MISSING)
            if isinstance(uneval, dict):
                return n.doc.node(uneval)
        return None


_MISSING_JSON = "\x00missing"


def _str(v):
    return v if isinstance(v, str) else None


def _dict(v):
    return v if isinstance(v, dict) else {}


def _req(raw):
    r = raw.get("required")
    return {x for x in r if isinstance(x, str)} if isinstance(r, list) else set()


def _has_default(raw):
    return isinstance(raw, dict) and "default" in raw


def _is_empty_schema(raw):
    """True for the schemas that accept everything: ``{}``, ``true`` (metadata allowed)."""
    if raw is True:
        return True
    return isinstance(raw, dict) and all(k in _META for k in raw)


def _child(n: Node, kw):
    raw = n.raw
    if isinstance(raw, dict) and kw in raw:
        return n.doc.node(raw[kw])
    return None


def _open_object(raw):
    ap = raw.get("additionalProperties", _MISSING)
    if ap is not _MISSING and ap is not True:
        return False
    if raw.get("patternProperties"):
        return False
    uneval = raw.get("unevaluatedProperties", _MISSING)
    return uneval is _MISSING or _is_empty_schema(uneval)


def _additional_items(raw):
    """The schema that applies after the tuple items (draft-07 additionalItems, 2020-12 items)."""
    if "prefixItems" in raw:
        return raw.get("items", _MISSING)
    if isinstance(raw.get("items"), list):
        return raw.get("additionalItems", _MISSING)
    return _MISSING  # no tuple: additionalItems has no effect


def _open_array(raw):
    a = _additional_items(raw)
    if a is False:
        return False
    if isinstance(a, dict) and not _is_empty_schema(a):
        return False
    if a is _MISSING:
        uneval = raw.get("unevaluatedItems", _MISSING)
        return uneval is _MISSING or _is_empty_schema(uneval)
    return True


def _all_items(n: Node):
    raw = n.raw
    if "prefixItems" in raw:
        return None
    items = raw.get("items", _MISSING)
    if items is _MISSING or isinstance(items, list):
        return None
    return n.doc.node(items)


def _tuple_items(n: Node):
    raw = n.raw
    if isinstance(raw.get("prefixItems"), list):
        return [(s, "prefixItems") for s in raw["prefixItems"]]
    if isinstance(raw.get("items"), list):
        return [(s, "items") for s in raw["items"]]
    return []


def _deps(raw, legacy):
    """Property dependencies by the keywords the schema's draft validates: ``dependencies``
    up to draft-07 (and without ``$schema``), ``dependentRequired``/``dependentSchemas``
    from 2019-09. A keyword of the other drafts is an annotation no validator applies, so
    adding it changes nothing a reader accepts."""
    arrays, schemas = {}, {}
    for kw in ("dependencies",) if legacy else ("dependentRequired", "dependentSchemas"):
        for name, v in _dict(raw.get(kw)).items():
            if isinstance(v, list):
                arrays[name] = frozenset(x for x in v if isinstance(x, str))
            elif isinstance(v, (dict, bool)):
                schemas[name] = (v, f"/{kw}/{esc(name)}")
    return arrays, schemas


def _enum_values(raw):
    if "enum" in raw and isinstance(raw["enum"], list):
        values = {canon(v) for v in raw["enum"]}
        if "const" in raw:
            values &= {canon(raw["const"])}
        return frozenset(values)
    return frozenset({canon(raw.get("const"))})


def _decimal(v):
    v = _num(v)
    if v is None:
        return None
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return None
    return d if d > 0 else None


def _bounds(raw, side):
    """(inclusive, exclusive) limit of one side, with draft-04 boolean exclusives normalised."""
    inc_kw, exc_kw = ("minimum", "exclusiveMinimum") if side == "lower" else ("maximum", "exclusiveMaximum")
    inc, exc = _num(raw.get(inc_kw)), raw.get(exc_kw)
    if exc is True:
        return (None, inc)
    return (inc, _num(exc))


def _effective(bound, side):
    """The tightest of the two limits as (value, exclusive)."""
    inc, exc = bound
    cands = []
    if inc is not None:
        cands.append((inc, False))
    if exc is not None:
        cands.append((exc, True))
    if not cands:
        return None
    if side == "lower":
        return max(cands, key=lambda c: (c[0], c[1]))
    return min(cands, key=lambda c: (c[0], not c[1]))


def _wider(o, u, side):
    """Does bound ``u`` accept everything bound ``o`` accepts?"""
    if u is None:
        return True
    if o is None:
        return False
    if side == "lower":
        return u[0] < o[0] or (u[0] == o[0] and (not u[1] or o[1]))
    return u[0] > o[0] or (u[0] == o[0] and (not u[1] or o[1]))


def _dedup(parts):
    seen, out = set(), []
    for p in parts:
        key = p.canon
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _max_matching(edges: dict[int, dict[int, Result]], n_left: int) -> dict[int, int]:
    """Maximum bipartite matching (Kuhn's augmenting paths), left index -> right index."""
    match_right: dict[int, int] = {}

    def augment(i, seen):
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in match_right or augment(match_right[j], seen):
                match_right[j] = i
                return True
        return False

    for i in range(n_left):
        augment(i, set())
    return {i: j for j, i in match_right.items()}


# -- reserved properties (Confluent keeps them in schema metadata; we read a schema keyword) ------
RESERVED_KEYWORDS = ("confluent:reserved", "x-reserved")


def _reserved(raw) -> set[str]:
    if not isinstance(raw, dict):
        return set()
    for kw in RESERVED_KEYWORDS:
        v = raw.get(kw)
        if isinstance(v, str):
            return {p.strip() for p in v.split(",") if p.strip()}
        if isinstance(v, list):
            return {p for p in v if isinstance(p, str)}
    return set()


def flatten(res: Result, limit: int, deadline) -> list[tuple[str, str]]:
    """All (type, JSON pointer) of a result tree, depth first, at most ``limit`` of them."""
    out: list[tuple[str, str]] = []
    stack = [(res, "#", 0)]
    while stack and len(out) < limit:
        node, prefix, idx = stack.pop()
        items = node.items
        while idx < len(items) and len(out) < limit:
            ftype, seg, sub = items[idx]
            idx += 1
            if sub is None:
                out.append((ftype, prefix + seg))
            else:
                deadline.tick()
                stack.append((node, prefix, idx))
                stack.append((sub, prefix + seg, 0))
                break
    return out


MAX_FINDINGS = 500

# id(document) -> (document, Doc). A transitive check compares one new document with every
# approved one, and the caller (stewardship.selectors) hands in the same approved objects
# each time: their nodes are built once, not once per comparison. The entry holds the
# document itself, so its id cannot be reused by another object while it is cached.
_DOCS: OrderedDict[int, tuple] = OrderedDict()
_DOCS_MAX = 512


def _doc(raw) -> Doc:
    key = id(raw)
    hit = _DOCS.get(key)
    if hit is not None and hit[0] is raw:
        return hit[1]
    doc = Doc(raw)
    _DOCS[key] = (raw, doc)
    while len(_DOCS) > _DOCS_MAX:
        try:
            _DOCS.popitem(last=False)
        except KeyError:  # emptied by another thread meanwhile
            break
    return doc


def compare(writer, reader, *, policy: str, deadline, shared: Shared | None = None) -> list[tuple[str, str, bool, str]]:
    """Findings for "can ``reader`` read what ``writer`` wrote?": (type, path, compatible, message).
    ``shared``: the :class:`Shared` of the check this comparison is one of."""
    from .messages import message_for

    wdoc, rdoc = _doc(writer), _doc(reader)
    differ = _Differ(policy, deadline, wdoc, rdoc, shared)
    top = Result()
    removed = _reserved(writer) - _reserved(reader)
    for name in sorted(removed):
        differ.add(top, "RESERVED_PROPERTY_REMOVED", "/properties/" + esc(name))
    reserved_now = _reserved(reader)
    if reserved_now and isinstance(reader, dict):
        for name in _dict(reader.get("properties")):
            if name in reserved_now:
                differ.add(top, "RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY", "/properties/" + esc(name))
    differ.merge(top, "", differ.pair(wdoc.node(writer), rdoc.node(reader)))
    found = flatten(top, MAX_FINDINGS, deadline)
    compat = differ.compat
    if len(found) >= MAX_FINDINGS and not top.ok:
        # the list is cut: breaking findings first, then compatible ones up to the limit
        breaking = _breaking_only(top, compat, MAX_FINDINGS, deadline)
        found = breaking + [f for f in found if f[0] in compat][: MAX_FINDINGS - len(breaking)]
    out = []
    for ftype, path in found:
        ok = ftype in compat
        out.append((ftype, path, ok, message_for(ftype, path, ok)))
    return out


def _breaking_only(res, compat, limit, deadline):
    out = []
    stack = [(res, "#")]
    while stack and len(out) < limit:
        node, prefix = stack.pop()
        if node.ok:
            continue
        for ftype, seg, sub in node.items:
            if sub is None:
                if ftype not in compat:
                    out.append((ftype, prefix + seg))
            elif not sub.ok:
                deadline.tick()
                stack.append((sub, prefix + seg))
    return out
