"""Metadata nodes: building the metadata dict an image carries (core_metadata, metadata items,
merging), and reading values, models, LoRAs and control adapters back out of it, with the real
nodes' lookups (a model by key when installed, else by name) and errors."""

from __future__ import annotations

import copy
import typing as t

from mockserver.packs.invokeai.runners import controls
from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner, identifier, load
from mockserver.packs.invokeai.runners.models import clip_field, unet_field, vae_field

APP_VERSION = "6.8.1"
CUSTOM_LABEL = "* CUSTOM LABEL *"
NODE_ATTRIBUTES = ("id", "type", "is_intermediate", "use_cache")
WHERE = "invocations/metadata_linked.py"


def without_none(value: t.Any) -> t.Any:
    """pydantic's `model_dump(exclude_none=True)`: None dropped at every depth."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def _metadata(data: dict) -> dict:
    return {"metadata": data, "type": "metadata_output"}


def _core_metadata(ctx: RunContext, node: dict) -> dict:
    """Every field given (extra fields too: the real node allows them), and the app's version."""
    fields = {k: v for k, v in node.items() if k not in NODE_ATTRIBUTES}
    return _metadata({**without_none(fields), "app_version": APP_VERSION})


def _metadata_node(ctx: RunContext, node: dict) -> dict:
    items = node.get("items") or []
    items = [items] if isinstance(items, dict) else items
    return _metadata({**{item["label"]: item["value"] for item in items}, "app_version": APP_VERSION})


def _merge(ctx: RunContext, node: dict) -> dict:
    merged: dict = {}
    for item in node.get("collection") or []:
        merged.update(item or {})
    return _metadata(merged)


def _label(node: dict) -> str:
    if node.get("label") == CUSTOM_LABEL:
        if not (node.get("custom_label") or "").strip():
            raise NodeFailed("ValueError", "You must enter a Custom Label", WHERE)
        return node["custom_label"]
    return str(node.get("label"))


def _linked(ctx: RunContext, node: dict) -> dict:
    value = node.get("value")
    if isinstance(value, dict) and set(value) == {"vae", "seamless_axes"}:  # a VAEField stores its model
        value = value["vae"]
    return _metadata({**copy.deepcopy(node.get("metadata") or {}), _label(node): value})


def _from_image(ctx: RunContext, node: dict) -> dict:
    load(ctx, node)
    return _metadata(ctx.image_metadata(node["image"]["image_name"]) or {})


def _field_extractor(ctx: RunContext, node: dict) -> dict:
    load(ctx, node)
    name = node["image"]["image_name"]
    metadata = ctx.image_metadata(name)
    if not metadata:
        raise NodeFailed("ValueError", f"No metadata found on image {name}", "invocations/metadata.py")
    if node.get("key") not in metadata:
        raise NodeFailed("ValueError", f"No key '{node.get('key')}' found in the metadata for {name}",
                         "invocations/metadata.py")
    value = metadata[node["key"]]
    if not isinstance(value, str):
        raise NodeFailed("ValueError", f"Metadata at key '{node['key']}' must be a string", "invocations/metadata.py")
    return {"value": value, "type": "string_output"}


def _to_value(output_type: str, key: str, convert: t.Callable[[t.Any], t.Any]) -> Runner:
    def run(ctx: RunContext, node: dict) -> dict:
        data = node.get("metadata") or {}
        return {key: convert(data.get(_label(node), node.get("default_value"))), "type": output_type}
    return run


# -- models out of metadata ------------------------------------------------------------------------

def _model_key(ctx: RunContext, data: dict, label: str, default: str, kind: str) -> str:
    """The real lookup: the entry's key when that model is installed, else the first installed model
    of the kind with its `name` (or `model_name`), else the default."""
    entry = data.get(label)
    if isinstance(entry, dict):
        if "key" in entry and ctx.model(entry["key"]) is not None:
            return entry["key"]
        for name_key in ("name", "model_name"):
            if name_key in entry:
                found = ctx.search_models(entry[name_key], kind)
                if found:
                    return found[0]["key"]
    return default


def _get_model(ctx: RunContext, key: str) -> dict:
    record = ctx.model(key) if key else None
    if record is None:
        raise NodeFailed("Exception", f"Unknown model: {key}", WHERE)
    return identifier(record)


def _default_key(node: dict, *path: str) -> str:
    value: t.Any = node.get("default_value")
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value or ""


def _to_model(sdxl: bool) -> Runner:
    def run(ctx: RunContext, node: dict) -> dict:
        data = node.get("metadata") or {}
        model = _get_model(ctx, _model_key(ctx, data, _label(node), _default_key(node, "key"), "main"))
        output = {"model": model, "name": f"{model['base']}: {model['name']}", "unet": unet_field(model),
                  "clip": clip_field(identifier(model, "tokenizer"), identifier(model, "text_encoder"))}
        if sdxl:
            output["clip2"] = clip_field(identifier(model, "tokenizer_2"), identifier(model, "text_encoder_2"))
        output["vae"] = vae_field(model)
        return {**output, "type": "metadata_to_sdxl_model_output" if sdxl else "metadata_to_model_output"}
    return run


def _to_vae(ctx: RunContext, node: dict) -> dict:
    data = node.get("metadata") or {}
    model = _get_model(ctx, _model_key(ctx, data, _label(node), _default_key(node, "vae", "key"), "vae"))
    return {"vae": {**vae_field(model)}, "type": "vae_output"}


def _metadata_loras(ctx: RunContext, entries: list) -> list[dict]:
    loras = []
    for entry in entries:
        key = _model_key(ctx, entry, "model", "", "lora") or _model_key(ctx, entry, "lora", "", "lora")
        if key:
            loras.append({"lora": _get_model(ctx, key), "weight": float(entry["weight"])})
    return loras


def _to_lora_collection(ctx: RunContext, node: dict) -> dict:
    data = node.get("metadata") or {}
    label = (node.get("custom_label") or "").strip() or "loras"
    given = node.get("loras")
    given = given if isinstance(given, list) else [given]
    collected: list[dict] = []
    for lora in given:
        if lora and lora["lora"]["key"] not in {c["lora"]["key"] for c in collected}:
            collected.append(lora)
    added = {c["lora"]["key"] for c in collected}
    collected += [lora for lora in _metadata_loras(ctx, data.get(label) or []) if lora["lora"]["key"] not in added]
    return {"lora": collected, "type": "metadata_to_lora_collection_output"}


def _to_loras(output_type: str, parts: tuple[str, ...]) -> Runner:
    def run(ctx: RunContext, node: dict) -> dict:
        data = node.get("metadata") or {}
        output = {part: copy.deepcopy(node.get(part)) for part in parts}
        for lora in _metadata_loras(ctx, data.get("loras") or []):
            for part in parts:
                field = output[part]
                if field is not None and all(a["lora"]["key"] != lora["lora"]["key"] for a in field["loras"]):
                    field["loras"].append(copy.deepcopy(lora))
        return {**output, "type": output_type}
    return run


def _to_adapters(label: str, model_field: str, given_key: str, kind: str, build: Runner, built_key: str,
                 output_type: str) -> Runner:
    """Controls listed in the metadata, rebuilt by the control node itself and added to the given ones."""
    def run(ctx: RunContext, node: dict) -> dict:
        data = node.get("metadata") or {}
        given = node.get(given_key)
        adapters = [] if given is None else (given if isinstance(given, list) else [given])
        adapters = list(adapters)
        for entry in data.get(label) or []:
            model = _get_model(ctx, _model_key(ctx, entry, model_field, "", kind))
            fields = {k: v for k, v in entry.items() if k not in (model_field, "processed_image")}
            adapters.append(build(ctx, {"id": node["id"], **controls.defaults(kind), **fields, model_field: model})
                            [built_key])
        return {given_key: adapters, "type": output_type}
    return run


RUNNERS: dict[str, Runner] = {
    "core_metadata": _core_metadata,
    "metadata": _metadata_node,
    "merge_metadata": _merge,
    "metadata_item": lambda ctx, node: {"item": {"label": node.get("label"), "value": node.get("value")},
                                        "type": "metadata_item_output"},
    "metadata_item_linked": _linked,
    "metadata_from_image": _from_image,
    "metadata_field_extractor": _field_extractor,
    "metadata_to_string": _to_value("string_output", "value", str),
    "metadata_to_integer": _to_value("integer_output", "value", int),
    "metadata_to_float": _to_value("float_output", "value", float),
    "metadata_to_bool": _to_value("boolean_output", "value", bool),
    "metadata_to_scheduler": _to_value("scheduler_output", "scheduler", str),
    "metadata_to_string_collection": _to_value("string_collection_output", "collection", list),
    "metadata_to_integer_collection": _to_value("integer_collection_output", "collection", list),
    "metadata_to_float_collection": _to_value("float_collection_output", "collection", list),
    "metadata_to_bool_collection": _to_value("boolean_collection_output", "collection", list),
    "metadata_to_model": _to_model(sdxl=False),
    "metadata_to_sdxl_model": _to_model(sdxl=True),
    "metadata_to_vae": _to_vae,
    "metadata_to_lora_collection": _to_lora_collection,
    "metadata_to_loras": _to_loras("lora_loader_output", ("unet", "clip")),
    "metadata_to_sdlx_loras": _to_loras("sdxl_lora_loader_output", ("unet", "clip", "clip2")),
    "metadata_to_controlnets": _to_adapters("controlnets", "control_model", "control_list", "controlnet",
                                            controls.controlnet, "control", "md_control_list_output"),
    "metadata_to_ip_adapters": _to_adapters("ipAdapters", "ip_adapter_model", "ip_adapter_list", "ip_adapter",
                                            controls.ip_adapter, "ip_adapter", "md_ip_adapter_list_output"),
    "metadata_to_t2i_adapters": _to_adapters("t2iAdapters", "t2i_adapter_model", "t2i_adapter_list", "t2i_adapter",
                                             controls.t2i_adapter, "t2i_adapter", "md_ip_adapters_output"),
}
