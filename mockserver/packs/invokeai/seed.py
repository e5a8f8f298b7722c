"""The library at start and after a reset: the default workflows and style presets InvokeAI
ships (from `fixtures/invokeai/`), an empty gallery, and the app's configuration."""

from __future__ import annotations

import json

from mockserver.engine.pack import PackContext
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.store import InvokeStore
from mockserver.packs.invokeai.workflows import new_record

PRESET_PREVIEW_SIZE = 256


def new_state(context: PackContext) -> InvokeStore:
    app = context.fixture("app.yaml")
    store = InvokeStore(context.random("ids"), context.clock, app)
    store.prompt_rng = context.random("prompts")
    now = context.clock.now()
    for path in sorted((context.fixtures / "default_workflows").glob("*.json")):
        workflow = json.loads(path.read_text(encoding="utf-8"))
        workflow_id = workflow.pop("id")
        store.workflows[workflow_id] = new_record(workflow, workflow_id, now)
    for preset in context.fixture("style_presets.yaml")["presets"]:
        store.style_presets[preset["id"]] = {
            "id": preset["id"], "name": preset["name"], "type": preset.get("type", "default"),
            "preset_data": {"positive_prompt": preset["positive_prompt"],
                            "negative_prompt": preset["negative_prompt"]},
            "image_token": store.new_id()}
        color = preset.get("image_color")
        if color:
            png = imaging.solid_png(PRESET_PREVIEW_SIZE, PRESET_PREVIEW_SIZE, color)
            store.preset_images[preset["id"]] = imaging.webp_thumbnail(png)
    return store
