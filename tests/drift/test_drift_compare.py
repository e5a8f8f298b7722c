"""`compare(ours, upstream)`: each kind of difference is found, at a stable location, and only it.

The synthetic pair in `data/` describes one API in 3.0 and in 3.1 spelling; it compares equal.
Every case below changes one aspect and expects exactly one difference (or the named few)."""

from __future__ import annotations

import copy
import typing as t

import pytest

from mockserver.contract.drift import Difference, Document, Schema, compare, facets, normalise

Mutation = t.Callable[[dict], None]


def test_the_same_api_in_3_0_and_3_1_spelling_compares_equal(ours: dict, upstream: dict) -> None:
    assert compare(ours, upstream) == []
    assert compare(upstream, ours) == []
    assert compare(ours, copy.deepcopy(ours)) == []


def _op(doc: dict, path: str, method: str) -> dict:
    return doc["paths"][path][method]


def _param(doc: dict, path: str, method: str, name: str) -> dict:
    return next(p for p in _op(doc, path, method)["parameters"] if p.get("name") == name)


def _add_operation(doc: dict) -> None:
    doc["paths"]["/things/{thing_id}"]["patch"] = {
        "operationId": "update-thing", "security": [{"Token": []}],
        "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}


def _rename_path_parameter(doc: dict) -> None:
    item = doc["paths"].pop("/things/{thing_id}")
    for method in ("get", "delete"):
        item[method]["parameters"][0]["name"] = "id"
    doc["paths"]["/things/{id}"] = item


# (id, change to the 3.1 upstream, expected differences as (operation, where, ours, upstream))
CASES: list[tuple[str, Mutation, list[tuple[str, str, str, str]]]] = [
    ("missing operation", _add_operation,
     [("PATCH /things/{thing_id}", "operation", "absent", "update-thing")]),
    ("extra operation", lambda d: d["paths"].pop("/stats"),
     [("GET /stats", "operation", "get-stats", "absent")]),
    ("operationId", lambda d: _op(d, "/things", "post").update(operationId="createThing"),
     [("POST /things", "operationId", "create-thing", "createThing")]),
    ("server base path", lambda d: d["servers"][0].update(url="https://api.example.com/v2"),
     [("*", "server base path", "/v1", "/v2")]),
    ("security", lambda d: _op(d, "/stats", "get").update(security=[]),
     [("GET /stats", "security", "http bearer", "anonymous")]),
    ("parameter required flip", lambda d: _param(d, "/things", "get", "limit").update(required=True),
     [("GET /things", "parameter query.limit: required", "false", "true")]),
    ("parameter missing upstream", lambda d: _op(d, "/things", "get")["parameters"].pop(4),
     [("GET /things", "parameter query.cursor", "string | null, optional", "absent")]),
    ("parameter type", lambda d: _param(d, "/things", "get", "limit")["schema"].update(type="number"),
     [("GET /things", "parameter query.limit: type", "integer", "number")]),
    ("enum change", lambda d: _param(d, "/things", "get", "order")["schema"].update(enum=["asc", "desc", "random"]),
     [("GET /things", "parameter query.order: enum", '["asc", "desc"]', '["asc", "desc", "random"]')]),
    ("bound change", lambda d: _param(d, "/things", "get", "limit")["schema"].update(maximum=50),
     [("GET /things", "parameter query.limit: maximum", "100", "50")]),
    ("bound removed", lambda d: _param(d, "/things", "get", "name")["schema"].pop("maxLength"),
     [("GET /things", "parameter query.name: maxLength", "64", "none")]),
    ("pattern change", lambda d: _param(d, "/things", "get", "name")["schema"].update(pattern="^[a-z0-9]+$"),
     [("GET /things", "parameter query.name: pattern", '"^[a-z]+$"', '"^[a-z0-9]+$"')]),
    ("default change", lambda d: _param(d, "/things", "get", "limit")["schema"].update(default=10),
     [("GET /things", "parameter query.limit: default", "20", "10")]),
    ("array item enum", lambda d: _param(d, "/things", "get", "tags").update(
        schema={"type": "array", "items": {"type": "string", "enum": ["red"]}}),
     [("GET /things", "parameter query.tags: items enum", '["blue", "red"]', '["red"]')]),
    ("array item type", lambda d: _param(d, "/things", "get", "tags").update(
        schema={"type": "array", "items": {"type": "integer"}}),
     [("GET /things", "parameter query.tags: items type", "string", "integer"),
      ("GET /things", "parameter query.tags: items enum", '["blue", "red"]', "none")]),
    ("path parameter renamed", _rename_path_parameter,
     [("GET /things/{thing_id}", "parameter path.thing_id: name", "thing_id", "id"),
      ("DELETE /things/{thing_id}", "parameter path.thing_id: name", "thing_id", "id")]),
    ("request body missing", lambda d: _op(d, "/things", "post").pop("requestBody"),
     [("POST /things", "requestBody", "application/json", "absent")]),
    ("request body optional", lambda d: d["components"]["requestBodies"]["NewThing"].update(required=False),
     [("POST /things", "requestBody: required", "true", "false")]),
    ("body field type", lambda d: d["components"]["schemas"]["NewItem"]["properties"]["size"].update(type="string"),
     [("POST /things", "requestBody application/json: property size type", "integer", "string")]),
    ("body required list", lambda d: d["components"]["schemas"]["NewItem"]["required"].append("size"),
     [("POST /things", "requestBody application/json: required", "-", "size")]),
    ("body field missing", lambda d: d["components"]["schemas"]["NewItem"]["properties"].pop("labels"),
     [("POST /things", "requestBody application/json: property labels", "array<string>", "absent")]),
    ("body exclusive bound", lambda d: d["components"]["schemas"]["NewItem"]["properties"]["size"].update(
        exclusiveMinimum=1),
     [("POST /things", "requestBody application/json: property size exclusiveMinimum", "0", "1")]),
    ("response code", lambda d: _op(d, "/things", "post")["responses"].update(
        {"409": {"description": "conflict", "content": {"application/json": {"schema": {"type": "object"}}}}}),
     [("POST /things", "response 409", "absent", "application/json")]),
    ("response content type", lambda d: _op(d, "/stats", "get")["responses"]["200"]["content"].pop(
        "text/csv; charset=utf-8"),
     [("GET /stats", "response 200 text/csv", "present", "absent")]),
    ("top-level property type", lambda d: d["components"]["schemas"]["Page"]["properties"].update(
        next_page={"anyOf": [{"type": "integer"}, {"type": "null"}]}),
     [("GET /things", "response 200 application/json: property next_page type", "string", "integer")]),
    ("top-level property nullability", lambda d: d["components"]["schemas"]["Page"]["properties"].update(
        next_page={"type": "string"}),
     [("GET /things", "response 200 application/json: property next_page nullable", "true", "false")]),
    ("top-level property added", lambda d: d["components"]["schemas"]["Page"]["properties"].update(
        has_more={"type": "boolean"}),
     [("GET /things", "response 200 application/json: property has_more", "absent", "boolean")]),
    ("array response item property", lambda d: d["components"]["schemas"]["StatsRow"]["properties"]["count"].update(
        type="number"),
     [("GET /stats", "response 200 application/json: items property count type", "integer", "number")]),
]


@pytest.mark.parametrize("mutate, expected", [pytest.param(m, e, id=name) for name, m, e in CASES])
def test_one_change_is_found_where_it_is(ours: dict, upstream: dict, mutate: Mutation,
                                         expected: list[tuple[str, str, str, str]]) -> None:
    mutate(upstream)
    found = [(d.operation, d.where, d.ours, d.upstream) for d in compare(ours, upstream)]
    assert found == expected


def test_a_difference_names_its_operation_and_aspect(ours: dict, upstream: dict) -> None:
    _param(upstream, "/things", "get", "limit")["schema"]["maximum"] = 50
    assert compare(ours, upstream) == [Difference(
        operation="GET /things", operation_id="list-things", aspect="parameter",
        where="parameter query.limit: maximum", ours="100", upstream="50")]


def test_the_same_changes_are_found_between_two_3_0_documents(ours: dict) -> None:
    theirs = copy.deepcopy(ours)
    _param(theirs, "/things", "get", "limit")["required"] = True
    theirs["components"]["schemas"]["NewThing"]["properties"]["size"]["type"] = "string"
    del theirs["paths"]["/stats"]
    assert [(d.operation, d.where) for d in compare(ours, theirs)] == [
        ("GET /things", "parameter query.limit: required"),
        ("POST /things", "requestBody application/json: property size type"),
        ("GET /stats", "operation"),
    ]


def test_descriptions_examples_and_extensions_are_ignored(ours: dict, upstream: dict) -> None:
    _op(upstream, "/things", "get").update(description="changed", summary="changed", **{"x-anything": 1})
    _param(upstream, "/things", "get", "limit").update(description="changed", example=3)
    upstream["components"]["schemas"]["Page"]["properties"]["total"].update(
        description="changed", examples=[1], title="Total", **{"x-stainless-const": True})
    assert compare(ours, upstream) == []


# -------------------------------------------------------------------- nullable spellings

def _schema(schema: dict, components: dict | None = None) -> dict[str, str]:
    return facets(Schema.of(Document({"components": {"schemas": components or {}}}), schema))


NULLABLE_STRING = {"type": "string", "nullable": True}


@pytest.mark.parametrize("spelling", [
    pytest.param({"type": ["string", "null"]}, id="type list"),
    pytest.param({"type": ["null", "string"]}, id="type list, null first"),
    pytest.param({"anyOf": [{"type": "string"}, {"type": "null"}]}, id="anyOf"),
    pytest.param({"oneOf": [{"type": "null"}, {"type": "string"}]}, id="oneOf"),
    pytest.param({"anyOf": [{"$ref": "#/components/schemas/S"}, {"$ref": "#/components/schemas/Null"}]},
                 id="anyOf of refs"),
])
def test_3_1_null_spellings_equal_3_0_nullable(spelling: dict) -> None:
    components = {"S": {"type": "string"}, "Null": {"type": "null"}}
    assert _schema(spelling, components) == _schema(NULLABLE_STRING)


def test_a_nullable_reference_is_the_same_in_both_spellings() -> None:
    components = {"Obj": {"type": "object", "properties": {"a": {"type": "integer"}}}}
    spelled_3_0 = {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Obj"}]}
    spelled_3_1 = {"anyOf": [{"$ref": "#/components/schemas/Obj"}, {"type": "null"}]}
    assert _schema(spelled_3_0, components) == _schema(spelled_3_1, components) == {
        "type": "object", "nullable": "true"}


def test_null_in_an_enum_is_nullability_not_a_value() -> None:
    assert _schema({"type": ["string", "null"], "enum": ["a", "b", None]}) == \
        _schema({"type": "string", "enum": ["b", "a"], "nullable": True})


def test_nullable_and_not_nullable_differ() -> None:
    assert _schema({"type": "string"})["nullable"] == "false"
    assert _schema({"anyOf": [{"type": "string"}, {"type": "null"}]})["nullable"] == "true"


def test_exclusive_bounds_3_0_and_3_1_spellings_agree() -> None:
    assert _schema({"type": "integer", "minimum": 0, "exclusiveMinimum": True}) == \
        _schema({"type": "integer", "exclusiveMinimum": 0})


def test_values_compare_as_json_true_is_not_1() -> None:
    assert _schema({"type": "integer", "default": 1.0}) == _schema({"type": "integer", "default": 1})
    assert _schema({"default": True}) != _schema({"default": 1})


# -------------------------------------------------------------------- references

def _api(schemas: dict, response_schema: dict) -> dict:
    return {"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "x", "responses": {
        "200": {"description": "", "content": {"application/json": {"schema": response_schema}}}}}}},
        "components": {"schemas": schemas}}


def test_a_reference_loop_terminates() -> None:
    schemas = {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}
    doc = _api(schemas, {"$ref": "#/components/schemas/A"})
    assert compare(doc, copy.deepcopy(doc)) == []
    assert _schema({"$ref": "#/components/schemas/A"}, schemas)["type"] == "recursive"


def test_a_self_recursive_array_terminates() -> None:
    schemas = {"L": {"type": "array", "items": {"$ref": "#/components/schemas/L"}}}
    found = _schema({"$ref": "#/components/schemas/L"}, schemas)
    assert (found["type"], found["items type"]) == ("array", "recursive")


def test_an_all_of_loop_terminates() -> None:
    schemas = {"A": {"allOf": [{"$ref": "#/components/schemas/A"}], "properties": {"x": {"type": "string"}}}}
    doc = _api(schemas, {"$ref": "#/components/schemas/A"})
    assert compare(doc, copy.deepcopy(doc)) == []


def test_a_difference_inside_a_recursive_schema_is_still_found(ours: dict, upstream: dict) -> None:
    upstream["components"]["schemas"]["Item"]["properties"]["children"] = {"type": "string"}
    assert [(d.operation, d.where, d.ours, d.upstream) for d in compare(ours, upstream)] == [
        ("POST /things", "response 201 application/json: property children type", "array", "string"),
        ("POST /things", "response 201 application/json: property children items type", "object", "none"),
        ("POST /things", "response 201 application/json: property children items nullable", "false", "none"),
        ("GET /things/{thing_id}", "response 200 application/json: property children type", "array", "string"),
        ("GET /things/{thing_id}", "response 200 application/json: property children items type", "object", "none"),
        ("GET /things/{thing_id}", "response 200 application/json: property children items nullable", "false",
         "none"),
    ]


def test_a_parameter_reference_loop_is_skipped_not_fatal() -> None:
    doc = {"openapi": "3.0.3", "paths": {"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/P"}],
                                                       "responses": {}}}},
           "components": {"parameters": {"P": {"$ref": "#/components/parameters/Q"},
                                         "Q": {"$ref": "#/components/parameters/P"}}}}
    assert normalise(doc).operations[("GET", "/x")].parameters == {}


def test_references_to_other_documents_compare_by_address() -> None:
    assert _schema({"$ref": "other.yaml#/X"})["type"] == "unresolved other.yaml#/X"
    assert _schema({"$ref": "#/components/schemas/Missing"})["type"] == "unresolved #/components/schemas/Missing"


# -------------------------------------------------------------------- size

def test_a_large_cyclic_document_compares_equal_to_itself() -> None:
    """The InvokeAI document is 2 MB with ~130 operations and ~540 schemas; this is bigger, and its
    schemas refer to each other in cycles. (How long it takes is not asserted: timings belong to
    `make bench`, a wall-clock bound fails on a loaded machine.)"""
    schemas = {f"S{i}": {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string"}, "next": {"anyOf": [{"$ref": f"#/components/schemas/S{(i + 1) % 600}"},
                                                    {"type": "null"}]},
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/S{(i * 7) % 600}"}}}}
        for i in range(600)}
    paths = {f"/r{i}/{{id}}": {"get": {
        "operationId": f"op{i}",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "q", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
        "responses": {"200": {"description": "", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/S{i % 600}"}}}}}}} for i in range(2000)}
    doc = {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}
    assert compare(doc, copy.deepcopy(doc)) == []
