"""Start-up time to the first answer and idle memory of `mockserver serve`, per pack set.

For each pack alone and for all packs together, starts `python -m mockserver serve` on a free
127.0.0.1 port several times and measures, per start:

- **first answer**: seconds from spawning the process until every served pack has answered one of
  its own API requests with a 2xx (polled every 10 ms);
- **CPU s**: the CPU time (user + system) the server had used by then: on a shared machine the
  wall time above includes waiting for a core, this does not;
- **idle RSS**: the process's resident memory (VmRSS) after it has then sat idle for a moment.

The first start of each set runs with an empty compiled-spec cache (a private cache directory, so
the user's own cache is neither used nor touched): it is reported apart as "cold". The medians are
over the later, warm starts. Also measured: the pytest plugin's in-process mock (`MockServerHandle`,
what the `mock` fixture starts), from importing `mockserver.testing` in a fresh interpreter to its
first answer.

Run alone (`python benchmarks/startup_bench.py --runs 7`) or as the first part of `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PACKS = ("openai_usage", "chutes", "invokeai")
PACK_SETS: tuple[tuple[str, ...], ...] = (("openai_usage",), ("chutes",), ("invokeai",), PACKS)
# One request of each pack's own API (not the control plane) that answers 200 on a fresh server.
PROBES = {
    "openai_usage": ("/v1/organization/costs?start_time=1700000000&limit=1",
                     {"Authorization": "Bearer sk-admin-mockserver"}),
    "chutes": ("/chutes/?include_public=true&limit=1", {}),
    "invokeai": ("/api/v1/app/version", {}),
}
GOAL_FIRST_ANSWER_S = 1.0
GOAL_IDLE_RSS_MB = 120.0
GOAL_IN_PROCESS_S = 0.5
START_TIMEOUT_S = 60.0
POLL_S = 0.01

IN_PROCESS_SCRIPT = """
import sys, time
started, cpu = time.perf_counter(), time.process_time()
from mockserver.testing import MockServerHandle
handle = MockServerHandle.start(sys.argv[1].split(","), seed=0)
with handle.client() as client:
    status = client.get(sys.argv[2], headers=dict(h.split(": ", 1) for h in sys.argv[3:])).status_code
ready, cpu = time.perf_counter() - started, time.process_time() - cpu
handle.stop()
print(f"{status} {ready} {cpu}")
"""


class StartupError(RuntimeError):
    """A server did not answer (its output is in the message)."""


@dataclass
class SetResult:
    packs: tuple[str, ...]
    cold_first_answer_s: float
    first_answer_s: list[float] = field(default_factory=list)  # warm starts
    cpu_s: list[float] = field(default_factory=list)  # warm starts
    idle_rss_mb: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "all" if self.packs == PACKS else ",".join(self.packs)

    def median_first_answer(self) -> float:
        return statistics.median(self.first_answer_s or [self.cold_first_answer_s])

    def median_cpu(self) -> float:
        return statistics.median(self.cpu_s) if self.cpu_s else float("nan")

    def median_rss(self) -> float:
        return statistics.median(self.idle_rss_mb)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers(url: str, headers: dict[str, str]) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise StartupError(f"no VmRSS for pid {pid}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _env(cache_dir: Path) -> dict[str, str]:
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "MOCKSERVER_CACHE_DIR": str(cache_dir),
           "PYTHONUNBUFFERED": "1"}
    # Python's own bytecode cache, as an installed package has it: without it every start compiles
    # mockserver's sources again (~0.2 s), which is not what a user's start costs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start_once(packs: tuple[str, ...], cache_dir: Path, idle_s: float) -> tuple[float, float, float]:
    """(seconds to every pack's first 2xx answer, CPU seconds used by then, idle RSS in MB) of one
    fresh server."""
    port = _free_port()
    command = [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), "--seed", "1"]
    for name in packs:
        command += ["--api", name]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                   env=_env(cache_dir), start_new_session=True)
        try:
            pending = dict((name, PROBES[name]) for name in packs)
            while pending:
                if process.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                    output.seek(0)
                    raise StartupError(f"{' '.join(command)} did not answer:\n"
                                       f"{output.read().decode('utf-8', 'replace')}")
                for name, (path, headers) in list(pending.items()):
                    if _answers(f"http://{HOST}:{port}{path}", headers):
                        del pending[name]
                if pending:
                    time.sleep(POLL_S)
            first_answer = time.perf_counter() - started
            cpu = _cpu_s(process.pid)
            time.sleep(idle_s)
            return first_answer, cpu, _rss_mb(process.pid)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def measure_set(packs: tuple[str, ...], runs: int, idle_s: float) -> SetResult:
    with tempfile.TemporaryDirectory(prefix="mockserver-startup-cache-") as cache:
        cold, _, rss = start_once(packs, Path(cache), idle_s)
        result = SetResult(packs, cold)
        result.idle_rss_mb.append(rss)
        for _ in range(runs):
            first_answer, cpu, rss = start_once(packs, Path(cache), idle_s)
            result.first_answer_s.append(first_answer)
            result.cpu_s.append(cpu)
            result.idle_rss_mb.append(rss)
    return result


def measure_in_process(runs: int, packs: tuple[str, ...] = ("openai_usage",)) -> tuple[list[float], list[float]]:
    """Seconds from `import mockserver.testing` to the in-process mock's first answer, and the CPU
    seconds used by then (warm cache: the first run fills it, as a developer's earlier runs would)."""
    path, headers = PROBES[packs[0]]
    times, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="mockserver-startup-cache-") as cache:
        for run in range(runs + 1):
            done = subprocess.run(
                [sys.executable, "-c", IN_PROCESS_SCRIPT, ",".join(packs), path,
                 *(f"{k}: {v}" for k, v in headers.items())],
                capture_output=True, text=True, env=_env(Path(cache)), timeout=START_TIMEOUT_S, check=False)
            if done.returncode != 0 or not done.stdout.strip().startswith("200 "):
                raise StartupError(f"in-process mock failed:\n{done.stdout}\n{done.stderr}")
            if run:  # the first run fills the cache
                times.append(float(done.stdout.split()[1]))
                cpus.append(float(done.stdout.split()[2]))
    return times, cpus


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def format_report(results: list[SetResult], in_process: list[float], in_process_cpu: list[float]) -> str:
    lines = ["pack set                  first answer s (median, min-max)  CPU s  cold s  idle RSS MB"]
    for result in results:
        warm = result.first_answer_s or [result.cold_first_answer_s]
        lines.append(f"{result.label:<25} {result.median_first_answer():>6.2f}  ({min(warm):.2f}-{max(warm):.2f})"
                     f"{'':<16}{result.median_cpu():>6.2f}  {result.cold_first_answer_s:>6.2f}"
                     f"  {result.median_rss():>11.1f}")
    if in_process:
        lines.append(f"{'in-process (openai_usage)':<25} {statistics.median(in_process):>6.2f}  "
                     f"({min(in_process):.2f}-{max(in_process):.2f}){'':<16}"
                     f"{statistics.median(in_process_cpu):>6.2f}")
    slowest = max(result.median_first_answer() for result in results)
    largest = max(result.median_rss() for result in results)
    goals = [f"first answer <= {GOAL_FIRST_ANSWER_S:.1f} s {_verdict(slowest <= GOAL_FIRST_ANSWER_S)} "
             f"(slowest median {slowest:.2f} s)",
             f"idle RSS < {GOAL_IDLE_RSS_MB:.0f} MB {_verdict(largest < GOAL_IDLE_RSS_MB)} (largest {largest:.1f} MB)"]
    if in_process:
        median = statistics.median(in_process)
        goals.append(f"in-process ready < {GOAL_IN_PROCESS_S:.1f} s {_verdict(median < GOAL_IN_PROCESS_S)} "
                     f"({median:.2f} s)")
    return "\n".join(lines + ["", "Start-up goals: " + "; ".join(goals)])


def run(runs: int = 5, idle_s: float = 1.0, json_file: Path | None = None) -> int:
    print(f"start-up: {runs} warm starts per pack set (after one cold start), idle {idle_s:g} s before RSS",
          flush=True)
    results = []
    for packs in PACK_SETS:
        results.append(measure_set(packs, runs, idle_s))
        print(f"  {results[-1].label}: {results[-1].median_first_answer():.2f} s "
              f"({results[-1].median_cpu():.2f} s CPU), {results[-1].median_rss():.1f} MB", flush=True)
    in_process, in_process_cpu = measure_in_process(runs)
    print()
    print(format_report(results, in_process, in_process_cpu))
    print()
    if json_file is not None:
        json_file.write_text(json.dumps({"sets": [asdict(r) for r in results], "in_process_s": in_process,
                                         "in_process_cpu_s": in_process_cpu}, indent=2), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm starts per pack set (default 5)")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds idle before reading RSS (default 1)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.idle < 0:
        parser.error("--runs must be >= 1 and --idle >= 0")
    try:
        return run(args.runs, args.idle, args.json)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
