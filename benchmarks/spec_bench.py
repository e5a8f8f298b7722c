"""`serve --spec` on a large real document beside Prism on the same document.

The document is GitHub's REST description (npm `@octokit/openapi`, ~13 MB of JSON, 1,200
operations), downloaded from the npm registry into the test download cache (see
tests/specworld/octokit.py; never committed). For each server, per start:

- **first answer**: seconds from spawning the process until `GET /repos/octocat/hello-world`
  answers 2xx (polled every 20 ms); mockserver's first start runs with an empty compiled-document
  cache ("cold"), the later ones reuse it ("warm");
- **peak RSS**: the largest resident memory of the server's process tree up to then (VmHWM);
- **req/s**: wrk, 2 threads, 32 connections, 10 s, on that same read (Prism in static mode, as
  `make bench` runs it elsewhere), and on reading back a created issue (mockserver only: Prism has
  no state).

Run alone (`python benchmarks/spec_bench.py --runs 3`) or as part of `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PRISM_BIN = BENCH_DIR / "node_modules" / ".bin" / "prism"
HOST = "127.0.0.1"
PROBE = "/repos/octocat/hello-world"
HEADERS = {"Authorization": "Bearer ghp_bench", "Accept": "application/json"}


class SpecBenchError(RuntimeError):
    pass


def _document() -> Path:
    sys.path.insert(0, str(REPO_ROOT / "tests" / "specworld"))
    from octokit import github_description  # the test suite's download cache

    return github_description()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tree_peak_rss_mb(pid: int) -> float:
    """VmHWM summed over the process and its children (Prism runs node under a shell shim)."""
    total = 0
    pids, index = [pid], 0
    while index < len(pids):  # the whole tree, breadth first
        try:
            pids += [int(c) for c in Path(f"/proc/{pids[index]}/task/{pids[index]}/children").read_text().split()]
        except OSError:
            pass
        index += 1
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        total += int(found.group(1)) if found else 0
    return total / 1024


def _answers(url: str) -> bool:
    request = urllib.request.Request(url, headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _start(command: list[str], env: dict[str, str], port: int, timeout: float) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SpecBenchError(f"{command[0]} exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        if _answers(f"http://{HOST}:{port}{PROBE}"):
            return process, time.perf_counter() - started
        time.sleep(0.02)
    _stop(process)
    raise SpecBenchError(f"{' '.join(command[:3])} did not answer within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _mock_command(document: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "mockserver", "serve", "--spec", str(document), "--host", HOST,
            "--port", str(port), "--seed", "1"]


def _prism_command(document: Path, port: int) -> list[str]:
    return [str(PRISM_BIN), "mock", str(document), "-h", HOST, "-p", str(port), "-v", "error"]


def _wrk(url: str) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    header_args = [arg for name, value in HEADERS.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run([wrk, "-t2", "-c32", "-d10s", *header_args, url], capture_output=True, text=True,
                         check=False).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        raise SpecBenchError(f"wrk on {url}: {non_2xx.group(1)} answers were not 2xx")
    return float(found.group(1)) if found else None


def _created_issue(base: str) -> str:
    body = json.dumps({"title": "bench"}).encode()
    request = urllib.request.Request(f"{base}/repos/octo/bench/issues", data=body, method="POST",
                                     headers={**HEADERS, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        number = json.load(response)["number"]
    return f"{base}/repos/octo/bench/issues/{number}"


def measure(name: str, command: list[str], env: dict[str, str], port: int, *, rate: bool,
            stateful: bool) -> dict[str, float | None]:
    process, first = _start(command, env, port, timeout=600)
    try:
        result: dict[str, float | None] = {"first_answer_s": round(first, 2),
                                           "peak_rss_mb": round(_tree_peak_rss_mb(process.pid), 1)}
        if rate:
            base = f"http://{HOST}:{port}"
            result["read_rps"] = _wrk(base + PROBE)
            result["stateful_read_rps"] = _wrk(_created_issue(base)) if stateful else None
        return result
    finally:
        _stop(process)


def run(runs: int) -> dict[str, list[dict[str, float | None]]]:
    document = _document()
    results: dict[str, list[dict[str, float | None]]] = {"mock cold": [], "mock warm": [], "prism": []}
    with tempfile.TemporaryDirectory(prefix="spec-bench-") as cache:
        env = {**os.environ, "MOCKSERVER_CACHE_DIR": cache, "PYTHONPATH": str(REPO_ROOT)}
        for index in range(runs):
            port = _free_port()
            label = "mock cold" if index == 0 else "mock warm"
            results[label].append(measure("mock", _mock_command(document, port), env, port,
                                          rate=index == runs - 1, stateful=True))
    if PRISM_BIN.exists():
        for index in range(max(runs - 1, 1)):
            port = _free_port()
            results["prism"].append(measure("prism", _prism_command(document, port), dict(os.environ), port,
                                            rate=index == 0, stateful=False))
    _report(document, results)
    return results


def _report(document: Path, results: dict[str, list[dict[str, float | None]]]) -> None:
    size = document.stat().st_size / 2**20
    print(f"\n`serve --spec` on GitHub's REST description ({size:.1f} MB), beside Prism")
    print(f"{'server':<11} {'starts':>6} {'first answer s':>15} {'peak RSS MB':>12} {'read req/s':>11} "
          f"{'stateful read req/s':>20}")
    for label, rows in results.items():
        if not rows:
            print(f"{label:<11} {'-':>6}  (Prism not installed: npm ci --prefix benchmarks)")
            continue
        first = statistics.median(r["first_answer_s"] or 0 for r in rows)
        rss = statistics.median(r["peak_rss_mb"] or 0 for r in rows)
        rps = next((r["read_rps"] for r in rows if r.get("read_rps") is not None), None)
        stateful = next((r["stateful_read_rps"] for r in rows if r.get("stateful_read_rps") is not None), None)
        print(f"{label:<11} {len(rows):>6} {first:>15.2f} {rss:>12.0f} {_shown(rps):>11} {_shown(stateful):>20}")


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="mockserver starts (the first cold); Prism one fewer")
    args = parser.parse_args(argv)
    try:
        run(args.runs)
    except SpecBenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
