"""Avro compatibility by the Avro specification's schema-resolution rules.

``compare(writer, reader)`` answers "can ``reader`` read every datum written with ``writer``?" as
a list of ``(type, path, compatible, message)`` findings, the same shape as
:mod:`.jsonschema_diff`. The rules and the finding names are those of Apache Avro's
``SchemaCompatibility`` (the checker Confluent Schema Registry runs for Avro):

* ``TYPE_MISMATCH``: the writer's type cannot be promoted to the reader's (promotions allowed:
  int to long, float or double; long to float or double; float to double; string to bytes and
  bytes to string).
* ``READER_FIELD_MISSING_DEFAULT_VALUE``: a reader field the writer does not write (neither by its
  name nor by one of the reader field's aliases) has no default.
* ``MISSING_ENUM_SYMBOLS``: the writer has symbols the reader lacks and the reader enum has no
  default symbol.
* ``MISSING_UNION_BRANCH``: a writer branch (or the writer's non-union type) no reader branch can
  read.
* ``NAME_MISMATCH``: records, enums and fixed types resolve by unqualified name or by a reader
  alias naming the writer's full name.
* ``FIXED_SIZE_MISMATCH``: fixed types of different sizes.

Two additions, both in the spirit of the specification's "Logical Types" section and both
documented in docs/compatibility.md: ``DECIMAL_SCALE_OR_PRECISION_MISMATCH`` (as newer Apache Avro names it: decimals resolve only when scale and
precision match) and ``LOGICAL_TYPE_CHANGED`` (e.g. timestamp-millis to timestamp-micros on the
same long: incompatible under STRICT, reported but allowed under LENIENT).

Recursive schemas: a (reader, writer) pair met again while it is being compared is assumed
compatible (the co-inductive reading). A result that leaned on such an assumption is kept only
while that assumption still holds: when the assumed pair turns out incompatible, every result
that leaned on it is dropped from the memo and computed again (the fixpoint Confluent added to
its JSON Schema checker, applied here too).

Paths are JSON pointers into the *reader* schema as written (``#/fields/1/type/symbols``); a
path through a named type used by reference continues at that reference. As in Avro's checker,
the last step of a ``MISSING_UNION_BRANCH`` between two unions is the *writer's* branch index.
"""

from __future__ import annotations

from .avro import parse_named

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
_KINDS = PRIMITIVES | NAMED | {"array", "map"}
# writer type -> reader types that can read it (besides itself)
PROMOTIONS = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

TYPE_MISMATCH = "TYPE_MISMATCH"
READER_FIELD_MISSING_DEFAULT_VALUE = "READER_FIELD_MISSING_DEFAULT_VALUE"
MISSING_ENUM_SYMBOLS = "MISSING_ENUM_SYMBOLS"
MISSING_UNION_BRANCH = "MISSING_UNION_BRANCH"
NAME_MISMATCH = "NAME_MISMATCH"
FIXED_SIZE_MISMATCH = "FIXED_SIZE_MISMATCH"
DECIMAL_SCALE_OR_PRECISION_MISMATCH = "DECIMAL_SCALE_OR_PRECISION_MISMATCH"
LOGICAL_TYPE_CHANGED = "LOGICAL_TYPE_CHANGED"


class _Schema:
    """A parsed schema plus its named types (full name -> definition)."""

    __slots__ = ("root", "names")

    def __init__(self, document):
        self.root, self.names = parse_named(document)

    def deref(self, node):
        """The definition behind a named reference; the node itself otherwise."""
        while True:
            if isinstance(node, str) and node not in PRIMITIVES:
                node = self.names[node]
            elif isinstance(node, dict) and not isinstance(node["type"], str):
                node = node["type"]  # {"type": [...]} or {"type": {...}}
            elif isinstance(node, dict) and node["type"] not in _KINDS and not _logical(node):
                node = node["type"]  # {"type": "int"} or {"type": "a.b.Named"}
            else:
                return node


def _kind(node) -> str:
    if isinstance(node, list):
        return "union"
    if isinstance(node, str):
        return node
    kind = node["type"]
    return "record" if kind == "error" else (kind if isinstance(kind, str) else "union")


def _logical(node):
    return node.get("logicalType") if isinstance(node, dict) else None


def _short(fullname: str) -> str:
    return fullname.rsplit(".", 1)[-1]


def _qualified_aliases(node) -> set[str]:
    """A named type's aliases as full names (an alias without a dot is in the type's namespace)."""
    space = node["name"].rpartition(".")[0]
    out = set()
    for alias in node.get("aliases") or ():
        out.add(alias if "." in alias or not space else f"{space}.{alias}")
    return out


def _describe(node) -> str:
    kind = _kind(node)
    if kind in NAMED:
        return f"{kind} {_short(node['name'])}"
    logical = _logical(node)
    return f"{kind} ({logical})" if logical else kind


class _Differ:
    def __init__(self, writer: _Schema, reader: _Schema, policy: str, deadline):
        self.w, self.r = writer, reader
        self.policy = policy
        self.deadline = deadline
        self.memo: dict[tuple[int, int], tuple[list, frozenset]] = {}
        self.in_progress: set[tuple[int, int]] = set()
        self.failed: set[tuple[int, int]] = set()

    # Each comparison returns (findings, assumptions): findings as (type, relative path parts,
    # compatible, message) and the in-progress pairs whose assumed compatibility it relied on.
    def pair(self, writer, reader) -> tuple[list, frozenset]:
        if self.deadline is not None:
            self.deadline.tick()
        writer, reader = self.w.deref(writer), self.r.deref(reader)
        key = (id(writer), id(reader))
        cached = self.memo.get(key)
        if cached is not None and not (cached[1] & self.failed):
            return cached
        if key in self.in_progress:
            return [], frozenset({key})
        self.in_progress.add(key)
        try:
            findings, assumed = self._compare(writer, reader)
        finally:
            self.in_progress.discard(key)
        assumed = assumed - {key}
        if any(not f[2] for f in findings):
            self.failed.add(key)
        result = (findings, frozenset(assumed))
        self.memo[key] = result
        return result

    def _compare(self, w, r) -> tuple[list, frozenset]:
        wk, rk = _kind(w), _kind(r)
        if wk == "union" and rk == "union":
            return self._union_to_union(w, r)
        if wk == "union":
            return self._union_to_single(w, r)
        if rk == "union":
            return self._single_to_union(w, r)
        if wk != rk:
            if rk in PROMOTIONS.get(wk, ()):
                return self._logical_types(w, r), frozenset()
            return [self._mismatch(w, r)], frozenset()
        if rk in PRIMITIVES:
            return self._logical_types(w, r), frozenset()
        if rk == "array":
            return self._child(w["items"], r["items"], ("items",))
        if rk == "map":
            return self._child(w["values"], r["values"], ("values",))
        findings = self._names(w, r)
        if rk == "fixed":
            if w["size"] != r["size"]:
                findings.append(
                    (FIXED_SIZE_MISMATCH, ("size",), False,
                     f"The fixed type {_short(r['name'])} is {r['size']} bytes but the writer writes "
                     f"{w['size']} bytes: its values cannot be read.")
                )
            findings.extend(self._logical_types(w, r))
            return findings, frozenset()
        if rk == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            default = r.get("default")
            if missing and not (default is not None and default in r["symbols"]):
                shown = ", ".join(missing)
                findings.append(
                    (MISSING_ENUM_SYMBOLS, ("symbols",), False,
                     f"The enum {_short(r['name'])} lacks the symbol{'s' if len(missing) > 1 else ''} "
                     f"{shown} that the writer can send, and has no default symbol to read "
                     f"{'them' if len(missing) > 1 else 'it'} as.")
                )
            return findings, frozenset()
        return self._record(w, r, findings)

    def _child(self, w, r, prefix: tuple) -> tuple[list, frozenset]:
        found, assumed = self.pair(w, r)
        return [(t, prefix + p, ok, m) for t, p, ok, m in found], assumed

    def _names(self, w, r) -> list:
        if _short(w["name"]) == _short(r["name"]) or w["name"] in _qualified_aliases(r):
            return []
        return [
            (NAME_MISMATCH, ("name",), False,
             f"The {_kind(r)} {r['name']} does not match the writer's {w['name']} "
             "(neither the name nor an alias of it).")
        ]

    def _record(self, w, r, findings: list) -> tuple[list, frozenset]:
        assumed: set = set()
        by_name = {f["name"]: f for f in w["fields"]}
        for i, field in enumerate(r["fields"]):
            written = by_name.get(field["name"])
            if written is None:
                for alias in field.get("aliases") or ():
                    written = by_name.get(alias)
                    if written is not None:
                        break
            if written is None:
                if "default" not in field:
                    findings.append(
                        (READER_FIELD_MISSING_DEFAULT_VALUE, ("fields", i), False,
                         f"The field {field['name']} of {_short(r['name'])} is not in the data the "
                         "writer sends and has no default: such records cannot be read.")
                    )
                continue
            found, dep = self._child(written["type"], field["type"], ("fields", i, "type"))
            findings.extend(found)
            assumed |= dep
        return findings, frozenset(assumed)

    def _union_to_union(self, w, r) -> tuple[list, frozenset]:
        findings, assumed = [], set()
        for i, branch in enumerate(w):
            found, dep = self._single_to_union(self.w.deref(branch), r)  # unions do not nest
            assumed |= dep
            if any(not f[2] for f in found):
                findings.append(
                    (MISSING_UNION_BRANCH, (i,), False,
                     f"The writer may send a {_describe(self.w.deref(branch))} (union branch {i + 1}) "
                     "that no branch of the reader's union can read.")
                )
            else:
                findings.extend(found)
        return findings, frozenset(assumed)

    def _union_to_single(self, w, r) -> tuple[list, frozenset]:
        findings, assumed = [], set()
        for branch in w:
            found, dep = self.pair(branch, r)
            findings.extend(found)
            assumed |= dep
        return findings, frozenset(assumed)

    def _single_to_union(self, w, r) -> tuple[list, frozenset]:
        """The first reader branch that reads ``w`` without a breaking finding wins (Avro picks the
        first matching branch; any readable one makes the data readable)."""
        assumed: set = set()
        lenient = None
        for branch in r:
            found, dep = self.pair(w, branch)
            if not any(not f[2] for f in found):
                if not found:
                    return [], frozenset(dep)
                if lenient is None:
                    lenient = (found, dep)
            else:
                assumed |= dep
        if lenient is not None:
            return lenient[0], frozenset(lenient[1])
        return [
            (MISSING_UNION_BRANCH, (), False,
             f"The writer sends a {_describe(w)} that no branch of the reader's union can read.")
        ], frozenset(assumed)

    def _mismatch(self, w, r):
        return (TYPE_MISMATCH, (), False,
                f"The reader expects a {_describe(r)} but the writer sends a {_describe(w)}, "
                "which cannot be converted.")

    def _logical_types(self, w, r) -> list:
        wl, rl = _logical(w), _logical(r)
        if wl == rl == "decimal":
            changed = [k for k in ("precision", "scale") if w.get(k, 0 if k == "scale" else None)
                       != r.get(k, 0 if k == "scale" else None)]
            if changed:
                what = " and ".join(
                    f"{k} {w.get(k, 0 if k == 'scale' else None)} to {r.get(k, 0 if k == 'scale' else None)}"
                    for k in changed
                )
                return [(DECIMAL_SCALE_OR_PRECISION_MISMATCH, (changed[0],), False,
                         f"The decimal changed {what}: amounts written before would be read as "
                         "different numbers.")]
            return []
        if wl and rl and wl != rl:
            ok = self.policy == "LENIENT"
            return [(LOGICAL_TYPE_CHANGED, ("logicalType",), ok,
                     f"The logical type changed from {wl} to {rl} on the same {_kind(r)}: values "
                     "written before keep their bytes but change meaning"
                     + (" (allowed under the lenient policy)." if ok else "."))]
        return []


def _pointer(parts) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def compare(writer, reader, *, policy: str = "STRICT", deadline=None) -> list[tuple[str, str, bool, str]]:
    """Findings for reading data written with ``writer`` using ``reader`` (both Avro schemas as
    JSON text or parsed JSON). ``ValueError`` when either is not a valid Avro schema."""
    differ = _Differ(_Schema(writer), _Schema(reader), policy, deadline)
    findings, _ = differ.pair(differ.w.root, differ.r.root)
    out, seen = [], set()
    for ftype, parts, ok, message in findings:
        key = (ftype, parts)
        if key not in seen:
            seen.add(key)
            out.append((ftype, _pointer(parts), ok, message))
    return out
