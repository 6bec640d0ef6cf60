"""OpenAPI 3.0/3.1 diff: narrowing what a request accepts or widening what a response returns
breaks clients; the opposite is compatible."""

from __future__ import annotations

import copy

import pytest

from stewardship.compat import check


def base(version="3.0.3"):
    return {
        "openapi": version,
        "info": {"title": "Pets", "version": "1"},
        "paths": {
            "/pets": {
                "get": {
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}}},
                },
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/NewPet"}}}},
                    "responses": {"201": {"description": "created"}, "400": {"description": "bad"}},
                },
            },
            "/pets/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
        },
        "components": {"schemas": {
            "Pet": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "status": {"type": "string", "enum": ["available", "sold"]},
                "parent": {"$ref": "#/components/schemas/Pet"},
            }},
            "NewPet": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["cat", "dog"]},
                "tag": {"type": "string"},
            }},
        }},
    }


def diff(mutate, version="3.0.3", level="BACKWARD"):
    old = base(version)
    new = copy.deepcopy(old)
    mutate(new)
    return check(new=new, previous=[old], fmt="openapi", level=level)


def pet(doc):
    return doc["components"]["schemas"]["Pet"]["properties"]


def new_pet(doc):
    return doc["components"]["schemas"]["NewPet"]


CASES = [
    ("PATH_REMOVED", lambda d: d["paths"].pop("/pets/{id}"), "#/paths/~1pets~1{id}", False),
    ("PATH_ADDED", lambda d: d["paths"].update({"/owners": {"get": {"responses": {"200": {"description": "x"}}}}}),
     "#/paths/~1owners", True),
    ("OPERATION_REMOVED", lambda d: d["paths"]["/pets"].pop("post"), "#/paths/~1pets/post", False),
    ("OPERATION_ADDED", lambda d: d["paths"]["/pets"].update({"put": {"responses": {}}}), "#/paths/~1pets/put",
     True),
    ("REQUEST_PARAMETER_REQUIRED", lambda d: d["paths"]["/pets"]["get"]["parameters"][0].update(required=True),
     "#/paths/~1pets/get/parameters/0/required", False),
    ("REQUEST_PARAMETER_REQUIRED_ADDED", lambda d: d["paths"]["/pets"]["get"]["parameters"].append(
        {"name": "owner", "in": "query", "required": True, "schema": {"type": "string"}}),
     "#/paths/~1pets/get/parameters/1", False),
    ("REQUEST_PARAMETER_ADDED", lambda d: d["paths"]["/pets"]["get"]["parameters"].append(
        {"name": "owner", "in": "query", "schema": {"type": "string"}}), "#/paths/~1pets/get/parameters/1", True),
    ("REQUEST_PARAMETER_REMOVED", lambda d: d["paths"]["/pets"]["get"].pop("parameters"),
     "#/paths/~1pets/get/parameters/0", True),
    ("REQUEST_PARAMETER_TYPE_CHANGED",
     lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(type="boolean"),
     "#/paths/~1pets/get/parameters/0/schema/type", False),
    ("REQUEST_PARAMETER_TYPE_WIDENED",
     lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(type="number"),
     "#/paths/~1pets/get/parameters/0/schema/type", True),
    ("REQUEST_PROPERTY_REQUIRED", lambda d: new_pet(d).update(required=["name", "tag"]),
     "#/components/schemas/NewPet/required", False),
    ("REQUEST_PROPERTY_REQUIRED_ADDED", lambda d: (new_pet(d)["properties"].update(age={"type": "integer"}),
                                                   new_pet(d)["required"].append("age")),
     "#/components/schemas/NewPet/properties/age", False),
    ("REQUEST_PROPERTY_ADDED", lambda d: new_pet(d)["properties"].update(age={"type": "integer"}),
     "#/components/schemas/NewPet/properties/age", True),
    ("REQUEST_PROPERTY_TYPE_CHANGED", lambda d: new_pet(d)["properties"]["tag"].update(type="integer"),
     "#/components/schemas/NewPet/properties/tag/type", False),
    ("REQUEST_ENUM_NARROWED", lambda d: new_pet(d)["properties"]["kind"].update(enum=["cat"]),
     "#/components/schemas/NewPet/properties/kind/enum", False),
    ("REQUEST_ENUM_WIDENED", lambda d: new_pet(d)["properties"]["kind"].update(enum=["cat", "dog", "fish"]),
     "#/components/schemas/NewPet/properties/kind/enum", True),
    ("REQUEST_BODY_REQUIRED", lambda d: d["paths"]["/pets"]["post"]["requestBody"].update(required=True),
     "#/paths/~1pets/post/requestBody/required", False),
    ("REQUEST_MEDIA_TYPE_REMOVED", lambda d: d["paths"]["/pets"]["post"]["requestBody"].update(
        content={"application/xml": {"schema": {"type": "object"}}}),
     "#/paths/~1pets/post/requestBody/content/application~1json", False),
    ("RESPONSE_PROPERTY_REMOVED", lambda d: pet(d).pop("name"), "#/components/schemas/Pet/properties/name", False),
    ("RESPONSE_PROPERTY_ADDED", lambda d: pet(d).update(age={"type": "integer"}),
     "#/components/schemas/Pet/properties/age", True),
    ("RESPONSE_PROPERTY_TYPE_CHANGED", lambda d: pet(d)["id"].update(type="string"),
     "#/components/schemas/Pet/properties/id/type", False),
    ("RESPONSE_PROPERTY_TYPE_CHANGED", lambda d: pet(d)["name"].update(nullable=True),
     "#/components/schemas/Pet/properties/name/type", False),
    ("RESPONSE_PROPERTY_TYPE_NARROWED", lambda d: pet(d)["id"].update(type="integer", format="int32"),
     None, None),  # same type: no finding
    ("RESPONSE_ENUM_WIDENED", lambda d: pet(d)["status"]["enum"].append("pending"),
     "#/components/schemas/Pet/properties/status/enum", False),
    ("RESPONSE_ENUM_NARROWED", lambda d: pet(d)["status"].update(enum=["sold"]),
     "#/components/schemas/Pet/properties/status/enum", True),
    ("RESPONSE_PROPERTY_OPTIONAL", lambda d: d["components"]["schemas"]["Pet"].update(required=[]),
     "#/components/schemas/Pet/required", False),
    ("RESPONSE_SUCCESS_STATUS_REMOVED", lambda d: d["paths"]["/pets"]["post"]["responses"].pop("201"),
     "#/paths/~1pets/post/responses/201", False),
    ("RESPONSE_STATUS_REMOVED", lambda d: d["paths"]["/pets"]["post"]["responses"].pop("400"),
     "#/paths/~1pets/post/responses/400", True),
    ("RESPONSE_MEDIA_TYPE_REMOVED", lambda d: d["paths"]["/pets"]["get"]["responses"]["200"].update(
        content={"text/csv": {"schema": {"type": "string"}}}),
     "#/paths/~1pets/get/responses/200/content/application~1json", False),
]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
@pytest.mark.parametrize("ftype,mutate,path,ok", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_openapi_change(version, ftype, mutate, path, ok):
    report = diff(mutate, version)
    found = [f for f in report.findings if f.type == ftype]
    if path is None:
        assert report.findings == ()
        return
    assert found, [(f.type, f.path) for f in report.findings]
    assert found[0].path == path
    assert found[0].compatible is ok
    assert report.compatible is all(f.compatible for f in report.findings)
    if not ok:
        assert report.compatible is False


def test_unchanged_document_has_no_findings_and_recursion_terminates():
    report = diff(lambda d: None, level="FULL_TRANSITIVE")
    assert report.compatible and report.findings == ()


def test_type_list_with_null_in_31():
    def widen(d):
        pet(d)["name"]["type"] = ["string", "null"]
    report = diff(widen, "3.1.0")
    assert [(f.type, f.compatible) for f in report.findings] == [("RESPONSE_PROPERTY_TYPE_CHANGED", False)]
    # the reverse (response narrowed from string|null to string) is fine
    old = base("3.1.0")
    pet(old)["name"]["type"] = ["string", "null"]
    report = check(new=base("3.1.0"), previous=[old], fmt="openapi")
    assert [(f.type, f.compatible) for f in report.findings] == [("RESPONSE_PROPERTY_TYPE_NARROWED", True)]


def test_forward_swaps_roles():
    # removing a path breaks BACKWARD; FORWARD (old API serving new clients) sees a path added
    report = diff(lambda d: d["paths"].pop("/pets/{id}"), level="FORWARD")
    assert [(f.type, f.compatible) for f in report.findings] == [("PATH_ADDED", True)]


def test_allof_properties_are_merged():
    def split(d):
        schemas = d["components"]["schemas"]
        schemas["Base"] = {"type": "object", "properties": {"id": {"type": "integer"}}}
        schemas["Pet"] = {"allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "required": ["id"],
                          "properties": {k: v for k, v in schemas["Pet"]["properties"].items() if k != "id"}}]}
    assert diff(split).compatible is True


def test_messages_say_which_operation():
    report = diff(lambda d: pet(d).pop("name"))
    assert "GET /pets" in report.findings[0].message
