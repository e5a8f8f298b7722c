"""`mockserver contract` against a live `mockserver serve` of each pack on 127.0.0.1: all green.

The mock is what the specs describe, so every check must pass: exit status 0, a progress line per
operation, JUnit and JSON reports that parse and agree. The Chutes mock is also tested with the
stateful phase (the spec's OpenAPI links) and with hotkey signatures instead of an API key.
"""

from __future__ import annotations

import os

import httpx
import pytest
import sr25519
import yaml
from live import serve

from mockserver.engine.resources import fixtures_dir
from mockserver.packs.chutes import ss58

pytestmark = pytest.mark.live

CHUTES_CONTROL = "/__mock__/packs/chutes"
OPENAI_KEY = "sk-admin-mockserver"


def chutes_admin_key(username: str = "chutes") -> str:
    users = yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
    return next(k["value"] for u in users if u["username"] == username for k in u["api_keys"] if k.get("admin"))


@pytest.fixture(scope="module")
def openai_server() -> str:
    with serve("--api", "openai_usage", "--seed", "5", "--validate-responses") as base:
        yield base


@pytest.fixture(scope="module")
def chutes_server() -> str:
    with serve("--api", "chutes", "--seed", "5", "--validate-responses") as base:
        # Warmup streams `cold` events once a second until an instance is up (3 s by default); the
        # stateful phase warms up chutes it deploys. With 0 the stream is one `hot` event. A build
        # log streams likewise until the build is done; with no queue and no build time an image
        # is built when it is created, and its log is plain text.
        response = httpx.put(f"{base}{CHUTES_CONTROL}/settings",
                             json={"warmup_seconds": 0, "build_queue_seconds": 0, "build_seconds": 0})
        assert response.status_code == 200, response.text
        yield base


def journal(base: str, **params: object) -> list[dict]:
    """The requests the mock recorded (its control plane's journal)."""
    return httpx.get(f"{base}/__mock__/journal", params={"limit": 10000, **params}).json()["requests"]


def last_journal_id(base: str) -> int:
    return max((r["id"] for r in journal(base, limit=1)), default=0)


def assert_all_green(outcome, operations: int) -> None:
    assert outcome.code == 0, outcome.out + outcome.err
    report = outcome.report
    assert report["status"] == "passed" and report["exit_code"] == 0
    assert report["totals"]["operations"] == operations and report["totals"]["failed"] == 0
    assert report["totals"]["errored"] == 0
    for op in report["operations"]:
        assert op["status"] in ("passed", "skipped"), op
        if op["status"] == "passed":
            assert op["requests"] > 0 and op["phases"]["coverage"]["status"] == "passed", op
    suite = outcome.junit.find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert len(suite.findall("testcase")) == operations
    progress = [line for line in outcome.out.splitlines()
                if line.startswith("  ok ") and not line.endswith("stateful phase")]
    assert len(progress) == report["totals"]["passed"]
    assert "PASSED:" in outcome.out


def test_openai_usage_live_is_green(contract, openai_server) -> None:
    # The server path /v1 comes from the spec.
    outcome = contract("--api", "openai_usage", "--base-url", openai_server,
                       "--header", f"Authorization: Bearer {OPENAI_KEY}", "--max-examples", "4", "--seed", "2")
    assert_all_green(outcome, operations=11)
    assert outcome.report["target"] == openai_server


def test_chutes_live_is_green(contract, chutes_server) -> None:
    since = last_journal_id(chutes_server)
    outcome = contract("--api", "chutes", "--base-url", chutes_server,
                       "--header", f"Authorization: {chutes_admin_key()}", "--max-examples", "4", "--seed", "2")
    assert_all_green(outcome, operations=35)
    # Destructive, so skipped: not one DELETE reached the server.
    delete = outcome.operation("delete_chute_chutes__chute_id__delete")
    assert delete["status"] == "skipped" and delete["requests"] == 0
    assert journal(chutes_server, since_id=since, method="DELETE") == []


DEPLOY_CHAIN = ["list_chutes_chutes__get", "deploy_chute_chutes__post", "get_chute_chutes__chute_id_or_name__get",
                "update_common_attributes_chutes__chute_id_or_name__put", "delete_chute_chutes__chute_id__delete",
                "get_chute_code_chutes_code__chute_id__get", "share_chute_chutes_share_post",
                "warm_up_chute_chutes_warmup__chute_id_or_name__get"]


def test_chutes_stateful_follows_the_links(contract, chutes_server) -> None:
    """list -> deploy (on a listed chute's image) -> get / update / delete / code / share / warmup."""
    args = [arg for operation_id in DEPLOY_CHAIN for arg in ("--include-operation", operation_id)]
    outcome = contract("--api", "chutes", "--base-url", chutes_server, "--header",
                       f"Authorization: {chutes_admin_key()}", "--stateful", "--allow-destructive",
                       "--max-examples", "8", "--seed", "1", *args)
    assert_all_green(outcome, operations=len(DEPLOY_CHAIN))
    assert "stateful phase (OpenAPI links):" in outcome.out
    in_stateful = {op["operation_id"] for op in outcome.report["operations"] if "stateful" in op["phases"]}
    assert {"list_chutes_chutes__get", "deploy_chute_chutes__post"} <= in_stateful
    assert len(in_stateful) >= 4, in_stateful  # the deploy's links lead somewhere


def test_in_process_mock_uses_the_fixture_credentials(contract) -> None:
    outcome = contract("--api", "openai_usage", "--include-operation", "usage-completions",
                       "--max-examples", "3", "--seed", "2")
    assert outcome.code == 0, outcome.out
    assert outcome.report["target"] == "the in-process mock"
    assert "the mock's fixture credentials" in outcome.out


# -- hotkey signatures -----------------------------------------------------------------------------

# Operations that need credentials and that hotkey signatures can authenticate: body hashes
# (share, deploy, update, report) and purposes (warmup), plus an optional-auth read (list).
SIGNED = ["share_chute_chutes_share_post", "deploy_chute_chutes__post",
          "update_common_attributes_chutes__chute_id_or_name__put",
          "report_invocation_invocations__invocation_id__report_post",
          "warm_up_chute_chutes_warmup__chute_id_or_name__get", "list_chutes_chutes__get"]


def register_hotkey(base: str, username: str) -> str:
    """A throwaway sr25519 keypair, registered as a new user; returns its seed (hex)."""
    seed = os.urandom(32)
    public, _ = sr25519.pair_from_seed(seed)
    response = httpx.post(f"{base}{CHUTES_CONTROL}/users", json={
        "username": username, "hotkey": ss58.encode(public), "free_account": True, "balance": 100})
    assert response.status_code == 201, response.text
    return seed.hex()


def test_hotkey_signing_authenticates(contract, chutes_server) -> None:
    seed = register_hotkey(chutes_server, "contract-hotkey")
    since = last_journal_id(chutes_server)
    args = [arg for operation_id in SIGNED for arg in ("--include-operation", operation_id)]
    outcome = contract("--api", "chutes", "--base-url", chutes_server, "--chutes-hotkey-seed", seed,
                       "--max-examples", "4", "--seed", "3", *args)
    assert_all_green(outcome, operations=len(SIGNED))
    # No API key anywhere (ignored_auth's probe with a wrong one aside): the server saw requests
    # signed by the hotkey and accepted them, and refused the probes without a signature.
    sent = journal(chutes_server, since_id=since)
    assert sent and not any(r["headers"].get("authorization", "").startswith("cpk_") for r in sent)
    signed = [r for r in sent if "x-chutes-signature" in r["headers"]]
    for operation_id in SIGNED:  # signed requests of every operation got past authentication
        assert any(r["operation_id"] == operation_id and r["status"] != 401 for r in signed), operation_id
    assert any(r["operation_id"] == "deploy_chute_chutes__post" and r["status"] == 200 for r in signed)
    assert any(r["status"] == 401 and "x-chutes-signature" not in r["headers"] for r in sent)


def test_hotkey_of_nobody_fails(contract, chutes_server) -> None:
    """The same run with a hotkey the server does not know: the authenticated operations fail
    (the test above could not pass without the signatures doing the work)."""
    outcome = contract("--api", "chutes", "--base-url", chutes_server, "--chutes-hotkey-seed", os.urandom(32).hex(),
                       "--max-examples", "3", "--seed", "3", "--include-operation", SIGNED[0])
    assert outcome.code == 1
    assert outcome.operation(SIGNED[0])["status"] == "failed"
    # The failing request is shown without a usable signature.
    assert "X-Chutes-Signature: [Filtered]" in outcome.out
    assert all("X-Chutes-Signature: [Filtered]" in f["curl"] for f in outcome.operation(SIGNED[0])["failures"])


def test_hotkey_mode_skips_what_signatures_cannot_authenticate(contract) -> None:
    outcome = contract("--api", "chutes", "--chutes-hotkey-seed", "11" * 32, "--dry-run", reports=False)
    assert outcome.code == 0
    skipped = outcome.out.split("Would skip")[1]
    assert "increase_chute_bounty_bounties__chute_id__increase_get" in skipped
    assert "hotkey signatures cannot authenticate" in skipped


# -- InvokeAI: what the real server promises -------------------------------------------------------

INVOKEAI_OPERATIONS = ["app_version", "list_boards", "get_board", "create_board", "list_style_presets",
                       "get_style_preset", "export_style_presets", "get_workflow", "list_workflows"]


@pytest.fixture(scope="module")
def invokeai_server() -> str:
    with serve("--api", "invokeai", "--seed", "5", "--validate-responses") as base:
        yield base


def test_invokeai_live_is_green_without_allow_headers(contract, invokeai_server) -> None:
    """The mock answers a method a path does not list as a real 6.8.1 server does (its web UI's
    StaticFiles mount): a 405 without `Allow`. The run probes such methods and passes: the
    profile checks what the real server promises, not the header it never sends."""
    wrong_method = httpx.delete(f"{invokeai_server}/api/v1/app/version")
    assert wrong_method.status_code == 405 and "allow" not in wrong_method.headers
    assert wrong_method.json() == {"detail": "Method Not Allowed"}
    since = last_journal_id(invokeai_server)
    args = [arg for operation_id in INVOKEAI_OPERATIONS for arg in ("--include-operation", operation_id)]
    outcome = contract("--api", "invokeai", "--base-url", invokeai_server, "--max-examples", "4", "--seed", "2", *args)
    assert_all_green(outcome, operations=len(INVOKEAI_OPERATIONS))
    probes = [r for r in journal(invokeai_server, since_id=since) if r["method"] in ("PUT", "PATCH", "TRACE")
              and r["path"] == "/api/v1/app/version"]
    assert probes and all(r["status"] == 405 for r in probes)
