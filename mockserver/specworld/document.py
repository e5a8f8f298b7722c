"""Reading a user's OpenAPI 3.0 or 3.1 document, JSON or YAML, references into other files included.

No connexion here: it validates the whole document against the OpenAPI 3.0 meta-schema and
resolves every reference by copying (that was 160 s and 15.6 GB for GitHub's 10 MB description, and
it refuses 3.1). The document is parsed once, references into other files are bundled into its own
`components`, 3.1 schemas are rewritten into the 3.0 dialect the engine translates, and the result
is kept in the same on-disk cache as the packs' specs (`engine/spec_cache.py`), keyed by the bytes of
every file read.
"""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import yaml

from mockserver.engine.openapi import deref, lookup, operations
from mockserver.engine.spec_cache import CompiledDocument, InvalidSpec, cache_dir, read_entry, versions, write_entry
from mockserver.specworld.schema31 import downgrade_document

FORMAT = 2  # bump when what is cached, or how it is computed or checked, changes


@dataclass
class SpecDocument:
    raw: dict[str, t.Any]  # references local to the document (other files bundled in)
    version: str  # "3.0" or "3.1"
    base_path: str


def load(path: Path) -> SpecDocument:
    """The document at `path`, from the cache when these exact bytes were read before. Raises
    FileNotFoundError, or InvalidSpec for something that is not an OpenAPI 3.0/3.1 document."""
    data = path.read_bytes()
    directory = cache_dir()
    entry = directory / f"world-{_key(data)}.pickle" if directory is not None else None
    if entry is not None:
        cached = _read(entry)
        if cached is not None and cached[1] == _fingerprint(cached[2]):
            document = t.cast(SpecDocument, cached[0])
            _check_structure(document.raw, document.version)  # cheap, and never stale
            return document
    root = _parse(data, path)
    version = _version(root, path)
    _check_structure(root, version)
    files = _Bundler(path.resolve(), root).bundle()
    if version == "3.1":
        downgrade_document(root)
    document = SpecDocument(root, version, _base_path(root))
    if entry is not None:
        write_entry(entry, (document, _fingerprint(files), files))
    return document


def compiled(document: SpecDocument) -> CompiledDocument:
    """What `engine.spec.compile_document` takes: each operation's parameters resolved, the
    path item's own after the operation's (unless the operation overrides them)."""
    raw = document.raw
    parameters: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
    for template, method, operation in operations(raw):
        own = [deref(p, raw) for p in operation.get("parameters") or []]
        names = {(p.get("name"), p.get("in")) for p in own}
        shared = [deref(p, raw) for p in (raw["paths"][template].get("parameters") or [])]
        parameters[(template, method)] = [p for p in own + [s for s in shared if (s.get("name"), s.get("in"))
                                                            not in names] if p.get("name") and p.get("in")]
    return CompiledDocument(raw, document.base_path, parameters)


# ================================================================================= parsing

def _parse(data: bytes, path: Path) -> dict[str, t.Any]:
    try:
        if data.lstrip()[:1] in (b"{", b"["):
            value = orjson.loads(data)
        else:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
            value = yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    except (orjson.JSONDecodeError, yaml.YAMLError) as error:
        raise InvalidSpec(f"{path.name}: not JSON or YAML: {error}") from None
    if not isinstance(value, dict):
        raise InvalidSpec(f"{path.name}: not an OpenAPI document (no top-level object)")
    return value


def _version(root: dict[str, t.Any], path: Path) -> str:
    declared = str(root.get("openapi", ""))
    if declared.startswith("3.0"):
        return "3.0"
    if declared.startswith("3.1"):
        return "3.1"
    if "swagger" in root:
        raise InvalidSpec("Swagger 2.0 is not served: convert it to OpenAPI 3 first")
    raise InvalidSpec(f"'openapi' is {declared or 'missing'}: OpenAPI 3.0 or 3.1 is served")


def _check_structure(root: dict[str, t.Any], version: str) -> None:
    """What the engine relies on, checked in one pass over the paths (validating a 10 MB document
    against the whole OpenAPI meta-schema is what made connexion's start-up take minutes)."""
    info = root.get("info")
    if not isinstance(info, dict):
        raise InvalidSpec("'info' is a required property")
    for key in ("title", "version"):
        if key not in info:
            raise InvalidSpec(f"'{key}' is a required property")
    paths = root.get("paths")
    if paths is None and (version == "3.0" or not ({"components", "webhooks"} & set(root))):
        raise InvalidSpec("'paths' is a required property")
    if paths is not None and not isinstance(paths, dict):
        raise InvalidSpec("'paths' is not an object")
    for template, item in (paths or {}).items():
        if not str(template).startswith("/"):
            raise InvalidSpec(f"path {template!r} does not start with '/'")
        if not isinstance(item, dict):
            raise InvalidSpec(f"path {template!r} is not a Path Item Object")
    for template, method, operation in operations(root):
        if version == "3.0" and not isinstance(operation.get("responses"), dict):
            raise InvalidSpec(f"{method.upper()} {template}: 'responses' is a required property")


def _base_path(root: dict[str, t.Any]) -> str:
    servers = root.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
    for name, variable in ((servers[0].get("variables") or {}).items() if url else ()):
        url = url.replace("{" + name + "}", str((variable or {}).get("default", "")))
    return urlsplit(url).path.rstrip("/")


# ================================================================================= bundling

class _Bundler:
    """Replaces every `$ref` into another file by a local one: a target under
    `#/components/<kind>/<name>` keeps its kind and name (a suffix when taken), any other is
    filed under `components/schemas`. References inside the other file are bundled the same way,
    so a recursive schema across files stays a reference, not an endless copy."""

    def __init__(self, path: Path, root: dict[str, t.Any]) -> None:
        self.root = root
        self.root_path = path
        self.files: dict[Path, t.Any] = {path: root}
        self.placed: dict[tuple[Path, str], str] = {}

    def bundle(self) -> dict[str, str]:
        """Bundle in place; returns the digests of every file read (the cache entry's validity)."""
        self._walk(self.root, self.root_path)
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files}

    def _walk(self, node: t.Any, here: Path) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, dict):
                ref = current.get("$ref")
                if isinstance(ref, str) and (not ref.startswith("#") or here != self.root_path):
                    current["$ref"] = self._local(ref, here)
                stack.extend(v for k, v in current.items() if k != "$ref")
            elif isinstance(current, list):
                stack.extend(current)

    def _local(self, ref: str, here: Path) -> str:
        file_part, _, pointer = ref.partition("#")
        target_file = (here.parent / file_part).resolve() if file_part else here
        if target_file == self.root_path:
            return "#" + pointer
        key = (target_file, pointer)
        if key not in self.placed:
            document = self._file(target_file)
            found, target = lookup(document, "#" + pointer)
            if not found:
                raise InvalidSpec(f"$ref {ref!r} points nowhere")
            kind, name = _component_slot(pointer, target_file)
            components = self.root.setdefault("components", {}).setdefault(kind, {})
            unique = name
            while unique in components:
                unique = f"{unique}_"
            self.placed[key] = f"#/components/{kind}/{unique.replace('~', '~0').replace('/', '~1')}"
            components[unique] = target
            self._walk(target, target_file)
        return self.placed[key]

    def _file(self, path: Path) -> t.Any:
        if path not in self.files:
            try:
                self.files[path] = _parse(path.read_bytes(), path)
            except FileNotFoundError:
                raise InvalidSpec(f"$ref into {path}: no such file") from None
        return self.files[path]


def _component_slot(pointer: str, file: Path) -> tuple[str, str]:
    parts = pointer.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "components":
        return parts[1], parts[2].replace("~1", "/").replace("~0", "~")
    return "schemas", (file.stem + ("_" + "_".join(parts) if pointer.strip("/") else ""))


# ================================================================================= cache

def _key(data: bytes) -> str:
    digest = hashlib.sha256(data)
    digest.update(f"\0world{FORMAT}\0{versions()}".encode())
    return digest.hexdigest()


def _fingerprint(files: t.Any) -> t.Any:
    """The current digests of the files a cached entry was built from (other files may change)."""
    if not isinstance(files, dict):
        return None
    try:
        return {name: hashlib.sha256(Path(name).read_bytes()).hexdigest() for name in files}
    except OSError:
        return None


def _read(entry: Path) -> tuple[t.Any, ...] | None:
    stored = read_entry(entry)
    if isinstance(stored, tuple) and len(stored) == 3 and isinstance(stored[0], SpecDocument):
        return stored
    return None


