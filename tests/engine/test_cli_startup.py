"""`mockserver` as a new user meets it: --version, help that gives every default, start-up errors
in one line with a non-zero exit before the banner, an access log unless --quiet, no warnings."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.request
from pathlib import Path

import pytest

from mockserver.cli import _parser, main

REPO = Path(__file__).resolve().parents[2]


def _environment(**extra: str) -> dict[str, str]:
    """This test process's environment, without warning settings of its own, importing this tree."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "MOCKSERVER_CONTROL_TOKEN")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**environment, **extra}


@pytest.fixture
def plain_install(tmp_path: Path) -> dict[str, str]:
    """The environment of a plain install: no httpx2 (the openai SDK of the test extra brings it;
    without it starlette's test client, which connexion imports, warns) and an empty spec cache
    (so connexion is loaded for real)."""
    no_httpx2 = tmp_path / "no_httpx2"
    no_httpx2.mkdir()
    (no_httpx2 / "httpx2.py").write_text("raise ModuleNotFoundError('a plain install has no httpx2')\n")
    path = os.pathsep.join([str(no_httpx2), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, "MOCKSERVER_CACHE_DIR": str(tmp_path / "cache")}


def _mockserver(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True,
                          env=_environment(**env), timeout=300, cwd=REPO, stdin=subprocess.DEVNULL)


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


# -- --version and --help -----------------------------------------------------------------------

def test_version_names_the_installed_distribution(capsys: pytest.CaptureFixture) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"mockserver {metadata.version('mockserver')}"


def test_every_command_is_checked_below() -> None:
    assert {"serve", "contract", "drift"} <= set(_command_parsers())


@pytest.mark.parametrize("command", sorted(_command_parsers()))
def test_every_option_has_help_that_gives_its_default(command: str) -> None:
    parser = _command_parsers()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        assert "default" in formatter._get_help_string(action), f"{command} {action.option_strings[0]}: no default"


def test_serve_help_shows_the_defaults_a_user_asks_about() -> None:
    text = " ".join(_command_parsers()["serve"].format_help().split())
    for expected in ["--host HOST address to listen on (0.0.0.0 or :: for every interface) (default: 127.0.0.1)",
                     "--port PORT port to listen on (default: 8000)",
                     "(the access log is separate: see --quiet) (default: warning)",
                     "--quiet no access log (default: one line per request on stdout)",
                     "openai_usage, chutes, invokeai (default: all)",
                     "violation answers 500 (default: off)",
                     "--seed SEED makes ids and generated data reproducible (default: random, printed at start)"]:
        assert expected in text


# -- start-up errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("where, message", [
    ("the folder itself", "is a directory (give a file name in it, e.g. state.db)"),
    ("missing/state.db", "the folder {tmp}/missing does not exist"),
    ("a-file/state.db", "{tmp}/a-file is not a folder"),
    ("blobs-not-a-folder.db", "{tmp}/blobs-not-a-folder.db.blobs (where image and file bytes go) is not a folder"),
])
def test_an_unusable_state_file_is_one_line_before_the_banner(
        where: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "blobs-not-a-folder.db.blobs").write_text("")
    state_file = tmp_path if where == "the folder itself" else tmp_path / where
    assert main(["serve", "--api", "openai_usage", "--port", "0", "--state-file", str(state_file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"mockserver: --state-file {state_file}: {message.format(tmp=tmp_path)}\n"
    assert not (tmp_path / "missing").exists()


def test_a_state_file_that_cannot_be_written_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # /proc refuses new files to everyone, root included (chmod would not stop root).
    assert main(["serve", "--api", "openai_usage", "--port", "0", "--state-file", "/proc/mockserver-state.db"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("mockserver: --state-file /proc/mockserver-state.db: cannot write: ")
    assert len(err.splitlines()) == 1


def test_an_unknown_pack_is_one_line_naming_the_packs(capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "--api", "openai_usage,nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "mockserver: unknown API pack 'nope'; available: openai_usage, chutes, invokeai\n"


def test_a_port_in_use_is_one_line_before_the_banner(capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--api", "openai_usage", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"mockserver: cannot listen on 127.0.0.1:{port}: address already in use\n"


# -- the access log, and no warnings ------------------------------------------------------------

def _serve_one_request(*args: str, env: dict[str, str]) -> tuple[str, str]:
    """Start `mockserver serve --api openai_usage *args` on a free port, make one API request,
    stop it; its (stdout, stderr)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mockserver", "serve", "--api", "openai_usage", "--port", str(port), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=_environment(**env),
                                   cwd=REPO)
        try:
            _wait_healthy(process, port)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/organization/costs?start_time=0",
                                             headers={"Authorization": "Bearer sk-admin-mockserver"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        finally:
            process.terminate()
            process.wait(30)
        out.seek(0)
        err.seek(0)
        return out.read(), err.read()


def _wait_healthy(process: subprocess.Popen, port: int) -> None:
    for _ in range(1200):
        if process.poll() is not None:
            raise AssertionError(f"mockserver exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock__/health", timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("mockserver did not become healthy")


@pytest.mark.live
def test_the_access_log_is_on_by_default_and_quiet_turns_it_off(plain_install: dict[str, str]) -> None:
    out, err = _serve_one_request(env=plain_install)
    assert re.search(r'127\.0\.0\.1:\d+ - "GET /v1/organization/costs\?start_time=0 HTTP/1\.1" 200', out), out
    assert "Warning" not in err, err
    quiet_out, _ = _serve_one_request("--quiet", env=plain_install)
    assert "mockserver on http://127.0.0.1:" in quiet_out
    assert "/v1/organization/costs" not in quiet_out


@pytest.mark.live
@pytest.mark.parametrize("args", [
    ("--version",), ("serve", "--help"), ("contract", "--api", "openai_usage", "--dry-run"),
    ("contract", "--spec", "specs/openai_usage.yaml", "--spec-dialect", "openai", "--dry-run"),
], ids=lambda args: " ".join(args))
def test_plain_commands_print_no_warning(args: t.Sequence[str], plain_install: dict[str, str]) -> None:
    result = _mockserver(*args, **plain_install)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "warn" not in result.stderr.lower(), result.stderr


@pytest.mark.live
def test_the_in_process_mock_prints_no_warning(plain_install: dict[str, str]) -> None:
    script = ("from mockserver.testing import MockServerHandle\n"
              "with MockServerHandle.start(['openai_usage']) as mock:\n"
              "    print(mock.control('GET', 'health')['packs'])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO,
                            env=_environment(**plain_install))
    assert result.returncode == 0, result.stderr
    assert "openai_usage" in result.stdout and "warn" not in result.stderr.lower(), result.stderr
