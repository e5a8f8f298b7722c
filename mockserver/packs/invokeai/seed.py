"""The library at start and after a reset: the default workflows and style presets InvokeAI
ships (from `fixtures/invokeai/`), an empty gallery, and the app's configuration."""

from __future__ import annotations

import functools
import json
import posixpath
import typing as t
from pathlib import Path

from mockserver.engine.pack import PackContext
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.catalogue import load_catalogue
from mockserver.packs.invokeai.library import Library
from mockserver.packs.invokeai.model_manager import ModelManager
from mockserver.packs.invokeai.runtime import Runtime
from mockserver.packs.invokeai.store import InvokeStore
from mockserver.packs.invokeai.workflows import record_of

PRESET_PREVIEW_SIZE = 256


def new_state(context: PackContext) -> InvokeStore:
    return _state(context, with_default_workflows=True)


def state_to_load(context: PackContext) -> InvokeStore:
    """A state an import is about to fill: the library's workflows are the import's, so the
    defaults are not seeded (they are most of a fresh state's cost, and draw no ids: the
    generators stand where `new_state` leaves them)."""
    return _state(context, with_default_workflows=False)


def _state(context: PackContext, *, with_default_workflows: bool) -> InvokeStore:
    app = context.fixture("app.yaml")
    runtime = Runtime(context.random("ids"), context.random("prompts"), context.clock, app)
    models = ModelManager(context.fixtures, context.random("models"), context.clock, runtime.emit)
    models.jobs.pace.speed = app.get("model_speed", "realtime")
    store = InvokeStore(runtime, load_catalogue(context.fixtures / "catalogue"), models)
    store.queue.speed = app.get("queue_speed", "realtime")
    store.queue.read_prompt_file = prompt_files(context.fixtures / "prompts")
    library = store.library
    if with_default_workflows:
        seed_default_workflows(library, context.fixtures / "default_workflows", context.clock.now())
    for preset in context.fixture("style_presets.yaml")["presets"]:
        library.style_presets[preset["id"]] = {
            "id": preset["id"], "name": preset["name"], "type": preset.get("type", "default"),
            "preset_data": {"positive_prompt": preset["positive_prompt"],
                            "negative_prompt": preset["negative_prompt"]},
            "image_token": runtime.new_id()}
        color = preset.get("image_color")
        if color:
            library.preset_images[preset["id"]] = preset_preview(color)
    return store


def seed_default_workflows(library: Library, folder: Path, now: float) -> None:
    for workflow_id, row in shipped_workflows(folder):
        library.workflows[workflow_id] = {**row, "created_at": now, "updated_at": now}
        library.workflow_index.sync(workflow_id, library.workflows[workflow_id])


# The YAML fixtures come through `PackContext.fixture` (parsed once, a copy each time); the
# workflows and preset previews below are kept here in the form a reset uses.

@functools.lru_cache(maxsize=4)
def shipped_workflows(folder: Path) -> tuple[tuple[str, dict], ...]:
    """The shipped workflows as library rows, by id. Every store's rows are fresh dicts (opening a
    workflow moves its row's times) that share these documents, ~170 kB of them: nothing changes a
    default workflow's document in place (the real server refuses to update or delete one; every
    answer, export and import copies documents), so a reset need not copy them."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        workflow_id = document.pop("id")
        rows.append((workflow_id, record_of(document, workflow_id, 0.0)))
    return tuple(rows)


@functools.lru_cache(maxsize=64)
def preset_preview(color: str) -> bytes:
    """The preview of a preset whose image was a solid colour (`thumbnail_of` an image is the
    thumbnail its PNG would have, without encoding and decoding the PNG at every start)."""
    return imaging.thumbnail_of(imaging.solid_image(PRESET_PREVIEW_SIZE, PRESET_PREVIEW_SIZE, color))


PROMPTS_ROOT = "/invokeai/prompts"  # where a graph's `prompt_from_file` finds the prompt files


def prompt_files(folder: Path) -> t.Callable[[str], str | None]:
    """A reader for the prompt files the pack ships: `/invokeai/prompts/<name>` is
    `fixtures/invokeai/prompts/<name>`. Nothing else on the host is ever read for a graph."""
    files = {f"{PROMPTS_ROOT}/{path.name}": path for path in sorted(folder.glob("*.txt"))} if folder.is_dir() else {}

    def read(path: str) -> str | None:
        found = files.get(posixpath.normpath(path)) if path.startswith("/") else None
        return found.read_text(encoding="utf-8") if found is not None else None
    return read

