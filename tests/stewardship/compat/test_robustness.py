"""Malformed input never crashes the engine: it answers with a Report (callers validate first,
but a check must not blow up on whatever reached it)."""

from __future__ import annotations

import itertools
import random

import pytest

from stewardship.compat import Report, check

ODD = [
    None, 5, "x", [], [1, 2], True, False, {},
    {"properties": [1, 2]}, {"properties": {"a": 5}}, {"required": "a"}, {"required": [1, "a"]},
    {"items": 5}, {"items": [5, True]}, {"prefixItems": {}}, {"enum": 3}, {"enum": [{"a": [1]}, None]},
    {"const": {"x": 1}}, {"type": 5}, {"type": ["string", 7, "nope"]}, {"type": []}, {"anyOf": {}},
    {"oneOf": [5, None]}, {"allOf": []}, {"not": 5}, {"$ref": 5}, {"$ref": "#/nope/x"}, {"$ref": "#"},
    {"$ref": "http://elsewhere/x.json"}, {"dependencies": {"a": 5}}, {"dependentRequired": {"a": "b"}},
    {"minLength": "x", "maxLength": None}, {"patternProperties": {"[": {"type": "string"}}},
    {"multipleOf": 0}, {"multipleOf": True}, {"minimum": True, "exclusiveMinimum": "x"},
    {"additionalProperties": 5}, {"additionalItems": "x", "items": [{}]}, {"unevaluatedProperties": 3},
    {"if": 5, "then": 6}, {"$id": 5, "title": [1], "default": {"a": 1}}, {"contains": None, "minContains": "a"},
    {"confluent:reserved": 5}, {"confluent:reserved": ["a", 1], "properties": {"a": {}}},
]


@pytest.mark.parametrize("level", ["FULL"])
def test_pairs_of_odd_schemas(level):
    for old, new in itertools.product(ODD, repeat=2):
        report = check(new=new, previous=[old], level=level)
        assert isinstance(report, Report)
        assert all(isinstance(f.message, str) for f in report.findings)


def test_random_nestings_of_odd_schemas():
    rng = random.Random(4)
    keys = ["properties", "items", "anyOf", "allOf", "not", "additionalProperties", "$defs", "then"]

    def build(depth):
        if depth == 0:
            return rng.choice(ODD)
        key = rng.choice(keys)
        if key == "properties":
            return {"type": "object", key: {f"p{i}": build(depth - 1) for i in range(rng.randint(0, 3))}}
        if key in ("anyOf", "allOf"):
            return {key: [build(depth - 1) for _ in range(rng.randint(0, 3))]}
        if key == "$defs":
            return {"$ref": "#/$defs/A", "$defs": {"A": build(depth - 1)}}
        return {key: build(depth - 1)}

    for _ in range(300):
        report = check(new=build(4), previous=[build(4)], level="FULL")
        assert isinstance(report, Report)


@pytest.mark.parametrize("doc", [None, 5, [], {"openapi": 3}, {"paths": []}, {"paths": {"/a": 5}},
                                 {"paths": {"/a": {"get": 5, "parameters": 7}}},
                                 {"paths": {"/a": {"get": {"parameters": [5, {"name": 1}], "requestBody": 5,
                                                           "responses": []}}}},
                                 {"paths": {"/a": {"$ref": "#/nope"}}}])
def test_odd_openapi_documents(doc):
    good = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}
    for old, new in ((doc, good), (good, doc), (doc, doc)):
        assert isinstance(check(new=new, previous=[old], fmt="openapi", level="FULL"), Report)


ODD_OPENAPI = [
    None, 5, [], {"openapi": 3}, {"openapi": "3.0.0", "info": 5, "paths": []},
    {"openapi": "3.1.0", "info": {"title": 1}, "paths": {"/a": 5}},
    {"openapi": "3.0.0", "info": {}, "paths": {"/a": {"get": {"parameters": 5, "responses": []}}}},
    {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [5, {"name": 1, "schema": 7}],
                                                  "requestBody": {"content": 5},
                                                  "responses": {"200": {"content": {"a/b": 5}}}}}}},
    {"openapi": "3.1.0", "components": {"schemas": 5}},
    {"openapi": "3.1.0", "components": {"schemas": {"A": {"type": 5}}}, "webhooks": {}},
]


@pytest.mark.parametrize("doc", ODD_OPENAPI)
def test_validate_odd_openapi_documents_reports_instead_of_crashing(doc):
    from stewardship.compat import validate_schema

    messages = validate_schema(doc, "openapi")
    assert messages and all(isinstance(m, str) for m in messages)


@pytest.mark.parametrize("doc", ODD)
def test_validate_odd_json_schemas_never_crashes(doc):
    from stewardship.compat import validate_schema

    assert isinstance(validate_schema(doc), list)
