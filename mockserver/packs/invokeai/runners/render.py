"""Stand-in latents made visible: a latents descriptor (see `context.py`) decoded into the picture a
VAE would give. Noise decodes to noise, encoded images to themselves, and a denoise to a plausible
picture of its seed and prompt, drawn over its starting image by its strength and only where its
mask lets it repaint: so image-to-image keeps the input's look and inpainting changes only the mask."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mockserver.packs.invokeai.runners.context import RunContext, plausible_image, repaint_map

MAX_DEPTH = 64  # a chain of latent operations longer than this is drawn from its last step only


def render(ctx: RunContext, info: dict, depth: int = 0) -> Image.Image:
    width, height = int(info["width"]), int(info["height"])
    op = info.get("op")
    if op == "image":
        return _image(ctx, info["image"], width, height)
    if op == "noise":
        return noise_picture(width, height, int(info.get("seed") or 0))
    base = _source(ctx, info.get("base"), depth)
    if op == "resize" and base is not None:
        return base.resize((width, height), Image.Resampling.BILINEAR)
    if op == "crop" and base is not None:
        x, y = info["x"], info["y"]
        return base.crop((x, y, x + width, y + height))
    if op == "blend" and base is not None:
        other = _source(ctx, info.get("other"), depth)
        other = other.resize(base.size) if other is not None else base
        return Image.blend(base, other, float(info.get("alpha", 0.5))).resize((width, height))
    return _denoised(ctx, info, base, width, height)


def _source(ctx: RunContext, name: str | None, depth: int) -> Image.Image | None:
    found = ctx.tensors.get(name) if name else None
    if not isinstance(found, dict) or depth >= MAX_DEPTH:
        return None
    return render(ctx, found, depth + 1)


def _image(ctx: RunContext, name: str, width: int, height: int) -> Image.Image:
    try:
        picture = ctx.load_image(name).convert("RGB")
    except KeyError:  # the image was deleted since: a neutral grey rather than a failure
        return Image.new("RGB", (width, height), (128, 128, 128))
    return picture if picture.size == (width, height) else picture.resize((width, height), Image.Resampling.BICUBIC)


def _denoised(ctx: RunContext, info: dict, base: Image.Image | None, width: int, height: int) -> Image.Image:
    picture = plausible_image(width, height, int(info.get("seed") or 0), str(info.get("prompt") or ""))
    if base is None:
        return picture
    base = base if base.size == (width, height) else base.resize((width, height), Image.Resampling.BICUBIC)
    strength = min(max(float(info.get("strength", 1.0)), 0.0), 1.0)
    picture = Image.blend(base, picture, strength)
    repaint = repaint_map(ctx, info.get("mask"))
    if repaint is not None:
        picture = Image.composite(picture, base, repaint.resize((width, height), Image.Resampling.BILINEAR))
    return picture


def noise_picture(width: int, height: int, seed: int) -> Image.Image:
    """Gaussian-looking colour noise at latent resolution, scaled up: what decoding raw noise shows."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(height // 8, 1), max(width // 8, 1), 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.NEAREST)


def progress_frames(final: Image.Image, seed: int, steps: int, limit: int) -> list[tuple[float, Image.Image]]:
    """Previews at 1/8 size (as the real step callback sends), from noise towards the result: the
    starting latents (step 0), then one per step; past `limit` previews, every n-th step and the last."""
    small = final.resize((max(final.width // 8, 1), max(final.height // 8, 1)), Image.Resampling.BILINEAR)
    start = noise_picture(small.width * 8, small.height * 8, seed).resize(small.size)
    every = max(1, -(-(steps + 1) // limit))
    shown = [step for step in range(steps + 1) if (step + 1) % every == 0 or step == steps]
    return [(step / steps, Image.blend(start, small, step / steps)) for step in shown]
