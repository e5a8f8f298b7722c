"""Invocation (node) types: checking a graph as the real server does at enqueue.

Every type InvokeAI 6.8 knows is accepted (`fixtures/invokeai/invocations.yaml` lists them with
their defaults). Running them is `runners/`' work.
"""

from __future__ import annotations

import typing as t

from mockserver.engine.issues import Issue, RequestInvalid

NODE_ATTRIBUTES = ("id", "is_intermediate", "use_cache", "type")


class Catalogue:
    """The invocation types of `fixtures/invokeai/invocations.yaml`."""

    def __init__(self, data: dict) -> None:
        self.order: list[str] = data["order"]
        self.types: dict[str, dict] = data["types"]

    def with_defaults(self, node: dict) -> dict:
        """The node as the real server echoes it: its defaults filled in, attributes in their place."""
        spec = self.types[node["type"]]
        filled = {key: _copy(value) for key, value in spec["defaults"].items()
                  if key in ("board", "metadata")}
        filled.update(id=node["id"], is_intermediate=node.get("is_intermediate", False),
                      use_cache=node.get("use_cache", spec.get("use_cache", True)))
        for key, value in spec["defaults"].items():
            if key not in filled:
                filled[key] = _copy(value)
        for key, value in node.items():
            if key not in NODE_ATTRIBUTES:
                filled[key] = value
        if isinstance(filled.get("model"), dict):
            filled["model"] = {**filled["model"]}
            filled["model"].setdefault("submodel_type", None)
        filled["type"] = node["type"]
        return filled

    def check_graph(self, graph: dict, loc: tuple) -> dict:
        """The graph with defaults filled, or the real server's 422 (unknown type, bad edge)."""
        nodes = graph.get("nodes") or {}
        issues = [Issue("union_tag_invalid", loc + ("nodes", key), node, self._tag_ctx(node.get("type")))
                  for key, node in nodes.items()
                  if isinstance(node, dict) and node.get("type") not in self.types]
        if issues:
            raise RequestInvalid(issues)
        problem = _id_problem(nodes) or self._edge_problem(nodes, graph.get("edges") or [])
        if problem:
            raise RequestInvalid([Issue("value_error", loc, graph, {"error": problem})])
        return {**graph, "nodes": {key: self.with_defaults(node) for key, node in nodes.items()},
                "edges": graph.get("edges") or []}

    def _tag_ctx(self, tag: t.Any) -> dict:
        return {"discriminator": "'type'", "tag": str(tag),
                "expected_tags": ", ".join(f"'{name}'" for name in self.order)}

    def _edge_problem(self, nodes: dict, edges: list) -> str | None:
        for edge in edges:
            source, destination = edge["source"], edge["destination"]
            if source["node_id"] not in nodes:
                return f"Edge source node {source['node_id']} does not exist in the graph"
            if destination["node_id"] not in nodes:
                return f"Edge destination node {destination['node_id']} does not exist in the graph"
            if source["field"] not in self.types[nodes[source["node_id"]]["type"]]["output_fields"]:
                return f"Edge source field {source['field']} does not exist in node {source['node_id']}"
            if destination["field"] not in self.types[nodes[destination["node_id"]]["type"]]["fields"]:
                return f"Edge destination field {destination['field']} does not exist in node {destination['node_id']}"
            source_kind = self.types[nodes[source["node_id"]]["type"]].get("output_kinds", {}).get(source["field"], "any")
            target_kind = self.types[nodes[destination["node_id"]]["type"]].get("field_kinds", {}).get(
                destination["field"], "any")
            if not _compatible(source_kind, target_kind):
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


# ============================================================================== running nodes
# Execution lives in `runners/`; these names stay importable from here for the modules that used them.

from mockserver.packs.invokeai.runners.context import (  # noqa: E402
    NodeFailed, RunContext, plausible_image, traceback_for,
)
from mockserver.packs.invokeai.runners.context import image_output as _image_output  # noqa: E402
from mockserver.packs.invokeai.runners.context import load as _load  # noqa: E402

__all__ = ["Catalogue", "NodeFailed", "RunContext", "plausible_image", "traceback_for", "_image_output", "_load"]
