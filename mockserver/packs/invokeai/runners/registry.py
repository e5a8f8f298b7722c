"""Every runner by node type, and running one node."""

from __future__ import annotations

import functools
import typing as t

from mockserver.packs.invokeai.image_nodes import IMAGE_NODES
from mockserver.packs.invokeai.runners import (
    conditioning,
    controls,
    latent_ops,
    latents,
    metadata,
    models,
    primitives,
    prompts,
    vision,
)
from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner

WHERE = "invocations/baseinvocation.py"
MODULES = (primitives, prompts, metadata, models, conditioning, controls, latents, latent_ops, vision)


@functools.cache
def runners() -> dict[str, Runner]:
    table: dict[str, Runner] = {}
    for module in MODULES:
        table.update(module.RUNNERS)
    table.update(IMAGE_NODES)  # no type is in both: one runner per type
    return table


def run_node(ctx: RunContext, node: dict) -> dict:
    """One node's output (its inputs already filled from the edges), or NodeFailed."""
    runner = runners().get(node["type"])
    missing = missing_input(ctx.node_spec(node["type"]), node)
    if missing is not None:
        raise missing
    if runner is None:
        raise NodeFailed("NotImplementedError", f"mockserver does not run '{node['type']}' nodes",
                         "services/session_processor")
    try:
        return runner(ctx, node)
    except NodeFailed:
        raise
    except Exception as error:  # the real processor turns whatever a node raises into a failed item
        raise NodeFailed(type(error).__name__, str(error), "invocations/baseinvocation.py") from None


def missing_input(spec: t.Any, node: dict) -> NodeFailed | None:
    """The real `invoke_internal` check: a field the node needs (required, no default) that got no
    value. The schema shows such fields optional, so only running the node finds them."""
    for name, field in (spec.inputs.items() if spec is not None else ()):
        if not field.orig_required or "orig_default" in field.schema or node.get(name) is not None:
            continue
        if field.input == "connection":
            return NodeFailed("RequiredConnectionException",
                              f"Node {node['type']} missing connections for field {name}", WHERE)
        if field.input == "any":
            return NodeFailed("MissingInputException",
                              f"Node {node['type']} missing value or connection for field {name}", WHERE)
    return None


def input_error(node: dict, field: str) -> NodeFailed:
    """What `GraphExecutionState.next` raises when a value an edge brings fails the field."""
    return NodeFailed("NodeInputError", f"Node {node['id']} has invalid incoming input for {field}",
                      "services/shared/graph.py")


def validator_problem(ctx: RunContext, node: dict, fed: t.Collection[str]) -> NodeFailed | None:
    """The nodes' own field validators (beyond the schema), as they judge a value on assignment."""
    kind = node["type"]
    if kind in ("integer_math", "float_math") and "b" in fed:  # the validator is on `b`
        op: t.Any = node.get("operation")
        a: t.Any = node.get("a")
        b: t.Any = node.get("b")
        if op == "DIV" and b == 0 or kind == "integer_math" and (op == "MOD" and b == 0 or op == "EXP" and b < 0):
            return input_error(node, "b")
        if kind == "float_math" and op == "EXP" and (a == 0 and b < 0 or isinstance(float(a) ** b, complex)):
            return input_error(node, "b")
    if kind == "prompt_from_file" and ctx.read_prompt_file(str(node.get("file_path") or "")) is None:
        # its validator (the file must exist) runs on any value; a direct one the enqueue check would
        # refuse on the real server, so a graph can only get here with it from an edge or by the mock's leave
        return input_error(node, "file_path")
    return None
