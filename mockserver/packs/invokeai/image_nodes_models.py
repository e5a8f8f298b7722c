"""The image nodes that run a model on the real server (ControlNet processors, upscalers, face
and segmentation nodes). Canny, colour map and content shuffle need no model and are computed
for real; the others are deterministic stand-ins of the real output's kind and size: edges from
image gradients, depth from lightness, "no person / no face / nothing detected" results, and
upscales that really resize by the model's scale.
"""

from __future__ import annotations

import re
import typing as t

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from mockserver.packs.invokeai import image_ops
from mockserver.packs.invokeai.image_io import Runner, fail, image_output, load, number, save_mask, size

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.runners.context import RunContext


# ------------------------------------------------------------------------------ processors

def _canny(ctx: RunContext, node: dict) -> dict:
    gray = np.asarray(load(ctx, node, "image", "RGB").convert("L"), dtype=np.float32)
    edges = image_ops.canny(gray, float(number(node, "low_threshold", 100)), float(number(node, "high_threshold", 200)))
    return image_output(ctx, node, Image.fromarray(edges, "L").convert("RGB"))


def _color_map(ctx: RunContext, node: dict) -> dict:
    """Tile-sized blocks of the image's colours: shrunk (bicubic) by the tile size, grown back
    nearest-neighbour."""
    picture = load(ctx, node, "image", "RGB")
    tile = max(1, int(number(node, "tile_size", 64)))
    small = (max(1, picture.width // min(tile, picture.width)), max(1, picture.height // min(tile, picture.height)))
    out = picture.resize(small, Image.Resampling.BICUBIC).resize(picture.size, Image.Resampling.NEAREST)
    return image_output(ctx, node, out)


def _content_shuffle(ctx: RunContext, node: dict) -> dict:
    """Pixels moved along a smooth random flow field of `scale_factor` px (seeded, so the same
    image shuffles the same way)."""
    picture = load(ctx, node, "image", "RGB")
    values = np.asarray(picture)
    height, width = values.shape[:2]
    scale = max(1, int(number(node, "scale_factor", 256)))
    rng = np.random.default_rng(width * 7919 + height)
    flows = []
    for _ in range(2):
        coarse = rng.uniform(0, 1, ((height // scale) + 2, (width // scale) + 2)).astype(np.float32)
        field = np.asarray(Image.fromarray(coarse, "F").resize((width + 2 * scale, height + 2 * scale),
                                                               Image.Resampling.BICUBIC))[scale:scale + height,
                                                                                           scale:scale + width]
        field = (field - field.min()) / max(float(field.max() - field.min()), 1e-9)
        flows.append(field)
    ys = np.clip((flows[1] * height).astype(int), 0, height - 1)
    xs = np.clip((flows[0] * width).astype(int), 0, width - 1)
    return image_output(ctx, node, Image.fromarray(values[ys, xs], "RGB"))


def _edges_standin(invert: bool = False, binary: bool = False) -> Runner:
    """HED, PiDiNet, lineart, lineart anime and MLSD stand-in: the image's gradient edges."""
    def run(ctx: RunContext, node: dict) -> dict:
        edges = image_ops.edge_strength(load(ctx, node, "image", "RGB"))
        if binary or node.get("scribble") or node.get("quantize_edges"):
            edges = np.where(edges > 64, 255, 0).astype(np.uint8)
        if invert:
            edges = 255 - edges
        return image_output(ctx, node, Image.fromarray(edges, "L").convert("RGB"))
    return run


def _depth(ctx: RunContext, node: dict) -> dict:
    """Depth Anything stand-in: smoothed lightness, brighter read as nearer."""
    picture = load(ctx, node, "image", "RGB")
    depth = ImageOps.autocontrast(picture.convert("L").filter(ImageFilter.GaussianBlur(max(2, picture.width // 64))))
    return image_output(ctx, node, depth.convert("RGB"))


def _normal(ctx: RunContext, node: dict) -> dict:
    return image_output(ctx, node, image_ops.normal_map(load(ctx, node, "image", "RGB")))


def _nothing_found(ctx: RunContext, node: dict) -> dict:
    """Openpose and MediaPipe face stand-ins: the black image the real detectors draw when they
    find no person or face."""
    picture = load(ctx, node, "image", "RGB")
    return image_output(ctx, node, Image.new("RGB", picture.size, (0, 0, 0)))


# ------------------------------------------------------------------------------ upscaling

def _esrgan(ctx: RunContext, node: dict) -> dict:
    """Real-ESRGAN stand-in: a Lanczos resize by the model's scale (×2 for the x2 model, else ×4)."""
    picture = load(ctx, node, "image", "RGB")
    scale = 2 if "x2" in str(node.get("model_name") or "") else 4
    return image_output(ctx, node, picture.resize(size(picture.width * scale, picture.height * scale),
                                                  Image.Resampling.LANCZOS))


def _model_scale(ctx: RunContext, node: dict) -> int:
    model = node.get("image_to_image_model") or {}
    record = ctx.model(model["key"]) if isinstance(model, dict) and model.get("key") else None
    if record is None:
        fail("UnknownModelException", f"Unknown model: {model.get('key') if isinstance(model, dict) else None}",
             "services/model_records/model_records_sql.py")
    found = re.search(r"(?:x(\d)|(\d)x)", str(record.get("name", "")).lower())
    return int(next(g for g in found.groups() if g)) if found else 4


def _spandrel(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node, "image", "RGB")
    scale = _model_scale(ctx, node)
    return image_output(ctx, node, picture.resize(size(picture.width * scale, picture.height * scale),
                                                  Image.Resampling.LANCZOS))


def _spandrel_autoscale(ctx: RunContext, node: dict) -> dict:
    """Scaled to exactly `scale` times the input (InvokeAI runs the model until it is at least that
    large, then resizes down), optionally cut to multiples of 8."""
    picture = load(ctx, node, "image", "RGB")
    _model_scale(ctx, node)
    scale = float(number(node, "scale", 4.0))
    width, height = int(picture.width * scale), int(picture.height * scale)
    if node.get("fit_to_multiple_of_8"):
        width, height = width // 8 * 8, height // 8 * 8
    return image_output(ctx, node, picture.resize(size(width, height), Image.Resampling.LANCZOS))


# ------------------------------------------------------------------------------ faces, segmentation

def _face_identifier(ctx: RunContext, node: dict) -> dict:
    """No face is detected by the stand-in, so no IDs are drawn: the image as RGBA."""
    return image_output(ctx, node, load(ctx, node).convert("RGBA"))


def _face_mask(ctx: RunContext, node: dict) -> dict:
    """With no face detected the real node answers the image as RGBA and a white mask (black if
    inverted); when asked for face IDs, none of them is found, so the image as it is and a white mask."""
    face_ids = str(node.get("face_ids") or "")
    if not re.fullmatch(r"\d*(,\d+)*", face_ids):
        fail("ValueError", 'Face IDs must be a comma-separated list of integers (e.g. "1,2,3")',
             "invocations/facetools.py")
    picture = load(ctx, node)
    if face_ids:
        mask = Image.new("L", picture.size, 255)
    else:
        mask = Image.new("L", picture.size, 0 if node.get("invert_mask") else 255)
        picture = picture.convert("RGBA")
    saved = image_output(ctx, node, picture)
    return {**saved, "mask": image_output(ctx, node, mask, "mask")["image"], "type": "face_mask_output"}


def _face_off(ctx: RunContext, node: dict) -> dict:
    """No face detected: the original image passes through with a white mask at (0, 0)."""
    picture = load(ctx, node)
    saved = image_output(ctx, node, picture)
    mask = image_output(ctx, node, Image.new("L", picture.size, 255), "mask")
    return {**saved, "mask": mask["image"], "x": 0, "y": 0, "type": "face_off_output"}


def _grounding_dino(ctx: RunContext, node: dict) -> dict:
    """The detector stand-in detects nothing."""
    load(ctx, node)
    return {"collection": [], "type": "bounding_box_collection_output"}


def _segment_anything(ctx: RunContext, node: dict) -> dict:
    """Segment Anything stand-in: the prompted boxes, and discs around the positive points."""
    picture = load(ctx, node)
    canvas = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(canvas)
    boxes = [box for box in node.get("bounding_boxes") or [] if isinstance(box, dict)]
    if boxes and node.get("mask_filter") in ("largest", "highest_box_score"):
        key = ((lambda b: (b["x_max"] - b["x_min"]) * (b["y_max"] - b["y_min"])) if node["mask_filter"] == "largest"
               else (lambda b: b.get("score") or 0.0))
        boxes = [max(boxes, key=key)]
    for box in boxes:
        draw.rectangle([box["x_min"], box["y_min"], box["x_max"] - 1, box["y_max"] - 1], fill=255)
    radius = max(2, min(picture.size) // 16)
    for points in node.get("point_lists") or []:
        for point in (points or {}).get("points", []):
            if point.get("label", 1) > 0:
                x, y = point["x"], point["y"]
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    return save_mask(ctx, node, np.asarray(canvas) > 0)


MODEL_NODES: dict[str, Runner] = {
    "canny_edge_detection": _canny, "color_map": _color_map, "content_shuffle": _content_shuffle,
    "hed_edge_detection": _edges_standin(), "pidi_edge_detection": _edges_standin(),
    "lineart_edge_detection": _edges_standin(), "lineart_anime_edge_detection": _edges_standin(),
    "mlsd_detection": _edges_standin(binary=True), "depth_anything_depth_estimation": _depth,
    "normal_map": _normal, "dw_openpose_detection": _nothing_found, "mediapipe_face_detection": _nothing_found,
    "esrgan": _esrgan, "spandrel_image_to_image": _spandrel, "spandrel_image_to_image_autoscale": _spandrel_autoscale,
    "face_identifier": _face_identifier, "face_mask_detection": _face_mask, "face_off": _face_off,
    "grounding_dino": _grounding_dino, "segment_anything": _segment_anything,
}
