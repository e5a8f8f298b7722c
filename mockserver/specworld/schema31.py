"""OpenAPI 3.1 schemas (JSON Schema 2020-12) rewritten into the OpenAPI 3.0 dialect the engine's
translator, validators and example generator read, in place, once at load.

What changes: `type: [T, "null"]` becomes `type: T` + `nullable`; several types become `anyOf`;
`const` an `enum` of one; a `$ref` with sibling keywords an `allOf` (3.0 would ignore them);
`examples: [...]` the first as `example`; `$defs` are kept (references into them still resolve,
being plain JSON pointers). Only schema positions are visited: example values and defaults are data.
"""

from __future__ import annotations

import typing as t

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_ONE = ("items", "not", "additionalProperties", "contains", "propertyNames", "if", "then", "else",
                  "unevaluatedProperties", "unevaluatedItems", "additionalItems")
_SUBSCHEMA_LISTS = ("allOf", "oneOf", "anyOf", "prefixItems")


def downgrade_document(root: dict[str, t.Any]) -> None:
    """Every schema of a 3.1 document, wherever OpenAPI puts one, in the 3.0 dialect."""
    seen: set[int] = set()
    for schema in document_schemas(root):
        downgrade_schema(schema, seen)


def document_schemas(root: dict[str, t.Any]) -> t.Iterator[dict[str, t.Any]]:
    """The outermost schemas of a document: `components/schemas` and every `schema` wherever
    OpenAPI puts one (parameters, media types, ...); example values and defaults are not entered."""
    yield from (root.get("components") or {}).get("schemas", {}).values()
    stack: list[t.Any] = [value for key, value in root.items() if key not in ("components",)]
    stack.extend(value for key, value in (root.get("components") or {}).items() if key != "schemas")
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "schema" and isinstance(value, dict):
                    yield value
                elif key not in ("example", "examples", "default", "enum", "const"):
                    stack.append(value)


def downgrade_schema(schema: t.Any, seen: set[int] | None = None) -> None:
    seen = set() if seen is None else seen
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        _downgrade_keywords(node)
        for key in _SUBSCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend(node[key].values())
        for key in _SUBSCHEMA_ONE:
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in _SUBSCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend(node[key])


def _downgrade_keywords(node: dict[str, t.Any]) -> None:
    if "$ref" in node and len(node) > 1:
        siblings = {k: node.pop(k) for k in list(node) if k not in ("$ref", "description", "summary")}
        if siblings:
            ref = node.pop("$ref")
            node.update(siblings)
            node["allOf"] = [{"$ref": ref}, *node.get("allOf", [])]
    declared = node.get("type")
    if isinstance(declared, list):
        kinds = [k for k in declared if k != "null"]
        if len(kinds) < len(declared):
            node["nullable"] = True
        if len(kinds) == 1:
            node["type"] = kinds[0]
        else:
            del node["type"]
            if kinds:
                node["anyOf"] = [{"type": k} for k in kinds]
            elif node.pop("nullable", False):
                node["enum"] = [None]
                node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples and "example" not in node:
            node["example"] = examples[0]
    if "prefixItems" in node:
        node.setdefault("items", {})
        node.pop("prefixItems")
    any_of = node.get("anyOf") or node.get("oneOf")
    if isinstance(any_of, list) and any(isinstance(b, dict) and b.get("type") == "null" and len(b) == 1
                                        for b in any_of):
        # `anyOf: [X, {type: null}]` is 3.1's nullable
        key = "anyOf" if "anyOf" in node else "oneOf"
        branches = [b for b in any_of if not (isinstance(b, dict) and b.get("type") == "null" and len(b) == 1)]
        node["nullable"] = True
        node[key] = branches
        if not branches:
            del node[key]
