"""Tiles as InvokeAI lays them out for tiled upscaling, and merging tile images back into one.

A tile is `{"coords": TBLR, "overlap": TBLR}` with TBLR = `{"top", "bottom", "left", "right"}`,
the JSON shape of InvokeAI's `Tile`. The three layouts follow InvokeAI's tile arithmetic (fixed
size with a target overlap, an even split, a minimum overlap), including the assertions it makes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

LATENT_SCALE_FACTOR = 8
MAX_TILES = 65_536  # the mock lays out no more (a 16k image in 64 px tiles); more would stall the server


def _count(num_x: int, num_y: int) -> None:
    if num_x * num_y > MAX_TILES:
        raise ValueError(f"{num_x * num_y} tiles are more than the mock lays out ({MAX_TILES})")


def _tile(top: int, bottom: int, left: int, right: int) -> dict:
    return {"coords": {"top": top, "bottom": bottom, "left": left, "right": right},
            "overlap": {"top": 0, "bottom": 0, "left": 0, "right": 0}}


def _with_overlaps(tiles: list[dict], num_x: int, num_y: int) -> list[dict]:
    """Each tile's overlap with its top and left neighbours (mirrored onto those neighbours)."""
    for y in range(num_y):
        for x in range(num_x):
            tile = tiles[y * num_x + x]
            if y > 0:
                above = tiles[(y - 1) * num_x + x]
                tile["overlap"]["top"] = max(0, above["coords"]["bottom"] - tile["coords"]["top"])
                above["overlap"]["bottom"] = tile["overlap"]["top"]
            if x > 0:
                left = tiles[y * num_x + x - 1]
                tile["overlap"]["left"] = max(0, left["coords"]["right"] - tile["coords"]["left"])
                left["overlap"]["right"] = tile["overlap"]["left"]
    return tiles


def tiles_with_overlap(image_height: int, image_width: int, tile_height: int, tile_width: int,
                       overlap: int) -> list[dict]:
    assert image_height >= tile_height
    assert image_width >= tile_width
    assert overlap < tile_height
    assert overlap < tile_width
    step_y, step_x = tile_height - overlap, tile_width - overlap
    num_y = math.ceil((image_height - overlap) / step_y)
    num_x = math.ceil((image_width - overlap) / step_x)
    _count(num_x, num_y)
    tiles = []
    for y in range(num_y):
        for x in range(num_x):
            top, left = y * step_y, x * step_x
            bottom, right = top + tile_height, left + tile_width
            if bottom > image_height:  # the last row and column are pulled back inside the image
                top, bottom = image_height - tile_height, image_height
            if right > image_width:
                left, right = image_width - tile_width, image_width
            tiles.append(_tile(top, bottom, left, right))
    return _with_overlaps(tiles, num_x, num_y)


def tiles_even_split(image_height: int, image_width: int, num_tiles_x: int, num_tiles_y: int,
                     overlap: int) -> list[dict]:
    if image_width % LATENT_SCALE_FACTOR != 0 or image_height % LATENT_SCALE_FACTOR != 0:
        raise ValueError(f"image size (({image_width}, {image_height})) must be divisible by {LATENT_SCALE_FACTOR}")
    _count(num_tiles_x, num_tiles_y)
    size_x = _even_size(image_width, num_tiles_x, overlap)
    size_y = _even_size(image_height, num_tiles_y, overlap)
    tiles = []
    for y in range(num_tiles_y):
        top = y * (size_y - overlap)
        bottom = image_height if y == num_tiles_y - 1 else min(top + size_y, image_height)
        for x in range(num_tiles_x):
            left = x * (size_x - overlap)
            right = image_width if x == num_tiles_x - 1 else min(left + size_x, image_width)
            tiles.append(_tile(top, bottom, left, right))
    return _with_overlaps(tiles, num_tiles_x, num_tiles_y)


def _even_size(length: int, count: int, overlap: int) -> int:
    if count <= 1:
        return length
    assert overlap <= length - (LATENT_SCALE_FACTOR * (count - 1))
    size = LATENT_SCALE_FACTOR * math.floor(((length + overlap * (count - 1)) // count) / LATENT_SCALE_FACTOR)
    assert overlap < size
    return size


def tiles_min_overlap(image_height: int, image_width: int, tile_height: int, tile_width: int,
                      min_overlap: int) -> list[dict]:
    assert min_overlap < tile_height
    assert min_overlap < tile_width
    tile_width, tile_height = min(tile_width, image_width), min(tile_height, image_height)
    num_x = math.ceil((image_width - min_overlap) / (tile_width - min_overlap))
    num_y = math.ceil((image_height - min_overlap) / (tile_height - min_overlap))
    _count(num_x, num_y)
    tiles = []
    for y in range(num_y):
        top = (y * (image_height - tile_height)) // (num_y - 1) if num_y > 1 else 0
        for x in range(num_x):
            left = (x * (image_width - tile_width)) // (num_x - 1) if num_x > 1 else 0
            tiles.append(_tile(top, top + tile_height, left, left + tile_width))
    return _with_overlaps(tiles, num_x, num_y)


# ------------------------------------------------------------------------------ merging

def merge_tiles(tiles: list[dict], images: list[Image.Image], blend_mode: str, blend_amount: int) -> Image.Image:
    """The tile images pasted into one image the size the tiles cover, row by row, each seam
    blended over `blend_amount` px: a straight ramp in the middle of the overlap ("Linear") or a
    ramp along the seam of least difference between the two tiles ("Seam")."""
    height = max(tile["coords"]["bottom"] for tile in tiles)
    width = max(tile["coords"]["right"] for tile in tiles)
    arrays = [np.asarray(image.convert("RGB"), dtype=np.float64) for image in images]
    canvas = np.zeros((height, width, 3), dtype=np.float64)
    for row in _rows(list(zip(tiles, arrays, strict=True))):
        first = row[0][0]
        row_height = first["coords"]["bottom"] - first["coords"]["top"]
        strip = np.zeros((row_height, width, 3), dtype=np.float64)
        for tile, array in row:
            left, right = tile["coords"]["left"], tile["coords"]["right"]
            _blend_into(strip[:, left:right], array, tile["overlap"]["left"], blend_mode, blend_amount, axis=1)
        top, bottom = first["coords"]["top"], first["coords"]["bottom"]
        _blend_into(canvas[top:bottom], strip, first["overlap"]["top"], blend_mode, blend_amount, axis=0)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")


def _rows(pairs: list[tuple[dict, np.ndarray]]) -> list[list[tuple[dict, np.ndarray]]]:
    pairs = sorted(pairs, key=lambda pair: (pair[0]["coords"]["top"], pair[0]["coords"]["left"]))
    rows: list[list[tuple[dict, np.ndarray]]] = []
    for pair in pairs:
        span = (pair[0]["coords"]["top"], pair[0]["coords"]["bottom"])
        if rows and (rows[-1][0][0]["coords"]["top"], rows[-1][0][0]["coords"]["bottom"]) == span:
            rows[-1].append(pair)
        else:
            rows.append([pair])
    return rows


def _blend_into(dst: np.ndarray, src: np.ndarray, overlap: int, mode: str, amount: int, axis: int) -> None:
    """Paste src over dst; across the first `overlap` px along `axis`, mix the two."""
    if overlap <= 0:
        dst[...] = src
        return
    if overlap < amount:
        raise AssertionError(f"overlap {overlap} is smaller than the blend amount {amount}")
    weight = _seam_weight(dst, src, overlap, amount, axis) if mode == "Seam" else _ramp(overlap, amount)
    shape = [1, 1, 1]
    shape[axis] = overlap
    if weight.ndim == 1:
        weight = weight.reshape(shape)
    else:
        weight = weight[..., None]
    head = [slice(None)] * 3
    head[axis] = slice(0, overlap)
    tail = [slice(None)] * 3
    tail[axis] = slice(overlap, None)
    dst[tuple(head)] = src[tuple(head)] * weight + dst[tuple(head)] * (1.0 - weight)
    dst[tuple(tail)] = src[tuple(tail)]


def _ramp(overlap: int, amount: int) -> np.ndarray:
    """The new tile's weight across the overlap: 0, then a linear ramp of `amount` px centred in
    the overlap, then 1."""
    weight = np.ones(overlap)
    start = overlap // 2 - amount // 2
    weight[:start] = 0.0
    weight[start:start + amount] = np.linspace(0.0, 1.0, amount)
    return weight


def _seam_weight(dst: np.ndarray, src: np.ndarray, overlap: int, amount: int, axis: int) -> np.ndarray:
    """Per-pixel weight of the new tile: 1 past the seam of least brightness difference, 0 before
    it, the step softened by a box blur of `amount` px."""
    head = [slice(None)] * 3
    head[axis] = slice(0, overlap)
    luma = np.array([0.2989, 0.5870, 0.1140])
    diff = src[tuple(head)] @ luma - dst[tuple(head)] @ luma
    if axis == 0:
        diff = diff.T  # walk the seam along the overlap's long side
    energy = np.abs(np.gradient(diff, axis=0)) + np.abs(np.gradient(diff, axis=1))
    gutter = math.ceil(amount / 2) if amount > 0 else 0
    lo, hi = gutter, max(gutter + 1, diff.shape[1] - gutter)
    cost = energy.copy()
    for y in range(1, cost.shape[0]):
        prev = cost[y - 1]
        cost[y] += np.minimum(prev, np.minimum(np.r_[prev[1:], np.inf], np.r_[np.inf, prev[:-1]]))
    seam = np.empty(cost.shape[0], dtype=int)
    seam[-1] = lo + int(np.argmin(cost[-1, lo:hi]))
    for y in range(cost.shape[0] - 2, -1, -1):
        a, b = max(lo, seam[y + 1] - 1), min(hi, seam[y + 1] + 2)
        seam[y] = a + int(np.argmin(energy[y, a:b]))
    weight = (np.arange(diff.shape[1])[None, :] >= seam[:, None]).astype(np.float64)
    if amount > 1:
        weight = np.asarray(Image.fromarray((weight * 255).astype(np.uint8)).filter(
            ImageFilter.BoxBlur(amount / 2)), dtype=np.float64) / 255.0
    return weight.T if axis == 0 else weight

