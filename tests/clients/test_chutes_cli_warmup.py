"""`chutes warmup` (the real CLI, chutes==0.6.9 from PyPI) against a live `mockserver serve --api chutes`.

Fixture user alice deploys a chute of her own through the API, then runs the CLI as herself
(hotkey-signed, as the CLI always signs; the engine clock runs in real time, so the CLI's nonces
are in the window):

- `chutes warmup NAME --stream-logs` prints the log of the instance that warmup started, each
  line as `[<first 8 characters of the instance id>] <line>`;
- `chutes warmup NAME` runs its Textual dashboard. Textual has a headless driver
  (`TEXTUAL_DRIVER`) and a screenshot-and-exit timer (`TEXTUAL_SCREENSHOT`), so the real command
  runs without a terminal, saves what its screen shows as SVG after a few seconds and exits; the
  test reads the text of that screen. Both dashboards (a cold chute's, a starting instance's)
  run at the same time, set up by one fixture. (The dashboard's socket.io events server,
  `events.<host>`, does not exist for a 127.0.0.1 base URL: the dashboard says so in its events
  panel and goes on, as it does when the real events server is unreachable.)

Every CLI run is bounded by a timeout and goes through the fork server of `chutes_cli.py`. The
server's journal shows what the CLI sent.
"""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from chutes_cli import OutputLines, chutes_executable, cli_environment, run_command, start_command, write_config

from mockserver.engine.resources import fixtures_dir

pytestmark = pytest.mark.live

SERVE_ARGS = ("--api", "chutes", "--seed", "11", "--validate-responses")
CONTROL = "/__mock__/packs/chutes"
ALICE = next(u for u in yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
             if u["username"] == "alice")
ALICE_KEY = ALICE["api_keys"][0]["value"]
RUN_TIMEOUT = 120.0  # any one CLI run; they take seconds
SVG_TEXT = "{http://www.w3.org/2000/svg}text"
# When the dashboard saves its screen: its first quick poll and the backfill of the log (whose
# instance was verified 1 s after it started, before the dashboard opened) are long in by then.
SCREENSHOT_SECONDS = 3


@pytest.fixture(scope="module")
def chutes() -> Path:
    return chutes_executable()


@pytest.fixture
def api(live_server: str) -> t.Iterator[httpx.Client]:
    """The mock back at its fixtures, its journal empty, for each test."""
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30.0) as client:
        assert client.post("/__mock__/reset").status_code == 200
        yield client


@pytest.fixture
def environment(tmp_path: Path, live_server: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return cli_environment(write_config(tmp_path, live_server, ALICE), home)


def deploy(api: httpx.Client, name: str, *, warmup_seconds: float) -> dict:
    """Alice's new private chute (she pays the deployment fee), and how long start-ups take."""
    assert api.put(f"{CONTROL}/settings", json={"warmup_seconds": warmup_seconds}).status_code == 200
    body = {"name": name, "image": "chutes/sglang:0.4.9", "public": False,
            "code": f"from chutes.chute import Chute\nchute = Chute(username='alice', name={name!r})\n",
            "filename": "my_chute.py", "ref_str": "my_chute:chute",
            "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24},
            "cords": [{"method": "POST", "path": "/echo", "function": "echo", "stream": False, "public_api_path": "/echo",
                       "public_api_method": "POST"}]}
    response = api.post("/chutes/", params={"accept_fee": "true"}, json=body, headers={"Authorization": ALICE_KEY})
    assert response.status_code == 200, response.text
    return response.json()


def instances_of(api: httpx.Client, chute_id: str) -> list[dict]:
    return api.get(f"/chutes/{chute_id}", headers={"Authorization": ALICE_KEY}).json()["instances"]


def journal(api: httpx.Client, path: str) -> list[dict]:
    return api.get("/__mock__/journal", params={"pack": "chutes", "path": path}).json()["requests"]


# -- --stream-logs -----------------------------------------------------------------------------------


def test_stream_logs_prints_the_log_of_the_instance_warmup_started(
        chutes: Path, api: httpx.Client, environment: dict, tmp_path: Path) -> None:
    chute = deploy(api, "cli-stream-logs", warmup_seconds=1)
    assert instances_of(api, chute["chute_id"]) == []  # cold: the CLI's warmup starts the instance
    process = start_command(["warmup", "cli-stream-logs", "--stream-logs"], cwd=tmp_path, env=environment,
                            stderr=tmp_path / "stderr.txt")
    try:
        lines = OutputLines(process, RUN_TIMEOUT)
        lines.until(lambda line: "instance verified, accepting requests" in line)
    finally:
        process.kill()
        process.wait(30)

    [instance] = instances_of(api, chute["chute_id"])
    prefix = f"[{instance['instance_id'][:8]}] "
    assert all(line.startswith(prefix) for line in lines.seen), lines.seen
    printed = [line[len(prefix):] for line in lines.seen]
    messages = [line.split(" - ", 1)[1] for line in printed]
    assert messages[0] == (f"starting instance {instance['instance_id']} of chute cli-stream-logs "
                           f"({chute['chute_id']}) in {instance['region']}")
    assert [m.split(" ", 1)[0] for m in messages] == ["starting", "image", "GPU", "loading", "cord", "waiting",
                                                      "instance"]
    assert messages[1].startswith("image chutes/sglang:0.4.9, ")
    assert messages[3] == "loading my_chute:chute from my_chute.py"
    assert messages[4] == "cord echo: POST /echo, public POST /echo"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| SUCCESS  \| chutes\.entrypoint\.run - ", printed[-1])

    [logs] = journal(api, f"/instances/{instance['instance_id']}/logs")
    assert logs["status"] == 200 and logs["query"] == "backfill=100"
    quick = journal(api, "/chutes/warmup/cli-stream-logs")
    assert quick and all(entry["query"] == "quick=true" and entry["status"] == 200 for entry in quick)


# -- the dashboard -----------------------------------------------------------------------------------


def dashboard_screen(chutes: Path, name: str, environment: dict, tmp_path: Path, after_seconds: int) -> str:
    """Run `chutes warmup NAME` headless; the text of its screen `after_seconds` in."""
    shots = tmp_path / "screens"
    shots.mkdir(exist_ok=True)
    env = {**environment, "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
           "TEXTUAL_SCREENSHOT": str(after_seconds), "TEXTUAL_SCREENSHOT_LOCATION": str(shots),
           "TEXTUAL_SCREENSHOT_FILENAME": "dashboard.svg", "COLUMNS": "160", "LINES": "48"}
    done = run_command(["warmup", name], cwd=tmp_path, env=env, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.output[-3000:]
    return svg_text(shots / "dashboard.svg")


def svg_text(path: Path) -> str:
    """The screen's rows, top to bottom (Textual draws each run of text as one SVG <text>)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for text in ET.parse(path).iter(SVG_TEXT):
        rows.setdefault(float(text.get("y", 0)), []).append((float(text.get("x", 0)), "".join(text.itertext())))
    return "\n".join("".join(part for _, part in sorted(rows[y])).replace("\xa0", " ") for y in sorted(rows))


@dataclass
class Dashboards:
    """The two dashboard runs, started together; each test takes its screen from its own run."""

    cold: Future[str]
    logs: Future[str]
    logs_chute: dict
    logs_instance: dict  # starting when its dashboard opens
    journal: httpx.Client  # the server as the runs left it (no reset)


@pytest.fixture(scope="module")
def dashboards(chutes: Path, live_server: str, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Dashboards]:
    """Both dashboards at once (their screenshot timers run side by side). Set up in this order:
    the chute whose log is shown gets its instance first (it starts in 1 s); then start-ups take
    600 s, so the cold chute stays cold when its dashboard's quick poll starts one."""
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30.0) as api:
        assert api.post("/__mock__/reset").status_code == 200
        logs_chute = deploy(api, "cli-dashboard-logs", warmup_seconds=1)
        quick = api.get("/chutes/warmup/cli-dashboard-logs", params={"quick": "true"},
                        headers={"Authorization": ALICE_KEY}).json()
        [instance] = quick["instances"]  # starting: the dashboard finds it in the chute's instances
        deploy(api, "cli-dashboard-cold", warmup_seconds=600)
        runs = {}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dashboard") as pool:
            for name in ("cli-dashboard-cold", "cli-dashboard-logs"):
                workdir = tmp_path_factory.mktemp(name)
                (workdir / "home").mkdir()
                environment = cli_environment(write_config(workdir, live_server, ALICE), workdir / "home")
                runs[name] = pool.submit(dashboard_screen, chutes, name, environment, workdir, SCREENSHOT_SECONDS)
            yield Dashboards(runs["cli-dashboard-cold"], runs["cli-dashboard-logs"], logs_chute, instance, api)


def test_the_dashboard_shows_a_cold_chutes_bounty(dashboards: Dashboards) -> None:
    screen = dashboards.cold.result()
    assert "Warmup poll error" not in screen, screen
    header = screen.splitlines()[0]
    assert header.startswith("cli-dashboard-cold") and "COLD" in header, screen
    assert re.search(r"bounty=1\d\d +boost=1\.10x", header), header  # the quick poll's bounty object
    assert re.search(r"warmup_cold ?Waiting for instances\.\.\. \(bounty=1\d\d, boost=1\.10x\)", screen), screen
    polls = journal(dashboards.journal, "/chutes/warmup/cli-dashboard-cold")
    assert polls and all(p["query"] == "quick=true" and p["status"] == 200 for p in polls)


def test_the_dashboard_streams_the_log_of_a_starting_instance(dashboards: Dashboards) -> None:
    screen = dashboards.logs.result()
    chute, instance = dashboards.logs_chute, dashboards.logs_instance
    assert f"Instance {instance['instance_id'][:8]}" in screen, screen
    assert f"starting instance {instance['instance_id']} of chute cli-dashboard-logs" in screen, screen
    assert "instance verified, accepting requests on port 8000" in screen, screen
    assert "Instances: 1" in screen and chute["chute_id"][:12] in screen, screen
    [logs] = journal(dashboards.journal, f"/instances/{instance['instance_id']}/logs")
    assert logs["status"] == 200 and logs["query"] == "backfill=100"
