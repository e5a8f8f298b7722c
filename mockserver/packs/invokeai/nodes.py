"""Running the invocation (node) types the mock can run for real.

Every type InvokeAI 6.8 knows is accepted at enqueue (`catalogue.py` lists them, and
`graph_validation.py` checks graphs against it); the ones that need no model run here and give real
outputs, image nodes save real images into the gallery, and model nodes fail as the real server does unless the model is installed
in the mock. A known type the mock does not run fails its queue item with a NotImplementedError
that says so, rather than pretending.
"""

from __future__ import annotations

import hashlib
import random
import typing as t
from dataclasses import dataclass, field

from PIL import Image, ImageDraw


MAX_IMAGE_PIXELS = 8192 * 8192
MODEL_LOADERS = {"main_model_loader", "sdxl_model_loader", "sdxl_refiner_model_loader", "flux_model_loader",
                 "sd3_model_loader", "cogview4_model_loader", "vae_loader", "lora_loader", "sdxl_lora_loader",
                 "controlnet", "ip_adapter", "t2i_adapter", "esrgan", "spandrel_image_to_image"}


# ============================================================================== running nodes

class NodeFailed(Exception):
    def __init__(self, error_type: str, message: str, where: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.where = where  # the module the real server's traceback ends in


@dataclass
class RunContext:
    """What a running node may touch: the gallery, the installed models, the item it runs for."""

    save_image: t.Callable[[Image.Image, dict, str], dict]  # (image, node, node_id) -> {"image_name"}
    load_image: t.Callable[[str], Image.Image]
    model: t.Callable[[str], dict | None]
    rng: random.Random
    progress: t.Callable[[str], None]
    prompts: dict[str, str] = field(default_factory=dict)  # conditioning name -> prompt text
    latents: dict[str, dict] = field(default_factory=dict)  # latents name -> size, seed, prompt


def _image_output(ctx: RunContext, node: dict, picture: Image.Image) -> dict:
    ctx.progress("Saving image")
    saved = ctx.save_image(picture, node, node["id"])
    return {"image": {"image_name": saved["image_name"]}, "width": picture.width, "height": picture.height,
            "type": "image_output"}


def _load(ctx: RunContext, node: dict, key: str = "image") -> Image.Image:
    ref = node.get(key)
    if not isinstance(ref, dict) or "image_name" not in ref:
        raise NodeFailed("ValueError", f"No {key} was given", "invocations/primitives.py")
    try:
        return ctx.load_image(ref["image_name"])
    except KeyError:
        raise NodeFailed("ImageFileNotFoundException", f"Image {ref['image_name']} not found",
                         "services/image_files/image_files_disk.py") from None


def _int(value: t.Any) -> dict:
    return {"value": int(value), "type": "integer_output"}


def _math(op: t.Callable[[int, int], t.Any]) -> t.Callable[[RunContext, dict], dict]:
    return lambda ctx, node: _int(op(node["a"], node["b"]))


def _divide(ctx: RunContext, node: dict) -> dict:
    if node["b"] == 0:
        raise NodeFailed("ZeroDivisionError", "division by zero", "invocations/math.py")
    return _int(int(node["a"] / node["b"]))


def _size(width: t.Any, height: t.Any) -> tuple[int, int]:
    """An image size a node may make: the mock holds images in memory, so it refuses what would
    not fit (Pillow's own bomb limit) instead of trying."""
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise NodeFailed("ValueError", f"Image size must be positive, got {width}x{height}", "invocations/image.py")
    if width * height > MAX_IMAGE_PIXELS:
        raise NodeFailed("OverflowError", f"Image of {width}x{height} pixels is too large", "invocations/image.py")
    return width, height


def _blank_image(ctx: RunContext, node: dict) -> dict:
    color = node.get("color") or {}
    rgba = tuple(int(color.get(channel, default)) for channel, default in (("r", 0), ("g", 0), ("b", 0), ("a", 255)))
    mode = node.get("mode", "RGB")
    picture = Image.new(mode, _size(node["width"], node["height"]), rgba if mode == "RGBA" else rgba[:3])
    return _image_output(ctx, node, picture)


def _resize(ctx: RunContext, node: dict) -> dict:
    picture = _load(ctx, node).resize(_size(node["width"], node["height"]), Image.Resampling.BICUBIC)
    return _image_output(ctx, node, picture)


def _crop(ctx: RunContext, node: dict) -> dict:
    x, y = int(node["x"]), int(node["y"])
    width, height = _size(node["width"], node["height"])
    picture = _load(ctx, node).crop((x, y, x + width, y + height))
    return _image_output(ctx, node, picture)


def _save(ctx: RunContext, node: dict) -> dict:
    return _image_output(ctx, node, _load(ctx, node))


def _collect(ctx: RunContext, node: dict) -> dict:
    items = node.get("item")
    collection = list(node.get("collection") or [])
    if isinstance(items, list):
        collection.extend(items)
    elif items is not None:
        collection.append(items)
    return {"collection": collection, "type": "collect_output"}


def _range(ctx: RunContext, node: dict) -> dict:
    if node["step"] == 0:
        raise NodeFailed("ValueError", "range() arg 3 must not be zero", "invocations/collections.py")
    return {"collection": list(range(node["start"], node["stop"], node["step"])), "type": "integer_collection_output"}


def _rand_int(ctx: RunContext, node: dict) -> dict:
    if node["low"] >= node["high"]:
        raise NodeFailed("ValueError", f"empty range for randrange() ({node['low']}, {node['high']})",
                         "invocations/math.py")
    return _int(ctx.rng.randrange(node["low"], node["high"]))


def _model_loader(output_type: str, parts: tuple[str, ...]) -> t.Callable[[RunContext, dict], dict]:
    def run(ctx: RunContext, node: dict) -> dict:
        model = node.get("model") or {}
        key = model.get("key")
        if key is None or ctx.model(key) is None:
            # The real loader's own words, as the recorded failure shows them.
            raise NodeFailed("Exception", f"Unknown model {key}", "invocations/model.py")
        identifier = {k: model.get(k) for k in ("key", "hash", "name", "base", "type")}
        submodels = {
            "unet": {"unet": {**identifier, "submodel_type": "unet"}, "scheduler": {**identifier, "submodel_type": "scheduler"},
                     "loras": [], "seamless_axes": [], "freeu_config": None},
            "clip": {"tokenizer": {**identifier, "submodel_type": "tokenizer"},
                     "text_encoder": {**identifier, "submodel_type": "text_encoder"}, "skipped_layers": 0, "loras": []},
            "clip2": {"tokenizer": {**identifier, "submodel_type": "tokenizer_2"},
                      "text_encoder": {**identifier, "submodel_type": "text_encoder_2"}, "skipped_layers": 0, "loras": []},
            "vae": {"vae": {**identifier, "submodel_type": "vae"}, "seamless_axes": []},
        }
        return {**{part: submodels[part] for part in parts}, "type": output_type}
    return run


def _conditioning(ctx: RunContext, node: dict) -> dict:
    name = f"{node['id']}_conditioning_{ctx.rng.getrandbits(32):08x}"
    ctx.prompts[name] = str(node.get("prompt", ""))
    return {"conditioning": {"conditioning_name": name, "mask": None}, "type": "conditioning_output"}


def _noise(ctx: RunContext, node: dict) -> dict:
    width, height = int(node["width"]) // 8 * 8, int(node["height"]) // 8 * 8
    name = f"{node['id']}_noise_{node['seed']}"
    ctx.latents[name] = {"width": width, "height": height, "seed": node["seed"], "prompt": ""}
    return {"noise": {"latents_name": name, "seed": node["seed"]}, "width": width, "height": height,
            "type": "noise_output"}


def _denoise(ctx: RunContext, node: dict) -> dict:
    if not node.get("unet"):
        raise NodeFailed("ValueError", "No UNet was given", "invocations/denoise_latents.py")
    noise = ctx.latents.get((node.get("noise") or {}).get("latents_name"), {"width": 512, "height": 512, "seed": 0})
    conditioning = (node.get("positive_conditioning") or {}).get("conditioning_name")
    name = f"{node['id']}_latents_{ctx.rng.getrandbits(32):08x}"
    ctx.latents[name] = {**noise, "prompt": ctx.prompts.get(conditioning, "")}
    return {"latents": {"latents_name": name, "seed": noise["seed"]}, "width": noise["width"],
            "height": noise["height"], "type": "latents_output"}


def _latents_to_image(ctx: RunContext, node: dict) -> dict:
    if not node.get("vae"):
        raise NodeFailed("ValueError", "No VAE was given", "invocations/latents_to_image.py")
    latents = ctx.latents.get((node.get("latents") or {}).get("latents_name"))
    if latents is None:
        raise NodeFailed("ValueError", "No latents were given", "invocations/latents_to_image.py")
    picture = plausible_image(latents["width"], latents["height"], latents["seed"], latents["prompt"])
    return _image_output(ctx, node, picture)


def plausible_image(width: int, height: int, seed: int, prompt: str) -> Image.Image:
    width, height = _size(width, height)
    """A stand-in for a generated picture: soft colour fields and shapes, the same for the same
    seed and prompt, different when either changes."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    rng = random.Random(digest)
    top = tuple(rng.randrange(40, 220) for _ in range(3))
    bottom = tuple(rng.randrange(40, 220) for _ in range(3))
    picture = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    for y in range(height):
        share = y / max(height - 1, 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * share) for a, b in zip(top, bottom)))
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(width, height) // 16 + 1, max(width, height) // 4 + 2)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius],
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    return picture


RUNNERS: dict[str, t.Callable[[RunContext, dict], dict]] = {
    "integer": lambda ctx, node: _int(node["value"]),
    "float": lambda ctx, node: {"value": float(node["value"]), "type": "float_output"},
    "string": lambda ctx, node: {"value": str(node["value"]), "type": "string_output"},
    "boolean": lambda ctx, node: {"value": bool(node["value"]), "type": "boolean_output"},
    "add": _math(lambda a, b: a + b),
    "sub": _math(lambda a, b: a - b),
    "mul": _math(lambda a, b: a * b),
    "div": _divide,
    "rand_int": _rand_int,
    "range": _range,
    "string_join": lambda ctx, node: {"value": f"{node['string_left']}{node['string_right']}", "type": "string_output"},
    "blank_image": _blank_image,
    "img_resize": _resize,
    "img_crop": _crop,
    "save_image": _save,
    "collect": _collect,
    "main_model_loader": _model_loader("model_loader_output", ("vae", "clip", "unet")),
    "sdxl_model_loader": _model_loader("sdxl_model_loader_output", ("unet", "clip", "clip2", "vae")),
    "compel": _conditioning,
    "sdxl_compel_prompt": _conditioning,
    "noise": _noise,
    "denoise_latents": _denoise,
    "l2i": _latents_to_image,
}


def run_node(ctx: RunContext, node: dict) -> dict:
    """One node's output (its inputs already filled from the edges), or NodeFailed."""
    runner = RUNNERS.get(node["type"])
    if runner is None:
        raise NodeFailed("NotImplementedError",
                         f"mockserver does not run '{node['type']}' nodes", "services/session_processor")
    try:
        return runner(ctx, node)
    except NodeFailed:
        raise
    except Exception as error:  # the real processor turns whatever a node raises into a failed item
        raise NodeFailed(type(error).__name__, str(error), "invocations/baseinvocation.py") from None


def traceback_for(failure: NodeFailed) -> str:
    """A traceback shaped like the real server's, ending in the module that raised."""
    root = "/opt/invokeai/lib/python3.11/site-packages/invokeai/app"
    return ("Traceback (most recent call last):\n"
            f'  File "{root}/services/session_processor/session_processor_default.py", line 130, in run_node\n'
            "    output = invocation.invoke_internal(context=context, services=self._services)\n"
            f'  File "{root}/invocations/baseinvocation.py", line 244, in invoke_internal\n'
            "    output = self.invoke(context)\n"
            f'  File "{root}/{failure.where}", in invoke\n'
            f"{failure.error_type}: {failure.message}\n")
