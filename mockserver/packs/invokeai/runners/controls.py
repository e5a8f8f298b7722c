"""Control adapters and image conditioning: ControlNet, T2I-Adapter, IP-Adapter (SD and FLUX),
FLUX ControlNet, Redux, Fill and Kontext. The real nodes mostly bundle their inputs into a field for
the denoiser; the IP-Adapter also names its CLIP Vision image encoder, and Redux encodes the image
(here: a stand-in descriptor under a tensor name)."""

from __future__ import annotations

import typing as t

from mockserver.packs.invokeai.runners.context import (
    NodeFailed,
    RunContext,
    Runner,
    identifier,
    load,
    require_model,
    stable_name,
)

# The CLIP Vision encoders IP-Adapters use, by the node's `clip_vision_model` choice: the starter
# model each one names (its name and its source).
CLIP_VISION = {"ViT-L": ("clip-vit-large-patch14", "InvokeAI/clip-vit-large-patch14", "any"),
               "ViT-H": ("IP Adapter SD1.5 Image Encoder", "InvokeAI/ip_adapter_sd_image_encoder", "sd-1"),
               "ViT-G": ("IP Adapter SDXL Image Encoder", "InvokeAI/ip_adapter_sdxl_image_encoder", "sdxl")}
TARGET_BLOCKS: dict[tuple[str, str | None], list[str]] = {
    ("style", "sd-1"): ["up_blocks.1"],
    ("style", "sdxl"): ["up_blocks.0.attentions.1"],
    ("composition", "sd-1"): ["down_blocks.2", "mid_block"],
    ("composition", "sdxl"): ["down_blocks.2.attentions.1"],
    ("style_precise", "sd-1"): ["up_blocks.1", "down_blocks.2", "mid_block"],
    ("style_precise", "sdxl"): ["up_blocks.0.attentions.1", "down_blocks.2.attentions.1"],
    ("style_strong", "sd-1"): ["up_blocks.0", "up_blocks.1", "up_blocks.2", "down_blocks.0", "down_blocks.1"],
    ("style_strong", "sdxl"): [f"up_blocks.{b}.attentions.{a}" for a in (1, 2, 0) for b in (0, 1, 2)]
    + [f"down_blocks.{b}.attentions.{a}" for b, a in ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 2))],
}
DEFAULTS = {
    "controlnet": {"control_weight": 1.0, "begin_step_percent": 0, "end_step_percent": 1, "control_mode": "balanced",
                   "resize_mode": "just_resize"},
    "t2i_adapter": {"weight": 1, "begin_step_percent": 0, "end_step_percent": 1, "resize_mode": "just_resize"},
    "ip_adapter": {"weight": 1, "begin_step_percent": 0, "end_step_percent": 1, "method": "full",
                   "clip_vision_model": "ViT-H", "mask": None},
}


def defaults(kind: str) -> dict:
    return dict(DEFAULTS.get(kind, {}))


def _pick(node: dict, *keys: str) -> dict:
    return {key: node.get(key) for key in keys}


def controlnet(ctx: RunContext, node: dict) -> dict:
    control = _pick(node, "image", "control_model", "control_weight", "begin_step_percent", "end_step_percent",
                    "control_mode", "resize_mode")
    return {"control": control, "type": "control_output"}


def t2i_adapter(ctx: RunContext, node: dict) -> dict:
    adapter = _pick(node, "image", "t2i_adapter_model", "weight", "begin_step_percent", "end_step_percent",
                    "resize_mode")
    return {"t2i_adapter": adapter, "type": "t2i_adapter_output"}


def _image_encoder(ctx: RunContext, choice: str) -> dict:
    """The installed CLIP Vision model of that name. The real node would download and install a
    missing one (up to ten minutes); the mock names the starter model instead of fetching it."""
    name, source, base = CLIP_VISION[choice]
    found = ctx.search_models(name, "clip_vision")
    if found:
        return identifier(found[0])
    key = stable_name("clip_vision", source)[len("clip_vision_"):]
    return {"key": key, "hash": f"blake3:{key.replace('-', '')}", "name": name, "base": base,
            "type": "clip_vision", "submodel_type": None}


def ip_adapter(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("ip_adapter_model"), "Unknown model: {key}", "AssertionError",
                          "invocations/ip_adapter.py")
    record = ctx.model(model["key"]) or {}
    choice = node.get("clip_vision_model", "ViT-H")
    encoder_id = record.get("image_encoder_model_id")
    if encoder_id:  # an InvokeAI-format adapter names its own encoder
        match = [c for c, (_, source, _) in CLIP_VISION.items() if source == encoder_id]
        choice = match[0] if match else choice
    method: str = node.get("method", "full")
    base: str | None = record.get("base", model.get("base"))
    if method == "full":
        blocks = ["block"]
    elif (method, base) in TARGET_BLOCKS:
        blocks = TARGET_BLOCKS[(method, base)]
    else:
        raise NodeFailed("ValueError", f"Unsupported IP-Adapter base type: '{base}'.", "invocations/ip_adapter.py")
    field: dict[str, t.Any] = {"image": node.get("image"), "ip_adapter_model": model,
                               "image_encoder_model": _image_encoder(ctx, choice),
             "weight": node.get("weight"), "target_blocks": blocks, "method": method,
             "begin_step_percent": node.get("begin_step_percent"), "end_step_percent": node.get("end_step_percent"),
             "mask": node.get("mask")}
    return {"ip_adapter": field, "type": "ip_adapter_output"}


def _flux_ip_adapter(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("ip_adapter_model"), "Unknown model: {key}", "AssertionError",
                          "invocations/flux_ip_adapter.py")
    field: dict[str, t.Any] = {"image": node.get("image"), "ip_adapter_model": model,
             "image_encoder_model": _image_encoder(ctx, node.get("clip_vision_model", "ViT-L")),
             "weight": node.get("weight"), "target_blocks": [], "method": "full",
             "begin_step_percent": node.get("begin_step_percent"), "end_step_percent": node.get("end_step_percent"),
             "mask": None}
    return {"ip_adapter": field, "type": "ip_adapter_output"}


def _flux_controlnet(ctx: RunContext, node: dict) -> dict:
    control = _pick(node, "image", "control_model", "control_weight", "begin_step_percent", "end_step_percent",
                    "resize_mode", "instantx_control_mode")
    return {"control": control, "type": "flux_controlnet_output"}


def _flux_redux(ctx: RunContext, node: dict) -> dict:
    require_model(ctx, node.get("redux_model"), "model not found", "UnknownModelException",
                  "services/model_records/model_records_sql.py")
    picture = load(ctx, node)
    name = stable_name("Tensor", "redux", node["image"]["image_name"], node.get("downsampling_factor"),
                       node.get("downsampling_function"), node.get("weight"))
    ctx.tensors.put(name, {"kind": "redux", "image": node["image"]["image_name"],
                           "width": picture.width, "height": picture.height, "weight": node.get("weight")})
    return {"redux_cond": {"conditioning": {"tensor_name": name}, "mask": node.get("mask")},
            "type": "flux_redux_output"}


def _flux_fill(ctx: RunContext, node: dict) -> dict:
    return {"fill_cond": {"image": node.get("image"), "mask": node.get("mask")}, "type": "flux_fill_output"}


def _flux_kontext(ctx: RunContext, node: dict) -> dict:
    return {"kontext_cond": {"image": node.get("image")}, "type": "flux_kontext_output"}


RUNNERS: dict[str, Runner] = {
    "controlnet": controlnet,
    "t2i_adapter": t2i_adapter,
    "ip_adapter": ip_adapter,
    "flux_ip_adapter": _flux_ip_adapter,
    "flux_controlnet": _flux_controlnet,
    "flux_redux": _flux_redux,
    "flux_fill": _flux_fill,
    "flux_kontext": _flux_kontext,
}
