"""Benchmark mockserver against Stoplight Prism under identical wrk load.

For each API (OpenAI Usage, Chutes, InvokeAI), starts the mock and Prism on free
loopback ports, checks that each answers the benchmarked requests with a real 2xx
JSON answer of the right kind (InvokeAI: after seeding the mock with boards,
uploaded images and installed models, and pausing its queue processor), then drives
them one at a time with wrk and prints req/s, p50 and p99 latency plus the
mock/Prism throughput ratio. See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import stall_bench  # benchmarks/stall_bench.py: this script's folder is first on sys.path
import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_PRISM_SPEC = REPO_ROOT / "specs" / "openai_usage.yaml"
DEFAULT_CHUTES_SPEC = REPO_ROOT / "specs" / "chutes.yaml"
DEFAULT_INVOKEAI_SPEC = REPO_ROOT / "specs" / "invokeai.yaml"
PRISM_BIN = BENCH_DIR / "node_modules" / ".bin" / "prism"
VARIED_SCRIPT = BENCH_DIR / "varied_start_time.lua"
POST_SCRIPT = BENCH_DIR / "post.lua"
POST_JSON_SCRIPT = BENCH_DIR / "post_json.lua"

HOST = "127.0.0.1"
ADMIN_KEY = "sk-admin-mockserver"
AUTH_HEADER = f"Bearer {ADMIN_KEY}"
DAY = 86400
WINDOW_DAYS = 30  # the fixed query asks for 30 daily buckets starting 30 days ago
VARIED_SPAN_DAYS = 90  # varied start_times keep the 30-day window inside the last 90 days
STARTUP_TIMEOUT_S = 60.0
# wrk's own default (2 s) would count a slow answer as a timeout and leave it out of the latency
# percentiles; a longer one records Prism's slow answers as what they are.
WRK_TIMEOUT_S = 10
MOCK_HEALTH_PATH = "/__mock__/health"
GOAL_RATIO = 1.0

SCENARIOS = ("fixed", "varied")
SERVERS = ("mock", "prism")
APIS = ("openai_usage", "chutes", "invokeai")

# Chutes: the list page asks for more rows than there are visible chutes, so every `limit` in the
# varied range returns the same items; the chute is fetched by a name without a slash (Prism does
# not match `{chute_id_or_name}` against `deepseek-ai/DeepSeek-V3-0324`, it answers 404).
CHUTES_LIST_LIMIT = 25
CHUTES_VARIED_LIMITS = 100  # the varied list scenario cycles limit=25..124
CHUTE_NAME = "FLUX.1-schnell"

# InvokeAI: the mock starts with an empty gallery, so before any load the script gives it boards
# and uploaded PNGs (Prism answers from the spec whatever it was sent, so it is not seeded).
INVOKEAI_BOARDS = 20
INVOKEAI_IMAGES = 50  # the first BOARDED ones go on the boards in turn, the rest stay uncategorized
INVOKEAI_BOARDED_IMAGES = 40
INVOKEAI_IMAGE_SIZE = 64  # pixels, square
# Models the mock installs before any load (model_speed `instant`): every file and folder of its virtual
# models folder (fixtures/invokeai/model_files.yaml) that the probe identifies, and two repos of its
# virtual HuggingFace (fixtures/invokeai/hugging_face.yaml). One model each.
INVOKEAI_MODEL_SOURCES = (
    "/invokeai/import/checkpoints/dreamshaper_8.safetensors",
    "/invokeai/import/checkpoints/juggernautXL_v9Rdphoto2Lightning.safetensors",
    "/invokeai/import/checkpoints/sd-v1-5-inpainting.ckpt",
    "/invokeai/import/loras/pixel-art-xl.safetensors",
    "/invokeai/import/vae/vae-ft-mse-840000-ema-pruned.safetensors",
    "/invokeai/import/embeddings/easynegative.safetensors",
    "/invokeai/import/diffusers/stable-diffusion-2-1",
    "/invokeai/import/diffusers/sdxl-vae-fp16-fix",
    "stabilityai/sdxl-vae",
    "stable-diffusion-v1-5/stable-diffusion-v1-5",
)
INVOKEAI_INSTALL_TIMEOUT_S = 30.0
INVOKEAI_QUEUE = "/api/v1/queue/default"
# The enqueued batch: one `integer` node, run once (the recorded session's first batch, seq 99).
ENQUEUE_BODY = json.dumps(
    {
        "batch": {
            "graph": {"id": "g-int", "nodes": {"int1": {"id": "int1", "type": "integer", "value": 42}}, "edges": []},
            "runs": 1,
            "origin": "bench",
            "destination": "gallery",
        },
        "prepend": False,
    },
    separators=(",", ":"),
)
# Sent once to each server before the load, to see whether it validates the body at all (missing
# `batch.graph`, `runs` below 1: InvokeAI answers 422).
INVALID_ENQUEUE_BODY = '{"batch":{"runs":0}}'
# The queue holds at most 10,000 pending items (InvokeAI's max_queue_size; the mock's too): past that an
# enqueue answers 200 with `enqueued: 0`. So every ENQUEUE_CLEAR_EVERY-th request of the enqueue load is
# `PUT .../clear` (on both servers alike), keeping the mock's queue between 0 and that many items, and
# the mock's answers with REFUSED_MARKER are counted (as errors).
ENQUEUE_CLEAR_EVERY = 1000
REFUSED_MARKER = '"enqueued":0'

# The varied scenario of the Chutes endpoints cycles through a list of request targets (path and
# query) given as script arguments; the script is written next to the server logs at run time.
VARIED_TARGETS_LUA = """\
-- wrk script: every request takes the next target (path?query) from the arguments, in a cycle.
local targets = {}
local sent = 0

function init(args)
  for i, target in ipairs(args) do
    targets[i] = target
  end
end

function request()
  local target = targets[(sent % #targets) + 1]
  sent = sent + 1
  -- wrk.format adds the -H headers given on the command line, if any.
  return wrk.format(nil, target)
end
"""


class BenchError(Exception):
    """A setup or validation failure that makes the benchmark meaningless."""


class StatusError(BenchError):
    """A server answered a pre-check with another HTTP status than the one benchmarked."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    name: str
    operation_path: str  # path as written in the spec's `paths`, without a server prefix
    query: str  # OpenAI Usage: everything after start_time; Chutes, InvokeAI: the fixed request's query
    target: str = ""  # Chutes: the fixed request path, when it differs from operation_path
    method: str = "GET"
    status: int = 200  # the answer a server must give before it is loaded
    body: str = ""  # a JSON request body (sent with Content-Type: application/json), or none
    # Every clear_every-th request of the load is `PUT clear_path` instead (0: never).
    clear_every: int = 0
    clear_path: str = ""

    @property
    def fixed_target(self) -> str:
        """The fixed request as the spec's paths write it (path?query)."""
        path = self.target or self.operation_path
        return f"{path}?{self.query}" if self.query else path

    def query_for(self, start_time: int) -> str:
        return f"start_time={start_time}&{self.query}"


ENDPOINTS = (
    Endpoint("completions", "/organization/usage/completions", "bucket_width=1d&limit=30"),
    Endpoint("costs", "/organization/costs", "limit=30"),
)
CHUTES_ENDPOINTS = (
    Endpoint("chutes_list", "/chutes/", f"include_public=true&limit={CHUTES_LIST_LIMIT}"),
    Endpoint("chutes_get", "/chutes/{chute_id_or_name}", "", target=f"/chutes/{CHUTE_NAME}"),
)


def is_usage_page(page: object) -> bool:
    return isinstance(page, dict) and page.get("object") == "page"


def is_chute_list(page: object) -> bool:
    return isinstance(page, dict) and isinstance(page.get("items"), list) and isinstance(page.get("total"), int)


def is_chute(page: object) -> bool:
    return isinstance(page, dict) and isinstance(page.get("chute_id"), str) and "name" in page


def is_board(page: object) -> bool:
    return isinstance(page, dict) and isinstance(page.get("board_id"), str) and "board_name" in page


def is_board_array(page: object) -> bool:
    return isinstance(page, list) and all(is_board(item) for item in page)


def is_board_array_or_page(page: object) -> bool:
    """Either branch of the list's `anyOf`: the array (`all=true`) or an offset page of boards."""
    return is_board_array(page) or (
        isinstance(page, dict) and isinstance(page.get("items"), list) and is_board_array(page["items"])
    )


def is_image_names(page: object) -> bool:
    return (
        isinstance(page, dict)
        and isinstance(page.get("image_names"), list)
        and all(isinstance(name, str) for name in page["image_names"])
        and isinstance(page.get("total_count"), int)
    )


def is_app_version(page: object) -> bool:
    return isinstance(page, dict) and isinstance(page.get("version"), str)


def is_models_list(page: object) -> bool:
    return (
        isinstance(page, dict)
        and isinstance(page.get("models"), list)
        and all(isinstance(m, dict) and isinstance(m.get("key"), str) and "name" in m for m in page["models"])
    )


def is_installed_models(page: object) -> bool:
    """The mock's list must carry every seeded model."""
    return is_models_list(page) and len(page["models"]) == len(INVOKEAI_MODEL_SOURCES)  # type: ignore[index]


def is_enqueue_result(page: object) -> bool:
    return (
        isinstance(page, dict)
        and isinstance(page.get("enqueued"), int)
        and isinstance(page.get("item_ids"), list)
        and all(isinstance(item_id, int) for item_id in page["item_ids"])
        and isinstance(page.get("batch"), dict)
    )


def is_one_enqueued(page: object) -> bool:
    """The batch became one queue item (not `enqueued: 0`, as when the queue is full)."""
    return (
        is_enqueue_result(page)
        and page["enqueued"] == page.get("requested") == 1  # type: ignore[index]
        and len(page["item_ids"]) == 1  # type: ignore[index]
    )


@dataclass(frozen=True)
class Api:
    """One emulated API: the pack the mock serves, the spec Prism serves, what is requested."""

    name: str
    mock_prefix: str  # where the mock serves the spec's paths
    headers: tuple[tuple[str, str], ...]  # sent with every request, both servers
    endpoints: tuple[Endpoint, ...]
    page_check: dict[str, tuple[Callable[[object], bool], str]]  # endpoint -> (is it right, what it should be)
    # Endpoints where Prism may answer another shape the spec allows; it is accepted and reported.
    prism_page_check: dict[str, tuple[Callable[[object], bool], str]] = field(default_factory=dict)


OPENAI_USAGE = Api(
    "openai_usage",
    "/v1",
    (("Authorization", AUTH_HEADER),),
    ENDPOINTS,
    {e.name: (is_usage_page, 'a page (no "object": "page")') for e in ENDPOINTS},
)
# The two Chutes operations have optional auth: no credentials, the anonymous view.
CHUTES = Api(
    "chutes",
    "",
    (),
    CHUTES_ENDPOINTS,
    {
        "chutes_list": (is_chute_list, 'a chute list (no "items" and "total")'),
        "chutes_get": (is_chute, 'a chute (no "chute_id" and "name")'),
    },
)
# InvokeAI has no authentication. The six requests: two gallery reads that carry the seeded data,
# the installed models, the smallest read there is, and two writes: an enqueue (one queue item per
# POST, the processor paused) and a board creation (every POST creates a board on the mock). The
# writes come last so the reads see only the seeded data.
INVOKEAI_ENDPOINTS = (
    Endpoint("boards_list", "/api/v1/boards/", "all=true"),
    Endpoint("images_names", "/api/v1/images/names", ""),
    Endpoint("models_list", "/api/v2/models/", ""),
    Endpoint("app_version", "/api/v1/app/version", ""),
    Endpoint(
        "enqueue_batch",
        "/api/v1/queue/{queue_id}/enqueue_batch",
        "",
        target=f"{INVOKEAI_QUEUE}/enqueue_batch",
        method="POST",
        body=ENQUEUE_BODY,
        clear_every=ENQUEUE_CLEAR_EVERY,
        clear_path=f"{INVOKEAI_QUEUE}/clear",
    ),
    Endpoint("create_board", "/api/v1/boards/", "board_name=x", method="POST", status=201),
)
INVOKEAI = Api(
    "invokeai",
    "",
    (),
    INVOKEAI_ENDPOINTS,
    {
        "boards_list": (is_board_array, "an array of boards (objects with board_id and board_name)"),
        "images_names": (is_image_names, 'image names (no "image_names" list and "total_count")'),
        "models_list": (
            is_installed_models,
            f'the {len(INVOKEAI_MODEL_SOURCES)} installed models ({{"models": [...]}}, each with a key and a name)',
        ),
        "app_version": (is_app_version, 'a version (no "version" string)'),
        "enqueue_batch": (is_one_enqueued, "an enqueue result with one item enqueued"),
        "create_board": (is_board, "a board (no board_id and board_name)"),
    },
    {
        # The spec's list answer is `anyOf: [offset page, array]`; Prism's static mode answers with the
        # first branch even for `all=true`, where the real server (and the mock) answer the array.
        "boards_list": (is_board_array_or_page, "an array or a page of boards"),
        # Prism installs nothing: it answers the spec's example, `{"models": []}`.
        "models_list": (is_models_list, 'a models list ({"models": [...]}, any length)'),
        # Prism keeps no queue: its answer is generated from the schema (`enqueued: 0`, `item_ids: [0]`).
        "enqueue_batch": (is_enqueue_result, "an enqueue result (any counts)"),
    },
)
API_BY_NAME = {api.name: api for api in (OPENAI_USAGE, CHUTES, INVOKEAI)}


@dataclass(frozen=True)
class LoadSettings:
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    timeout_s: int = WRK_TIMEOUT_S


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    paths: dict[str, str]  # endpoint name -> request path on this server
    api: Api = OPENAI_USAGE

    def url(self, endpoint: Endpoint, query: str = "") -> str:
        path = self.paths[endpoint.name]
        return f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"

    def target_url(self, target: str) -> str:
        """A request target written as the spec's paths are (`/chutes/x?y`), on this server."""
        return f"{self.base_url}{self.prefix}{target}"

    @property
    def prefix(self) -> str:
        endpoint = self.api.endpoints[0]
        return self.paths[endpoint.name].removesuffix(endpoint.operation_path)


@dataclass(frozen=True)
class WrkResult:
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int  # connect, read, write and timeout errors together
    timeouts: int = 0  # of which timeouts: answers slower than --timeout, missing from the percentiles
    refused: int = 0  # 2xx answers that did not do what the row measures (enqueues the full queue refused)
    marked: int | None = None  # post_json.lua's count of answers with the marker it was given, if any

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.refused


@dataclass(frozen=True)
class Verdict:
    met: bool
    ratios: dict[str, float | None]  # scenario -> mock/Prism req/s
    errors: bool


@dataclass(frozen=True)
class Row:
    scenario: str
    endpoint: str
    server: str
    url: str
    response_bytes: int
    result: WrkResult


# --- setup -----------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds of measured load per run (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="seconds of unreported warm-up per server and endpoint (default 5)",
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk open connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--timeout",
        type=int,
        default=WRK_TIMEOUT_S,
        help=f"wrk request timeout in seconds: slower answers count as errors (default {WRK_TIMEOUT_S})",
    )
    parser.add_argument(
        "--prism-spec",
        type=Path,
        default=DEFAULT_PRISM_SPEC,
        help="OpenAPI document Prism serves for the OpenAI Usage endpoints"
        f" (default {DEFAULT_PRISM_SPEC.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--chutes-prism-spec",
        type=Path,
        default=DEFAULT_CHUTES_SPEC,
        help="OpenAPI document Prism serves for the Chutes endpoints"
        f" (default {DEFAULT_CHUTES_SPEC.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--invokeai-prism-spec",
        type=Path,
        default=DEFAULT_INVOKEAI_SPEC,
        help="OpenAPI document Prism serves for the InvokeAI endpoints"
        f" (default {DEFAULT_INVOKEAI_SPEC.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--apis",
        default=",".join(APIS),
        help=f"comma-separated APIs to benchmark, in this order (default {','.join(APIS)})",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=5,
        help="warm starts per pack set for the start-up part (startup_bench.py; default 5, 0 skips it)",
    )
    parser.add_argument("--spec-runs", type=int, default=3,
                        help="starts of `serve --spec` on GitHub's REST description beside Prism "
                             "(spec_bench.py; default 3, 0 skips it)")
    parser.add_argument("--skip-restart", action="store_true",
                        help="leave out the restart-with-80-MB-of-state figure (restart_bench.py)")
    parser.add_argument("--usage-events", type=int, default=1_000_000,
                        help="events of the OpenAI Usage scale part (usage_scale_bench.py); 0 skips it")
    parser.add_argument("--scale-images", type=int, default=100_000,
                        help="images in the InvokeAI scale part (scale_bench.py, with 10k queue items and 10k"
                        " workflows); 0 skips it (default 100000)")
    parser.add_argument("--stall-seconds", type=float, default=8.0,
                        help="seconds per phase of the stall test (stall_bench.py); 0 skips it (default 8)")
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.threads, args.timeout) < 1 or args.warmup < 0:
        parser.error("--duration, --connections, --threads and --timeout must be >= 1, --warmup >= 0")
    if args.connections < args.threads:
        parser.error("wrk needs --connections >= --threads")
    args.apis = [name.strip() for name in args.apis.split(",") if name.strip()]
    unknown = [name for name in args.apis if name not in API_BY_NAME]
    if unknown or not args.apis or len(set(args.apis)) != len(args.apis):
        parser.error(f"--apis takes a comma-separated subset of {','.join(APIS)} (got {','.join(args.apis)!r})")
    return args


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            "wrk is not installed; install it with `sudo apt-get install wrk` (Debian/Ubuntu)"
            " or `brew install wrk` (macOS)"
        )
    return wrk


def ensure_prism_installed() -> None:
    if PRISM_BIN.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError(
            f"Prism is not installed at {PRISM_BIN} and npm was not found;"
            " install Node.js 20 with npm, then run `npm ci --prefix benchmarks`"
        )
    print(
        "Prism not installed yet; running `npm ci` in benchmarks/ (pinned by package-lock.json) ...",
        flush=True,
    )
    completed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], check=False, cwd=BENCH_DIR)
    if completed.returncode != 0 or not PRISM_BIN.exists():
        raise BenchError("`npm ci` in benchmarks/ failed; see its output above")


def prism_paths(spec: Path, api: Api = OPENAI_USAGE) -> dict[str, str]:
    """Map each endpoint to the path Prism routes for it.

    Prism ignores the `servers` base path, so whether the spec writes
    `/organization/costs` (with servers `.../v1`) or `/v1/organization/costs`
    decides the URL Prism answers on.
    """
    if not spec.is_file():
        option = "--prism-spec" if api is OPENAI_USAGE else f"--{api.name}-prism-spec"
        raise BenchError(
            f"Prism spec not found: {spec} (pass {option} PATH to use another OpenAPI document)"
        )
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    spec_paths = set((document or {}).get("paths") or {})
    paths: dict[str, str] = {}
    for endpoint in api.endpoints:
        candidates = list(dict.fromkeys([endpoint.operation_path, "/v1" + endpoint.operation_path]))
        found = next((p for p in candidates if p in spec_paths), None)
        if found is None:
            raise BenchError(
                f"{spec} has no path {' or '.join(candidates)};"
                f" Prism could not serve the {endpoint.name} endpoint"
            )
        paths[endpoint.name] = found
    return paths


def mock_paths(api: Api = OPENAI_USAGE) -> dict[str, str]:
    return {endpoint.name: api.mock_prefix + endpoint.operation_path for endpoint in api.endpoints}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def mock_command(port: int, api: Api = OPENAI_USAGE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mockserver",
        "serve",
        "--api",
        api.name,
        "--host",
        HOST,
        "--port",
        str(port),
        "--seed",
        "1",
        "--quiet",  # no access log: Prism runs with `-v error`
    ]


def prism_command(spec: Path, port: int) -> list[str]:
    # Static mode (no -d): Prism answers from examples/schemas without faking data per request.
    return [str(PRISM_BIN), "mock", str(spec), "-h", HOST, "-p", str(port), "-v", "error"]


# --- process management ----------------------------------------------------


@dataclass
class RunningProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_process(name: str, command: list[str], log_dir: Path) -> RunningProcess:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        # Own session (process group) so the whole server tree can be stopped,
        # and so a terminal Ctrl-C reaches only us and we shut it down in order.
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningProcess(name, process, log_path)


def stop_process(running: RunningProcess) -> None:
    # Signal the whole group even if the leader already exited: workers it forked may remain.
    try:
        os.killpg(running.process.pid, signal.SIGTERM)
        running.process.wait(timeout=5.0)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait()


def answers_http(url: str, headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": AUTH_HEADER} if headers is None else headers)
    try:
        with urllib.request.urlopen(request, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # listening; whether the answer is right is check_page's job
    except (urllib.error.URLError, OSError):
        return False


def wait_until_ready(running: RunningProcess, url: str, headers: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_TIMEOUT_S:
        if running.process.poll() is not None:
            raise BenchError(
                f"{running.name} exited with code {running.process.returncode} before answering {url};"
                f" its output:\n{running.log_tail()}"
            )
        if answers_http(url, headers):
            return time.monotonic() - started
        time.sleep(0.2)
    raise BenchError(
        f"{running.name} did not answer {url} within {STARTUP_TIMEOUT_S:.0f}s;"
        f" its output:\n{running.log_tail()}"
    )


# --- validation and load ---------------------------------------------------


def fetch_json(
    server_name: str,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    body: bytes | None = None,
    status: int = 200,
) -> tuple[object, int]:
    """Send one request; fail unless the answer has `status` and a JSON body. Returns it and its size."""
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Authorization": AUTH_HEADER} if headers is None else headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            code, content = response.status, response.read()
    except urllib.error.HTTPError as error:
        code, content = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        raise BenchError(f"{server_name}: {method} {url} failed: {error}") from None
    if code != status:
        detail = content[:500].decode("utf-8", errors="replace")
        raise StatusError(
            f"{server_name}: {method} {url} returned HTTP {code}, not {status};"
            f" benchmarking errors is meaningless. Body: {detail}",
            code,
        )
    try:
        page = json.loads(content)
    except ValueError:
        raise BenchError(
            f"{server_name}: {method} {url} returned {code} but not JSON: {content[:200]!r}"
        ) from None
    return page, len(content)


def check_page(
    server_name: str,
    url: str,
    headers: dict[str, str] | None = None,
    expected: tuple[Callable[[object], bool], str] = (is_usage_page, 'a page (no "object": "page")'),
    *,
    method: str = "GET",
    status: int = 200,
    body: bytes | None = None,
) -> tuple[int, object]:
    """Send one request; fail unless it answers `status` with JSON of the expected kind.

    Returns the body size and the decoded body.
    """
    page, size = fetch_json(server_name, url, headers, method=method, status=status, body=body)
    is_right, what = expected
    if not is_right(page):
        body = json.dumps(page)[:200]
        raise BenchError(f"{server_name}: {method} {url} returned {status} but not {what}: {body!r}")
    return size, page


_UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise BenchError(f"unexpected wrk latency value {value!r}")
    return float(match.group(1)) * _UNIT_TO_MS[match.group(2)]


def parse_wrk_output(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.MULTILINE)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    p50 = find(r"^\s+50%\s+(\S+)")
    p99 = find(r"^\s+99%\s+(\S+)")
    total = find(r"^\s+(\d+) requests in ")
    if not (rps and p50 and p99 and total):
        raise BenchError(f"could not parse wrk output:\n{output}")
    non_2xx = find(r"Non-2xx or 3xx responses:\s+(\d+)")
    socket_errors = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        p50_ms=to_ms(p50.group(1)),
        p99_ms=to_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        timeouts=int(socket_errors.group(4)) if socket_errors else 0,
        marked=int(marked.group(1)) if (marked := find(r"^marked answers: (\d+)")) else None,
    )


def run_wrk(
    wrk: str,
    url: str,
    settings: LoadSettings,
    seconds: int,
    script_args: list[str] | None = None,
    headers: tuple[tuple[str, str], ...] = OPENAI_USAGE.headers,
    script: Path = VARIED_SCRIPT,
) -> WrkResult:
    command = [
        wrk, f"-t{settings.threads}", f"-c{settings.connections}", f"-d{seconds}s",
        f"--timeout={settings.timeout_s}s", "--latency",
    ]
    for name, value in headers:
        command += ["-H", f"{name}: {value}"]
    if script_args is not None:
        command += ["-s", str(script), url, "--", *script_args]
    else:
        command.append(url)
    # wrk stops at -d whatever is in flight; the margin only guards against wrk itself hanging.
    try:
        completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish a {seconds}s run within {seconds + 60}s: {' '.join(command)}") from None
    if completed.returncode != 0:
        raise BenchError(f"wrk failed (exit {completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk_output(completed.stdout)


def utc_day_start(days_ago: int, now: float) -> int:
    return (int(now) // DAY - days_ago) * DAY


def varied_start_times(now: float) -> tuple[int, int]:
    """First start_time and number of days the varied scenario cycles through.

    Windows start between 90 and 30 days ago so every 30-day window is complete
    and in the past, keeping payload sizes comparable to the fixed scenario.
    """
    first = utc_day_start(VARIED_SPAN_DAYS, now)
    return first, VARIED_SPAN_DAYS - WINDOW_DAYS + 1


@dataclass(frozen=True)
class Targets:
    """The Chutes or InvokeAI request targets (path?query, as the spec's paths write them) of one endpoint.

    No varied targets: the endpoint has only the fixed scenario.
    """

    fixed: str
    varied: tuple[str, ...]
    described: str  # the varied range, for the report


def chutes_targets(endpoint: Endpoint, chute_ids: list[str]) -> Targets:
    if endpoint.name == "chutes_list":
        limits = range(CHUTES_LIST_LIMIT, CHUTES_LIST_LIMIT + CHUTES_VARIED_LIMITS)
        varied = tuple(f"/chutes/?include_public=true&limit={limit}" for limit in limits)
        return Targets(f"/chutes/?{endpoint.query}", varied,
                       f"/chutes/?include_public=true&limit={limits[0]}..{limits[-1]}")
    varied = (endpoint.target, *(f"/chutes/{chute_id}" for chute_id in chute_ids))
    return Targets(endpoint.target, varied, f"/chutes/{{{CHUTE_NAME}|{len(chute_ids)} public chute ids}}")


def public_chute_ids(mock: Server) -> list[str]:
    """The chutes an anonymous caller may read, by id (ids have no slash, so Prism routes them)."""
    endpoint = CHUTES.endpoints[0]
    page, _ = fetch_json(mock.name, mock.target_url(f"/chutes/?{endpoint.query}"), {})
    if not is_chute_list(page):
        raise BenchError(f"{mock.name}: the chute list is not a chute list: {json.dumps(page)[:200]!r}")
    ids = [item["chute_id"] for item in page["items"]]  # type: ignore[index]
    if not ids or len(ids) >= CHUTES_LIST_LIMIT:
        raise BenchError(f"{mock.name}: expected 1..{CHUTES_LIST_LIMIT - 1} visible chutes, got {len(ids)}")
    return ids


def invokeai_targets(endpoint: Endpoint, board_ids: list[str]) -> Targets:
    """Varied lists: every sort of the board list, the names of each seeded board (and of none) in
    both orders; the version and the POST have only the fixed request."""
    fixed = endpoint.fixed_target
    if endpoint.name == "boards_list":
        varied = tuple(
            f"{endpoint.operation_path}?all=true&order_by={order_by}&direction={direction}"
            f"&include_archived={archived}"
            for order_by in ("created_at", "board_name")
            for direction in ("DESC", "ASC")
            for archived in ("false", "true")
        )
        described = (
            f"{endpoint.operation_path}?all=true&order_by={{created_at|board_name}}&direction={{DESC|ASC}}"
            "&include_archived={false|true}"
        )
        return Targets(fixed, varied, described)
    if endpoint.name == "images_names":
        varied = tuple(
            f"{endpoint.operation_path}?order_dir={order_dir}&starred_first={starred}"
            + (f"&board_id={board}" if board else "")
            for board in ("", "none", *board_ids)
            for order_dir in ("DESC", "ASC")
            for starred in ("true", "false")
        )
        described = (
            f"{endpoint.operation_path}?order_dir={{DESC|ASC}}&starred_first={{true|false}}"
            f"[&board_id={{none|{len(board_ids)} board ids}}]"
        )
        return Targets(fixed, varied, described)
    return Targets(fixed, (), fixed)


def solid_png(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A square PNG of one colour (8-bit RGB), encoded here so the script needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b"")
    )


def multipart_file(field_name: str, filename: str, content_type: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file part; returns it and its Content-Type."""
    boundary = f"mockserver-bench-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    body = head.encode("ascii") + data + f"\r\n--{boundary}--\r\n".encode("ascii")
    return body, f"multipart/form-data; boundary={boundary}"


def seed_invokeai(mock: Server) -> list[str]:
    """Give the mock's empty gallery boards and uploaded images, through the API; return the board ids.

    The first INVOKEAI_BOARDED_IMAGES images go onto the boards in turn (two per board), the rest
    stay uncategorized. Checks afterwards that the board list and the names carry them.
    """
    board_ids: list[str] = []
    for index in range(INVOKEAI_BOARDS):
        name = urllib.parse.quote(f"bench board {index:02d}")
        url = mock.target_url(f"/api/v1/boards/?board_name={name}")
        board, _ = fetch_json(mock.name, url, {}, method="POST", status=201)
        if not is_board(board):
            raise BenchError(f"{mock.name}: POST {url} did not answer a board: {json.dumps(board)[:200]!r}")
        board_ids.append(board["board_id"])  # type: ignore[index]
    for index in range(INVOKEAI_IMAGES):
        query = "image_category=general&is_intermediate=false"
        if index < INVOKEAI_BOARDED_IMAGES:
            query += f"&board_id={board_ids[index % INVOKEAI_BOARDS]}"
        png = solid_png(INVOKEAI_IMAGE_SIZE, (index * 37 % 256, index * 91 % 256, index * 53 % 256))
        body, content_type = multipart_file("file", f"bench-{index:02d}.png", "image/png", png)
        url = mock.target_url(f"/api/v1/images/upload?{query}")
        image, _ = fetch_json(mock.name, url, {"Content-Type": content_type}, method="POST", body=body, status=201)
        if not (isinstance(image, dict) and isinstance(image.get("image_name"), str)):
            raise BenchError(f"{mock.name}: POST {url} did not answer an image: {json.dumps(image)[:200]!r}")
    boards, _ = fetch_json(mock.name, mock.target_url("/api/v1/boards/?all=true"), {})
    names, _ = fetch_json(mock.name, mock.target_url("/api/v1/images/names"), {})
    board_list = boards if is_board_array(boards) else []
    assert isinstance(board_list, list)
    on_boards = sum(board.get("image_count", 0) for board in board_list)
    if len(board_list) != INVOKEAI_BOARDS or on_boards != INVOKEAI_BOARDED_IMAGES:
        raise BenchError(
            f"{mock.name}: after seeding, expected {INVOKEAI_BOARDS} boards holding {INVOKEAI_BOARDED_IMAGES}"
            f" images, the board list says: {json.dumps(boards)[:300]!r}"
        )
    if not is_image_names(names) or names["total_count"] != INVOKEAI_IMAGES:  # type: ignore[index]
        raise BenchError(
            f"{mock.name}: after seeding, expected {INVOKEAI_IMAGES} image names: {json.dumps(names)[:300]!r}"
        )
    print(
        f"  seeded {mock.name}: {INVOKEAI_BOARDS} boards, {INVOKEAI_IMAGES} uploaded"
        f" {INVOKEAI_IMAGE_SIZE}x{INVOKEAI_IMAGE_SIZE} PNGs ({INVOKEAI_BOARDED_IMAGES} on boards)",
        flush=True,
    )
    return board_ids


JSON_HEADERS = {"Content-Type": "application/json"}


def seed_invokeai_models(mock: Server) -> int:
    """Install INVOKEAI_MODEL_SOURCES on the mock through the API, then pause its queue processor.

    `model_speed: instant` makes each install job complete at the next request (no clock to wait
    on); `queue_speed: instant` would run each queue item at the next request too, but the paused
    processor runs none: enqueue_batch then measures validation, expansion and storage only.
    Returns the number of models the list shows (checked to be one per source).
    """

    def control(method: str, path: str, body: dict | None = None, status: int = 200) -> object:
        data = json.dumps(body).encode() if body is not None else None
        page, _ = fetch_json(
            mock.name, mock.target_url(path), JSON_HEADERS if data else {}, method=method, body=data, status=status
        )
        return page

    control("GET", "/api/v2/models/")  # the pack builds its model manager at the first models call
    speeds = {"model_speed": "instant", "queue_speed": "instant"}
    answer = control("PUT", "/__mock__/packs/invokeai/settings", speeds)
    if not (isinstance(answer, dict) and all(answer.get(k) == v for k, v in speeds.items())):
        raise BenchError(f"{mock.name}: the settings did not take {speeds}: {json.dumps(answer)[:200]!r}")
    job_ids = []
    for source in INVOKEAI_MODEL_SOURCES:
        job = control("POST", f"/api/v2/models/install?source={urllib.parse.quote(source, safe='')}", {}, 201)
        if not (isinstance(job, dict) and isinstance(job.get("id"), int)):
            raise BenchError(f"{mock.name}: installing {source} did not answer a job: {json.dumps(job)[:200]!r}")
        job_ids.append(job["id"])
    deadline = time.monotonic() + INVOKEAI_INSTALL_TIMEOUT_S
    while True:
        jobs = control("GET", "/api/v2/models/install")
        by_id = {job.get("id"): job for job in jobs if isinstance(job, dict)} if isinstance(jobs, list) else {}
        states = {job_id: by_id.get(job_id, {}).get("status") for job_id in job_ids}
        failed = [by_id[job_id] for job_id, state in states.items() if state in ("error", "cancelled")]
        if failed:
            job = failed[0]
            raise BenchError(
                f"{mock.name}: installing {job.get('source')} ended {job.get('status')}:"
                f" {job.get('error_reason')} {job.get('error')}"
            )
        if all(state == "completed" for state in states.values()):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{mock.name}: model installs not done after {INVOKEAI_INSTALL_TIMEOUT_S:.0f}s: {states}")
        time.sleep(0.1)
    models = control("GET", "/api/v2/models/")
    if not is_installed_models(models):
        raise BenchError(
            f"{mock.name}: after installing {len(INVOKEAI_MODEL_SOURCES)} models the list says:"
            f" {json.dumps(models)[:300]!r}"
        )
    processor = control("PUT", f"{INVOKEAI_QUEUE}/processor/pause")
    if not (isinstance(processor, dict) and processor.get("is_started") is False):
        raise BenchError(f"{mock.name}: the queue processor did not pause: {json.dumps(processor)[:200]!r}")
    count = len(models["models"])  # type: ignore[index]
    print(f"  seeded {mock.name}: {count} installed models; queue processor paused", flush=True)
    return count


def invokeai_queue_counts(mock: Server) -> dict[str, int]:
    """The mock's default queue: pending, completed, ..., total."""
    page, _ = fetch_json(mock.name, mock.target_url(f"{INVOKEAI_QUEUE}/status"), {})
    queue = page.get("queue") if isinstance(page, dict) else None
    if not (isinstance(queue, dict) and isinstance(queue.get("pending"), int)):
        raise BenchError(f"{mock.name}: the queue status has no pending count: {json.dumps(page)[:200]!r}")
    return {key: value for key, value in queue.items() if isinstance(value, int)}


def clear_invokeai_queue(mock: Server) -> None:
    """Empty the mock's queue, so each enqueue run starts from none (the queue holds at most 10,000)."""
    fetch_json(mock.name, mock.target_url(f"{INVOKEAI_QUEUE}/clear"), {}, method="PUT")
    counts = invokeai_queue_counts(mock)
    if counts.get("total") != 0:
        raise BenchError(f"{mock.name}: the queue still holds items after clear: {counts}")


def probe_body_validation(server: Server, endpoint: Endpoint) -> str:
    """Send INVALID_ENQUEUE_BODY once: a server that validates the body answers 422."""
    request = urllib.request.Request(
        server.target_url(endpoint.fixed_target), data=INVALID_ENQUEUE_BODY.encode(), method=endpoint.method,
        headers={**dict(server.api.headers), **JSON_HEADERS},
    )
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"no answer ({error})"


def invokeai_board_count(mock: Server) -> int:
    """How many boards the mock holds (one page of one board: its `total` counts them all)."""
    page, _ = fetch_json(mock.name, mock.target_url("/api/v1/boards/?offset=0&limit=1"), {})
    if not (isinstance(page, dict) and isinstance(page.get("total"), int)):
        raise BenchError(f"{mock.name}: the board page has no total: {json.dumps(page)[:200]!r}")
    return int(page["total"])


def endpoint_targets(api: Api, mock: Server) -> Callable[[Endpoint], Targets] | None:
    """How to build each endpoint's request targets (None: OpenAI Usage, which builds URLs itself)."""
    if api is CHUTES:
        chute_ids = public_chute_ids(mock)
        return lambda endpoint: chutes_targets(endpoint, chute_ids)
    if api is INVOKEAI:
        board_ids = seed_invokeai(mock)
        seed_invokeai_models(mock)
        return lambda endpoint: invokeai_targets(endpoint, board_ids)
    return None


def check_server(
    server: Server, endpoint: Endpoint, now: float, targets: Targets | None = None, notes: list[str] | None = None
) -> int:
    """Validate the fixed request and the varied ones; return the fixed response size.

    Prism may answer another shape the spec also allows (`prism_page_check`); that is accepted and
    added to `notes`.
    """
    headers = dict(server.api.headers)
    body = endpoint.body.encode() if endpoint.body else None
    if body is not None:
        headers.update(JSON_HEADERS)
    strict = server.api.page_check[endpoint.name]
    expected = server.api.prism_page_check.get(endpoint.name, strict) if server.name == "prism" else strict
    if targets is not None:
        url = server.target_url(targets.fixed)
        response_bytes, page = check_page(
            server.name, url, headers, expected, method=endpoint.method, status=endpoint.status, body=body
        )
        if notes is not None and expected is not strict and not strict[0](page):
            notes.append(
                f"{endpoint.name}: {server.name} answers {endpoint.method} {targets.fixed} with a shape other"
                f" than {strict[1]}; accepted as {expected[1]}: {json.dumps(page)[:160]}"
            )
        for target in dict.fromkeys(targets.varied):
            check_page(server.name, server.target_url(target), headers, expected)
        if endpoint.clear_path:
            # The load mixes these in; a server that refused them would show errors for it.
            fetch_json(server.name, server.target_url(endpoint.clear_path), dict(server.api.headers), method="PUT")
        return response_bytes
    response_bytes, _ = check_page(
        server.name, server.url(endpoint, endpoint.query_for(utc_day_start(WINDOW_DAYS, now))), headers, expected
    )
    varied_first, varied_days = varied_start_times(now)
    for start_time in (varied_first, varied_first + (varied_days - 1) * DAY):
        check_page(server.name, server.url(endpoint, endpoint.query_for(start_time)), headers, expected)
    return response_bytes


def run_scenario(
    wrk: str,
    server: Server,
    endpoint: Endpoint,
    scenario: str,
    settings: LoadSettings,
    seconds: int,
    now: float,
    targets: Targets | None = None,
    targets_script: Path | None = None,
) -> tuple[str, WrkResult]:
    headers = server.api.headers
    if targets is not None:
        if scenario == "fixed":
            url = server.target_url(targets.fixed)
            if endpoint.method == "POST" and endpoint.body:
                script_args = [endpoint.body, str(endpoint.clear_every), server.prefix + endpoint.clear_path]
                if server.name == "mock" and endpoint.clear_every:
                    script_args.append(REFUSED_MARKER)  # Prism's placeholder answer always says 0
                result = run_wrk(wrk, url, settings, seconds, script_args, headers=headers, script=POST_JSON_SCRIPT)
                return url, replace(result, refused=result.marked or 0)
            if endpoint.method == "POST":
                return url, run_wrk(wrk, url, settings, seconds, [], headers=headers, script=POST_SCRIPT)
            return url, run_wrk(wrk, url, settings, seconds, headers=headers)
        assert targets_script is not None and endpoint.method == "GET"
        # The URL only names the server (the script sets every request's target).
        result = run_wrk(
            wrk, server.target_url(targets.fixed), settings, seconds,
            [server.prefix + target for target in targets.varied], headers=headers, script=targets_script,
        )
        # Not a fetchable URL: records the targets the Lua script cycled through.
        return server.target_url(targets.described), result
    if scenario == "fixed":
        url = server.url(endpoint, endpoint.query_for(utc_day_start(WINDOW_DAYS, now)))
        return url, run_wrk(wrk, url, settings, seconds, headers=headers)
    varied_first, varied_days = varied_start_times(now)
    result = run_wrk(
        wrk, server.url(endpoint), settings, seconds, [str(varied_first), str(varied_days), endpoint.query],
        headers=headers,
    )
    # Not a fetchable URL: records the start_time range the Lua script cycled through.
    varied_last = varied_first + (varied_days - 1) * DAY
    return server.url(endpoint, f"start_time={varied_first}..{varied_last}&{endpoint.query}"), result


def measure(
    wrk: str,
    servers: list[Server],
    settings: LoadSettings,
    now: float,
    targets_script: Path | None = None,
    notes: list[str] | None = None,
) -> Iterator[Row]:
    """Check, warm up and load every endpoint of one API; `servers[0]` is the mock.

    A 4xx from Prism in the pre-check is a finding about Prism, not a setup failure: that endpoint
    is loaded on the mock only and the answer goes to `notes`. Any other failed check stops the run.

    InvokeAI's enqueue_batch: the mock's queue is cleared before each of its runs (warm-up too) and by
    every ENQUEUE_CLEAR_EVERY-th request within them (post_json.lua); an enqueue the full queue refused
    anyway (`enqueued: 0`, still a 200, counted by the script) is an error of that row.
    """
    api = servers[0].api
    notes = [] if notes is None else notes
    targets_of = endpoint_targets(api, servers[0])
    for endpoint in api.endpoints:
        targets = targets_of(endpoint) if targets_of is not None else None
        response_bytes: dict[str, int] = {}
        for server in servers:
            try:
                response_bytes[server.name] = check_server(server, endpoint, now, targets, notes)
            except StatusError as error:
                if server.name != "prism" or not 400 <= error.status < 500:
                    raise
                notes.append(f"{endpoint.name}: prism not measured, it refused the pre-check: {error}")
                print(
                    f"  {endpoint.name}: prism answered HTTP {error.status} before any load;"
                    " measured on the mock only (see the notes)",
                    flush=True,
                )
        if endpoint.body:
            answers = {server.name: probe_body_validation(server, endpoint) for server in servers}
            accepted = [name for name, answer in answers.items() if answer.startswith("HTTP 2")]
            notes.append(
                f"{endpoint.name}: an invalid body ({INVALID_ENQUEUE_BODY}, no graph, runs 0) was answered "
                + ", ".join(f"{name} {answer}" for name, answer in answers.items())
                + (f"; {' and '.join(accepted)} did not validate the body" if accepted else "")
            )
        loaded = [server for server in servers if server.name in response_bytes]
        scenarios = [s for s in SCENARIOS if s == "fixed" or targets is None or targets.varied]
        fills_queue = api is INVOKEAI and endpoint.name == "enqueue_batch"
        if settings.warmup_s:
            for server in loaded:
                if fills_queue and server.name == "mock":
                    clear_invokeai_queue(server)
                run_scenario(
                    wrk, server, endpoint, "fixed", settings, settings.warmup_s, now, targets, targets_script
                )
        # Servers alternate run by run so a drift in machine load hits both alike.
        for scenario in scenarios:
            for server in loaded:
                if fills_queue and server.name == "mock":
                    clear_invokeai_queue(server)
                print(f"  {scenario:<7} {endpoint.name:<13} {server.name:<6}", end="", flush=True)
                url, result = run_scenario(
                    wrk, server, endpoint, scenario, settings, settings.duration_s, now, targets, targets_script
                )
                if fills_queue and server.name == "mock":
                    queued = invokeai_queue_counts(server)["pending"]
                    notes.append(
                        f"{endpoint.name}: the mock's processor is paused, so every enqueued item stays pending;"
                        f" the queue was cleared before the run and by every {endpoint.clear_every:,}th request"
                        f" of it ({result.requests:,} requests), and held {queued:,} pending items after it;"
                        + (
                            f" {result.refused:,} answers were `enqueued: 0` (queue full), counted as errors"
                            if result.refused
                            else " no enqueue was refused"
                        )
                    )
                print(f" {result.requests_per_sec:>10,.0f} req/s", flush=True)
                if result.timeouts:
                    notes.append(
                        f"{endpoint.name} ({scenario}, {server.name}): {result.timeouts:,} timeouts: requests still"
                        f" unanswered after wrk's {settings.timeout_s}s --timeout; counted as errors, and their"
                        " latency is not in p50/p99"
                    )
                yield Row(scenario, endpoint.name, server.name, url, response_bytes[server.name], result)
    if api is INVOKEAI:
        boards = invokeai_board_count(servers[0])
        notes.append(
            f"create_board: every POST creates a board on the mock; it held {boards:,} boards after the run"
            f" ({INVOKEAI_BOARDS} seeded), which the GET rows (measured before) did not see"
        )


# --- reporting -------------------------------------------------------------


def ratio(rows: list[Row], scenario: str, endpoint: str) -> float | None:
    by_server = {
        r.server: r.result.requests_per_sec for r in rows if r.scenario == scenario and r.endpoint == endpoint
    }
    if not by_server.get("prism") or "mock" not in by_server:
        return None
    return by_server["mock"] / by_server["prism"]


def has_errors(rows: list[Row], scenario: str, endpoint: str) -> bool:
    return any(
        r.result.errors
        for r in rows
        if r.scenario == scenario and r.endpoint == endpoint
    )


def format_table(rows: list[Row]) -> str:
    header = (
        "scenario",
        "endpoint",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "resp bytes",
        "errors",
        "mock/prism",
    )
    lines = [header]
    for row in rows:
        r = row.result
        row_ratio = ratio(rows, row.scenario, row.endpoint) if row.server == "mock" else None
        lines.append(
            (
                row.scenario,
                row.endpoint,
                row.server,
                f"{r.requests_per_sec:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                str(row.response_bytes),
                str(r.errors),
                f"{row_ratio:.2f}x" if row_ratio is not None else "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left_aligned = {0, 1, 2}
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in left_aligned else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def goal_verdicts(rows: list[Row]) -> dict[str, Verdict]:
    """Per endpoint: met only if mock >= 1.0x Prism in every scenario with no errored requests.

    The varied scenario counts too, so a cache keyed on the exact query cannot meet the goal alone;
    an endpoint without a varied scenario (InvokeAI's version and POST) is judged on the fixed one.
    An endpoint Prism was not measured on has no ratio, so its goal is not met.
    """
    verdicts: dict[str, Verdict] = {}
    measured = {row.endpoint for row in rows}
    for endpoint in (e for api in API_BY_NAME.values() for e in api.endpoints if e.name in measured):
        scenarios = [s for s in SCENARIOS if any(r.endpoint == endpoint.name and r.scenario == s for r in rows)]
        ratios = {scenario: ratio(rows, scenario, endpoint.name) for scenario in scenarios}
        errored = any(has_errors(rows, scenario, endpoint.name) for scenario in scenarios)
        met = not errored and all(value is not None and value >= GOAL_RATIO for value in ratios.values())
        verdicts[endpoint.name] = Verdict(met, ratios, errored)
    return verdicts


def goal_line(verdicts: dict[str, Verdict]) -> str:
    parts = []
    for name, verdict in verdicts.items():
        ratios = ", ".join(
            f"{scenario} {value:.2f}x" if value is not None else f"{scenario} n/a"
            for scenario, value in verdict.ratios.items()
        )
        status = "MET" if verdict.met else "NOT MET"
        errors = ", errored requests" if verdict.errors else ""
        parts.append(f"{name} {status} ({ratios}{errors})")
    return f"Goal mock >= {GOAL_RATIO:.1f}x Prism req/s: " + "; ".join(parts)


def write_json(
    path: Path,
    rows: list[Row],
    settings: LoadSettings,
    specs: dict[str, Path],
    verdicts: dict[str, Verdict],
    now: float,
    notes: list[str] | None = None,
) -> None:
    report = {
        "measured_at": int(now),
        "settings": asdict(settings),
        "prism_specs": {api: str(spec) for api, spec in specs.items()},
        "rows": [
            {**{k: v for k, v in asdict(row).items() if k != "result"}, **asdict(row.result)} for row in rows
        ],
        "goal": {"ratio": GOAL_RATIO, "per_endpoint": {name: asdict(v) for name, v in verdicts.items()}},
        "notes": notes or [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# --- main ------------------------------------------------------------------


def describe_load(settings: LoadSettings) -> str:
    return (
        f"-t{settings.threads} -c{settings.connections} --timeout={settings.timeout_s}s:"
        f" {settings.warmup_s}s warm-up per server and endpoint, then {settings.duration_s}s per run"
    )


def readiness_url(server: Server, now: float) -> str:
    if server.name == "mock":
        return server.base_url + MOCK_HEALTH_PATH
    # Prism has no health route; the first benchmarked URL tells us it is up.
    endpoint = server.api.endpoints[0]
    if server.api is not OPENAI_USAGE:
        return server.url(endpoint, endpoint.query)
    return server.url(endpoint, endpoint.query_for(utc_day_start(WINDOW_DAYS, now)))


def server_command(name: str, spec: Path, port: int, api: Api = OPENAI_USAGE) -> list[str]:
    return mock_command(port, api) if name == "mock" else prism_command(spec, port)


def start_servers(
    spec: Path,
    paths: dict[str, dict[str, str]],
    log_dir: Path,
    started: list[RunningProcess],
    api: Api = OPENAI_USAGE,
) -> list[Server]:
    """Start every server, appending each to `started` at once so the caller can always stop it."""
    servers: list[Server] = []
    first = len(started)
    for name in SERVERS:
        port = free_port()
        started.append(start_process(f"{name}-{api.name}", server_command(name, spec, port, api), log_dir))
        servers.append(Server(name, f"http://{HOST}:{port}", paths[name], api))
    # Started together and awaited afterwards: Prism needs seconds to boot, the wait overlaps.
    for running, server in zip(started[first:], servers, strict=True):
        seconds = wait_until_ready(running, readiness_url(server, time.time()), dict(api.headers))
        print(f"{server.name} ready at {server.base_url} after {seconds:.1f}s", flush=True)
    return servers


def raise_on_sigterm() -> None:
    # SIGTERM (e.g. from make or CI) would otherwise skip the finally that stops the servers.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    wrk = require_wrk()
    ensure_prism_installed()
    apis = [API_BY_NAME[name] for name in args.apis]
    given = {"openai_usage": args.prism_spec, "chutes": args.chutes_prism_spec, "invokeai": args.invokeai_prism_spec}
    specs = {api.name: given[api.name].resolve() for api in apis}
    # Every spec is checked before anything starts, so a bad path fails at once.
    paths = {api.name: {"mock": mock_paths(api), "prism": prism_paths(specs[api.name], api)} for api in apis}
    settings = LoadSettings(args.duration, args.warmup, args.connections, args.threads, args.timeout)
    rows: list[Row] = []
    notes: list[str] = []
    now = time.time()
    print(f"wrk {describe_load(settings)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-") as log_dir:
        targets_script = Path(log_dir) / "varied_targets.lua"
        targets_script.write_text(VARIED_TARGETS_LUA, encoding="utf-8")
        # One API at a time: its mock and its Prism run, the others' servers are not started yet.
        for api in apis:
            started: list[RunningProcess] = []
            try:
                print(f"{api.name}:", flush=True)
                servers = start_servers(specs[api.name], paths[api.name], Path(log_dir), started, api)
                now = time.time()
                rows += measure(wrk, servers, settings, now, targets_script, notes)
            finally:
                for running in started:
                    stop_process(running)
    verdicts = goal_verdicts(rows)
    print()
    print(format_table(rows))
    print()
    if notes:
        print("Notes:")
        for note in notes:
            print(f"- {note}")
        print()
    if args.json:
        write_json(args.json, rows, settings, specs, verdicts, now, notes)
        print(f"wrote {args.json}")
    print(goal_line(verdicts))
    if not args.skip_restart:
        print()
        run_restart_bench()
    if args.scale_images > 0:
        print()
        import scale_bench  # beside this script: InvokeAI's lists at 100k images, each beside a small world

        scale_bench.main(["--images", str(args.scale_images)])
    if args.stall_seconds > 0:
        print()
        stall_bench.main(["--seconds", str(args.stall_seconds)])
    if args.usage_events > 0:
        print()
        run_usage_scale_bench(args.usage_events)
    return 0


def run_usage_scale_bench(events: int) -> None:
    """OpenAI Usage with a million events beside the seeded world (`usage_scale_bench.py`)."""
    sys.path.insert(0, str(BENCH_DIR))
    import usage_scale_bench

    for line in usage_scale_bench.measure(events).lines():
        print(line, flush=True)


def run_restart_bench() -> None:
    """Restart time and per-write cost with 80 MB of state (`restart_bench.py`)."""
    sys.path.insert(0, str(BENCH_DIR))
    import restart_bench

    for line in restart_bench.measure().lines():
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_on_sigterm()
    try:
        if args.startup_runs > 0:
            import startup_bench  # beside this script: start-up time to the first answer, idle RSS

            try:
                startup_bench.run(args.startup_runs)
            except startup_bench.StartupError as error:
                raise BenchError(f"start-up: {error}") from error
        status = run(args)
        if args.spec_runs > 0:
            import spec_bench  # beside this script: `serve --spec` on a 13 MB document, beside Prism

            try:
                spec_bench.run(args.spec_runs)
            except spec_bench.SpecBenchError as error:
                raise BenchError(f"spec: {error}") from error
        return status
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
