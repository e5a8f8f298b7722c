"""Schemathesis over `specs/invokeai.yaml`, against the app in-process (ASGI), responses validated.

Runtime on a 2-core machine (pytest's count): about 22 s at the quick depth (5 fuzzed examples per
operation, no coverage phase: see tests/depth.py) and about 45 s deep (10, with the coverage phase:
about 5700 requests). That covers the 131 operations (a world restore after a case that changed
something is a state load of ~8 ms), the stateful run (~5 s), the plain tests, and the `world`
fixture, which builds the app, the baseline world and the schema (~3 s, once in each process that
runs any of the items; nothing is built at import).

Each of the 131 operations is one pytest item (see tests/contract_items.py), destructive ones included. Schemathesis generates
valid and invalid requests from the spec (examples, coverage and fuzzing phases) and checks every
answer: no 5xx, a documented status, a documented content type, a body that fits the schema,
invalid input rejected with 422 (FastAPI's status; 415 too where a multipart file part is
involved, and 400 for the style preset forms: see config_data), and schema-valid input answered
with a 2xx or a refusal the operation documents. InvokeAI has no authentication, so there are no
credentials to send. A stateful run (test_stateful_links) then follows the spec's OpenAPI links:
create a board, upload into it, add an image to it, enqueue a batch and read its status, install a
model and read the job, and so on.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import typing as t

import hypothesis
import pytest
import schemathesis
from contract_items import OneItemPerOperation
from depth import contract_phases, examples
from PIL import Image, PngImagePlugin
from schemathesis.config import SchemathesisConfig
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.contract.profile import (
    UNREADABLE_BODY_DETAIL,
    lax_valid_body,
    query_valid_as_sent,
    unreadable_json_body,
)
from mockserver.engine.pipeline import Settings
from mockserver.engine.resources import read_yaml, specs_dir
from mockserver.packs.invokeai import contract
from mockserver.packs.invokeai.bulk_downloads import BulkDownloads
from mockserver.packs.invokeai.contract import NOT_IMPLEMENTED as INVOKEAI_NOT_IMPLEMENTED
from mockserver.packs.invokeai.contract import SEMVER_PATTERN
from mockserver.packs.invokeai.contract import as_tested as invokeai_as_tested

PACK = "invokeai"
CONTROL = f"/__mock__/packs/{PACK}"
NOW = 1_763_683_200  # 2025-11-21T00:00:00Z
API = "/api/v1"
MODELS = "/api/v2/models"
QUEUE = f"{API}/queue/default"
PROFILE = contract.profile()  # what `mockserver contract --api invokeai` knows about this API

# A bulk download of a list naming an image twice holds it twice, as the real server's archive does
# (zipfile warns about the duplicate entry name, on both).
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")

# -- the world every case starts from ------------------------------------------------------------


def png(color: str, width: int = 48, height: int = 32, text: dict[str, str] | None = None) -> bytes:
    """A real PNG made with Pillow (`text`: PNG text chunks, as InvokeAI embeds metadata)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


WORKFLOW = {"name": "Portrait touch-up", "author": "contract test", "description": "A user workflow",
            "version": "1.0.0", "contact": "", "tags": "portrait, test", "notes": "", "exposedFields": [],
            "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [], "form": None}
PRESET = {"name": "Moody portrait", "positive_prompt": "{prompt}, moody light", "negative_prompt": "blurry",
          "type": "user"}
METADATA = {"positive_prompt": "a red fox in the snow", "seed": 1234, "model": "sd-1.5"}
EMBEDDED_WORKFLOW = json.dumps({**WORKFLOW, "id": "embedded"})
EMBEDDED_GRAPH = json.dumps({"id": "graph", "nodes": {}, "edges": []})
DEFAULT_WORKFLOW = "default_444fe292-896b-44fd-bfc6-c0b5d220fffc"  # read-only: update/delete are 400s

# Graphs the queue runs: one that completes, one whose node fails (ZeroDivisionError).
GRAPH = {"id": "g", "nodes": {"n": {"id": "n", "type": "integer", "value": 1}}, "edges": []}
FAILING_GRAPH = {"id": "f", "nodes": {"d": {"id": "d", "type": "div", "a": 1, "b": 0}}, "edges": []}
# The mock's virtual disk and web (fixtures/invokeai/model_files.yaml, hugging_face.yaml).
CHECKPOINT = "/invokeai/import/checkpoints/dreamshaper_8.safetensors"
LORA = "/invokeai/import/loras/pixel-art-xl.safetensors"
VAE = "/invokeai/import/vae/vae-ft-mse-840000-ema-pruned.safetensors"
BROKEN = "/invokeai/import/broken/interrupted-download.safetensors"  # no model: its install ends in error
SDXL_CHECKPOINT = "/invokeai/import/checkpoints/juggernautXL_v9Rdphoto2Lightning.safetensors"
CIVITAI = "https://civitai.com/api/download/models/128713"
PNG_URL = "https://example.com/downloads/openpose-hands.png"
HF_REPOS = ["stabilityai/sdxl-vae", "nerijs/pixel-art-xl", "Lykon/DreamShaper",
            "stable-diffusion-v1-5/stable-diffusion-v1-5"]
HF_TOKEN = "hf_" + "a1B2c3D4e5" * 3 + "z9"


def ok(response: t.Any) -> t.Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _archive(app: t.Any, name: str) -> bytes:
    """The bytes of a bulk download the baseline made (taken out: it is put back before every case)."""
    store = app.runtimes[PACK].state
    with store.lock:
        data = store.gallery.bulk_downloads.take(name, store.runtime.clock.now())
    assert data is not None, name
    return data


def _baseline(app: t.Any, client: TestClient) -> dict:
    """Part 1: fixtures (default workflows and presets) + three boards (one archived) + six
    uploaded PNGs (on boards, uncategorized, an asset, a starred one, one with metadata, one
    embedding a workflow and a graph, an intermediate) + a user workflow with a thumbnail + a user
    style preset with a preview image + a client state key + a bulk download waiting to be fetched.

    Part 2, with queue and model work at `instant` speed (done by the time the call that starts it
    answers, so an enqueued item runs inside its case): three installed models (a main checkpoint,
    which convert takes; a LoRA related to it; a VAE), images on the first two, a failed
    install job, an install job and a download still waiting (queued at `realtime` speed before the
    switch: the clock is frozen, so their time never comes and cancel has something to stop), a
    completed and a failed download, and queue items completed, failed and canceled (three
    batches, destinations `gallery` and `canvas`)."""
    ok(client.post(f"{CONTROL}/reset"))
    boards = {name: ok(client.post(f"{API}/boards/", params={"board_name": name}))["board_id"]
              for name in ("Portraits", "Landscapes", "Old work")}
    ok(client.patch(f"{API}/boards/{boards['Old work']}", json={"archived": True}))

    def upload(data: bytes, *, category: str = "general", intermediate: bool = False, board: str | None = None,
               form: dict | None = None) -> str:
        params = {"image_category": category, "is_intermediate": str(intermediate).lower(),
                  **({"board_id": boards[board]} if board else {})}
        return ok(client.post(f"{API}/images/upload", params=params, files={"file": ("image.png", data, "image/png")},
                              data=form or {}))["image_name"]

    images = {
        "portrait": upload(png("firebrick"), board="Portraits"),
        "asset": upload(png("gold", 16, 16), category="user", board="Portraits"),
        "landscape": upload(png("seagreen", 64, 40), board="Landscapes"),
        "with_metadata": upload(png("navy"), form={"metadata": json.dumps(METADATA)}),
        "with_workflow": upload(png("orchid", text={"invokeai_workflow": EMBEDDED_WORKFLOW,
                                                    "invokeai_graph": EMBEDDED_GRAPH})),
        "intermediate": upload(png("gray"), intermediate=True),
    }
    ok(client.patch(f"{API}/images/i/{images['portrait']}", json={"starred": True}))

    workflow_id = ok(client.post(f"{API}/workflows/", json={"workflow": WORKFLOW}))["workflow_id"]
    ok(client.put(f"{API}/workflows/i/{workflow_id}/thumbnail", files={"image": ("t.png", png("teal"), "image/png")}))

    preset_id = ok(client.post(f"{API}/style_presets/", data={"data": json.dumps(PRESET)},
                               files={"image": ("p.png", png("plum"), "image/png")}))["id"]
    default_presets = sorted(p["id"] for p in ok(client.get(f"{API}/style_presets/")) if p["type"] == "default")

    ok(client.post(f"{API}/client_state/default/set_by_key", params={"key": "gallery"}, json='{"view": "grid"}'))

    download = client.post(f"{API}/images/download", json={"board_id": boards["Portraits"]})
    assert download.status_code == 202, download.text
    item = download.json()["bulk_download_item_name"]

    # -- part 2: models, downloads, the queue
    ok(client.get(f"{MODELS}/"))
    speeds = {"queue_speed": "instant", "model_speed": "instant"}
    settings = ok(client.put(f"{CONTROL}/settings", json=speeds))
    assert {key: settings[key] for key in speeds} == speeds
    for source in (CHECKPOINT, LORA, VAE, BROKEN):
        assert client.post(f"{MODELS}/install", params={"source": source}, json={}).status_code == 201
    models = {m["type"]: m["key"] for m in ok(client.get(f"{MODELS}/"))["models"]}
    assert set(models) == {"main", "lora", "vae"}, models
    for kind, color in (("main", "khaki"), ("lora", "salmon")):  # the VAE has none
        ok(client.patch(f"{MODELS}/i/{models[kind]}/image", files={"image": ("m.png", png(color), "image/png")}))
    assert client.post(f"{API}/model_relationships/",
                       json={"model_key_1": models["main"], "model_key_2": models["lora"]}).status_code == 204
    ok(client.put(f"{CONTROL}/settings", json={"model_speed": "realtime"}))
    waiting_install = ok(client.post(f"{MODELS}/install", params={"source": "stabilityai/sdxl-vae"}, json={}))["id"]
    waiting_download = ok(client.post(f"{API}/download_queue/i/", json={"source": CIVITAI, "dest": "/invokeai/import"}))
    ok(client.put(f"{CONTROL}/settings", json={"model_speed": "instant"}))
    for source in (PNG_URL, "https://example.com/downloads/missing.bin"):
        ok(client.post(f"{API}/download_queue/i/", json={"source": source, "dest": "/invokeai/import"}))
    installs = {job["id"]: job["status"] for job in ok(client.get(f"{MODELS}/install"))}
    downloads = {job["id"]: job["status"] for job in ok(client.get(f"{API}/download_queue/"))}
    assert sorted(installs.values()) == ["completed", "completed", "completed", "error", "waiting"], installs
    assert installs[waiting_install] == "waiting" and downloads[waiting_download["id"]] == "waiting", downloads
    assert {"completed", "error", "waiting"} <= set(downloads.values()), downloads

    def enqueue(graph: dict, destination: str, runs: int = 1) -> dict:
        batch = {"graph": graph, "origin": "contract", "destination": destination, "runs": runs}
        return ok(client.post(f"{QUEUE}/enqueue_batch", json={"batch": batch}))

    batches = [enqueue(GRAPH, "gallery")["batch"]["batch_id"], enqueue(FAILING_GRAPH, "canvas")["batch"]["batch_id"]]
    ok(client.put(f"{QUEUE}/processor/pause"))
    canceled = enqueue(GRAPH, "gallery")
    batches.append(canceled["batch"]["batch_id"])
    ok(client.put(f"{QUEUE}/i/{canceled['item_ids'][0]}/cancel"))
    ok(client.put(f"{QUEUE}/processor/resume"))
    items = {item["item_id"]: item["status"] for item in ok(client.get(f"{QUEUE}/list_all"))}
    assert sorted(items.values()) == ["canceled", "completed", "failed"], items
    running = ok(client.get(f"{CONTROL}/state"))

    # The paused world: the same, with the processor paused and a batch of two items pending in it.
    ok(client.put(f"{QUEUE}/processor/pause"))
    pending = enqueue(GRAPH, "canvas", runs=2)
    batches.append(pending["batch"]["batch_id"])
    paused = ok(client.get(f"{CONTROL}/state"))
    return {"state": running, "paused": paused, "boards": boards, "images": images,
            "workflow_id": workflow_id, "preset_id": preset_id, "default_preset_id": default_presets[0],
            "bulk_download": (item, _archive(app, item)),
            "models": models, "jobs": sorted({*installs, *downloads}), "batches": batches,
            "items": sorted([*items, *pending["item_ids"]]), "pending_items": sorted(pending["item_ids"])}


# The queue operations that read, cancel or delete items start from the paused world, where two
# items are pending: cancelling one then really cancels it, the counts, `next` and the batch
# status have pending items to report, and `resume` runs them. Enqueueing, retrying and pausing
# start from the running world, where what they queue runs inside the case.
PAUSED_WORLD = {
    "list_all_queue_items", "get_queue_item_ids", "get_queue_items_by_item_ids", "resume",
    "cancel_all_except_current", "delete_all_except_current", "cancel_by_batch_ids", "cancel_by_destination",
    "clear", "prune", "get_next_queue_item", "get_queue_status", "get_batch_status", "get_queue_item",
    "delete_queue_item", "cancel_queue_item", "counts_by_destination", "delete_by_destination",
}


# -- the spec as schemathesis sees it --------------------------------------------------------------

@functools.cache
def raw_spec() -> dict:
    return read_yaml(specs_dir() / "invokeai.yaml")


def as_tested(spec: dict) -> dict:
    """The spec as `mockserver contract` gives it to schemathesis (see `invokeai_as_tested`):
    rules the real server checks in validators, such as `WorkflowMeta.version` being a semantic
    version and a node's `type` an invocation type, given as schema so positive data keeps them."""
    spec = invokeai_as_tested(copy.deepcopy(spec))
    assert spec["components"]["schemas"]["WorkflowMeta"]["properties"]["version"]["pattern"] == SEMVER_PATTERN
    return spec


# The multipart uploads: half their positive cases send real files (see _real_files).
FILE_UPLOADS = ("upload_image", "set_workflow_thumbnail", "create_style_preset", "update_style_preset",
                "import_style_presets", "update_model_image")

def config_data(baseline: dict) -> dict[str, t.Any]:
    """How schemathesis tests this API (much of it names things in the baseline world)."""
    return {
        # Reproducible and bounded: derandomized Hypothesis (the seed covers what is not), no example
        # database (a run does not depend on earlier runs), 10 fuzzed examples per operation (positive
        # and negative together) on top of the coverage phase's deterministic boundary cases: about
        # 5000 cases in all (with 25 examples the file takes over 90 s). At the quick depth 5, and
        # the coverage phase left to `mockserver contract` (tests/depth.py's contract_phases).
        "seed": 20251121,
        "phases": contract_phases(),
        "generation": {"mode": "all", "max-examples": examples(quick=5, deep=10), "deterministic": True,
                       "database": "none"},
        # Generated names and ids almost never name anything that exists, so every lookup would be a
        # 404 and every bulk operation a no-op. Half the time a parameter of these names takes a value
        # from the baseline world instead: images (on a board, uncategorized, starred, an asset, with
        # metadata, with an embedded workflow, intermediate), boards (active and archived, and `none`,
        # the uncategorized pseudo-board), the user workflow and a read-only default one, the user
        # preset and a default one, and the bulk download waiting to be fetched (put back before every
        # case by restore(), since a GET consumes it); the installed models (checkpoint, LoRA, VAE),
        # the install and download jobs (completed, failed, waiting: one `id` parameter names both
        # kinds), queue items (completed, failed, canceled, and the paused world's pending two), their
        # batches and destinations; sources the mock can install or download, folders it can scan,
        # HuggingFace repos it knows and a well-formed HuggingFace token.
        "dictionaries": {
            "images": {"values": list(baseline["images"].values())},
            "boards": {"values": [*baseline["boards"].values(), "none"]},
            "workflows": {"values": [baseline["workflow_id"], DEFAULT_WORKFLOW]},
            "presets": {"values": [baseline["preset_id"], baseline["default_preset_id"]]},
            "downloads": {"values": [baseline["bulk_download"][0]]},
            "queues": {"values": ["default"]},
            "models": {"values": list(baseline["models"].values())},
            "jobs": {"values": baseline["jobs"]},
            "items": {"values": baseline["items"]},
            "batches": {"values": baseline["batches"]},
            "destinations": {"values": ["gallery", "canvas"]},
            "install_sources": {"values": [SDXL_CHECKPOINT, LORA, BROKEN, *HF_REPOS, CIVITAI]},
            "hf_repos": {"values": HF_REPOS},
            "download_sources": {"values": [PNG_URL, CIVITAI,
                                            "https://huggingface.co/stabilityai/sdxl-vae/resolve/main/config.json"]},
            "download_dests": {"values": ["/invokeai/import", "/invokeai/downloads/hands.png"]},
            "scan_paths": {"values": ["/invokeai/import", "/invokeai/import/checkpoints", "/invokeai/models"]},
            "model_names": {"values": ["dreamshaper_8", "pixel-art-xl", "vae-ft-mse-840000-ema-pruned"]},
            "model_types": {"values": ["main", "lora", "vae"]},
            "model_bases": {"values": ["sd-1", "sdxl"]},
            "hf_tokens": {"values": [HF_TOKEN]},
        },
        "parameters": {
            "path.image_name": {"dictionary": "images", "probability": 0.5},
            "body.image_name": {"dictionary": "images", "probability": 0.5},
            "body.image_names[*]": {"dictionary": "images", "probability": 0.5},
            "path.board_id": {"dictionary": "boards", "probability": 0.5},
            "query.board_id": {"dictionary": "boards", "probability": 0.5},
            "body.board_id": {"dictionary": "boards", "probability": 0.5},
            "path.workflow_id": {"dictionary": "workflows", "probability": 0.5},
            "path.style_preset_id": {"dictionary": "presets", "probability": 0.5},
            "path.bulk_download_item_name": {"dictionary": "downloads", "probability": 0.5},
            "path.queue_id": {"dictionary": "queues", "probability": 0.5},
            "path.key": {"dictionary": "models", "probability": 0.5},
            "path.model_key": {"dictionary": "models", "probability": 0.5},
            "body.model_key_1": {"dictionary": "models", "probability": 0.5},
            "body.model_key_2": {"dictionary": "models", "probability": 0.5},
            "body.model_keys[*]": {"dictionary": "models", "probability": 0.5},
            "path.id": {"dictionary": "jobs", "probability": 0.5},
            "path.item_id": {"dictionary": "items", "probability": 0.5},
            "body.item_ids[*]": {"dictionary": "items", "probability": 0.5},
            "path.batch_id": {"dictionary": "batches", "probability": 0.5},
            "body.batch_ids[*]": {"dictionary": "batches", "probability": 0.5},
            "path.destination": {"dictionary": "destinations", "probability": 0.5},
            "query.destination": {"dictionary": "destinations", "probability": 0.5},
            "query.scan_path": {"dictionary": "scan_paths", "probability": 0.5},
            "query.hugging_face_repo": {"dictionary": "hf_repos", "probability": 0.5},
            "body.token": {"dictionary": "hf_tokens", "probability": 0.5},
        },
        # Nothing is secret: no credentials, fixture data only.
        "output": {"sanitization": {"enabled": False}},
        "checks": {
            # FastAPI dialect: invalid input is a 422 (the 400s of this API are business rules).
            "negative_data_rejection": {"expected-statuses": [422]},
            # Schema-valid requests are often refused for documented reasons the schema cannot state
            # (a name that does not exist, a file that is not an image, a read-only default workflow).
            # The built-in check would count every such 4xx as a failure (or, with them listed, let
            # any of them pass anywhere); `documented_refusals_only` below replaces it.
            "positive_data_acceptance": {"enabled": False},
            # A method a path does not list falls through to the web UI's StaticFiles mount, as on
            # the real server: 405 without `Allow`, or 404 for GET/HEAD (the pack's contract profile says so).
            **PROFILE.checks,
        },
        "operations": [
            # The profile's per-operation check settings, each with its reason in packs/invokeai/contract.py:
            # - not_a_server_error off for the community edition's documented 501s
            #   (documented_refusals_only requires exactly that 501 for schema-valid input, and
            #   test_not_implemented_operations_answer_501 pins it);
            # - 415 beside 422 for negative uploads: every multipart part is text on the wire, so a
            #   mutated file part is "not an image", which the real server refuses first;
            # - 400 as well for the style preset forms: they read `data` before the image, and a
            #   `data` that is not preset JSON is the documented 400 `Invalid preset data`. A
            #   "type-violating" `data` (a number) is only text on the wire, so negative cases get the
            #   400 as often as 415/422 (seen with seeds 2 and 3: `data` sent as `-5.68e+16`; an
            #   integer `image` part beside a random `data`);
            # - unsupported_method off for `GET .../install/huggingface` (its DELETE is the install
            #   job route with id "huggingface": 422 int_parsing, as on the real server);
            # - the stateful checks where the API's DELETE or 404 means something else (job cancels,
            #   reads that answer for any name, parts a new resource may not have yet).
            *({"include-operation-id": operation_id, "checks": checks}
              for operation_id, checks in PROFILE.operation_checks.items()),
            # Parameters of these names mean different things elsewhere, so they are bound here only.
            {"include-operation-id": "install_model",
             "parameters": {"query.source": {"dictionary": "install_sources", "probability": 0.5}}},
            {"include-operation-id": "install_hugging_face_model",
             "parameters": {"query.source": {"dictionary": "hf_repos", "probability": 0.5}}},
            {"include-operation-id": "download",
             "parameters": {"body.source": {"dictionary": "download_sources", "probability": 0.5},
                            "body.dest": {"dictionary": "download_dests", "probability": 0.5}}},
            {"include-operation-id": "get_model_records_by_attrs",
             "parameters": {"query.name": {"dictionary": "model_names", "probability": 0.5},
                            "query.type": {"dictionary": "model_types", "probability": 0.5},
                            "query.base": {"dictionary": "model_bases", "probability": 0.5}}},
            {"include-operation-id": "retry_items_by_id",
             "parameters": {"body.[*]": {"dictionary": "items", "probability": 0.5}}},
            {"include-operation-id": "enqueue_batch",
             "parameters": {"body.batch.destination": {"dictionary": "destinations", "probability": 0.5}}},
        ],
    }



class World:
    """The app (frozen clock: timestamps and the seeded ids are the same on every run, so a failure
    reproduces; validate_responses: an answer that breaks the spec comes back as a 500), the two
    baseline worlds cases start from, and the spec as schemathesis tests it."""

    def __init__(self) -> None:
        self.app = build_server(ServerConfig(apis=[PACK], seed=3, clock_start=NOW,
                                             settings=Settings(validate_responses=True)))
        self.client = TestClient(self.app)
        self.baseline = _baseline(self.app, self.client)
        self.bulk_download: tuple[str, bytes] = self.baseline["bulk_download"]
        self.worlds = {"running": self.baseline["state"], "paused": self.baseline["paused"]}
        runtime = self.app.runtimes[PACK]
        self._loaded: tuple[str, t.Any, int] = ("paused", runtime.state, runtime.state.version)
        self.config = config_data(self.baseline)
        self.schema = schemathesis.openapi.from_dict(as_tested(raw_spec()),
                                                     config=SchemathesisConfig.from_dict(self.config))
        self.schema.app = self.app

    def restore(self, world: str = "running", *, force: bool = False) -> None:
        """Uploads, deletes, moves, stars, updates, setting changes and queue and model work alter the
        world; the next case must not depend on what an earlier one did, or failures would not
        reproduce alone. Reads leave the state alone (its version does not move), so the reload only
        follows cases that changed something, or a switch between the running and the paused world.

        Bulk downloads are outside the state export: an import drops them, a GET deletes the one it
        serves (served once, as on the real server) without moving the version, and every POST
        /images/download adds one. So before every case the baseline's archive is put back, alone,
        under its name (the dictionary below hands that name out)."""
        runtime = self.app.runtimes[PACK]
        if force or (world, runtime.state, runtime.state.version) != self._loaded:
            # What `PUT /__mock__/packs/invokeai/state` does, without the HTTP round trip of the
            # 150 kB document (half the cost, and after a thousand cases that adds up).
            runtime.load(self.worlds[world])
            self._loaded = (world, runtime.state, runtime.state.version)
        store = runtime.state
        with store.lock:
            store.gallery.bulk_downloads = BulkDownloads()
            store.gallery.bulk_downloads.add(*self.bulk_download, store.runtime.clock.now())


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# One item per operation (see tests/contract_items.py), the schema taken from `world.schema`.
items = OneItemPerOperation("invokeai.yaml")
lazy_schema = items.lazy_schema
operation, contract_schema = items.operation_fixture, items.schema_fixture


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    items.parametrize(metafunc)


def _operation_id(case: schemathesis.Case) -> str:
    return case.operation.definition.raw["operationId"]


def documented_refusals_only(ctx: t.Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A schema-valid request gets a 2xx, or a 4xx the operation documents other than 422 (the
    input is valid), with the `{"detail": "<text>"}` body (none for HEAD, an HTML page where the
    operation answers HTML). The operations the community edition does not implement answer 501
    `{"detail": "Not implemented"}` instead. See VALIDATOR_REFUSALS for the one 422 allowed."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    check_valid_request_answer(response, case)


def _validator_refusal(response: schemathesis.Response, case: schemathesis.Case) -> bool:
    """A graph's edges must join fields of nodes in it and batch data must name a node and field of
    the graph: rules the real server checks in pydantic validators and no schema can state, so
    schemathesis's "valid" batches break them more often than not. The
    runner accepts such a 422 for the operations of `VALIDATOR_REFUSALS` (enqueue_batch): one made
    only of validator errors, or of errors inside a node (its type's schema says what its fields
    take; the spec's node is open). Here, more narrowly, every error must also be about the batch."""
    if response.status_code != 422 or not contract.validator_refusal(case, response):
        return False
    return all(issue.get("loc", [])[:2] == ["body", "batch"] for issue in response.json()["detail"])


def _content_type(response: schemathesis.Response) -> str:
    value = response.headers.get("content-type") or ""
    return (value[0] if isinstance(value, list) and value else str(value)).lower()


def check_valid_request_answer(response: schemathesis.Response, case: schemathesis.Case) -> None:
    status = response.status_code
    if _operation_id(case) in INVOKEAI_NOT_IMPLEMENTED:
        assert status == 501 and response.json() == {"detail": "Not implemented"}, (
            f"not-implemented operation answered {status}: {response.text[:400]}")
        return
    if 200 <= status < 300 or _validator_refusal(response, case):
        return
    documented = {int(code) for code in case.operation.definition.raw.get("responses", {}) if code.isdigit()}
    assert 400 <= status < 500 and status in documented - {422}, (
        f"schema-valid request answered {status}: {response.text[:400]}")
    if case.method.upper() == "HEAD":
        assert not response.content, response.content[:200]
        return
    if _content_type(response).startswith("text/html"):
        # The HuggingFace install page answers its refusals as the HTML page it documents.
        assert "text/html" in case.operation.definition.raw["responses"][str(status)].get("content", {})
        assert "<h2 class=\"error\">" in response.text, response.text[:400]
        return
    detail = response.json().get("detail")
    assert isinstance(detail, str) and detail, response.text[:400]


# -- making generated cases reach the success paths -------------------------------------------------
# Schemathesis fills a binary part with generated bytes and no content type, which the server
# refuses (415, documented) before anything else: no upload would ever succeed. Half the positive
# cases of these operations (chosen by a hash of the generated case, so reproducibly) get real
# files instead, as `mockserver contract`'s samples do for chutes deploys. Half the positive
# enqueues likewise get a small graph that runs (see _runnable_graph).

PNG = png("coral", 40, 30)
PRESET_CSV = b"name,prompt,negative_prompt\r\nImported,\"{prompt}, film grain\",lowres\r\n"
# A graph that runs: an integer added to itself, and a 24×16 image saved to the batch's board.
SAMPLE_GRAPH = {
    "id": "sample",
    "nodes": {"i": {"id": "i", "type": "integer", "value": 7}, "sum": {"id": "sum", "type": "add"},
              "img": {"id": "img", "type": "blank_image", "width": 24, "height": 16}},
    "edges": [{"source": {"node_id": "i", "field": "value"}, "destination": {"node_id": "sum", "field": "a"}},
              {"source": {"node_id": "i", "field": "value"}, "destination": {"node_id": "sum", "field": "b"}}],
}
# `runs` has no maximum; every run of every data combination is a queue item (up to 10000 at once).
# The mock's processor takes time in the square of the queue's length (at `instant` speed 1000
# items take 0.5 s, 2000 take 1.9 s, 10000 about a minute), so generated runs are capped at this
# many; test_huge_runs_are_capped_by_the_queue pins what a huge `runs` must do.
MAX_RUNS = 3


def _chosen(case: schemathesis.Case) -> bool:
    seen = repr((case.path_parameters, case.query, case.body)).encode()
    return not hashlib.sha256(seen).digest()[0] % 2


def _real_files(case: schemathesis.Case, *, always: bool = False) -> bool:
    """Whether the case now carries real files (then it is schema-valid by construction)."""
    operation_id = _operation_id(case)
    if operation_id not in FILE_UPLOADS or case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    if not (always or _chosen(case)):
        return False
    multipart = case.media_type == "multipart/form-data"
    if operation_id == "upload_image":
        case.body = {"file": PNG, "metadata": json.dumps(METADATA)}
        case.multipart_content_types = {"file": "image/png"}
    elif operation_id in ("set_workflow_thumbnail", "update_model_image"):
        case.body = {"image": PNG}
        case.multipart_content_types = {"image": "image/png"}
    elif operation_id in ("create_style_preset", "update_style_preset"):
        case.body = {"data": json.dumps(PRESET), **({"image": PNG} if multipart else {})}
        case.multipart_content_types = {"image": "image/png"} if multipart else None
    elif operation_id == "import_style_presets":
        case.body = {"file": PRESET_CSV}
        case.multipart_content_types = {"file": "text/csv"}
    return True


def _runnable_graph(case: schemathesis.Case) -> None:
    """Enqueues: `runs` capped (MAX_RUNS), and half the positive cases run SAMPLE_GRAPH (no batch
    data, which names the generated graph's nodes); the rest of the batch stays as generated. The
    case stays schema-valid (or -invalid) as it was."""
    if _operation_id(case) != "enqueue_batch" or not isinstance(case.body, dict):
        return
    batch = case.body.get("batch")
    if not isinstance(batch, dict):
        return
    runs = batch.get("runs")
    if isinstance(runs, int) and not isinstance(runs, bool) and runs > MAX_RUNS:
        batch["runs"] = MAX_RUNS
    if case.meta is not None and case.meta.generation.mode.is_positive and _chosen(case):
        batch["graph"] = copy.deepcopy(SAMPLE_GRAPH)
        batch["data"] = None


def world_of(case: schemathesis.Case) -> str:
    return "paused" if _operation_id(case) in PAUSED_WORLD else "running"


def prepare(world: World, case: schemathesis.Case) -> bool:
    """The world the case starts from, and the case made to reach success paths; True when it now
    carries real files (see test_invokeai_api)."""
    world.restore(world_of(case))
    _runnable_graph(case)
    return _real_files(case)


def valid_request_answered(ctx: t.Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """documented_refusals_only for a case known to be schema-valid (see test_invokeai_api)."""
    check_valid_request_answer(response, case)


@lazy_schema.parametrize()
def test_invokeai_api(case: schemathesis.Case, world: World) -> None:
    try:
        if prepare(world, case):
            # Schemathesis re-reads a changed case's metadata and cannot validate binary parts, so
            # it would now take the case for a negative one; it is schema-valid by construction.
            case.call_and_validate(additional_checks=[valid_request_answered],
                                   excluded_checks=[schemathesis.checks.negative_data_rejection])
        elif unreadable_json_body(case):
            # Bytes that are not text: FastAPI's 400 before any validation (documented as tested).
            response = case.call_and_validate(excluded_checks=[schemathesis.checks.negative_data_rejection])
            assert response.status_code == 400 and response.json() == {"detail": UNREADABLE_BODY_DETAIL}
        elif lax_valid_body(case) or query_valid_as_sent(case):
            # Valid after pydantic's lax conversions (`0` for a boolean), or a query value that is
            # valid text on the wire (a number for a tag): accepted, as on the real server.
            case.call_and_validate(additional_checks=[valid_request_answered],
                                   excluded_checks=[schemathesis.checks.negative_data_rejection])
        else:
            case.call_and_validate(additional_checks=[documented_refusals_only])
    finally:
        world.restore(world_of(case))  # the same world: nothing to reload after a read


# -- the stateful run: following the spec's links -------------------------------------------------
# The same spec and checks, positive data only (a link is followed from a success): 60 scenarios
# of up to 8 steps (about 450 calls, some 6 s) from the running world, each starting with a create
# (a board, an image upload, a workflow, a preset, a batch, a model install, a download) and going
# on along its links and those of what they lead to. At the quick depth (tests/depth.py) 30
# scenarios, which still start from every entry point and reach the follow-ups test_stateful_links
# asserts; `MOCKSERVER_TEST_DEPTH=deep` runs 60.

def stateful_schema(world: World) -> t.Any:
    """The same spec and checks, positive data only, following the spec's links."""
    data = copy.deepcopy(world.config)
    data["generation"] = {**data["generation"], "mode": "positive"}
    # The spec's links only. Schemathesis would also infer links from names (a `workflow_id` in an
    # answer feeding `validation_run_data.workflow_id` of a batch, say), and an inferred value can
    # leave the case off the schema while it still counts as positive (a `validation_run_data`
    # without its required `input_fields`: a 422 the case earned).
    data["phases"] = {"stateful": {"inference": {"algorithms": []}}}
    schema = schemathesis.openapi.from_dict(as_tested(raw_spec()), config=SchemathesisConfig.from_dict(data))
    schema.app = world.app
    return schema


STATEFUL_SETTINGS = hypothesis.settings(
    max_examples=examples(quick=30, deep=60), stateful_step_count=8, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])


# Schemathesis starts scenarios from operations it judges likely to succeed on generated data
# (POSTs, and GETs without path parameters), but its dependency analysis takes upload_image to need
# a "Session" (the optional `session_id` query) and enqueue_batch a "Batch" (the optional
# `batch_id`) that no operation produces, and then never starts a scenario with them while other
# entry points exist. They are the gallery's and the queue's entry points: they count as such here.
ENTRY_POINTS = {"POST /api/v1/images/upload", "POST /api/v1/queue/{queue_id}/enqueue_batch"}


def _state_machine(schema: t.Any) -> type:
    from schemathesis.specs.openapi import stateful

    likely = stateful.is_likely_root_transition
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stateful, "is_likely_root_transition",
                      lambda operation, *args: operation.label in ENTRY_POINTS or likely(operation, *args))
        machine = schema.as_state_machine()
    assert {"RANDOM__POST_api_v1_images_upload", "RANDOM__POST_api_v1_queue_queue_id_enqueue_batch"} \
        <= machine.root_rules, sorted(machine.root_rules)
    return machine


def state_machine(world: World) -> t.Any:
    """The state machine schemathesis builds from the links, its calls made to reach success paths
    as in test_invokeai_api, every step recorded."""

    class InvokeAIStateMachine(_state_machine(stateful_schema(world))):  # type: ignore[misc]
        steps: t.ClassVar[list[tuple[str, int]]] = []

        def setup(self) -> None:
            world.restore()

        def before_call(self, case: schemathesis.Case) -> None:
            _runnable_graph(case)
            self.with_files = _real_files(case, always=True)  # an upload that fails leads nowhere

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            self.steps.append((_operation_id(case), response.status_code))

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: t.Any = None, **kwargs: t.Any) -> None:
            if self.with_files:  # schema-valid by construction, as in test_invokeai_api
                checks, excluded = [valid_request_answered], [schemathesis.checks.negative_data_rejection]
            else:
                checks, excluded = [documented_refusals_only], None
            case.validate_response(response, additional_checks=checks, excluded_checks=excluded,
                                   transport_kwargs=kwargs or None, recorder=self.recorder)

        def teardown(self) -> None:
            world.restore()

    return InvokeAIStateMachine


def test_stateful_links() -> None:
    """No server error, no answer off the spec, no refusal the operation does not document, along
    the links (the board, image, workflow, preset, batch, install and download each one creates).

    On a world of its own: the ids a server hands out go on from whatever cases ran before in the
    same process (a state import does not rewind them), and the scenarios drawn depend on those
    ids, so on the shared world the run would depend on which items ran before it."""
    InvokeAIStateMachine = state_machine(World())
    InvokeAIStateMachine.run(settings=STATEFUL_SETTINGS)
    succeeded = {operation for operation, status in InvokeAIStateMachine.steps if status < 300}
    # Scenarios started from each entry point and went on from its success along its links.
    assert {"create_board", "upload_image", "enqueue_batch", "install_model", "download"} <= succeeded, succeeded
    for follow_ups in (("get_image_dto", "update_image", "get_image_full", "add_image_to_board", "delete_image"),
                       ("get_batch_status", "get_queue_item", "cancel_queue_item", "delete_queue_item"),
                       ("get_model_install_job", "cancel_model_install_job"),
                       ("get_download_job", "cancel_download_job"),
                       ("get_board", "update_board", "list_all_board_image_names", "delete_board")):
        assert succeeded & set(follow_ups), (follow_ups, sorted(succeeded))


# -- plain tests -------------------------------------------------------------------------------------


def test_spec_as_tested_has_all_131_operations(world: World) -> None:
    """Every operation of the spec is tested, the HEAD one included (schemathesis skips nothing)."""
    operations = [result.ok() for result in world.schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert len(operations) == len(labels) == 131
    assert "HEAD /api/v1/images/i/{image_name}/full" in labels
    assert {op.definition.raw["operationId"] for op in operations} >= set(INVOKEAI_NOT_IMPLEMENTED) | PAUSED_WORLD


def test_worlds(world: World) -> None:
    """The running world has nothing pending; the paused one has its two items waiting."""
    for name, pending, started in (("running", 0, True), ("paused", 2, False)):
        world.restore(name)
        status = ok(world.client.get(f"{QUEUE}/status"))
        assert status["queue"]["pending"] == pending and status["processor"]["is_started"] is started, status
        assert (status["queue"]["completed"], status["queue"]["failed"], status["queue"]["canceled"]) == (1, 1, 1)
    world.restore()


# A schema-valid request for each operation the community edition does not implement.
NOT_IMPLEMENTED_REQUESTS: dict[str, dict[str, t.Any]] = {
    "create_image_upload_entry": {"body": {"width": 512, "height": 512, "board_id": None}},
    "list_video_dtos": {"query": {"offset": 0, "limit": 10}},
    "get_video_dto": {"path_parameters": {"video_id": "video-1"}},
    "update_video": {"path_parameters": {"video_id": "video-1"}, "body": {"starred": True}},
    "get_video_ids": {},
    "get_videos_by_ids": {"body": {"video_ids": ["video-1"]}},
    "delete_videos_from_list": {"body": {"video_ids": ["video-1"]}},
    "star_videos_in_list": {"body": {"video_ids": ["video-1"]}},
    "unstar_videos_in_list": {"body": {"video_ids": ["video-1"]}},
    "delete_uncategorized_videos": {},
    "add_videos_to_board": {"body": {"board_id": "board-1", "video_ids": ["video-1"]}},
    "remove_videos_from_board": {"body": {"video_ids": ["video-1"]}},
}


def test_not_implemented_operations_answer_501(world: World) -> None:
    """The community edition's stubs answer 501 `{"detail": "Not implemented"}` to valid input, and
    the answer is otherwise spec-conformant (documented status, content type and body)."""
    assert set(NOT_IMPLEMENTED_REQUESTS) == set(INVOKEAI_NOT_IMPLEMENTED)
    for operation_id, request in NOT_IMPLEMENTED_REQUESTS.items():
        operation = world.schema.find_operation_by_id(operation_id)
        if "body" in request:
            request = {**request, "media_type": "application/json"}
        case = operation.Case(**request)
        try:
            response = case.call_and_validate(excluded_checks=[schemathesis.checks.not_a_server_error])
        finally:
            world.restore()
        assert response.status_code == 501, (operation_id, response.text)
        assert response.json() == {"detail": "Not implemented"}, (operation_id, response.text)


def enqueue_case(world: World, batch: dict) -> schemathesis.Case:
    return world.schema.find_operation_by_id("enqueue_batch").Case(
        path_parameters={"queue_id": "default"}, media_type="application/json", body={"batch": batch})


def test_sample_graph_runs(world: World) -> None:
    """SAMPLE_GRAPH completes: the enqueues that carry it reach the success path, item and all."""
    world.restore()
    try:
        response = enqueue_case(world, {"graph": SAMPLE_GRAPH, "destination": "gallery"}).call_and_validate()
        assert response.status_code == 200, response.text
        [item_id] = response.json()["item_ids"]
        item = ok(world.client.get(f"{QUEUE}/i/{item_id}"))
        assert item["status"] == "completed", item
    finally:
        world.restore()


# -- rules found with this file (each was a mock bug until fixed) ------------------------------------


def test_huge_runs_are_capped_by_the_queue(world: World) -> None:
    """`runs` has no maximum. The real server counts the sessions a batch asks for and enqueues as
    many as the queue has room for (`max_queue_size` 10000), answering 200 with `requested` and
    the smaller `enqueued`; the mock used to expand the runs before capping them (a 500
    MemoryError for 10**12). From the paused world, so nothing runs."""
    world.restore("paused")
    try:
        response = enqueue_case(world, {"graph": GRAPH, "runs": 10**12}).call_and_validate()
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["requested"], answer["enqueued"]) == (10**12, 10000 - len(world.baseline["pending_items"]))
    finally:
        world.restore()


def test_a_node_error_fails_its_item(world: World) -> None:
    """The real processor turns any exception a node raises into a failed item (error_type the
    exception's name) and goes on. The mock once let anything but KeyError, TypeError and
    ValueError escape (a `blank_image` 10**20 pixels wide), which answered 500 and wedged the
    queue; it also refuses images too large to hold in memory instead of trying."""
    world.restore()
    try:
        wide = {"id": "wide", "nodes": {"b": {"id": "b", "type": "blank_image", "width": 10**20, "height": 8}},
                "edges": []}
        response = enqueue_case(world, {"graph": wide}).call_and_validate()
        assert response.status_code == 200, response.text
        [item_id] = response.json()["item_ids"]
        item = ok(world.client.get(f"{QUEUE}/i/{item_id}"))
        assert (item["status"], item["error_type"]) == ("failed", "OverflowError"), item
        assert world.client.get(f"{QUEUE}/status").status_code == 200
    finally:
        world.restore(force=True)  # the wedged item may not have moved the state's version


@pytest.mark.parametrize(("batch", "loc", "message"), [
    pytest.param({"graph": {"id": "g", "nodes": {"a": {"id": "b", "type": "integer"}}, "edges": []}},
                 ["body", "batch", "graph"], "Node ids must match, got a and b", id="node-id-is-not-its-key"),
    pytest.param({"graph": GRAPH, "data": [[{"node_path": "n", "field_name": "value", "items": [1, "a"]}]]},
                 ["body", "batch", "data"], "All items in a batch must have the same type", id="mixed-item-types"),
    pytest.param({"graph": GRAPH, "data": [[{"node_path": "n", "field_name": "value", "items": [1]}],
                                           [{"node_path": "n", "field_name": "value", "items": [2]}]]},
                 ["body", "batch", "data"], "Each batch data must have unique node_id and field_name",
                 id="same-field-twice"),
    pytest.param({"graph": {"id": "g",
                            "nodes": {"i": {"id": "i", "type": "integer"}, "b": {"id": "b", "type": "blank_image"}},
                            "edges": [{"source": {"node_id": "i", "field": "value"},
                                       "destination": {"node_id": "b", "field": "color"}}]}},
                 ["body", "batch", "graph"], "Edge source and target types do not match (i.value -> b.color)",
                 id="edge-types-do-not-match"),
])
def test_batch_validators(batch: dict, loc: list, message: str, world: World) -> None:
    """Rules of upstream's Batch and Graph validators (the mock once enqueued these with a 200):
    a node stored under a key other than its id (`Graph.validate_self`: NodeIdMismatchError),
    batch items of different types (`Batch.validate_types`), one node field named by two batch
    data (`Batch.validate_unique_field_mappings`), an edge between fields of different types
    (`Graph.validate_self`: InvalidEdgeError; the mock runs it, and the integer reaching
    `blank_image.color` makes the AttributeError of test_a_node_error_fails_its_item). Each is a 422
    `value_error` on the real server."""
    world.restore("paused")  # nothing runs if it is enqueued after all
    try:
        response = enqueue_case(world, batch).call_and_validate(excluded_checks=[schemathesis.checks.negative_data_rejection])
        assert response.status_code == 422, response.text[:300]
        [issue] = response.json()["detail"]
        assert (issue["type"], issue["loc"]) == ("value_error", loc), issue
        assert issue["msg"] == f"Value error, {message}", issue
    finally:
        world.restore()

