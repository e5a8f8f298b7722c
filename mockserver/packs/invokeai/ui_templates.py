"""The node templates InvokeAI's web UI builds from `/openapi.json`, reduced to what a saved
workflow depends on: which inputs a node of each type carries, the value a fresh node gets for
each, and which outputs an edge may leave from.

The rules follow the 6.8.1 frontend (`parseSchema`, `parseFieldType`, `buildFieldInputTemplate`,
`buildFieldInputInstance`), so a workflow built or checked with them is one the editor loads
without "Missing field" and draws with every wire. Pure functions over an OpenAPI document; the
maintainer tool that writes the default workflows and the tests that check them both use them.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

# The UI never shows these as inputs: node attributes, and the two fields it handles itself.
_RESERVED_INPUTS = frozenset({"id", "type", "use_cache"})
_RESERVED_PER_TYPE = {"collect": "collection", "iterate": "index"}
_RESERVED_FIELD_TYPES = frozenset({"IsIntermediate"})
_PRIMITIVES = {"integer": "IntegerField", "number": "FloatField", "string": "StringField", "boolean": "BooleanField"}

# Field types whose value the editor keeps in the node (the others are wires only).
STATEFUL_TYPES = frozenset({
    "IntegerField", "FloatField", "StringField", "BooleanField", "EnumField", "ImageField", "BoardField",
    "ModelIdentifierField", "ColorField", "SchedulerField", "FloatGeneratorField", "IntegerGeneratorField",
    "StringGeneratorField", "ImageGeneratorField"})

_ABSENT: t.Final = object()  # a value the editor leaves undefined (not written to JSON)
# What a fresh field holds when the schema gives no default (the UI's fallback map).
_FALLBACK = {"EnumField": "", "BooleanField": False, "ColorField": {"r": 0, "g": 0, "b": 0, "a": 1},
             "FloatField": 0, "IntegerField": 0, "SchedulerField": "dpmpp_3m_k", "StringField": ""}


class UnparsableField(ValueError):
    """A field schema the UI cannot turn into a field type: it leaves the field out of the template."""


@dataclass(frozen=True)
class FieldType:
    name: str
    cardinality: str  # "SINGLE" | "COLLECTION" | "SINGLE_OR_COLLECTION"


@dataclass(frozen=True)
class InputTemplate:
    name: str
    type: FieldType
    description: str
    initial: t.Any  # the value a freshly added node holds, or ABSENT

    @property
    def has_value(self) -> bool:
        return self.initial is not _ABSENT


@dataclass(frozen=True)
class NodeTemplate:
    type: str
    version: str
    node_pack: str
    use_cache: bool
    inputs: t.Mapping[str, InputTemplate]
    outputs: t.Mapping[str, FieldType]


def _ref_name(ref: t.Mapping) -> str:
    return ref["$ref"].rsplit("/", 1)[-1]


def _two_way_union(options: list) -> FieldType:
    """`T | list[T]`: the only two-member union the UI accepts."""
    if len(options) != 2:
        raise UnparsableField(f"union of {len(options)} types")
    array, single = (options[0], options[1]) if options[0].get("type") == "array" else (options[1], options[0])
    if array.get("type") != "array" or "items" not in array:
        raise UnparsableField("union without a list member")
    items = array["items"]
    if "$ref" in items and "$ref" in single:
        first, second = _ref_name(items), _ref_name(single)
    elif "$ref" not in items and "$ref" not in single and single.get("type") != "array":
        first, second = items.get("type"), single.get("type")
    else:
        raise UnparsableField("mismatched union")
    if not first or first != second:
        raise UnparsableField("mismatched union")
    return FieldType(_PRIMITIVES.get(first, first), "SINGLE_OR_COLLECTION")


def parse_field_type(schema: t.Mapping) -> FieldType:
    """The field type the UI reads from one property's schema (`parseFieldType`)."""
    if "$ref" in schema:
        return FieldType(_ref_name(schema), "SINGLE")
    if schema.get("const") is not None:
        return FieldType("EnumField", "SINGLE")
    kind = schema.get("type")
    if not kind:
        if schema.get("allOf"):
            if "$ref" in schema["allOf"][0]:
                return FieldType(_ref_name(schema["allOf"][0]), "SINGLE")
            raise UnparsableField("allOf without a reference")
        if schema.get("anyOf"):
            options = [o for o in schema["anyOf"] if o.get("type") != "null"]
            if len(options) == 1:
                return parse_field_type(options[0])
            return _two_way_union(options)
        raise UnparsableField("no type")
    if schema.get("enum"):
        return FieldType("EnumField", "SINGLE")
    if kind == "array":
        items = schema.get("items") or {}
        if "$ref" in items:
            return FieldType(_ref_name(items), "COLLECTION")
        item_type = items.get("type")
        name = _PRIMITIVES.get(item_type) if isinstance(item_type, str) else None
        if name is None:
            raise UnparsableField("list of unsupported items")
        return FieldType(name, "COLLECTION")
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return FieldType(_PRIMITIVES[kind], "SINGLE")
    raise UnparsableField(f"unsupported type {kind!r}")


def _field_type(schema: t.Mapping) -> FieldType:
    ui_type = schema.get("ui_type")
    if ui_type:
        return FieldType(ui_type, "COLLECTION" if ui_type == "CollectionField" else "SINGLE")
    return parse_field_type(schema)


def _enum_options(schema: t.Mapping) -> list:
    if schema.get("anyOf"):
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if len(options) != 1 or "$ref" in options[0]:
            return []
        return [options[0]["const"]] if options[0].get("const") is not None else list(options[0].get("enum", []))
    if schema.get("const") is not None:
        return [schema["const"]]
    return list(schema.get("enum", []))


def _template_default(schema: t.Mapping, field_type: FieldType) -> t.Any:
    """The template's default (`buildFieldInputTemplate`): the schema's, else the type's own."""
    default = schema.get("default")
    if field_type.name not in STATEFUL_TYPES:
        return None
    if default is not None:
        return default
    if field_type.cardinality == "COLLECTION" and field_type.name in (
            "IntegerField", "FloatField", "StringField", "ImageField"):
        return [] if schema.get("orig_required") else None
    if field_type.name == "EnumField":
        options = _enum_options(schema)
        if not options:
            raise UnparsableField("enum without options")
        return options[0]
    return {"IntegerField": 0, "FloatField": 0, "StringField": "", "BooleanField": False, "BoardField": "auto",
            "ColorField": {"r": 127, "g": 127, "b": 127, "a": 255},
            "SchedulerField": "dpmpp_3m_k"}.get(field_type.name)


def _initial_value(schema: t.Mapping, field_type: FieldType) -> t.Any:
    """What `buildFieldInputInstance` puts in a fresh node: the template default, else a fallback."""
    default = _template_default(schema, field_type)
    if default is not None:
        return default
    return _FALLBACK.get(field_type.name, _ABSENT) if field_type.name in STATEFUL_TYPES else _ABSENT


def _inputs(node_type: str, schema: t.Mapping) -> dict[str, InputTemplate]:
    inputs = {}
    for name, prop in schema.get("properties", {}).items():
        if name in _RESERVED_INPUTS or _RESERVED_PER_TYPE.get(node_type) == name or "field_kind" not in prop:
            continue
        try:
            field_type = _field_type(prop)
            if field_type.name in _RESERVED_FIELD_TYPES:
                continue
            inputs[name] = InputTemplate(name, field_type, prop.get("description", ""),
                                         _initial_value(prop, field_type))
        except UnparsableField:
            continue  # the UI logs and skips such a field
    return inputs


def _outputs(schema: t.Mapping) -> dict[str, FieldType]:
    outputs = {}
    for name, prop in schema.get("properties", {}).items():
        if name == "type" or "field_kind" not in prop:
            continue
        try:
            outputs[name] = _field_type(prop)
        except UnparsableField:
            continue
    return outputs


def node_templates(openapi: t.Mapping) -> dict[str, NodeTemplate]:
    """Every invocation template the UI builds from an InvokeAI OpenAPI document, by node type."""
    schemas = openapi.get("components", {}).get("schemas", {})
    templates = {}
    for schema in schemas.values():
        if schema.get("class") != "invocation":
            continue
        node_type = schema["properties"]["type"]["default"]
        output = schemas.get(_ref_name(schema["output"]), {})
        templates[node_type] = NodeTemplate(
            type=node_type, version=schema["version"], node_pack=schema.get("node_pack", "invokeai"),
            use_cache=schema["properties"]["use_cache"]["default"], inputs=_inputs(node_type, schema),
            outputs=_outputs(output))
    return templates


def fresh_input(template: InputTemplate, *, label: str = "", value: t.Any = _ABSENT) -> dict:
    """One input as the editor saves it: name, label, description and (for stateful fields) a value."""
    field = {"name": template.name, "label": label, "description": ""}
    value = template.initial if value is _ABSENT else value
    if value is not _ABSENT:
        field["value"] = value
    return field
