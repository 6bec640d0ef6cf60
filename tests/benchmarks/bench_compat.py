"""Compatibility check time against schema size: 10, 100, 1,000 and 10,000 properties, and
nesting depth 25, 50, 100, 200, and Avro records of 10 to 10,000 fields (the engine walks nesting recursively and
answers CHECK_TOO_DEEP beyond ~300 levels). Prints the median time of a few runs and the growth ratio to the
previous size; about 10x per 10x size means linear. No Django needed (the engine is pure Python).

    python -m tests.benchmarks compat
"""

from __future__ import annotations

import copy
import statistics
import time

from stewardship.compat import check

KINDS = (
    lambda i: {"type": "string", "maxLength": 50 + i % 7, "description": f"field {i}"},
    lambda i: {"type": "integer", "minimum": 0, "maximum": 1000 + i},
    lambda i: {"type": "string", "enum": ["a", "b", "c"]},
    lambda i: {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    lambda i: {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
               "required": ["x"]},
    lambda i: {"$ref": "#/definitions/Address"},
    lambda i: {"anyOf": [{"type": "string"}, {"type": "null"}]},
)


def wide(n: int) -> tuple[dict, dict]:
    """An object with n properties of mixed kinds, and a next version widening every 10th one."""
    old = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {f"p{i}": KINDS[i % len(KINDS)](i) for i in range(n)},
        "required": [f"p{i}" for i in range(0, n, 3)],
        "definitions": {"Address": {"type": "object", "properties": {"street": {"type": "string"}}}},
    }
    new = copy.deepcopy(old)
    for i in range(0, n, 10):
        prop = new["properties"][f"p{i}"]
        if "maxLength" in prop:
            prop["maxLength"] += 10
        prop["description"] = "changed"
    return old, new


def deep(depth: int) -> tuple[dict, dict]:
    def build(max_length):
        s = {"type": "string", "maxLength": max_length}
        for i in range(depth):
            s = {"type": "object", "properties": {"child": s, f"leaf{i}": {"type": "integer"}}}
        return s
    return build(10), build(20)


def avro_wide(n: int) -> tuple[dict, dict]:
    """An Avro record with n fields of mixed kinds; the next version promotes every 10th int
    field to long and adds a field with a default (BACKWARD-compatible, FORWARD-breaking)."""
    kinds = ("int", "string", ["null", "string"], {"type": "array", "items": "long"},
             {"type": "enum", "name": "E{i}", "symbols": ["A", "B", "C"]})

    def field(i):
        kind = kinds[i % len(kinds)]
        if isinstance(kind, dict) and kind["type"] == "enum":
            kind = {**kind, "name": f"E{i}"}
        return {"name": f"f{i}", "type": kind}

    old = {"type": "record", "name": "Wide", "namespace": "bench", "fields": [field(i) for i in range(n)]}
    new = copy.deepcopy(old)
    for i in range(0, n, 10):
        if new["fields"][i]["type"] == "int":
            new["fields"][i]["type"] = "long"
    new["fields"].append({"name": "added", "type": "string", "default": ""})
    return old, new


def _time(old, new, repeat, fmt="json-schema"):
    times = []
    report = None
    for _ in range(repeat):
        started = time.perf_counter()
        report = check(new=new, previous=[old], level="FULL", time_budget=60, fmt=fmt)
        times.append(time.perf_counter() - started)
    return statistics.median(times), report


def _series(title, label, sizes, make, repeat, fmt="json-schema"):
    print(title)
    print(f"  {label:>8} {'median ms':>10} {'growth':>7} {'findings':>9} {'timed out':>9}")
    previous = None
    rows = []
    for size in sizes:
        old, new = make(size)
        seconds, report = _time(old, new, repeat if size < 10_000 else 3, fmt)
        growth = "" if previous is None else f"{seconds / previous:6.1f}x"
        print(f"  {size:>8} {seconds * 1000:>10.2f} {growth:>7} {len(report.findings):>9} {report.timed_out!s:>9}")
        previous = seconds
        rows.append((size, seconds))
    return rows


def main():
    rows = rows_wide = _series("FULL check, object with N properties (10% of them changed):", "N",
                               (10, 100, 1_000, 10_000), wide, repeat=7)
    (n0, t0), (n1, t1) = rows[1], rows[-1]
    print(f"  10,000 vs 100 properties: {t1 / t0:.0f}x the time for {n1 // n0}x the size")
    rows = _series("FULL check, nesting depth D (one change at the bottom):", "D",
                   (25, 50, 100, 200), deep, repeat=7)
    (d0, t0), (d1, t1) = rows[0], rows[-1]
    print(f"  depth 200 vs 25: {t1 / t0:.1f}x the time for {d1 // d0}x the depth")
    avro = _series("FULL check, Avro record with N fields (every 10th int promoted to long):", "N",
                   (10, 100, 1_000, 10_000), avro_wide, repeat=7, fmt="avro")
    (n0, t0), (n1, t1) = avro[2], avro[-1]  # below 1,000 fields fixed costs dominate
    print(f"  Avro 10,000 vs 1,000 fields: {t1 / t0:.0f}x the time for {n1 // n0}x the size")
    json_1000 = dict(rows_wide)[1_000]
    print(f"  Avro 1,000 fields vs JSON Schema 1,000 properties (same run): "
          f"{dict(avro)[1_000] / json_1000:.2f}x the time")


if __name__ == "__main__":
    main()
