"""A structural, side-by-side view of two schema documents.

Each document is rendered as pretty JSON, one line per key or item, and every line knows
its JSON pointer. Comparing the pointer sets marks what was added, removed or changed,
and each compatibility finding is attached to the line of its path (or the closest
ancestor shown), so the reviewer sees the finding at its place."""

import json


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _lines(value, pointer="", key=None, indent=0, trailing=""):
    prefix = ("  " * indent) + (json.dumps(key) + ": " if key is not None else "")
    if isinstance(value, dict) and value:
        yield {"pointer": pointer, "text": prefix + "{", "leaf": False}
        items = list(value.items())
        for i, (k, v) in enumerate(items):
            yield from _lines(v, f"{pointer}/{_escape(str(k))}", k, indent + 1, "," if i < len(items) - 1 else "")
        yield {"pointer": pointer, "text": ("  " * indent) + "}" + trailing, "leaf": False, "closing": True}
    elif isinstance(value, list) and value:
        yield {"pointer": pointer, "text": prefix + "[", "leaf": False}
        for i, v in enumerate(value):
            yield from _lines(v, f"{pointer}/{i}", None, indent + 1, "," if i < len(value) - 1 else "")
        yield {"pointer": pointer, "text": ("  " * indent) + "]" + trailing, "leaf": False, "closing": True}
    else:
        yield {"pointer": pointer, "text": prefix + json.dumps(value) + trailing, "leaf": True, "value": value}


def _values(doc):
    return {line["pointer"]: line.get("value") for line in _lines(doc) if line["leaf"]}


def _pointer_of(path: str) -> str:
    path = path or ""
    return path[1:] if path.startswith("#") else path


def _anchor(pointer, available):
    """The finding's own line, or the nearest ancestor that has one."""
    while pointer and pointer not in available:
        pointer = pointer.rsplit("/", 1)[0]
    return pointer


def side_by_side(old, new, findings=()):
    """``{"old": [lines], "new": [lines]}``; each line has text, pointer, a ``change``
    (added/removed/changed/"") and the findings anchored there."""
    old_lines = list(_lines(old)) if old is not None else []
    new_lines = list(_lines(new))
    old_vals, new_vals = _values(old) if old is not None else {}, _values(new)
    old_ptrs = {line["pointer"] for line in old_lines}
    new_ptrs = {line["pointer"] for line in new_lines}
    anchored_new, anchored_old = {}, {}
    for f in findings:
        ptr = _pointer_of(f.get("path", ""))
        if ptr in old_ptrs and ptr not in new_ptrs:  # something removed: show it where it was
            anchored_old.setdefault(ptr, []).append(f)
        else:
            anchored_new.setdefault(_anchor(ptr, new_ptrs), []).append(f)
    for side, lines, other, vals, other_vals, anchored in (
        ("old", old_lines, new_ptrs, old_vals, new_vals, anchored_old),
        ("new", new_lines, old_ptrs, new_vals, old_vals, anchored_new),
    ):
        for line in lines:
            ptr = line["pointer"]
            change = ""
            if old_lines and ptr not in other:
                change = "removed" if side == "old" else "added"
            elif line["leaf"] and ptr in other_vals and other_vals[ptr] != vals.get(ptr):
                change = "changed"
            line["change"] = change
            line["findings"] = [] if line.get("closing") else anchored.get(ptr, [])
            line["breaking"] = any(not f.get("compatible", True) for f in line["findings"])
    return {"old": old_lines, "new": new_lines}
