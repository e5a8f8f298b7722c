"""An installed mockserver finds its specs and fixtures whatever the install layout.

The wheel is built from a copy of this tree, offline (`pip wheel --no-deps --no-build-isolation`),
then installed as `pip install --target` and as `pip install --prefix` (the layout of `--user`, whose
data files once landed where mockserver did not look) would install it. Each install serves every
pack from outside the checkout, with the checkout nowhere on the path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import typing as t
import urllib.request
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live import _describe, _stop, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("mockserver", "specs", "fixtures", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(dist), str(source))
    [built] = dist.glob("mockserver-*.whl")
    return built


@pytest.fixture(scope="module")
def spec_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compiled-spec cache for both layouts, as a user's cache outlives a reinstall: the
    second install starts from it (the same specs, the same keys), not from connexion again."""
    return tmp_path_factory.mktemp("spec_cache")


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"pip {' '.join(args)}\n{result.stdout}\n{result.stderr}"


def test_the_wheel_carries_every_spec_and_fixture_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("specs", "fixtures"):
        files = [p.relative_to(REPO).as_posix() for p in (REPO / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
        assert files
        missing = [name for name in files if f"mockserver/{name}" not in names]
        assert not missing, f"not in the wheel: {missing}"
    assert not [name for name in names if ".data/" in name], "nothing may go outside the package"


def _site_packages_of_prefix(prefix: Path) -> Path:
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    return Path(purelib)


@pytest.mark.parametrize("layout", ["target", "prefix"])
def test_an_installed_mockserver_serves_every_pack(layout: str, wheel: Path, spec_cache: Path, tmp_path: Path) -> None:
    from importlib import metadata

    before = metadata.distribution("mockserver")._path  # type: ignore[attr-defined]
    where = tmp_path / layout
    # --ignore-installed: without it, `pip install --prefix` uninstalls the mockserver of the running
    # environment (the developer's editable install) before installing into the prefix.
    _pip("install", "--no-deps", "--no-index", "--ignore-installed", f"--{layout}", str(where), str(wheel))
    site = where if layout == "target" else _site_packages_of_prefix(where)
    assert (site / "mockserver" / "specs" / "invokeai.yaml").is_file()
    environment = {k: v for k, v in os.environ.items() if k not in ("MOCKSERVER_HOME", "MOCKSERVER_CONTROL_TOKEN")}
    environment.update(PYTHONPATH=str(site), MOCKSERVER_CACHE_DIR=str(spec_cache), PYTHONUNBUFFERED="1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    found = subprocess.run([sys.executable, "-c", "import mockserver.engine.resources as r; "
                            "print(r.__file__); print(r.specs_dir()); print(r.fixtures_dir())"],
                           capture_output=True, text=True, env=environment, cwd=elsewhere, timeout=60)
    module, specs, fixtures = found.stdout.split()
    assert Path(module).is_relative_to(site), "the installed copy, not the checkout, must be imported"
    assert (Path(specs), Path(fixtures)) == (site / "mockserver" / "specs", site / "mockserver" / "fixtures")

    with _Serving(environment, elsewhere, tmp_path) as base:
        packs = _get(f"{base}/__mock__/health")["packs"]
        assert sorted(pack["name"] for pack in packs) == ["chutes", "invokeai", "openai_usage"]
        costs = _get(f"{base}/v1/organization/costs?start_time=0&limit=1",
                     {"Authorization": "Bearer sk-admin-mockserver"})  # a key from the fixtures
        assert costs["object"] == "page"
        assert len(_get(f"{base}/api/v1/workflows/?category=default&per_page=100")["items"]) >= 10
        chutes = _get(f"{base}/chutes/?include_public=true&limit=100")  # public chutes come from fixtures
        assert chutes["total"] > 0
        # the dashboard's page (package data) and an API's document (from the installed specs)
        with urllib.request.urlopen(f"{base}/__mock__/", timeout=30) as page:
            assert page.headers["content-type"].startswith("text/html") and b"<html" in page.read().lower()
        assert _get(f"{base}/__mock__/docs/openai_usage/openapi.json")["openapi"].startswith("3.")
    assert metadata.distribution("mockserver")._path == before, "the environment's own install must be untouched"


def _get(url: str, headers: t.Mapping[str, str] | None = None) -> t.Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(headers or {})), timeout=30) as response:
        return json.loads(response.read())


class _Serving:
    """`python -m mockserver serve` of the installed copy, on a free port, run from `cwd`."""

    def __init__(self, environment: dict[str, str], cwd: Path, tmp_path: Path) -> None:
        self.port = free_port()
        self.command = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                        "--seed", "1", "--quiet"]
        self.environment, self.cwd = environment, cwd
        self.stdout = tempfile.TemporaryFile(dir=tmp_path)
        self.stderr = tempfile.TemporaryFile(dir=tmp_path)

    def __enter__(self) -> str:
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.environment, stdin=subprocess.DEVNULL,
                                        stdout=self.stdout, stderr=self.stderr, start_new_session=True)
        base = f"http://127.0.0.1:{self.port}"
        for _ in range(1200):
            if self.process.poll() is not None:
                raise AssertionError(_describe("mockserver exited", self.process, self.stdout, self.stderr))
            try:
                _get(f"{base}/__mock__/health")
                return base
            except OSError:
                time.sleep(0.05)
        raise AssertionError(_describe("mockserver never became healthy", self.process, self.stdout, self.stderr))

    def __exit__(self, *exc: object) -> None:
        _stop(self.process)
        self.stdout.close()
        self.stderr.close()
