"""The InvokeAI image nodes the mock computes for real with Pillow and numpy: resizing, cropping,
pasting, channels, blurs, noise... each following what the InvokeAI 6.8.1 node computes.

`IMAGE_NODES` (type → runner) gathers these and the mask, filter, infill, processor and tile
nodes of the sibling modules; `nodes.py` merges it into its registry.
"""

from __future__ import annotations

import typing as t

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

from mockserver.packs.invokeai import image_ops
from mockserver.packs.invokeai.image_io import (
    Runner,
    color,
    fail,
    image_output,
    load,
    load_optional,
    number,
    passthrough,
    size,
)
from mockserver.packs.invokeai.image_nodes_filters import FILTER_NODES
from mockserver.packs.invokeai.image_nodes_masks import MASK_NODES
from mockserver.packs.invokeai.image_nodes_models import MODEL_NODES
from mockserver.packs.invokeai.image_nodes_tiles import TILE_NODES

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.runners.context import RunContext

def _resample(node: dict) -> Image.Resampling:
    return image_ops.RESAMPLING.get(node.get("resample_mode") or "bicubic", Image.Resampling.BICUBIC)


# ------------------------------------------------------------------------------ geometry

def _blank_image(ctx: RunContext, node: dict) -> dict:
    mode = node.get("mode") or "RGB"
    fill = color(node, "color", (0, 0, 0, 255))
    picture = Image.new(mode, size(number(node, "width", 512), number(node, "height", 512)),
                        fill if mode == "RGBA" else fill[:3])
    return image_output(ctx, node, picture)


def _resize(ctx: RunContext, node: dict) -> dict:
    target = size(number(node, "width", 512), number(node, "height", 512))
    return image_output(ctx, node, load(ctx, node).resize(target, resample=_resample(node)))


def _scale(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    factor = float(number(node, "scale_factor", 2.0))
    target = size(int(picture.width * factor), int(picture.height * factor))
    return image_output(ctx, node, picture.resize(target, resample=_resample(node)))


def _crop(ctx: RunContext, node: dict) -> dict:
    """The box may reach outside the image; what it covers there is transparent."""
    picture = load(ctx, node)
    canvas = Image.new("RGBA", size(number(node, "width", 512), number(node, "height", 512)), (0, 0, 0, 0))
    canvas.paste(picture, (-int(node.get("x") or 0), -int(node.get("y") or 0)))
    return image_output(ctx, node, canvas)


def _pad_crop(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    left, right, top, bottom = (int(node.get(key) or 0) for key in ("left", "right", "top", "bottom"))
    canvas = Image.new("RGBA", size(picture.width + left + right, picture.height + top + bottom), (0, 0, 0, 0))
    canvas.paste(picture, (left, top))
    return image_output(ctx, node, canvas)


def _paste(ctx: RunContext, node: dict) -> dict:
    """The image over the base at (x, y), the canvas grown to hold both unless cropping; a mask
    keeps the pasted image where it is black (InvokeAI inverts it before pasting)."""
    base = load(ctx, node, "base_image", "RGBA")
    picture = load(ctx, node, "image", "RGBA")
    mask = load_optional(ctx, node, "mask", "L")
    x, y = int(node.get("x") or 0), int(node.get("y") or 0)
    min_x, min_y = min(0, x), min(0, y)
    max_x, max_y = max(base.width, picture.width + x), max(base.height, picture.height + y)
    canvas = Image.new("RGBA", size(max_x - min_x, max_y - min_y), (0, 0, 0, 0))
    canvas.paste(base, (abs(min_x), abs(min_y)))
    layer = Image.new("RGBA", canvas.size)
    layer.paste(picture, (max(0, x), max(0, y)), mask=ImageOps.invert(mask) if mask is not None else None)
    canvas = Image.alpha_composite(canvas, layer)
    if node.get("crop"):
        canvas = canvas.crop((abs(min_x), abs(min_y), abs(min_x) + base.width, abs(min_y) + base.height))
    return image_output(ctx, node, canvas)


def _same_image(ctx: RunContext, node: dict) -> dict:
    """`image` and `show_image` hand their input on without saving anything."""
    return passthrough(node, load(ctx, node))


def _save(ctx: RunContext, node: dict) -> dict:
    return image_output(ctx, node, load(ctx, node))


def _kontext_prep(ctx: RunContext, node: dict) -> dict:
    """FLUX Kontext's input: the first image at the nearest preferred Kontext resolution (or cut
    to multiples of 16), the others scaled to its height and placed to its right."""
    refs = node.get("images") or []
    if not refs:
        fail("ValueError", "At least one image is required", "invocations/image.py")
    pictures = [load(ctx, {"image": ref}, "image", "RGBA") for ref in refs]
    first = pictures[0]
    if node.get("use_preferred_resolution", True):
        aspect = first.width / first.height
        _, width, height = min((abs(aspect - w / h), w, h) for w, h in image_ops.KONTEXT_RESOLUTIONS)
        final_height, first_width = 16 * int(height / 16), 16 * int(width / 16)
    else:
        final_height, first_width = max(16, 16 * (first.height // 16)), max(16, 16 * (first.width // 16))
    widths = [first_width] + [max(16, 16 * (int(final_height * p.width / p.height) // 16)) for p in pictures[1:]]
    canvas = Image.new("RGB", size(sum(widths), final_height))
    offset = 0
    for picture, width in zip(pictures, widths, strict=True):
        canvas.paste(picture.resize((width, final_height), Image.Resampling.LANCZOS), (offset, 0))
        offset += width
    return image_output(ctx, node, canvas)


def _heuristic_resize(ctx: RunContext, node: dict) -> dict:
    target = size(number(node, "width", 512), number(node, "height", 512))
    return image_output(ctx, node, image_ops.heuristic_resize(load(ctx, node, "image", "RGB"), target))


# ------------------------------------------------------------------------------ pixels

PNG_UNWRITABLE = {"CMYK", "YCbCr", "LAB", "HSV", "F"}  # modes Pillow cannot write as PNG


def _convert(ctx: RunContext, node: dict) -> dict:
    """The image in another mode. InvokeAI stores PNGs, so modes PNG cannot hold fail when the
    image is saved, as they do on the real server."""
    mode = node.get("mode") or "L"
    converted = load(ctx, node).convert(mode)
    if mode in PNG_UNWRITABLE:
        fail("ImageFileSaveException", "Image file not saved", "services/image_files/image_files_disk.py")
    return image_output(ctx, node, converted)


def _channel(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    name = node.get("channel") or "A"
    if name not in picture.getbands():
        fail("ValueError", f'The image has no channel "{name}"')
    return image_output(ctx, node, picture.getchannel(name))


def _multiply(ctx: RunContext, node: dict) -> dict:
    first, second = load(ctx, node, "image1"), load(ctx, node, "image2")
    if first.mode != second.mode or first.size != second.size:
        fail("ValueError", "images do not match")
    return image_output(ctx, node, ImageChops.multiply(first, second))


def _lerp(ctx: RunContext, node: dict) -> dict:
    """Values 0..255 mapped linearly onto min..max."""
    low, high = int(number(node, "min", 0)), int(number(node, "max", 255))
    values = np.asarray(load(ctx, node), dtype=np.float32) / 255.0 * (high - low) + low
    return image_output(ctx, node, Image.fromarray(np.uint8(values)))


def _inverse_lerp(ctx: RunContext, node: dict) -> dict:
    """Values min..max stretched onto 0..255, clamped."""
    low, high = int(number(node, "min", 0)), int(number(node, "max", 255))
    values = np.asarray(load(ctx, node), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.minimum(np.maximum(values - low, 0) / float(high - low), 1) * 255
    return image_output(ctx, node, Image.fromarray(np.uint8(np.nan_to_num(values))))


def _blur(ctx: RunContext, node: dict) -> dict:
    """A blur of the alpha-premultiplied image, un-premultiplied after, so transparent pixels
    do not bleed their colour into the visible ones."""
    picture = load(ctx, node, "image", "RGBA")
    radius = float(number(node, "radius", 8.0))
    alpha = picture.getchannel("A")
    premultiplied = ImageChops.multiply(picture, alpha.convert("RGBA"))
    premultiplied.putalpha(alpha)
    kind = ImageFilter.BoxBlur(radius) if node.get("blur_type") == "box" else ImageFilter.GaussianBlur(radius)
    blurred = np.asarray(premultiplied.filter(kind), dtype=np.float32)
    rgb = blurred[..., :3] / (blurred[..., 3:4] / 255.0 + 1e-6)
    out = np.dstack([np.clip(rgb, 0, 255), blurred[..., 3]]).astype(np.uint8)
    return image_output(ctx, node, Image.fromarray(out, "RGBA"))


UNSHARP_BAND_ROWS = 256  # rows sharpened at a time: float64 copies of a whole upscaled image run to gigabytes


def _unsharp(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    mode = picture.mode
    alpha = picture.getchannel("A") if mode == "RGBA" else None
    rgb = picture.convert("RGB")
    blurred = rgb.filter(ImageFilter.GaussianBlur(float(number(node, "radius", 2))))
    out = Image.fromarray(_sharpened(np.asarray(rgb), np.asarray(blurred), float(number(node, "strength", 50)) / 100.0))
    out = out.convert(mode)
    if alpha is not None:
        out.putalpha(alpha)
    return image_output(ctx, node, out)


def _sharpened(values: np.ndarray, blurred: np.ndarray, amount: float) -> np.ndarray:
    """`clip(v + (v - blur) * amount, 0, 1)` on values scaled to 0..1, in float64, truncated back
    to bytes; band by band and in place, which gives the same bytes as the whole-image arithmetic
    at a fraction of its memory traffic."""
    out = np.empty(values.shape, dtype=np.uint8)
    for top in range(0, values.shape[0], UNSHARP_BAND_ROWS):
        rows = slice(top, top + UNSHARP_BAND_ROWS)
        band = values[rows].astype(np.float64)
        band /= 255
        difference = blurred[rows].astype(np.float64)
        difference /= 255
        np.subtract(band, difference, out=difference)
        difference *= amount
        band += difference
        np.clip(band, 0, 1, out=band)
        band *= 255
        out[rows] = band.astype(np.uint8)
    return out


def _noise(ctx: RunContext, node: dict) -> dict:
    """Gaussian or salt-and-pepper noise from numpy's MT19937 for the seed, blended in by
    `amount`, only where an optional mask is black; alpha kept."""
    picture = load(ctx, node, "image", "RGBA")
    alpha = picture.getchannel("A")
    rng = np.random.RandomState(np.random.MT19937(np.random.SeedSequence(int(number(node, "seed", 0)))))
    amount, dot = float(number(node, "amount", 0.1)), max(1, int(number(node, "size", 1)))
    shape = (max(1, picture.height // dot), max(1, picture.width // dot))
    coloured = node.get("noise_color", True)
    if node.get("noise_type") == "salt_and_pepper":
        values = rng.choice([0, 255], shape + ((3,) if coloured else ()), p=[1 - amount, amount])
    else:
        values = rng.normal(0, 1, shape + ((3,) if coloured else ())) * 255
    if not coloured:
        values = np.stack([values] * 3, axis=-1)
    noise = Image.fromarray(values.astype(np.uint8), "RGB").resize(picture.size, Image.Resampling.NEAREST)
    noisy = Image.blend(picture.convert("RGB"), noise, amount).convert("RGBA")
    mask = load_optional(ctx, node, "mask", "L")
    if mask is not None:
        if mask.size != picture.size:
            mask = mask.resize(picture.size, Image.Resampling.LANCZOS)
        result = picture.copy()
        result.paste(noisy, (0, 0), mask=ImageOps.invert(mask))
        noisy = result
    noisy.putalpha(alpha)
    return image_output(ctx, node, noisy)


def _nsfw(ctx: RunContext, node: dict) -> dict:
    """The safety checker finds nothing in the mock (no checker model), so the image is saved as is."""
    return image_output(ctx, node, load(ctx, node))


def _watermark(ctx: RunContext, node: dict) -> dict:
    """An invisible watermark: the text's bits written, repeated, into the blue channel's lowest bit
    (InvokeAI uses a DWT-DCT watermark; either way the picture looks unchanged)."""
    picture = load(ctx, node).convert("RGB")
    text = str(node.get("text") if node.get("text") is not None else "InvokeAI").encode()
    bits = np.unpackbits(np.frombuffer(text or b"\0", dtype=np.uint8))
    values = np.array(picture)
    blue = values[..., 2].reshape(-1)
    pattern = np.resize(bits, blue.shape)
    values[..., 2] = ((blue & 0xFE) | pattern).reshape(values.shape[:2])
    return image_output(ctx, node, Image.fromarray(values, "RGB").convert("RGBA"))


def _hue(ctx: RunContext, node: dict) -> dict:
    hsv = np.array(load(ctx, node).convert("HSV"))
    shift = int(256 * ((int(number(node, "hue", 0)) % 360) / 360))
    hsv[..., 0] = (hsv[..., 0].astype(int) + shift) % 256
    return image_output(ctx, node, Image.fromarray(hsv, "HSV").convert("RGBA"))


def _channel_op(scale: bool) -> Runner:
    def run(ctx: RunContext, node: dict) -> dict:
        picture = load(ctx, node, "image", "RGBA")
        name = node.get("channel") or "Red (RGBA)"
        if name not in image_ops.CHANNEL_FORMATS:
            fail("ValueError", f"Unknown channel {name!r}")
        mode, index = image_ops.CHANNEL_FORMATS[name]
        values = np.array(picture.convert(mode)).astype(float)
        channel = values[..., index]
        if scale:
            channel = np.clip(channel * float(number(node, "scale", 1.0)), 0, 255)
            if node.get("invert_channel"):
                channel = 255 - channel
        elif name == "Hue (HSV)":
            channel = (channel + int(number(node, "offset", 0))) % 256
        else:
            channel = np.clip(channel + int(number(node, "offset", 0)), 0, 255)
        values[..., index] = channel
        out = Image.fromarray(values.astype(np.uint8), mode).convert("RGBA")
        if name != "Alpha (RGBA)":
            out.putalpha(picture.getchannel("A"))
        return image_output(ctx, node, out)
    return run


BASIC_NODES: dict[str, Runner] = {
    "blank_image": _blank_image, "img_resize": _resize, "img_scale": _scale, "img_crop": _crop,
    "img_pad_crop": _pad_crop, "img_paste": _paste, "image": _same_image, "show_image": _same_image,
    "save_image": _save, "flux_kontext_image_prep": _kontext_prep, "heuristic_resize": _heuristic_resize,
    "img_conv": _convert, "img_chan": _channel, "img_mul": _multiply, "img_lerp": _lerp, "img_ilerp": _inverse_lerp,
    "img_blur": _blur, "unsharp_mask": _unsharp, "img_noise": _noise, "img_nsfw": _nsfw,
    "img_watermark": _watermark, "img_hue_adjust": _hue, "img_channel_offset": _channel_op(scale=False),
    "img_channel_multiply": _channel_op(scale=True),
}

IMAGE_NODES: dict[str, Runner] = {**BASIC_NODES, **MASK_NODES, **FILTER_NODES, **MODEL_NODES, **TILE_NODES}
