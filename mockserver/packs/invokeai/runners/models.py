"""Model loaders and the nodes that pass model fields along (LoRAs, CLIP skip, seamless, FreeU):
each checks the model is installed as the real loader does, with its own error text, and returns
the submodel identifiers the real server returns. Nothing is loaded: these nodes only name models."""

from __future__ import annotations

import copy
import typing as t

from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner, identifier, require_model

# FLUX's T5 sequence length by the transformer's config_path, as the real loader looks it up.
MAX_SEQ_LEN = {"flux-dev": 512, "flux-dev-fill": 512, "flux-schnell": 256}


def unet_field(model: dict) -> dict:
    return {"unet": identifier(model, "unet"), "scheduler": identifier(model, "scheduler"), "loras": [],
            "seamless_axes": [], "freeu_config": None}


def clip_field(tokenizer: dict, encoder: dict) -> dict:
    return {"tokenizer": tokenizer, "text_encoder": encoder, "skipped_layers": 0, "loras": []}


def vae_field(model: dict) -> dict:
    return {"vae": identifier(model, "vae"), "seamless_axes": []}


def _clip(model: dict, second: bool = False) -> dict:
    suffix = "_2" if second else ""
    return clip_field(identifier(model, "tokenizer" + suffix), identifier(model, "text_encoder" + suffix))


def _main(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("model"), "Unknown model {key}")
    return {"vae": vae_field(model), "clip": _clip(model), "unet": unet_field(model), "type": "model_loader_output"}


def _sdxl(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("model"), "Unknown model: {key}", where="invocations/sdxl.py")
    return {"unet": unet_field(model), "clip": _clip(model), "clip2": _clip(model, second=True),
            "vae": vae_field(model), "type": "sdxl_model_loader_output"}


def _sdxl_refiner(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("model"), "Unknown model: {key}", where="invocations/sdxl.py")
    return {"unet": unet_field(model), "clip2": _clip(model, second=True), "vae": vae_field(model),
            "type": "sdxl_refiner_model_loader_output"}


def _t5(model: dict, kind: str) -> dict:
    """T5 submodels are named by the encoder's base, as the real helper does (FLUX's standalone
    encoder: base `any` → *_2; SD3's bundled one → *_3)."""
    suffixes: dict[t.Any, str] = {"any": "_2", "sd-3": "_3"}
    suffix = suffixes.get(model.get("base"))
    if suffix is None:
        raise NodeFailed("ValueError", f"Unsupported model base: {model.get('base')}", "util/t5_model_identifier.py")
    return identifier(model, kind + suffix)


def _t5_field(model: dict) -> dict:
    return {"tokenizer": _t5(model, "tokenizer"), "text_encoder": _t5(model, "text_encoder"), "loras": []}


def _flux(ctx: RunContext, node: dict) -> dict:
    parts = [node.get(key) or {} for key in ("model", "t5_encoder_model", "clip_embed_model", "vae_model")]
    for part in parts:
        require_model(ctx, part, "Unknown model: {key}", "ValueError", "invocations/flux_model_loader.py")
    model, t5, clip, vae = parts
    record = ctx.model(model["key"]) or {}
    max_seq_len = MAX_SEQ_LEN.get(str(record.get("config_path")))
    if max_seq_len is None:  # a record without the probe's key: tell schnell by its source
        origin = f"{record.get('source', '')} {record.get('name', '')}".lower()
        max_seq_len = 256 if "schnell" in origin else 512
    return {"transformer": {"transformer": identifier(model, "transformer"), "loras": []},
            "clip": clip_field(identifier(clip, "tokenizer"), identifier(clip, "text_encoder")),
            "t5_encoder": _t5_field(t5), "vae": vae_field(vae), "max_seq_len": max_seq_len,
            "type": "flux_model_loader_output"}


def _sd3(ctx: RunContext, node: dict) -> dict:
    """The real SD3 and CogView4 loaders check nothing: a missing model fails where it is loaded."""
    model = node["model"]
    vae, clip_l, clip_g = (node.get(key) or model for key in ("vae_model", "clip_l_model", "clip_g_model"))
    return {"transformer": {"transformer": identifier(model, "transformer"), "loras": []},
            "clip_l": clip_field(identifier(model, "tokenizer"), identifier(clip_l, "text_encoder")),
            "clip_g": clip_field(identifier(model, "tokenizer_2"), identifier(clip_g, "text_encoder_2")),
            "t5_encoder": _t5_field(node.get("t5_encoder_model") or model),
            "vae": vae_field(vae), "type": "sd3_model_loader_output"}


def _cogview4(ctx: RunContext, node: dict) -> dict:
    model = node["model"]
    return {"transformer": {"transformer": identifier(model, "transformer"), "loras": []},
            "glm_encoder": {"tokenizer": identifier(model, "tokenizer"),
                            "text_encoder": identifier(model, "text_encoder")},
            "vae": vae_field(model), "type": "cogview4_model_loader_output"}


def _vae(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("vae_model"), "Unknown vae: {key}!")
    return {"vae": {"vae": identifier(model, model.get("submodel_type")), "seamless_axes": []}, "type": "vae_output"}


def _model_identifier(ctx: RunContext, node: dict) -> dict:
    model = require_model(ctx, node.get("model"), "Unknown model {key}")
    return {"model": {**model, "submodel_type": model.get("submodel_type")}, "type": "model_identifier_output"}


# -- LoRAs ---------------------------------------------------------------------------------------

FLUX_LORA_PARTS = {"transformer": "transformer.", "clip": "CLIP encoder.", "t5_encoder": "T5 encoder."}


def _lora_loader(output_type: str, parts: tuple[str, ...], where: str = "invocations/model.py",
                 error_type: str = "Exception", labels: dict[str, str] | None = None) -> Runner:
    """One LoRA onto each given model field; the real loader refuses one already applied."""
    def run(ctx: RunContext, node: dict) -> dict:
        lora = require_model(ctx, node.get("lora"), "Unknown lora: {key}!", error_type, where)
        output: dict[str, t.Any] = {part: None for part in parts}
        for part in parts:
            field = node.get(part)
            if field is None:
                continue
            if any(applied["lora"]["key"] == lora["key"] for applied in field.get("loras", [])):
                label = (labels or {}).get(part, part)
                raise NodeFailed(error_type, f'LoRA "{lora["key"]}" already applied to {label}', where)
            output[part] = {**copy.deepcopy(field),
                            "loras": [*copy.deepcopy(field.get("loras", [])), {"lora": lora, "weight": node["weight"]}]}
        return {**output, "type": output_type}
    return run


def _lora_collection_loader(output_type: str, parts: tuple[str, ...], bases: tuple[str, ...],
                            where: str = "invocations/model.py") -> Runner:
    """Every LoRA of the collection (once each) onto each given model field; the real loader
    asserts each is of the pipeline's base."""
    def run(ctx: RunContext, node: dict) -> dict:
        loras = node.get("loras")
        loras = loras if isinstance(loras, list) else [loras]
        output: dict[str, t.Any] = {part: copy.deepcopy(node.get(part)) for part in parts}
        added: list[str] = []
        for lora in loras:
            if lora is None or lora["lora"]["key"] in added:
                continue
            require_model(ctx, lora["lora"], "Unknown lora: {key}!", where=where)
            if lora["lora"].get("base") not in bases:
                raise NodeFailed("AssertionError", "", where)
            added.append(lora["lora"]["key"])
            for part in parts:
                if output[part] is not None:
                    output[part].setdefault("loras", []).append(copy.deepcopy(lora))
        return {**output, "type": output_type}
    return run


def _lora_selector(ctx: RunContext, node: dict) -> dict:
    return {"lora": {"lora": node.get("lora"), "weight": node["weight"]}, "type": "lora_selector_output"}


def _flux_control_lora(ctx: RunContext, node: dict) -> dict:
    lora = require_model(ctx, node.get("lora"), "Unknown lora: {key}!", "ValueError",
                         "invocations/flux_control_lora_loader.py")
    return {"control_lora": {"lora": lora, "weight": node["weight"], "img": node.get("image")},
            "type": "flux_control_lora_loader_output"}


# -- model field tweaks --------------------------------------------------------------------------

def _clip_skip(ctx: RunContext, node: dict) -> dict:
    clip = copy.deepcopy(node.get("clip"))
    if clip is not None:
        clip["skipped_layers"] += int(node["skipped_layers"])
    return {"clip": clip, "type": "clip_skip_output"}


def _seamless(ctx: RunContext, node: dict) -> dict:
    axes = [axis for axis, on in (("x", node["seamless_x"]), ("y", node["seamless_y"])) if on]
    unet, vae = copy.deepcopy(node.get("unet")), copy.deepcopy(node.get("vae"))
    for field in (unet, vae):
        if field is not None:
            field["seamless_axes"] = list(axes)
    return {"unet": unet, "vae": vae, "type": "seamless_output"}


def _freeu(ctx: RunContext, node: dict) -> dict:
    if node.get("unet") is None:
        raise NodeFailed("AttributeError", "'NoneType' object has no attribute 'freeu_config'", "invocations/model.py")
    unet = copy.deepcopy(node["unet"])
    unet["freeu_config"] = {key: node[key] for key in ("s1", "s2", "b1", "b2")}
    return {"unet": unet, "type": "unet_output"}


RUNNERS: dict[str, Runner] = {
    "main_model_loader": _main,
    "sdxl_model_loader": _sdxl,
    "sdxl_refiner_model_loader": _sdxl_refiner,
    "flux_model_loader": _flux,
    "sd3_model_loader": _sd3,
    "cogview4_model_loader": _cogview4,
    "vae_loader": _vae,
    "model_identifier": _model_identifier,
    "lora_loader": _lora_loader("lora_loader_output", ("unet", "clip")),
    "sdxl_lora_loader": _lora_loader("sdxl_lora_loader_output", ("unet", "clip", "clip2")),
    "flux_lora_loader": _lora_loader("flux_lora_loader_output", ("transformer", "clip", "t5_encoder"),
                                     "invocations/flux_lora_loader.py", "ValueError", FLUX_LORA_PARTS),
    "lora_collection_loader": _lora_collection_loader("lora_loader_output", ("unet", "clip"), ("sd-1", "sd-2")),
    "sdxl_lora_collection_loader": _lora_collection_loader("sdxl_lora_loader_output", ("unet", "clip", "clip2"),
                                                           ("sdxl",)),
    "flux_lora_collection_loader": _lora_collection_loader(
        "flux_lora_loader_output", ("transformer", "clip", "t5_encoder"), ("flux",), "invocations/flux_lora_loader.py"),
    "lora_selector": _lora_selector,
    "flux_control_lora_loader": _flux_control_lora,
    "clip_skip": _clip_skip,
    "seamless": _seamless,
    "freeu": _freeu,
}
