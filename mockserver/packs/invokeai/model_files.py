"""The virtual file system the model manager scans, installs into and downloads to: a dict of
normalized path → {"kind": "file" or "dir", "size", "model"}, where `model` is what InvokeAI's probe
would find there. Seeded from the `model_files.yaml` fixture; the real disk is never touched."""

from __future__ import annotations

import posixpath

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".gguf")
MODEL_FOLDER_MARKERS = ("config.json", "model_index.json", "learned_embeds.bin", "pytorch_lora_weights.bin",
                        "image_encoder.txt")


def file_tree(tree: dict) -> dict[str, dict]:
    """The files and folders the `model_files.yaml` fixture lists, the models directory included."""
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
    for path in [tree["models_dir"], *(tree.get("empty_folders") or [])]:
        files.setdefault(posixpath.normpath(path), {"kind": "dir", "size": 0, "model": None})
    return files


def exists(files: dict[str, dict], path: str) -> bool:
    return path in files or is_dir(files, path)


def is_dir(files: dict[str, dict], path: str) -> bool:
    node = files.get(path)
    if node is not None:
        return node["kind"] == "dir"
    prefix = path.rstrip("/") + "/"
    return any(p.startswith(prefix) for p in files)


def size_of(files: dict[str, dict], path: str) -> int:
    """A file's size, or the sum of the files in a folder."""
    node = files.get(path)
    if node is not None and node["kind"] == "file":
        return node["size"]
    prefix = path.rstrip("/") + "/"
    return sum(n["size"] for p, n in files.items() if p.startswith(prefix) and n["kind"] == "file")


def children(files: dict[str, dict], path: str) -> list[str]:
    prefix = path.rstrip("/") + "/"
    names = {p[len(prefix):].split("/", 1)[0] for p in files if p.startswith(prefix)}
    return sorted(prefix + name for name in names)


def is_model_folder(files: dict[str, dict], path: str) -> bool:
    node = files.get(path)
    if node is not None and node.get("model"):
        return True
    return any(posixpath.join(path, marker) in files for marker in MODEL_FOLDER_MARKERS)


def place(files: dict[str, dict], path: str, size: int, model: dict | None,
          layout: list[tuple[str, int]] | None = None) -> None:
    """Put a file (or, with `layout`, a folder of them) into the virtual file system."""
    if layout is None:
        files[path] = {"kind": "file", "size": size, "model": model}
        return
    files[path] = {"kind": "dir", "size": 0, "model": model}
    for relative, part_size in layout:
        files[posixpath.join(path, relative)] = {"kind": "file", "size": part_size, "model": None}


def remove(files: dict[str, dict], path: str) -> None:
    prefix = path.rstrip("/") + "/"
    for p in [p for p in files if p == path or p.startswith(prefix)]:
        del files[p]


def walk(files: dict[str, dict], directory: str, found: list[str], depth: int = 20) -> None:
    """Add to `found` the model files and model folders under `directory` (not looking into a model folder)."""
    if depth < 0:
        return
    for child in children(files, directory):
        if is_dir(files, child):
            if is_model_folder(files, child):
                found.append(child)
            else:
                walk(files, child, found, depth - 1)
        elif child.endswith(WEIGHT_SUFFIXES):
            found.append(child)
