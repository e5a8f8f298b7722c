"""Vision models as stand-ins: Grounding DINO finds one box per prompt, Segment Anything fills the
boxes (or points) it is given, and LLaVA OneVision describes the images it is shown. Each answer is
deterministic (a function of the image sizes and the prompt), of the real output type and size."""

from __future__ import annotations

import hashlib

from PIL import Image, ImageDraw

from mockserver.packs.invokeai.runners.context import (
    RunContext, Runner, load, load_named, require_model, save_mask_tensor,
)


def _fraction(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _grounding_dino(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    prompt = str(node.get("prompt") or "")
    boxes = []
    for index, label in enumerate(part.strip() for part in prompt.split(".") if part.strip()):
        score = round(0.5 + 0.5 * _fraction(label, index, "score"), 4)
        if score < float(node.get("detection_threshold", 0.3)):
            continue
        width = int(picture.width * (0.25 + 0.5 * _fraction(label, index, "w")))
        height = int(picture.height * (0.25 + 0.5 * _fraction(label, index, "h")))
        x = int((picture.width - width) * _fraction(label, index, "x"))
        y = int((picture.height - height) * _fraction(label, index, "y"))
        boxes.append({"x_min": x, "x_max": x + width, "y_min": y, "y_max": y + height, "score": score})
    return {"collection": boxes, "type": "bounding_box_collection_output"}


def _segment_anything(ctx: RunContext, node: dict) -> dict:
    picture = load(ctx, node)
    mask = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(mask)
    boxes = node.get("bounding_boxes") or []
    if node.get("mask_filter") in ("largest", "highest_box_score") and boxes:
        key = ((lambda b: (b["x_max"] - b["x_min"]) * (b["y_max"] - b["y_min"]))
               if node["mask_filter"] == "largest" else (lambda b: b.get("score") or 0))
        boxes = [max(boxes, key=key)]
    for box in boxes:
        draw.ellipse([box["x_min"], box["y_min"], box["x_max"], box["y_max"]], fill=255)
    for points in node.get("point_lists") or []:
        for point in points.get("points", []):
            if point.get("label", 1) > 0:
                radius = max(picture.width, picture.height) // 12 + 1
                draw.ellipse([point["x"] - radius, point["y"] - radius, point["x"] + radius, point["y"] + radius],
                             fill=255)
    field = save_mask_tensor(ctx, mask, node["image"]["image_name"], boxes, node.get("point_lists"))
    return {"mask": field, "width": picture.width, "height": picture.height, "type": "mask_output"}


def _llava(ctx: RunContext, node: dict) -> dict:
    require_model(ctx, node.get("vllm_model"), "model not found", "UnknownModelException",
                  "services/model_records/model_records_sql.py")
    images = node.get("images")
    images = images if isinstance(images, list) else [images] if images else []
    sizes = [load_named(ctx, ref["image_name"]).size for ref in images]
    described = "; ".join(f"a {w}x{h} picture" for w, h in sizes) or "no image"
    prompt = str(node.get("prompt") or "").strip()
    answer = f"The image shows {described}." if not prompt else f"{prompt.rstrip('?')}: {described}."
    return {"value": answer, "type": "string_output"}


RUNNERS: dict[str, Runner] = {
    "grounding_dino": _grounding_dino,
    "segment_anything": _segment_anything,
    "llava_onevision_vllm": _llava,
}
