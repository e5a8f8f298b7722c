"""How far the suite's generated tests go.

`make test` runs the quick depth (the default): every generated-data test still runs, with fewer
examples each, so the suite stays a few minutes on a 2-core machine. `make test-deep` (which CI
runs after `make test`) sets `MOCKSERVER_TEST_DEPTH=deep` and runs the generated-data tests with
the full number of examples. A test module asks `examples(quick, deep)` for its count.
"""

from __future__ import annotations

import os

VARIABLE = "MOCKSERVER_TEST_DEPTH"
DEPTHS = ("quick", "deep")


def depth() -> str:
    value = os.environ.get(VARIABLE, "quick")
    if value not in DEPTHS:
        raise ValueError(f"{VARIABLE}={value!r}: expected one of {', '.join(DEPTHS)}")
    return value


def is_deep() -> bool:
    return depth() == "deep"


def examples(quick: int, deep: int) -> int:
    """How many generated examples a test runs at the current depth."""
    return deep if is_deep() else quick


def contract_phases() -> dict[str, dict]:
    """Schemathesis phase settings for the pytest contract modules of the three APIs.

    The coverage phase (boundary values, missing and malformed parameters, methods a path does not
    list) is deterministic and a fifth to a half of each module's time. Deep, every module runs it.
    At the quick depth `mockserver contract` still runs it over every operation of each API: Chutes
    and OpenAI Usage in tests/contract_runner/test_live_packs.py, InvokeAI in
    tests/contract/test_contract_target.py; the modules run the examples and fuzzing phases."""
    return {"coverage": {"enabled": is_deep()}}
