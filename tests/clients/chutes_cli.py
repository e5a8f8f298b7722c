"""The real `chutes` CLI from PyPI, installed into its own virtualenv and run as a person runs it.

The CLI cannot live in the project's environment (chutes 0.6.9 pins uvicorn<0.39, the mock runs a
newer one), so it gets `.venv-clients/chutes/` in the repository (git-ignored), created with
`python -m venv` and pip on first use and reused while its stamp names the same version. Concurrent
test processes (pytest-xdist) take a file lock, so one installs and the others wait. A failed
install is an error, never a skip: these tests exist to run that client.

Every command runs through a fork server (`chutes_forkserver.py`): one python of that virtualenv
per test process has imported the CLI's libraries, and each command is a fork of it that runs the
CLI's unchanged console script with the command's arguments, directory, environment and stdio.
That spares each command about a second of CPU spent importing. `MOCKSERVER_CHUTES_CLI=subprocess`
runs each command as a fresh `chutes` process instead (the same tests pass either way).

Two ways to drive it:
- `Cli` runs one command the way a person would: its own working directory (where the chute
  module is), a config file named by `CHUTES_CONFIG_PATH`, answers to the y/n prompts on stdin,
  and a timeout. The output has its ANSI colours removed.
- `run_command()`, `start_command()`, `write_config()` and `cli_environment()` are the pieces, for
  tests that set the CLI up themselves (e.g. a `warmup --stream-logs` they read line by line and stop).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import queue
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import typing as t
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from chutes_forkserver import ForkServer

REPO = Path(__file__).resolve().parents[2]
VERSION = "0.6.9"
VENV = REPO / ".venv-clients" / "chutes"
STAMP = VENV / f".installed-chutes-{VERSION}"
INSTALL_TIMEOUT = 1800  # seconds; a cold pip cache downloads and builds a few dozen packages
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CliInstallError(RuntimeError):
    """pip could not install the CLI; the message carries pip's output."""


def install() -> Path:
    """The `chutes` executable of the client virtualenv, installing it if needed."""
    executable = VENV / "bin" / "chutes"
    VENV.parent.mkdir(exist_ok=True)
    with _locked(VENV.parent / "chutes.lock"):  # several pytest workers may get here at once
        if STAMP.exists() and executable.exists():
            return executable
        shutil.rmtree(VENV, ignore_errors=True)
        _run_install([sys.executable, "-m", "venv", str(VENV)])
        _run_install([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      f"chutes=={VERSION}"])
        STAMP.touch()
    return executable


def chutes_executable() -> Path:
    """The `chutes` command of the client virtualenv (installed on first use), with the fork
    server that runs it started, so its imports overlap whatever the caller does next."""
    executable = install()
    fork_server()
    return executable


def _run_install(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:
        raise CliInstallError(f"{' '.join(command)} took longer than {INSTALL_TIMEOUT}s") from error
    if done.returncode != 0:
        raise CliInstallError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n"
                              f"{done.stderr[-4000:]}")


@contextlib.contextmanager
def _locked(path: Path) -> t.Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Account:
    """Who the CLI acts as: the `[auth]` section of its config."""

    username: str
    user_id: str
    seed_hex: str
    hotkey: str
    api_key: str  # not used by the CLI; the tests read the mock's state with it


@dataclass
class Result:
    returncode: int
    output: str  # stdout and stderr together, without colours


class Cli:
    """One account's CLI: a working directory with its config file and chute modules."""

    def __init__(self, workdir: Path, base_url: str, account: Account) -> None:
        self.workdir, self.account = workdir, account
        (workdir / "home").mkdir(parents=True, exist_ok=True)
        self.config = write_config(workdir, base_url, {"username": account.username, "user_id": account.user_id,
                                                      "seed": account.seed_hex, "hotkey": account.hotkey})

    def write_module(self, name: str, text: str) -> None:
        (self.workdir / f"{name}.py").write_text(text)

    def run(self, *args: str, answers: str = "", timeout: float = 120) -> Result:
        """`chutes *args` with `answers` on stdin (one line per prompt, e.g. "y\\n")."""
        return run_command(args, cwd=self.workdir, env=self._env(), answers=answers, timeout=timeout)

    def start(self, *args: str) -> Process:
        """`chutes *args` left running (the caller stops it), stdout piped, stderr to a file."""
        return start_command(args, cwd=self.workdir, env=self._env(), stderr=self.workdir / "stderr.txt")

    def _env(self) -> dict[str, str]:
        return cli_environment(self.config, self.workdir / "home", NO_COLOR="1", COLUMNS="200")


class OutputLines:
    """A running command's stdout, line by line, with a bound on every wait."""

    def __init__(self, process: Process, timeout: float) -> None:
        assert process.stdout is not None, "started without a stdout pipe"
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.timeout = timeout
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stdout: t.IO[bytes]) -> None:
        for raw in stdout:
            self._queue.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._queue.put(None)

    def until(self, wanted: t.Callable[[str], bool]) -> str:
        """The first line from here on that is `wanted`; a test failure if none comes in time."""
        while True:
            try:
                line = self._queue.get(timeout=self.timeout)
            except queue.Empty:
                pytest.fail(f"no such line within {self.timeout:.0f} s; got:\n" + "\n".join(self.seen))
            if line is None:
                pytest.fail("the command ended first; it printed:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if wanted(line):
                return line


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


def base_environment() -> dict[str, str]:
    """What every CLI run's environment starts from (and the fork server's)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")}
    return {**keep, "PYTHONUNBUFFERED": "1"}


def cli_environment(config: Path, home: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: its config, a home of its own, no proxies between it and 127.0.0.1."""
    return {**base_environment(), "HOME": str(home), "CHUTES_CONFIG_PATH": str(config), "NO_PROXY": "*", **extra}


# -- running it -----------------------------------------------------------------------------------


class Process(t.Protocol):
    """A started command: a `subprocess.Popen` or a `ForkedProcess`, stdout readable."""

    pid: int
    returncode: int | None
    stdout: t.IO[bytes] | None

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


_fork_server: ForkServer | None = None
_fork_server_lock = threading.Lock()


def fork_server() -> ForkServer | None:
    """This test process's fork server for the CLI, started on first use; None when
    `MOCKSERVER_CHUTES_CLI=subprocess` asks for a fresh interpreter per command."""
    global _fork_server
    if os.environ.get("MOCKSERVER_CHUTES_CLI") == "subprocess":
        return None
    with _fork_server_lock:
        if _fork_server is None:
            install()
            _fork_server = ForkServer(str(VENV / "bin" / "python"), base_environment())
            atexit.register(_fork_server.close)
        return _fork_server


def _spawn(args: t.Sequence[str], cwd: Path, env: dict[str, str], stdio: tuple[int, int, int]) -> Process:
    argv = [str(install()), *args]
    server = fork_server()
    forked = server.start(argv, cwd=str(cwd), env=env, stdio=stdio) if server is not None else None
    if forked is not None:
        return forked
    if server is not None:
        warnings.warn(f"the fork server refused `chutes {' '.join(args)}` (its environment differs in a variable "
                      "the CLI's libraries read at import): it runs as a fresh process", stacklevel=3)
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])


def run_command(args: t.Sequence[str], *, cwd: Path, env: dict[str, str], answers: str = "",
                timeout: float = 120) -> Result:
    """`chutes *args` to the end, `answers` on stdin, stdout and stderr read together."""
    stdin_read, stdin_write = os.pipe()
    os.write(stdin_write, answers.encode())  # a few lines: far less than a pipe holds
    os.close(stdin_write)
    output_read, output_write = os.pipe()
    try:
        process = _spawn(args, cwd, env, (stdin_read, output_write, output_write))
    except BaseException:
        os.close(output_read)
        raise
    finally:
        os.close(stdin_read)
        os.close(output_write)  # the command holds the only other one: its end is the output's end
    with open(output_read, "rb") as output:
        data = _read_to_end(output, timeout, process, args)
    process.wait(timeout)
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")  # universal newlines
    return Result(t.cast(int, process.returncode), _ANSI.sub("", text))


def _read_to_end(output: t.BinaryIO, timeout: float, process: Process, args: t.Sequence[str]) -> bytes:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([output], [], [], remaining)[0]:
            process.kill()
            process.wait(30)
            raise subprocess.TimeoutExpired(["chutes", *args], timeout, b"".join(chunks))
        chunk = os.read(output.fileno(), 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def start_command(args: t.Sequence[str], *, cwd: Path, env: dict[str, str], stderr: Path) -> Process:
    """`chutes *args` left running (the caller stops it): no stdin, stdout piped, stderr appended to a file."""
    output_read, output_write = os.pipe()
    with open(os.devnull, "rb") as devnull, open(stderr, "ab") as errors:
        try:
            process = _spawn(args, cwd, env, (devnull.fileno(), output_write, errors.fileno()))
        finally:
            os.close(output_write)
    process.stdout = open(output_read, "rb")
    return process
