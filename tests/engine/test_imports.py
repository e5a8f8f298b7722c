"""Importing mockserver does no work: no pack is built, no Faker made, nothing heavy imported until
something asks for it (a user's test process imports the pytest plugin, `mockserver --help`
imports the CLI, `--api openai_usage` should not pay for InvokeAI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_entry_points_and_packs_imports_nothing_heavy() -> None:
    loaded = modules_after(
        "import mockserver.cli, mockserver.app, mockserver.testing, mockserver.pytest_plugin\n"
        "import mockserver.engine.examples, mockserver.engine.fallback\n"
        "import mockserver.packs.openai_usage, mockserver.packs.chutes, mockserver.packs.invokeai")
    assert not loaded & {"connexion", "faker", "numpy", "socketio", "dynamicprompts"}
    # A pack's package declares it; its handler modules are imported when it is built.
    assert not {name for name in loaded if name.startswith("mockserver.packs.") and name.count(".") > 2
                and not name.endswith(".options")}


def test_serving_one_pack_does_not_import_the_others() -> None:
    loaded = modules_after(
        "from mockserver.app import ServerConfig, build_server\n"
        "build_server(ServerConfig(apis=['openai_usage'], seed=1))")
    assert "mockserver.packs.openai_usage.usage" in loaded
    assert not {name for name in loaded if name.startswith(("mockserver.packs.invokeai.", "mockserver.packs.chutes."))
                and not name.endswith(".options")}


def test_the_cli_lists_every_pack_option_without_building_the_packs() -> None:
    loaded = modules_after(
        "import contextlib, io\nfrom mockserver.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['serve', '--help'])\n"
        "assert '--invokeai-ui' in out.getvalue()")
    assert "mockserver.packs.invokeai.options" in loaded
    assert "mockserver.packs.invokeai.seed" not in loaded
