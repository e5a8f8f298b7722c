"""LLaVA OneVision as a stand-in: it describes the images it is shown, deterministically (a function
of the image sizes and the prompt). Grounding DINO and Segment Anything are with the image nodes
(`image_nodes_models.py`)."""

from __future__ import annotations

from mockserver.packs.invokeai.runners.context import (
    RunContext,
    Runner,
    load_named,
    require_model,
)


def _llava(ctx: RunContext, node: dict) -> dict:
    require_model(ctx, node.get("vllm_model"), "model not found", "UnknownModelException",
                  "services/model_records/model_records_sql.py")
    images = node.get("images")
    images = images if isinstance(images, list) else [images] if images else []
    sizes = [load_named(ctx, ref["image_name"]).size for ref in images]
    described = "; ".join(f"a {w}x{h} picture" for w, h in sizes) or "no image"
    prompt = str(node.get("prompt") or "").strip()
    answer = f"The image shows {described}." if not prompt else f"{prompt.rstrip('?')}: {described}."
    return {"value": answer, "type": "string_output"}


RUNNERS: dict[str, Runner] = {
    "llava_onevision_vllm": _llava,
}
