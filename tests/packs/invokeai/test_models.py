"""The model manager (`/api/v2/models`): records, scan_folder, installs over time (local paths,
HuggingFace repos, URLs, starter models), their errors and events, model images, conversion,
starter models, the HuggingFace login, the cache stats.

Facts: behaviour.md "Models and downloads", transcript seq 140-148, 152, 194-195 (empty lists, the
73 starter models and 3 bundles, stats, `invalid` login, the 404 texts, the scan_folder 400), the
6.8 OpenAPI document (AnyModelConfig members, ModelInstallJob), and upstream's installer for what
the recordings do not show: an install goes waiting → downloading → downloads_done → running →
completed, job ids count from 0, a failure ends the job with `error_reason` / `error` /
`error_traceback`, and each step emits its `model_install_*` event. What the mock can install comes
from fixtures/invokeai/model_files.yaml (a virtual disk) and hugging_face.yaml (a virtual web).

The clock is frozen: at the default `realtime` speed a job moves only when a test advances it.
"""

from __future__ import annotations

import json
import re
import typing as t

import pytest
from invokeai_support import CONTROL, advance, decoded, ok, png_bytes, recorded, scan

MODELS = "/api/v2/models"
CHECKPOINT = "/invokeai/import/checkpoints/dreamshaper_8.safetensors"
SDXL_CHECKPOINT = "/invokeai/import/checkpoints/juggernautXL_v9Rdphoto2Lightning.safetensors"
LORA = "/invokeai/import/loras/pixel-art-xl.safetensors"
VAE = "/invokeai/import/vae/vae-ft-mse-840000-ema-pruned.safetensors"
DIFFUSERS = "/invokeai/import/diffusers/stable-diffusion-2-1"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HASH = re.compile(r"^blake3:[0-9a-f]{64}$")


# -- helpers --------------------------------------------------------------------------------------


def set_model_speed(client: t.Any, speed: str) -> None:
    client.get(f"{MODELS}/").raise_for_status()  # the store has its model manager from here on
    settings = ok(client.put(f"{CONTROL}/settings", json={"model_speed": speed}))
    assert settings["model_speed"] == speed


def install(client: t.Any, source: str, config: dict | None = None, **params: t.Any) -> dict:
    return ok(client.post(f"{MODELS}/install", params={"source": source, **params}, json=config or {}), 201)


def job(client: t.Any, job_id: int) -> dict:
    return ok(client.get(f"{MODELS}/install/{job_id}"))


def finish(client: t.Any, job_id: int, seconds: float = 10.0) -> dict:
    advance(client, seconds)
    return job(client, job_id)


def installed(client: t.Any, source: str, config: dict | None = None, **params: t.Any) -> dict:
    """Install and let the job run to its end; returns the new model's record."""
    started = install(client, source, config, **params)
    done = finish(client, started["id"])
    assert done["status"] == "completed", done
    return done["config_out"]


def models(client: t.Any, **params: t.Any) -> list[dict]:
    return ok(client.get(f"{MODELS}/", params=params))["models"]




# -- what the real server answered with nothing installed -------------------------------------------

@pytest.mark.parametrize("seq", [140, 141, 142, 144, 145, 146, 147, 148, 152, 194, 195])
def test_recorded_answers(client: t.Any, seq: int) -> None:
    """The recorded calls answer as the real server did, status and body."""
    request = recorded(seq)["request"]
    response = client.request(request["method"], request["path"], params=request.get("query"))
    assert response.status_code == recorded(seq)["response"]["status"]
    assert response.json() == recorded(seq)["response"]["json"]


def test_starter_models_are_the_recorded_catalogue(client: t.Any) -> None:
    answer = ok(client.get(f"{MODELS}/starter_models"))
    assert answer == recorded(143)["response"]["json"]
    assert len(answer["starter_models"]) == 73
    assert list(answer["starter_bundles"]) == ["sd-1", "sdxl", "flux"]


# -- local installs over time -------------------------------------------------------------------------

def test_local_install_lifecycle_on_the_clock(client: t.Any, events: list) -> None:
    started = install(client, CHECKPOINT)
    assert started["id"] == 0
    assert started["status"] == "waiting"
    assert started["source"] == {"path": CHECKPOINT, "inplace": False, "type": "local"}
    assert started["local_path"] == CHECKPOINT
    assert started["config_out"] is None and started["download_parts"] == []
    assert models(client) == []

    advance(client, 0.1)
    assert job(client, 0)["status"] == "waiting"
    advance(client, 0.2)
    running = job(client, 0)
    assert running["status"] == "running"
    assert running["total_bytes"] == running["bytes"] == 2132625894
    assert running["config_in"]["source"] == CHECKPOINT and running["config_in"]["source_type"] == "path"
    assert models(client) == []

    advance(client, 0.5)
    done = job(client, 0)
    assert done["status"] == "completed"
    config = done["config_out"]
    assert UUID.match(config["key"]) and HASH.match(config["hash"])
    assert {k: config[k] for k in ("name", "base", "type", "format", "path", "file_size", "source", "source_type",
                                   "variant", "prediction_type", "config_path", "description")} == {
        "name": "dreamshaper_8", "base": "sd-1", "type": "main", "format": "checkpoint",
        "path": "sd-1/main/dreamshaper_8.safetensors", "file_size": 2132625894, "source": CHECKPOINT,
        "source_type": "path", "variant": "normal", "prediction_type": "epsilon",
        "config_path": "stable-diffusion/v1-inference.yaml", "description": "sd-1 main model dreamshaper_8"}
    assert config["default_settings"]["width"] == config["default_settings"]["height"] == 512
    # The record store stamps checkpoints with the row's update time.
    assert isinstance(config["converted_at"], float)

    listed = models(client)
    assert [m["key"] for m in listed] == [config["key"]]
    assert ok(client.get(f"{MODELS}/i/{config['key']}"))["name"] == "dreamshaper_8"
    assert [name for name, _ in events] == ["model_install_started", "model_install_complete"]
    complete = events[1][1]
    assert complete["id"] == 0 and complete["key"] == config["key"] and complete["total_bytes"] == 2132625894
    assert complete["source"] == {"path": CHECKPOINT, "inplace": False, "type": "local"}
    assert isinstance(complete["timestamp"], int)


def test_instant_speed_completes_at_the_next_request(client: t.Any) -> None:
    set_model_speed(client, "instant")
    started = install(client, LORA)
    assert started["status"] == "waiting"  # the answer to the install call itself
    done = job(client, started["id"])  # no clock movement needed
    assert done["status"] == "completed"
    assert done["config_out"]["type"] == "lora" and done["config_out"]["format"] == "lycoris"
    assert done["config_out"]["trigger_phrases"] == ["pixel art"]


def test_install_in_place_keeps_the_files_where_they_are(client: t.Any) -> None:
    config = installed(client, VAE, inplace="true")
    assert config["path"] == VAE
    assert config["type"] == "vae" and config["format"] == "checkpoint"
    assert scan(client, "/invokeai/models") == {}
    assert scan(client, "/invokeai/import/vae") == {VAE: True}
    ok(client.delete(f"{MODELS}/i/{config['key']}"), 204)
    assert scan(client, "/invokeai/import/vae") == {VAE: False}  # deleting the record leaves the file


def test_config_overrides_what_the_probe_finds(client: t.Any) -> None:
    config = installed(client, CHECKPOINT, {"name": "Dream", "description": "mine", "variant": "inpaint"})
    assert config["name"] == "Dream" and config["description"] == "mine" and config["variant"] == "inpaint"
    assert config["path"] == "sd-1/main/Dream.safetensors"


def test_diffusers_folder_install_and_scan(client: t.Any) -> None:
    before = scan(client, "/invokeai/import")
    assert before == {
        "/invokeai/import/broken/interrupted-download.safetensors": False,
        CHECKPOINT: False,
        SDXL_CHECKPOINT: False,
        "/invokeai/import/checkpoints/sd-v1-5-inpainting.ckpt": False,
        "/invokeai/import/diffusers/sdxl-vae-fp16-fix": False,
        DIFFUSERS: False,
        "/invokeai/import/embeddings/easynegative.safetensors": False,
        LORA: False,
        VAE: False,
    }
    config = installed(client, DIFFUSERS)
    assert config["format"] == "diffusers" and config["base"] == "sd-2" and config["name"] == "stable-diffusion-2-1"
    assert config["repo_variant"] == "" and config["variant"] == "normal"
    assert config["file_size"] == 5161555013  # the folder's files, all together
    assert scan(client, "/invokeai/import")[DIFFUSERS] is True
    # The copy under the models directory is a model folder too, and installed.
    assert scan(client, "/invokeai/models") == {"/invokeai/models/sd-2/main/stable-diffusion-2-1": True}


def test_scan_folder_errors(client: t.Any) -> None:
    for path in ("/srv/invokeai/no-such-dir", CHECKPOINT, "relative/path"):
        response = client.get(f"{MODELS}/scan_folder", params={"scan_path": path})
        assert response.status_code == 400
        assert response.json() == {"detail": f"The search path '{path}' does not exist or is not directory"}
    response = client.get(f"{MODELS}/scan_folder")
    assert response.status_code == 400
    assert response.json() == {"detail": "The search path 'None' does not exist or is not directory"}


def test_install_errors(client: t.Any, events: list) -> None:
    # Not a path that exists, not a repo id, not a URL: refused at once.
    response = client.post(f"{MODELS}/install", params={"source": "/invokeai/import/nope.safetensors"}, json={})
    assert response.status_code == 409
    assert response.json() == {"detail": "Unsupported model source: '/invokeai/import/nope.safetensors'"}
    assert ok(client.get(f"{MODELS}/install")) == []

    # A weights file the probe cannot identify: the job fails while running.
    broken = "/invokeai/import/broken/interrupted-download.safetensors"
    failed = finish(client, install(client, broken)["id"])
    assert failed["status"] == "error"
    assert failed["error_reason"] == "InvalidModelConfigException"
    assert failed["error"] == f"Unable to determine model type for {broken}"
    assert "InvalidModelConfigException" in failed["error_traceback"]
    assert failed["config_out"] is None
    assert ("model_install_error", {"timestamp": events[-1][1]["timestamp"], "id": failed["id"],
                                    "source": failed["source"], "error_type": "InvalidModelConfigException",
                                    "error": failed["error"]}) == events[-1]

    # The same model twice: the second job ends in a duplicate error; one record.
    installed(client, CHECKPOINT)
    again = finish(client, install(client, CHECKPOINT)["id"])
    assert again["status"] == "error" and again["error_reason"] == "DuplicateModelException"
    assert again["error"] == "A model with path 'sd-1/main/dreamshaper_8.safetensors' is already installed"
    assert len(models(client)) == 1

    # Overrides the model's config class cannot take: the job fails, the server carries on.
    lora = finish(client, install(client, LORA, {"default_settings": {"steps": 30}})["id"])
    assert lora["status"] == "error" and lora["error_reason"] == "ValidationError"
    assert "default_settings.steps" in lora["error"]
    assert ok(client.get(f"{MODELS}/hf_login")) == "invalid"

    # A repo id HuggingFace does not know: the job is in error from the start.
    unknown = install(client, "nobody/no-such-model")
    assert unknown["status"] == "error"
    assert unknown["error_reason"] == "UnknownMetadataException"
    assert unknown["error"] == "'nobody/no-such-model' not found. See trace for details."
    assert unknown["source"] == {"repo_id": "nobody/no-such-model", "variant": None, "subfolder": None,
                                 "access_token": None, "type": "hf"}


def test_one_active_job_per_source(client: t.Any) -> None:
    first = install(client, CHECKPOINT)
    second = install(client, CHECKPOINT)
    assert second["id"] == first["id"]
    assert len(ok(client.get(f"{MODELS}/install"))) == 1


def test_cancel_and_prune_install_jobs(client: t.Any, events: list) -> None:
    waiting = install(client, CHECKPOINT)
    response = client.delete(f"{MODELS}/install/{waiting['id']}")
    assert response.status_code == 201 and response.json() is None
    assert job(client, waiting["id"])["status"] == "cancelled"
    assert events[-1][0] == "model_install_cancelled"
    advance(client, 5)
    assert job(client, waiting["id"])["status"] == "cancelled"  # it never runs
    assert models(client) == []

    response = client.delete(f"{MODELS}/install/12345")
    assert response.status_code == 415
    assert response.json() == {"detail": "No job with id 12345 known"}

    # Upstream marks any job cancelled, a finished one too; its model stays installed.
    finished = finish(client, install(client, VAE)["id"])
    assert client.delete(f"{MODELS}/install/{finished['id']}").status_code == 201
    assert job(client, finished["id"])["status"] == "cancelled"
    assert [m["type"] for m in models(client)] == ["vae"]

    running = install(client, LORA)
    ok(client.delete(f"{MODELS}/install"), 204)  # prunes the cancelled jobs only
    assert [j["id"] for j in ok(client.get(f"{MODELS}/install"))] == [running["id"]]
    finish(client, running["id"])
    ok(client.delete(f"{MODELS}/install"), 204)
    assert ok(client.get(f"{MODELS}/install")) == []
    assert client.get(f"{MODELS}/install/{running['id']}").status_code == 404


# -- remote installs --------------------------------------------------------------------------------

def test_hugging_face_repo_install_downloads_on_the_clock(client: t.Any, events: list) -> None:
    repo = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    started = install(client, repo)
    assert started["status"] == "waiting"
    assert started["source"] == {"repo_id": repo, "variant": None, "subfolder": None, "access_token": None,
                                 "type": "hf"}
    assert re.match(r"^/invokeai/models/tmpinstall_[a-z0-9_]{8}$", started["local_path"])
    metadata = started["source_metadata"]
    assert metadata["type"] == "huggingface" and metadata["id"] == repo and metadata["is_diffusers"] is True
    parts = started["download_parts"]
    # The diffusers folders and model_index.json; not the single-file checkpoint beside them.
    assert len(parts) == 13 and all(p["status"] == "waiting" for p in parts)
    assert not any(p["source"].endswith("v1-5-pruned-emaonly.safetensors") for p in parts)
    total = sum(f["size"] for f in metadata["files"] if "/" in f["path"].split("/", 1)[1]
                or f["path"].endswith("model_index.json"))
    assert started["total_bytes"] == total

    advance(client, 0.2 + 1.5)  # halfway through the download
    halfway = job(client, started["id"])
    assert halfway["status"] == "downloading"
    assert halfway["local_path"] == started["local_path"] + "/stable-diffusion-v1-5"
    assert 0.45 * total <= halfway["bytes"] <= 0.55 * total
    assert all(p["status"] == "running" for p in halfway["download_parts"])
    assert models(client) == []

    advance(client, 1.6)
    done_downloading = job(client, started["id"])
    assert done_downloading["status"] == "downloads_done"
    assert done_downloading["bytes"] == total
    assert all(p["status"] == "completed" for p in done_downloading["download_parts"])
    advance(client, 0.3)
    assert job(client, started["id"])["status"] == "running"
    advance(client, 0.5)
    done = job(client, started["id"])
    assert done["status"] == "completed"
    config = done["config_out"]
    assert config["source"] == repo and config["source_type"] == "hf_repo_id"
    assert config["format"] == "diffusers" and config["repo_variant"] == "fp16"
    assert config["path"] == "sd-1/main/stable-diffusion-v1-5"
    assert json.loads(config["source_api_response"])["id"] == repo

    names = [name for name, _ in events if name.startswith("model_install")]
    assert names[0] == "model_install_download_started"
    assert names[-3:] == ["model_install_downloads_complete", "model_install_started", "model_install_complete"]
    progress = [payload for name, payload in events if name == "model_install_download_progress"]
    assert len(progress) == 10
    assert [p["bytes"] for p in progress] == sorted(p["bytes"] for p in progress)
    assert progress[-1]["bytes"] == progress[-1]["total_bytes"] == total
    assert len(progress[0]["parts"]) == 13
    assert set(progress[0]["parts"][0]) == {"url", "local_path", "bytes", "total_bytes"}


def test_subfolder_and_url_installs(client: t.Any) -> None:
    vae = installed(client, "stable-diffusion-v1-5/stable-diffusion-v1-5::vae")
    assert vae["type"] == "vae" and vae["format"] == "diffusers"
    assert vae["name"] == "stable-diffusion-v1-5_vae"
    assert vae["source"] == "stable-diffusion-v1-5/stable-diffusion-v1-5::vae"

    url = "https://civitai.com/api/download/models/128713"
    started = install(client, url)
    assert started["source"] == {"url": url, "access_token": None, "type": "url"}
    done = finish(client, started["id"])
    assert done["status"] == "completed"
    assert done["config_out"]["name"] == "dreamshaper_8" and done["config_out"]["source_type"] == "url"
    assert done["download_parts"][0]["download_path"].endswith("/dreamshaper_8.safetensors")

    missing = finish(client, install(client, "https://example.com/missing.safetensors")["id"])
    assert missing["status"] == "error"
    assert (missing["error_reason"], missing["error"]) == ("HTTPError", "Not Found")
    assert missing["download_parts"][0]["status"] == "error"
    assert missing["download_parts"][0]["error_type"] == "HTTPError(Not Found)"


def test_gated_repo_needs_a_hugging_face_token(client: t.Any) -> None:
    repo = "stabilityai/stable-diffusion-3-medium-diffusers"
    refused = finish(client, install(client, repo)["id"])
    assert refused["status"] == "error" and refused["error"] == "Unauthorized"

    assert ok(client.post(f"{MODELS}/hf_login", json={"token": "hf_" + "a" * 34})) == "valid"
    done = finish(client, install(client, repo)["id"])
    assert done["status"] == "completed"
    assert done["config_out"]["base"] == "sd-3"
    assert done["source"]["access_token"] == "hf_" + "a" * 34  # upstream adds the stored token


def test_starter_model_install_marks_it_installed(client: t.Any) -> None:
    set_model_speed(client, "instant")
    catalogue = ok(client.get(f"{MODELS}/starter_models"))
    flux = next(m for m in catalogue["starter_models"] if m["name"] == "FLUX.1 schnell (quantized)")
    assert len(flux["dependencies"]) == 3

    vae_source = "black-forest-labs/FLUX.1-schnell::ae.safetensors"
    install(client, vae_source)
    vae = models(client, model_type="vae")[0]
    assert vae["name"] == "FLUX.1-schnell_ae"  # upstream's subfolder naming, which the catalogue matches
    assert (vae["base"], vae["format"], vae["source"]) == ("flux", "checkpoint", vae_source)

    install(client, "InvokeAI/flux_schnell::transformer/bnb_nf4/flux1-schnell-bnb_nf4.safetensors")
    main = models(client, model_type="main")[0]
    assert main["format"] == "bnb_quantized_nf4b" and main["base"] == "flux"

    catalogue = ok(client.get(f"{MODELS}/starter_models"))
    flux = next(m for m in catalogue["starter_models"] if m["name"] == "FLUX.1 schnell (quantized)")
    assert flux["is_installed"] is True
    assert [d["name"] for d in flux["dependencies"]] == ["t5_bnb_int8_quantized_encoder", "clip-vit-large-patch14"]
    bundle = {m["source"]: m["is_installed"] for m in catalogue["starter_bundles"]["flux"]["models"]}
    assert bundle[vae_source] is True


# -- records ------------------------------------------------------------------------------------------

def test_list_filters_and_order(client: t.Any) -> None:
    set_model_speed(client, "instant")
    for source in (SDXL_CHECKPOINT, LORA, CHECKPOINT, VAE, DIFFUSERS):
        install(client, source)
    everything = models(client)
    # the record store's order: type, base, name, format
    assert [(m["type"], m["base"], m["name"]) for m in everything] == [
        ("lora", "sdxl", "pixel-art-xl"),
        ("main", "sd-1", "dreamshaper_8"),
        ("main", "sd-2", "stable-diffusion-2-1"),
        ("main", "sdxl", "juggernautXL_v9Rdphoto2Lightning"),
        ("vae", "sd-1", "vae-ft-mse-840000-ema-pruned")]
    by_bases = models(client, base_models=["sdxl", "sd-1"], model_type="main")
    assert [m["name"] for m in by_bases] == ["juggernautXL_v9Rdphoto2Lightning", "dreamshaper_8"]
    assert [m["name"] for m in models(client, model_format="diffusers")] == ["stable-diffusion-2-1"]
    assert [m["name"] for m in models(client, model_name="pixel-art-xl")] == ["pixel-art-xl"]
    assert models(client, model_name="Pixel-Art-XL") == []

    found = ok(client.get(f"{MODELS}/get_by_attrs", params={"name": "dreamshaper_8", "type": "main", "base": "sd-1"}))
    assert found["source"] == CHECKPOINT
    missing = client.get(f"{MODELS}/get_by_attrs", params={"name": "dreamshaper_8", "type": "main", "base": "sdxl"})
    assert missing.status_code == 404 and missing.json() == {"detail": "No model found with these attributes"}


def test_update_record(client: t.Any) -> None:
    config = installed(client, CHECKPOINT)
    key = config["key"]
    updated = ok(client.patch(f"{MODELS}/i/{key}", json={
        "name": "Dreamy", "description": "soft", "trigger_phrases": ["dreamy", "soft focus"],
        "default_settings": {"steps": 30, "cfg_scale": 6.5}}))
    assert updated["name"] == "Dreamy" and updated["description"] == "soft"
    assert updated["trigger_phrases"] == ["dreamy", "soft focus"]
    # the settings object is replaced as a whole
    assert updated["default_settings"] == {"vae": None, "vae_precision": None, "scheduler": None, "steps": 30,
                                           "cfg_scale": 6.5, "cfg_rescale_multiplier": None, "width": None,
                                           "height": None, "guidance": None}
    assert updated["path"] == config["path"]  # a new name does not rename the file
    assert ok(client.get(f"{MODELS}/i/{key}")) == updated

    moved = ok(client.patch(f"{MODELS}/i/{key}", json={"base": "sd-2"}))
    assert moved["base"] == "sd-2" and moved["path"] == "sd-2/main/dreamshaper_8.safetensors"
    assert scan(client, "/invokeai/models") == {"/invokeai/models/sd-2/main/dreamshaper_8.safetensors": True}

    for change, message in (({"type": "lora"}, "Input should be 'main'"),
                            ({"name": None}, "Input should be a valid string"),
                            # null for the fields a config holds no null in (found by the deep contract run)
                            ({"file_size": None}, "Input should be a valid integer [type=int_type"),
                            ({"upcast_attention": None}, "Input should be a valid boolean [type=bool_type"),
                            ({"prediction_type": None},
                             "Input should be 'epsilon', 'v_prediction' or 'sample' [type=enum"),
                            ({"image_encoder_model_id": "x", "upcast_attention": True}, None)):
        response = client.patch(f"{MODELS}/i/{key}", json=change)
        if message is None:
            assert response.status_code == 200  # unknown fields are not ModelRecordChanges: ignored
            continue
        assert response.status_code == 409, response.text
        assert message in response.json()["detail"]

    lora = installed(client, LORA)
    response = client.patch(f"{MODELS}/i/{lora['key']}", json={"prediction_type": "v_prediction"})
    assert response.status_code == 409
    assert response.json() == {"detail": '"LoRALyCORISConfig" object has no field "prediction_type"'}

    missing = client.patch(f"{MODELS}/i/no-such-key", json={"name": "x"})
    assert missing.status_code == 404 and missing.json() == {"detail": "model not found"}


def test_delete_record(client: t.Any) -> None:
    config = installed(client, DIFFUSERS)
    response = client.delete(f"{MODELS}/i/{config['key']}")
    assert response.status_code == 204 and response.content == b""
    assert models(client) == []
    assert scan(client, "/invokeai/models") == {}  # its copy in the models directory is gone
    assert scan(client, "/invokeai/import")[DIFFUSERS] is False  # the original stays
    again = client.delete(f"{MODELS}/i/{config['key']}")
    assert again.status_code == 404 and again.json() == {"detail": "model not found"}


def test_convert_checkpoint_to_diffusers(client: t.Any) -> None:
    config = installed(client, CHECKPOINT, {"description": "mine"})
    picture = png_bytes(300, 200)
    ok(client.patch(f"{MODELS}/i/{config['key']}/image", files={"image": ("cover.png", picture, "image/png")}))
    converted = ok(client.put(f"{MODELS}/convert/{config['key']}"))
    assert converted["key"] != config["key"]
    assert converted["format"] == "diffusers" and converted["type"] == "main" and converted["base"] == "sd-1"
    assert (converted["name"], converted["description"], converted["hash"], converted["source"]) == (
        "dreamshaper_8", "mine", config["hash"], CHECKPOINT)
    assert converted["path"] == "sd-1/main/dreamshaper_8"
    assert converted["cover_image"] == f"api/v2/models/i/{converted['key']}/image"  # the image moved along
    assert [m["key"] for m in models(client)] == [converted["key"]]
    assert client.get(f"{MODELS}/i/{config['key']}").status_code == 404
    assert scan(client, "/invokeai/models") == {"/invokeai/models/sd-1/main/dreamshaper_8": True}

    not_checkpoint = client.put(f"{MODELS}/convert/{converted['key']}")
    assert not_checkpoint.status_code == 400
    assert not_checkpoint.json() == {
        "detail": f"The model with key {converted['key']} is not a main checkpoint model."}
    unknown = client.put(f"{MODELS}/convert/no-such-key")
    assert unknown.status_code == 424 and unknown.json() == {"detail": "model not found"}


# -- model images -------------------------------------------------------------------------------------

def test_model_image(client: t.Any) -> None:
    key = installed(client, LORA)["key"]
    assert client.get(f"{MODELS}/i/{key}/image").status_code == 404
    assert ok(client.get(f"{MODELS}/i/{key}"))["cover_image"] is None

    response = client.patch(f"{MODELS}/i/{key}/image", files={"image": ("cover.png", png_bytes(640, 320), "image/png")})
    assert response.status_code == 200 and response.json() is None
    image = client.get(f"{MODELS}/i/{key}/image")
    assert image.status_code == 200
    assert image.headers["cache-control"] == "max-age=31536000"
    assert image.headers["content-type"] == "image/png"  # the real router's label, whatever is stored
    assert image.headers["content-disposition"] == f'inline; filename="{key}.png"'
    picture = decoded(image.content)
    assert picture.format == "WEBP" and picture.size == (256, 128)
    assert ok(client.get(f"{MODELS}/i/{key}"))["cover_image"] == f"api/v2/models/i/{key}/image"
    assert models(client)[0]["cover_image"] == f"api/v2/models/i/{key}/image"

    not_image = client.patch(f"{MODELS}/i/{key}/image", files={"image": ("a.txt", b"hello", "text/plain")})
    assert not_image.status_code == 415 and not_image.json() == {"detail": "Not an image"}
    garbage = client.patch(f"{MODELS}/i/{key}/image", files={"image": ("a.png", b"not a png", "image/png")})
    assert garbage.status_code == 415 and garbage.json() == {"detail": "Failed to read image"}
    unknown = client.patch(f"{MODELS}/i/no-such-key/image", files={"image": ("a.png", png_bytes(), "image/png")})
    assert unknown.status_code == 404

    assert client.delete(f"{MODELS}/i/{key}/image").status_code == 204
    assert client.get(f"{MODELS}/i/{key}/image").status_code == 404
    gone = client.delete(f"{MODELS}/i/{key}/image")
    assert gone.status_code == 404 and gone.json() == {"detail": "Not Found"}


# -- HuggingFace, login, cache -------------------------------------------------------------------------

def test_hugging_face_listing(client: t.Any) -> None:
    assert ok(client.get(f"{MODELS}/hugging_face", params={"hugging_face_repo": "stabilityai/sdxl-vae"})) == {
        "urls": None, "is_diffusers": True}
    resolve = "https://huggingface.co/Lykon/DreamShaper/resolve/main/"
    assert ok(client.get(f"{MODELS}/hugging_face", params={"hugging_face_repo": "Lykon/DreamShaper"})) == {
        "urls": [resolve + "DreamShaper_8_pruned.safetensors",
                 resolve + "DreamShaper_8_INPAINTING.inpainting.safetensors"],
        "is_diffusers": False}
    missing = client.get(f"{MODELS}/hugging_face", params={"hugging_face_repo": "nobody/nothing"})
    assert missing.status_code == 400 and missing.json() == {"detail": "No HuggingFace repository found"}


def test_hugging_face_install_page(client: t.Any) -> None:
    single = client.get(f"{MODELS}/install/huggingface", params={"source": "nerijs/pixel-art-xl"})
    assert single.status_code == 201
    assert single.headers["content-type"].startswith("text/html")
    assert "Model Install Started" in single.text and "Repo ID: nerijs/pixel-art-xl" in single.text
    jobs = ok(client.get(f"{MODELS}/install"))
    # a repo with one checkpoint installs that file's URL
    url = "https://huggingface.co/nerijs/pixel-art-xl/resolve/main/pixel-art-xl.safetensors"
    assert jobs[0]["source"]["url"] == url

    several = client.get(f"{MODELS}/install/huggingface", params={"source": "Lykon/DreamShaper"})
    assert several.status_code == 200 and "This HuggingFace repo has multiple models." in several.text
    unknown = client.get(f"{MODELS}/install/huggingface", params={"source": "nobody/nothing"})
    assert unknown.status_code == 400 and "No HuggingFace repository found with that repo ID." in unknown.text
    assert len(ok(client.get(f"{MODELS}/install"))) == 1


def test_hugging_face_login(client: t.Any) -> None:
    assert ok(client.get(f"{MODELS}/hf_login")) == "invalid"
    assert ok(client.post(f"{MODELS}/hf_login", json={"token": "not-a-token"})) == "invalid"
    token = "hf_" + "Ab1" * 12
    assert ok(client.post(f"{MODELS}/hf_login", json={"token": token})) == "valid"
    assert ok(client.get(f"{MODELS}/hf_login")) == "valid"
    # a refused token leaves the good one in place
    assert ok(client.post(f"{MODELS}/hf_login", json={"token": "hf_short"})) == "valid"
    assert ok(client.delete(f"{MODELS}/hf_login")) == "invalid"
    assert ok(client.get(f"{MODELS}/hf_login")) == "invalid"
    assert client.post(f"{MODELS}/hf_login", json={}).status_code == 422


def test_cache_stats_and_empty_cache(client: t.Any) -> None:
    assert ok(client.get(f"{MODELS}/stats")) == recorded(144)["response"]["json"]
    assert ok(client.post(f"{MODELS}/empty_model_cache")) is None


# -- state ---------------------------------------------------------------------------------------------

def test_state_export_and_import_keep_models(client: t.Any, server: t.Any) -> None:
    config = installed(client, LORA)
    ok(client.patch(f"{MODELS}/i/{config['key']}/image", files={"image": ("c.png", png_bytes(), "image/png")}))
    waiting = install(client, CHECKPOINT)
    state = ok(client.get(f"{CONTROL}/state"))
    ok(client.post(f"{CONTROL}/reset"))
    assert models(client) == []
    ok(client.put(f"{CONTROL}/state", json=state))
    assert [m["key"] for m in models(client)] == [config["key"]]
    assert client.get(f"{MODELS}/i/{config['key']}/image").status_code == 200
    assert finish(client, waiting["id"])["status"] == "completed"  # the waiting job carries on
