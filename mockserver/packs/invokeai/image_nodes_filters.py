"""InvokeAI's adjustment and compositing nodes (the `invokeai_img_*` family) and its infill nodes,
computed with Pillow and numpy.
"""

from __future__ import annotations

import typing as t

import numpy as np
from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageEnhance, ImageOps

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
)

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.runners.context import RunContext


# ------------------------------------------------------------------------------ adjustments

def _enhance(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    if node.get("invert"):
        picture = ImageOps.invert(picture if picture.mode in ("L", "RGB") else picture.convert("RGB"))
    for key, enhancer in (("color", ImageEnhance.Color), ("contrast", ImageEnhance.Contrast),
                          ("brightness", ImageEnhance.Brightness), ("sharpness", ImageEnhance.Sharpness)):
        factor = float(number(node, key, 1.0))
        if factor != 1.0:
            picture = enhancer(picture).enhance(factor)
    return image_output(ctx, node, picture)


def _achromatic_lightness(ctx: RunContext, node: dict) -> dict:
    """CIELAB lightness. InvokeAI's node adds a chroma term, but sums it over the whole image
    (a tensordot over both axes) and normalises it away again, so what comes out is L itself; this
    follows its float32 arithmetic (values truncated to bytes as torchvision does)."""
    lab = np.asarray(load(ctx, node).convert("RGB").convert("LAB"), dtype=np.float32) / np.float32(255)
    lightness = lab[..., 0]
    a, b = lab[..., 1] * 2 - 1, lab[..., 2] * 2 - 1
    chroma, hue = np.sqrt(a ** 2 + b ** 2), np.arctan2(b, a)
    k = (0.1644, 0.0603, 0.1307, 0.0060)
    shifted = np.remainder(hue - np.pi / 2 + 3 * np.pi, 2 * np.pi) - np.pi
    f_by = k[0] * np.abs(np.sin(shifted / 2.0)) + k[1]
    f_r = np.where(np.abs(hue) <= np.pi / 2, k[2] * np.abs(np.cos(hue)) + k[3], 0.0)
    adjustment = np.float32(((f_by + f_r) * chroma).sum(dtype=np.float32))
    values = ((lightness + adjustment) - adjustment) / ((1 + adjustment) - adjustment)
    return image_output(ctx, node, Image.fromarray((np.clip(values, 0, 1) * 255).astype(np.uint8), "L"))


def _split_alpha(picture: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if picture.mode in ("RGBA", "LA", "PA"):
        return picture.convert("RGB"), picture.getchannel("A")
    return picture.convert("RGB"), None


def _with_lightness(picture: Image.Image, change: t.Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply `change` to the CIELAB L channel only, keeping colour and alpha."""
    rgb, alpha = _split_alpha(picture)
    lab = rgb.convert("LAB")
    l_channel, a_channel, b_channel = lab.split()
    out = Image.merge("LAB", (change(l_channel), a_channel, b_channel)).convert("RGB")
    if picture.mode == "L":
        return out.convert("L")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def _dilate_erode(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    radius_w, radius_h = int(number(node, "radius_w", 4)), int(number(node, "radius_h", 4))
    dilate = (node.get("mode") or "Dilate") == "Dilate"

    def change(channel_image: Image.Image) -> Image.Image:
        values = image_ops.morph_ellipse(np.asarray(channel_image), radius_w, radius_h, dilate)
        return Image.fromarray(values, channel_image.mode)

    if node.get("lightness_only"):
        return image_output(ctx, node, _with_lightness(picture, change))
    bands = [change(band) for band in picture.split()]
    return image_output(ctx, node, Image.merge(picture.mode, bands) if len(bands) > 1 else bands[0])


def _to_grid(picture: Image.Image) -> Image.Image:
    """InvokeAI's `image_resized_to_grid_as_tensor`: trimmed to multiples of 8 (Lanczos)."""
    size = (picture.width - picture.width % 8, picture.height - picture.height % 8)
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


def _value_thresholds(ctx: RunContext, node: dict) -> dict:
    """Values past the thresholds pushed to black/white (all channels, or the CIELAB lightness
    only). As in InvokeAI, the image goes through its tensor grid, so sizes are trimmed to
    multiples of 8, and the lightness-only path fails for other sizes (its channels then differ)."""
    picture = load(ctx, node)
    upper, lower = float(number(node, "threshold_upper", 0.5)), float(number(node, "threshold_lower", 0.5))
    invert, renormalize = bool(node.get("invert_output")), bool(node.get("renormalize_values"))

    def change(channel_image: Image.Image) -> Image.Image:
        values = np.asarray(_to_grid(channel_image), dtype=np.float32) / 255.0
        out = image_ops.thresholds(values, upper, lower, invert, renormalize)
        return Image.fromarray((out * 255).astype(np.uint8), "L")

    if node.get("lightness_only"):
        if picture.width % 8 or picture.height % 8:
            fail("ValueError", "images do not match", "invocations/composition-nodes.py")
        return image_output(ctx, node, _with_lightness(picture, change))
    if picture.mode not in ("L", "RGB", "RGBA"):
        picture = picture.convert("RGBA")
    bands = [change(band) for band in picture.split()]
    return image_output(ctx, node, Image.merge(picture.mode, bands) if len(bands) > 1 else bands[0])


def _hue_plus(ctx: RunContext, node: dict) -> dict:
    """Hue rotated by `degrees` (in HSV for every colour space the node offers; the Ok*/LCh
    spaces InvokeAI also offers rotate the same hue circle), lightness optionally kept."""
    picture = load(ctx, node)
    rgb, alpha = _split_alpha(picture)
    hsv = np.array(rgb.convert("HSV")).astype(int)
    hsv[..., 0] = (hsv[..., 0] + int(round(float(number(node, "degrees", 0.0)) / 360.0 * 256))) % 256
    out = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    if node.get("preserve_lightness"):
        l_original = rgb.convert("LAB").getchannel("L")
        _, a_channel, b_channel = out.convert("LAB").split()
        out = Image.merge("LAB", (l_original, a_channel, b_channel)).convert("RGB")
    if alpha is not None:
        out.putalpha(alpha)
    return image_output(ctx, node, out.convert(picture.mode) if picture.mode in ("L",) else out)


# ------------------------------------------------------------------------------ blending

def _blend_rgb(mode: str, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """One of InvokeAI's 23 blend modes on 0..1 RGB arrays."""
    eps = 1e-6
    luma = np.array([0.2126, 0.7152, 0.0722])
    simple: dict[str, t.Callable[[], np.ndarray]] = {
        "Normal": lambda: upper,
        "Lighten Only": lambda: np.maximum(upper, lower),
        "Darken Only": lambda: np.minimum(upper, lower),
        "Lighten Only (EAL)": lambda: np.where((upper @ luma >= lower @ luma)[..., None], upper, lower),
        "Darken Only (EAL)": lambda: np.where((upper @ luma <= lower @ luma)[..., None], upper, lower),
        "Linear Dodge (Add)": lambda: upper + lower,
        "Subtract": lambda: lower - upper,
        "Multiply": lambda: upper * lower,
        "Divide": lambda: lower / np.maximum(upper, eps),
        "Screen": lambda: 1 - (1 - upper) * (1 - lower),
        "Overlay": lambda: np.where(lower < 0.5, 2 * upper * lower, 1 - 2 * (1 - upper) * (1 - lower)),
        "Linear Burn": lambda: upper + lower - 1,
        "Difference": lambda: np.abs(upper - lower),
        "Hard Light": lambda: np.where(upper < 0.5, 2 * upper * lower, 1 - 2 * (1 - upper) * (1 - lower)),
        "Soft Light": lambda: (1 - 2 * upper) * lower ** 2 + 2 * upper * lower,
        "Vivid Light": lambda: np.where(upper < 0.5, 1 - (1 - lower) / np.maximum(2 * upper, eps),
                                        lower / np.maximum(2 * (1 - upper), eps)),
        "Linear Light": lambda: lower + 2 * upper - 1,
        "Color Burn": lambda: 1 - (1 - lower) / np.maximum(upper, eps),
        "Color Dodge": lambda: lower / np.maximum(1 - upper, eps),
    }
    if mode in simple:
        return np.clip(simple[mode](), 0, 1)
    return _blend_hsl(mode, upper, lower)


def _blend_hsl(mode: str, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Hue / Saturation / Color / Luminosity: the named HLS components from the upper layer."""
    uh, ul, us = image_ops.rgb_to_hls(upper)
    lh, ll, ls = image_ops.rgb_to_hls(lower)
    picks = {"Hue": (uh, ll, ls), "Saturation": (lh, ll, us), "Color": (uh, ll, us), "Luminosity": (lh, ul, ls)}
    if mode not in picks:
        fail("ValueError", f"Unknown blend mode {mode!r}", "invocations/composition-nodes.py")
    return np.clip(image_ops.hls_to_rgb(*picks[mode]), 0, 1)


def _blend(ctx: RunContext, node: dict) -> dict:
    """The upper layer fitted onto the base, blended, and composited with opacity, its alpha and
    the optional mask (white hides the upper layer). Blending runs in RGB whatever colour space
    is chosen."""
    base = load(ctx, node, "layer_base")
    upper = image_ops.fit_to(load(ctx, node, "layer_upper"), base, bool(node.get("fit_to_width")),
                             node.get("fit_to_height", True) is not False)
    upper = upper.convert("RGBA").crop((0, 0, base.width, base.height))
    mask = load_optional(ctx, node, "mask")
    lower_rgba = np.asarray(base.convert("RGBA"), dtype=np.float64) / 255.0
    upper_rgba = np.asarray(upper, dtype=np.float64) / 255.0
    blended = _blend_rgb(node.get("blend_mode") or "Normal", upper_rgba[..., :3], lower_rgba[..., :3])
    alpha_upper = upper_rgba[..., 3] * float(number(node, "opacity", 1.0))
    if mask is not None:
        fitted = image_ops.fit_to(mask, base, bool(node.get("fit_to_width")),
                                  node.get("fit_to_height", True) is not False)
        alpha_upper = alpha_upper * (1 - np.asarray(fitted.convert("L").crop((0, 0, base.width, base.height)),
                                                    dtype=np.float64) / 255.0)
    alpha_lower = lower_rgba[..., 3]
    alpha = alpha_upper + alpha_lower * (1 - alpha_upper)
    rgb = (blended * alpha_upper[..., None] + lower_rgba[..., :3] * (alpha_lower * (1 - alpha_upper))[..., None]) \
        / np.maximum(alpha, 1e-9)[..., None]
    out = Image.fromarray((np.dstack([rgb, alpha]) * 255).round().clip(0, 255).astype(np.uint8), "RGBA")
    return image_output(ctx, node, out.convert(base.mode) if base.mode in ("RGB", "RGBA", "L") else out)


def _composite(ctx: RunContext, node: dict) -> dict:
    """The subject over the background, its backdrop removed first: by chroma key when given,
    else by flood fill from the four corners."""
    background = load(ctx, node, "image_background", "RGBA")
    subject = load(ctx, node, "image_subject", "RGBA").copy()
    threshold = int(number(node, "threshold", 50))
    key = str(node.get("chroma_key") or "").strip()
    if key:
        try:
            rgba = (tuple(int(v) for v in key.strip("()").split(",")) if key.startswith("(")
                    else t.cast(tuple[int, ...], ImageColor.getcolor(key, "RGBA")))  # RGBA: always a tuple
        except ValueError as error:
            fail("ValueError", str(error), "invocations/composition-nodes.py")
        rgba = tuple(list(rgba) + [0] * (3 - len(rgba)))[:4] if len(rgba) < 3 else rgba
        rgba = rgba + (255,) if len(rgba) == 3 else rgba
        values = np.array(subject, dtype=np.float64)
        close = ((values - np.array(rgba, dtype=np.float64)) ** 2).sum(-1) < threshold ** 2
        values[close] = 0
        subject = Image.fromarray(values.astype(np.uint8), "RGBA")
    else:
        right, bottom = subject.width - 1, subject.height - 1
        for corner in ((0, 0), (0, bottom), (right, 0), (right, bottom)):
            ImageDraw.floodfill(subject, corner, (0, 0, 0, 0), thresh=threshold)
    subject = image_ops.fit_to(subject, background, bool(node.get("fill_x")), node.get("fill_y", True) is not False)
    x_offset, y_offset = int(number(node, "x_offset", 0)), int(number(node, "y_offset", 0))
    if x_offset or y_offset:
        subject = ImageChops.offset(subject, x_offset, -y_offset)
    layer = Image.new("RGBA", background.size, (0, 0, 0, 0))
    layer.paste(subject, (0, 0))
    return image_output(ctx, node, Image.alpha_composite(background, layer))


# ------------------------------------------------------------------------------ infill

def _infill(fill: t.Callable[[RunContext, dict, Image.Image], Image.Image]) -> Runner:
    """An infill node: an image without alpha comes back as is (no new image), as InvokeAI does."""
    def run(ctx: RunContext, node: dict) -> dict:
        picture = load(ctx, node)
        if picture.mode != "RGBA":
            return passthrough(node, picture)
        return image_output(ctx, node, fill(ctx, node, picture))
    return run


def _fill_color(ctx: RunContext, node: dict, picture: Image.Image) -> Image.Image:
    backdrop = Image.new("RGBA", picture.size, color(node, "color", (127, 127, 127, 255)))
    filled = Image.alpha_composite(backdrop, picture)
    filled.paste(picture, (0, 0), picture.getchannel("A"))
    return filled


def _fill_tile(ctx: RunContext, node: dict, picture: Image.Image) -> Image.Image:
    return image_ops.infill_tiles(picture, max(1, int(number(node, "tile_size", 32))), int(number(node, "seed", 0)))


def _fill_smooth(ctx: RunContext, node: dict, picture: Image.Image) -> Image.Image:
    """cv2's Telea inpainting and the LaMa model both fill the transparent area from its
    surroundings; the mock does so with a pull-push fill."""
    values = np.asarray(picture)
    return Image.fromarray(image_ops.fill_holes(values[..., :3], values[..., 3] > 0), "RGB")


def _fill_patchmatch(ctx: RunContext, node: dict, picture: Image.Image) -> Image.Image:
    """PatchMatch fills from the image's own surroundings; the result is pasted under the
    original's visible pixels."""
    filled = _fill_smooth(ctx, node, picture)
    filled.paste(picture, (0, 0), mask=picture.getchannel("A"))
    return filled


def _cv_inpaint(ctx: RunContext, node: dict) -> dict:
    """OpenCV inpainting of the area the mask marks black."""
    picture = load(ctx, node).convert("RGB")
    mask = load(ctx, node, "mask", "L")
    if mask.size != picture.size:
        fail("error", "OpenCV(4.10.0) error: (-209:Sizes of input arguments do not match)", "invocations/cv.py")
    values = np.asarray(picture)
    return image_output(ctx, node, Image.fromarray(image_ops.fill_holes(values, np.asarray(mask) > 0), "RGB"))


FILTER_NODES: dict[str, Runner] = {
    "invokeai_img_enhance": _enhance, "invokeai_ealightness": _achromatic_lightness,
    "invokeai_img_dilate_erode": _dilate_erode, "invokeai_img_val_thresholds": _value_thresholds,
    "invokeai_img_hue_adjust_plus": _hue_plus, "invokeai_img_blend": _blend, "invokeai_img_composite": _composite,
    "infill_rgba": _infill(_fill_color), "infill_tile": _infill(_fill_tile), "infill_cv2": _infill(_fill_smooth),
    "infill_lama": _infill(_fill_smooth), "infill_patchmatch": _infill(_fill_patchmatch), "cv_inpaint": _cv_inpaint,
}
