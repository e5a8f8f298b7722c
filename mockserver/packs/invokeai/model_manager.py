"""InvokeAI's model manager, download queue and model relationships, offline and deterministic.

Installed models are config records in the shape of InvokeAI 6.8's `AnyModelConfig` members. Install
and download jobs move on the engine clock: `advance(now)` replays every transition due by `now`,
in order, and emits the socket.io events InvokeAI emits for them. Nothing runs in the background:
a job only moves when somebody calls `advance`, and then it moves exactly as far as the clock says,
so a frozen clock freezes every job and a replayed session gets the same ids, times and events.

What the mock "downloads" and "probes" comes from fixtures (never the network or the disk):
- `model_files.yaml`: a small virtual file system (scan_folder, local installs, download targets);
- `hugging_face.yaml`: HuggingFace repos and other URLs;
- `starter_models.yaml`: the real starter catalogue, whose sources are installable as well.

Status progressions follow upstream's installer (facts from invoke-ai/InvokeAI
`services/model_install`, `services/download`): a remote install goes waiting → downloading (its
download parts run in the shared download queue) → downloads_done → running → completed (or error);
a local one goes waiting → running → completed. Job ids count from 0 in both queues, as upstream's.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import posixpath
import random
import re
import string
import threading
import typing as t
import uuid
from datetime import datetime, timezone
from pathlib import Path

import yaml

Emit = t.Callable[[str, dict], None]

# -- timing on the engine clock (seconds) --------------------------------------------------------
# "realtime": a job waits a moment, downloads over DOWNLOAD_SECONDS (bytes in proportion to the
# elapsed time, a progress event every tenth), then probes and registers. "instant": every step is
# due the moment the job is made, so it completes at the next `advance`.
WAIT_SECONDS = 0.2
DOWNLOAD_SECONDS = 3.0
SETTLE_SECONDS = 0.3
REGISTER_SECONDS = 0.5
PROGRESS_STEPS = 10
DOWNLOAD_CHUNK = 100_000  # upstream's DOWNLOAD_CHUNK_SIZE

JOB_DONE = ("completed", "error", "cancelled")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".gguf")
CKPT_URL_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt")  # what HF metadata lists
MODEL_FOLDER_MARKERS = ("config.json", "model_index.json", "learned_embeds.bin", "pytorch_lora_weights.bin",
                        "image_encoder.txt")
HF_URL = "https://huggingface.co/{repo}/resolve/main/{path}"
HF_RESOLVE_RE = re.compile(r"^https?://huggingface\.co/([^/]+/[^/]+)/resolve/[^/]+/(.+)$", re.IGNORECASE)
HF_PAGE_RE = re.compile(r"^https?://huggingface\.co/([^/]+/[^/]+)/?$", re.IGNORECASE)
# upstream's `_guess_source`: `owner/repo[:variant][:[/]subfolder]`
REPO_VARIANTS = ("", "fp16", "fp32", "onnx", "openvino", "flax")
HF_SOURCE_RE = re.compile(r"^([^/:]+/[^/:]+)(?::(" + "|".join(REPO_VARIANTS) + r")?(?::/?([^:]+))?)?$")
HF_TOKEN_RE = re.compile(r"^hf_[A-Za-z0-9]{30,}$")  # the mock's rule for a token HuggingFace accepts

CACHE_STATS = {"hits": 0, "misses": 0, "high_watermark": 0, "in_cache": 0, "cleared": 0, "cache_size": 0,
               "loaded_model_sizes": {}}


class ModelError(Exception):
    """An answer the handlers turn into an HTTP error: `status` and `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Failure(Exception):
    """A job's failure, named after the exception InvokeAI raises in that case."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# -- config classes ------------------------------------------------------------------------------
# InvokeAI 6.8's AnyModelConfig members: type, formats (the first is the default), and the fields
# after the common ones, in the order the server serializes them.

COMMON_FIELDS = ("key", "hash", "path", "file_size", "name", "type", "format", "base", "source", "source_type",
                 "description", "source_api_response", "cover_image", "submodels", "usage_info")
_MAIN_X = ("trigger_phrases", "default_settings", "variant")
_CKPT_X = ("config_path", "converted_at")
_CHECKPOINT_FORMATS = ("checkpoint", "bnb_quantized_nf4b", "gguf_quantized")

CLASSES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "MainDiffusersConfig": ("main", ("diffusers",), (*_MAIN_X, "repo_variant")),
    "MainCheckpointConfig": ("main", _CHECKPOINT_FORMATS, (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "MainBnbQuantized4bCheckpointConfig": ("main", ("bnb_quantized_nf4b",),
                                           (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "MainGGUFCheckpointConfig": ("main", ("gguf_quantized",),
                                 (*_MAIN_X, *_CKPT_X, "prediction_type", "upcast_attention")),
    "VAEDiffusersConfig": ("vae", ("diffusers",), ()),
    "VAECheckpointConfig": ("vae", _CHECKPOINT_FORMATS, _CKPT_X),
    "ControlNetDiffusersConfig": ("controlnet", ("diffusers",), ("default_settings", "repo_variant")),
    "ControlNetCheckpointConfig": ("controlnet", _CHECKPOINT_FORMATS, ("default_settings", *_CKPT_X)),
    "LoRALyCORISConfig": ("lora", ("lycoris",), ("trigger_phrases", "default_settings")),
    "LoRAOmiConfig": ("lora", ("omi",), ("trigger_phrases", "default_settings")),
    "LoRADiffusersConfig": ("lora", ("diffusers",), ("trigger_phrases", "default_settings")),
    "ControlLoRALyCORISConfig": ("control_lora", ("lycoris",), ("default_settings", "trigger_phrases")),
    "ControlLoRADiffusersConfig": ("control_lora", ("diffusers",), ("default_settings", "trigger_phrases")),
    "T5EncoderConfig": ("t5_encoder", ("t5_encoder",), ()),
    "T5EncoderBnbQuantizedLlmInt8bConfig": ("t5_encoder", ("bnb_quantized_int8b",), ()),
    "TextualInversionFileConfig": ("embedding", ("embedding_file",), ()),
    "TextualInversionFolderConfig": ("embedding", ("embedding_folder",), ()),
    "IPAdapterInvokeAIConfig": ("ip_adapter", ("invokeai",), ("image_encoder_model_id",)),
    "IPAdapterCheckpointConfig": ("ip_adapter", ("checkpoint",), ()),
    "T2IAdapterConfig": ("t2i_adapter", ("diffusers",), ("default_settings", "repo_variant")),
    "SpandrelImageToImageConfig": ("spandrel_image_to_image", ("checkpoint",), ()),
    "CLIPVisionDiffusersConfig": ("clip_vision", ("diffusers",), ("repo_variant",)),
    "CLIPLEmbedDiffusersConfig": ("clip_embed", ("diffusers",), ("repo_variant", "variant")),
    "CLIPGEmbedDiffusersConfig": ("clip_embed", ("diffusers",), ("repo_variant", "variant")),
    "SigLIPConfig": ("siglip", ("diffusers",), ("repo_variant",)),
    "FluxReduxConfig": ("flux_redux", ("checkpoint",), ()),
    "LlavaOnevisionConfig": ("llava_onevision", ("diffusers",), ("repo_variant",)),
}
CHECKPOINT_CLASSES = {name for name, (_, _, extras) in CLASSES.items() if "converted_at" in extras}
MAIN_SETTINGS = ("vae", "vae_precision", "scheduler", "steps", "cfg_scale", "cfg_rescale_multiplier", "width",
                 "height", "guidance")
SETTINGS_KIND = {"main": MAIN_SETTINGS, "lora": ("weight",), "control": ("preprocessor",)}
# Default image sizes InvokeAI gives a main model of each base.
MAIN_RESOLUTION = {"sd-1": 512, "sd-2": 768, "sdxl": 1024, "sdxl-refiner": 1024, "sd-3": 1024, "flux": 1024,
                   "cogview4": 1024}
# The legacy config file a checkpoint is converted with (relative to configs/).
LEGACY_CONFIGS = {("main", "sd-1"): "stable-diffusion/v1-inference.yaml",
                  ("main", "sd-2"): "stable-diffusion/v2-inference-v.yaml",
                  ("main", "sdxl"): "stable-diffusion/sd_xl_base.yaml",
                  ("main", "sdxl-refiner"): "stable-diffusion/sd_xl_refiner.yaml",
                  ("main", "flux"): "flux/flux1-dev.yaml",
                  ("vae", "sd-1"): "stable-diffusion/v1-inference.yaml",
                  ("vae", "sd-2"): "stable-diffusion/v2-inference-v.yaml",
                  ("vae", "sdxl"): "stable-diffusion/sd_xl_base.yaml",
                  ("controlnet", "sd-1"): "controlnet/cldm_v15.yaml",
                  ("controlnet", "sd-2"): "controlnet/cldm_v21.yaml",
                  ("controlnet", "sdxl"): "controlnet/cldm_xl.yaml"}
PREPROCESSORS = (("canny", "canny_image_processor"), ("mlsd", "mlsd_image_processor"),
                 ("depth", "depth_anything_image_processor"), ("normal", "normalbae_image_processor"),
                 ("seg", "segment_anything_processor"), ("lineart_anime", "lineart_anime_image_processor"),
                 ("lineart", "lineart_image_processor"), ("pose", "dw_openpose_image_processor"),
                 ("scribble", "pidi_image_processor"), ("sketch", "pidi_image_processor"),
                 ("softedge", "hed_image_processor"), ("shuffle", "content_shuffle_image_processor"),
                 ("tile", "tile_image_processor"))
IMAGE_ENCODERS = {"sd-1": "InvokeAI/ip_adapter_sd_image_encoder", "sdxl": "InvokeAI/ip_adapter_sdxl_image_encoder"}
RECORD_CHANGE_FIELDS = ("source", "source_type", "source_api_response", "name", "path", "description", "base",
                        "type", "key", "hash", "file_size", "format", "trigger_phrases", "default_settings",
                        "variant", "prediction_type", "upcast_attention", "config_path")
REQUIRED_STRINGS = ("hash", "path", "name", "base", "source", "source_type", "type", "format", "config_path")

# Typical sizes, for starter models whose description names none.
DEFAULT_SIZES = {"main": 4265380512, "vae": 334643268, "controlnet": 1445157124, "lora": 228459180,
                 "control_lora": 1239255336, "embedding": 24655, "ip_adapter": 98183288, "t2i_adapter": 158046052,
                 "spandrel_image_to_image": 67040989, "clip_vision": 2528373448, "clip_embed": 246144352,
                 "t5_encoder": 9524621312, "siglip": 1756133472, "flux_redux": 129063232,
                 "llava_onevision": 1795781688}


def config_class(model_type: str, model_format: str, variant: t.Any = None) -> str | None:
    """The AnyModelConfig member for a type and format (None: InvokeAI has no such config)."""
    if model_type == "clip_embed" and model_format == "diffusers":
        return "CLIPGEmbedDiffusersConfig" if variant == "gigantic" else "CLIPLEmbedDiffusersConfig"
    preferred = {("main", "bnb_quantized_nf4b"): "MainBnbQuantized4bCheckpointConfig",
                 ("main", "gguf_quantized"): "MainGGUFCheckpointConfig"}
    if (model_type, model_format) in preferred:
        return preferred[(model_type, model_format)]
    for name, (kind, formats, _) in CLASSES.items():
        if kind == model_type and formats[0] == model_format:
            return name
    return None


def _iso(when: float) -> str:
    """upstream's `get_iso_timestamp()`: naive UTC `datetime.isoformat()`."""
    return datetime.fromtimestamp(when, tz=timezone.utc).replace(tzinfo=None).isoformat()


def _size_from_description(text: str) -> int | None:
    match = re.search(r"~\s*(\d+(?:\.\d+)?)\s*(GB|G|MB)\b", text)
    if not match:
        return None
    number = float(match.group(1))
    return int(number * (1_000_000 if match.group(2) == "MB" else 1_000_000_000))


def _fake_hash(*parts: t.Any) -> str:
    """InvokeAI hashes model files with BLAKE3 (`hashing_algorithm: blake3_single`); the mock derives a
    stable digest of the same shape from what identifies the file."""
    return "blake3:" + hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


def _traceback(kind: str, message: str, where: str) -> str:
    return ("Traceback (most recent call last):\n"
            f'  File "/opt/invokeai/invokeai/app/services/{where}", in run\n'
            f"{kind}: {message}\n")


class ModelManager:
    """The model records, the install and download queues, model images, relationships and the
    HuggingFace login of one InvokeAI server. JSON-able through `export()` / `load()`."""

    def __init__(self, fixtures_dir: Path, rng: random.Random, clock: t.Any, emit: Emit) -> None:
        self.rng = rng
        self.clock = clock
        self.emit = emit
        self.speed = "realtime"  # or "instant"
        self._lock = threading.RLock()
        catalogue = _catalogue(str(fixtures_dir))  # read-only, shared by every manager
        self.starter = catalogue.starter
        self.root = catalogue.root
        self.models_dir = catalogue.models_dir
        self._initial_files = catalogue.files
        self.repos = catalogue.repos
        self.urls = catalogue.urls
        self._reset()

    # -- state --------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.records: dict[str, dict] = {}  # key → {"cls", "config", "updated_at"}
        self.images: dict[str, bytes] = {}  # model key → WebP bytes
        self.relationships: list[list[str]] = []  # sorted [key_1, key_2] pairs
        self.installs: list[dict] = []
        self.downloads: dict[int, dict] = {}
        self.pruned_parts: dict[int, dict] = {}  # an install's download jobs pruned from the queue
        self.next_install_id = 0
        self.next_download_id = 0
        self.hf_token: str | None = None
        self.files: dict[str, dict] = copy.deepcopy(self._initial_files)
        self._now = float("-inf")
        self.moves = 0  # transitions applied so far: a caller can tell whether `advance` changed anything

    def export(self) -> dict:
        with self._lock:
            return copy.deepcopy({
                "speed": self.speed,
                "records": list(self.records.values()),
                "images": {k: base64.b64encode(v).decode("ascii") for k, v in self.images.items()},
                "relationships": self.relationships,
                "installs": self.installs,
                "downloads": list(self.downloads.values()),
                "pruned_parts": list(self.pruned_parts.values()),
                "next_install_id": self.next_install_id,
                "next_download_id": self.next_download_id,
                "hf_token": self.hf_token,
                "files": self.files,
                "now": self._now if self._now != float("-inf") else None,
            })

    def load(self, data: dict) -> None:
        data = copy.deepcopy(data)
        with self._lock:
            self._reset()
            self.speed = data.get("speed", self.speed)
            self.records = {r["config"]["key"]: r for r in data.get("records", [])}
            self.images = {k: base64.b64decode(v) for k, v in data.get("images", {}).items()}
            self.relationships = [list(pair) for pair in data.get("relationships", [])]
            self.installs = list(data.get("installs", []))
            self.downloads = {int(d["id"]): d for d in data.get("downloads", [])}
            self.pruned_parts = {int(d["id"]): d for d in data.get("pruned_parts", [])}
            self.next_install_id = int(data.get("next_install_id", len(self.installs)))
            self.next_download_id = int(data.get("next_download_id", len(self.downloads)))
            self.hf_token = data.get("hf_token")
            self.files = data.get("files") or copy.deepcopy(self._initial_files)
            now = data.get("now")
            self._now = float(now) if now is not None else float("-inf")

    # -- the clock ------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every job transition due by `now`, oldest first, emitting its events. Idempotent:
        a second call with the same (or an earlier) time changes nothing."""
        events: list[tuple[str, dict]] = []
        with self._lock:
            while True:
                step = self._next_step()
                if step is None or step[0] > now:
                    break
                step[1](step[0], events)
                self.moves += 1
            self._live_bytes(now)
            self._now = max(now, self._now)
        for name, payload in events:
            self.emit(name, payload)

    def _next_step(self) -> tuple[float, t.Callable[[float, list], None]] | None:
        best: tuple[float, int, t.Callable[[float, list], None]] | None = None
        order = 0
        for job in self.installs:
            for when, action in self._install_steps(job):
                order += 1
                if best is None or (when, order) < best[:2]:
                    best = (when, order, action)
        for job in self.downloads.values():
            if job["_install"] is None:
                for when, action in self._download_steps(job):
                    order += 1
                    if best is None or (when, order) < best[:2]:
                        best = (when, order, action)
        return None if best is None else (best[0], best[2])

    def _live_bytes(self, now: float) -> None:
        """Bytes downloaded so far, in proportion to the time elapsed in the download window."""
        for job in self.downloads.values():
            if job["status"] != "running" or job["_end"] <= job["_start"]:
                continue
            fraction = min(max((now - job["_start"]) / (job["_end"] - job["_start"]), 0.0), 1.0)
            job["bytes"] = max(job["bytes"], int(job["total_bytes"] * fraction))
        for job in self.installs:
            if job["status"] == "downloading":
                parts = [self.downloads[i] for i in job["_parts"] if i in self.downloads]
                job["bytes"] = sum(part["bytes"] for part in parts)

    def _schedule(self, now: float, remote: bool) -> dict:
        if self.speed == "instant":
            return {"start": now, "end_download": now, "run": now, "end": now, "steps": 1}
        if not remote:
            run = now + WAIT_SECONDS
            return {"start": run, "end_download": run, "run": run, "end": run + REGISTER_SECONDS,
                    "steps": PROGRESS_STEPS}
        start = now + WAIT_SECONDS
        done = start + DOWNLOAD_SECONDS
        run = done + SETTLE_SECONDS
        return {"start": start, "end_download": done, "run": run, "end": run + REGISTER_SECONDS,
                "steps": PROGRESS_STEPS}

    # -- the virtual file system ---------------------------------------------------------------

    @staticmethod
    def _file_tree(tree: dict) -> dict[str, dict]:
        files: dict[str, dict] = {}
        for entry in tree.get("files") or []:
            files[posixpath.normpath(entry["path"])] = {"kind": "file", "size": int(entry["size"]),
                                                        "model": entry.get("model")}
        for folder in tree.get("folders") or []:
            path = posixpath.normpath(folder["path"])
            files[path] = {"kind": "dir", "size": 0, "model": folder.get("model")}
            for entry in folder.get("files") or []:
                files[posixpath.join(path, entry["path"])] = {"kind": "file", "size": int(entry["size"]),
                                                              "model": None}
        files.setdefault(posixpath.normpath(tree["models_dir"]), {"kind": "dir", "size": 0, "model": None})
        return files

    def _exists(self, path: str) -> bool:
        return path in self.files or self._is_dir(path)

    def _is_dir(self, path: str) -> bool:
        node = self.files.get(path)
        if node is not None:
            return node["kind"] == "dir"
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    def _size(self, path: str) -> int:
        node = self.files.get(path)
        if node is not None and node["kind"] == "file":
            return node["size"]
        prefix = path.rstrip("/") + "/"
        return sum(n["size"] for p, n in self.files.items() if p.startswith(prefix) and n["kind"] == "file")

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in self.files if p.startswith(prefix)}
        return sorted(prefix + name for name in names)

    def _is_model_folder(self, path: str) -> bool:
        node = self.files.get(path)
        if node is not None and node.get("model"):
            return True
        return any(posixpath.join(path, marker) in self.files for marker in MODEL_FOLDER_MARKERS)

    def _place(self, path: str, size: int, model: dict | None, files: list[tuple[str, int]] | None = None) -> None:
        """Put a file (or, with `files`, a folder of them) into the virtual file system."""
        if files is None:
            self.files[path] = {"kind": "file", "size": size, "model": model}
            return
        self.files[path] = {"kind": "dir", "size": 0, "model": model}
        for relative, part_size in files:
            self.files[posixpath.join(path, relative)] = {"kind": "file", "size": part_size, "model": None}

    def _remove(self, path: str) -> None:
        prefix = path.rstrip("/") + "/"
        for p in [p for p in self.files if p == path or p.startswith(prefix)]:
            del self.files[p]

    def _absolute(self, record_path: str) -> str:
        return record_path if record_path.startswith("/") else posixpath.join(self.models_dir, record_path)

    # -- scan folder ---------------------------------------------------------------------------

    def scan_folder(self, scan_path: str | None) -> list[dict]:
        with self._lock:
            path = posixpath.normpath(scan_path) if scan_path else ""
            if not scan_path or not path.startswith("/") or not self._is_dir(path):
                raise ModelError(400, f"The search path '{scan_path}' does not exist or is not directory")
            found: list[str] = []
            self._walk(path, found)
            core = posixpath.join(self.models_dir, "core") + "/"
            found = [p for p in found if not p.startswith(core)]
            installed_paths = {self._absolute(r["config"]["path"]) for r in self.records.values()}
            installed_sources = {r["config"]["source"] for r in self.records.values()}
            return [{"path": p, "is_installed": p in installed_paths or p in installed_sources} for p in found]

    def _walk(self, directory: str, found: list[str], depth: int = 20) -> None:
        if depth < 0:
            return
        for child in self._children(directory):
            if self._is_dir(child):
                if self._is_model_folder(child):
                    found.append(child)
                else:
                    self._walk(child, found, depth - 1)
            elif child.endswith(WEIGHT_SUFFIXES):
                found.append(child)

    # -- records -------------------------------------------------------------------------------

    def render(self, record: dict, *, cover: bool = True) -> dict:
        """A record as the API shows it: the stored config, the checkpoint `converted_at` the record
        store adds from its row's update time, and the cover image URL when there is an image."""
        config = copy.deepcopy(record["config"])
        if record["cls"] in CHECKPOINT_CLASSES:
            config["converted_at"] = float(int(record["updated_at"]))
        if cover and config["key"] in self.images:
            config["cover_image"] = f"api/v2/models/i/{config['key']}/image"
        return config

    def get_record(self, key: str) -> dict | None:
        with self._lock:
            record = self.records.get(key)
            return None if record is None else self.render(record)

    def _ordered(self) -> list[dict]:
        """`search_by_attr`'s order: type, base, name, format."""
        rows = list(self.records.values())
        rows.sort(key=lambda r: (r["config"]["type"], r["config"]["base"], r["config"]["name"],
                                 r["config"]["format"]))
        return rows

    def list_records(self, base_models: list[str] | None = None, model_type: str | None = None,
                     model_name: str | None = None, model_format: str | None = None) -> list[dict]:
        with self._lock:
            def matches(config: dict, base: str | None) -> bool:
                return ((base is None or config["base"] == base)
                        and (not model_type or config["type"] == model_type)
                        and (not model_name or config["name"] == model_name)
                        and (not model_format or config["format"] == model_format))

            rows = self._ordered()
            found: list[dict] = []
            # One search per base, concatenated, as the route does.
            for base in (base_models or [None]):
                found.extend(self.render(r) for r in rows if matches(r["config"], base))
            return found

    def find_record(self, name: str, model_type: str, base: str) -> dict:
        with self._lock:
            for record in self._ordered():
                config = record["config"]
                if config["name"] == name and config["type"] == model_type and config["base"] == base:
                    return self.render(record)
        raise ModelError(404, "No model found with these attributes")

    def record(self, key: str) -> dict:
        with self._lock:
            record = self.records.get(key)
            if record is None:
                raise ModelError(404, "model not found")
            return self.render(record)

    def update_record(self, key: str, changes: dict) -> dict:
        """`update_model`: each field the client sent is assigned to the config, and pydantic's
        assignment validation decides (a failure is the route's 409, with pydantic's message)."""
        with self._lock:
            record = self.records.get(key)
            if record is None:
                raise ModelError(404, "model not found")
            cls = record["cls"]
            model_type, formats, extras = CLASSES[cls]
            allowed = set(COMMON_FIELDS) | set(extras)
            updated = copy.deepcopy(record["config"])
            for field, value in changes.items():
                if field not in RECORD_CHANGE_FIELDS:
                    continue
                if field not in allowed:
                    raise ModelError(409, f'"{cls}" object has no field "{field}"')
                if value is None and field in REQUIRED_STRINGS:
                    raise ModelError(409, _validation_text(cls, field, value, "string_type",
                                                           "Input should be a valid string"))
                if field == "type" and value != model_type:
                    raise ModelError(409, _validation_text(cls, field, value, "literal_error",
                                                           f"Input should be '{model_type}'"))
                if field == "format" and value not in formats:
                    expected = " or ".join(f"'{f}'" for f in formats)
                    raise ModelError(409, _validation_text(cls, field, value, "literal_error" if len(formats) == 1
                                                           else "enum", f"Input should be {expected}"))
                if field == "key":
                    continue  # the record keeps its key: the row is found by it
                if field == "default_settings" and value is not None:
                    value = self._settings(cls, value)
                if field == "trigger_phrases" and value is not None:
                    value = list(dict.fromkeys(value))
                if field == "variant" and cls in ("CLIPLEmbedDiffusersConfig", "CLIPGEmbedDiffusersConfig"):
                    expected = "large" if cls == "CLIPLEmbedDiffusersConfig" else "gigantic"
                    if value != expected:
                        raise ModelError(409, _validation_text(cls, field, value, "literal_error",
                                                               f"Input should be '{expected}'"))
                updated[field] = value
            record["config"] = updated
            record["updated_at"] = self.clock.now()
            self._sync_model_path(record)
            return self.render(record)

    def _sync_model_path(self, record: dict) -> None:
        """upstream's `sync_model_path`, run after every update: a model under the models directory
        lives at `<base>/<type>/<its file or folder name>`, so a new base or type moves it (a new
        name does not rename it); a taken place gets a `_01`, `_02`... suffix."""
        config = record["config"]
        if config["path"].startswith("/"):
            return  # installed in place outside the models directory: never moved
        old = posixpath.join(self.models_dir, config["path"])
        new = posixpath.join(self.models_dir, config["base"], config["type"], posixpath.basename(old))
        if new == old:
            return
        stem, suffix = posixpath.splitext(new) if self.files.get(old, {}).get("kind") == "file" else (new, "")
        counter = 1
        while self._exists(new):
            new = f"{stem}_{counter:02d}{suffix}"
            counter += 1
        prefix = old + "/"
        for path in [p for p in self.files if p == old or p.startswith(prefix)]:
            self.files[new + path[len(old):]] = self.files.pop(path)
        config["path"] = new[len(self.models_dir) + 1:]

    @staticmethod
    def _settings(cls: str, value: dict) -> dict:
        kind = _settings_kind(cls)
        keys = SETTINGS_KIND.get(kind or "", ())
        unexpected = [k for k in value if k not in keys]
        if unexpected:
            raise ModelError(409, _validation_text(cls, f"default_settings.{unexpected[0]}", value[unexpected[0]],
                                                   "extra_forbidden", "Extra inputs are not permitted"))
        return {k: value.get(k) for k in keys}

    def delete_record(self, key: str) -> None:
        """`delete`: the record goes, and its files if they are in the models directory."""
        with self._lock:
            record = self.records.pop(key, None)
            if record is None:
                raise ModelError(404, "model not found")
            path = record["config"]["path"]
            if not path.startswith("/") or path.startswith(self.models_dir + "/"):
                self._remove(self._absolute(path))
            # model_relationships rows reference models(id) ON DELETE CASCADE
            self.relationships = [pair for pair in self.relationships if key not in pair]

    def convert(self, key: str) -> dict:
        """`convert_model`: a main SD checkpoint becomes a diffusers folder under a new key; name,
        description, hash and source stay, the checkpoint record and file go."""
        with self._lock:
            record = self.records.get(key)
            if record is None:
                raise ModelError(424, "model not found")  # upstream's route answers 424 here
            config = record["config"]
            if record["cls"] != "MainCheckpointConfig" or config["base"] not in ("sd-1", "sd-2", "sdxl",
                                                                                 "sdxl-refiner"):
                raise ModelError(400, f"The model with key {key} is not a main checkpoint model.")
            stem = posixpath.splitext(posixpath.basename(config["path"]))[0]
            dest_relative = f"{config['base']}/main/{stem}"
            dest = posixpath.join(self.models_dir, dest_relative)
            if any(r["config"]["path"] == dest_relative for r in self.records.values()) or self._exists(dest):
                raise ModelError(409, f"A model named {stem} is already installed at {dest}")
            info = {"base": config["base"], "type": "main", "format": "diffusers",
                    "variant": config.get("variant") or "normal", "prediction_type": config.get("prediction_type")}
            new = self._build_record(info, name=config["name"], path=dest_relative, size=config["file_size"],
                                     source=config["source"], source_type=config["source_type"],
                                     description=config.get("description"), hash_=config["hash"],
                                     source_api_response=config.get("source_api_response"))
            new["config"]["trigger_phrases"] = config.get("trigger_phrases")
            new["config"]["default_settings"] = config.get("default_settings")
            self._place(dest, 0, info, _diffusers_layout(config["base"], config["file_size"]))
            self.records[new["config"]["key"]] = new
            if key in self.images:
                self.images[new["config"]["key"]] = self.images.pop(key)
            self.delete_record(key)
            return self.render(new)

    def _build_record(self, info: dict, *, name: str, path: str, size: int, source: str, source_type: str,
                      description: str | None = None, hash_: str | None = None, key: str | None = None,
                      source_api_response: str | None = None, overrides: dict | None = None) -> dict:
        """A new config record for what the probe found (`info`), with the client's overrides."""
        info = {**info, **{k: v for k, v in (overrides or {}).items() if v is not None
                           and k in ("base", "type", "format", "variant", "prediction_type", "upcast_attention",
                                     "trigger_phrases", "config_path", "default_settings")}}
        base, model_type, model_format = info["base"], info["type"], info["format"]
        cls = config_class(model_type, model_format, info.get("variant"))
        if cls is None:
            raise _Failure("InvalidModelConfigException",
                           f"Unsupported model type/format: {model_type}/{model_format}")
        _, _, extras = CLASSES[cls]
        config: dict[str, t.Any] = {
            "key": key or str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "hash": hash_ or info.get("hash") or _fake_hash(source, size),
            "path": path,
            "file_size": size,
            "name": name,
            "type": model_type,
            "format": model_format,
            "base": base,
            "source": source,
            "source_type": source_type,
            "description": description or f"{base} {model_type} model {name}",
            "source_api_response": source_api_response,
            "cover_image": None,
            "submodels": None,
            "usage_info": None,
        }
        for field in extras:
            config[field] = self._default_field(cls, field, info, name)
        return {"cls": cls, "config": config, "updated_at": self.clock.now()}

    @staticmethod
    def _default_field(cls: str, field: str, info: dict, name: str) -> t.Any:
        base, model_type = info["base"], info["type"]
        if field == "trigger_phrases":
            phrases = info.get("trigger_phrases")
            return list(dict.fromkeys(phrases)) if phrases else None
        if field == "default_settings":
            if info.get("default_settings") is not None:
                return ModelManager._settings(cls, info["default_settings"])
            kind = _settings_kind(cls)
            if kind == "main" and base in MAIN_RESOLUTION:
                size = MAIN_RESOLUTION[base]
                return {**{k: None for k in MAIN_SETTINGS}, "width": size, "height": size}
            if kind == "control":
                lowered = name.lower()
                for needle, preprocessor in PREPROCESSORS:
                    if needle in lowered:
                        return {"preprocessor": preprocessor}
            return None
        if field == "variant":
            if cls == "CLIPLEmbedDiffusersConfig":
                return "large"
            if cls == "CLIPGEmbedDiffusersConfig":
                return "gigantic"
            return info.get("variant") or "normal"
        if field == "repo_variant":
            return info.get("repo_variant") or ""
        if field == "config_path":
            return info.get("config_path") or LEGACY_CONFIGS.get((model_type, base), "")
        if field == "converted_at":
            return None
        if field == "prediction_type":
            return info.get("prediction_type") or ("v_prediction" if base == "sd-2" else "epsilon")
        if field == "upcast_attention":
            return bool(info.get("upcast_attention", False))
        if field == "image_encoder_model_id":
            return info.get("image_encoder_model_id") or IMAGE_ENCODERS.get(base, IMAGE_ENCODERS["sd-1"])
        return None

    # -- model images --------------------------------------------------------------------------

    def set_image(self, key: str, webp: bytes) -> None:
        with self._lock:
            self.images[key] = webp

    def image(self, key: str) -> bytes | None:
        with self._lock:
            return self.images.get(key)

    def delete_image(self, key: str) -> bool:
        with self._lock:
            return self.images.pop(key, None) is not None

    # -- relationships -------------------------------------------------------------------------

    def related(self, key: str) -> list[str]:
        with self._lock:
            return sorted({b if a == key else a for a, b in self.relationships if key in (a, b)})

    def related_batch(self, keys: list[str]) -> list[str]:
        with self._lock:
            wanted = set(keys)
            found: set[str] = set()
            for a, b in self.relationships:
                if a in wanted:
                    found.add(b)
                if b in wanted:
                    found.add(a)
            return sorted(found)

    def relate(self, key_1: str, key_2: str) -> None:
        with self._lock:
            if key_1 == key_2:
                raise ModelError(400, "Cannot relate a model to itself.")
            # The table's foreign keys to models(id) refuse unknown keys (a 500 upstream).
            if key_1 not in self.records or key_2 not in self.records:
                raise ModelError(400, "Invalid model keys")
            pair = sorted([key_1, key_2])
            if pair not in self.relationships:  # INSERT OR IGNORE
                self.relationships.append(pair)

    def unrelate(self, key_1: str, key_2: str) -> None:
        with self._lock:
            if key_1 == key_2:
                raise ModelError(400, "Cannot unlink a model from itself.")
            pair = sorted([key_1, key_2])
            self.relationships = [p for p in self.relationships if p != pair]

    # -- starter models, HuggingFace, login and cache --------------------------------------------

    def starter_models(self) -> dict:
        with self._lock:
            installed = [r["config"] for r in self.records.values()]

            def is_installed(entry: dict) -> bool:
                return any(c["source"] == entry["source"]
                           or ((c["name"] == entry["name"] or c["name"] in (entry.get("previous_names") or []))
                               and c["base"] == entry["base"] and c["type"] == entry["type"])
                           for c in installed)

            def fill(entry: dict) -> dict:
                entry = copy.deepcopy(entry)
                entry["is_installed"] = is_installed(entry)
                if "dependencies" in entry:
                    entry["dependencies"] = [{**dep, "is_installed": False} for dep in entry["dependencies"] or []
                                             if not is_installed(dep)]
                return entry

            return {"starter_models": [fill(m) for m in self.starter["starter_models"]],
                    "starter_bundles": {name: {**bundle, "models": [fill(m) for m in bundle["models"]]}
                                        for name, bundle in self.starter["starter_bundles"].items()}}

    def hugging_face_models(self, repo_id: str | None) -> dict:
        repo = self._repo((repo_id or "").split("::")[0])
        if repo is None:
            raise ModelError(400, "No HuggingFace repository found")
        metadata = self._hf_metadata(repo)
        return {"urls": metadata["ckpt_urls"], "is_diffusers": metadata["is_diffusers"]}

    def hf_status(self) -> str:
        return "valid" if self.hf_token else "invalid"

    def hf_login(self, token: str) -> str:
        """HuggingFace accepts the token when it looks like one (`hf_` and 30+ letters or digits); a
        refused login leaves an earlier token in place, as `huggingface_hub.login` does."""
        with self._lock:
            if HF_TOKEN_RE.match(token or ""):
                self.hf_token = token
            return self.hf_status()

    def hf_logout(self) -> str:
        with self._lock:
            self.hf_token = None
            return self.hf_status()

    @staticmethod
    def cache_stats() -> dict:
        return copy.deepcopy(CACHE_STATS)

    # -- catalogue of remote files ---------------------------------------------------------------

    def _repo(self, repo_id: str) -> dict | None:
        return self.repos.get(repo_id.lower()) if repo_id else None

    def _hf_metadata(self, repo: dict) -> dict:
        owner, name = repo["id"].split("/", 1)
        files = [{"url": HF_URL.format(repo=repo["id"], path=f["path"]), "path": f"{name}/{f['path']}",
                  "size": f["size"], "sha256": f.get("sha256")} for f in repo["files"]]
        is_diffusers = any(f["url"].endswith(("model_index.json", "config.json")) for f in files)
        ckpt_urls = None if is_diffusers else [f["url"] for f in files if f["url"].endswith(CKPT_URL_SUFFIXES)]
        sha = hashlib.sha1(repo["id"].encode()).hexdigest()
        api_response = json.dumps({"id": repo["id"], "author": owner, "sha": sha,
                                   "private": False, "gated": "manual" if repo["gated"] else False,
                                   "siblings": [{"rfilename": f["path"], "size": f["size"]} for f in repo["files"]]})
        return {"name": name, "files": files, "type": "huggingface", "id": repo["id"], "api_response": api_response,
                "is_diffusers": is_diffusers, "ckpt_urls": ckpt_urls}

    def _resolve_url(self, url: str) -> dict | None:
        """What a GET of `url` would answer: {"filename", "size", "model", "content_type", "gated"}."""
        entry = self.urls.get(url)
        if entry is not None:
            return {"filename": entry["filename"], "size": int(entry["size"]), "model": entry.get("model"),
                    "content_type": entry.get("content_type", "application/octet-stream"), "gated": False}
        match = HF_RESOLVE_RE.match(url)
        if match:
            repo = self._repo(match.group(1))
            if repo is not None:
                for f in repo["files"]:
                    if f["path"] == match.group(2):
                        return {"filename": posixpath.basename(f["path"]), "size": f["size"],
                                "model": repo["models"].get(f["path"]), "content_type": "binary/octet-stream",
                                "gated": repo["gated"]}
        return None

    # -- installs ------------------------------------------------------------------------------

    def install(self, source: str, config: dict | None = None, *, inplace: bool = False,
                access_token: str | None = None) -> dict:
        """`heuristic_import`: a local path, a HuggingFace repo id or a URL becomes an install job."""
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self._import(source, config or {}, inplace=inplace, access_token=access_token, events=events)
            rendered = self.render_install(job)
        for name, payload in events:
            self.emit(name, payload)
        return rendered

    def _guess_source(self, source: str) -> dict:
        stripped = source.strip('"')
        candidate = posixpath.normpath(stripped) if stripped.startswith("/") else None
        if candidate is not None and self._exists(candidate):
            return {"path": candidate, "inplace": False, "type": "local"}
        match = HF_SOURCE_RE.match(source)
        if match:
            return {"repo_id": match.group(1), "variant": match.group(2) or None, "subfolder": match.group(3) or None,
                    "access_token": None, "type": "hf"}
        if re.match(r"^https?://[^/]+", source):
            return {"url": source, "access_token": None, "type": "url"}
        raise ModelError(409, f"Unsupported model source: '{source}'")

    def _import(self, source: str, config: dict, *, inplace: bool, access_token: str | None,
                events: list) -> dict:
        src = self._guess_source(source)
        if src["type"] == "local":
            src["inplace"] = bool(inplace)
        else:
            src["access_token"] = access_token
        for job in self.installs:  # one active job per source (sources compare as their text)
            if _source_text(job["source"]) == _source_text(src) and job["status"] not in JOB_DONE:
                return job
        now = self.clock.now()
        failure: _Failure | None = None
        parts: list[dict] = []
        metadata: dict | None = None
        if src["type"] == "local":
            node = self.files.get(src["path"])
            plan = {"kind": "dir" if self._is_dir(src["path"]) else "file",
                    "model": node.get("model") if node else None, "layout": None}
        else:
            try:
                parts, metadata, plan = self._remote_plan(src)
            except _Failure as error:
                failure, plan = error, {"kind": "file", "model": None, "layout": None}
            if failure is None and not parts:
                raise ModelError(409, f"{_source_text(src)}: No downloadable files found")
        job: dict[str, t.Any] = {
            "id": self.next_install_id, "status": "waiting", "error_reason": None,
            "config_in": {field: config.get(field) for field in RECORD_CHANGE_FIELDS}, "config_out": None,
            "inplace": src.get("inplace", False), "source": src, "local_path": src.get("path", ""), "bytes": 0,
            "total_bytes": 0, "source_metadata": metadata, "download_parts": [], "error": None,
            "error_traceback": None,
            "_parts": [], "_plan": plan, "_when": None, "_step": 0,
        }
        self.next_install_id += 1
        self.installs.append(job)
        if src["type"] == "local":
            job["_when"] = self._schedule(now, remote=False)
            return job
        job["local_path"] = posixpath.join(self.models_dir, self._tmpdir_name())
        if failure is not None:
            # An unknown repo fails at once (the real server's route lets UnknownMetadataException
            # escape as a 500); the job shows the failure the way every failed install does.
            self._fail_install(job, failure, now, events, where="model_install/model_install_default.py")
            return job
        job["_when"] = when = self._schedule(now, remote=True)
        if src["type"] == "hf" and not src["access_token"] and self.hf_token:
            src["access_token"] = self.hf_token  # upstream adds the stored HuggingFace token
        job["total_bytes"] = sum(p["size"] for p in parts)
        for part in parts:
            into_dir = part["path"] == "."
            dest = job["local_path"] if into_dir else posixpath.join(job["local_path"], part["path"])
            download = self._new_download(part["url"], dest, access_token=src.get("access_token"), when=when,
                                          install_id=job["id"], resolved=part["resolved"], into_dir=into_dir)
            job["_parts"].append(download["id"])
        return job

    def _tmpdir_name(self) -> str:
        alphabet = string.ascii_lowercase + string.digits + "_"
        return "tmpinstall_" + "".join(self.rng.choice(alphabet) for _ in range(8))

    def _remote_plan(self, src: dict) -> tuple[list[dict], dict | None, dict]:
        """The files an HF or URL install downloads, the source metadata, and what the probe will find."""
        if src["type"] == "url" and not HF_PAGE_RE.match(src["url"]):
            resolved = self._resolve_url(src["url"])
            filename = resolved["filename"] if resolved else posixpath.basename(src["url"].split("?")[0]) or "download"
            part = {"url": src["url"], "path": ".", "size": 0, "resolved": resolved}
            plan = {"kind": "file", "model": resolved.get("model") if resolved else None, "layout": None,
                    "top": filename, "size": resolved["size"] if resolved else 0}
            return [part], None, plan
        repo_id = src["repo_id"] if src["type"] == "hf" else HF_PAGE_RE.match(src["url"]).group(1)
        repo = self._repo(repo_id)
        if repo is None:
            raise _Failure("UnknownMetadataException", f"'{repo_id}' not found. See trace for details.")
        metadata = self._hf_metadata(repo)
        subfolder = (src.get("subfolder") or "").strip("/")
        name = repo["id"].split("/", 1)[1]
        chosen = [f for f in repo["files"]
                  if not subfolder or f["path"] == subfolder or f["path"].startswith(subfolder + "/")]
        if not subfolder and any(f["path"] == "model_index.json" for f in chosen):
            # a diffusers pipeline: the single-file checkpoints beside its folders are not part of it
            chosen = [f for f in chosen if "/" in f["path"] or not f["path"].endswith(WEIGHT_SUFFIXES)]
        parts: list[dict] = []
        if subfolder:
            # upstream renames `<repo>/<subfolder>` to `<repo>_<last part of subfolder>`
            top = f"{name}_{posixpath.basename(subfolder)}"
        else:
            top = name
        for f in chosen:
            inner = posixpath.relpath(f["path"], subfolder) if subfolder else f["path"]
            path = top if inner == "." else posixpath.join(top, inner)
            url = HF_URL.format(repo=repo["id"], path=f["path"])
            resolved = {"filename": posixpath.basename(f["path"]), "size": f["size"], "model": None,
                        "content_type": "binary/octet-stream", "gated": repo["gated"]}
            parts.append({"url": url, "path": path, "size": f["size"], "resolved": resolved})
        single = len(chosen) == 1 and subfolder and chosen[0]["path"] == subfolder
        layout = None if single else [(posixpath.relpath(p["path"], top), p["size"]) for p in parts]
        fp16 = any(".fp16." in f["path"] for f in chosen)
        model = repo["models"].get(subfolder)
        if model is not None and fp16 and not single:
            model = {**model, "repo_variant": "fp16"}
        plan = {"kind": "file" if single else "dir", "model": model, "layout": layout, "top": top,
                "size": sum(p["size"] for p in parts), "metadata_api": metadata["api_response"]}
        return parts, metadata, plan

    def _new_download(self, url: str, dest: str, *, access_token: str | None, when: dict, install_id: int | None,
                      resolved: dict | None, priority: int = 10, into_dir: bool = False) -> dict:
        job = {"id": self.next_download_id, "dest": dest, "download_path": None, "status": "waiting", "bytes": 0,
               "total_bytes": 0, "error_type": None, "error": None, "source": url, "access_token": access_token,
               "priority": priority, "job_started": None, "job_ended": None, "content_type": None,
               "_start": when["start"], "_end": when["end_download"], "_steps": when["steps"], "_step": 0,
               "_install": install_id, "_resolved": resolved, "_into_dir": into_dir}
        self.next_download_id += 1
        self.downloads[job["id"]] = job
        return job

    # -- install steps ---------------------------------------------------------------------------

    def _install_steps(self, job: dict) -> list[tuple[float, t.Callable[[float, list], None]]]:
        status, when = job["status"], job["_when"]
        if status in JOB_DONE or when is None:
            return []
        remote = bool(job["_parts"])
        if status == "waiting":
            if remote:
                return [(when["start"], lambda at, ev: self._start_parts(job, at, ev))]
            return [(when["run"], lambda at, ev: self._run(job, at, ev))]
        if status == "downloading":
            step = job["_step"] + 1
            at = when["start"] + (when["end_download"] - when["start"]) * step / when["steps"]
            return [(at, lambda at, ev: self._progress_parts(job, step, at, ev))]
        if status == "downloads_done":
            return [(when["run"], lambda at, ev: self._run(job, at, ev))]
        if status == "running":
            return [(when["end"], lambda at, ev: self._register(job, at, ev))]
        return []

    def _parts(self, job: dict) -> list[dict]:
        """An install's download jobs; pruning the download queue does not take them from it."""
        return [self.downloads.get(i) or self.pruned_parts[i] for i in job["_parts"]
                if i in self.downloads or i in self.pruned_parts]

    def _start_parts(self, job: dict, at: float, events: list) -> None:
        parts = self._parts(job)
        for part in parts:
            failure = self._download_failure(part)
            if failure is not None:
                self._fail_download(part, failure, at, events)
                for other in parts:
                    if other["status"] in ("waiting", "running"):
                        self._cancel_download(other, at, events)
                kind, _, reason = failure[0].partition("(")
                self._fail_install(job, _Failure(kind, reason.rstrip(")")), at, events,
                                   where="download/download_default.py")
                return
        for part in parts:
            self._start_download(part, at, events)
        job["status"] = "downloading"
        job["local_path"] = posixpath.join(job["local_path"], job["_plan"]["top"])
        job["bytes"] = 0
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_started", self._install_progress_event(job, at)))

    def _progress_parts(self, job: dict, step: int, at: float, events: list) -> None:
        parts = self._parts(job)
        job["_step"] = step
        for part in parts:
            part["_step"] = step
            part["bytes"] = part["total_bytes"] * step // part["_steps"]
            # upstream reports a file's progress per chunk read: small files arrive in one
            if part["total_bytes"] > DOWNLOAD_CHUNK or step >= part["_steps"]:
                events.append(("download_progress", self._download_event(part, at)))
        job["bytes"] = sum(p["bytes"] for p in parts)
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_progress", self._install_progress_event(job, at)))
        if step >= job["_when"]["steps"]:
            for part in parts:
                self._complete_download(part, at, events, materialize=False)
            job["status"] = "downloads_done"
            events.append(("model_install_downloads_complete", self._install_event(job, at)))

    def _run(self, job: dict, at: float, events: list) -> None:
        size = self._size(job["local_path"]) if job["source"]["type"] == "local" else job["_plan"].get("size", 0)
        job["total_bytes"] = job["bytes"] = size
        job["status"] = "running"
        job["config_in"]["source"] = _source_text(job["source"])
        job["config_in"]["source_type"] = {"local": "path", "hf": "hf_repo_id", "url": "url"}[job["source"]["type"]]
        if job["_plan"].get("metadata_api"):
            job["config_in"]["source_api_response"] = job["_plan"]["metadata_api"]
        events.append(("model_install_started", self._install_event(job, at)))

    def _register(self, job: dict, at: float, events: list) -> None:
        try:
            record = self._register_model(job)
        except ModelError as refused:  # the client's config does not fit the model's config class
            failure = _Failure("ValidationError", refused.detail)
            self._fail_install(job, failure, at, events, where="model_install/model_install_default.py")
            return
        except _Failure as failure:
            self._fail_install(job, failure, at, events, where="model_install/model_install_default.py")
            return
        record["updated_at"] = at
        self.records[record["config"]["key"]] = record
        job["config_out"] = self.render(record, cover=False)
        job["status"] = "completed"
        events.append(("model_install_complete", {**self._install_event(job, at), "key": record["config"]["key"],
                                                  "total_bytes": job["total_bytes"]}))

    def _register_model(self, job: dict) -> dict:
        plan, src, config_in = job["_plan"], job["source"], job["config_in"]
        local_path = job["local_path"]
        info = plan.get("model")
        if not info:
            raise _Failure("InvalidModelConfigException", f"Unable to determine model type for {local_path}")
        basename = posixpath.basename(local_path)
        is_file = plan["kind"] == "file"
        stem, suffix = posixpath.splitext(basename) if is_file else (basename, "")
        name = config_in.get("name") or stem
        merged = {**info, **{k: v for k, v in config_in.items() if v is not None and k in ("base", "type")}}
        if job["inplace"]:
            absolute = local_path
        else:
            filename = (name + suffix) if config_in.get("name") else basename
            absolute = posixpath.join(self.models_dir, merged["base"], merged["type"], filename)
        relative = absolute[len(self.models_dir) + 1:] if absolute.startswith(self.models_dir + "/") else absolute
        if any(r["config"]["path"] == relative for r in self.records.values()):
            if not is_file and not job["inplace"]:
                raise _Failure("DuplicateModelException",
                               f"A model named {basename} is already installed at {absolute}")
            raise _Failure("DuplicateModelException", f"A model with path '{relative}' is already installed")
        if config_in.get("key") and config_in["key"] in self.records:
            raise _Failure("DuplicateModelException", f"A model with key '{config_in['key']}' is already installed")
        size = self._size(local_path) if src["type"] == "local" else plan.get("size", 0)
        record = self._build_record(info, name=name, path=relative, size=size, source=_source_text(src),
                                    source_type=config_in["source_type"], description=config_in.get("description"),
                                    hash_=config_in.get("hash"), key=config_in.get("key"),
                                    source_api_response=config_in.get("source_api_response"), overrides=config_in)
        if not job["inplace"]:
            if src["type"] == "local":
                if is_file:
                    self._place(absolute, size, info)
                else:
                    prefix = local_path + "/"
                    layout = [(p[len(prefix):], n["size"]) for p, n in self.files.items()
                              if p.startswith(prefix) and n["kind"] == "file"]
                    self._place(absolute, 0, info, layout)
            else:
                self._place(absolute, size, info, None if is_file else plan["layout"])
        return record

    def _fail_install(self, job: dict, failure: _Failure, at: float, events: list, *, where: str) -> None:
        job["status"] = "error"
        job["error_reason"] = failure.kind
        job["error"] = failure.message
        job["error_traceback"] = _traceback(failure.kind, failure.message, where)
        events.append(("model_install_error", {**self._install_event(job, at), "error_type": failure.kind,
                                               "error": failure.message}))

    def cancel_install(self, job_id: int) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self._install(job_id, status=415)
            # upstream's `job.cancel()` marks the job whatever its status, a finished one included
            # (its model stays installed); only a job still under way has anything to stop.
            if job["status"] not in JOB_DONE:
                at = self.clock.now()
                for part in self._parts(job):
                    if part["status"] in ("waiting", "running"):
                        self._cancel_download(part, at, events)
                events.append(("model_install_cancelled", self._install_event(job, at)))
            job["status"] = "cancelled"
        for name, payload in events:
            self.emit(name, payload)

    def _install(self, job_id: int, *, status: int = 404) -> dict:
        for job in self.installs:
            if job["id"] == job_id:
                return job
        raise ModelError(status, f"No job with id {job_id} known")

    def install_job(self, job_id: int) -> dict:
        with self._lock:
            return self.render_install(self._install(job_id))

    def install_jobs(self) -> list[dict]:
        with self._lock:
            return [self.render_install(job) for job in self.installs]

    def prune_installs(self) -> None:
        with self._lock:
            self.installs = [job for job in self.installs if job["status"] not in JOB_DONE]
            kept = {i for job in self.installs for i in job["_parts"]}
            self.pruned_parts = {i: part for i, part in self.pruned_parts.items() if i in kept}

    def render_install(self, job: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}
        out["download_parts"] = [self.render_download(part) for part in self._parts(job)]
        return out

    def _install_event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "id": job["id"], "source": copy.deepcopy(job["source"])}

    def _install_progress_event(self, job: dict, at: float) -> dict:
        parts = [{"url": p["source"], "local_path": str(p["download_path"]), "bytes": p["bytes"],
                  "total_bytes": p["total_bytes"]} for p in self._parts(job)]
        return {**self._install_event(job, at), "local_path": job["local_path"], "bytes": job["bytes"],
                "total_bytes": job["total_bytes"], "parts": parts}

    # -- downloads -----------------------------------------------------------------------------

    def download(self, source: str, dest: str, priority: int = 10, access_token: str | None = None) -> dict:
        with self._lock:
            when = self._schedule(self.clock.now(), remote=True)
            job = self._new_download(source, dest, access_token=access_token, when=when, install_id=None,
                                     resolved=self._resolve_url(source), priority=priority)
            return self.render_download(job)

    def _download_steps(self, job: dict) -> list[tuple[float, t.Callable[[float, list], None]]]:
        if job["status"] == "waiting":
            return [(job["_start"], lambda at, ev: self._begin_standalone(job, at, ev))]
        if job["status"] == "running":
            step = job["_step"] + 1
            at = job["_start"] + (job["_end"] - job["_start"]) * step / job["_steps"]
            return [(at, lambda at, ev: self._step_standalone(job, step, at, ev))]
        return []

    def _begin_standalone(self, job: dict, at: float, events: list) -> None:
        failure = self._download_failure(job)
        if failure is not None:
            self._fail_download(job, failure, at, events)
            return
        self._start_download(job, at, events)

    def _step_standalone(self, job: dict, step: int, at: float, events: list) -> None:
        job["_step"] = step
        job["bytes"] = job["total_bytes"] * step // job["_steps"]
        events.append(("download_progress", self._download_event(job, at)))
        if step >= job["_steps"]:
            self._complete_download(job, at, events, materialize=True)

    def _target_path(self, job: dict) -> str:
        """Where a download lands: `dest` itself, or the file's name inside `dest` when `dest` is a
        directory (for an install's parts, the installer decides which)."""
        dest = posixpath.normpath(job["dest"])
        into_dir = job["_into_dir"] if job["_install"] is not None else self._is_dir(dest)
        if not into_dir:
            return dest
        resolved = job["_resolved"] or {}
        return posixpath.join(dest, resolved.get("filename") or posixpath.basename(job["source"].split("?")[0]))

    def _download_failure(self, job: dict) -> tuple[str, str] | None:
        """Why a download fails when it starts, as (error_type, message) — or None."""
        resolved = job["_resolved"]
        if resolved is None:
            return ("HTTPError(Not Found)", "Not Found")
        if resolved.get("gated") and not (job["access_token"] or self.hf_token):
            return ("HTTPError(Unauthorized)", "Unauthorized")
        if job["_install"] is None:
            target = self._target_path(job)
            if target in self.files:
                message = f"[Errno 17] File {target} exists"
                return (f"OSError({message})", message)
        return None

    def _start_download(self, job: dict, at: float, events: list) -> None:
        resolved = job["_resolved"]
        job["status"] = "running"
        job["job_started"] = _iso(at)
        job["content_type"] = resolved.get("content_type", "application/octet-stream")
        job["total_bytes"] = resolved["size"]
        job["download_path"] = self._target_path(job)
        events.append(("download_started", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"]}))

    def _complete_download(self, job: dict, at: float, events: list, *, materialize: bool) -> None:
        job["bytes"] = job["total_bytes"]
        job["status"] = "completed"
        job["job_ended"] = _iso(at)
        if materialize:
            self._place(job["download_path"], job["total_bytes"], (job["_resolved"] or {}).get("model"))
        events.append(("download_complete", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"],
                                             "total_bytes": job["total_bytes"]}))

    def _fail_download(self, job: dict, failure: tuple[str, str], at: float, events: list) -> None:
        error_type, message = failure
        job["status"] = "error"
        job["error_type"] = error_type
        job["error"] = _traceback(error_type.split("(", 1)[0], message, "download/download_default.py")
        job["job_started"] = job["job_started"] or _iso(at)
        job["job_ended"] = _iso(at)
        events.append(("download_error", {"timestamp": int(at), "source": job["source"], "error_type": error_type,
                                          "error": job["error"]}))

    def _cancel_download(self, job: dict, at: float, events: list) -> None:
        job["status"] = "cancelled"
        job["job_ended"] = _iso(at)
        events.append(("download_cancelled", {"timestamp": int(at), "source": job["source"]}))

    def _download_event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "source": job["source"], "download_path": job["download_path"],
                "current_bytes": job["bytes"], "total_bytes": job["total_bytes"]}

    def render_download(self, job: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}

    def download_job(self, job_id: int) -> dict:
        with self._lock:
            job = self.downloads.get(job_id)
            if job is None:
                raise ModelError(404, "Unrecognized job")
            return self.render_download(job)

    def download_jobs(self) -> list[dict]:
        with self._lock:
            return [self.render_download(job) for job in self.downloads.values()]

    def cancel_download(self, job_id: int) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self.downloads.get(job_id)
            if job is None:
                raise ModelError(404, "Unrecognized job")
            self._cancel_with_install(job, events)
        for name, payload in events:
            self.emit(name, payload)

    def cancel_all_downloads(self) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            for job in list(self.downloads.values()):
                self._cancel_with_install(job, events)
        for name, payload in events:
            self.emit(name, payload)

    def _cancel_with_install(self, job: dict, events: list) -> None:
        if job["status"] not in ("waiting", "running"):
            return
        at = self.clock.now()
        self._cancel_download(job, at, events)
        install = next((j for j in self.installs if j["id"] == job["_install"]), None)
        if install is not None and install["status"] not in JOB_DONE:
            # a multi-file download stops as a whole, and its install with it
            for part in self._parts(install):
                if part["status"] in ("waiting", "running"):
                    self._cancel_download(part, at, events)
            install["status"] = "cancelled"
            events.append(("model_install_cancelled", self._install_event(install, at)))

    def prune_downloads(self) -> None:
        with self._lock:
            for i, job in self.downloads.items():
                if job["status"] in JOB_DONE and job["_install"] is not None:
                    self.pruned_parts[i] = job
            self.downloads = {i: job for i, job in self.downloads.items() if job["status"] not in JOB_DONE}


class _Catalogue:
    """The fixtures, read once per directory: the starter models, the virtual disk's initial files,
    and the virtual web (HuggingFace repos and other URLs, the starter sources added)."""

    def __init__(self, fixtures_dir: Path) -> None:
        def fixture(name: str) -> t.Any:
            with open(fixtures_dir / name, encoding="utf-8") as handle:
                return yaml.safe_load(handle)

        self.starter = fixture("starter_models.yaml")
        tree = fixture("model_files.yaml")
        web = fixture("hugging_face.yaml")
        self.root = posixpath.normpath(tree["root"])
        self.models_dir = posixpath.normpath(tree["models_dir"])
        self.files = ModelManager._file_tree(tree)
        self.repos: dict[str, dict] = {}  # lower-cased repo id → {"id", "gated", "files", "models"}
        for repo_id, repo in (web.get("repos") or {}).items():
            self.repos[repo_id.lower()] = {"id": repo_id, "gated": bool(repo.get("gated")),
                                           "files": [dict(f) for f in repo.get("files") or []],
                                           "models": dict(repo.get("models") or {})}
        self.urls: dict[str, dict] = {url: dict(entry) for url, entry in (web.get("urls") or {}).items()}
        self._add_starter_sources()

    def _add_starter_sources(self) -> None:
        """Make every starter model source installable: a derived repo or URL for each."""
        entries: dict[str, dict] = {}

        def collect(entry: dict) -> None:
            entries.setdefault(entry["source"], entry)
            for dep in entry.get("dependencies") or []:
                collect(dep)

        for entry in self.starter["starter_models"]:
            collect(entry)
        for bundle in self.starter["starter_bundles"].values():
            for entry in bundle["models"]:
                collect(entry)
        fixture_repos = set(self.repos)
        for source, entry in entries.items():
            size = (_size_from_description(entry.get("description", ""))
                    or DEFAULT_SIZES.get(entry["type"], 1_000_000_000))
            if re.match(r"^https?://", source):
                filename = posixpath.basename(source.split("?")[0])
                model = _starter_info(entry, filename, single_file=True)
                match = HF_RESOLVE_RE.match(source)
                if match:
                    self._synthesize(match.group(1), match.group(2), size, model, fixture_repos, folder=False)
                elif source not in self.urls:
                    self.urls[source] = {"filename": filename, "size": size, "model": model}
                continue
            match = HF_SOURCE_RE.match(source)
            if not match:
                continue
            repo_id, subfolder = match.group(1), match.group(3) or ""
            single = subfolder.endswith(WEIGHT_SUFFIXES)
            model = _starter_info(entry, posixpath.basename(subfolder) or repo_id.split("/")[1], single_file=single)
            self._synthesize(repo_id, subfolder, size, model, fixture_repos, folder=not single)

    def _synthesize(self, repo_id: str, path: str, size: int, model: dict, fixture_repos: set[str],
                    *, folder: bool) -> None:
        if repo_id.lower() in fixture_repos:
            return
        repo = self.repos.setdefault(repo_id.lower(), {"id": repo_id, "gated": False, "files": [], "models": {}})
        if folder:
            layout = _folder_layout(model, size)
            new = [{"path": posixpath.join(path, p) if path else p, "size": s} for p, s in layout]
        else:
            new = [{"path": path, "size": size}]
        known = {f["path"] for f in repo["files"]}
        repo["files"].extend(f for f in new if f["path"] not in known)
        repo["models"].setdefault(path, model)



@functools.lru_cache(maxsize=8)
def _catalogue(fixtures_dir: str) -> _Catalogue:
    return _Catalogue(Path(fixtures_dir))


# -- helpers ---------------------------------------------------------------------------------------

def _settings_kind(cls: str) -> str | None:
    if cls.startswith("Main"):
        return "main"
    if cls.startswith("LoRA"):
        return "lora"
    if cls.startswith(("ControlNet", "ControlLoRA", "T2IAdapter")):
        return "control"
    return None


def _validation_text(cls: str, field: str, value: t.Any, kind: str, message: str) -> str:
    """pydantic's ValidationError text, which the update route puts in its 409."""
    return (f"1 validation error for {cls}\n{field}\n  {message} [type={kind}, input_value={value!r}, "
            f"input_type={type(value).__name__}]")


def _source_text(src: dict) -> str:
    """`str(source)` of upstream's LocalModelSource / HFModelSource / URLModelSource."""
    if src["type"] == "local":
        return src["path"]
    if src["type"] == "url":
        return src["url"]
    text = src["repo_id"]
    if src.get("variant"):
        text += f":{src['variant']}"
    if src.get("subfolder"):
        text += f"::{src['subfolder']}"
    return text


def _starter_info(entry: dict, filename: str, *, single_file: bool) -> dict:
    """What the probe would find in a starter model's download, from its catalogue entry."""
    model_type, base = entry["type"], entry["base"]
    model_format = entry.get("format")
    lowered = filename.lower()
    if not model_format:
        if single_file:
            if model_type == "main":
                model_format = ("gguf_quantized" if lowered.endswith(".gguf")
                                else "bnb_quantized_nf4b" if "bnb_nf4" in lowered else "checkpoint")
            elif model_type in ("lora", "control_lora"):
                model_format = "lycoris"
            elif model_type == "embedding":
                model_format = "embedding_file"
            else:
                model_format = "checkpoint"
        else:
            model_format = {"t5_encoder": "t5_encoder", "embedding": "embedding_folder",
                            "ip_adapter": "invokeai"}.get(model_type, "diffusers")
    info: dict[str, t.Any] = {"base": base, "type": model_type, "format": model_format}
    if model_type == "main":
        info["variant"] = "inpaint" if "inpaint" in entry["name"].lower() or "inpaint" in lowered else "normal"
    return info


def _folder_layout(model: dict, size: int) -> list[tuple[str, int]]:
    """The files of a derived multi-file model: its config and one weights file holding the size."""
    if model["type"] == "main":
        return _diffusers_layout(model["base"], size)
    weights = "diffusion_pytorch_model.safetensors" if model["type"] in ("vae", "controlnet", "t2i_adapter",
                                                                          "control_lora") else "model.safetensors"
    return [("config.json", 612), (weights, max(size - 612, 0))]


def _diffusers_layout(base: str, size: int) -> list[tuple[str, int]]:
    denoiser = "transformer" if base in ("sd-3", "flux", "cogview4") else "unet"
    rest = max(size - 2000, 0)
    return [("model_index.json", 541), ("scheduler/scheduler_config.json", 308), (f"{denoiser}/config.json", 743),
            (f"{denoiser}/diffusion_pytorch_model.safetensors", rest * 4 // 5), ("vae/config.json", 408),
            ("vae/diffusion_pytorch_model.safetensors", rest - rest * 4 // 5)]
