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


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis now and then draws a constant found in the source of the local modules loaded so
    far (every `mockserver` module is local: the package is installed editable). The packs load
    when first used, so which modules a worker has loaded depends on the tests it ran before, and a
    derandomized test drew different data in the suite than alone: a stateful run that reached
    every follow-up alone reached none of the queue's in the suite. Here the local pool is empty,
    so a test draws the same data wherever it runs (Hypothesis's own list of constants stays).
    Hypothesis has no setting for this; the assert flags an upgrade that moves the function."""
    from hypothesis.internal.conjecture import providers

    assert callable(providers._get_local_constants), "hypothesis moved _get_local_constants"
    none = providers.Constants()
    providers._get_local_constants = lambda: none


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest) -> t.Iterator[str]:
    """Base URL of a `mockserver serve` process, one per test module, started with the module's
    `SERVE_ARGS` (a sequence of command-line arguments after `serve`)."""
    args = getattr(request.module, "SERVE_ARGS", None)
    if args is None:
        raise pytest.UsageError(f"{request.module.__name__} uses `live_server` but defines no SERVE_ARGS")
    with serve(*args) as base:
        yield base


# The order modules start in under `make test` (pytest-xdist hands out whole modules, `--dist
# loadfile`, in collection order: `--no-loadscope-reorder` in pyproject.toml). Seconds on one worker
# of a 2-core machine at the quick depth, with the CPU cores the module keeps busy meanwhile (its own
# process, the servers, browser and CLIs it starts).
#
# Most modules keep one core busy. The browser test keeps more than one (Chromium, the mock, pytest)
# for the longest time; the modules that mostly wait (on a CLI's fixed delays, a server's deadlines,
# clocks that run in real time) keep well under one. So the browser starts first while the waiting
# modules run one after another on the other workers (`make test` runs one more worker than there
# are cores): together they fill the cores, where a waiting module beside one-core modules only
# leaves a core idle. The long modules follow, so that none starts late and keeps one worker running
# alone at the end; the short ones fill in last.
START_ORDER = (
    "clients/test_invokeai_web_ui.py",  # 45, 1.3 cores
    # beside it, on the other workers (about 45 s together):
    "clients/test_chutes_cli.py",  # 20, 0.55: the CLI asks for a build log 5 s after its upload
    "engine/test_slow_clients.py",  # 9, 0.05: waits out the server's deadlines
    "packs/chutes/test_instances.py",  # 8, 0.1: instance logs stream in real time
    "clients/test_chutes_cli_warmup.py",  # 6, 0.3
    # then the longest of the rest:
    "contract_runner/test_live_packs.py",  # 30
    "contract/test_schemathesis_invokeai.py",  # 20
    "contract/test_contract_target.py",  # 14
    "engine/test_install_layouts.py",  # 12
    "durability/test_crash_durability.py",  # 12
    "clients/test_generated_clients.py",  # 10
    "contract_runner/test_broken_server.py",  # 9, 0.3
    "contract/test_schemathesis_control.py",  # 8
    "dashboard/test_dashboard_browser.py",  # 7
    "contract/test_schemathesis_chutes.py",  # 6
    "clients/test_invokeai_socketio.py",  # 5, 0.05: the realtime queue as recorded
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of modules whose example counts follow `MOCKSERVER_TEST_DEPTH` (they import from
    `tests/depth.py`) carry the `depth` marker: `make test-deep` runs just those, deep. Modules
    start in START_ORDER, then the rest in collection order; each module's tests in their own order."""
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
    return START_ORDER.index(relative) if relative in START_ORDER else len(START_ORDER)
