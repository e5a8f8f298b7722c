"""Where models come from, and what InvokeAI's installer makes of a model source.

What the mock "downloads" and "probes" comes from fixtures (never the network or the disk), read once per
fixtures directory into a `_Catalogue`:
- `model_files.yaml`: a small virtual file system (scan_folder, local installs, download targets; see
  `model_files`);
- `hugging_face.yaml`: HuggingFace repos and other URLs;
- `starter_models.yaml`: the real starter catalogue, whose sources are installable as well.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import posixpath
import re
import typing as t
from pathlib import Path

from mockserver.engine.resources import read_yaml
from mockserver.packs.invokeai import model_files
from mockserver.packs.invokeai.model_errors import ModelError, _Failure
from mockserver.packs.invokeai.model_files import WEIGHT_SUFFIXES, file_tree

CKPT_URL_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt")  # what HF metadata lists
HF_URL = "https://huggingface.co/{repo}/resolve/main/{path}"
HF_RESOLVE_RE = re.compile(r"^https?://huggingface\.co/([^/]+/[^/]+)/resolve/[^/]+/(.+)$", re.IGNORECASE)
HF_PAGE_RE = re.compile(r"^https?://huggingface\.co/([^/]+/[^/]+)/?$", re.IGNORECASE)


def _hf_page_repo(url: str) -> str:
    """The repo id of a HuggingFace page URL (one `_guess_source` has already matched)."""
    match = HF_PAGE_RE.match(url)
    if match is None:
        raise ValueError(f"not a HuggingFace page: {url}")
    return match.group(1)
# upstream's `_guess_source`: `owner/repo[:variant][:[/]subfolder]`
REPO_VARIANTS = ("", "fp16", "fp32", "onnx", "openvino", "flax")
HF_SOURCE_RE = re.compile(r"^([^/:]+/[^/:]+)(?::(" + "|".join(REPO_VARIANTS) + r")?(?::/?([^:]+))?)?$")

# Typical sizes, for starter models whose description names none.
DEFAULT_SIZES = {"main": 4265380512, "vae": 334643268, "controlnet": 1445157124, "lora": 228459180,
                 "control_lora": 1239255336, "embedding": 24655, "ip_adapter": 98183288, "t2i_adapter": 158046052,
                 "spandrel_image_to_image": 67040989, "clip_vision": 2528373448, "clip_embed": 246144352,
                 "t5_encoder": 9524621312, "siglip": 1756133472, "flux_redux": 129063232,
                 "llava_onevision": 1795781688}


def _size_from_description(text: str) -> int | None:
    match = re.search(r"~\s*(\d+(?:\.\d+)?)\s*(GB|G|MB)\b", text)
    if not match:
        return None
    number = float(match.group(1))
    return int(number * (1_000_000 if match.group(2) == "MB" else 1_000_000_000))


class _Catalogue:
    """The fixtures, read once per directory: the starter models, the virtual disk's initial files,
    and the virtual web (HuggingFace repos and other URLs, the starter sources added)."""

    def __init__(self, fixtures_dir: Path) -> None:
        def fixture(name: str) -> t.Any:
            return read_yaml(fixtures_dir / name)

        self.starter = fixture("starter_models.yaml")
        tree = fixture("model_files.yaml")
        web = fixture("hugging_face.yaml")
        self.root = posixpath.normpath(tree["root"])
        self.models_dir = posixpath.normpath(tree["models_dir"])
        self.files = file_tree(tree)
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

    # -- what the virtual web answers -------------------------------------------------------------

    def repo(self, repo_id: str) -> dict | None:
        return self.repos.get(repo_id.lower()) if repo_id else None

    def resolve_url(self, url: str) -> dict | None:
        """What a GET of `url` would answer: {"filename", "size", "model", "content_type", "gated"}."""
        entry = self.urls.get(url)
        if entry is not None:
            return {"filename": entry["filename"], "size": int(entry["size"]), "model": entry.get("model"),
                    "content_type": entry.get("content_type", "application/octet-stream"), "gated": False}
        match = HF_RESOLVE_RE.match(url)
        if match:
            repo = self.repo(match.group(1))
            if repo is not None:
                for f in repo["files"]:
                    if f["path"] == match.group(2):
                        return {"filename": posixpath.basename(f["path"]), "size": f["size"],
                                "model": repo["models"].get(f["path"]), "content_type": "binary/octet-stream",
                                "gated": repo["gated"]}
        return None

    def remote_plan(self, src: dict) -> tuple[list[dict], dict | None, dict]:
        """The files an HF or URL install downloads, the source metadata, and what the probe will find."""
        if src["type"] == "url" and not HF_PAGE_RE.match(src["url"]):
            resolved = self.resolve_url(src["url"])
            filename = resolved["filename"] if resolved else posixpath.basename(src["url"].split("?")[0]) or "download"
            part = {"url": src["url"], "path": ".", "size": 0, "resolved": resolved}
            plan = {"kind": "file", "model": resolved.get("model") if resolved else None, "layout": None,
                    "top": filename, "size": resolved["size"] if resolved else 0}
            return [part], None, plan
        repo_id = src["repo_id"] if src["type"] == "hf" else _hf_page_repo(src["url"])
        repo = self.repo(repo_id)
        if repo is None:
            raise _Failure("UnknownMetadataException", f"'{repo_id}' not found. See trace for details.")
        metadata = _hf_metadata(repo)
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


@functools.lru_cache(maxsize=8)
def _catalogue(fixtures_dir: str) -> _Catalogue:
    return _Catalogue(Path(fixtures_dir))


def _hf_metadata(repo: dict) -> dict:
    """A HuggingFace repo's metadata: its files, whether it is a diffusers repo, and the API answer."""
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


def _guess_source(files: dict[str, dict], source: str) -> dict:
    """upstream's `_guess_source`: an existing local path, else a HuggingFace repo id, else a URL."""
    stripped = source.strip('"')
    candidate = posixpath.normpath(stripped) if stripped.startswith("/") else None
    if candidate is not None and model_files.exists(files, candidate):
        return {"path": candidate, "inplace": False, "type": "local"}
    match = HF_SOURCE_RE.match(source)
    if match:
        return {"repo_id": match.group(1), "variant": match.group(2) or None, "subfolder": match.group(3) or None,
                "access_token": None, "type": "hf"}
    if re.match(r"^https?://[^/]+", source):
        return {"url": source, "access_token": None, "type": "url"}
    raise ModelError(409, f"Unsupported model source: '{source}'")


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


def starter_listing(starter: dict, installed: list[dict]) -> dict:
    """`get_starter_models`: the starter models and bundles, each marked installed when a model of
    that source, or of that name (or a previous one), base and type is; a dependency is listed
    only while it is missing."""

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

    return {"starter_models": [fill(m) for m in starter["starter_models"]],
            "starter_bundles": {name: {**bundle, "models": [fill(m) for m in bundle["models"]]}
                                for name, bundle in starter["starter_bundles"].items()}}
