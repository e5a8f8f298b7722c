"""Request bodies get their schema defaults, nested and through references, as pydantic fills them."""

from __future__ import annotations

from mockserver.engine.defaults import fill_defaults

SCHEMAS = {
    "Cord": {"type": "object", "required": ["path"], "properties": {
        "path": {"type": "string"}, "stream": {"type": "boolean", "default": False},
        "schema": {"type": "object", "nullable": True, "default": {}},
        "note": {"type": "string", "nullable": True, "default": None}, "free": {"type": "string"}}},
    "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node", "nullable": True},
                                              "depth": {"type": "integer", "default": 1}}},
}
ARGS = {"type": "object", "properties": {
    "cords": {"type": "array", "items": {"$ref": "#/components/schemas/Cord"}},
    "max_instances": {"type": "integer", "default": 1},
    "selector": {"anyOf": [{"type": "object", "properties": {"gpus": {"type": "integer", "default": 1}}},
                           {"type": "string"}]}}}


def test_defaults_are_filled_in_nested_items_and_references() -> None:
    body = fill_defaults({"cords": [{"path": "/a"}, {"path": "/b", "stream": True}], "selector": {}}, ARGS, SCHEMAS)
    assert body == {"cords": [{"path": "/a", "stream": False, "schema": {}, "note": None},
                              {"path": "/b", "stream": True, "schema": {}, "note": None}],
                    "max_instances": 1, "selector": {"gpus": 1}}


def test_given_values_and_fields_without_defaults_are_left_alone() -> None:
    body = fill_defaults({"max_instances": 5, "selector": "any"}, ARGS, SCHEMAS)
    assert body == {"max_instances": 5, "selector": "any"}


def test_a_default_is_a_copy_and_recursion_stops() -> None:
    first = fill_defaults({"cords": [{"path": "/a"}]}, ARGS, SCHEMAS)
    first["cords"][0]["schema"]["x"] = 1
    assert fill_defaults({"cords": [{"path": "/a"}]}, ARGS, SCHEMAS)["cords"][0]["schema"] == {}
    deep = {"child": {"child": {"child": None}}}
    assert fill_defaults(deep, {"$ref": "#/components/schemas/Node"}, SCHEMAS) == {
        "child": {"child": {"child": None, "depth": 1}, "depth": 1}, "depth": 1}


def test_references_are_json_pointers_not_last_segments() -> None:
    # A pointer into a component (its `stream` property's schema) and an escaped name both resolve
    # as pointers; a ref whose last segment merely names a component does not.
    schemas = {**SCHEMAS, "a/b": {"type": "object", "properties": {"level": {"type": "integer", "default": 3}}}}
    schema = {"type": "object", "properties": {
        "flag": {"$ref": "#/components/schemas/Cord/properties/stream"},
        "slashed": {"$ref": "#/components/schemas/a~1b"},
        "elsewhere": {"$ref": "#/definitions/Cord"}}}
    body = fill_defaults({"slashed": {}, "elsewhere": {}}, schema, schemas)
    assert body == {"flag": False, "slashed": {"level": 3}, "elsewhere": {}}


def test_a_schema_without_defaults_is_left_as_sent_and_one_with_them_deep_in_a_cycle_is_filled() -> None:
    schemas = {"Pair": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Pair"},
                                                         "leaf": {"$ref": "#/components/schemas/Leaf"}}},
               "Leaf": {"type": "object", "properties": {"color": {"type": "string", "default": "green"}}},
               "Plain": {"type": "object", "properties": {"n": {"type": "integer"},
                                                          "more": {"type": "array", "items": {"type": "object"}}}}}
    plain = {"n": 1, "more": [{}, {}]}
    assert fill_defaults(plain, {"$ref": "#/components/schemas/Plain"}, schemas) == {"n": 1, "more": [{}, {}]}
    body = fill_defaults({"next": {"next": {"leaf": {}}}}, {"$ref": "#/components/schemas/Pair"}, schemas)
    assert body == {"next": {"next": {"leaf": {"color": "green"}}}}
