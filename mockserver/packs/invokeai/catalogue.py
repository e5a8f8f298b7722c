"""InvokeAI 6.8.1's node catalogue: every invocation type, its input fields, and its output, read
from `fixtures/invokeai/catalogue/` (written once from the real server's OpenAPI document by
`tools/invokeai_catalogue.py`, then kept by hand).

One source of truth for the pack: the served `/openapi.json` rebuilds each invocation's schema from
it, enqueue validates node fields against it, and execution looks up output types in it.
"""

from __future__ import annotations

import functools
import json
import typing as t
from dataclasses import dataclass
from pathlib import Path

from mockserver.engine.resources import fixtures_dir, read_yaml


class _Missing:
    """A field without a default (distinct from a default of None)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: t.Final = _Missing()
NODE_ATTRIBUTES: t.Final = ("id", "is_intermediate", "use_cache", "type")
MARKER: t.Final = "@node_attribute"  # how the data files write a node attribute's boilerplate schema
SCHEMA_REF: t.Final = "#/components/schemas/"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type_name: str  # "integer", "float", "string", "boolean", "enum", "ImageField", "list[ImageField]", ...
    schema: t.Mapping[str, t.Any]  # as the served /openapi.json shows it
    default: t.Any  # or MISSING
    required: bool  # pydantic-required: must be given directly in the node (never fed by an edge)
    input: str  # "any" | "connection" | "direct" (outputs: "any")
    orig_required: bool = False  # the invocation needs a value (direct or by edge) to run
    kind: str = "any"  # for edge compatibility: a JSON type or one schema name, "any" for the rest

    @property
    def ui_type(self) -> str | None:
        return self.schema.get("ui_type")


@dataclass(frozen=True)
class NodeSpec:
    type: str
    schema_name: str
    title: str
    category: str
    tags: tuple[str, ...]
    version: str
    classification: str
    output_type: str
    inputs: t.Mapping[str, FieldSpec]  # excludes id/type/is_intermediate/use_cache
    use_cache: bool = True  # the node attribute's default
    description: str = ""
    node_pack: str = "invokeai"
    field_order: tuple[str, ...] = ()  # every property in the document's order, node attributes included
    extra_allowed: bool = False  # keeps keys it does not declare (pydantic's extra="allow": core_metadata)


@dataclass(frozen=True)
class OutputSpec:
    type: str
    schema_name: str
    fields: t.Mapping[str, FieldSpec]  # excludes "type"


class Catalogue:
    """The catalogue's data with typed access, and each component schema rebuilt as served."""

    def __init__(self, nodes: dict[str, dict], outputs: dict[str, dict], types: dict[str, dict],
                 tag_order: list[str], extras: dict[str, dict] | None = None) -> None:
        self._raw_nodes = nodes
        self._raw_outputs = outputs
        self.types: dict[str, dict] = types  # the field types' component schemas (ImageField, ...)
        # The real document's other schemas no operation names (event models, UI enums), their
        # unions of every node / every output written "@invocations" / "@outputs".
        self.extras: dict[str, dict] = extras or {}
        self.order: list[str] = tag_order  # as the real server lists them in union_tag_invalid
        self._output_by_schema = {entry["schema"]: key for key, entry in outputs.items()}
        self._nodes = {key: _node_spec(key, entry, self._output_by_schema[entry["output"]])
                       for key, entry in nodes.items()}
        self._outputs = {key: _output_spec(key, entry) for key, entry in outputs.items()}

    # -- the interface every part of the pack uses ---------------------------------------

    def node(self, type: str) -> NodeSpec | None:
        return self._nodes.get(type) if isinstance(type, str) else None

    def output(self, type: str) -> OutputSpec:
        return self._outputs[type]

    def node_types(self) -> t.Sequence[str]:
        return tuple(self._nodes)

    def output_types(self) -> t.Sequence[str]:
        return tuple(self._outputs)

    def output_for(self, node_type: str) -> OutputSpec:
        return self._outputs[self._nodes[node_type].output_type]

    # -- component schemas, as the served document shows them -----------------------------

    def node_schema(self, type: str) -> dict:
        """The invocation's component schema, rebuilt key for key as the real document has it."""
        entry = self._raw_nodes[type]
        schema: dict[str, t.Any] = {}
        for key, value in entry.items():
            if key in ("schema", "output", "use_cache", "fields", "required"):
                continue
            schema[key] = value
        properties = {name: (_node_attribute(name, type, entry["use_cache"]) if value == MARKER else value)
                      for name, value in entry["fields"].items()}
        ordered = {"category": None, "class": "invocation", "classification": None, "description": None,
                   "node_pack": None, "properties": properties, "required": entry.get("required", ["type", "id"]),
                   "tags": None, "title": None, "type": "object", "version": None}
        rebuilt = {key: schema.get(key, value) for key, value in ordered.items()
                   if key in schema or value is not None}
        rebuilt.update({key: value for key, value in schema.items() if key not in rebuilt})
        rebuilt["output"] = {"$ref": SCHEMA_REF + entry["output"]}
        return _sorted_like_pydantic(rebuilt)

    def output_schema(self, type: str) -> dict:
        entry = self._raw_outputs[type]
        properties = {name: (_output_type_attribute(type) if value == MARKER else value)
                      for name, value in entry["fields"].items()}
        schema = {"class": "output", **{k: v for k, v in entry.items() if k not in ("schema", "fields")},
                  "properties": properties, "type": "object"}
        return _sorted_like_pydantic(schema)

    def schema_name(self, type: str) -> str:
        return self._raw_nodes[type]["schema"]

    def output_schema_name(self, type: str) -> str:
        return self._raw_outputs[type]["schema"]


# Key order of the real document's schemas: pydantic writes them sorted, then InvokeAI appends
# `output` to invocations.
_SCHEMA_KEY_ORDER = ("additionalProperties", "category", "class", "classification", "description", "node_pack",
                     "properties", "required", "tags", "title", "type", "version", "output")


def _sorted_like_pydantic(schema: dict) -> dict:
    known = [key for key in _SCHEMA_KEY_ORDER if key in schema]
    return {key: schema[key] for key in known + [k for k in schema if k not in _SCHEMA_KEY_ORDER]}


def _node_attribute(name: str, node_type: str, use_cache: bool) -> dict:
    if name == "id":
        return {"description": "The id of this instance of an invocation. Must be unique among all instances of "
                               "invocations.", "field_kind": "node_attribute", "title": "Id", "type": "string"}
    if name == "is_intermediate":
        return {"default": False, "description": "Whether or not this is an intermediate invocation.",
                "field_kind": "node_attribute", "input": "direct", "orig_required": True, "title": "Is Intermediate",
                "type": "boolean", "ui_hidden": False, "ui_type": "IsIntermediate"}
    if name == "use_cache":
        return {"default": use_cache, "description": "Whether or not to use the cache", "field_kind": "node_attribute",
                "title": "Use Cache", "type": "boolean"}
    return {"const": node_type, "default": node_type, "field_kind": "node_attribute", "title": "type",
            "type": "string"}


def _output_type_attribute(output_type: str) -> dict:
    return {"const": output_type, "default": output_type, "field_kind": "node_attribute", "title": "type",
            "type": "string"}


def _node_spec(key: str, entry: dict, output_type: str) -> NodeSpec:
    required = set(entry.get("required", ()))
    inputs = {name: _field_spec(name, schema, name in required)
              for name, schema in entry["fields"].items() if schema != MARKER}
    return NodeSpec(type=key, schema_name=entry["schema"], title=entry.get("title", entry["schema"]),
                    category=entry.get("category", ""), tags=tuple(entry.get("tags", ())),
                    version=entry.get("version", ""), classification=entry.get("classification", "stable"),
                    output_type=output_type, inputs=inputs, use_cache=entry["use_cache"],
                    description=entry.get("description", ""), node_pack=entry.get("node_pack", "invokeai"),
                    field_order=tuple(entry["fields"]), extra_allowed=entry.get("additionalProperties") is True)


def _output_spec(key: str, entry: dict) -> OutputSpec:
    fields = {name: _field_spec(name, schema, False) for name, schema in entry["fields"].items() if schema != MARKER}
    return OutputSpec(type=key, schema_name=entry["schema"], fields=fields)


def _field_spec(name: str, schema: dict, required: bool) -> FieldSpec:
    return FieldSpec(name=name, type_name=type_name(schema), schema=schema,
                     default=schema.get("default", MISSING), required=required,
                     input=schema.get("input", "any"), orig_required=bool(schema.get("orig_required", False)),
                     kind=edge_kind(schema))


def _without_null(schema: t.Mapping[str, t.Any]) -> list[t.Mapping[str, t.Any]]:
    return [option for option in schema.get("anyOf", [schema]) if option.get("type") != "null"]


def _plain_name(schema: t.Mapping[str, t.Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema or "const" in schema:
        return "enum"
    kind = schema.get("type")
    if kind == "number":
        return "float"
    if kind == "array":
        items = schema.get("items")
        return f"list[{_plain_name(items)}]" if isinstance(items, dict) and items else "list[any]"
    if kind == "object":
        return "dict"
    return str(kind) if kind else "any"


def type_name(schema: t.Mapping[str, t.Any]) -> str:
    """The field's InvokeAI type in short: a JSON type, a schema name, `list[...]`, or a union
    of those joined with ` | ` (None left out: every input may be None until it runs)."""
    names = [_plain_name(option) for option in _without_null(schema)]
    return " | ".join(names) if names else "any"


def edge_kind(schema: t.Mapping[str, t.Any]) -> str:
    """What the real server's edge check compares: a plain type (a JSON type or one schema name);
    lists, unions and the like are `any` (let through, as the mock does not model them)."""
    options = _without_null(schema)
    if len(options) != 1:
        return "any"
    option = options[0]
    if "$ref" in option:
        return option["$ref"].rsplit("/", 1)[-1]
    kind = option.get("type")
    return kind if kind in ("integer", "number", "string", "boolean") else "any"


def _read_json(path: Path) -> t.Any:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def load_catalogue(folder: Path | None = None) -> Catalogue:
    """The catalogue in `folder` (default: the installed fixtures), parsed once."""
    folder = folder if folder is not None else fixtures_dir() / "invokeai" / "catalogue"
    order = read_yaml(folder / "union_tag_order.yaml")["order"]
    extras = folder / "extras.json"
    return Catalogue(_read_json(folder / "nodes.json"), _read_json(folder / "outputs.json"),
                     _read_json(folder / "types.json"), order, _read_json(extras) if extras.exists() else None)
