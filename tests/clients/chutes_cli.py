"""The real `chutes` CLI from PyPI, in a virtual environment of its own, for client tests.

`chutes_executable()` makes (once) `.venv-clients/chutes` at the repository root (git-ignored)
with `chutes==0.6.9` installed by pip, and returns the path of its `chutes` command. The CLI's
dependencies (aiohttp, textual, substrate-interface, ...) stay out of the project's environment.
Concurrent test processes (pytest-xdist) take a file lock, so one installs and the others wait.

`write_config()` writes the CLI's config file for a fixture user; point `CHUTES_CONFIG_PATH` at it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHUTES_VERSION = "0.6.9"
VENV = REPO / ".venv-clients" / "chutes"
INSTALL_TIMEOUT = 1800.0


def chutes_executable(version: str = CHUTES_VERSION, venv: Path = VENV) -> Path:
    """The `chutes` command of `chutes==version`, installed into `venv` on first use."""
    executable = venv / "bin" / "chutes"
    marker = venv / f".installed-chutes-{version}"
    if marker.exists() and executable.exists():
        return executable
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _locked(venv.parent / f"{venv.name}.lock"):  # the lock the other CLI helpers take too
        if not (marker.exists() and executable.exists()):
            _install(venv, version)
            marker.touch()
    return executable


def _install(venv: Path, version: str) -> None:
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              f"chutes=={version}"]]
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if done.returncode != 0:
            pytest.fail(f"could not install chutes=={version} into {venv} (PyPI needed once):\n"
                        f"$ {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@contextlib.contextmanager
def _locked(path: Path) -> t.Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_config(directory: Path, base_url: str, user: dict) -> Path:
    """`config.ini` signing as `user` (a fixture user: username, user_id, hotkey, seed)."""
    path = directory / "config.ini"
    path.write_text(
        "[api]\n"
        f"base_url = {base_url}\n\n"
        "[auth]\n"
        f"user_id = {user['user_id']}\n"
        f"username = {user['username']}\n"
        "hotkey_name = default\n"
        f"hotkey_seed = {user['seed']}\n"
        f"hotkey_ss58address = {user['hotkey']}\n", encoding="utf-8")
    return path


def cli_environment(config: Path, home: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: its config, a home of its own, no proxies between it and 127.0.0.1."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")}
    return {**keep, "HOME": str(home), "CHUTES_CONFIG_PATH": str(config), "NO_PROXY": "*",
            "PYTHONUNBUFFERED": "1", **extra}
