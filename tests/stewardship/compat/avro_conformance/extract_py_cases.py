"""Regenerates apache_avro_py_compatibility.json: every top-level (reader, writer) pair that
apache/avro's Python compatibility tests check, with the outcome they assert (the suite passes
against Avro's own checker while its calls are recorded). Needs the `avro` package, which ships
its tests; not part of the test run:

    .venv/bin/python tests/stewardship/compat/avro_conformance/extract_py_cases.py \
        > tests/stewardship/compat/avro_conformance/apache_avro_py_compatibility.json
"""
import json
import sys
import unittest

import avro.compatibility as C
from avro.test import test_compatibility as T

cases = []
current = {"test": None}
orig = C.ReaderWriterCompatibilityChecker.get_compatibility
depth = {"n": 0}

def rec(self, reader, writer, reference_token="/", location=None):
    depth["n"] += 1
    try:
        res = orig(self, reader, writer, reference_token, location)
    finally:
        depth["n"] -= 1
    if depth["n"] == 0:
        cases.append({
            "test": current["test"],
            "reader": reader.to_json(),
            "writer": writer.to_json(),
            "compatible": res.compatibility is C.SchemaCompatibilityType.compatible,
            "incompatibilities": sorted({i.name.upper() for i in res.incompatibilities}),
            "locations": sorted(res.locations) if res.compatibility is not C.SchemaCompatibilityType.compatible else [],
        })
    return res

C.ReaderWriterCompatibilityChecker.get_compatibility = rec
for name in sorted(n for n in dir(T.TestCompatibility) if n.startswith("test")):
    current["test"] = name
    r = unittest.TestResult()
    T.TestCompatibility(name).run(r)
    assert r.wasSuccessful(), (name, r.failures, r.errors)
out = {
    "source": "apache/avro lang/py/avro/test/test_compatibility.py (avro 1.12.2 on PyPI)",
    "license": "Apache License 2.0. Copyright The Apache Software Foundation. The reader/writer pairs and their asserted outcomes below are copied from that file.",
    "cases": cases,
}
json.dump(out, sys.stdout, indent=1, sort_keys=False)
