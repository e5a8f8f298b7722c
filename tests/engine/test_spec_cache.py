"""The compiled-spec cache: a warm start reads what connexion made before, and the cache can never
serve something stale, broken or not its own."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from mockserver.engine import spec_cache
from mockserver.engine.spec import HTTP_METHODS, MissingHandler, load_spec

REPO = Path(__file__).resolve().parents[2]
TINY_SPEC = Path(__file__).parent / "data" / "tiny.yaml"


@functools.cache
def tiny_operation_ids() -> frozenset[str]:
    paths = yaml.safe_load(TINY_SPEC.read_text(encoding="utf-8"))["paths"]
    return frozenset(item[method]["operationId"] for item in paths.values() for method in HTTP_METHODS
                     if method in item)


def resolve(operation_id: str) -> t.Callable[..., t.Any]:
    """A handler for each of tiny.yaml's operations (they are never called here)."""
    if operation_id not in tiny_operation_ids():
        raise MissingHandler(f"no handler for operationId {operation_id!r}")
    return lambda request: None


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(directory))
    monkeypatch.delenv("MOCKSERVER_CACHE", raising=False)
    return directory


def summary(path: Path) -> list[tuple]:
    loaded = load_spec(path, resolve)
    return [(op.operation_id, op.method, op.path, [(p.name, p.location, p.required) for p in op.parameters],
             op.body is not None, op.secured, op.success_status) for op in loaded.operations]


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pickle")) if directory.exists() else []


def test_a_warm_load_compiles_the_same_operations_as_a_cold_one(cache: Path) -> None:
    cold = summary(TINY_SPEC)
    assert len(entries(cache)) == 1
    assert summary(TINY_SPEC) == cold
    [listing] = [op for op in cold if op[0] == "listItems"]
    assert listing[1:3] == ("GET", "/tiny/items")
    assert [name for name, *_ in listing[3]] == ["limit", "order", "tags", "starred", "X-Trace"]


def test_a_warm_start_never_imports_connexion(cache: Path) -> None:
    script = ("import sys; from mockserver.app import ServerConfig, build_server; "
              "build_server(ServerConfig(apis=['openai_usage'], seed=1)); print('connexion' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "MOCKSERVER_CACHE_DIR": str(cache)}

    def imports_connexion() -> str:
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert imports_connexion() == "True"  # cold: connexion validates and resolves the documents
    assert imports_connexion() == "False"


def test_a_corrupt_entry_is_ignored_and_written_again(cache: Path) -> None:
    cold = summary(TINY_SPEC)
    [entry] = entries(cache)
    for garbage in (b"", b"not a pickle", entry.read_bytes()[: len(entry.read_bytes()) // 2]):
        entry.write_bytes(garbage)
        assert summary(TINY_SPEC) == cold
        assert entry.stat().st_size > len(garbage)


def test_an_edited_spec_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    summary(spec)
    spec.write_text(spec.read_text(encoding="utf-8").replace("operationId: countItems", "operationId: howMany"),
                    encoding="utf-8")
    with pytest.raises(MissingHandler, match="howMany"):
        load_spec(spec, resolve)
    assert len(entries(cache)) == 2


def test_turned_off_nothing_is_written(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_CACHE", "off")
    assert spec_cache.cache_dir() is None
    summary(TINY_SPEC)
    assert not cache.exists()


def test_an_unwritable_cache_only_costs_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(blocker / "cache"))
    assert summary(TINY_SPEC)
    assert list(tmp_path.iterdir()) == [blocker]


def test_the_default_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOCKSERVER_CACHE_DIR", raising=False)
    monkeypatch.delenv("MOCKSERVER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert spec_cache.cache_dir() == tmp_path / "mockserver"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert spec_cache.cache_dir() == tmp_path / ".cache" / "mockserver"


def test_a_spec_referring_to_other_files_is_not_cached(cache: Path, tmp_path: Path) -> None:
    (tmp_path / "schemas.yaml").write_text("Item:\n  type: object\n", encoding="utf-8")
    spec = tmp_path / "split.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: split, version: '1'}\npaths:\n  /items:\n    get:\n"
        "      operationId: listItems\n      responses:\n        '200':\n          description: ok\n"
        "          content:\n            application/json:\n              schema:\n"
        "                $ref: 'schemas.yaml#/Item'\n", encoding="utf-8")
    assert [op.operation_id for op in load_spec(spec, resolve).operations] == ["listItems"]
    assert entries(cache) == []


def test_an_invalid_document_is_refused_cold_and_not_cached(cache: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: {title: bad}\npaths: {}\n", encoding="utf-8")  # info.version missing
    for _ in range(2):
        with pytest.raises(spec_cache.InvalidSpec):
            load_spec(spec, resolve)
    assert entries(cache) == []
