"""Checking a batch at enqueue as the real server does, driven by the node catalogue.

The real server parses `Batch` with pydantic: its `data` (zipped lengths, one item type per datum,
each node field named once), then its `graph`: every node through the union of invocation types
keyed by `type` (`union_tag_not_found`, `union_tag_invalid`), every field of every node as its
schema says (`field_validation`), then the graph's own checks (ids, edges, cycles), and last that
the data names nodes and fields of the graph. Errors are collected as pydantic collects them, at
the locations it reports (`body, batch, graph, nodes, <node id>, <type>, <field>`), and each node
is echoed as the real server keeps it: coerced, defaults filled in, unknown keys dropped, in its
schema's field order.
"""

from __future__ import annotations

import typing as t

from mockserver.engine.issues import Issue, RequestInvalid
from mockserver.packs.invokeai.catalogue import MISSING, Catalogue, NodeSpec
from mockserver.packs.invokeai.field_validation import FieldValidator, Invalid, copy_json

Loc = tuple[t.Any, ...]
ATTRIBUTE_SCHEMAS: dict[str, dict] = {"id": {"type": "string"}, "is_intermediate": {"type": "boolean"},
                                      "use_cache": {"type": "boolean"}}
DATA_LOC: Loc = ("body", "batch", "data")


class GraphChecker:
    """The real server's Graph validation, over one catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.fields = FieldValidator(catalogue.types)

    # -- a batch ------------------------------------------------------------------------------

    def check_batch(self, batch: dict) -> dict:
        """The batch's graph as the real server keeps it, or its 422: data and graph errors
        together (fields in the model's order), then the data's nodes and fields."""
        issues = self.item_issues(batch.get("data")) or self.data_issues(batch.get("data"))
        graph: dict | None = None
        try:
            graph = self.check_graph(batch["graph"], ("body", "batch", "graph"))
        except RequestInvalid as refusal:
            issues.extend(refusal.issues)
        if issues or graph is None:
            raise RequestInvalid(issues)
        problem = self.target_problem(batch.get("data"), graph)
        if problem:
            # A model validator of the whole batch: pydantic shows the batch as given.
            raise RequestInvalid([Issue("value_error", ("body", "batch"), batch, {"error": problem})])
        return graph

    def item_issues(self, data: t.Any) -> list[Issue]:
        """Each data item is a `Union[StrictStr, float, int, ImageField]`: a refused item gets
        every member's error. Accepted items are kept as pydantic keeps them (True is 1.0)."""
        issues: list[Issue] = []
        for i, group in enumerate(data or []):
            for j, datum in enumerate(group):
                items = datum.get("items")
                if not isinstance(items, list):
                    if "items" in datum:
                        issues.append(Issue("list_type", DATA_LOC + (i, j, "items"), items))
                    continue
                for k, item in enumerate(items):
                    try:
                        items[k] = self._batch_item(item, DATA_LOC + (i, j, "items", k))
                    except Invalid as failure:
                        issues.extend(failure.issues)
        return issues

    def _batch_item(self, item: t.Any, loc: Loc) -> t.Any:
        if isinstance(item, str) or (isinstance(item, (int, float)) and not isinstance(item, bool)):
            return item
        if isinstance(item, bool):
            return float(item)  # float is the first member that takes it
        issues = [Issue("string_type", loc + ("str",), item), Issue("float_type", loc + ("float",), item),
                  Issue("int_type", loc + ("int",), item)]
        if not isinstance(item, dict):
            raise Invalid([*issues, Issue("model_attributes_type", loc + ("ImageField",), item)])
        try:
            return self.fields.validate(item, {"$ref": "#/components/schemas/ImageField"}, loc + ("ImageField",))
        except Invalid as failure:
            raise Invalid(issues + failure.issues) from None

    @staticmethod
    def data_issues(data: t.Any) -> list[Issue]:
        """The Batch model's field validators of `data`, in their order; the first failure only."""
        if not data:
            return []
        for problem in (_lengths_problem(data), _types_problem(data), _duplicates_problem(data)):
            if problem:
                return [Issue("value_error", DATA_LOC, data, {"error": problem})]
        return []

    def target_problem(self, data: t.Any, graph: dict) -> str | None:
        for group in data or []:
            for datum in group:
                node = graph["nodes"].get(datum["node_path"])
                if node is None:
                    return f"Node {datum['node_path']} not found in graph"
                spec = self.catalogue.node(node["type"])
                if spec is None or datum["field_name"] not in spec.field_order:
                    return f"Field {datum['field_name']} not found in node {datum['node_path']}"
        return None

    def coerce(self, node_type: str, field: str, value: t.Any) -> t.Any:
        """A batch value as the session keeps it once parsed (1 for a float field is 1.0); a value
        the field refuses is left as given, as the real server substitutes it unchecked."""
        spec = self.catalogue.node(node_type)
        schema = spec.inputs[field].schema if spec is not None and field in spec.inputs else ATTRIBUTE_SCHEMAS.get(field)
        if schema is None:
            return value
        try:
            return self.fields.validate(value, schema, ())
        except Invalid:
            return value

    # -- one node -----------------------------------------------------------------------------

    def check_node(self, key: str, node: t.Any, loc: Loc, fed: t.AbstractSet[str] = frozenset()) -> dict:
        """The node as the real server keeps it, or Invalid with its errors. `fed`: the fields an
        edge gives a value, which need none here."""
        where = loc + (key,)
        if not isinstance(node, dict):
            raise Invalid([Issue("model_attributes_type", where, node)])
        if "type" not in node:
            raise Invalid([Issue("union_tag_not_found", where, node, {"discriminator": "'type'"})])
        spec = self.catalogue.node(node["type"])
        if spec is None:
            raise Invalid([Issue("union_tag_invalid", where, node, self._tag_ctx(node["type"]))])
        return self._node_fields(spec, node, where + (spec.type,), fed)

    def _node_fields(self, spec: NodeSpec, node: dict, where: Loc, fed: t.AbstractSet[str]) -> dict:
        kept: dict[str, t.Any] = {}
        issues: list[Issue] = []
        for name in spec.field_order:
            if name == "type":
                kept[name] = spec.type
                continue
            field = spec.inputs.get(name)
            schema = field.schema if field is not None else ATTRIBUTE_SCHEMAS[name]
            if name in node:
                try:
                    kept[name] = self.fields.validate(node[name], schema, where + (name,))
                except Invalid as failure:
                    issues.extend(failure.issues)
            elif field is not None and field.required and name not in fed:
                issues.append(Issue("missing", where + (name,), node))
            elif name == "use_cache":
                kept[name] = spec.use_cache
            elif name == "is_intermediate":
                kept[name] = False
            elif field is not None and field.default is not MISSING:
                kept[name] = copy_json(field.default)
        if issues:
            raise Invalid(issues)
        if spec.extra_allowed:  # kept after the declared fields, as pydantic dumps extras
            kept.update((key, value) for key, value in node.items() if key not in kept)
        return kept

    def check_graph(self, graph: dict, loc: Loc) -> dict:
        """The graph as the real server keeps it, or its 422: every node's errors, then (when the
        nodes are valid) the graph's own checks."""
        nodes = graph.get("nodes", {})
        if not isinstance(nodes, dict):
            raise RequestInvalid([Issue("dict_type", loc + ("nodes",), nodes)])
        edges = graph.get("edges") or []
        fed: dict[str, set[str]] = {}
        for edge in edges:
            fed.setdefault(edge["destination"]["node_id"], set()).add(edge["destination"]["field"])
        kept: dict[str, dict] = {}
        issues: list[Issue] = []
        for key, node in nodes.items():
            try:
                kept[key] = self.check_node(key, node, loc + ("nodes",), fed.get(key, frozenset()))
            except Invalid as failure:
                issues.extend(failure.issues)
        if issues:
            raise RequestInvalid(issues)
        problem = _id_problem(kept) or self._edge_problem(kept, edges)
        if problem:
            raise RequestInvalid([Issue("value_error", loc, graph, {"error": problem})])
        return {**graph, "nodes": kept, "edges": edges}

    def has_input(self, node_type: str, field: str) -> bool:
        spec = self.catalogue.node(node_type)
        return spec is not None and field in spec.inputs

    def _tag_ctx(self, tag: t.Any) -> dict:
        return {"discriminator": "'type'", "tag": str(tag),
                "expected_tags": ", ".join(f"'{name}'" for name in self.catalogue.order)}

    def _edge_problem(self, nodes: dict, edges: list) -> str | None:
        catalogue = self.catalogue
        for edge in edges:
            source, destination = edge["source"], edge["destination"]
            if source["node_id"] not in nodes:
                return f"Edge source node {source['node_id']} does not exist in the graph"
            if destination["node_id"] not in nodes:
                return f"Edge destination node {destination['node_id']} does not exist in the graph"
            outputs = catalogue.output_for(nodes[source["node_id"]]["type"]).fields
            inputs = catalogue.node(nodes[destination["node_id"]]["type"]).inputs  # type: ignore[union-attr]
            if source["field"] not in outputs:
                return f"Edge source field {source['field']} does not exist in node {source['node_id']}"
            if destination["field"] not in inputs:
                return f"Edge destination field {destination['field']} does not exist in node {destination['node_id']}"
            if not _compatible(outputs[source["field"]].kind, inputs[destination["field"]].kind):
                return (f"Edge source and target types do not match ({source['node_id']}.{source['field']} -> "
                        f"{destination['node_id']}.{destination['field']})")
        if _has_cycle(nodes, edges):
            return "Graph contains cycles"
        return None


def _lengths_problem(data: list) -> str | None:
    for group in data:
        lengths = {len(datum.get("items") or []) for datum in group}
        if len(lengths) > 1:
            return "Zipped batch items must all have the same length"
    return None


def _types_problem(data: list) -> str | None:
    """One type per datum; numbers (ints and floats) may be mixed, as the real check allows."""
    for group in data:
        for datum in group:
            items = datum.get("items") or []
            if all(isinstance(item, (int, float)) for item in items):
                continue
            if any(type(item) is not type(items[0]) for item in items):
                return "All items in a batch must have the same type"
    return None


def _duplicates_problem(data: list) -> str | None:
    seen: set[tuple[str, str]] = set()
    for group in data:
        for datum in group:
            key = (datum["node_path"], datum["field_name"])
            if key in seen:
                return "Each batch data must have unique node_id and field_name"
            seen.add(key)
    return None


def _id_problem(nodes: dict) -> str | None:
    ids = [node.get("id") for node in nodes.values()]
    duplicates = {node_id for node_id in ids if ids.count(node_id) >= 2}
    if duplicates:
        return f"Node ids must be unique, found duplicates {duplicates!r}"
    for key, node in nodes.items():
        if node.get("id") != key:
            return f"Node ids must match, got {key} and {node.get('id')}"
    return None


def _compatible(source: str, target: str) -> bool:
    """The real server refuses an edge between fields of different types. Checked where both
    types are plain (a JSON type or one named schema); lists, unions and the like are let through,
    and an integer may feed a number, as InvokeAI allows."""
    if "any" in (source, target) or source == target:
        return True
    return (source, target) == ("integer", "number")


def _has_cycle(nodes: dict, edges: list) -> bool:
    incoming = {key: {e["source"]["node_id"] for e in edges if e["destination"]["node_id"] == key} for key in nodes}
    done: set[str] = set()
    while True:
        ready = [key for key in nodes if key not in done and incoming[key] <= done]
        if not ready:
            return len(done) < len(nodes)
        done.update(ready)

