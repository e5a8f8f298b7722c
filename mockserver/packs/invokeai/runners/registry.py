"""Every runner by node type, and running one node."""

from __future__ import annotations

import functools

from mockserver.packs.invokeai.image_nodes import IMAGE_NODES
from mockserver.packs.invokeai.runners import (
    conditioning, controls, images, latents, metadata, models, primitives, prompts, vision,
)
from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner

MODULES = (primitives, prompts, metadata, models, conditioning, controls, latents, vision, images)


@functools.cache
def runners() -> dict[str, Runner]:
    table: dict[str, Runner] = {}
    for module in MODULES:
        table.update(module.RUNNERS)
    table.update(IMAGE_NODES)  # the image and mask nodes' own module wins over the fallbacks here
    return table


def run_node(ctx: RunContext, node: dict) -> dict:
    """One node's output (its inputs already filled from the edges), or NodeFailed."""
    runner = runners().get(node["type"])
    if runner is None:
        raise NodeFailed("NotImplementedError", f"mockserver does not run '{node['type']}' nodes",
                         "services/session_processor")
    try:
        return runner(ctx, node)
    except NodeFailed:
        raise
    except Exception as error:  # the real processor turns whatever a node raises into a failed item
        raise NodeFailed(type(error).__name__, str(error), "invocations/baseinvocation.py") from None
