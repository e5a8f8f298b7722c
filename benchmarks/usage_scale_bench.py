"""OpenAI Usage at scale: a million events added through the control plane, then every query.

Starts `mockserver serve --api openai_usage --seed 1` on a free loopback port and measures, in one run:
- the small world (the seeded ~6,000 events): each query below, cold (first ask) and warm;
- ingest: 1,000,000 completion events over the last 30 days through
  `POST /__mock__/packs/openai_usage/events` in batches of 10,000 (bodies prepared beforehand:
  the time is the server's), and the server's RSS after it;
- each query again with the million events, cold (the first ask after the last write) and warm
  (median of the next ones);
- a start with `--openai-usage-events 1000000` (the synthetic history): time until it answers, RSS.

Goals (issue 15): ingest < 10 s, every query < 100 ms cold, RSS < 400 MB. The server's CPU time
during the ingest is printed too: on a shared machine it is the figure other processes inflate least.
Run alone: `python benchmarks/usage_scale_bench.py [--events N]`; `run_bench.py` runs it after the wrk table.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": "Bearer sk-admin-mockserver"}
CONTROL = "/__mock__/packs/openai_usage"
DAY = 86400
BATCH = 10_000
WARM_RUNS = 20
KEYS = [("proj_default", "user-alice", "key_default_alice"), ("proj_default", "user-bob", "key_default_bob"),
        ("proj_support_bot", "user-carol", "key_support_prod"), ("proj_support_bot", "user-bob", "key_support_staging"),
        ("proj_search", "user-dave", "key_search_indexer"), ("proj_search", "user-dave", "key_search_api"),
        ("proj_studio", "user-erin", "key_studio_erin"), ("proj_studio", "user-alice", "key_studio_alice")]
MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "o3-mini-2025-01-31"]
TIERS = ["default", "default", "default", "flex", "priority"]


def queries(now: int) -> dict[str, str]:
    """name -> path and query: usage kinds and costs, bucket widths 1m/1h/1d, filters, group_by."""
    today = now - now % DAY
    month, week, day = today - 29 * DAY, now - 7 * DAY, now - DAY
    usage = "/v1/organization/usage"
    return {
        "completions 1d x30": f"{usage}/completions?start_time={month}&bucket_width=1d&limit=30",
        "completions 1d x30 by model,project": f"{usage}/completions?start_time={month}&bucket_width=1d&limit=30"
                                               "&group_by=model&group_by=project_id",
        "completions 1d x30 filtered, by key": f"{usage}/completions?start_time={month}&bucket_width=1d&limit=30"
                                               "&models=gpt-4o-2024-08-06&project_ids=proj_search&batch=false"
                                               "&group_by=api_key_id",
        "completions 1h x168": f"{usage}/completions?start_time={week}&bucket_width=1h&limit=168",
        "completions 1h x168 by every field": f"{usage}/completions?start_time={week}&bucket_width=1h&limit=168"
                                              "&group_by=project_id&group_by=user_id&group_by=api_key_id"
                                              "&group_by=model&group_by=batch&group_by=service_tier",
        "completions 1m x1440": f"{usage}/completions?start_time={day}&bucket_width=1m&limit=1440",
        "completions 1m x1440 by model": f"{usage}/completions?start_time={day}&bucket_width=1m&limit=1440"
                                         "&group_by=model",
        "embeddings 1d x30": f"{usage}/embeddings?start_time={month}&bucket_width=1d&limit=30",
        "costs 1d x30": f"/v1/organization/costs?start_time={month}&limit=30",
        "costs 1d x30 by line_item,project": f"/v1/organization/costs?start_time={month}&limit=30"
                                             "&group_by=line_item&group_by=project_id",
    }


@dataclass
class QueryFigures:
    cold_ms: float
    warm_ms: float
    size: int


@dataclass
class ScaleFigures:
    events: int
    small: dict[str, QueryFigures] = field(default_factory=dict)
    large: dict[str, QueryFigures] = field(default_factory=dict)
    ingest_s: float = 0.0
    ingest_cpu_s: float = 0.0  # the server's CPU time during the ingest
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    synthetic_ready_s: float = 0.0
    synthetic_rss_mb: float = 0.0
    synthetic_cold_ms: float = 0.0

    def lines(self) -> list[str]:
        out = [f"OpenAI Usage at scale ({self.events:,} completion events over 30 days, batches of {BATCH:,}):",
               f"  ingest {self.ingest_s:.2f} s ({self.events / max(self.ingest_s, 1e-9):,.0f} events/s; "
               f"server CPU {self.ingest_cpu_s:.2f} s; goal < 10 s for 1 M); RSS {self.rss_before_mb:.0f} MB before, {self.rss_after_mb:.0f} MB after (goal < 400 MB)",
               f"  {'query':<40} {'small cold':>10} {'small warm':>10} {'1M cold':>9} {'1M warm':>9} {'bytes':>9}"]
        for name, large in self.large.items():
            small = self.small[name]
            out.append(f"  {name:<40} {small.cold_ms:>8.1f}ms {small.warm_ms:>8.2f}ms {large.cold_ms:>7.1f}ms "
                       f"{large.warm_ms:>7.2f}ms {large.size:>9,}")
        worst = max(figures.cold_ms for figures in self.large.values())
        out.append(f"  slowest cold query with {self.events:,} events: {worst:.1f} ms (goal < 100 ms)")
        if self.synthetic_ready_s:
            out.append(f"  start with --openai-usage-events {self.events}: ready in {self.synthetic_ready_s:.2f} s, "
                       f"RSS {self.synthetic_rss_mb:.0f} MB, first 1d x30 completions query "
                       f"{self.synthetic_cold_ms:.1f} ms")
        return out


class Server:
    """`mockserver serve` on a free port, with one keep-alive connection."""

    def __init__(self, extra: list[str] | None = None) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "mockserver", "serve", "--api", "openai_usage", "--seed", "1",
                   "--host", "127.0.0.1", "--port", str(self.port), *(extra or [])]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.connection: http.client.HTTPConnection | None = None

    def wait_ready(self) -> float:
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mockserver exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                status, _ = self.request("GET", "/__mock__/health")
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                self.connection = None
                time.sleep(0.05)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()  # the server closed an idle keep-alive connection
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def cpu_s(self) -> float:
        """The server's CPU time so far (user + system): unlike wall time, not inflated by other
        processes on a shared machine."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def batches(count: int, now: int, seed: int = 1) -> list[bytes]:
    """`count` completion events at random seconds of the last 30 days, as request bodies."""
    rng = random.Random(seed)
    first = now - 30 * DAY
    bodies = []
    for start in range(0, count, BATCH):
        events = []
        for _ in range(min(BATCH, count - start)):
            project, user, key = rng.choice(KEYS)
            requests = rng.randint(1, 40)
            tokens_in, tokens_out = requests * rng.randint(200, 4000), requests * rng.randint(50, 1200)
            events.append({"kind": "completions", "time": first + rng.randrange(30 * DAY), "project_id": project,
                           "user_id": user, "api_key_id": key, "model": rng.choice(MODELS),
                           "batch": rng.random() < 0.2, "service_tier": rng.choice(TIERS),
                           "input_tokens": tokens_in, "output_tokens": tokens_out,
                           "input_cached_tokens": int(tokens_in * rng.uniform(0, 0.6)),
                           "num_model_requests": requests})
        bodies.append(orjson.dumps({"events": events}))
    return bodies


def timed_query(server: Server, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    status, body = server.request("GET", path, headers=ADMIN)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or not body.startswith(b'{"object":"page"'):
        raise RuntimeError(f"{path}: {status} {body[:300]!r}")
    return elapsed, len(body)


def measure_queries(server: Server, now: int) -> dict[str, QueryFigures]:
    found = {}
    for name, path in queries(now).items():
        cold, size = timed_query(server, path)
        warm = statistics.median(timed_query(server, path)[0] for _ in range(WARM_RUNS))
        found[name] = QueryFigures(cold, warm, size)
    return found


def measure(events: int = 1_000_000, synthetic: bool = True) -> ScaleFigures:
    figures = ScaleFigures(events)
    now = int(time.time())
    bodies = batches(events, now)
    server = Server()
    try:
        server.wait_ready()
        figures.small = measure_queries(server, now)
        status, _ = server.request("DELETE", f"{CONTROL}/events")
        assert status == 204, status
        figures.rss_before_mb = server.rss_mb()
        cpu = server.cpu_s()
        started = time.perf_counter()
        for body in bodies:
            status, answer = server.request("POST", f"{CONTROL}/events", body, {"content-type": "application/json"})
            if status != 201:
                raise RuntimeError(f"POST events: {status} {answer[:300]!r}")
        figures.ingest_s = time.perf_counter() - started
        figures.ingest_cpu_s = server.cpu_s() - cpu
        del bodies
        figures.rss_after_mb = server.rss_mb()
        figures.large = measure_queries(server, now)
    finally:
        server.stop()
    if synthetic:
        server = Server(["--openai-usage-events", str(events)])
        try:
            figures.synthetic_ready_s = server.wait_ready()
            figures.synthetic_rss_mb = server.rss_mb()
            figures.synthetic_cold_ms = timed_query(server, queries(int(time.time()))["completions 1d x30"])[0]
        finally:
            server.stop()
    return figures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-synthetic", action="store_true", help="leave out the --openai-usage-events start")
    args = parser.parse_args(argv)
    for line in measure(args.events, synthetic=not args.no_synthetic).lines():
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
