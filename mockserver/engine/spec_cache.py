"""OpenAPI documents as connexion loads them, cached on disk by content.

Loading a spec through connexion (parse the YAML, validate it against the OpenAPI 3.0 schema,
resolve its references) was most of a server's start-up: about a second for InvokeAI's 280 kB spec,
plus ~300 ms to import connexion at all. What it yields depends only on the document's bytes and on
the code that reads them, so the part the engine uses (the raw document, the served base path,
each operation's resolved parameters) is pickled into the user's cache directory under a key made
of the spec's bytes, the mockserver and connexion versions and this module's format. A warm start
reads that file in milliseconds and never imports connexion.

Where: `$MOCKSERVER_CACHE_DIR`, else `$XDG_CACHE_HOME/mockserver`, else `~/.cache/mockserver`.
`MOCKSERVER_CACHE=off` turns it off; deleting the directory clears it. Concurrent starts are safe (each
entry is written to a temporary file and renamed into place); an entry that cannot be read, for any
reason, is ignored and written again. A document with references into other files is not cached
(its key would not cover them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

CACHE_FORMAT = 1  # bump when what is stored, or how it is computed, changes


class InvalidSpec(ValueError):
    """The document is not a valid OpenAPI 3.0 document (connexion's message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class CompiledDocument:
    raw: dict[str, t.Any]  # the document as written, references kept
    base_path: str  # the path of its first server URL, as connexion reads it ("" when none)
    # (path template, method) -> the operation's parameters with references resolved, the path
    # item's own parameters after the operation's (connexion's order)
    parameters: dict[tuple[str, str], list[dict[str, t.Any]]]


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is turned off."""
    if os.environ.get("MOCKSERVER_CACHE", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    explicit = os.environ.get("MOCKSERVER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mockserver"


def load_document(path: Path | str) -> CompiledDocument:
    """The compiled document, from the cache when an entry for these exact bytes exists.
    Raises FileNotFoundError, or InvalidSpec for a document connexion refuses."""
    data = Path(path).read_bytes()
    directory = cache_dir()
    if directory is None:
        return _compile(path)
    entry = directory / f"{_key(data)}.pickle"
    cached = _read(entry)
    if cached is not None:
        return cached
    document = _compile(path)
    if _self_contained(document.raw) and Path(path).read_bytes() == data:  # unchanged while compiling
        _write(entry, document)
    return document


def _key(data: bytes) -> str:
    digest = hashlib.sha256(data)
    digest.update(f"\0{CACHE_FORMAT}\0{versions()}\0{sys.version_info[:2]}".encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def versions() -> str:
    """The installed versions a compiled document depends on (part of every cache key)."""
    from importlib import metadata

    found = []
    for name in ("mockserver", "connexion"):
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=?")
    return ",".join(found)


def _read(entry: Path) -> CompiledDocument | None:
    stored = read_entry(entry)
    if not (isinstance(stored, tuple) and len(stored) == 4 and stored[0] == CACHE_FORMAT):
        return None
    _, raw, base_path, parameters = stored
    if not (isinstance(raw, dict) and isinstance(base_path, str) and isinstance(parameters, dict)):
        return None
    return CompiledDocument(raw, base_path, parameters)


def _write(entry: Path, document: CompiledDocument) -> None:
    write_entry(entry, (CACHE_FORMAT, document.raw, document.base_path, document.parameters))


def read_entry(entry: Path) -> t.Any:
    """A cache entry's pickled value, or None: a missing, truncated, foreign or stale file is
    just a miss (the caller checks the value's shape)."""
    try:
        with open(entry, "rb") as handle:
            return pickle.load(handle)
    except Exception:  # noqa: BLE001 - any unreadable entry is a miss
        return None


def write_entry(entry: Path, value: t.Any) -> None:
    """Best effort: a read-only or full disk just means no cache."""
    temporary = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=entry.stem[:16], suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)  # atomic: a concurrent reader sees the old file or the whole new one
        temporary = None
    except OSError:
        pass
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _compile(path: Path | str) -> CompiledDocument:
    import warnings

    with warnings.catch_warnings():
        # connexion imports starlette's deprecated test client at import time (a
        # StarletteDeprecationWarning, which is a UserWarning, when httpx2 is not installed).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from connexion.exceptions import InvalidSpecification
        from connexion.spec import Specification

    from mockserver.engine import openapi

    try:
        specification = Specification.load(str(path))
    except InvalidSpecification as error:
        raise InvalidSpec(error.message) from error
    parameters: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
    for template, method, _ in openapi.operations(specification.raw):
        operation = specification.get_operation(template, method)
        parameters[(template, method)] = [*operation.get("parameters", []),
                                          *specification.get_path_params(template)]
    return CompiledDocument(specification.raw, specification.base_path, parameters)


def _self_contained(value: t.Any) -> bool:
    """No `$ref` leaves the document."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True
