"""InvokeAI 6.8's model config classes (the `AnyModelConfig` members): which class a model's type and
format make, the fields each one serializes, and the checks and defaults a record's fields get."""

from __future__ import annotations

import copy
import typing as t

from mockserver.packs.invokeai.model_errors import ModelError

# -- config classes ------------------------------------------------------------------------------
# InvokeAI 6.8's AnyModelConfig members: type, formats (the first is the default), and the fields
# after the common ones, in the order the server serializes them.

COMMON_FIELDS = ("key", "hash", "path", "file_size", "name", "type", "format", "base", "source", "source_type",
                 "description", "source_api_response", "cover_image", "submodels", "usage_info")
_MAIN_X = ("trigger_phrases", "default_settings", "variant")
_CKPT_X = ("config_path", "converted_at")
_CHECKPOINT_FORMATS = ("checkpoint", "bnb_quantized_nf4b", "gguf_quantized")

CLASSES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "MainDiffusersConfig": ("main", ("diffusers",), (*_MAIN_X, "repo_variant")),
    "MainCheckpointConfig": ("main", _CHECKPOINT_FORMATS, (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "MainBnbQuantized4bCheckpointConfig": ("main", ("bnb_quantized_nf4b",),
                                           (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "MainGGUFCheckpointConfig": ("main", ("gguf_quantized",),
                                 (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "VAEDiffusersConfig": ("vae", ("diffusers",), ()),
    "VAECheckpointConfig": ("vae", _CHECKPOINT_FORMATS, _CKPT_X),
    "ControlNetDiffusersConfig": ("controlnet", ("diffusers",), ("default_settings", "repo_variant")),
    "ControlNetCheckpointConfig": ("controlnet", _CHECKPOINT_FORMATS, ("default_settings", *_CKPT_X)),
    "LoRALyCORISConfig": ("lora", ("lycoris",), ("trigger_phrases", "default_settings")),
    "LoRAOmiConfig": ("lora", ("omi",), ("trigger_phrases", "default_settings")),
    "LoRADiffusersConfig": ("lora", ("diffusers",), ("trigger_phrases", "default_settings")),
    "ControlLoRALyCORISConfig": ("control_lora", ("lycoris",), ("default_settings", "trigger_phrases")),
    "ControlLoRADiffusersConfig": ("control_lora", ("diffusers",), ("default_settings", "trigger_phrases")),
    "T5EncoderConfig": ("t5_encoder", ("t5_encoder",), ()),
    "T5EncoderBnbQuantizedLlmInt8bConfig": ("t5_encoder", ("bnb_quantized_int8b",), ()),
    "TextualInversionFileConfig": ("embedding", ("embedding_file",), ()),
    "TextualInversionFolderConfig": ("embedding", ("embedding_folder",), ()),
    "IPAdapterInvokeAIConfig": ("ip_adapter", ("invokeai",), ("image_encoder_model_id",)),
    "IPAdapterCheckpointConfig": ("ip_adapter", ("checkpoint",), ()),
    "T2IAdapterConfig": ("t2i_adapter", ("diffusers",), ("default_settings", "repo_variant")),
    "SpandrelImageToImageConfig": ("spandrel_image_to_image", ("checkpoint",), ()),
    "CLIPVisionDiffusersConfig": ("clip_vision", ("diffusers",), ("repo_variant",)),
    "CLIPLEmbedDiffusersConfig": ("clip_embed", ("diffusers",), ("repo_variant", "variant")),
    "CLIPGEmbedDiffusersConfig": ("clip_embed", ("diffusers",), ("repo_variant", "variant")),
    "SigLIPConfig": ("siglip", ("diffusers",), ("repo_variant",)),
    "FluxReduxConfig": ("flux_redux", ("checkpoint",), ()),
    "LlavaOnevisionConfig": ("llava_onevision", ("diffusers",), ("repo_variant",)),
}
CHECKPOINT_CLASSES = {name for name, (_, _, extras) in CLASSES.items() if "converted_at" in extras}
MAIN_SETTINGS = ("vae", "vae_precision", "scheduler", "steps", "cfg_scale", "cfg_rescale_multiplier", "width",
                 "height", "guidance")
SETTINGS_KIND = {"main": MAIN_SETTINGS, "lora": ("weight",), "control": ("preprocessor",)}
# Default image sizes InvokeAI gives a main model of each base.
MAIN_RESOLUTION = {"sd-1": 512, "sd-2": 768, "sdxl": 1024, "sdxl-refiner": 1024, "sd-3": 1024, "flux": 1024,
                   "cogview4": 1024}
# The legacy config file a checkpoint is converted with (relative to configs/).
LEGACY_CONFIGS = {("main", "sd-1"): "stable-diffusion/v1-inference.yaml",
                  ("main", "sd-2"): "stable-diffusion/v2-inference-v.yaml",
                  ("main", "sdxl"): "stable-diffusion/sd_xl_base.yaml",
                  ("main", "sdxl-refiner"): "stable-diffusion/sd_xl_refiner.yaml",
                  ("main", "flux"): "flux/flux1-dev.yaml",
                  ("vae", "sd-1"): "stable-diffusion/v1-inference.yaml",
                  ("vae", "sd-2"): "stable-diffusion/v2-inference-v.yaml",
                  ("vae", "sdxl"): "stable-diffusion/sd_xl_base.yaml",
                  ("controlnet", "sd-1"): "controlnet/cldm_v15.yaml",
                  ("controlnet", "sd-2"): "controlnet/cldm_v21.yaml",
                  ("controlnet", "sdxl"): "controlnet/cldm_xl.yaml"}
PREPROCESSORS = (("canny", "canny_image_processor"), ("mlsd", "mlsd_image_processor"),
                 ("depth", "depth_anything_image_processor"), ("normal", "normalbae_image_processor"),
                 ("seg", "segment_anything_processor"), ("lineart_anime", "lineart_anime_image_processor"),
                 ("lineart", "lineart_image_processor"), ("pose", "dw_openpose_image_processor"),
                 ("scribble", "pidi_image_processor"), ("sketch", "pidi_image_processor"),
                 ("softedge", "hed_image_processor"), ("shuffle", "content_shuffle_image_processor"),
                 ("tile", "tile_image_processor"))
IMAGE_ENCODERS = {"sd-1": "InvokeAI/ip_adapter_sd_image_encoder", "sdxl": "InvokeAI/ip_adapter_sdxl_image_encoder"}
RECORD_CHANGE_FIELDS = ("source", "source_type", "source_api_response", "name", "path", "description", "base",
                        "type", "key", "hash", "file_size", "format", "trigger_phrases", "default_settings",
                        "variant", "prediction_type", "upcast_attention", "config_path")
REQUIRED_STRINGS = ("hash", "path", "name", "base", "source", "source_type", "type", "format", "config_path")
# The other fields a config may not hold as null (ModelRecordChanges lets null through to them):
# pydantic's error type and message for a null assigned to each.
NOT_NULL = {"file_size": ("int_type", "Input should be a valid integer"),
            "upcast_attention": ("bool_type", "Input should be a valid boolean"),
            "prediction_type": ("enum", "Input should be 'epsilon', 'v_prediction' or 'sample'")}


def config_class(model_type: str, model_format: str, variant: t.Any = None) -> str | None:
    """The AnyModelConfig member for a type and format (None: InvokeAI has no such config)."""
    if model_type == "clip_embed" and model_format == "diffusers":
        return "CLIPGEmbedDiffusersConfig" if variant == "gigantic" else "CLIPLEmbedDiffusersConfig"
    preferred = {("main", "bnb_quantized_nf4b"): "MainBnbQuantized4bCheckpointConfig",
                 ("main", "gguf_quantized"): "MainGGUFCheckpointConfig"}
    if (model_type, model_format) in preferred:
        return preferred[(model_type, model_format)]
    for name, (kind, formats, _) in CLASSES.items():
        if kind == model_type and formats[0] == model_format:
            return name
    return None


def _settings_kind(cls: str) -> str | None:
    if cls.startswith("Main"):
        return "main"
    if cls.startswith("LoRA"):
        return "lora"
    if cls.startswith(("ControlNet", "ControlLoRA", "T2IAdapter")):
        return "control"
    return None


def _validation_text(cls: str, field: str, value: t.Any, kind: str, message: str) -> str:
    """pydantic's ValidationError text, which the update route puts in its 409."""
    return (f"1 validation error for {cls}\n{field}\n  {message} [type={kind}, input_value={value!r}, "
            f"input_type={type(value).__name__}]")


def _settings(cls: str, value: dict) -> dict:
    """A record's `default_settings`, every key of its class's kind present (an unknown key is a 409)."""
    kind = _settings_kind(cls)
    keys = SETTINGS_KIND.get(kind or "", ())
    unexpected = [k for k in value if k not in keys]
    if unexpected:
        raise ModelError(409, _validation_text(cls, f"default_settings.{unexpected[0]}", value[unexpected[0]],
                                               "extra_forbidden", "Extra inputs are not permitted"))
    return {k: value.get(k) for k in keys}


def _default_field(cls: str, field: str, info: dict, name: str) -> t.Any:
    """The value a new record of class `cls` gets for one of its extra fields, from what the probe found."""
    base, model_type = info["base"], info["type"]
    if field == "trigger_phrases":
        phrases = info.get("trigger_phrases")
        return list(dict.fromkeys(phrases)) if phrases else None
    if field == "default_settings":
        if info.get("default_settings") is not None:
            return _settings(cls, info["default_settings"])
        kind = _settings_kind(cls)
        if kind == "main" and base in MAIN_RESOLUTION:
            size = MAIN_RESOLUTION[base]
            return {**{k: None for k in MAIN_SETTINGS}, "width": size, "height": size}
        if kind == "control":
            lowered = name.lower()
            for needle, preprocessor in PREPROCESSORS:
                if needle in lowered:
                    return {"preprocessor": preprocessor}
        return None
    if field == "variant":
        if cls == "CLIPLEmbedDiffusersConfig":
            return "large"
        if cls == "CLIPGEmbedDiffusersConfig":
            return "gigantic"
        return info.get("variant") or "normal"
    if field == "repo_variant":
        return info.get("repo_variant") or ""
    if field == "config_path":
        return info.get("config_path") or LEGACY_CONFIGS.get((model_type, base), "")
    if field == "converted_at":
        return None
    if field == "prediction_type":
        return info.get("prediction_type") or ("v_prediction" if base == "sd-2" else "epsilon")
    if field == "upcast_attention":
        return bool(info.get("upcast_attention", False))
    if field == "image_encoder_model_id":
        return info.get("image_encoder_model_id") or IMAGE_ENCODERS.get(base, IMAGE_ENCODERS["sd-1"])
    return None


def changed_config(cls: str, config: dict, changes: dict) -> dict:
    """`update_model`'s new config: each field the client sent is assigned, and pydantic's assignment
    validation decides (a refusal is the route's 409, with pydantic's message: `ModelError`)."""
    model_type, formats, extras = CLASSES[cls]
    allowed = set(COMMON_FIELDS) | set(extras)
    updated = copy.deepcopy(config)
    for field, value in changes.items():
        if field not in RECORD_CHANGE_FIELDS:
            continue
        if field not in allowed:
            raise ModelError(409, f'"{cls}" object has no field "{field}"')
        if value is None and field in REQUIRED_STRINGS:
            raise ModelError(409, _validation_text(cls, field, value, "string_type",
                                                   "Input should be a valid string"))
        if value is None and field in NOT_NULL:
            raise ModelError(409, _validation_text(cls, field, value, *NOT_NULL[field]))
        if field == "type" and value != model_type:
            raise ModelError(409, _validation_text(cls, field, value, "literal_error",
                                                   f"Input should be '{model_type}'"))
        if field == "format" and value not in formats:
            expected = " or ".join(f"'{f}'" for f in formats)
            raise ModelError(409, _validation_text(cls, field, value, "literal_error" if len(formats) == 1
                                                   else "enum", f"Input should be {expected}"))
        if field == "key":
            continue  # the record keeps its key: the row is found by it
        if field == "default_settings" and value is not None:
            value = _settings(cls, value)
        if field == "trigger_phrases" and value is not None:
            value = list(dict.fromkeys(value))
        if field == "variant" and cls in ("CLIPLEmbedDiffusersConfig", "CLIPGEmbedDiffusersConfig"):
            expected = "large" if cls == "CLIPLEmbedDiffusersConfig" else "gigantic"
            if value != expected:
                raise ModelError(409, _validation_text(cls, field, value, "literal_error",
                                                       f"Input should be '{expected}'"))
        updated[field] = value
    return updated
