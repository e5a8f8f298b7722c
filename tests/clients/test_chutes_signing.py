"""A chutes-CLI-style client against a live `mockserver serve --api chutes`: hotkey signatures and API keys.

The client signs exactly as the chutes CLI does (`chutes.util.auth.sign_request`): nonce = Unix
seconds now; a request with a body sends the compact JSON (orjson's output) and signs
`"{hotkey}:{nonce}:{sha256 hex of that body}"`; a read without a body signs the purpose,
`"{hotkey}:{nonce}:chutes"`; the hex sr25519 signature goes in `X-Chutes-Signature` with
`X-Chutes-Hotkey`, `X-Chutes-Nonce` and `X-Chutes-UserID`.

The keypair is thrown away after the test: a fresh sr25519 seed, its public key SS58-encoded, the
user registered through the pack's control plane (which also issues it an admin API key). The
engine clock is not frozen, so the nonce (real time) is within the server's 600 s window.

One server for the module (seed 7, responses validated against the spec: an answer that broke the
spec would come back as a 500). The same CLI session runs twice, once signing with the hotkey and
once with the API key in `Authorization`, each on its own chute.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import typing as t
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sr25519
import yaml

from mockserver.packs.chutes import ss58

pytestmark = pytest.mark.live

SERVE_ARGS = ("--api", "chutes", "--seed", "7", "--validate-responses")
CONTROL = "/__mock__/packs/chutes"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chutes"
NOT_FOUND = "Chute not found, or does not belong to you"

CHUTE_CODE = '''\
from chutes.chute import Chute, NodeSelector
from chutes.image import Image

chute = Chute(
    username="{username}",
    name="{name}",
    image="chutes/sglang:0.4.9",
    node_selector=NodeSelector(gpu_count=1, min_vram_gb_per_gpu=24),
)


@chute.cord(public_api_path="/echo", method="POST")
async def echo(self, text: str) -> str:
    return text
'''


def fixture_user(username: str) -> dict:
    users = yaml.safe_load((FIXTURES / "users.yaml").read_text(encoding="utf-8"))["users"]
    return next(u for u in users if u["username"] == username)


def compact_json(payload: t.Any) -> bytes:
    """What orjson.dumps (the CLI's serializer) writes: no spaces, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Keypair:
    public: bytes
    private: bytes

    @classmethod
    def generate(cls) -> Keypair:
        public, private = sr25519.pair_from_seed(os.urandom(32))
        return cls(public, private)

    @property
    def ss58(self) -> str:
        return ss58.encode(self.public)

    def sign(self, message: str) -> str:
        return sr25519.sign((self.public, self.private), message.encode()).hex()


class ChutesCli:
    """The requests the chutes CLI makes, authenticated by hotkey signature or by API key."""

    def __init__(self, base: str, *, user: dict, keypair: Keypair | None = None, api_key: str | None = None):
        assert (keypair is None) != (api_key is None)
        self.http = httpx.Client(base_url=base, timeout=30)
        self.user, self.keypair, self.api_key = user, keypair, api_key

    # -- signing ----------------------------------------------------------------------------------

    def signing_message(self, nonce: str, *, body: bytes | None = None, purpose: str | None = None) -> str:
        assert self.keypair is not None
        tail = hashlib.sha256(body).hexdigest() if body else purpose
        return f"{self.keypair.ss58}:{nonce}:{tail}"

    def auth_headers(self, *, body: bytes | None = None, purpose: str | None = None,
                     nonce: str | None = None) -> dict[str, str]:
        if self.api_key is not None:
            return {"Authorization": self.api_key}
        assert self.keypair is not None
        nonce = nonce or str(int(time.time()))
        return {"X-Chutes-UserID": self.user["user_id"], "X-Chutes-Hotkey": self.keypair.ss58,
                "X-Chutes-Nonce": nonce,
                "X-Chutes-Signature": self.keypair.sign(self.signing_message(nonce, body=body, purpose=purpose))}

    def send(self, method: str, path: str, payload: t.Any = None, *, params: dict | None = None,
             headers: dict | None = None) -> httpx.Response:
        if payload is None:  # the purpose-bound reads (and delete): sign "chutes"
            auth = self.auth_headers(purpose="chutes")
            return self.http.request(method, path, params=params, headers={**auth, **(headers or {})})
        body = compact_json(payload)
        auth = self.auth_headers(body=body)
        return self.http.request(method, path, params=params, content=body,
                                 headers={**auth, "Content-Type": "application/json", **(headers or {})})

    # -- the CLI's calls ----------------------------------------------------------------------------

    def deploy(self, args: dict, accept_fee: bool = False) -> httpx.Response:
        return self.send("POST", "/chutes/", args, params={"accept_fee": "true"} if accept_fee else None)

    def list(self, **params: t.Any) -> httpx.Response:
        return self.send("GET", "/chutes/", params=params)

    def get(self, chute_id_or_name: str) -> httpx.Response:
        return self.send("GET", f"/chutes/{chute_id_or_name}")

    def code(self, chute_id: str) -> httpx.Response:
        return self.send("GET", f"/chutes/code/{chute_id}")

    def warmup_status(self, chute_id_or_name: str) -> httpx.Response:
        return self.send("GET", f"/chutes/warmup/{chute_id_or_name}", params={"quick": "true"})

    def share(self, chute: str, user: str) -> httpx.Response:
        return self.send("POST", "/chutes/share", {"chute_id_or_name": chute, "user_id_or_name": user})

    def unshare(self, chute: str, user: str) -> httpx.Response:
        return self.send("POST", "/chutes/unshare", {"chute_id_or_name": chute, "user_id_or_name": user})

    def report(self, invocation_id: str, reason: str) -> httpx.Response:
        return self.send("POST", f"/invocations/{invocation_id}/report", {"reason": reason})

    def delete(self, chute_id: str) -> httpx.Response:
        return self.send("DELETE", f"/chutes/{chute_id}")


def chute_args(username: str, name: str) -> dict:
    """A ChuteArgs as `chutes deploy my_chute:chute` sends it for the code above."""
    return {
        "name": name, "tagline": "Echo chute", "readme": "# Echo\nReturns its input.", "image": "chutes/sglang:0.4.9",
        "public": False, "standard_template": None, "logo_id": None,
        "code": CHUTE_CODE.format(username=username, name=name),
        "filename": "my_chute.py", "ref_str": "my_chute:chute",
        "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24},
        "cords": [{"method": "POST", "path": "/echo", "function": "echo", "stream": False, "passthrough": False,
                   "public_api_path": "/echo", "public_api_method": "POST",
                   "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
                   "output_schema": {"type": "string"}, "output_content_type": "application/json",
                   "minimal_input_schema": {"type": "object"}}],
        "jobs": [], "concurrency": 4,
    }


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keypair() -> Keypair:
    return Keypair.generate()


@pytest.fixture(scope="module")
def user(live_server: str, keypair: Keypair) -> dict:
    """A new user with the throwaway hotkey, as the control plane registers it."""
    username = f"cli-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{live_server}{CONTROL}/users", json={
        "username": username, "hotkey": keypair.ss58, "balance": 100, "free_account": True})
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["hotkey"] == keypair.ss58 and user["username"] == username
    assert len(user["api_keys"]) == 1 and user["api_keys"][0]["admin"] is True
    return user


@pytest.fixture(scope="module")
def bob(live_server: str) -> ChutesCli:
    return ChutesCli(live_server, user=fixture_user("bob"), api_key=fixture_user("bob")["api_keys"][0]["value"])


@pytest.fixture(params=["hotkey", "api_key"])
def cli(request: pytest.FixtureRequest, live_server: str, user: dict, keypair: Keypair) -> ChutesCli:
    if request.param == "hotkey":
        return ChutesCli(live_server, user=user, keypair=keypair)
    return ChutesCli(live_server, user=user, api_key=user["api_keys"][0]["value"])


# -- the CLI session ----------------------------------------------------------------------------


def test_cli_session(cli: ChutesCli, bob: ChutesCli, live_server: str) -> None:
    username = cli.user["username"]
    name = f"echo-{'hk' if cli.keypair else 'key'}"

    # chutes deploy my_chute:chute
    deployed = cli.deploy(chute_args(username, name))
    assert deployed.status_code == 200, deployed.text  # 200, not 201, like the real server
    chute = deployed.json()
    chute_id = chute["chute_id"]
    assert chute_id == str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{name}"))
    assert chute["name"] == name and chute["public"] is False
    assert chute["user"]["username"] == username and chute["user"]["user_id"] == cli.user["user_id"]
    assert chute["image"]["name"] == "sglang" and chute["image"]["tag"] == "0.4.9"
    assert chute["slug"] == f"{username}-{name}"
    assert [cord["function"] for cord in chute["cords"]] == ["echo"]
    assert chute["node_selector"]["gpu_count"] == 1 and chute["node_selector"]["min_vram_gb_per_gpu"] == 24
    assert chute["supported_gpus"] and "t4" not in chute["supported_gpus"]  # 16 GB < 24 GB asked for
    assert chute["max_instances"] == 1 and chute["shutdown_after_seconds"] == 300  # private-chute defaults
    assert chute["instances"] == [] and chute["hot"] is False

    # Deploying the same code again is a conflict (same version, same public flag).
    again = cli.deploy(chute_args(username, name))
    assert again.status_code == 409
    assert again.json()["detail"] == (f"Chute with name={name}, version='{chute['version']}' and public=False "
                                      "already exists")

    # chutes chutes list: only the caller's own chutes without include_public.
    listed = cli.list()
    assert listed.status_code == 200, listed.text
    page = listed.json()
    items = {item["chute_id"]: item for item in page["items"]}
    assert chute_id in items
    assert all(item["user"]["user_id"] == cli.user["user_id"] for item in page["items"])
    assert items[chute_id]["cords"] is None and items[chute_id]["cord_ref_id"] in page["cord_refs"]
    assert [c["function"] for c in page["cord_refs"][items[chute_id]["cord_ref_id"]]] == ["echo"]
    assert "input_schema" not in page["cord_refs"][items[chute_id]["cord_ref_id"]][0]  # without include_schemas
    with_public = cli.list(include_public="true", limit=100).json()
    names = {item["name"] for item in with_public["items"]}
    assert name in names and "deepseek-ai/DeepSeek-V3-0324" in names
    assert "bob-private-llm" not in names  # someone else's private chute
    assert cli.list(name=name).json()["total"] == 1

    # chutes chutes get, by name and by id
    for key in (name, chute_id):
        got = cli.get(key)
        assert got.status_code == 200, got.text
        assert got.json()["chute_id"] == chute_id and got.json()["name"] == name
        assert got.json()["current_estimated_price"]["usd"]["hour"] > 0

    # The code it was deployed with, and the warmup status the CLI polls.
    code = cli.code(chute_id)
    assert code.status_code == 200 and code.headers["content-type"].startswith("text/plain")
    assert code.text == CHUTE_CODE.format(username=username, name=name)
    warm = cli.warmup_status(chute_id)
    assert warm.status_code == 200, warm.text
    assert warm.json()["status"] == "cold"  # nothing runs yet; warming starts an instance

    # chutes share: bob can see it only afterwards (404, never 403, before).
    assert bob.get(chute_id).status_code == 404
    assert bob.get(chute_id).json() == {"detail": NOT_FOUND}
    shared = cli.share(name, "bob")
    assert shared.status_code == 200, shared.text
    assert shared.json() == {"status": f"Successfully shared chute.name='{name}' with user.username='bob'"}
    seen_by_bob = bob.get(chute_id)
    assert seen_by_bob.status_code == 200, seen_by_bob.text
    assert seen_by_bob.json()["user"]["username"] == username
    assert bob.code(chute_id).status_code == 200
    assert cli.share(chute_id, "bob").status_code == 200  # idempotent, by id as well
    assert cli.share(name, username).json() == {"detail": "Cannot share a chute with yourself"}
    assert cli.share(name, "nobody-at-all").json() == {"detail": "Could not find target user to share with"}
    # Bob cannot share what he does not own, even though he can see it.
    not_his = bob.share(chute_id, "alice")
    assert not_his.status_code == 404
    assert not_his.json() == {"detail": f"Did not find target chute {chute_id}, or it does not belong to you"}
    unshared = cli.unshare(name, "bob")
    assert unshared.status_code == 200
    assert bob.get(chute_id).status_code == 404

    # chutes report: an invocation of this chute by this user, reported once.
    recorded = httpx.post(f"{live_server}{CONTROL}/invocations", json={"chute_id": chute_id, "user": username})
    assert recorded.status_code == 201, recorded.text
    invocation_id = recorded.json()["invocation_id"]
    assert bob.report(invocation_id, "not mine").json() == {
        "detail": "Invocation not found, or does not belong to you"}
    reported = cli.report(invocation_id, "wrong answer")
    assert reported.status_code == 200, reported.text
    assert reported.json() == {"status": f"report received for invocation_id='{invocation_id}'"}
    twice = cli.report(invocation_id, "still wrong")
    assert twice.status_code == 409
    assert twice.json() == {"detail": "A report has already been filed for this invocation"}

    # chutes chutes delete: by UUID only; gone afterwards.
    assert cli.delete(name).json() == {"detail": "Must use chute UUID to delete."}
    assert bob.delete(chute_id).status_code == 404  # not his
    deleted = cli.delete(chute_id)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"chute_id": chute_id, "deleted": True}
    for key in (chute_id, name):
        gone = cli.get(key)
        assert gone.status_code == 404 and gone.json() == {"detail": NOT_FOUND}
    assert chute_id not in {item["chute_id"] for item in cli.list().json()["items"]}
    assert cli.delete(chute_id).status_code == 404


# -- what a wrong signature gets ----------------------------------------------------------------


@pytest.fixture
def signer(live_server: str, user: dict, keypair: Keypair) -> ChutesCli:
    return ChutesCli(live_server, user=user, keypair=keypair)


def test_tampered_body_is_rejected(signer: ChutesCli) -> None:
    """A body changed after signing: the server hashes what it received, so the signature fails."""
    original = compact_json({"chute_id_or_name": "deepseek-ai/DeepSeek-V3-0324", "user_id_or_name": "bob"})
    tampered = compact_json({"chute_id_or_name": "deepseek-ai/DeepSeek-V3-0324", "user_id_or_name": "eve"})
    headers = signer.auth_headers(body=original)
    response = signer.http.post("/chutes/share", content=tampered,
                                headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 401
    nonce = headers["X-Chutes-Nonce"]
    expected = signer.signing_message(nonce, body=tampered)  # what the server verified against
    assert response.json() == {
        "detail": f"Invalid request signature for hotkey {signer.keypair.ss58}. Message: {expected}"}
    # The untampered request gets past authentication (and is then refused for what it asks).
    honest = signer.http.post("/chutes/share", content=original,
                              headers={**headers, "Content-Type": "application/json"})
    assert honest.status_code == 404
    assert honest.json() == {"detail": "Did not find target chute deepseek-ai/DeepSeek-V3-0324, or it does not "
                                       "belong to you"}


def test_purpose_signature_does_not_authorize_a_body(signer: ChutesCli) -> None:
    """Signing the purpose where the server expects the body hash fails, and the reverse."""
    body = compact_json({"reason": "x"})
    headers = signer.auth_headers(purpose="chutes")
    response = signer.http.post(f"/invocations/{uuid.uuid4()}/report", content=body,
                                headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["detail"].startswith(f"Invalid request signature for hotkey {signer.keypair.ss58}.")
    listed = signer.http.get("/chutes/", headers=signer.auth_headers(body=b"{}"))
    assert listed.status_code == 401
    nonce = listed.request.headers["X-Chutes-Nonce"]
    assert listed.json()["detail"] == (f"Invalid request signature for hotkey {signer.keypair.ss58}. "
                                       f"Message: {signer.keypair.ss58}:{nonce}:chutes")


@pytest.mark.parametrize("skew", [-700, 700], ids=["stale", "future"])
def test_nonce_outside_the_window(signer: ChutesCli, skew: int) -> None:
    headers = signer.auth_headers(purpose="chutes", nonce=str(int(time.time()) + skew))
    response = signer.http.get("/chutes/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid nonce!"}


def test_unknown_hotkey(live_server: str) -> None:
    stranger = ChutesCli(live_server, user={"user_id": str(uuid.uuid4())}, keypair=Keypair.generate())
    response = stranger.deploy(chute_args("stranger", "never-deployed"))
    assert response.status_code == 401
    assert response.json() == {"detail": f"Could not find user with hotkey: {stranger.keypair.ss58}"}
    # On an optional-auth read a valid signature by an unknown hotkey is an anonymous caller.
    anonymous = stranger.list(include_public="true")
    assert anonymous.status_code == 200
    assert all(item["public"] or "affine" in item["name"] for item in anonymous.json()["items"])
