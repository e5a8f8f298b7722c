"""Checking a graph at enqueue as the real server does, driven by the node catalogue: the node union
(unknown or missing `type`), each node's fields, ids, edges and cycles; and each node echoed as the
real server echoes it (defaults filled in, in the schema's field order)."""

from __future__ import annotations

import typing as t

from mockserver.engine.issues import Issue, RequestInvalid
from mockserver.packs.invokeai.catalogue import MISSING, NODE_ATTRIBUTES, Catalogue


class GraphChecker:
    """The real server's Graph validation, over one catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def with_defaults(self, node: dict) -> dict:
        """The node as the real server echoes it: defaults filled in, fields in the schema's order."""
        spec = self.catalogue.node(node["type"])
        assert spec is not None
        attributes = {"id": node["id"], "is_intermediate": node.get("is_intermediate", False),
                      "use_cache": node.get("use_cache", spec.use_cache), "type": node["type"]}
        filled: dict[str, t.Any] = {}
        for name in spec.field_order:
            if name in NODE_ATTRIBUTES:
                filled[name] = attributes[name]
            elif name in node:
                filled[name] = node[name]
            elif spec.inputs[name].default is not MISSING:
                filled[name] = _copy(spec.inputs[name].default)
        if isinstance(filled.get("model"), dict):
            filled["model"] = {**filled["model"]}
            filled["model"].setdefault("submodel_type", None)
        return filled

    def check_graph(self, graph: dict, loc: tuple) -> dict:
        """The graph with defaults filled, or the real server's 422 (unknown type, bad edge)."""
        nodes = graph.get("nodes") or {}
        issues = [Issue("union_tag_invalid", loc + ("nodes", key), node, self._tag_ctx(node.get("type")))
                  for key, node in nodes.items()
                  if isinstance(node, dict) and self.catalogue.node(node.get("type")) is None]
        if issues:
            raise RequestInvalid(issues)
        problem = _id_problem(nodes) or self._edge_problem(nodes, graph.get("edges") or [])
        if problem:
            raise RequestInvalid([Issue("value_error", loc, graph, {"error": problem})])
        return {**graph, "nodes": {key: self.with_defaults(node) for key, node in nodes.items()},
                "edges": graph.get("edges") or []}

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


def _id_problem(nodes: dict) -> str | None:
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


def _copy(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
