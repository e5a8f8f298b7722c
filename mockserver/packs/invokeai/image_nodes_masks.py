"""InvokeAI's mask nodes: image masks (black/white images), mask tensors (boolean (H, W) arrays
passed by name, as `context.tensors` passes them), bounding boxes, the canvas composition nodes
and colour correction — computed as the 6.8.1 nodes compute them.
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
    load_mask,
    load_optional,
    number,
    save_mask,
    size,
    tensor_name,
)
from mockserver.packs.invokeai.runners.context import save_denoise_mask, save_latents

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.runners.context import RunContext

LATENT_SCALE_FACTOR = 8
MASK = "mask"  # the gallery category the real mask nodes save into
MAX_GRADIENT_RADIUS = 64


# ------------------------------------------------------------------------------ image masks

def _mask_from_alpha(ctx: RunContext, node: dict) -> dict:
    mask = load(ctx, node).split()[-1]
    return image_output(ctx, node, ImageOps.invert(mask) if node.get("invert") else mask, MASK)


def _mask_combine(ctx: RunContext, node: dict) -> dict:
    """InvokeAI multiplies the two masks: black in either stays black."""
    first, second = load(ctx, node, "mask1", "L"), load(ctx, node, "mask2", "L")
    if first.size != second.size:
        fail("ValueError", "images do not match")
    return image_output(ctx, node, ImageChops.multiply(first, second), MASK)


def _mask_edge(ctx: RunContext, node: dict) -> dict:
    """A band around the mask's edges: the mid-grey gradient plus Canny edges, dilated by half the
    edge size, box-blurred, inverted."""
    values = np.asarray(load(ctx, node, "image", "L"), dtype=np.uint8)
    gradient = np.uint8(255 * (1.0 - np.floor(np.abs(0.5 - values.astype(np.float32) / 255.0) * 2.0)))
    edges = image_ops.canny(values, float(number(node, "low_threshold", 100)),
                            float(number(node, "high_threshold", 200)))
    band = (gradient.astype(np.uint16) + edges).astype(np.uint8)  # uint8 wrap-around, as numpy does there
    reach = max(0, int(int(number(node, "edge_size", 0)) / 2))  # that many passes of a 3×3 dilation
    band = image_ops.morph_rect(band, (reach, reach), (reach, reach), dilate=True)
    mask = Image.fromarray(band)
    blur = int(number(node, "edge_blur", 0))
    if blur > 0:
        mask = mask.filter(ImageFilter.BoxBlur(blur))
    return image_output(ctx, node, ImageOps.invert(mask), MASK)


def _expand_mask_with_fade(ctx: RunContext, node: dict) -> dict:
    """Black stays black; white fades in over `fade_size_px` from the black areas along InvokeAI's
    cubic ease curve."""
    mask = load(ctx, node, "mask", "L")
    fade = int(number(node, "fade_size_px", 32))
    if fade == 0:
        return image_output(ctx, node, mask, MASK)
    white = np.asarray(mask) > int(number(node, "threshold", 0))
    distance = image_ops.distance_to_outside(white, fade)
    share = np.clip(distance / fade, 0, 1)
    curve = np.poly1d(np.polyfit([0.0, 1.0 / fade, 0.2, 0.8, 1.0], [0.0, 0.0, 0.2, 0.9, 1.0], 3))
    feather = np.clip(np.where(share >= 1.0, 1.0, curve(share)), 0, 1)
    out = np.where(white, (feather * 255).astype(np.uint8), 0).astype(np.uint8)
    return image_output(ctx, node, Image.fromarray(out, "L"), MASK)


def _mask_from_id(ctx: RunContext, node: dict) -> dict:
    """White where the RGBA colour is within `threshold` (Euclidean) of the ID colour."""
    values = np.asarray(load(ctx, node, "image", "RGBA"), dtype=np.float64)
    distance = np.linalg.norm(values - np.array(color(node, "color", (0, 0, 0, 255))), axis=-1)
    mask = Image.fromarray((distance < int(number(node, "threshold", 100))).astype(np.uint8) * 255)
    return image_output(ctx, node, ImageOps.invert(mask) if node.get("invert") else mask, MASK)


def _apply_mask_to_image(ctx: RunContext, node: dict) -> dict:
    """The mask becomes the image's alpha channel."""
    picture = load(ctx, node, "image", "RGBA")
    mask = load(ctx, node, "mask", "L")
    if node.get("invert_mask"):
        mask = ImageOps.invert(mask)
    if mask.size != picture.size:
        fail("ValueError", "images do not match")
    r, g, b, _ = picture.split()
    return image_output(ctx, node, Image.merge("RGBA", (r, g, b, mask)))


# ------------------------------------------------------------------------------ mask tensors

def _rectangle_mask(ctx: RunContext, node: dict) -> dict:
    width, height = size(number(node, "width", 0), number(node, "height", 0))
    mask = np.zeros((height, width), dtype=bool)
    left, top = int(number(node, "x_left", 0)), int(number(node, "y_top", 0))
    mask[max(top, 0):max(top + int(number(node, "rectangle_height", 0)), 0),
         max(left, 0):max(left + int(number(node, "rectangle_width", 0)), 0)] = True
    return save_mask(ctx, node, mask)


def _alpha_mask_to_tensor(ctx: RunContext, node: dict) -> dict:
    alpha = np.asarray(load(ctx, node, "image", "RGBA"))[..., 3]
    return save_mask(ctx, node, alpha == 0 if node.get("invert") else alpha > 0)


def _image_mask_to_tensor(ctx: RunContext, node: dict) -> dict:
    """True where the mask image is darker than the cutoff (at or above it when inverting)."""
    values = np.asarray(load(ctx, node, "image", "L"))
    cutoff = int(number(node, "cutoff", 128))
    return save_mask(ctx, node, values >= cutoff if node.get("invert") else values < cutoff)


def _invert_tensor_mask(ctx: RunContext, node: dict) -> dict:
    return save_mask(ctx, node, ~load_mask(ctx, node))


def _tensor_mask_to_image(ctx: RunContext, node: dict) -> dict:
    return image_output(ctx, node, Image.fromarray(load_mask(ctx, node).astype(np.uint8) * 255, "L"))


def _apply_tensor_mask_to_image(ctx: RunContext, node: dict) -> dict:
    """The mask becomes the alpha of the visible pixels; transparent ones stay transparent."""
    picture = np.asarray(load(ctx, node, "image", "RGBA"))
    mask = load_mask(ctx, node).astype(np.uint8) * 255
    if node.get("invert"):
        mask = 255 - mask
    if mask.shape != picture.shape[:2]:
        fail("ValueError", f"mask of shape {mask.shape} does not fit the image of shape {picture.shape[:2]}",
             "invocations/mask.py")
    alpha = np.where(picture[..., 3] > 0, mask, picture[..., 3])
    return image_output(ctx, node, Image.fromarray(np.dstack([picture[..., :3], alpha]).astype(np.uint8), "RGBA"))


# ------------------------------------------------------------------------------ bounding boxes

def _box(x_min: int, y_min: int, x_max: int, y_max: int) -> dict:
    return {"x_min": int(x_min), "x_max": int(x_max), "y_min": int(y_min), "y_max": int(y_max), "score": None}


def _box_tuple(box: t.Any) -> tuple[int, int, int, int]:
    if not isinstance(box, dict):
        fail("ValueError", "No bounding_box was given")
    return int(box["x_min"]), int(box["y_min"]), int(box["x_max"]), int(box["y_max"])


def _mask_bounding_box(ctx: RunContext, node: dict) -> dict:
    """The box around the pixels of exactly the mask colour, grown by the margin, inside the image;
    all zeros when there are none."""
    values = np.asarray(load(ctx, node, "mask", "RGBA"))
    ys, xs = np.where(np.all(values == np.array(color(node, "mask_color", (255, 255, 255, 255))), axis=-1))
    if len(xs) == 0:
        return {"bounding_box": _box(0, 0, 0, 0), "type": "bounding_box_output"}
    margin = int(number(node, "margin", 0))
    box = _box(max(0, xs.min() - margin), max(0, ys.min() - margin),
               min(values.shape[1], xs.max() + margin), min(values.shape[0], ys.max() + margin))
    return {"bounding_box": box, "type": "bounding_box_output"}


def _crop_to_bounding_box(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    box = _box_tuple(node["bounding_box"]) if node.get("bounding_box") else picture.getbbox()
    return image_output(ctx, node, picture.crop(box))  # no box (nothing visible): Pillow copies it all


def _paste_into_bounding_box(ctx: RunContext, node: dict) -> dict:
    source = load(ctx, node, "source_image", "RGBA")
    target = load(ctx, node, "target_image", "RGBA")
    x_min, y_min, x_max, y_max = _box_tuple(node.get("bounding_box"))
    if (x_max - x_min, y_max - y_min) != source.size:
        fail("ValueError", "images do not match")
    target.paste(source, (x_min, y_min, x_max, y_max), source)
    return image_output(ctx, node, target)


# ------------------------------------------------------------------------------ canvas

def _canvas_mask(node: dict, mask: Image.Image) -> Image.Image:
    """The canvas nodes' mask: eroded three times by a mask_blur-sized square and Gaussian-blurred
    when mask_blur > 0, then inverted, so the generated image shows where the mask is black."""
    blur = int(number(node, "mask_blur", 0))
    if blur > 0:
        eroded = image_ops.erode_square(np.asarray(mask), blur, iterations=3)
        mask = Image.fromarray(eroded).filter(ImageFilter.GaussianBlur(blur))
    return ImageOps.invert(mask.convert("L"))


def _canvas_paste_back(ctx: RunContext, node: dict) -> dict:
    source, target = load(ctx, node, "source_image"), load(ctx, node, "target_image")
    mask = _canvas_mask(node, load(ctx, node, "mask"))
    source.paste(target, (0, 0), mask)  # Pillow refuses a mask of another size than the target
    return image_output(ctx, node, source)


def _canvas_v2_mask_and_crop(ctx: RunContext, node: dict) -> dict:
    generated = load(ctx, node, "generated_image")
    mask = _canvas_mask(node, load(ctx, node, "mask"))
    source = load_optional(ctx, node, "source_image")
    if source is not None:
        source.paste(generated, (0, 0), mask)
        return image_output(ctx, node, source)
    generated.putalpha(mask)
    return image_output(ctx, node, generated)


def _gradient_kernel(radius: int, mode: str) -> np.ndarray:
    """InvokeAI's coherence kernel: a cone for Box Blur, a Gaussian (σ = r/2.5) otherwise, peak 1,
    zero outside the radius."""
    ys, xs = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    dist = np.hypot(ys, xs)
    if mode == "Box Blur":
        kernel = np.where(dist <= radius, 1.0 - dist / radius, 0.0)
    else:
        sigma = radius / 2.5
        kernel = np.exp(-(dist ** 2) / (2 * sigma ** 2))
        kernel = np.where(dist > radius, 0.0, kernel / kernel.max())
    return kernel


def _weighted_max(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    radius = kernel.shape[0] // 2
    padded = np.pad(values, radius)
    out = np.zeros_like(values)
    h, w = values.shape
    for i, j in zip(*np.nonzero(kernel > 0), strict=True):
        out = np.maximum(out, padded[i:i + h, j:j + w] * kernel[i, j])
    return out


def _create_gradient_mask(ctx: RunContext, node: dict) -> dict:
    """The denoise mask with a soft edge, computed at latent scale (1/8) as InvokeAI does, and the
    area it covers as a black/white image saved to the gallery."""
    mask = load(ctx, node, "mask", "L")
    small = mask.resize((max(1, mask.width // LATENT_SCALE_FACTOR), max(1, mask.height // LATENT_SCALE_FACTOR)),
                        Image.Resampling.BILINEAR)
    original = np.asarray(small, dtype=np.float32)
    # at latent scale; capped where the kernel would outgrow any canvas the UI offers
    radius = min(int(number(node, "edge_radius", 16)) // LATENT_SCALE_FACTOR, MAX_GRADIENT_RADIUS)
    mode = node.get("coherence_mode") or "Gaussian Blur"
    if radius > 0:
        dilated = 255 - _weighted_max(255 - original, _gradient_kernel(radius, mode))
        threshold = (1 - float(number(node, "minimum_denoise", 0.0))) * 255
        if mode == "Staged":
            dilated = np.where((dilated < original) & (original > threshold), threshold, original)
        dilated = np.where((dilated > threshold) & (dilated < 255), threshold, dilated)
    else:
        dilated = original.copy()
    dilated = np.clip(dilated, 0, 255).astype(np.uint8)
    full = (small.width * LATENT_SCALE_FACTOR, small.height * LATENT_SCALE_FACTOR)
    area = Image.fromarray(np.where(dilated < 255, 0, 255).astype(np.uint8), "L").resize(full, Image.Resampling.NEAREST)
    saved = image_output(ctx, node, area)
    gradient = Image.fromarray(dilated, "L").resize(full, Image.Resampling.NEAREST)
    denoise = save_denoise_mask(ctx, gradient, tensor_name("denoise_mask", node), gradient=True,
                                masked_latents_name=_masked_latents(ctx, node, full))
    return {"denoise_mask": denoise, "expanded_mask_area": saved["image"], "type": "gradient_mask_output"}


def _masked_latents(ctx: RunContext, node: dict, full: tuple[int, int]) -> str | None:
    """Only an inpainting main model gets masked latents, as on the real server."""
    unet = (node.get("unet") or {}).get("unet") if isinstance(node.get("unet"), dict) else None
    if not (isinstance(unet, dict) and node.get("vae") and isinstance(node.get("image"), dict)):
        return None
    record = ctx.model(unet["key"]) if unet.get("key") else None
    if not record or record.get("variant") != "inpaint":
        return None
    ctx.progress("Running VAE encoder")
    latents = save_latents(ctx, full[0], full[1], {"op": "image", "image": node["image"]["image_name"]})
    return latents["latents"]["latents_name"]


# ------------------------------------------------------------------------------ colour correction

def _color_correct(ctx: RunContext, node: dict) -> dict:
    """6.8.1's node (base_image / color_reference / colorspace) matches histograms channel by
    channel; the older schema (image / reference / mask_blur_radius) matches mean and spread."""
    if "base_image" in node or "colorspace" in node:
        return _color_correct_histogram(ctx, node)
    return _color_correct_mean_std(ctx, node)


def _color_correct_histogram(ctx: RunContext, node: dict) -> dict:
    base = load(ctx, node, "base_image", "RGBA")
    space = node.get("colorspace") or "RGB"
    channels = {"RGB": [0, 1, 2], "YCbCr": [0, 1, 2], "YCbCr-Chroma": [1, 2], "YCbCr-Luma": [0]}.get(space, [0, 1, 2])
    convert = "RGB" if space == "RGB" else "YCbCr"
    base_values = np.asarray(base.convert(convert), dtype=np.uint8)
    reference = np.asarray(load(ctx, node, "color_reference", convert), dtype=np.uint8)
    corrected = base_values.copy()
    for index in channels:
        corrected[..., index] = image_ops.match_histogram(base_values[..., index], reference[..., index])
    result = Image.fromarray(corrected, convert).convert("RGB")
    mask = load_optional(ctx, node, "mask", "L")
    if mask is not None:
        if mask.size != result.size:
            fail("ValueError", "Mask size must match base image size.")
        result.paste(base.convert("RGB"), mask=mask)
    result = result.convert("RGBA")
    result.putalpha(base.getchannel("A"))
    return image_output(ctx, node, result)


def _color_correct_mean_std(ctx: RunContext, node: dict) -> dict:
    """The generated image's colours shifted to the reference's mean and spread over the pixels
    the mask and the reference's alpha both keep; then the reference pasted back through the
    (shrunk, blurred) mask. The 1.2.x code fails without a mask (numpy.asarray(None)); 6.8.1's own
    node takes none as "the whole image", and so does the mock (nothing is pasted back then)."""
    reference = load(ctx, node, "reference")
    result = load(ctx, node, "image", "RGBA")
    given = load_optional(ctx, node, "mask", "L")
    mask = given if given is not None else Image.new("L", result.size, 255)
    if reference.size != result.size or mask.size != result.size:
        fail("ValueError", "images do not match")
    reference_alpha = np.asarray(reference.convert("RGBA").getchannel("A"), dtype=np.uint8)
    where = np.multiply(reference_alpha, np.asarray(mask, dtype=np.uint8), dtype=np.uint8) > 0  # uint8, as there
    matched = Image.fromarray(image_ops.match_mean_std(np.asarray(result.convert("RGB")),
                                                       np.asarray(reference.convert("RGB")), where), "RGB")
    if given is None:
        return image_output(ctx, node, matched)
    radius = float(number(node, "mask_blur_radius", 8))
    keep = mask
    if radius > 0:
        grow = int(round(radius) + 20)
        shrunk = 255 - image_ops.morph_ellipse(255 - np.asarray(mask), grow // 2, grow // 2, dilate=True)
        shrunk = image_ops.erode_square(shrunk, 3, iterations=int(radius / 2)) if radius >= 2 else shrunk
        keep = Image.fromarray(shrunk, "L").filter(ImageFilter.BoxBlur(radius))
    matched.paste(reference, (0, 0), mask=ImageChops.multiply(keep, result.getchannel("A")))
    return image_output(ctx, node, matched)


MASK_NODES: dict[str, Runner] = {
    "tomask": _mask_from_alpha, "mask_combine": _mask_combine, "mask_edge": _mask_edge,
    "expand_mask_with_fade": _expand_mask_with_fade, "mask_from_id": _mask_from_id,
    "apply_mask_to_image": _apply_mask_to_image, "rectangle_mask": _rectangle_mask,
    "alpha_mask_to_tensor": _alpha_mask_to_tensor, "image_mask_to_tensor": _image_mask_to_tensor,
    "invert_tensor_mask": _invert_tensor_mask, "tensor_mask_to_image": _tensor_mask_to_image,
    "apply_tensor_mask_to_image": _apply_tensor_mask_to_image, "get_image_mask_bounding_box": _mask_bounding_box,
    "crop_image_to_bounding_box": _crop_to_bounding_box, "paste_image_into_bounding_box": _paste_into_bounding_box,
    "canvas_paste_back": _canvas_paste_back, "canvas_v2_mask_and_crop": _canvas_v2_mask_and_crop,
    "create_gradient_mask": _create_gradient_mask, "color_correct": _color_correct,
}
