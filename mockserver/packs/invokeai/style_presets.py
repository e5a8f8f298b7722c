"""The `/api/v1/style_presets` operations: the shipped defaults and user presets, their preview
images, and CSV export and CSV/JSON import. The handlers work on the store's library: `store` here
is `request.state.library` (`library.py`)."""

from __future__ import annotations

import csv
import io
import typing as t

from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.engine.threads import off_loop
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.library import Library
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()
PRESET_TYPES = ("user", "default", "project")
EXPORT_COLUMNS = ("name", "prompt", "negative_prompt")


def _preset(store: Library, preset_id: str) -> dict:
    preset = store.style_presets.get(preset_id)
    if preset is None:
        raise ApiError(404, "Style preset not found")
    return preset


def _by_name(presets: t.Iterable[dict]) -> list[dict]:
    return sorted(presets, key=lambda preset: preset["name"].lower())


def preset_dto(store: Library, preset: dict) -> dict:
    image = None
    if preset["id"] in store.preset_images:
        # The real server appends a fresh token so browsers refetch a replaced image.
        image = f"api/v1/style_presets/i/{preset['id']}/image?{preset['image_token']}"
    return {"name": preset["name"], "preset_data": dict(preset["preset_data"]), "type": preset["type"],
            "id": preset["id"], "image": image}


def _parse_data(request: Request[InvokeStore], text: str) -> dict:
    """The form's `data` field: JSON with name, positive_prompt, negative_prompt and type."""
    try:
        data = request.parse_json(text)
        fields = {key: data[key] for key in ("name", "positive_prompt", "negative_prompt", "type")}
    except (ValueError, TypeError, KeyError):
        raise ApiError(400, "Invalid preset data") from None
    if not all(isinstance(fields[key], str) for key in ("name", "positive_prompt", "negative_prompt")) \
            or fields["type"] not in PRESET_TYPES:
        raise ApiError(400, "Invalid preset data")
    return fields


def _preview(form: dict) -> bytes | None:
    """The form's optional `image` as the stored WebP preview; a bad image is refused up front.
    Blocking: decodes and encodes."""
    upload = form.get("image")
    if not isinstance(upload, UploadedFile):
        return None
    return imaging.thumbnail_of(imaging.read_image(upload))


def _set_image(store: Library, preset: dict, preview: bytes | None) -> None:
    if preview is None:
        store.preset_images.pop(preset["id"], None)
    else:
        store.preset_images[preset["id"]] = preview
        preset["image_token"] = store.new_id()


def _store_preset(store: Library, fields: dict, preset_id: str | None = None) -> dict:
    preset = store.style_presets.get(preset_id) if preset_id else None
    if preset is None:
        preset = {"id": preset_id or store.new_id(), "image_token": None}
        store.style_presets[preset["id"]] = preset
    preset.update(name=fields["name"], type=fields["type"],
                  preset_data={"positive_prompt": fields["positive_prompt"],
                               "negative_prompt": fields["negative_prompt"]})
    return preset


@handlers("list_style_presets")
def list_style_presets(request: Request[InvokeStore]) -> list:
    store = request.state.library
    return [preset_dto(store, preset) for preset in _by_name(store.style_presets.values())]


@handlers("get_style_preset")
def get_style_preset(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    return preset_dto(store, _preset(store, request.params["style_preset_id"]))


@handlers("create_style_preset")
async def create_style_preset(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    form = request.body or {}
    fields = _parse_data(request, form["data"])
    preview = await off_loop(_preview, form)
    with store.lock:
        preset = _store_preset(store, fields)
        _set_image(store, preset, preview)
        store.changed()
    return preset_dto(store, preset)


@handlers("update_style_preset")
async def update_style_preset(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    form = request.body or {}
    # InvokeAI 6.8.1 checks in this order: the image (415), the data (400), then the preset (its
    # missing preset is a 500 there, a 404 here).
    preview = await off_loop(_preview, form)
    fields = _parse_data(request, form["data"])
    with store.lock:
        preset = _preset(store, request.params["style_preset_id"])
        _store_preset(store, fields, preset["id"])
        # As on the real server, an update without an image removes the preset's image.
        _set_image(store, preset, preview)
        store.changed()
    return preset_dto(store, preset)


@handlers("delete_style_preset")
def delete_style_preset(request: Request[InvokeStore]) -> None:
    store = request.state.library
    with store.lock:
        preset = _preset(store, request.params["style_preset_id"])
        del store.style_presets[preset["id"]]
        store.preset_images.pop(preset["id"], None)
        store.changed()


@handlers("get_style_preset_image")
def get_style_preset_image(request: Request[InvokeStore]) -> Response:
    store = request.state.library
    preset = _preset(store, request.params["style_preset_id"])
    data = store.preset_images.get(preset["id"])
    if data is None:
        # The real server fails with a 500 for a preset without an image; this is a 404.
        raise ApiError(404, "Style preset image not found")
    return imaging.preview_response(data, preset["id"])


@handlers("export_style_presets")
def export_style_presets(request: Request[InvokeStore]) -> Response:
    store = request.state.library
    out = io.StringIO()
    writer = csv.writer(out)  # csv's default line ending is \r\n, as in the real export
    writer.writerow(EXPORT_COLUMNS)
    for preset in _by_name(store.style_presets.values()):
        if preset["type"] == "user":
            data = preset["preset_data"]
            writer.writerow((preset["name"], data["positive_prompt"], data["negative_prompt"]))
    return Response(200, out.getvalue().encode(), "text/csv; charset=utf-8",
                    {"content-disposition": "attachment; filename=prompt_templates.csv"})


_IMPORT_FIELDS = {"name", "prompt", "positive_prompt", "negative_prompt"}
_FORMAT_RULE = ("must include columns 'name', 'prompt', and 'negative_prompt' and name cannot be blank",
                "must be a list of objects with keys 'name', 'prompt', and 'negative_prompt' and name cannot be blank")


def _import_row(row: t.Any) -> dict:
    """One imported preset, read as the real server's import model does: surrounding whitespace
    stripped, `prompt` or `positive_prompt`, missing prompts empty, a name required, nothing else."""
    if not isinstance(row, dict) or set(row) - _IMPORT_FIELDS:
        raise ValueError
    values = {key: value.strip() if isinstance(value, str) else value for key, value in row.items()}
    prompt = values.get("positive_prompt", values.get("prompt", ""))
    name, negative = values.get("name"), values.get("negative_prompt", "")
    if not all(isinstance(v, str) for v in (name, prompt, negative)) or not name:
        raise ValueError
    return {"name": name, "positive_prompt": prompt, "negative_prompt": negative, "type": "user"}


def _import_rows(request: Request[InvokeStore], upload: UploadedFile) -> list[dict]:
    """Every preset of a CSV (name, prompt, negative_prompt columns) or a JSON list, or the real
    server's 400 naming the format; nothing is stored unless the whole file reads."""
    kind = (upload.content_type or "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "application/json"):
        raise ApiError(415, "Unsupported file type")
    is_json = kind == "application/json"
    try:
        text = upload.data.decode("utf-8-sig")
        rows = request.parse_json(text) if is_json else list(csv.DictReader(io.StringIO(text)))
        if not isinstance(rows, list):
            raise ValueError
        return [_import_row(row) for row in rows]
    except (ValueError, csv.Error):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(400, f"Invalid {'JSON' if is_json else 'CSV'} format: {_FORMAT_RULE[is_json]}") from None


@handlers("import_style_presets")
def import_style_presets(request: Request[InvokeStore]) -> None:
    store = request.state.library
    presets = _import_rows(request, request.body["file"])  # all parsed before any is stored
    with store.lock:
        for fields in presets:
            _store_preset(store, fields)
        store.changed()
