"""Vision models as stand-ins: Grounding DINO finds one box per prompt label, and LLaVA OneVision
describes the images it is shown. Each answer is deterministic (a function of the image sizes and
the prompt), of the real output type. (Segment Anything is with the mask nodes, `image_nodes_models.py`.)"""

from __future__ import annotations

import hashlib

from mockserver.packs.invokeai.runners.context import (
    RunContext, Runner, load, load_named, require_model,
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
    "llava_onevision_vllm": _llava,
}
