"""The node templates InvokeAI's web UI builds from an OpenAPI document, computed in Python.

A port of what the UI's `parseSchema` (features/nodes/util/schema/) reads: every component schema
with `class: invocation` (but `graph` and `linear_ui_output`), its class keys, each input property
that has a `field_kind` (but the reserved `id`, `type`, `use_cache`, iterate's `index`, and fields
of type `IsIntermediate`), the field type it parses from the property, the keys its template
builders copy, and the output schema its `output.$ref` names. Two documents that give equal
templates give the UI the same nodes.
"""

from __future__ import annotations

import typing as t

RESERVED_INPUTS = ("id", "type", "use_cache")
DENYLIST = ("graph", "linear_ui_output")
PRIMITIVES = {"integer": "IntegerField", "number": "FloatField", "string": "StringField", "boolean": "BooleanField"}
# What the input template builders copy from a property (base keys, then defaults and bounds).
INPUT_KEYS = ("input", "ui_hidden", "ui_component", "ui_type", "ui_order", "ui_choice_labels", "orig_required",
              "ui_model_base", "ui_model_type", "ui_model_variant", "ui_model_format", "ui_model_provider_id",
              "title", "description", "default", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
              "exclusiveMinimum", "minLength", "maxLength", "minItems", "maxItems", "enum", "const", "anyOf", "items")
OUTPUT_KEYS = ("title", "description", "ui_hidden", "ui_type", "ui_order")
BATCH_INPUTS = {("float_batch", "floats"), ("integer_batch", "integers"), ("string_batch", "strings"),
                ("image_batch", "images")}
BATCH_OUTPUTS = {("float_generator", "floats"), ("integer_generator", "integers"),
                 ("string_generator", "strings"), ("image_generator", "images")}


class Unparsable(Exception):
    pass


def _ref_name(ref: t.Mapping[str, t.Any]) -> str:
    return ref["$ref"].split("/")[-1]


def parse_field_type(schema: t.Mapping[str, t.Any]) -> dict:
    """The UI's parseFieldType: name and cardinality of a property's type."""
    if "$ref" in schema and len(schema) == 1:
        return {"name": _ref_name(schema), "cardinality": "SINGLE"}
    if schema.get("const"):
        return {"name": "EnumField", "cardinality": "SINGLE"}
    if "type" not in schema:
        if "$ref" in schema:
            return {"name": _ref_name(schema), "cardinality": "SINGLE"}
        if schema.get("allOf") and "$ref" in schema["allOf"][0]:
            return {"name": _ref_name(schema["allOf"][0]), "cardinality": "SINGLE"}
        if "anyOf" in schema:
            options = [o for o in schema["anyOf"] if o.get("type") != "null"]
            if len(options) == 1:
                return parse_field_type(options[0])
            if len(options) != 2:
                raise Unparsable(f"union of {len(options)}")
            first, second = options
            if first.get("type") == "array":
                first, second = first.get("items", {}), second
            elif second.get("type") == "array":
                second = second.get("items", {})
            else:
                raise Unparsable("union without a list")
            if "$ref" in first and "$ref" in second:
                names = (_ref_name(first), _ref_name(second))
            else:
                names = (first.get("type"), second.get("type"))
            if names[0] and names[0] == names[1]:
                return {"name": PRIMITIVES.get(names[0], names[0]), "cardinality": "SINGLE_OR_COLLECTION"}
            raise Unparsable("mismatched union")
        raise Unparsable("no type")
    if "enum" in schema:
        return {"name": "EnumField", "cardinality": "SINGLE"}
    if schema["type"] == "array":
        items = schema.get("items", {})
        if "$ref" in items:
            return {"name": _ref_name(items), "cardinality": "COLLECTION"}
        if items.get("type") in PRIMITIVES:
            return {"name": PRIMITIVES[items["type"]], "cardinality": "COLLECTION"}
        raise Unparsable("array item type")
    if schema["type"] in PRIMITIVES:
        return {"name": PRIMITIVES[schema["type"]], "cardinality": "SINGLE"}
    raise Unparsable(f"type {schema['type']}")


def _field_type(prop: t.Mapping[str, t.Any]) -> dict | None:
    if prop.get("ui_type"):
        cardinality = "COLLECTION" if prop["ui_type"] == "CollectionField" else "SINGLE"
        return {"name": prop["ui_type"], "cardinality": cardinality}
    try:
        return parse_field_type(prop)
    except Unparsable:
        return None


def _inputs(node_type: str, schema: t.Mapping[str, t.Any]) -> dict:
    inputs = {}
    for name, prop in schema["properties"].items():
        if name in RESERVED_INPUTS or (node_type == "iterate" and name == "index") or "field_kind" not in prop:
            continue
        field_type = _field_type(prop)
        if field_type is None or field_type["name"] == "IsIntermediate":
            continue
        field_type["batch"] = (node_type, name) in BATCH_INPUTS
        inputs[name] = {"type": field_type, **{key: prop[key] for key in INPUT_KEYS if key in prop}}
    return inputs


def _outputs(node_type: str, schema: t.Mapping[str, t.Any]) -> dict:
    outputs = {}
    for name, prop in schema["properties"].items():
        if name == "type" or "field_kind" not in prop:
            continue
        field_type = _field_type(prop)
        if field_type is None:
            continue
        field_type["batch"] = (node_type, name) in BATCH_OUTPUTS
        outputs[name] = {"type": field_type, **{key: prop[key] for key in OUTPUT_KEYS if key in prop}}
    return outputs


def templates(document: t.Mapping[str, t.Any]) -> dict[str, dict]:
    """Every node template the UI builds from `document`, by node type."""
    schemas = document.get("components", {}).get("schemas", {})
    built = {}
    for schema in schemas.values():
        if schema.get("class") != "invocation":
            continue
        node_type = schema["properties"]["type"]["default"]
        if node_type in DENYLIST:
            continue
        output = schemas.get(_ref_name(schema["output"]))
        if output is None or output.get("class") != "output":
            continue
        built[node_type] = {
            "title": schema["title"].replace("Invocation", "", 1), "type": node_type, "version": schema.get("version"),
            "tags": schema.get("tags", []), "description": schema.get("description", ""),
            "outputType": output["properties"]["type"]["default"], "inputs": _inputs(node_type, schema),
            "outputs": _outputs(node_type, output), "useCache": schema["properties"]["use_cache"].get("default"),
            "nodePack": schema.get("node_pack"), "classification": schema.get("classification"),
            "category": schema.get("category", "other"),
        }
    return built
