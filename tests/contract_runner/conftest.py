"""Fixtures for `mockserver contract` tests: the deliberately broken app, and running the command."""

from __future__ import annotations

import json
import sys
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from broken_app import SPEC, BrokenApp, NotFoundApp, serve_broken_app  # noqa: E402

from mockserver.cli import main  # noqa: E402


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    json_path: Path | None
    junit_path: Path | None

    @property
    def report(self) -> dict:
        assert self.json_path is not None
        return json.loads(self.json_path.read_text(encoding="utf-8"))

    @property
    def junit(self) -> ET.Element:
        assert self.junit_path is not None
        return ET.parse(self.junit_path).getroot()

    def operation(self, key: str) -> dict:
        """An operation of the JSON report, by operationId or `METHOD /path`."""
        for op in self.report["operations"]:
            if key in (op["operation_id"], f"{op['method']} {op['path']}"):
                return op
        raise KeyError(key)


@pytest.fixture
def contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> t.Callable[..., Outcome]:
    """Run `mockserver contract ARGS` in-process (with --json/--junit into tmp_path unless
    `reports=False`); return its exit status, output and reports."""
    counter = iter(range(1000))

    def run(*args: str, reports: bool = True) -> Outcome:
        n = next(counter)
        json_path = tmp_path / f"report-{n}.json" if reports else None
        junit_path = tmp_path / f"junit-{n}.xml" if reports else None
        extra = ["--json", str(json_path), "--junit", str(junit_path)] if reports else []
        capsys.readouterr()
        code = main(["contract", *args, *extra])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err, json_path, junit_path)

    return run


@pytest.fixture
def broken_server() -> t.Iterator[tuple[str, BrokenApp]]:
    with serve_broken_app() as served:
        yield served


@pytest.fixture
def not_found_server() -> t.Iterator[tuple[str, BrokenApp]]:
    """A server that answers every request 404 `{"detail": "x"}`."""
    with serve_broken_app(NotFoundApp) as served:
        yield served


@pytest.fixture
def broken_spec() -> str:
    return str(SPEC)
