"""InvokeAI's tile nodes (laying out tiles, pairing tiles with images, merging them back) and the
image panel layout node."""

from __future__ import annotations

import typing as t

from mockserver.packs.invokeai import tile_ops
from mockserver.packs.invokeai.image_io import Runner, fail, image_output, load, number, size

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.runners.context import RunContext


def _tiles_output(tiles: list[dict]) -> dict:
    return {"tiles": tiles, "type": "calculate_image_tiles_output"}


def _ints(node: dict, **defaults: int) -> list[int]:
    return [int(number(node, key, default)) for key, default in defaults.items()]


def _calculate(ctx: RunContext, node: dict) -> dict:
    width, height, tile_width, tile_height, overlap = _ints(node, image_width=1024, image_height=1024,
                                                            tile_width=576, tile_height=576, overlap=128)
    return _tiles_output(tile_ops.tiles_with_overlap(height, width, tile_height, tile_width, overlap))


def _calculate_even_split(ctx: RunContext, node: dict) -> dict:
    width, height, num_x, num_y, overlap = _ints(node, image_width=1024, image_height=1024,
                                                 num_tiles_x=2, num_tiles_y=2, overlap=128)
    return _tiles_output(tile_ops.tiles_even_split(height, width, num_x, num_y, overlap))


def _calculate_min_overlap(ctx: RunContext, node: dict) -> dict:
    width, height, tile_width, tile_height, overlap = _ints(node, image_width=1024, image_height=1024,
                                                            tile_width=576, tile_height=576, min_overlap=128)
    return _tiles_output(tile_ops.tiles_min_overlap(height, width, tile_height, tile_width, overlap))


def _tile(node: dict) -> dict:
    tile = node.get("tile")
    if not isinstance(tile, dict) or not isinstance(tile.get("coords"), dict):
        fail("ValueError", "No tile was given", "invocations/tiles.py")
    return tile


def _tile_to_properties(ctx: RunContext, node: dict) -> dict:
    coords, overlap = _tile(node)["coords"], _tile(node)["overlap"]
    return {"coords_left": coords["left"], "coords_right": coords["right"], "coords_top": coords["top"],
            "coords_bottom": coords["bottom"], "width": coords["right"] - coords["left"],
            "height": coords["bottom"] - coords["top"], "overlap_top": overlap["top"],
            "overlap_bottom": overlap["bottom"], "overlap_left": overlap["left"], "overlap_right": overlap["right"],
            "type": "tile_to_properties_output"}


def _pair_tile_image(ctx: RunContext, node: dict) -> dict:
    image = node.get("image")
    if not isinstance(image, dict):
        fail("ValueError", "No image was given", "invocations/tiles.py")
    return {"tile_with_image": {"tile": _tile(node), "image": {"image_name": image["image_name"]}},
            "type": "pair_tile_image_output"}


def _merge_tiles(ctx: RunContext, node: dict) -> dict:
    pairs = [pair for pair in node.get("tiles_with_images") or [] if isinstance(pair, dict)]
    if not pairs:
        fail("ValueError", "No tiles were given", "invocations/tiles.py")
    mode = node.get("blend_mode") or "Seam"
    if mode not in ("Linear", "Seam"):
        fail("ValueError", f"Unsupported blend mode: '{mode}'.", "invocations/tiles.py")
    corners = [pair["tile"]["coords"] for pair in pairs]
    size(max(c["right"] for c in corners), max(c["bottom"] for c in corners))  # the canvas must fit in memory
    images = [load(ctx, pair, "image") for pair in pairs]
    for pair, image in zip(pairs, images, strict=True):
        coords = pair["tile"]["coords"]
        if image.size != (coords["right"] - coords["left"], coords["bottom"] - coords["top"]):
            fail("ValueError", f"could not broadcast input array from shape ({image.height},{image.width},3)",
                 "backend/tiles/tiles.py")
    merged = tile_ops.merge_tiles([pair["tile"] for pair in pairs], images, mode, int(number(node, "blend_amount", 32)))
    return image_output(ctx, node, merged)


def _panel_layout(ctx: RunContext, node: dict) -> dict:
    width, height, cols, rows, col, row = _ints(node, width=0, height=0, num_cols=1, num_rows=1,
                                                panel_col_idx=0, panel_row_idx=0)
    if cols < 1 or rows < 1:
        fail("ZeroDivisionError", "integer division or modulo by zero", "invocations/image_panels.py")
    return {"x_left": col * (width // cols), "y_top": row * (height // rows), "width": width // cols,
            "height": height // rows, "type": "image_panel_coordinate_output"}


TILE_NODES: dict[str, Runner] = {
    "calculate_image_tiles": _calculate, "calculate_image_tiles_even_split": _calculate_even_split,
    "calculate_image_tiles_min_overlap": _calculate_min_overlap, "tile_to_properties": _tile_to_properties,
    "pair_tile_image": _pair_tile_image, "merge_tiles_to_image": _merge_tiles, "image_panel_layout": _panel_layout,
}
