"""Graphs that run every InvokeAI node type: installed models of every kind the nodes need (starter
models, installed through the model manager's API), an uploaded image, and for each node type the
inputs it needs, direct values or edges from providers (loaders, text encoders, noise, a mask).

Inputs are built from the catalogue's field specs; `OVERRIDES` holds the per-type values where a
default would not do (a size, a prompt file, a label)."""

from __future__ import annotations

import json
import typing as t

from invokeai_support import ok, png_bytes, run_until_idle, set_speed
from starlette.testclient import TestClient

from mockserver.packs.invokeai.catalogue import FieldSpec, load_catalogue

MODELS = "/api/v2/models"
PROMPT_FILE = "/invokeai/prompts/landscapes.txt"

# role -> starter model source
STARTERS = {
    "sd1": "Lykon/dreamshaper-8",
    "sdxl": "Lykon/dreamshaper-xl-v2-turbo",
    "refiner": "stabilityai/stable-diffusion-xl-refiner-1.0",
    "flux": "InvokeAI/flux_schnell::transformer/base/flux1-schnell.safetensors",
    "t5": "InvokeAI/t5-v1_1-xxl::bfloat16",
    "clip_embed": "InvokeAI/clip-vit-large-patch14-text-encoder::bfloat16",
    "flux_vae": "black-forest-labs/FLUX.1-schnell::ae.safetensors",
    "sd3": "stabilityai/stable-diffusion-3.5-medium",
    "cogview4": "THUDM/CogView4-6B",
    "sdxl_vae": "madebyollin/sdxl-vae-fp16-fix",
    "lora": "https://huggingface.co/RalFinger/alien-style-lora-sdxl/resolve/main/alienzkin-sdxl.safetensors",
    "controlnet": "lllyasviel/control_v11p_sd15_canny",
    "t2i_adapter": "TencentARC/t2iadapter_canny_sd15v2",
    "ip_adapter": "https://huggingface.co/InvokeAI/ip_adapter_sd15/resolve/main/ip-adapter_sd15.safetensors",
    "flux_ip_adapter": "https://huggingface.co/XLabs-AI/flux-ip-adapter-v2/resolve/main/ip_adapter.safetensors",
    "flux_redux": "black-forest-labs/FLUX.1-Redux-dev::flux1-redux-dev.safetensors",
    "control_lora": "black-forest-labs/FLUX.1-Canny-dev-lora::flux1-canny-dev-lora.safetensors",
    "flux_controlnet": "InstantX/FLUX.1-dev-Controlnet-Union",
    "llava": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    "flux_fill": "black-forest-labs/FLUX.1-Fill-dev::flux1-fill-dev.safetensors",
    "sdxl_controlnet": "xinsir/controlNet-canny-sdxl-1.0",
    "sdxl_ip_adapter": "https://huggingface.co/InvokeAI/ip_adapter_sdxl_vit_h/resolve/main/ip-adapter_sdxl_vit-h.safetensors",
    "spandrel": "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
}
# (ui_model_type, first ui_model_base) -> role
MODEL_ROLES = {
    ("main", "sd-1"): "sd1", ("main", "sdxl"): "sdxl", ("main", "sdxl-refiner"): "refiner", ("main", "flux"): "flux",
    ("main", "sd-3"): "sd3", ("main", "cogview4"): "cogview4", ("main", None): "sd1",
    ("t5_encoder", None): "t5", ("clip_embed", None): "clip_embed", ("vae", "flux"): "flux_vae",
    ("vae", "sd-1"): "sdxl_vae", ("lora", "sd-1"): "lora", ("lora", "sdxl"): "lora", ("lora", "flux"): "lora",
    ("lora", None): "lora", ("controlnet", "sd-1"): "controlnet", ("controlnet", "flux"): "flux_controlnet",
    ("t2i_adapter", "sd-1"): "t2i_adapter", ("ip_adapter", "sd-1"): "ip_adapter",
    ("ip_adapter", "flux"): "flux_ip_adapter", ("flux_redux", "flux"): "flux_redux",
    ("control_lora", "flux"): "control_lora", ("llava_onevision", None): "llava",
    ("spandrel_image_to_image", None): "spandrel", (None, None): "sd1",
}


def install_models(client: TestClient) -> dict[str, dict]:
    """Every starter model the node graphs name, installed at instant speed: role -> identifier."""
    set_speed(client, "instant")
    ok(client.put("/__mock__/packs/invokeai/settings", json={"model_speed": "instant"}))
    found: dict[str, dict] = {}
    for role, source in STARTERS.items():
        job = ok(client.post(f"{MODELS}/install", params={"source": source}, json={}), 201)
        job = ok(client.get(f"{MODELS}/install/{job['id']}"))
        assert job["status"] == "completed", (role, job.get("error"))
        config = job["config_out"]
        found[role] = {key: config[key] for key in ("key", "hash", "name", "base", "type")}
    return found


def upload_image(client: TestClient, width: int = 64, height: int = 64,
                 metadata: dict | None = None) -> str:
    files = {"file": ("picture.png", png_bytes(width, height, (40, 120, 200)), "image/png")}
    data = {"metadata": json.dumps(metadata)} if metadata is not None else None
    response = client.post("/api/v1/images/upload", params={"image_category": "general", "is_intermediate": "false"},
                           files=files, data=data)
    return ok(response, 201)["image_name"]


def node(node_id: str, node_type: str, **fields: t.Any) -> dict:
    return {"id": node_id, "type": node_type, **fields}


def edge(source: str, source_field: str, destination: str, destination_field: str) -> dict:
    return {"source": {"node_id": source, "field": source_field},
            "destination": {"node_id": destination, "field": destination_field}}


def provider_nodes(models: dict[str, dict]) -> dict[str, tuple[dict, list[dict]]]:
    """Nodes that make the fields a node under test reads over an edge: id -> (node, its own edges)."""
    m = models
    return {
        "sd1": (node("sd1", "main_model_loader", model=m["sd1"]), []),
        "flux": (node("flux", "flux_model_loader", model=m["flux"], t5_encoder_model=m["t5"],
                      clip_embed_model=m["clip_embed"], vae_model=m["flux_vae"]), []),
        "sd3": (node("sd3", "sd3_model_loader", model=m["sd3"]), []),
        "cog": (node("cog", "cogview4_model_loader", model=m["cogview4"]), []),
        "noise": (node("noise", "noise", seed=7, width=64, height=64), []),
        "numbers": (node("numbers", "range", start=0, stop=3, step=1), []),
        "seven": (node("seven", "integer", value=7), []),
        "cond": (node("cond", "compel", prompt="a red fox"), [edge("sd1", "clip", "cond", "clip")]),
        "flux_cond": (node("flux_cond", "flux_text_encoder", prompt="a red fox", t5_max_seq_len=256),
                      [edge("flux", "clip", "flux_cond", "clip"), edge("flux", "t5_encoder", "flux_cond", "t5_encoder")]),
        "sd3_cond": (node("sd3_cond", "sd3_text_encoder", prompt="a red fox"),
                     [edge("sd3", "clip_l", "sd3_cond", "clip_l"), edge("sd3", "clip_g", "sd3_cond", "clip_g"),
                      edge("sd3", "t5_encoder", "sd3_cond", "t5_encoder")]),
        "cog_cond": (node("cog_cond", "cogview4_text_encoder", prompt="a red fox"),
                     [edge("cog", "glm_encoder", "cog_cond", "glm_encoder")]),
        "mask": (node("mask", "rectangle_mask", width=64, height=64, x_left=8, y_top=8, rectangle_width=32,
                      rectangle_height=32), []),
    }


# A field's type -> (provider, its output field), for fields that need an edge.
EDGE_PROVIDERS = {
    "UNetField": ("sd1", "unet"), "CLIPField": ("sd1", "clip"), "VAEField": ("sd1", "vae"),
    "TransformerField": ("flux", "transformer"), "T5EncoderField": ("flux", "t5_encoder"),
    "GlmEncoderField": ("cog", "glm_encoder"), "LatentsField": ("noise", "noise"),
    "ConditioningField": ("cond", "conditioning"), "ConditioningField | list[ConditioningField]": ("cond", "conditioning"),
    "FluxConditioningField | list[FluxConditioningField]": ("flux_cond", "conditioning"),
    "SD3ConditioningField": ("sd3_cond", "conditioning"), "CogView4ConditioningField": ("cog_cond", "conditioning"),
    "TensorField": ("mask", "mask"),
}
TRANSFORMERS = {"sd3_denoise": ("sd3", "transformer"), "cogview4_denoise": ("cog", "transformer")}
TILE = {"coords": {"left": 0, "top": 0, "right": 32, "bottom": 32}, "overlap": {"top": 0, "bottom": 0, "left": 0,
                                                                               "right": 0}}
WHOLE_TILE = {"coords": {"left": 0, "top": 0, "right": 64, "bottom": 64},
              "overlap": {"top": 0, "bottom": 0, "left": 0, "right": 0}}
GENERATORS = {"integer_generator": {"type": "integer_generator_arithmetic_sequence", "start": 0, "step": 1,
                                    "count": 3}}


def overrides(image: str) -> dict[str, dict]:
    """Values a node type needs beyond its defaults (or its type's usual value)."""
    picture = {"image_name": image}
    return {
        "crop_latents": {"x": 0, "y": 0, "width": 32, "height": 32},
        "lresize": {"width": 64, "height": 64},
        "lscale": {"scale_factor": 2.0},
        "prompt_from_file": {"file_path": PROMPT_FILE},
        "metadata_field_extractor": {"key": "positive_prompt"},
        "metadata_item": {"label": "seed", "value": 3},
        "metadata_item_linked": {"custom_label": "seed", "value": 3},
        "metadata_to_string": {"custom_label": "positive_prompt"},
        "metadata_to_integer": {"custom_label": "seed"},
        "metadata_to_float": {"custom_label": "cfg"},
        "metadata_to_bool": {"custom_label": "hrf"},
        "metadata_to_string_collection": {"custom_label": "tags"},
        "metadata_to_integer_collection": {"custom_label": "sizes"},
        "metadata_to_float_collection": {"custom_label": "weights"},
        "metadata_to_bool_collection": {"custom_label": "flags"},
        "rectangle_mask": {"width": 64, "height": 64, "x_left": 8, "y_top": 8, "rectangle_width": 32,
                           "rectangle_height": 32},
        "image_panel_layout": {"width": 64, "height": 64},
        "img_chan": {"channel": "R"},  # the uploaded image is RGB: "A" (the default) fails there, as for real
        "mask_edge": {"edge_size": 4, "edge_blur": 2, "low_threshold": 50, "high_threshold": 150},
        "flux_denoise": {"width": 64, "height": 64, "num_steps": 2},
        "flux_denoise_meta": {"width": 64, "height": 64, "num_steps": 2},
        "sd3_denoise": {"width": 64, "height": 64, "steps": 2},
        "cogview4_denoise": {"width": 64, "height": 64, "steps": 2},
        "denoise_latents": {"steps": 2}, "denoise_latents_meta": {"steps": 2},
        "tiled_multi_diffusion_denoise_latents": {"steps": 2, "tile_width": 64, "tile_height": 64, "tile_overlap": 16},
        "merge_tiles_to_image": {"tiles_with_images": [{"tile": WHOLE_TILE, "image": picture}]},
        "paste_image_into_bounding_box": {"bounding_box": {"x_min": 0, "y_min": 0, "x_max": 64, "y_max": 64}},
        "div": {"a": 7, "b": 2},
        "string_split": {"string": "left,right", "delimiter": ","},
        "grounding_dino": {"prompt": "a cat."},
        "ideal_size": {"width": 640, "height": 480},
        **{name: {"generator": value} for name, value in GENERATORS.items()},
    }


EXTRA_EDGES = {  # edges a node needs though the field is optional in its spec
    "denoise_latents": [("noise", "noise", "noise")], "denoise_latents_meta": [("noise", "noise", "noise")],
    "tiled_multi_diffusion_denoise_latents": [("noise", "noise", "noise")],
    # the real graph check wants an iterator fed a collection, and a collector fed an item
    "iterate": [("numbers", "collection", "collection")], "collect": [("seven", "value", "item")],
}


def direct_value(field: FieldSpec, models: dict[str, dict], image: str) -> t.Any:
    """A valid direct value for a field of this type."""
    picture = {"image_name": image}
    name = field.type_name
    if name == "ModelIdentifierField":
        kinds = field.schema.get("ui_model_type") or [None]
        bases = field.schema.get("ui_model_base") or [None]
        return models[MODEL_ROLES[(kinds[0], bases[0])]]
    simple: dict[str, t.Any] = {
        "ImageField": picture, "ImageField | list[ImageField]": picture, "list[ImageField]": [picture],
        "BoundingBoxField": {"x_min": 0, "y_min": 0, "x_max": 32, "y_max": 32},
        "ColorField": {"r": 10, "g": 20, "b": 30, "a": 255}, "Tile": TILE,
        "list[MetadataField]": [{"seed": 1}, {"steps": 20}],
        "list[MetadataItemField] | MetadataItemField": [{"label": "seed", "value": 1}],
        "list[integer]": [1, 2], "list[float]": [0.5, 1.5], "list[string]": ["a", "b"], "list[boolean]": [True],
        "list[LatentsField]": [], "string": "a cat", "integer": 32, "float": 1.5, "boolean": True, "any": 1,
    }
    if name in simple:
        return simple[name]
    if name == "enum":
        options = field.schema.get("enum") or next(o["enum"] for o in field.schema["anyOf"] if "enum" in o)
        return options[0]
    return {}


def needs_value(field: FieldSpec) -> bool:
    return field.required or (field.orig_required and "orig_default" not in field.schema)


def graph_for(node_type: str, models: dict[str, dict], image: str) -> dict:
    """A graph where `node_type` (id "under_test") gets every input it needs."""
    spec = load_catalogue().node(node_type)
    assert spec is not None
    providers = provider_nodes(models)
    fields = dict(overrides(image).get(node_type, {}))
    edges: list[dict] = []
    used: list[str] = []
    for name, field in spec.inputs.items():
        if name in fields or not needs_value(field):
            continue
        source = TRANSFORMERS.get(node_type) if field.type_name == "TransformerField" else None
        source = source or EDGE_PROVIDERS.get(field.type_name)
        if source is not None and field.input != "direct":
            edges.append(edge(source[0], source[1], "under_test", name))
            used.append(source[0])
        else:
            fields[name] = direct_value(field, models, image)
    for provider, output, destination in EXTRA_EDGES.get(node_type, []):
        edges.append(edge(provider, output, "under_test", destination))
        used.append(provider)
    nodes = {"under_test": node("under_test", node_type, **fields)}
    while used:  # the providers, and the providers they read from
        name = used.pop()
        if name in nodes:
            continue
        provider, own_edges = providers[name]
        nodes[name] = provider
        edges += own_edges
        used += [e["source"]["node_id"] for e in own_edges]
    return {"id": f"run-{node_type}", "nodes": nodes, "edges": edges}


def run_graph(client: TestClient, graph: dict) -> dict:
    """Enqueue one graph (instant speed) and return its finished queue item."""
    batch = ok(client.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": graph, "runs": 1}}))
    run_until_idle(client)
    # this route keeps null fields (the single-item route leaves them out)
    found = ok(client.post("/api/v1/queue/default/items_by_ids", json={"item_ids": batch["item_ids"]}))
    return found[0]


def result_of(item: dict, source: str) -> dict:
    """The output of a source node (its first prepared copy)."""
    prepared = item["session"]["source_prepared_mapping"][source][0]
    return item["session"]["results"][prepared]
