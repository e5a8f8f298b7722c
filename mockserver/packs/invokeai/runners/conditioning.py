"""Text encoders (SD1/2 Compel, SDXL and its refiner, FLUX, SD3, CogView4): stand-ins that remember
the prompt under a conditioning name drawn from the inputs, so the same prompt and encoder always
give the same `conditioning_name`, and the denoiser later paints that prompt."""

from __future__ import annotations

import typing as t

from mockserver.packs.invokeai.runners.context import RunContext, Runner, load_model, required, stable_name

PREFIX = "ConditioningFieldData"  # the real conditioning store names objects by their class


def save_conditioning(ctx: RunContext, node: dict, prompt: str, *encoders: t.Any) -> str:
    name = stable_name(PREFIX, node["type"], prompt, node.get("style"), *encoders)
    ctx.tensors.put(name, {"kind": "conditioning", "prompt": prompt})
    return name


def prompt_of(ctx: RunContext, conditioning: t.Any) -> str:
    """The prompt(s) behind a conditioning field or a list of them (regional prompts joined)."""
    fields = conditioning if isinstance(conditioning, list) else [conditioning]
    prompts = []
    for field in fields:
        name = field.get("conditioning_name") if isinstance(field, dict) else None
        found = ctx.tensors.get(name)
        if isinstance(found, dict) and found.get("kind") == "conditioning" and found["prompt"]:
            prompts.append(found["prompt"])
    return ", ".join(prompts)


def _encoders(ctx: RunContext, *fields: t.Any) -> None:
    for field in fields:
        if isinstance(field, dict) and "text_encoder" in field:
            load_model(ctx, field["text_encoder"])


def _compel(ctx: RunContext, node: dict) -> dict:
    required(node, "clip")
    _encoders(ctx, node["clip"])
    ctx.progress("Building conditioning")
    name = save_conditioning(ctx, node, str(node.get("prompt") or ""), node["clip"])
    return {"conditioning": {"conditioning_name": name, "mask": node.get("mask")}, "type": "conditioning_output"}


def _sdxl_compel(ctx: RunContext, node: dict) -> dict:
    required(node, "clip", "clip2")
    _encoders(ctx, node["clip"], node["clip2"])
    ctx.progress("Building conditioning")
    size = [node.get(k) for k in ("original_width", "original_height", "crop_top", "crop_left",
                                  "target_width", "target_height")]
    name = save_conditioning(ctx, node, str(node.get("prompt") or ""), node["clip"], node["clip2"], size)
    return {"conditioning": {"conditioning_name": name, "mask": node.get("mask")}, "type": "conditioning_output"}


def _sdxl_refiner_compel(ctx: RunContext, node: dict) -> dict:
    required(node, "clip2")
    _encoders(ctx, node["clip2"])
    ctx.progress("Building conditioning")
    size = [node.get(k) for k in ("original_width", "original_height", "crop_top", "crop_left", "aesthetic_score")]
    name = save_conditioning(ctx, node, str(node.get("style") or ""), node["clip2"], size)
    return {"conditioning": {"conditioning_name": name, "mask": None}, "type": "conditioning_output"}


def _flux(ctx: RunContext, node: dict) -> dict:
    required(node, "clip", "t5_encoder")
    _encoders(ctx, node["t5_encoder"], node["clip"])
    ctx.progress("Running T5 encoder")
    ctx.progress("Running CLIP encoder")
    name = save_conditioning(ctx, node, str(node.get("prompt") or ""), node["clip"], node["t5_encoder"],
                             node.get("t5_max_seq_len"))
    return {"conditioning": {"conditioning_name": name, "mask": node.get("mask")},
            "type": "flux_conditioning_output"}


def _sd3(ctx: RunContext, node: dict) -> dict:
    required(node, "clip_l", "clip_g")
    _encoders(ctx, node.get("t5_encoder"), node["clip_l"], node["clip_g"])
    if node.get("t5_encoder") is not None:
        ctx.progress("Running T5 encoder")
    ctx.progress("Running CLIP encoder")
    name = save_conditioning(ctx, node, str(node.get("prompt") or ""), node["clip_l"], node["clip_g"],
                             node.get("t5_encoder"))
    return {"conditioning": {"conditioning_name": name}, "type": "sd3_conditioning_output"}


def _cogview4(ctx: RunContext, node: dict) -> dict:
    required(node, "glm_encoder")
    _encoders(ctx, node["glm_encoder"])
    ctx.progress("Running GLM text encoder")
    name = save_conditioning(ctx, node, str(node.get("prompt") or ""), node["glm_encoder"])
    return {"conditioning": {"conditioning_name": name}, "type": "cogview4_conditioning_output"}


RUNNERS: dict[str, Runner] = {
    "compel": _compel,
    "sdxl_compel_prompt": _sdxl_compel,
    "sdxl_refiner_compel_prompt": _sdxl_refiner_compel,
    "flux_text_encoder": _flux,
    "sd3_text_encoder": _sd3,
    "cogview4_text_encoder": _cogview4,
}
