"""Shared test fixtures. Kept small: nothing here runs unless a test asks for it."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest

# `tests/` holds helpers (`live.py`) that test modules in sub-directories import as `live`.
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from live import serve  # noqa: E402


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest) -> t.Iterator[str]:
    """Base URL of a `mockserver serve` process, one per test module, started with the module's
    `SERVE_ARGS` (a sequence of command-line arguments after `serve`)."""
    args = getattr(request.module, "SERVE_ARGS", None)
    if args is None:
        raise pytest.UsageError(f"{request.module.__name__} uses `live_server` but defines no SERVE_ARGS")
    with serve(*args) as base:
        yield base


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of modules whose example counts follow `MOCKSERVER_TEST_DEPTH` (they import from
    `tests/depth.py`) carry the `depth` marker: `make test-deep` runs just those, deep."""
    import depth

    for item in items:
        module = getattr(item, "module", None)
        if module is not None and any(value is depth or getattr(value, "__module__", None) == "depth"
                                      for value in vars(module).values()):
            item.add_marker(pytest.mark.depth)
