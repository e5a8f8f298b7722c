"""The real `chutes` CLI (0.6.9, from PyPI) against a live `mockserver serve --api chutes`.

One server for the module. Each account (fixture user alice, and a user registered through the
control plane with a fresh hotkey) runs the developer's lifecycle as the CLI's own commands, with
the y/n prompts answered on stdin: build an image and wait for its log -> deploy (the fee notice,
then with `--accept-fee`) -> the same code again -> changed code -> `warmup --stream-logs` until
the instance is verified -> invoke it with the openai SDK on its own host, then `chutes report`
that invocation -> images list/get/delete -> share / unshare -> delete the chute -> delete the
image. Each step checks what the CLI printed and what the mock's state is afterwards (read over the
API with the account's API key).

The steps are functions taking a `Lifecycle`, run in order. The two accounts' lifecycles run at
once, a thread each (every step looks only at its own account), and `test_lifecycle[<account>]`
reports its account's outcome. The CLI runs through a fork server (`chutes_cli.py`). The server's
clock runs in real time (the CLI's nonces must be near it), so the hourly exports of the current
hour are not out yet: the invocation is checked in the recent export and the usage instead
(`test_chutes_invoke_openai.py` moves a frozen clock to read the hourly export).

Builds run on real time here: one second queued, six building. `chutes build --wait` asks for
the log five seconds after uploading, so it reads the log while the image builds, as an event
stream, until `DONE`. An instance starts in one second.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import typing as t
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sr25519
import yaml
from chutes_cli import (
    VENV,
    Account,
    Cli,
    OutputLines,
    base_environment,
    chutes_executable,
    cli_environment,
    fork_server,
)
from chutes_forkserver import ForkServer
from lazy import lazy_module

from mockserver.packs.chutes import ss58

openai = lazy_module("openai")  # imported when a test runs, not at collection (tests/lazy.py)
pytestmark = pytest.mark.live

SERVE_ARGS = ("--api", "chutes", "--seed", "11", "--validate-responses")
CONTROL = "/__mock__/packs/chutes"
USERS = {u["username"]: u for u in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "fixtures" / "chutes" / "users.yaml").read_text())["users"]}
# `chutes build --wait` asks for the log 5 s after its upload is accepted (the journal shows 5.00 s
# and a few milliseconds): the build (queued, then building) must still be running then, so the log
# comes as an event stream. It ends 9 s after the upload: 4 s to spare for a loaded CI machine (both
# accounts build at once, so the spare costs the module 2 s, once).
BUILD = {"build_queue_seconds": 1, "build_seconds": 8, "warmup_seconds": 1}
FEE = 1.2  # 3 hours of the cheapest GPU with >= 24 GB (an a10 at $0.40/h)

CHUTE_MODULE = '''\
from chutes.chute import Chute, NodeSelector
from chutes.image import Image

image = (
    Image(username="{username}", name="echo-base", tag="0.1", readme="An echo image.")
    .from_base("parachutes/python:3.12")
    .run_command("pip install --no-cache-dir httpx")
)

chute = Chute(
    username="{username}",
    name="echo",
    image=image,
    tagline="{tagline}",
    node_selector=NodeSelector(gpu_count=1, min_vram_gb_per_gpu=24),
)


@chute.cord(public_api_path="/echo", method="POST")
async def echo(self, text: str) -> str:
    return text
'''


def image_uid(username: str, name: str, tag: str) -> str:
    """What the CLI's `Image.uid` computes."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}/{name}:{tag}".lower()))


def chute_uid(username: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{name}"))


def csv_rows(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


# -- the world ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executable() -> Path:
    """The CLI installed and its fork server importing (asked for before the server starts)."""
    return chutes_executable()


@pytest.fixture(scope="module")
def mock(live_server: str) -> str:
    response = httpx.put(f"{live_server}{CONTROL}/settings", json=BUILD)
    assert response.status_code == 200, response.text
    return live_server


def fixture_account(username: str) -> Account:
    user = USERS[username]
    return Account(username, user["user_id"], user["seed"], user["hotkey"], user["api_keys"][0]["value"])


def registered_account(base: str) -> Account:
    """A user with a new sr25519 hotkey, registered through the control plane (not a free account,
    $100, so it pays the deployment fee like alice)."""
    seed = os.urandom(32)
    public, _ = sr25519.pair_from_seed(seed)
    username = f"dev-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{base}{CONTROL}/users", json={
        "username": username, "hotkey": ss58.encode(public), "balance": 100, "free_account": False})
    assert response.status_code == 201, response.text
    user = response.json()
    return Account(username, user["user_id"], seed.hex(), user["hotkey"], user["api_keys"][0]["value"])


@dataclass
class Lifecycle:
    """One account's CLI, the mock it talks to, and what the steps learned on the way."""

    cli: Cli
    base: str
    found: dict[str, t.Any] = field(default_factory=dict)

    @property
    def account(self) -> Account:
        return self.cli.account

    def api(self, method: str, path: str, *, as_user: Account | None = None, **kwargs: t.Any) -> httpx.Response:
        key = (as_user or self.account).api_key
        return httpx.request(method, f"{self.base}{path}", headers={"Authorization": key}, timeout=30, **kwargs)

    def balance(self) -> float:
        users = httpx.get(f"{self.base}{CONTROL}/users", timeout=30).json()
        return next(u["balance"] for u in users if u["username"] == self.account.username)

    def write_chute(self, tagline: str) -> None:
        self.cli.write_module("my_chute", CHUTE_MODULE.format(username=self.account.username, tagline=tagline))


# -- the steps ----------------------------------------------------------------------------------


def build_and_wait(life: Lifecycle) -> None:
    username = life.account.username
    image_id = image_uid(username, "echo-base", "0.1")
    life.found["image_id"] = image_id
    life.write_chute("Echo v1")
    built = life.cli.run("build", "my_chute:chute", "--wait", "--public", answers="y\n", timeout=180)
    assert built.returncode == 0, built.output
    assert f"Uploaded image package: image_id={image_id}, build will run async" in built.output
    # The log, read as the event stream while building: the CLI logs each line (stdout lines as
    # INFO, stderr lines as WARNING); a finished build's plain-text log would be printed bare.
    after_upload = built.output.split("build will run async", 1)[1].splitlines()[1:]
    log = [(line.split(" | ")[1].strip(), line.split(" - ", 1)[1]) for line in after_upload
           if "chutes.entrypoint.build:_build_remote:" in line]
    reference = f"{username.lower()}/echo-base:0.1"
    assert log[:2] == [("INFO", f"Building image {reference} ({image_id})"),
                       ("INFO", "STEP 1/2: FROM parachutes/python:3.12")]
    assert ("WARNING", "WARNING: Running pip as the 'root' user can result in broken permissions.") in log
    assert log[-1][1].startswith(f"Pushed {reference} sha256:")
    image = life.api("GET", f"/images/{image_id}").json()
    assert (image["status"], image["public"], image["readme"]) == ("built and pushed", True, "An echo image.")

    again = life.cli.run("build", "my_chute:chute", answers="y\n")
    assert again.returncode == 1
    assert "Image with name=echo-base and tag=0.1 already exists!" in again.output


def deploy_with_fee(life: Lifecycle) -> None:
    name, username = "echo", life.account.username
    before = life.balance()
    public = life.cli.run("deploy", "my_chute:chute", "--public", "--accept-fee", answers="y\n")
    assert public.returncode == 1
    assert "Public chutes are no longer possible without special permissions" in public.output

    notice = life.cli.run("deploy", "my_chute:chute", answers="y\n")
    assert "You are about to upload" in notice.output and f"deploy {name}, confirm? (y/n)" in notice.output
    assert "DEPLOYMENT FEE NOTICE:" in notice.output
    assert life.api("GET", f"/chutes/{chute_uid(username, name)}").status_code == 404

    deployed = life.cli.run("deploy", "my_chute:chute", "--accept-fee", answers="y\n")
    chute_id = chute_uid(username, name)
    assert f"Successfully deployed chute {name} chute_id='{chute_id}' version=" in deployed.output, deployed.output
    chute = life.api("GET", f"/chutes/{chute_id}").json()
    assert (chute["name"], chute["tagline"], chute["image"]["image_id"]) == (name, "Echo v1", life.found["image_id"])
    assert [c["function"] for c in chute["cords"]] == ["echo"]
    assert round(before - life.balance(), 6) == FEE
    life.found.update(chute_id=chute_id, version=chute["version"])


def redeploy_same_code(life: Lifecycle) -> None:
    same = life.cli.run("deploy", "my_chute:chute", "--accept-fee", answers="y\n")
    assert (f"Chute with name=echo, version='{life.found['version']}' and public=False already exists"
            in same.output), same.output


def deploy_changed_code(life: Lifecycle) -> None:
    life.write_chute("Echo v2")
    changed = life.cli.run("deploy", "my_chute:chute", "--accept-fee", answers="y\n")
    chute_id = life.found["chute_id"]
    assert f"Successfully deployed chute echo chute_id='{chute_id}'" in changed.output, changed.output
    chute = life.api("GET", f"/chutes/{chute_id}").json()
    assert chute["tagline"] == "Echo v2" and chute["version"] != life.found["version"]
    updates = life.api("GET", "/chutes/rolling_updates").json()
    assert {"old_version": life.found["version"], "new_version": chute["version"]}.items() <= next(
        u for u in updates if u["chute_id"] == chute_id).items()
    life.found["version"] = chute["version"]


def warm_up_streaming_logs(life: Lifecycle) -> None:
    """`chutes warmup echo --stream-logs` starts an instance and prints its log until it is verified."""
    chute_id = life.found["chute_id"]
    assert life.api("GET", f"/chutes/{chute_id}").json()["instances"] == []  # cold after the rollout
    process = life.cli.start("warmup", "echo", "--stream-logs")
    try:
        lines = OutputLines(process, timeout=120)
        lines.until(lambda line: "instance verified, accepting requests" in line)
    finally:
        process.kill()
        process.wait(30)
    chute = life.api("GET", f"/chutes/{chute_id}").json()
    [instance] = chute["instances"]
    assert chute["hot"] is True and instance["active"] and instance["verified"]
    prefix = f"[{instance['instance_id'][:8]}] "
    assert all(line.startswith(prefix) for line in lines.seen), lines.seen
    assert f"starting instance {instance['instance_id']} of chute echo ({chute_id})" in lines.seen[0]
    life.found["instance_id"] = instance["instance_id"]


def invoke_with_openai_sdk_then_report(life: Lifecycle) -> None:
    """The openai SDK posts to the chute's own host (`/hosts/<slug>/` on 127.0.0.1); the call is
    billed and recorded, and `chutes report` files a report on it."""
    chute_id = life.found["chute_id"]
    slug = life.api("GET", f"/chutes/{chute_id}").json()["slug"]
    before = life.balance()
    client = openai.OpenAI(api_key=life.account.api_key, base_url=f"{life.base}/hosts/{slug}", max_retries=0)
    answer = client.post("/echo", cast_to=httpx.Response, body={"text": "hello"})
    assert answer.status_code == 200, answer.text
    invocation_id = answer.headers["x-chutes-invocationid"]

    [row] = [r for r in csv_rows(life.api("GET", "/invocations/exports/recent")) if r["invocation_id"] == invocation_id]
    assert (row["chute_id"], row["function_name"], row["instance_id"]) == (chute_id, "echo", life.found["instance_id"])
    [usage] = [r for r in life.api("GET", "/invocations/usage").json() if r["chute_id"] == chute_id]
    assert usage["invocation_count"] == 1
    assert life.balance() == pytest.approx(before - usage["usd_amount"])  # its own private chute: free per call

    reported = life.cli.run("report", "--invocation-id", invocation_id, "--reason", "echoed the wrong text")
    assert f"report received for invocation_id='{invocation_id}'" in reported.output, reported.output
    again = life.cli.run("report", "--invocation-id", invocation_id, "--reason", "still wrong")
    assert "A report has already been filed for this invocation" in again.output, again.output


def images_list_get_delete_in_use(life: Lifecycle) -> None:
    image_id, reference = life.found["image_id"], f"{life.account.username}/echo-base:0.1"
    listed = life.cli.run("images", "list")
    assert listed.returncode == 0, listed.output
    own = life.api("GET", "/images/").json()["total"]
    assert f"Found {own} matching images, displaying {own}" in listed.output
    assert "echo-base" in listed.output and "built and pushed" in listed.output

    got = life.cli.run("images", "get", reference)
    assert f"image {image_id}:" in got.output and '"status": "built and pushed"' in got.output

    in_use = life.cli.run("images", "delete", "echo-base:0.1", answers="y\n")
    assert "Are you sure you want to delete images/echo-base:0.1?" in in_use.output
    assert ('Failed to delete images/echo-base:0.1: {"detail":"Image is in use by one or more chutes"}'
            in in_use.output)
    assert life.api("GET", f"/images/{image_id}").status_code == 200


def share_and_unshare(life: Lifecycle) -> None:
    chute_id, bob = life.found["chute_id"], fixture_account("bob")
    assert life.api("GET", f"/chutes/{chute_id}", as_user=bob).status_code == 404
    shared = life.cli.run("share", "--chute-id", "echo", "--user-id", "bob")
    assert "Successfully shared chute.name='echo' with user.username='bob'" in shared.output, shared.output
    assert life.api("GET", f"/chutes/{chute_id}", as_user=bob).json()["chute_id"] == chute_id
    unshared = life.cli.run("share", "--chute-id", chute_id, "--user-id", "bob", "--remove")
    assert "Successfully unshared chute.name='echo' with user.username='bob' (if share exists)" in unshared.output
    assert life.api("GET", f"/chutes/{chute_id}", as_user=bob).status_code == 404


def delete_chute_then_image(life: Lifecycle) -> None:
    chute_id, image_id = life.found["chute_id"], life.found["image_id"]
    declined = life.cli.run("chutes", "delete", chute_id, answers="n\n")
    assert declined.returncode == 0 and life.api("GET", f"/chutes/{chute_id}").status_code == 200
    deleted = life.cli.run("chutes", "delete", chute_id, answers="y\n")
    assert f"Successfully deleted chute {chute_id}" in deleted.output, deleted.output
    assert life.api("GET", f"/chutes/{chute_id}").json() == {"detail": "Chute not found, or does not belong to you"}

    image = life.cli.run("images", "delete", image_id, answers="y\n")
    assert f"Successfully deleted image {image_id}" in image.output, image.output
    assert life.api("GET", f"/images/{image_id}").json() == {"detail": "Image not found, or does not belong to you"}
    gone = life.cli.run("images", "get", image_id)
    assert f"Failed to get images/{image_id}" in gone.output


STEPS: list[t.Callable[[Lifecycle], None]] = [
    build_and_wait, deploy_with_fee, redeploy_same_code, deploy_changed_code, warm_up_streaming_logs,
    invoke_with_openai_sdk_then_report, images_list_get_delete_in_use, share_and_unshare, delete_chute_then_image,
]


# -- the tests ----------------------------------------------------------------------------------


ACCOUNTS = ("fixture user", "registered user")


def run_lifecycle(who: str, base: str, workdir: Path) -> None:
    account = fixture_account("alice") if who == "fixture user" else registered_account(base)
    life = Lifecycle(Cli(workdir / account.username, base, account), base)
    for step in STEPS:
        step(life)


@pytest.fixture(scope="module")
def lifecycles(request: pytest.FixtureRequest, executable: Path, mock: str,
               tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[str, Future[None]]]:
    """The selected accounts' lifecycles, started together in threads: each waits out its build and
    its warmup while the other runs, and every step checks only its own account. (Only the selected
    ones: a lifecycle nobody waits for would still be running during the module's other tests.)"""
    selected = {item.callspec.params["who"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_lifecycle" and item.module is request.module}
    workdir = tmp_path_factory.mktemp("lifecycles")
    with ThreadPoolExecutor(max_workers=len(ACCOUNTS), thread_name_prefix="lifecycle") as pool:
        yield {who: pool.submit(run_lifecycle, who, mock, workdir) for who in ACCOUNTS if who in selected}


@pytest.mark.parametrize("who", ACCOUNTS)
def test_lifecycle(who: str, lifecycles: dict[str, Future[None]]) -> None:
    lifecycles[who].result()  # the step's own failure, raised here


def test_admin_deploys_a_public_chute_on_a_public_image(executable: Path, mock: str, tmp_path: Path) -> None:
    """`deploy --public` asks `GET /users/me` for the public-deployment permission; admin has it.
    A string image is a pre-built one: `chutes build` refuses it without asking the server."""
    cli = Cli(tmp_path, mock, fixture_account("admin"))
    cli.write_module("public_chute", CHUTE_MODULE.replace('image=image,', 'image="chutes/sglang:0.4.9",').format(
        username="admin", tagline="Public echo"))
    refused = cli.run("build", "public_chute:chute", answers="y\n")
    assert refused.returncode == 1
    assert "You appear to be using a pre-defined/standard image 'chutes/sglang:0.4.9'" in refused.output
    deployed = cli.run("deploy", "public_chute:chute", "--public", answers="y\n")
    chute_id = chute_uid("admin", "echo")
    assert f"Successfully deployed chute echo chute_id='{chute_id}'" in deployed.output, deployed.output
    chute = httpx.get(f"{mock}/chutes/{chute_id}").json()  # public: anyone sees it
    assert chute["public"] is True and chute["image"]["name"] == "sglang"
    asked = httpx.get(f"{mock}/__mock__/journal", params={"path": "/users/me"}).json()["requests"]
    assert [(r["headers"]["x-chutes-hotkey"], r["status"]) for r in asked if r["status"] == 200][-1] == (
        USERS["admin"]["hotkey"], 200)


def test_an_image_that_is_not_built_yet_cannot_be_deployed(executable: Path, mock: str,
                                                          tmp_path: Path) -> None:
    """The CLI checks the image's status before it deploys: a build still running is refused by
    the CLI itself, with the message the issue reported."""
    cli = Cli(tmp_path, mock, registered_account(mock))
    cli.write_module("my_chute", CHUTE_MODULE.format(username=cli.account.username, tagline="Early"))
    slow = httpx.put(f"{mock}{CONTROL}/settings", json={"build_queue_seconds": 1, "build_seconds": 3600})
    assert slow.status_code == 200, slow.text
    try:
        started = cli.run("build", "my_chute:chute", answers="y\n")
        assert "build will run async" in started.output, started.output
    finally:
        assert httpx.put(f"{mock}{CONTROL}/settings", json=BUILD).status_code == 200  # the image keeps its plan
    early = cli.run("deploy", "my_chute:chute", "--accept-fee", answers="y\n")
    image_id = image_uid(cli.account.username, "echo-base", "0.1")
    assert early.returncode == 1
    assert f"Image '{image_id}' is not available to be used (yet)!" in early.output
    image = httpx.get(f"{mock}/images/{image_id}", headers={"Authorization": cli.account.api_key}).json()
    assert image["status"] in ("pending build", "building")
    assert httpx.get(f"{mock}/chutes/{chute_uid(cli.account.username, 'echo')}",
                     headers={"Authorization": cli.account.api_key}).status_code == 404


PROBE = '''\
import json, os, signal, sys
print(json.dumps({
    "argv": sys.argv, "path": sys.path, "cwd": os.getcwd(), "env": dict(os.environ), "stdin": sys.stdin.read(),
    "flags": repr(sys.flags), "encodings": [stream.encoding for stream in (sys.stdin, sys.stdout, sys.stderr)],
    "stdout": [sys.stdout.isatty(), sys.stdout.line_buffering, sys.stdout.write_through],
    "signals": [repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGCHLD, signal.SIGTERM)],
    "main": [__name__, __file__], "chutes modules": [m for m in sys.modules if m.split(".")[0] == "chutes"]}))
print("to stderr", file=sys.stderr)
sys.exit(3)
'''


def forked_run(server: ForkServer, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    stdin_read, stdin_write = os.pipe()
    os.write(stdin_write, b"y\n")
    os.close(stdin_write)
    (out_read, out_write), (err_read, err_write) = os.pipe(), os.pipe()
    process = server.start(argv, cwd=str(cwd), env=env, stdio=(stdin_read, out_write, err_write))
    for fd in (stdin_read, out_write, err_write):
        os.close(fd)
    with open(out_read, "rb") as out, open(err_read, "rb") as err:
        assert process is not None, "the fork server refused the environment every CLI run has"
        return process.wait(30), out.read(), err.read()


def test_a_forked_command_starts_as_the_same_command_started_fresh(executable: Path, tmp_path: Path) -> None:
    """What running the CLI through the fork server rests on: a script forked from it gets the
    arguments, directory, environment, stdin, interpreter flags, stdio set-up, signal handlers and
    import path that the same script started as a fresh process gets, and exits the same way;
    nothing of `chutes` has been imported before it runs."""
    probe = tmp_path / "probe"
    probe.write_text(f"#!{VENV / 'bin' / 'python'}\n{PROBE}")
    probe.chmod(0o755)
    env = cli_environment(tmp_path / "config.ini", tmp_path, NO_COLOR="1", COLUMNS="200")
    fresh = subprocess.run([str(probe), "a b", "c"], cwd=tmp_path, env=env, input=b"y\n", capture_output=True,
                           timeout=60, check=False)
    with contextlib.ExitStack() as stack:
        server = fork_server()
        if server is None:  # MOCKSERVER_CHUTES_CLI=subprocess: the CLI runs without one, this test starts its own
            server = ForkServer(str(VENV / "bin" / "python"), base_environment())
            stack.callback(server.close)
        forked = forked_run(server, [str(probe), "a b", "c"], tmp_path, env)
    assert forked == (fresh.returncode, fresh.stdout, fresh.stderr) and fresh.returncode == 3
    assert json.loads(fresh.stdout)["chutes modules"] == []
