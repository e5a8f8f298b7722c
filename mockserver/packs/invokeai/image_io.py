"""What the image nodes share: loading their inputs from the gallery, saving their outputs, the
mask tensors they pass along (the tensor store's conventions, `runners/context.py`), and failing
the way the real node fails."""

from __future__ import annotations

import typing as t

import numpy as np
from PIL import Image

from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner, size, stable_name
from mockserver.packs.invokeai.runners.context import image_output as _image_output
from mockserver.packs.invokeai.runners.context import load as _load

__all__ = ["RunContext", "Runner", "color", "fail", "image_output", "load", "load_mask", "load_optional",
           "number", "passthrough", "save_mask", "size", "tensor_name"]


def fail(error_type: str, message: str, where: str = "invocations/image.py") -> t.NoReturn:
    raise NodeFailed(error_type, message, where)


def load(ctx: RunContext, node: dict, key: str = "image", mode: str | None = None) -> Image.Image:
    """An input image by its field name, converted to `mode` as `context.images.get_pil` does."""
    picture = _load(ctx, node, key)
    return picture.convert(mode) if mode and picture.mode != mode else picture


def load_optional(ctx: RunContext, node: dict, key: str, mode: str | None = None) -> Image.Image | None:
    return load(ctx, node, key, mode) if isinstance(node.get(key), dict) else None


def image_output(ctx: RunContext, node: dict, picture: Image.Image, category: str = "general") -> dict:
    """Save a new image to the gallery (intermediate or not per the node) and answer `image_output`."""
    return _image_output(ctx, node, picture, category)


def passthrough(node: dict, picture: Image.Image, key: str = "image") -> dict:
    """`image_output` naming the input image itself, as nodes that save nothing answer."""
    return {"image": {"image_name": node[key]["image_name"]}, "width": picture.width, "height": picture.height,
            "type": "image_output"}


def tensor_name(kind: str, node: dict) -> str:
    """A tensor name shaped like the real server's, the same for the same node inputs (so the
    invocation cache and repeated runs agree)."""
    return stable_name("Tensor", kind, node.get("type"), {k: v for k, v in node.items() if k != "id"})


def save_mask(ctx: RunContext, node: dict, mask: np.ndarray) -> dict:
    """A boolean (H, W) mask saved as a tensor; answers `mask_output` as InvokeAI's `MaskOutput`."""
    height, width = mask.shape
    name = ctx.tensors.put(tensor_name("mask", node), {"mask": mask.astype(bool), "width": width, "height": height})
    return {"mask": {"tensor_name": name}, "width": width, "height": height, "type": "mask_output"}


def load_mask(ctx: RunContext, node: dict, key: str = "mask") -> np.ndarray:
    ref = node.get(key)
    name = ref.get("tensor_name") if isinstance(ref, dict) else None
    entry = ctx.tensors.get(name) if name else None
    if not isinstance(entry, dict) or "mask" not in entry:
        fail("ObjectNotFoundError", f"'Object with name {name} not found'",
             "services/object_serializer/object_serializer_disk.py")
    mask = np.asarray(entry["mask"])
    if mask.ndim > 2:
        mask = mask.reshape(mask.shape[-2:])
    return mask if mask.dtype == bool else mask > 0.5


def number(node: dict, key: str, default: float) -> float:
    value = node.get(key)
    return default if value is None else value


def color(node: dict, key: str, default: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    value = node.get(key)
    if not isinstance(value, dict):
        return default
    r, g, b, a = (int(value.get(channel, fallback)) for channel, fallback in zip("rgba", default, strict=True))
    return r, g, b, a
