"""The few image nodes the processor has always run itself (a blank image, resize, crop, save).
`image_nodes.py` holds the full set of image and mask nodes; where both define a type, that one wins."""

from __future__ import annotations

from PIL import Image

from mockserver.packs.invokeai.runners.context import RunContext, Runner, image_output, load, size


def _blank_image(ctx: RunContext, node: dict) -> dict:
    color = node.get("color") or {}
    rgba = tuple(int(color.get(channel, default)) for channel, default in (("r", 0), ("g", 0), ("b", 0), ("a", 255)))
    mode = node.get("mode", "RGB")
    picture = Image.new(mode, size(node["width"], node["height"]), rgba if mode == "RGBA" else rgba[:3])
    return image_output(ctx, node, picture)


def _resize(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node).resize(size(node["width"], node["height"]), Image.Resampling.BICUBIC)
    return image_output(ctx, node, picture)


def _crop(ctx: RunContext, node: dict) -> dict:
    """The real crop: a transparent canvas of the size asked, the image pasted at (-x, -y)."""
    canvas = Image.new("RGBA", size(node["width"], node["height"]), (0, 0, 0, 0))
    canvas.paste(load(ctx, node), (-int(node["x"]), -int(node["y"])))
    return image_output(ctx, node, canvas)


RUNNERS: dict[str, Runner] = {
    "blank_image": _blank_image,
    "img_resize": _resize,
    "img_crop": _crop,
    "save_image": lambda ctx, node: image_output(ctx, node, load(ctx, node)),
}
