"""Noise and denoising (SD1/2/XL, tiled multi-diffusion, FLUX, SD3, CogView4), as stand-ins:
latents are descriptors of how their picture is made (`render.py` draws them), with the real
outputs' sizes (latents are 1/8 of the picture, so sizes round to the model's grid), field names
and errors. A denoise reports its steps as the real one does: one `invocation_progress` per step
with a 1/8-size preview."""

from __future__ import annotations

import math
import typing as t

import numpy as np
from PIL import Image

from mockserver.packs.invokeai.runners import render
from mockserver.packs.invokeai.runners.conditioning import prompt_of
from mockserver.packs.invokeai.runners.context import (
    NodeFailed,
    RunContext,
    Runner,
    latents_info,
    load_model,
    required,
    save_denoise_mask,
    save_latents,
    size,
)

LATENT_SCALE = 8
MAX_PREVIEWS = 100  # progress events per denoise at most (the real one sends one per step)


def _shape(width: int, height: int, channels: int = 4) -> str:
    return f"torch.Size([1, {channels}, {height // LATENT_SCALE}, {width // LATENT_SCALE}])"


# -- noise ---------------------------------------------------------------------------------------

def _noise(ctx: RunContext, node: dict) -> dict:
    width, height = size(int(node["width"]) // 8 * 8 or 8, int(node["height"]) // 8 * 8 or 8)
    seed = int(node["seed"])
    latents = save_latents(ctx, width, height, {"op": "noise", "seed": seed}, seed=seed)
    return {"noise": latents["latents"], "width": width, "height": height, "type": "noise_output"}


# -- denoising -----------------------------------------------------------------------------------

def _denoise(ctx: RunContext, node: dict, *, width: int, height: int, seed: int, prompt: str,
             base: str | None, strength: float, steps: int, mask: str | None = None) -> dict:
    """The latents of one denoise, and its progress: a plausible picture of the prompt and seed,
    over `base` (image-to-image) by `strength`, inside the denoise mask when there is one."""
    mask = mask or (node.get("denoise_mask") or {}).get("mask_name")
    recipe = {"op": "denoise", "seed": seed, "prompt": prompt, "base": base, "strength": round(strength, 6),
              "mask": mask}
    output = save_latents(ctx, width, height, recipe)
    # the steps that run: over starting latents, only the share the strength leaves
    run_steps = max(1, round(steps * strength)) if base is not None else steps
    _report_steps(ctx, render.render(ctx, ctx.tensors[output["latents"]["latents_name"]]), seed, run_steps)
    return output


def _report_steps(ctx: RunContext, final: Image.Image, seed: int, steps: int) -> None:
    for share, preview in render.progress_frames(final, seed, max(steps, 1), MAX_PREVIEWS):
        ctx.progress("Denoising", share, preview, (final.width, final.height))


def _strength(node: dict, has_base: bool) -> float:
    """How much of the picture a denoise repaints: all of it from noise, `end - start` over an image."""
    if not has_base:
        return 1.0
    return max(0.0, float(node.get("denoising_end", 1.0)) - float(node.get("denoising_start", 0.0)))


def _cfg_check(node: dict) -> None:
    scales = node.get("cfg_scale")
    scales = scales if isinstance(scales, list) else [scales]
    if any(scale is not None and scale < 1 for scale in scales):
        raise NodeFailed("ValueError", "cfg_scale must be greater than 1", "invocations/denoise_latents.py")


def _sd_denoise(ctx: RunContext, node: dict) -> dict:
    required(node, "positive_conditioning", "negative_conditioning", "unet")
    load_model(ctx, node["unet"]["unet"])
    _cfg_check(node)
    noise, latents = node.get("noise"), node.get("latents")
    if noise is None and latents is None:
        raise NodeFailed("ValueError", "'latents' or 'noise' must be provided!", "invocations/denoise_latents.py")
    noise_info = latents_info(ctx, noise) if noise is not None else None
    base_info = latents_info(ctx, latents) if latents is not None else None
    if noise_info and base_info and (noise_info["width"], noise_info["height"]) != (base_info["width"],
                                                                                   base_info["height"]):
        raise NodeFailed("ValueError", "Incompatible 'noise' and 'latents' shapes: "
                         f"latents.shape={_shape(base_info['width'], base_info['height'])} "
                         f"noise.shape={_shape(noise_info['width'], noise_info['height'])}",
                         "invocations/denoise_latents.py")
    shape = noise_info or base_info
    assert shape is not None  # one of noise and latents was given (checked above)
    seed = int((noise or {}).get("seed") or (noise_info or {}).get("seed") or 0)
    return _denoise(ctx, node, width=shape["width"], height=shape["height"], seed=seed,
                    prompt=prompt_of(ctx, node["positive_conditioning"]),
                    base=latents["latents_name"] if latents else None,
                    strength=_strength(node, latents is not None), steps=int(node.get("steps", 10)))


def grid(value: int, multiple: int, up: bool = False) -> int:
    return max(multiple, (math.ceil(value / multiple) if up else value // multiple) * multiple)


def _transformer_denoise(positive: str, steps_field: str, multiple: int, round_up: bool, where: str,
                         needs: tuple[str, ...]) -> Runner:
    """FLUX, SD3 and CogView4: sizes and seed are the node's own fields; latents make it image-to-image."""
    def run(ctx: RunContext, node: dict) -> dict:
        required(node, *needs)
        load_model(ctx, node["transformer"]["transformer"])
        latents = node.get("latents")
        if latents is None and float(node.get("denoising_start", 0)) > 0:
            raise NodeFailed("ValueError", "denoising_start should be 0 when initial latents are not provided.", where)
        if latents is not None:
            latents_info(ctx, latents)
        width, height = size(grid(int(node["width"]), multiple, round_up),
                             grid(int(node["height"]), multiple, round_up))
        base = latents["latents_name"] if latents else None
        strength = _strength(node, latents is not None)
        kontext = node.get("kontext_conditioning")
        fill_mask = _fill(ctx, node, where) if node["type"].startswith("flux_denoise") else None
        if fill_mask is not None:  # FLUX Fill repaints inside its mask, over its image
            image = node["fill_conditioning"]["image"]["image_name"]
            base = save_latents(ctx, width, height, {"op": "image", "image": image})["latents"]["latents_name"]
            strength = 1.0
        elif base is None and kontext:  # Kontext edits its reference image
            reference = (kontext[0] if isinstance(kontext, list) else kontext)["image"]["image_name"]
            base = save_latents(ctx, width, height, {"op": "image", "image": reference})["latents"]["latents_name"]
            strength = 0.6
        output = _denoise(ctx, node, width=width, height=height, seed=int(node.get("seed", 0)),
                          prompt=prompt_of(ctx, node.get(positive)), base=base, strength=strength,
                          steps=int(node.get(steps_field, 10)), mask=fill_mask)
        output["latents"]["seed"] = None
        return output
    return run


_flux_denoise = _transformer_denoise("positive_text_conditioning", "num_steps", 16, True, "invocations/flux_denoise.py",
                                     ("transformer", "positive_text_conditioning"))
_sd3_denoise = _transformer_denoise("positive_conditioning", "steps", 8, False, "invocations/sd3_denoise.py",
                                    ("transformer", "positive_conditioning", "negative_conditioning"))
_cogview4_denoise = _transformer_denoise("positive_conditioning", "steps", 8, False,
                                         "invocations/cogview4_denoise.py",
                                         ("transformer", "positive_conditioning", "negative_conditioning"))


def _fill(ctx: RunContext, node: dict, where: str) -> str | None:
    """A FLUX Fill denoise's mask as a denoise mask (its tensor: True = repaint), or None without
    fill conditioning. The real node takes Fill from the model's `inpaint` variant; the mock's
    model records do not mark FLUX Fill so, so the conditioning decides, and only a Fill model
    given none fails."""
    fill = node.get("fill_conditioning")
    record = ctx.model(node["transformer"]["transformer"]["key"]) or {}
    if fill is None:
        if record.get("variant") == "inpaint":
            raise NodeFailed("ValueError", "A FLUX Fill model is being used without fill_conditioning.", where)
        return None
    if node.get("controlnet_vae") is None:
        raise NodeFailed("ValueError", "A FLUX Fill model is being used without controlnet_vae.", where)
    found = ctx.tensors.get((fill.get("mask") or {}).get("tensor_name"))
    if not isinstance(found, dict) or "mask" not in found:
        raise NodeFailed("ObjectNotFoundError", f"'Object with name {(fill.get('mask') or {}).get('tensor_name')} "
                         "not found'", "services/object_serializer/object_serializer_disk.py")
    inside = np.asarray(found["mask"]).astype(bool)
    inside = inside.reshape(inside.shape[-2:])
    keep = Image.fromarray(np.where(inside, 0, 255).astype(np.uint8), "L")
    return save_denoise_mask(ctx, keep, fill["mask"]["tensor_name"])["mask_name"]


def _tiled_denoise(ctx: RunContext, node: dict) -> dict:
    required(node, "positive_conditioning", "negative_conditioning", "unet")
    return _sd_denoise(ctx, node)


def _with_metadata(run: Runner, describe: t.Callable[[dict, dict], dict]) -> Runner:
    """The `_meta` denoisers: the same latents, and the given metadata with the run's settings added."""
    def meta(ctx: RunContext, node: dict) -> dict:
        output = run(ctx, node)
        metadata = {**(node.get("metadata") or {}), "width": output["width"], "height": output["height"],
                    **describe(node, output)}
        return {"metadata": metadata, "latents": output["latents"], "width": output["width"],
                "height": output["height"], "type": "latents_meta_output"}
    return meta


def _as_list(value: t.Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _sd_settings(node: dict, output: dict) -> dict:
    settings = {key: node.get(key) for key in ("steps", "cfg_scale", "cfg_rescale_multiplier", "denoising_start",
                                               "denoising_end", "scheduler")}
    settings["model"] = node["unet"]["unet"]
    for key, label in (("control", "controlnets"), ("ip_adapter", "ipAdapters"), ("t2i_adapter", "t2iAdapters")):
        if _as_list(node.get(key)):
            settings[label] = [{k: v for k, v in item.items() if v is not None} for item in _as_list(node[key])]
    if node["unet"].get("loras"):
        settings["loras"] = [{"model": lora["lora"], "weight": lora["weight"]} for lora in node["unet"]["loras"]]
    if node.get("noise") is not None:
        settings["seed"] = node["noise"].get("seed")
    return settings


def _flux_settings(node: dict, output: dict) -> dict:
    settings = {"steps": node.get("num_steps"), "guidance": node.get("guidance"),
                "denoising_start": node.get("denoising_start"), "denoising_end": node.get("denoising_end"),
                "model": node["transformer"]["transformer"], "seed": node.get("seed"),
                "cfg_scale": node.get("cfg_scale"), "cfg_scale_start_step": node.get("cfg_scale_start_step"),
                "cfg_scale_end_step": node.get("cfg_scale_end_step")}
    if node["transformer"].get("loras"):
        settings["loras"] = [{"model": lora["lora"], "weight": lora["weight"]} for lora in node["transformer"]["loras"]]
    return settings


RUNNERS: dict[str, Runner] = {
    "noise": _noise,
    "denoise_latents": _sd_denoise,
    "denoise_latents_meta": _with_metadata(_sd_denoise, _sd_settings),
    "tiled_multi_diffusion_denoise_latents": _tiled_denoise,
    "flux_denoise": _flux_denoise,
    "flux_denoise_meta": _with_metadata(_flux_denoise, _flux_settings),
    "sd3_denoise": _sd3_denoise,
    "cogview4_denoise": _cogview4_denoise,
}
