"""A fork server ("zygote") for the `chutes` CLI: run by the client virtualenv's own python.

Started by `ForkServer` (below, used by `chutes_cli.py`) as `python chutes_forkserver.py LISTEN_FD
LIFELINE_FD ENVIRONMENT_JSON` (the environment it was given, as the JSON of a dict).
It imports the third-party libraries the CLI imports (aiohttp, typer, rich, substrateinterface,
fastapi, ...: about 1.2 s of CPU each time a `chutes` process starts) once, then forks once per
command. The forked process becomes that command: the caller's stdin/stdout/stderr (passed over
the Unix socket), its working directory, its environment, `sys.argv`, and then the CLI's own
console script runs unchanged, importing `chutes` itself. Nothing of `chutes` is imported here:
`chutes.config` reads `CHUTES_CONFIG_PATH` when it is imported, so it must be imported by the
command, in the command's environment.

A preloaded library saw the fork server's environment when it was imported (loguru decides
there whether to colour, for one). So a command whose environment differs from the one the server
was given in anything but the per-command variables (`PER_COMMAND`) is refused, never run with the
wrong start-up state; the caller runs it as a plain subprocess instead. What the interpreter's own
start-up added to the environment (`LC_CTYPE` when it coerces a C locale to UTF-8) a fresh
process would add too, so the command gets it as well.

Per command the server forks a supervisor, which forks the command, sends its pid, waits for it
and sends its exit status (as `subprocess` reports it: negative for a signal). The server exits
when the test process's end of LIFELINE_FD closes, so it never outlives the test process.

Only the standard library here: this file runs in the client's virtualenv, not the project's.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import typing as t

# What `chutes.cli` imports from outside `chutes` (the modules it names in its own imports; the
# rest come with them). Measured with `python -X importtime -c "import chutes.cli"` (chutes 0.6.9).
PRELOAD = ("aiohttp", "substrateinterface", "fastapi", "rich.console", "rich.table", "rich.prompt", "typer",
           "hypercorn.asyncio", "hypercorn.config", "jwt", "loguru", "asyncio", "uvicorn", "psutil", "pydantic",
           "pydantic._internal._model_construction", "prometheus_client", "backoff", "configparser", "argparse",
           "pybase64", "orjson", "webbrowser", "gzip", "ctypes", "json", "concurrent.futures.thread",
           "cryptography.hazmat.primitives.padding", "typer.rich_utils", "rich.markdown")
# Variables a command may set differently from the server: read when the command runs, or at the
# import of a module not preloaded (chutes, textual). Of the preloaded modules only sysconfig's user
# base (unused in a virtualenv) and wsgiref's CGI environment (unused by the CLI) read HOME.
PER_COMMAND = ("CHUTES_", "HOME", "COLUMNS", "LINES", "NO_COLOR", "NO_PROXY", "TEXTUAL_")
HEADER = struct.Struct("!I")
REAP_INTERVAL = 1.0  # seconds between collecting finished supervisors while idle
LAST_REAP_SECONDS = 10.0  # at exit, how long to wait for supervisors still finishing
STARTUP_TIMEOUT = 120.0  # seconds for a reply to a command: the first waits for the imports


class Command(t.NamedTuple):
    argv: list[str]
    cwd: str
    env: dict[str, str]
    stdio: list[int]  # stdin, stdout, stderr


def main() -> Command | None:
    """Serve until the parent goes; returns only in a forked command process, with its command."""
    del sys.path[0]  # this file's directory: nothing in it may stand in for one of the CLI's modules
    listener = socket.socket(fileno=int(sys.argv[1]))
    lifeline = int(sys.argv[2])
    given = json.loads(sys.argv[3])
    added = {name: value for name, value in os.environ.items() if given.get(name) != value}
    for name in PRELOAD:
        importlib.import_module(name)
    gc.freeze()  # the collector in a command leaves these objects (and their pages) alone
    while True:
        ready, _, _ = select.select([listener, lifeline], [], [], REAP_INTERVAL)
        if lifeline in ready:  # EOF: the test process is done or gone
            reap(within=LAST_REAP_SECONDS)
            return None
        reap(within=0)
        if not ready:
            continue
        connection, _ = listener.accept()
        command = serve(connection, given, added)
        if command is not None:
            listener.close()
            os.close(lifeline)
            return command


def reap(*, within: float) -> None:
    """Collect finished supervisors, waiting up to `within` seconds for the rest. (Collected, their
    CPU time and their commands' counts as this process's children's, as for `subprocess`.)"""
    deadline = time.monotonic() + within
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)


def serve(connection: socket.socket, given: dict[str, str], added: dict[str, str]) -> Command | None:
    """Fork a supervisor for one request; the command it forks gets its `Command` back (its
    environment with what start-up `added`)."""
    try:
        command = receive(connection)
    except (OSError, ValueError, KeyError) as error:
        _reply(connection, {"error": f"bad request: {error}"})
        connection.close()
        return None
    refused = _foreign_variables(command.env, given)
    command.env.update({name: value for name, value in added.items() if name not in command.env})
    if refused:
        _reply(connection, {"refused": refused})
    elif os.fork() == 0:
        try:
            return supervise(connection, command)  # returns in the command's process only
        except BaseException:
            os._exit(1)  # never back into the serving loop as a second server
    for fd in command.stdio:
        os.close(fd)
    connection.close()
    return None


def receive(connection: socket.socket) -> Command:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    if len(fds) != 3 or len(data) < HEADER.size:
        raise ValueError("expected a header and three file descriptors")
    (size,) = HEADER.unpack_from(data)
    body = data[HEADER.size:]
    while len(body) < size:
        chunk = connection.recv(size - len(body))
        if not chunk:
            raise ValueError("the request ended early")
        body += chunk
    request = json.loads(body)
    return Command(request["argv"], request["cwd"], request["env"], fds)


def _foreign_variables(env: dict[str, str], given: dict[str, str]) -> list[str]:
    """Variables (other than the per-command ones) in which `env` differs from the `given` one."""
    names = set(env) | set(given)
    return sorted(n for n in names if not n.startswith(PER_COMMAND) and env.get(n) != given.get(n))


def supervise(connection: socket.socket, command: Command) -> Command | None:
    """In the supervisor: fork the command, report its pid and then its exit status."""
    pid = os.fork()
    if pid == 0:
        connection.close()
        return command
    for fd in command.stdio:
        os.close(fd)
    _reply(connection, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    _reply(connection, {"returncode": os.waitstatus_to_exitcode(status)})
    os._exit(0)


def _reply(connection: socket.socket, message: dict) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the caller went away; the command runs on regardless, as a subprocess would


def become(command: Command) -> None:
    """Turn this forked process into `command`, as if it had been started by exec."""
    for target, fd in enumerate(command.stdio):
        os.dup2(fd, target)
    for fd in set(command.stdio):
        if fd > 2:
            os.close(fd)
    os.chdir(command.cwd)
    os.environ.clear()
    os.environ.update(command.env)
    sys.argv = list(command.argv)
    sys.path.insert(0, os.path.dirname(command.argv[0]))  # a script's own directory comes first


# -- the caller's side (the test process) ---------------------------------------------------------


class ForkServer:
    """A running fork server, started with `python` of the client virtualenv and `env`.

    The listening socket is made here and handed over, so commands can be sent at once: they wait
    in its backlog while the server imports."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self.directory = tempfile.mkdtemp(prefix="chutes-fork-")
        self.address = os.path.join(self.directory, "socket")
        self.log = os.path.join(self.directory, "server.log")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(64)
        lifeline, self._lifeline = os.pipe()  # its EOF tells the server we are gone
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [python, os.path.abspath(__file__), str(listener.fileno()), str(lifeline), json.dumps(env)], env=env,
                cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(listener.fileno(), lifeline))
        listener.close()
        os.close(lifeline)

    def start(self, argv: t.Sequence[str], *, cwd: str, env: dict[str, str],
              stdio: tuple[int, int, int]) -> ForkedProcess | None:
        """The python script `argv[0]` (a console script) with arguments `argv[1:]`, or None if its
        environment differs from the server's in a variable that is not per-command (`PER_COMMAND`)."""
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.address)
        except OSError as error:
            connection.close()
            raise ForkServerError(f"the fork server is not listening ({error}); its log:\n{self.read_log()}") from None
        body = json.dumps({"argv": list(argv), "cwd": cwd, "env": env}).encode()
        socket.send_fds(connection, [HEADER.pack(len(body)) + body], list(stdio))
        process = ForkedProcess(connection)
        reply = process.read_reply(timeout=STARTUP_TIMEOUT, what="start the command")
        if "pid" not in reply:
            connection.close()
            if "refused" in reply:
                return None
            raise ForkServerError(f"the fork server answered {reply}; its log:\n{self.read_log()}")
        process.pid = reply["pid"]
        return process

    def read_log(self) -> str:
        with open(self.log, "rb") as log:
            return log.read().decode("utf-8", "replace")[-4000:]

    def close(self) -> None:
        if self.process.returncode is not None:
            return
        os.close(self._lifeline)
        try:
            self.process.wait(LAST_REAP_SECONDS + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class ForkServerError(RuntimeError):
    """The fork server did not start a command; the message carries its log."""


class ForkedProcess:
    """A command the fork server started, with the parts of `subprocess.Popen` the tests use."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._pending = b""
        self.pid = 0
        self.returncode: int | None = None
        self.stdout: t.IO[bytes] | None = None

    def read_reply(self, timeout: float | None, what: str) -> dict:
        self._connection.settimeout(timeout)
        while b"\n" not in self._pending:
            try:
                chunk = self._connection.recv(4096)
            except socket.timeout:
                raise subprocess.TimeoutExpired(what, timeout or 0) from None
            if not chunk:
                raise ForkServerError(f"the fork server hung up instead of answering (to {what})")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.read_reply(timeout, what=f"wait for pid {self.pid}")["returncode"]
            self._connection.close()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it has ended; wait() collects its status


if __name__ == "__main__":
    forked = main()
    if forked is not None:
        become(forked)
        runpy.run_path(forked.argv[0], run_name="__main__")
