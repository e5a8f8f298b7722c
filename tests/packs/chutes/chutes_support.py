"""Helpers for the Chutes pack tests: fixture users, signing, request bodies and a thin client.

Callers authenticate the way the real API's clients do: with an
API key in `Authorization`, or with a hotkey signature (sr25519 over
`{hotkey}:{nonce}:{purpose or sha256(body)}`) in the `X-Chutes-*` headers.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
import uuid
from pathlib import Path

import sr25519
import yaml
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

CLOCK = 1_763_683_200  # 2025-11-21T00:00:00Z, the frozen "now"
SEED = 3
CONTROL = "/__mock__/packs/chutes"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "chutes"

USERS: dict[str, dict] = {u["username"]: u for u in yaml.safe_load((FIXTURES / "users.yaml").read_text())["users"]}
WORLD: dict = yaml.safe_load((FIXTURES / "world.yaml").read_text())


def key_of(username: str, index: int = 0) -> str:
    return USERS[username]["api_keys"][index]["value"]


def auth(username: str, index: int = 0) -> dict[str, str]:
    """`Authorization` with the user's API key (the first one, an admin key, by default)."""
    return {"Authorization": key_of(username, index)}


def chute_id_for(username: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{name}"))


def keypair_of(username: str) -> tuple[bytes, bytes]:
    return sr25519.pair_from_seed(bytes.fromhex(USERS[username]["seed"]))


def sign(keypair: tuple[bytes, bytes], message: str) -> str:
    return sr25519.sign(keypair, message.encode()).hex()


def raw_json(body: t.Any) -> bytes:
    return json.dumps(body).encode()


def hotkey_headers(hotkey: str, keypair: tuple[bytes, bytes], *, raw: bytes | None = None,
                   purpose: str | None = None, nonce: int | str = CLOCK) -> dict[str, str]:
    """Headers signing `{hotkey}:{nonce}:{purpose}`, or the sha256 of `raw` when no purpose."""
    tail = purpose if purpose is not None else hashlib.sha256(raw or b"").hexdigest()
    message = f"{hotkey}:{nonce}:{tail}"
    return {"X-Chutes-Hotkey": hotkey, "X-Chutes-Signature": sign(keypair, message), "X-Chutes-Nonce": str(nonce)}


def signed(username: str, *, raw: bytes | None = None, purpose: str | None = None,
           nonce: int | str = CLOCK) -> dict[str, str]:
    """Hotkey headers for a fixture user."""
    return hotkey_headers(USERS[username]["hotkey"], keypair_of(username), raw=raw, purpose=purpose, nonce=nonce)


def detail(response: t.Any, status: int) -> t.Any:
    """The `detail` of an error answer, after checking its status and JSON shape."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


def ok(response: t.Any, status: int = 200) -> t.Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


CORD = {"method": "POST", "path": "/run", "function": "run", "stream": False}
def image_id_for(username: str, name: str, tag: str) -> str:
    """uuid5 of `owner/name:tag`, lower-cased: how the real server and the CLI name an image."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}/{name}:{tag}".lower()))


def _with_id(image: dict) -> dict:
    return {**image, "image_id": image_id_for(image["owner"], image["name"], image["tag"])}


SGLANG = _with_id(WORLD["images"][0])  # public image of the `chutes` user
CUSTOM_ML = _with_id(WORLD["images"][3])  # alice's private image


def chute_args(name: str = "my-chute", **overrides: t.Any) -> dict:
    """A valid `ChuteArgs` body (one cord, the public sglang image, any 16 GB GPU)."""
    body = {
        "name": name, "image": "chutes/sglang:0.4.9", "public": False,
        "code": f"from chutes.chute import Chute\nchute = Chute(username='x', name={name!r})\n",
        "filename": "my_chute.py", "ref_str": "my_chute:chute",
        "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 16},
        "cords": [CORD], "tagline": "a test chute",
    }
    body.update(overrides)
    return body


class ChutesApi:
    """The client, plus shortcuts for signed calls and the control planes."""

    clock = CLOCK

    def __init__(self, client: TestClient) -> None:
        self.client = client

    # -- the API --------------------------------------------------------------------------------

    def get(self, path: str, user: str | None = None, **kwargs: t.Any) -> t.Any:
        headers = {**(auth(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path: str, body: t.Any = None, user: str | None = None, **kwargs: t.Any) -> t.Any:
        headers = {**(auth(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.post(path, json=body, headers=headers, **kwargs)

    def put(self, path: str, body: t.Any = None, user: str | None = None, **kwargs: t.Any) -> t.Any:
        headers = {**(auth(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.put(path, json=body, headers=headers, **kwargs)

    def delete(self, path: str, user: str | None = None, **kwargs: t.Any) -> t.Any:
        headers = {**(auth(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.delete(path, headers=headers, **kwargs)

    def signed_send(self, method: str, path: str, username: str, body: t.Any = None, *,
                    purpose: str | None = None, params: t.Any = None) -> t.Any:
        """A request signed with the user's hotkey: the body hash, or `purpose` when given."""
        raw = raw_json(body) if body is not None else None
        headers = signed(username, raw=raw, purpose=purpose, nonce=int(self.now()))
        if raw is not None:
            headers["content-type"] = "application/json"
        return self.client.request(method, path, content=raw, headers=headers, params=params)

    def deploy(self, body: dict, user: str, accept_fee: bool | None = None) -> t.Any:
        params = {} if accept_fee is None else {"accept_fee": str(accept_fee).lower()}
        return self.post("/chutes/", body, user, params=params)

    def share(self, chute: str, target: str, user: str, action: str = "share") -> t.Any:
        return self.post(f"/chutes/{action}", {"chute_id_or_name": chute, "user_id_or_name": target}, user)

    def names(self, params: t.Any = None, user: str | None = None) -> list[str]:
        return [item["name"] for item in ok(self.get("/chutes/", user, params=params))["items"]]

    # -- the control planes -----------------------------------------------------------------------

    def now(self) -> float:
        return ok(self.client.get("/__mock__/clock"))["now"]

    def advance(self, seconds: float) -> None:
        ok(self.client.post("/__mock__/clock/advance", json={"seconds": seconds}))

    def set_clock(self, now: float, frozen: bool = True) -> None:
        ok(self.client.put("/__mock__/clock", json={"now": now, "frozen": frozen}))

    def reset(self) -> None:
        ok(self.client.post("/__mock__/packs/chutes/reset"))

    def warmup_seconds(self, seconds: float) -> None:
        assert ok(self.client.put(f"{CONTROL}/settings", json={"warmup_seconds": seconds}))[
            "warmup_seconds"] == seconds

    def user(self, username: str) -> dict:
        return next(u for u in ok(self.client.get(f"{CONTROL}/users")) if u["username"] == username)

    def update_user(self, username: str, **changes: t.Any) -> dict:
        return ok(self.client.patch(f"{CONTROL}/users/{username}", json=changes))

    def record_invocation(self, chute_id: str, username: str, **extra: t.Any) -> str:
        body = {"chute_id": chute_id, "user": username, **extra}
        return ok(self.client.post(f"{CONTROL}/invocations", json=body), 201)["invocation_id"]

    def state(self) -> dict:
        return ok(self.client.get(f"{CONTROL}/state"))


def make_server(seed: int = SEED, clock: float = CLOCK) -> t.Any:
    return build_server(ServerConfig(apis=["chutes"], seed=seed, clock_start=clock,
                                     settings=Settings(validate_responses=True)))
