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


# The modules that take longest in `make test` (seconds on one worker of a 2-core machine, quick
# depth), longest first. pytest-xdist hands out whole modules (`--dist loadfile`) in the order they
# are collected (`--no-loadscope-reorder` in pyproject.toml: its own order, most tests first, started
# the web UI's few long tests halfway and left one worker waiting on a long module at the end).
# Started first, the short modules fill in around them and both workers finish together.
LONGEST_FIRST = (
    "clients/test_invokeai_web_ui.py",  # 45
    "contract_runner/test_live_packs.py",  # 32
    "contract/test_schemathesis_invokeai.py",  # 25
    "clients/test_chutes_cli.py",  # 17
    "contract/test_contract_target.py",  # 15
    "engine/test_install_layouts.py",  # 11
    "contract/test_schemathesis_chutes.py",  # 10
    "contract/test_schemathesis_control.py",  # 10
    "contract_runner/test_broken_server.py",  # 10
    "durability/test_crash_durability.py",  # 9
    "engine/test_slow_clients.py",  # 9
    "dashboard/test_dashboard_browser.py",  # 9
    "clients/test_generated_clients.py",  # 9
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of modules whose example counts follow `MOCKSERVER_TEST_DEPTH` (they import from
    `tests/depth.py`) carry the `depth` marker: `make test-deep` runs just those, deep. The longest
    modules go first, each module's tests in their own order (see LONGEST_FIRST)."""
    import depth

    for item in items:
        module = getattr(item, "module", None)
        if module is not None and any(value is depth or getattr(value, "__module__", None) == "depth"
                                      for value in vars(module).values()):
            item.add_marker(pytest.mark.depth)
    items.sort(key=_start_rank)  # stable: the other modules keep the collection's order


def _start_rank(item: pytest.Item) -> int:
    path = Path(str(item.path)).resolve()
    relative = path.relative_to(TESTS).as_posix() if path.is_relative_to(TESTS) else ""
    return LONGEST_FIRST.index(relative) if relative in LONGEST_FIRST else len(LONGEST_FIRST)
