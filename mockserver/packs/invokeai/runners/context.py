"""What a running node may touch (`RunContext`), how it fails (`NodeFailed`), and the helpers every
runner module shares: images in and out of the gallery, stable names for tensors and conditioning,
and the real server's traceback shape."""

from __future__ import annotations

import base64
import collections
import hashlib
import io
import json
import random
import typing as t
import uuid
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from mockserver.packs.invokeai import imaging

MAX_TENSORS = 4096  # descriptors kept for latents, masks and conditioning: small dicts, oldest dropped first

Runner = t.Callable[["RunContext", dict], dict]


class NodeFailed(Exception):
    def __init__(self, error_type: str, message: str, where: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.where = where  # the module the real server's traceback ends in


class TensorStore(collections.OrderedDict):
    """Latents, masks and conditioning by name. The real server keeps them on disk across sessions
    (a cached node's output may name one made by an earlier session), so this outlives a session;
    the oldest go once there are more than MAX_TENSORS, however they were written."""

    def __setitem__(self, name: str, value: t.Any) -> None:
        super().__setitem__(name, value)
        self.move_to_end(name)
        while len(self) > MAX_TENSORS:
            self.popitem(last=False)

    def put(self, name: str, value: t.Any) -> str:
        self[name] = value
        return name


def _no_progress(message: str, percentage: float | None = None, image: Image.Image | None = None,
                 size: tuple[int, int] | None = None) -> None:
    return None


@dataclass
class RunContext:
    """What a running node may touch: the gallery, the installed models, the item it runs for."""

    save_image: t.Callable[[Image.Image, dict, str, str], dict]  # (image, node, node_id, category) -> {"image_name"}
    load_image: t.Callable[[str], Image.Image]
    model: t.Callable[[str], dict | None]
    rng: random.Random
    # (message, percentage, preview image, preview's displayed size): an `invocation_progress` event
    progress: t.Callable[..., None] = _no_progress
    tensors: TensorStore = field(default_factory=TensorStore)
    image_metadata: t.Callable[[str], dict | None] = lambda name: None
    read_prompt_file: t.Callable[[str], str | None] = lambda path: None
    search_models: t.Callable[[str, str], list[dict]] = lambda name, kind: []
    node_spec: t.Callable[[str], t.Any] = lambda node_type: None  # the catalogue's NodeSpec of a type

    @property
    def latents(self) -> TensorStore:
        """The same store under the name older image-node code reads (`context.tensors` on the real server)."""
        return self.tensors


# -- images -------------------------------------------------------------------------------------

def image_output(ctx: RunContext, node: dict, picture: Image.Image, category: str = "general") -> dict:
    """Save a picture to the gallery; masks go in the `mask` category, as the real mask nodes save them."""
    ctx.progress("Saving image")
    saved = ctx.save_image(picture, node, node["id"], category)
    return {"image": {"image_name": saved["image_name"]}, "width": picture.width, "height": picture.height,
            "type": "image_output"}


def load(ctx: RunContext, node: dict, key: str = "image") -> Image.Image:
    """The image a node's field names, or the real server's failure for a missing one."""
    ref = node.get(key)
    if isinstance(ref, list):  # a polymorphic field given a collection: its first image
        ref = ref[0] if ref else None
    if not isinstance(ref, dict) or "image_name" not in ref:
        raise NodeFailed("ValueError", f"No {key} was given", "invocations/primitives.py")
    return load_named(ctx, ref["image_name"])


def load_named(ctx: RunContext, name: str) -> Image.Image:
    try:
        return ctx.load_image(name)
    except KeyError:
        raise NodeFailed("ImageFileNotFoundException", f"Image {name} not found",
                         "services/image_files/image_files_disk.py") from None


def size(width: t.Any, height: t.Any) -> tuple[int, int]:
    """An image size a node may make: the mock holds images in memory, so it refuses what would
    not fit (Pillow's own bomb limit) instead of trying."""
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise NodeFailed("ValueError", f"Image size must be positive, got {width}x{height}", "invocations/image.py")
    if width * height > imaging.MAX_IMAGE_PIXELS:  # the same limit as every image route's
        raise NodeFailed("OverflowError", f"Image of {width}x{height} pixels is too large", "invocations/image.py")
    return width, height


def plausible_image(width: int, height: int, seed: int, prompt: str) -> Image.Image:
    """A stand-in for a generated picture: soft colour fields and shapes, the same for the same
    seed and prompt, different when either changes."""
    width, height = size(width, height)
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    rng = random.Random(digest)
    top = tuple(rng.randrange(40, 220) for _ in range(3))
    bottom = tuple(rng.randrange(40, 220) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top),
                              gradient)
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(width, height) // 16 + 1, max(width, height) // 4 + 2)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius],
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    return picture


def data_url(picture: Image.Image) -> str:
    """A progress preview as the real server sends it: a JPEG data URL."""
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


# -- names --------------------------------------------------------------------------------------

def stable_name(prefix: str, *parts: t.Any) -> str:
    """A name shaped like the real server's (`Tensor_<uuid>`), drawn from the inputs: the same
    inputs name the same stand-in, so the invocation cache and repeated runs agree."""
    text = json.dumps(parts, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).digest()[:16]
    return f"{prefix}_{uuid.UUID(bytes=digest, version=4)}"


def identifier(model: dict, submodel: str | None = None) -> dict:
    """A ModelIdentifierField with its submodel set, as `model_copy(update=...)` makes one."""
    found = {key: model.get(key) for key in ("key", "hash", "name", "base", "type")}
    return {**found, "submodel_type": submodel}


def require_model(ctx: RunContext, ref: t.Any, message: str, error_type: str = "Exception",
                  where: str = "invocations/model.py") -> dict:
    """The installed model a field names, or the real loader's own failure (`message` takes the key)."""
    key = ref.get("key") if isinstance(ref, dict) else None
    if key is None or ctx.model(key) is None:
        raise NodeFailed(error_type, message.format(key=key), where)
    return ref


def load_model(ctx: RunContext, ref: t.Any) -> None:
    """What `context.models.load` does first: find the model's record, or fail as the record store does."""
    key = ref.get("key") if isinstance(ref, dict) else None
    if key is None or ctx.model(key) is None:
        raise NodeFailed("UnknownModelException", "model not found", "services/model_records/model_records_sql.py")


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


# -- masks and latents in the tensor store ------------------------------------------------------------
# Conventions every runner module (and the image nodes) shares, after what the real tensors hold:
#   a TensorField mask (MaskOutput, regional guidance):  {"mask": <bool array (H, W), True = inside>, "width", "height"}
#   a DenoiseMaskField's mask_name:  {"mask": <float array (H, W): the mask image's values 0..1, 1 = keep,
#                                    0 = repaint>, "width", "height", "gradient"}
#   a LatentsField's latents_name:   {"kind": "latents", "width", "height" (pixels), "op", ...}
#     (`render.py` turns one into a picture)

def save_denoise_mask(ctx: RunContext, mask_image: Image.Image, *key: t.Any, gradient: bool = False,
                      masked_latents_name: str | None = None) -> dict:
    """A denoise mask from its mask image (black = the area the denoiser repaints); returns the
    DenoiseMaskField."""
    import numpy as np  # imported by the nodes that need it, not when the pack loads (~60 ms)

    values = np.asarray(mask_image.convert("L"), dtype=np.float32) / 255.0
    name = ctx.tensors.put(stable_name("Tensor", "denoise_mask", gradient, *key),
                           {"mask": values, "width": mask_image.width, "height": mask_image.height,
                            "gradient": gradient})
    return {"mask_name": name, "masked_latents_name": masked_latents_name, "gradient": gradient}


def repaint_map(ctx: RunContext, name: str | None) -> Image.Image | None:
    """Where a denoise mask lets the denoiser paint, as a picture mask (255 = repaint), or None."""
    found = ctx.tensors.get(name) if name else None
    if not isinstance(found, dict) or "mask" not in found:
        return None
    import numpy as np

    keep = np.clip(np.asarray(found["mask"], dtype=np.float32), 0.0, 1.0)
    if keep.ndim > 2:
        keep = keep.reshape(keep.shape[-2:])
    return Image.fromarray(((1.0 - keep) * 255).astype(np.uint8), "L")


def required(node: dict, *fields: str) -> None:
    """Inputs a node cannot run without (the registry checks the catalogue's; runners check theirs too)."""
    for name in fields:
        if node.get(name) is None:
            raise NodeFailed("RequiredConnectionException", f"Node {node['type']} missing connections for field {name}",
                             "invocations/baseinvocation.py")


def latents_info(ctx: RunContext, field: t.Any) -> dict:
    """The stand-in a LatentsField names, or the real server's failure to load it."""
    name = field.get("latents_name") if isinstance(field, dict) else None
    found = ctx.tensors.get(name)
    if not isinstance(found, dict) or found.get("kind") != "latents":
        # a KeyError: str() of it keeps the quotes
        raise NodeFailed("ObjectNotFoundError", f"'Object with name {name} not found'",
                         "services/object_serializer/object_serializer_disk.py")
    return found


def save_latents(ctx: RunContext, width: int, height: int, recipe: dict, seed: int | None = None) -> dict:
    """Latents of a picture `width`×`height` (pixels), made by `recipe`; returns the LatentsOutput."""
    name = ctx.tensors.put(stable_name("Tensor", "latents", width, height, recipe),
                           {"kind": "latents", "width": width, "height": height, **recipe})
    return {"latents": {"latents_name": name, "seed": seed}, "width": width, "height": height,
            "type": "latents_output"}
