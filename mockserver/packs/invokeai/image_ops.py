"""Pure image operations (Pillow + numpy) behind the InvokeAI image nodes.

InvokeAI computes several of its nodes with OpenCV (Canny, erosion, distance transform, Telea
inpainting) or torch; the mock has neither, so these are numpy equivalents of what those calls
compute. Nothing here touches the gallery: functions take and return images or arrays.
"""

from __future__ import annotations

import math
import typing as t

import numpy as np
from PIL import Image, ImageFilter, ImageOps

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
}

# InvokeAI's CHANNEL_FORMATS: the channel names its channel offset / multiply nodes offer.
CHANNEL_FORMATS = {
    "Red (RGBA)": ("RGBA", 0), "Green (RGBA)": ("RGBA", 1), "Blue (RGBA)": ("RGBA", 2), "Alpha (RGBA)": ("RGBA", 3),
    "Cyan (CMYK)": ("CMYK", 0), "Magenta (CMYK)": ("CMYK", 1), "Yellow (CMYK)": ("CMYK", 2),
    "Black (CMYK)": ("CMYK", 3), "Hue (HSV)": ("HSV", 0), "Saturation (HSV)": ("HSV", 1), "Value (HSV)": ("HSV", 2),
    "Luminosity (LAB)": ("LAB", 0), "A (LAB)": ("LAB", 1), "B (LAB)": ("LAB", 2), "Y (YCbCr)": ("YCbCr", 0),
    "Cb (YCbCr)": ("YCbCr", 1), "Cr (YCbCr)": ("YCbCr", 2),
}

# FLUX Kontext's preferred (width, height) pairs, from invokeai.backend.flux.util.
KONTEXT_RESOLUTIONS = (
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
    (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688),
    (1568, 672),
)


# ------------------------------------------------------------------------------ morphology

def _shifted(array: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """`array` moved by (dy, dx), the uncovered border set to `fill`."""
    out = np.full_like(array, fill)
    h, w = array.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = array[ys, xs]
    return out


def ellipse_rows(radius_w: int, radius_h: int) -> list[tuple[int, int]]:
    """cv2.MORPH_ELLIPSE for a (2w+1)×(2h+1) box, as (dy, half-width) rows: each row reaches
    round(w·sqrt(1 - (dy/h)²)) to each side (so 3×3 is a cross, as in OpenCV)."""
    if radius_h == 0:
        return [(0, radius_w)]
    return [(dy, int(np.rint(radius_w * math.sqrt(max(0.0, 1.0 - (dy / radius_h) ** 2)))))
            for dy in range(-radius_h, radius_h + 1)]


def morph_ellipse(array: np.ndarray, radius_w: int, radius_h: int, dilate: bool) -> np.ndarray:
    """Dilation or erosion by an ellipse, row by row: each row of the ellipse is a horizontal
    window, taken with doubling steps, so large radii stay cheap. Radii past the image's size
    act as the image's size."""
    radius_w, radius_h = min(radius_w, array.shape[1]), min(radius_h, array.shape[0])
    pick = np.maximum if dilate else np.minimum
    fill = _border_fill(array, dilate)
    windows: dict[int, np.ndarray] = {}
    out = None
    for dy, half in ellipse_rows(radius_w, radius_h):
        if half not in windows:
            windows[half] = _window(array, half, pick, fill)
        moved = _shifted(windows[half], dy, 0, fill)
        out = moved if out is None else pick(out, moved)
    return out if out is not None else array.copy()


def _window(array: np.ndarray, left: int, pick: t.Any, fill: float, right: int | None = None) -> np.ndarray:
    """max/min over the horizontal window [x - left, x + right] (right = left unless given),
    by doubling the span."""
    right = left if right is None else right
    width = array.shape[1]
    padded = np.full((array.shape[0], width + left + right) + array.shape[2:], fill, dtype=array.dtype)
    padded[:, left:left + width] = array
    span, out, window = 1, padded, left + right + 1
    while span * 2 <= window:
        out = pick(out, _shifted(out, 0, -span, fill))
        span *= 2
    if span < window:
        out = pick(out, _shifted(out, 0, -(window - span), fill))
    return out[:, :width]


def morph_rect(array: np.ndarray, reach_x: tuple[int, int], reach_y: tuple[int, int], dilate: bool) -> np.ndarray:
    """Dilation or erosion by a rectangle reaching (left, right) and (up, down) from each pixel."""
    pick = np.maximum if dilate else np.minimum
    fill = _border_fill(array, dilate)
    limit_x, limit_y = array.shape[1], array.shape[0]
    rows = _window(array, min(reach_x[0], limit_x), pick, fill, min(reach_x[1], limit_x))
    flipped = np.swapaxes(rows, 0, 1)
    return np.swapaxes(_window(flipped, min(reach_y[0], limit_y), pick, fill, min(reach_y[1], limit_y)), 0, 1)


def _border_fill(array: np.ndarray, dilate: bool) -> float:
    if array.dtype.kind in "ui":
        info = np.iinfo(array.dtype)
        return info.min if dilate else info.max
    return -np.inf if dilate else np.inf


def erode_square(mask: np.ndarray, size: int, iterations: int) -> np.ndarray:
    """cv2.erode(mask, ones((size, size)), iterations): each pass reaches size//2 back and the
    rest forward (OpenCV's anchor for even sizes); an empty kernel is OpenCV's 3×3."""
    size = size if size > 0 else 3
    back, forward = size // 2 * iterations, (size - 1 - size // 2) * iterations
    return morph_rect(mask, (back, forward), (back, forward), dilate=False)


def distance_to_outside(inside: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance from each `inside` pixel to the nearest outside pixel (what
    cv2.distanceTransform approximates), exact up to `limit`; farther pixels read as limit + 1.
    Two passes: the distance along each column, then the best column within `limit` on each row."""
    height, width = inside.shape
    far = float(limit + 1)
    column = np.zeros(inside.shape, dtype=np.float32)
    run = np.full(width, far, dtype=np.float32)
    for y in range(height):  # down the columns, then back up
        run = np.where(inside[y], np.minimum(run + 1, far), 0)
        column[y] = run
    run = np.full(width, far, dtype=np.float32)
    for y in range(height - 1, -1, -1):
        run = np.where(inside[y], np.minimum(np.minimum(run + 1, far), column[y]), 0)
        column[y] = run
    squared = column ** 2
    best = squared.copy()
    for dx in range(1, min(limit, width) + 1):
        for shift in (dx, -dx):
            best = np.minimum(best, _shifted(squared, 0, shift, far * far) + dx * dx)
    return np.minimum(np.sqrt(best), far)


# ------------------------------------------------------------------------------ edges

def sobel(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    padded = np.pad(gray.astype(np.float32), 1, mode="reflect")
    right = padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]
    left = padded[:-2, :-2] + 2 * padded[1:-1, :-2] + padded[2:, :-2]
    below = padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]
    above = padded[:-2, :-2] + 2 * padded[:-2, 1:-1] + padded[:-2, 2:]
    gx, gy = right - left, below - above
    return gx, gy


def canny(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    """OpenCV's Canny (3×3 Sobel, L1 magnitude, non-maximum suppression, hysteresis): 0/255 uint8."""
    low, high = min(low, high), max(low, high)
    gx, gy = sobel(gray)
    magnitude = np.abs(gx) + np.abs(gy)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    direction = np.select([(angle < 22.5) | (angle >= 157.5), angle < 67.5, angle < 112.5], [0, 1, 2], 3)
    neighbours = {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)), 3: ((1, -1), (-1, 1))}
    keep = np.zeros(magnitude.shape, dtype=bool)
    for code, ((ay, ax), (by, bx)) in neighbours.items():
        a = _shifted(magnitude, ay, ax, 0.0)
        b = _shifted(magnitude, by, bx, 0.0)
        keep |= (direction == code) & (magnitude > a) & (magnitude >= b)
    strong = keep & (magnitude > high)
    weak = keep & (magnitude > low)
    edges = strong
    while True:
        grown = morph_rect(edges.astype(np.uint8), (1, 1), (1, 1), dilate=True).astype(bool) & weak
        if np.array_equal(grown, edges):
            return edges.astype(np.uint8) * 255
        edges = grown


def edge_strength(image: Image.Image) -> np.ndarray:
    """Soft edges (Sobel magnitude scaled to 0..255) — the stand-in for the learned edge detectors."""
    gx, gy = sobel(np.asarray(image.convert("L"), dtype=np.float32))
    magnitude = np.hypot(gx, gy)
    top = float(magnitude.max()) or 1.0
    return np.clip(magnitude / top * 255.0, 0, 255).astype(np.uint8)


def normal_map(image: Image.Image) -> Image.Image:
    """Normals of the luminance read as a height field, packed into RGB as normal-map models do."""
    gx, gy = sobel(np.asarray(image.convert("L").filter(ImageFilter.GaussianBlur(2)), dtype=np.float32) / 255.0)
    normal = np.dstack([-gx, -gy, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    return Image.fromarray(((normal * 0.5 + 0.5) * 255).astype(np.uint8), "RGB")


def heuristic_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """InvokeAI's heuristic resize: a black-and-white edge map stays binary, a segmentation map
    (a few hundred colours at most) is resized nearest-neighbour, anything else by area when
    shrinking and bicubic when growing."""
    if image.size == size:
        return image.convert("RGB")
    array = np.asarray(image.convert("RGB"))
    sample = array.reshape(-1, 3)[:: max(1, array.size // 3 // 100_000)]
    colours = len(np.unique(sample, axis=0))
    if colours == 2 and sample.min() < 16 and sample.max() > 240:
        resized = image.convert("L").resize(size, Image.Resampling.BILINEAR)
        return resized.point(lambda v: 255 if v > 127 else 0).convert("RGB")
    if 2 < colours < 200:
        return image.convert("RGB").resize(size, Image.Resampling.NEAREST)
    shrinking = size[0] * size[1] < image.width * image.height
    return image.convert("RGB").resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC)


# ------------------------------------------------------------------------------ infill

def fill_holes(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels from the known ones (pull-push over an image pyramid, then a soft
    blur inside the holes): a smooth, deterministic stand-in for Telea / PatchMatch / LaMa."""
    if known.all() or not known.any():
        return rgb if known.any() else np.full_like(rgb, 127)
    filled = _pull_push(rgb.astype(np.float64), known.astype(np.float64))
    blurred = np.asarray(Image.fromarray(np.clip(filled, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2)))
    return np.where(known[..., None], rgb, blurred).astype(np.uint8)


def _pull_push(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    h, w = weight.shape
    if (weight > 0).all() or (h <= 1 and w <= 1):
        return rgb if (weight > 0).all() else np.broadcast_to(
            (rgb * weight[..., None]).sum((0, 1)) / max(weight.sum(), 1e-9), rgb.shape).copy()
    ph, pw = h + h % 2, w + w % 2
    rgb_p = np.pad(rgb * weight[..., None], ((0, ph - h), (0, pw - w), (0, 0)))
    weight_p = np.pad(weight, ((0, ph - h), (0, pw - w)))
    coarse_w = weight_p.reshape(ph // 2, 2, pw // 2, 2).sum((1, 3))
    coarse_sum = rgb_p.reshape(ph // 2, 2, pw // 2, 2, -1).sum((1, 3))
    coarse = coarse_sum / np.maximum(coarse_w, 1e-9)[..., None]
    coarse = _pull_push(coarse, np.minimum(coarse_w, 1.0))
    up = coarse.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
    return np.where(weight[..., None] > 0, rgb, up)


def infill_tiles(image: Image.Image, tile_size: int, seed: int) -> Image.Image:
    """InvokeAI's tile infill: the transparent parts are filled with random fully opaque tiles
    taken from the image itself, on a grid, chosen with numpy's generator for the seed (one draw
    per grid cell, row by row, as InvokeAI draws them)."""
    array = np.asarray(image, dtype=np.uint8)
    rows, cols = array.shape[:2]
    grid_rows, grid_cols = rows // tile_size, cols // tile_size
    blocks = array[:grid_rows * tile_size, :grid_cols * tile_size].reshape(
        grid_rows, tile_size, grid_cols, tile_size, 4).transpose(0, 2, 1, 3, 4).reshape(-1, tile_size, tile_size, 4)
    pool = blocks[(blocks[..., 3] == 255).all(axis=(1, 2))]
    if len(pool) == 0:
        raise ValueError("Not enough opaque pixels to generate any tiles. "
                         "Use a smaller tile size or a different image.")
    cells_y, cells_x = -(-rows // tile_size), -(-cols // tile_size)
    picks = np.random.default_rng(seed).integers(len(pool), size=cells_y * cells_x)
    mosaic = pool[picks, :, :, :3].reshape(cells_y, cells_x, tile_size, tile_size, 3)
    filled = mosaic.transpose(0, 2, 1, 3, 4).reshape(cells_y * tile_size, cells_x * tile_size, 3)[:rows, :cols]
    result = Image.fromarray(np.ascontiguousarray(filled), "RGB")
    result.paste(image, (0, 0), image.getchannel("A"))
    return result


# ------------------------------------------------------------------------------ colour

def match_histogram(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """One channel's values remapped so its cumulative histogram follows the reference's."""
    source_cdf = np.histogram(source, bins=256, range=(0, 256))[0].cumsum().astype(np.float64)
    reference_cdf = np.histogram(reference, bins=256, range=(0, 256))[0].cumsum().astype(np.float64)
    source_cdf /= max(source_cdf[-1], 1)
    reference_cdf /= max(reference_cdf[-1], 1)
    table = np.interp(source_cdf, reference_cdf, np.arange(256))
    return table[source].astype(np.uint8)


def match_mean_std(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Each RGB channel shifted and scaled to the reference's mean and spread over `where`."""
    if not where.any():
        return image
    ref, gen = reference[where].astype(np.float64), image[where].astype(np.float64)
    scale = ref.std(axis=0) / np.maximum(gen.std(axis=0), 1e-6)
    out = (image.astype(np.float64) - gen.mean(axis=0)) * scale + ref.mean(axis=0)
    return np.clip(out, 0, 255).astype(np.uint8)


def lab_lightness(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").convert("LAB").getchannel("L"), dtype=np.float64) / 255.0


def thresholds(values: np.ndarray, upper: float, lower: float, invert: bool, renormalize: bool) -> np.ndarray:
    """InvokeAI's value thresholds on 0..1 values: above `upper` → 1, below `lower` → 0 (swapped
    when inverting), the band between optionally stretched to 0..1."""
    out = values.copy()
    hi, lo = values >= upper, values < lower
    ones, zeros = (lo, hi) if invert else (hi, lo)
    if upper != lower and renormalize:
        band = (values >= lower) & (values < upper)
        vmax, vmin = max(upper, lower), min(upper, lower)
        stretched = (values - vmin) / (vmax - vmin)
        out = np.where(band, 1.0 - stretched if invert else stretched, out)
    out = np.where(ones, 1.0, out)
    return np.where(zeros, 0.0, out)


def rgb_to_hls(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """colorsys.rgb_to_hls over arrays of 0..1 RGB."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    lightness = (high + low) / 2.0
    chroma = high - low
    grey = chroma == 0
    safe = np.where(grey, 1.0, chroma)
    saturation = np.where(grey, 0.0, np.where(lightness <= 0.5, chroma / np.where(grey, 1.0, high + low),
                                                  chroma / np.where(grey, 1.0, 2.0 - high - low)))
    rc, gc, bc = (high - r) / safe, (high - g) / safe, (high - b) / safe
    hue = np.where(r == high, bc - gc, np.where(g == high, 2.0 + rc - bc, 4.0 + gc - rc))
    return np.where(grey, 0.0, (hue / 6.0) % 1.0), lightness, saturation


def hls_to_rgb(hue: np.ndarray, lightness: np.ndarray, saturation: np.ndarray) -> np.ndarray:
    """colorsys.hls_to_rgb over arrays."""
    m2 = np.where(lightness <= 0.5, lightness * (1.0 + saturation), lightness + saturation - lightness * saturation)
    m1 = 2.0 * lightness - m2

    def channel(h: np.ndarray) -> np.ndarray:
        h = h % 1.0
        return np.select([h < 1 / 6, h < 0.5, h < 2 / 3], [m1 + (m2 - m1) * h * 6.0, m2,
                                                          m1 + (m2 - m1) * (2 / 3 - h) * 6.0], m1)

    rgb = np.dstack([channel(hue + 1 / 3), channel(hue), channel(hue - 1 / 3)])
    return np.where((saturation == 0)[..., None], lightness[..., None], rgb)


def fit_to(layer: Image.Image, base: Image.Image, fit_width: bool, fit_height: bool) -> Image.Image:
    """How InvokeAI's blend and compositor nodes fit the upper layer onto the base."""
    aspect_base, aspect_layer = base.width / base.height, layer.width / layer.height
    if fit_width and fit_height:
        return layer.resize(base.size)
    if (fit_width and aspect_base < aspect_layer) or (fit_height and aspect_layer <= aspect_base):
        return ImageOps.pad(layer, base.size, color=(0,) * len(layer.getbands()))
    if (fit_width and aspect_layer <= aspect_base) or (fit_height and aspect_base < aspect_layer):
        return ImageOps.fit(layer, base.size)
    return layer
