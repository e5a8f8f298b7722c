"""VAE encode/decode, latent operations (resize, scale, blend, crop), denoise masks, ideal sizes and
schedulers, over the latents descriptors of `latents.py` (`render.py` draws them): the real output
sizes (latents are 1/8 of the picture), field names and errors."""

from __future__ import annotations

import math

from mockserver.packs.invokeai.runners import render
from mockserver.packs.invokeai.runners.context import (
    NodeFailed,
    RunContext,
    Runner,
    image_output,
    latents_info,
    load,
    load_model,
    required,
    save_denoise_mask,
    save_latents,
    size,
)
from mockserver.packs.invokeai.runners.latents import grid

# -- VAE -----------------------------------------------------------------------------------------

def _encode(multiple: int = 8, message: str = "Running VAE encoder") -> Runner:
    """Image to latents: the picture, kept at the model's latent grid (1/8 of its size, rounded down)."""
    def run(ctx: RunContext, node: dict) -> dict:
        required(node, "vae")
        picture = load(ctx, node)
        load_model(ctx, node["vae"]["vae"])
        ctx.progress(message)
        width, height = size(grid(picture.width, multiple), grid(picture.height, multiple))
        return save_latents(ctx, width, height, {"op": "image", "image": node["image"]["image_name"]})
    return run


def _decode(message: str = "Running VAE decoder") -> Runner:
    def run(ctx: RunContext, node: dict) -> dict:
        required(node, "latents", "vae")
        info = latents_info(ctx, node["latents"])
        load_model(ctx, node["vae"]["vae"])
        ctx.progress(message)
        return image_output(ctx, node, render.render(ctx, info))
    return run


# -- latent operations ---------------------------------------------------------------------------

def _resize(ctx: RunContext, node: dict) -> dict:
    required(node, "latents")
    latents_info(ctx, node["latents"])
    width, height = size(int(node["width"]) // 8 * 8, int(node["height"]) // 8 * 8)
    output = save_latents(ctx, width, height, {"op": "resize", "base": node["latents"]["latents_name"]},
                          seed=node["latents"].get("seed"))
    return output


def _scale(ctx: RunContext, node: dict) -> dict:
    required(node, "latents")
    info = latents_info(ctx, node["latents"])
    factor = float(node["scale_factor"])
    width = math.floor(info["width"] // 8 * factor) * 8
    height = math.floor(info["height"] // 8 * factor) * 8
    width, height = size(width, height)
    return save_latents(ctx, width, height, {"op": "resize", "base": node["latents"]["latents_name"]},
                        seed=node["latents"].get("seed"))


def _blend(ctx: RunContext, node: dict) -> dict:
    required(node, "latents_a", "latents_b")
    first = latents_info(ctx, node["latents_a"])
    second = latents_info(ctx, node["latents_b"])
    if (first["width"], first["height"]) != (second["width"], second["height"]):
        raise NodeFailed("ValueError", "Latents to blend must be the same size.", "invocations/blend_latents.py")
    return save_latents(ctx, first["width"], first["height"],
                        {"op": "blend", "base": node["latents_a"]["latents_name"],
                         "other": node["latents_b"]["latents_name"], "alpha": float(node["alpha"])})


def _crop(ctx: RunContext, node: dict) -> dict:
    required(node, "latents", "x", "y", "width", "height")
    info = latents_info(ctx, node["latents"])
    x, y = int(node["x"]) // 8 * 8, int(node["y"]) // 8 * 8
    right = min(x + int(node["width"]) // 8 * 8, info["width"])
    bottom = min(y + int(node["height"]) // 8 * 8, info["height"])
    width, height = max(right - x, 0), max(bottom - y, 0)
    if width == 0 or height == 0:
        raise NodeFailed("RuntimeError", "cannot crop latents to an empty area", "invocations/crop_latents.py")
    return save_latents(ctx, width, height, {"op": "crop", "base": node["latents"]["latents_name"], "x": x, "y": y})


def _denoise_mask(ctx: RunContext, node: dict) -> dict:
    """The mask image's black area is repainted (as canvas paste-back later uses it)."""
    mask = load(ctx, node, "mask").convert("L")
    masked_latents = None
    if node.get("image") is not None:
        required(node, "vae")
        picture = load(ctx, node)
        ctx.progress("Running VAE encoder")
        masked_latents = save_latents(ctx, grid(picture.width, 8), grid(picture.height, 8),
                                      {"op": "image", "image": node["image"]["image_name"]})["latents"]["latents_name"]
    field = save_denoise_mask(ctx, mask, node["mask"]["image_name"], masked_latents_name=masked_latents)
    return {"denoise_mask": field, "type": "denoise_mask_output"}


# -- sizes and schedulers ------------------------------------------------------------------------

IDEAL_DIMENSION = {"sd-1": 512, "sd-2": 768, "sdxl": 1024, "flux": 1024, "sd-3": 1024}


def _ideal_size(ctx: RunContext, node: dict) -> dict:
    required(node, "unet")
    load_model(ctx, node["unet"]["unet"])  # the real node reads the model's config first
    record = ctx.model(node["unet"]["unet"]["key"]) or {}
    if record.get("base") not in IDEAL_DIMENSION:
        raise NodeFailed("ValueError", f"Unsupported model type: {record.get('base')}", "invocations/ideal_size.py")
    dimension = IDEAL_DIMENSION[record["base"]] * float(node["multiplier"])
    aspect = int(node["width"]) / int(node["height"])
    smallest = math.floor(dimension * 0.5)
    area = dimension * dimension
    if aspect > 1.0:
        height = max(smallest, math.sqrt(area / aspect))
        width = height * aspect
    else:
        width = max(smallest, math.sqrt(area * aspect))
        height = width / aspect
    width, height = math.floor(width), math.floor(height)
    return {"width": width - width % 8, "height": height - height % 8, "type": "ideal_size_output"}


RUNNERS: dict[str, Runner] = {
    "i2l": _encode(),
    "l2i": _decode(),
    "flux_vae_encode": _encode(8, "Running VAE"),
    "flux_vae_decode": _decode("Running VAE"),
    "sd3_i2l": _encode(8, "Running VAE"),
    "sd3_l2i": _decode("Running VAE"),
    "cogview4_i2l": _encode(8, "Running VAE"),
    "cogview4_l2i": _decode("Running VAE"),
    "lresize": _resize,
    "lscale": _scale,
    "lblend": _blend,
    "crop_latents": _crop,
    "create_denoise_mask": _denoise_mask,
    "ideal_size": _ideal_size,
    "scheduler": lambda ctx, node: {"scheduler": node["scheduler"], "type": "scheduler_output"},
}
