"""`mockserver contract` against the server the environment names, or against the mock.

To contract-test a real server, name it (and its credentials) in the environment:

    MOCKSERVER_CONTRACT_OPENAI_USAGE_URL=https://api.openai.com
    MOCKSERVER_CONTRACT_OPENAI_USAGE_HEADERS="Authorization: Bearer sk-admin-..."
    MOCKSERVER_CONTRACT_CHUTES_URL=https://api.chutes.ai
    MOCKSERVER_CONTRACT_CHUTES_HOTKEY_SEED=<hex>   (or ..._HEADERS="Authorization: cpk_...")

Unset, the same run goes against the in-process mock with its fixture credentials.
Destructive operations stay off either way; against a real Chutes account, also set
MOCKSERVER_CONTRACT_CHUTES_EXCLUDE=deploy_chute_chutes__post to avoid deployment fees.

A real server always gets 10 fuzzed examples per operation. Against the mock this test proves the
runner's plumbing (the mock's own depth is the schemathesis modules' job), so at the quick depth
(tests/depth.py) it fuzzes 2 per operation: every operation still gets the examples phase, the
whole coverage phase (boundary values, missing and malformed parameters, methods a path does not
list) and fuzzed requests, judged by every check; `MOCKSERVER_TEST_DEPTH=deep` runs 10.
Chutes and OpenAI Usage also get the same runner over every operation against a live mock in
tests/contract_runner/test_live_packs.py, so at the quick depth the in-process run against the mock
is InvokeAI's only (that module samples 9 of its operations); a real server named in the
environment is always run, and the deep run takes all three against the mock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from depth import examples, is_deep

from mockserver.cli import main
from mockserver.packs import AVAILABLE

# Against the mock, run over every operation by tests/contract_runner/test_live_packs.py as well.
RUN_LIVE_ELSEWHERE = ("openai_usage", "chutes")


def _prefix(api: str) -> str:
    return f"MOCKSERVER_CONTRACT_{api.upper()}"


def _real(api: str) -> bool:
    return bool(os.environ.get(f"{_prefix(api)}_URL"))


def targets() -> list[str]:
    """The APIs to run: every real server named, and the mock of the rest at the current depth."""
    return [api for api in AVAILABLE if _real(api) or is_deep() or api not in RUN_LIVE_ELSEWHERE]


def _arguments(api: str, report: Path) -> list[str]:
    prefix = _prefix(api)
    real = _real(api)
    max_examples = 10 if real else examples(quick=2, deep=10)
    args = ["contract", "--api", api, "--max-examples", str(max_examples), "--seed", "7", "--json", str(report)]
    if real:
        args += ["--base-url", os.environ[f"{prefix}_URL"], "--rate", os.environ.get(f"{prefix}_RATE", "5/s")]
    for header in filter(None, os.environ.get(f"{prefix}_HEADERS", "").split("\n")):
        args += ["--header", header]
    if os.environ.get(f"{prefix}_HOTKEY_SEED"):
        args += ["--chutes-hotkey-seed", os.environ[f"{prefix}_HOTKEY_SEED"]]
    for operation in filter(None, os.environ.get(f"{prefix}_EXCLUDE", "").split(",")):
        args += ["--exclude-operation", operation]
    return args


@pytest.mark.parametrize("api", targets())
def test_every_operation_keeps_the_contract(api: str, tmp_path: Path) -> None:
    report = tmp_path / "contract.json"
    status = main(_arguments(api, report))
    failures = [op for op in json.loads(report.read_text())["operations"] if op.get("failures")]
    assert status == 0, json.dumps(failures, indent=1)[:4000]
