"""Walking a finding's JSON pointer through a schema to the instance location it is about
(shared by the plain-words messages and the counterexample search)."""

from __future__ import annotations

# Structural schema keywords and how they move the instance location.
_CHILD_BY_NAME = {"properties"}
_CHILD_BY_INDEX = {"prefixItems"}
_SAME_LOCATION_LIST = {"allOf", "anyOf", "oneOf"}
_SAME_LOCATION = {"then", "else", "if", "not"}
_MISSING = object()


def _unescape(seg: str) -> str:
    return seg.replace("~1", "/").replace("~0", "~")


def _segments(path: str) -> list[str]:
    path = path[1:] if path.startswith("#") else path
    return [_unescape(s) for s in path.split("/") if s != ""]


def resolve(root, node, depth=0):
    """Follow a local ``$ref`` (``#/...``); anything else is returned as it is."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#") and depth < 20:
        target = root
        for seg in _segments(node["$ref"]):
            if isinstance(target, dict) and seg in target:
                target = target[seg]
            elif isinstance(target, list) and seg.isdigit() and int(seg) < len(target):
                target = target[int(seg)]
            else:
                return node
        node, depth = target, depth + 1
    return node


def locate(root, path: str):
    """Walk ``path`` in schema ``root``: ``(instance_path, [(instance_path, subschema)...],
    leftover)`` where the list holds each location met (outermost first) and ``leftover``
    names what the finding is about at the deepest one (``("required", "memo")``,
    ``("maxLength",)``...)."""
    segs = _segments(path)
    node = resolve(root, root)
    inst: list = []
    trail = [(tuple(inst), node)]
    i = 0
    while i < len(segs) and isinstance(node, dict):
        seg = segs[i]
        nxt = segs[i + 1] if i + 1 < len(segs) else None
        if seg in _CHILD_BY_NAME and nxt is not None:
            child = (node.get(seg) or {}).get(nxt, _MISSING) if isinstance(node.get(seg), dict) else _MISSING
            inst.append(nxt)
            i += 2
        elif seg in _CHILD_BY_INDEX and nxt is not None and nxt.isdigit():
            items = node.get(seg)
            child = items[int(nxt)] if isinstance(items, list) and int(nxt) < len(items) else _MISSING
            inst.append(int(nxt))
            i += 2
        elif seg == "items":
            items = node.get("items")
            if isinstance(items, list) and nxt is not None and nxt.isdigit():  # draft-07 tuple form
                child = items[int(nxt)] if int(nxt) < len(items) else _MISSING
                inst.append(int(nxt))
                i += 2
            else:
                child = items if items is not None else _MISSING
                inst.append(0)
                i += 1
        elif seg in _SAME_LOCATION_LIST and nxt is not None and nxt.isdigit():
            parts = node.get(seg)
            child = parts[int(nxt)] if isinstance(parts, list) and int(nxt) < len(parts) else _MISSING
            i += 2
        elif seg in _SAME_LOCATION and seg in node:
            child = node[seg]
            i += 1
        else:
            break
        if child is _MISSING:
            # The other schema lacks this step (a property added or removed): the location
            # still exists in instances, with no constraint from this side.
            child = {}
        node = resolve(root, child)
        trail.append((tuple(inst), node))
    return tuple(inst), trail, tuple(segs[i:])


