"""The library at start and after a reset: the default workflows and style presets InvokeAI
ships (from `fixtures/invokeai/`), an empty gallery, and the app's configuration."""

from __future__ import annotations

import copy
import functools
import json
import posixpath
import typing as t
from pathlib import Path

from mockserver.engine import resources
from mockserver.engine.pack import PackContext
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.catalogue import load_catalogue
from mockserver.packs.invokeai.model_manager import ModelManager
from mockserver.packs.invokeai.runtime import Runtime
from mockserver.packs.invokeai.store import InvokeStore
from mockserver.packs.invokeai.workflows import new_record

PRESET_PREVIEW_SIZE = 256


def new_state(context: PackContext) -> InvokeStore:
    app = copy.deepcopy(read_yaml(context.fixtures / "app.yaml"))
    runtime = Runtime(context.random("ids"), context.random("prompts"), context.clock, app)
    models = ModelManager(context.fixtures, context.random("models"), context.clock, runtime.emit)
    models.jobs.pace.speed = app.get("model_speed", "realtime")
    store = InvokeStore(runtime, load_catalogue(context.fixtures / "catalogue"), models)
    store.queue.speed = app.get("queue_speed", "realtime")
    store.queue.read_prompt_file = prompt_files(context.fixtures / "prompts")
    library = store.library
    now = context.clock.now()
    for workflow in default_workflows(context.fixtures / "default_workflows"):
        workflow = copy.deepcopy(workflow)
        workflow_id = workflow.pop("id")
        library.workflows[workflow_id] = new_record(workflow, workflow_id, now)
        library.workflow_index.sync(workflow_id, library.workflows[workflow_id])
    for preset in read_yaml(context.fixtures / "style_presets.yaml")["presets"]:
        library.style_presets[preset["id"]] = {
            "id": preset["id"], "name": preset["name"], "type": preset.get("type", "default"),
            "preset_data": {"positive_prompt": preset["positive_prompt"],
                            "negative_prompt": preset["negative_prompt"]},
            "image_token": runtime.new_id()}
        color = preset.get("image_color")
        if color:
            library.preset_images[preset["id"]] = preset_preview(color)
    return store


# Fixtures never change while serving; a reset (and every state import, which starts from a fresh
# state) reads them from memory, and callers copy what they will change.

@functools.lru_cache(maxsize=16)
def read_yaml(path: Path) -> t.Any:
    return resources.read_yaml(path)


@functools.lru_cache(maxsize=4)
def default_workflows(folder: Path) -> tuple[dict, ...]:
    return tuple(json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json")))


@functools.lru_cache(maxsize=64)
def preset_preview(color: str) -> bytes:
    return imaging.webp_thumbnail(imaging.solid_png(PRESET_PREVIEW_SIZE, PRESET_PREVIEW_SIZE, color))


PROMPTS_ROOT = "/invokeai/prompts"  # where a graph's `prompt_from_file` finds the prompt files


def prompt_files(folder: Path) -> t.Callable[[str], str | None]:
    """A reader for the prompt files the pack ships: `/invokeai/prompts/<name>` is
    `fixtures/invokeai/prompts/<name>`. Nothing else on the host is ever read for a graph."""
    files = {f"{PROMPTS_ROOT}/{path.name}": path for path in sorted(folder.glob("*.txt"))} if folder.is_dir() else {}

    def read(path: str) -> str | None:
        found = files.get(posixpath.normpath(path)) if path.startswith("/") else None
        return found.read_text(encoding="utf-8") if found is not None else None
    return read

