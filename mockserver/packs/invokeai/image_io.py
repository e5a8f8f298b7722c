"""What the image nodes share: loading their inputs from the gallery, saving their outputs, the
mask tensors they pass along, and failing the way the real node fails.

`nodes.py` owns the run context and the gallery helpers and imports the image nodes for its
registry, so they are reached through the module at call time, never at import.
"""

from __future__ import annotations

import typing as t

import numpy as np
from PIL import Image

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.nodes import RunContext

Runner = t.Callable[["RunContext", dict], dict]
MAX_IMAGE_PIXELS = 8192 * 8192  # the mock holds images in memory: Pillow's own bomb limit


def _nodes() -> t.Any:
    from mockserver.packs.invokeai import nodes
    return nodes


def fail(error_type: str, message: str, where: str = "invocations/image.py") -> t.NoReturn:
    raise _nodes().NodeFailed(error_type, message, where)


def load(ctx: RunContext, node: dict, key: str = "image", mode: str | None = None) -> Image.Image:
    """An input image by its field name, converted to `mode` as `context.images.get_pil` does."""
    picture = _nodes()._load(ctx, node, key)
    return picture.convert(mode) if mode and picture.mode != mode else picture


def load_optional(ctx: RunContext, node: dict, key: str, mode: str | None = None) -> Image.Image | None:
    return load(ctx, node, key, mode) if isinstance(node.get(key), dict) else None


def image_output(ctx: RunContext, node: dict, picture: Image.Image) -> dict:
    """Save a new image to the gallery (intermediate or not per the node) and answer `image_output`."""
    return _nodes()._image_output(ctx, node, picture)


def passthrough(node: dict, picture: Image.Image, key: str = "image") -> dict:
    """`image_output` naming the input image itself, as nodes that save nothing answer."""
    return {"image": {"image_name": node[key]["image_name"]}, "width": picture.width, "height": picture.height,
            "type": "image_output"}


def tensors(ctx: RunContext) -> dict:
    """Where named tensors live during a session: the context's `tensors` if it has one, else the
    same store the latents use (both are InvokeAI's `context.tensors`)."""
    store = getattr(ctx, "tensors", None)
    return store if isinstance(store, dict) else ctx.latents


def save_mask(ctx: RunContext, node: dict, mask: np.ndarray) -> dict:
    """A boolean (H, W) mask saved as a tensor; answers `mask_output` as InvokeAI's `MaskOutput`."""
    name = f"{node['id']}_mask_{ctx.rng.getrandbits(32):08x}"
    height, width = mask.shape
    tensors(ctx)[name] = {"mask": mask.astype(bool), "width": width, "height": height}
    return {"mask": {"tensor_name": name}, "width": width, "height": height, "type": "mask_output"}


def load_mask(ctx: RunContext, node: dict, key: str = "mask") -> np.ndarray:
    ref = node.get(key)
    entry = tensors(ctx).get(ref.get("tensor_name")) if isinstance(ref, dict) else None
    if not isinstance(entry, dict) or "mask" not in entry:
        name = ref.get("tensor_name") if isinstance(ref, dict) else None
        fail("ObjectNotFoundError", f"Object with name {name} not found",
             "services/object_serializer/object_serializer_disk.py")
    mask = np.asarray(entry["mask"])
    return mask if mask.dtype == bool else mask > 0.5


def size(width: t.Any, height: t.Any) -> tuple[int, int]:
    """A size a node may make: positive, and no larger than the mock keeps in memory."""
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        fail("ValueError", f"Image size must be positive, got {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        fail("OverflowError", f"Image of {width}x{height} pixels is too large")
    return width, height


def number(node: dict, key: str, default: float) -> float:
    value = node.get(key)
    return default if value is None else value


def color(node: dict, key: str, default: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    value = node.get(key)
    if not isinstance(value, dict):
        return default
    r, g, b, a = (int(value.get(channel, fallback)) for channel, fallback in zip("rgba", default))
    return r, g, b, a

