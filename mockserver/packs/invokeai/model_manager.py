"""InvokeAI's model manager and model relationships, offline and deterministic.

Installed models are config records in the shape of InvokeAI 6.8's `AnyModelConfig` members.
`ModelManager` holds one server's state (records, model images, `relationships`, the HuggingFace
login, the virtual disk, and the model `jobs`) and the API the handlers in `models.py` call. Its
parts live beside it:
- `model_configs`: the config classes, their fields, and the checks and defaults a record's fields get;
- `model_files`: the virtual file system that models are scanned, installed and downloaded into;
- `model_sources`: the fixtures the mock "downloads" from, and the model sources the installer accepts;
- `model_jobs`: `ModelJobs` (`ModelManager.jobs`), the jobs moved together on the engine clock;
- `model_installs`: the install jobs; `model_downloads`: the download queue they share;
- `model_errors`: `ModelError` (an answer the handlers turn into an HTTP error) and a job's `_Failure`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import posixpath
import random
import re
import threading
import typing as t
import uuid
from pathlib import Path

from mockserver.engine.clock import Clock
from mockserver.engine.copies import deep_copy
from mockserver.packs.invokeai import model_files
from mockserver.packs.invokeai.model_configs import (
    CHECKPOINT_CLASSES,
    CLASSES,
    _default_field,
    changed_config,
    config_class,
)
from mockserver.packs.invokeai.model_errors import ModelError, _Failure
from mockserver.packs.invokeai.model_jobs import ModelJobs
from mockserver.packs.invokeai.model_sources import _catalogue, _diffusers_layout, _hf_metadata, starter_listing

Emit = t.Callable[[str, dict], None]

HF_TOKEN_RE = re.compile(r"^hf_[A-Za-z0-9]{30,}$")  # the mock's rule for a token HuggingFace accepts

CACHE_STATS = {"hits": 0, "misses": 0, "high_watermark": 0, "in_cache": 0, "cleared": 0, "cache_size": 0,
               "loaded_model_sizes": {}}


def _fake_hash(*parts: t.Any) -> str:
    """InvokeAI hashes model files with BLAKE3 (`hashing_algorithm: blake3_single`); the mock derives a
    stable digest of the same shape from what identifies the file."""
    return "blake3:" + hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


class ModelRelationships:
    """`/api/v1/model_relationships`: pairs of related models, each a sorted [key_1, key_2] (the
    table's rows). Callers hold the store's lock."""

    def __init__(self) -> None:
        self.pairs: list[list[str]] = []

    def related(self, key: str) -> list[str]:
        return sorted({b if a == key else a for a, b in self.pairs if key in (a, b)})

    def related_batch(self, keys: list[str]) -> list[str]:
        wanted = set(keys)
        found: set[str] = set()
        for a, b in self.pairs:
            if a in wanted:
                found.add(b)
            if b in wanted:
                found.add(a)
        return sorted(found)

    def relate(self, key_1: str, key_2: str, installed: t.Container[str]) -> None:
        if key_1 == key_2:
            raise ModelError(400, "Cannot relate a model to itself.")
        # The table's foreign keys to models(id) refuse unknown keys (a 500 upstream).
        if key_1 not in installed or key_2 not in installed:
            raise ModelError(400, "Invalid model keys")
        pair = sorted([key_1, key_2])
        if pair not in self.pairs:  # INSERT OR IGNORE
            self.pairs.append(pair)

    def unrelate(self, key_1: str, key_2: str) -> None:
        if key_1 == key_2:
            raise ModelError(400, "Cannot unlink a model from itself.")
        pair = sorted([key_1, key_2])
        self.pairs = [p for p in self.pairs if p != pair]

    def forget(self, key: str) -> None:
        """A model deleted: its rows go (they reference models(id) ON DELETE CASCADE)."""
        self.pairs = [pair for pair in self.pairs if key not in pair]


class ModelManager:
    """The model records, model images, relationships, virtual disk and HuggingFace login of one
    InvokeAI server, and its install and download jobs (`jobs`, which register what they install
    here). JSON-able through `export()` / `load()`."""

    def __init__(self, fixtures_dir: Path, rng: random.Random, clock: Clock, emit: Emit) -> None:
        self.rng = rng
        self.clock = clock
        self._lock = threading.RLock()
        catalogue = _catalogue(str(fixtures_dir))  # read-only, shared by every manager
        self.starter = catalogue.starter
        self.root = catalogue.root
        self.models_dir = catalogue.models_dir
        self._initial_files = catalogue.files
        self.catalogue = catalogue  # and the virtual web: HuggingFace repos and other URLs
        self.jobs = ModelJobs(self, catalogue, rng, clock, emit, self._lock)
        self._reset()

    # -- state --------------------------------------------------------------------------------

    def _reset(self, files: dict[str, dict] | None = None) -> None:
        """Nothing installed; the virtual disk is `files` (the caller's to give), or as shipped."""
        self.records: dict[str, dict] = {}  # key → {"cls", "config", "updated_at"}
        self.images: dict[str, bytes] = {}  # model key → WebP bytes
        self.relationships = ModelRelationships()
        self.hf_token: str | None = None
        self.files: dict[str, dict] = files if files else deep_copy(self._initial_files)
        self.jobs.reset()

    def export(self) -> dict:
        with self._lock:
            return copy.deepcopy({
                **self.durable_records(),
                "images": {k: base64.b64encode(v).decode("ascii") for k, v in self.images.items()},
            })

    def durable_records(self) -> dict:
        """The export without the model images (the caller keeps `self.images` as blobs), live:
        read it under the store's lock."""
        with self._lock:
            jobs = self.jobs.durable_records()
            return {
                "speed": jobs["speed"],
                "records": list(self.records.values()),
                "relationships": self.relationships.pairs,
                "installs": jobs["installs"],
                "downloads": jobs["downloads"],
                "pruned_parts": jobs["pruned_parts"],
                "next_install_id": jobs["next_install_id"],
                "next_download_id": jobs["next_download_id"],
                "hf_token": self.hf_token,
                "files": self.files,
                "now": jobs["now"],
            }

    def load(self, data: dict) -> None:
        data = deep_copy(data)
        with self._lock:
            self._reset(data.get("files"))
            self.records = {r["config"]["key"]: r for r in data.get("records", [])}
            self.images = {k: _bytes_of(v) for k, v in data.get("images", {}).items()}
            self.relationships.pairs = [list(pair) for pair in data.get("relationships", [])]
            self.hf_token = data.get("hf_token")
            self.jobs.load(data)

    # -- scan folder ---------------------------------------------------------------------------

    def scan_folder(self, scan_path: str | None) -> list[dict]:
        with self._lock:
            path = posixpath.normpath(scan_path) if scan_path else ""
            if not scan_path or not path.startswith("/") or not model_files.is_dir(self.files, path):
                raise ModelError(400, f"The search path '{scan_path}' does not exist or is not directory")
            found: list[str] = []
            model_files.walk(self.files, path, found)
            core = posixpath.join(self.models_dir, "core") + "/"
            found = [p for p in found if not p.startswith(core)]
            installed_paths = {self._absolute(r["config"]["path"]) for r in self.records.values()}
            installed_sources = {r["config"]["source"] for r in self.records.values()}
            return [{"path": p, "is_installed": p in installed_paths or p in installed_sources} for p in found]

    def _absolute(self, record_path: str) -> str:
        return record_path if record_path.startswith("/") else posixpath.join(self.models_dir, record_path)

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
            bases: list[str | None] = list(base_models) if base_models else [None]
            for base in bases:
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
            record["config"] = changed_config(record["cls"], record["config"], changes)
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
        while model_files.exists(self.files, new):
            new = f"{stem}_{counter:02d}{suffix}"
            counter += 1
        prefix = old + "/"
        for path in [p for p in self.files if p == old or p.startswith(prefix)]:
            self.files[new + path[len(old):]] = self.files.pop(path)
        config["path"] = new[len(self.models_dir) + 1:]

    def delete_record(self, key: str) -> None:
        """`delete`: the record goes, and its files if they are in the models directory."""
        with self._lock:
            record = self.records.pop(key, None)
            if record is None:
                raise ModelError(404, "model not found")
            path = record["config"]["path"]
            if not path.startswith("/") or path.startswith(self.models_dir + "/"):
                model_files.remove(self.files, self._absolute(path))
            self.relationships.forget(key)

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
            if (any(r["config"]["path"] == dest_relative for r in self.records.values())
                    or model_files.exists(self.files, dest)):
                raise ModelError(409, f"A model named {stem} is already installed at {dest}")
            info = {"base": config["base"], "type": "main", "format": "diffusers",
                    "variant": config.get("variant") or "normal", "prediction_type": config.get("prediction_type")}
            new = self.build_record(info, name=config["name"], path=dest_relative, size=config["file_size"],
                                     source=config["source"], source_type=config["source_type"],
                                     description=config.get("description"), hash_=config["hash"],
                                     source_api_response=config.get("source_api_response"))
            new["config"]["trigger_phrases"] = config.get("trigger_phrases")
            new["config"]["default_settings"] = config.get("default_settings")
            model_files.place(self.files, dest, 0, info, _diffusers_layout(config["base"], config["file_size"]))
            self.records[new["config"]["key"]] = new
            if key in self.images:
                self.images[new["config"]["key"]] = self.images.pop(key)
            self.delete_record(key)
            return self.render(new)

    def build_record(self, info: dict, *, name: str, path: str, size: int, source: str, source_type: str,
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
            config[field] = _default_field(cls, field, info, name)
        return {"cls": cls, "config": config, "updated_at": self.clock.now()}

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

    # -- starter models, HuggingFace, login and cache --------------------------------------------

    def starter_models(self) -> dict:
        with self._lock:
            return starter_listing(self.starter, [r["config"] for r in self.records.values()])

    def hugging_face_models(self, repo_id: str | None) -> dict:
        repo = self.catalogue.repo((repo_id or "").split("::")[0])
        if repo is None:
            raise ModelError(400, "No HuggingFace repository found")
        metadata = _hf_metadata(repo)
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


def _bytes_of(value: str | bytes) -> bytes:
    """Bytes from an export (base64) or from the state database (bytes already)."""
    return value if isinstance(value, bytes) else base64.b64decode(value)
