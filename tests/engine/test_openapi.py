"""engine/openapi.py: the one `$ref` resolver and OpenAPI -> JSON Schema translator."""

from __future__ import annotations

import jsonschema_rs
import pytest

from mockserver.engine.openapi import RefCycle, deref, follow, lookup, operations, resolve_all, to_json_schema

DOC = {
    "paths": {"/a/{id}": {"get": {"operationId": "getA"}, "parameters": [], "post": {"operationId": "postA"}}},
    "components": {"schemas": {
        "a/b": {"type": "string"},
        "t~x": {"type": "integer"},
        "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}},
        "Loop": {"$ref": "#/components/schemas/Loop"},
        "List": {"type": "array", "items": [{"type": "string"}, {"type": "boolean"}]},
    }},
}


def test_refs_are_json_pointers() -> None:
    assert lookup(DOC, "#/components/schemas/a~1b") == (True, {"type": "string"})
    assert lookup(DOC, "#/components/schemas/t~0x") == (True, {"type": "integer"})
    assert lookup(DOC, "#/components/schemas/t%7E0x") == (True, {"type": "integer"})  # percent-encoded
    assert lookup(DOC, "#/components/schemas/List/items/1") == (True, {"type": "boolean"})
    # Not the last segment's namesake: a pointer that leads nowhere is not found.
    assert lookup(DOC, "#/elsewhere/b") == (False, None)
    assert lookup(DOC, "other.yaml#/components/schemas/Node") == (False, None)


def test_a_reference_loop_is_detected() -> None:
    with pytest.raises(RefCycle):
        follow({"$ref": "#/components/schemas/Loop"}, DOC)
    assert deref({"$ref": "#/components/schemas/Loop"}, DOC) == {}
    assert deref({"$ref": "#/nowhere"}, DOC) == {}


def test_siblings_beside_a_ref_only_when_asked() -> None:
    node = {"$ref": "#/components/schemas/a~1b", "maxLength": 3}
    assert follow(node, DOC)[0] == {"type": "string"}
    assert follow(node, DOC, siblings=True)[0] == {"type": "string", "maxLength": 3}


def test_resolve_all_keeps_recursion_whole() -> None:
    node = resolve_all({"$ref": "#/components/schemas/Node"}, DOC)
    assert node["properties"]["next"] is node  # the same dict: a cycle, not a copy cut at some depth
    validator = jsonschema_rs.Draft4Validator(to_json_schema(node))
    assert validator.is_valid({"next": {"next": {}}})
    assert not validator.is_valid({"next": {"next": 1}})


def test_operations_in_method_order() -> None:
    assert [(path, method) for path, method, _ in operations(DOC)] == [("/a/{id}", "get"), ("/a/{id}", "post")]


def test_translation() -> None:
    schema = {
        "type": "object", "required": ["id", "secret", "example"], "x-internal": True,
        "properties": {
            "id": {"type": "integer", "readOnly": True, "minimum": 0, "exclusiveMinimum": True},
            "secret": {"type": "string", "writeOnly": True},
            "example": {"type": "string", "nullable": True, "enum": ["a"], "example": "a"},
        },
    }
    request = to_json_schema(schema, direction="request")
    assert request["required"] == ["secret", "example"]  # readOnly: not required in requests
    assert to_json_schema(schema, direction="response")["required"] == ["id", "example"]
    assert to_json_schema(schema)["required"] == ["id", "secret", "example"]
    assert "x-internal" not in request
    # A property named like an OpenAPI keyword is a property.
    assert request["properties"]["example"] == {"type": ["string", "null"], "enum": ["a", None]}
    assert request["properties"]["id"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    # 3.1's numeric exclusive bound, in draft 4's spelling.
    assert to_json_schema({"type": "number", "exclusiveMaximum": 5}) == {
        "type": "number", "maximum": 5, "exclusiveMaximum": True}
    assert to_json_schema({"$ref": "#/x", "nullable": True}) == {"anyOf": [{"type": "null"}, {"$ref": "#/x"}]}
