"""Who may call what: API keys, hotkey signatures, anonymous callers, and the catch-all route.

Every 401 text is the real server's (behaviour.md, "Authentication" and "Unknown paths").
"""

from __future__ import annotations

import hashlib
import typing as t

import pytest
import sr25519
from chutes_support import (
    CLOCK,
    CONTROL,
    USERS,
    auth,
    chute_args,
    chute_id_for,
    detail,
    hotkey_headers,
    key_of,
    keypair_of,
    ok,
    raw_json,
    sign,
    signed,
)

from mockserver.packs.chutes import ss58

NO_USER = "Can't find a user with that api key in our db :("
BAD_HEADER = "Missing or invalid authorization header(s)"
BAD_KEY = "Invalid token or user not found"
UNKNOWN_KEY = "cpk_" + "0" * 32 + "." + "1" * 32 + "." + "A" * 32
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"
SHARE = {"chute_id_or_name": "alice-embeddings", "user_id_or_name": "bob"}


def throwaway_keypair() -> tuple[str, tuple[bytes, bytes]]:
    keypair = sr25519.pair_from_seed(hashlib.sha256(b"nobody registered this hotkey").digest())
    return ss58.encode(keypair[0]), keypair


# -- API keys -------------------------------------------------------------------------------------


def test_no_credentials_on_a_required_operation(api: t.Any) -> None:
    assert detail(api.post("/chutes/share", SHARE), 401) == NO_USER
    assert detail(api.get(f"/bounties/{chute_id_for('chutes', DEEPSEEK)}/increase"), 401) == NO_USER
    assert detail(api.get(f"/chutes/warmup/{DEEPSEEK}"), 401) == NO_USER
    assert detail(api.delete(f"/chutes/{chute_id_for('alice', 'alice-embeddings')}"), 401) == NO_USER


@pytest.mark.parametrize("authorization", ["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "Bearer nonsense"])
def test_a_bearer_token_that_is_no_api_key_is_an_undecodable_jwt(api: t.Any, authorization: str) -> None:
    assert detail(api.post("/chutes/share", SHARE, headers={"Authorization": authorization}), 401) == "Invalid token."


@pytest.mark.parametrize("authorization", [
    "cpk_abc", "Bearer cpk_abc", "Basic dXNlcjpwYXNz",
    key_of("alice") + "x",  # one character too many
    key_of("alice").replace("cpk_b", "cpk_B"),  # upper-case hex in the first part
])
def test_a_malformed_api_key(api: t.Any, authorization: str) -> None:
    assert detail(api.post("/chutes/share", SHARE, headers={"Authorization": authorization}), 401) == BAD_HEADER


def test_an_unknown_well_formed_api_key(api: t.Any) -> None:
    assert detail(api.post("/chutes/share", SHARE, headers={"Authorization": UNKNOWN_KEY}), 401) == BAD_KEY


def test_the_key_is_the_last_word_of_the_header(api: t.Any) -> None:
    for authorization in (key_of("alice"), f"Bearer {key_of('alice')}", f"Token {key_of('alice')}"):
        ok(api.post("/chutes/share", SHARE, headers={"Authorization": authorization}))


def test_a_read_only_key_may_list_but_not_write(api: t.Any) -> None:
    read_only = auth("alice", 1)
    listed = ok(api.get("/chutes/", headers=read_only))
    assert [item["name"] for item in listed["items"]] == ["alice-embeddings"]
    assert detail(api.post("/chutes/share", SHARE, headers=read_only), 401) == BAD_KEY
    assert detail(api.post("/chutes/", chute_args(), headers=read_only, params={"accept_fee": "true"}), 401) == BAD_KEY
    assert detail(api.delete(f"/chutes/{chute_id_for('alice', 'alice-embeddings')}", headers=read_only), 401) == BAD_KEY


def test_a_scoped_key_issued_through_the_control_plane_may_list_but_not_write(api: t.Any) -> None:
    scopes = [{"object_type": "chutes", "action": "read"}]
    issued = ok(api.client.post(f"{CONTROL}/users/alice/api_keys", json={"admin": False, "scopes": scopes}), 201)
    read_only = {"Authorization": issued["value"]}
    assert [item["name"] for item in ok(api.get("/chutes/", headers=read_only))["items"]] == ["alice-embeddings"]
    assert detail(api.post("/chutes/share", SHARE, headers=read_only), 401) == BAD_KEY
    assert detail(api.post("/chutes/", chute_args(), headers=read_only, params={"accept_fee": "true"}), 401) == BAD_KEY
    assert detail(api.delete(f"/chutes/{chute_id_for('alice', 'alice-embeddings')}", headers=read_only), 401) == BAD_KEY
    # A read scope on chutes covers no write anywhere else either.
    assert detail(api.post("/invocations/x/report", {"reason": "r"}, headers=read_only), 401) == BAD_KEY


def test_a_key_issued_through_the_control_plane_works(api: t.Any) -> None:
    issued = ok(api.client.post(f"{CONTROL}/users/bob/api_keys", json={}), 201)
    assert issued["user_id"] == USERS["bob"]["user_id"] and issued["admin"] is True
    mine = ok(api.get("/chutes/", headers={"Authorization": issued["value"]}))
    assert [item["name"] for item in mine["items"]] == ["bob-private-llm"]


# -- hotkey signatures ----------------------------------------------------------------------------


def test_a_signed_purpose_request(api: t.Any) -> None:
    listed = ok(api.get("/chutes/", headers=signed("alice", purpose="chutes")))
    assert [item["name"] for item in listed["items"]] == ["alice-embeddings"]
    shared = ok(api.get("/chutes/bob-private-llm", headers=signed("alice", purpose="chutes")))
    assert shared["name"] == "bob-private-llm"


def test_a_signed_body_request_sends_the_bytes_it_hashed(api: t.Any) -> None:
    response = api.signed_send("POST", "/chutes/share", "alice", SHARE)
    assert ok(response) == {"status": "Successfully shared chute.name='alice-embeddings' with user.username='bob'"}


def test_a_body_signature_over_other_bytes_is_refused(api: t.Any) -> None:
    raw = raw_json(SHARE)
    other = raw_json({**SHARE, "user_id_or_name": "carol"})
    headers = {**signed("alice", raw=other), "content-type": "application/json"}
    hotkey = USERS["alice"]["hotkey"]
    message = f"{hotkey}:{CLOCK}:{hashlib.sha256(raw).hexdigest()}"
    got = detail(api.client.post("/chutes/share", content=raw, headers=headers), 401)
    assert got == f"Invalid request signature for hotkey {hotkey}. Message: {message}"


def test_a_purpose_operation_does_not_sign_the_body_hash(api: t.Any) -> None:
    hotkey = USERS["alice"]["hotkey"]
    headers = signed("alice", raw=b"")  # sha256 of the empty body instead of the purpose
    got = detail(api.get("/chutes/", headers=headers), 401)
    assert got == f"Invalid request signature for hotkey {hotkey}. Message: {hotkey}:{CLOCK}:chutes"


@pytest.mark.parametrize("nonce", ["abc", "-5", "17636832OO", str(CLOCK - 601), str(CLOCK + 601), ""])
def test_a_bad_or_stale_nonce(api: t.Any, nonce: str) -> None:
    headers = signed("alice", purpose="chutes", nonce=nonce)
    if not nonce:
        del headers["X-Chutes-Nonce"]
    assert detail(api.get("/chutes/", headers=headers), 401) == "Invalid nonce!"


@pytest.mark.parametrize("offset", [-599, -1, 0, 1, 599])
def test_a_nonce_within_ten_minutes_is_fine(api: t.Any, offset: int) -> None:
    ok(api.get("/chutes/", headers=signed("alice", purpose="chutes", nonce=CLOCK + offset)))


@pytest.mark.parametrize("nonce", ["9" * 10_000, "1" * 4301, "0" * 30 + "9" * 25, "\u00b2" * 10, "1763683200\u00b9"])
def test_a_nonce_no_clock_can_reach_is_the_real_401(api: t.Any, nonce: str) -> None:
    """Digits that are too many to be a time (Python's int() refuses more than 4300 of them) or that
    int() cannot read (superscripts pass str.isdigit) are an invalid nonce, not a 500."""
    headers = {**signed("alice", purpose="chutes"), "X-Chutes-Nonce": nonce.encode("latin-1")}
    assert detail(api.get("/chutes/", headers=headers), 401) == "Invalid nonce!"
    assert detail(api.post("/chutes/share", SHARE, headers=headers), 401) == "Invalid nonce!"


def test_leading_zeros_do_not_make_a_nonce_too_long(api: t.Any) -> None:
    ok(api.get("/chutes/", headers=signed("alice", purpose="chutes", nonce="0" * 40 + str(CLOCK))))


def test_a_replayed_nonce_inside_the_window_is_accepted(api: t.Any) -> None:
    """Nothing stores nonces on the real servers: the same signed headers work again and again
    inside the window (the CLI's warmup sends one set twice), and stop when the clock leaves it."""
    headers = signed("alice", purpose="chutes")
    for _ in range(3):
        ok(api.get("/chutes/", headers=headers))
        ok(api.get("/chutes/alice-embeddings", headers=headers))
    api.advance(599)
    ok(api.get("/chutes/", headers=headers))
    api.advance(1)
    assert detail(api.get("/chutes/", headers=headers), 401) == "Invalid nonce!"


def test_the_nonce_window_follows_the_engine_clock(api: t.Any) -> None:
    api.advance(3600)
    assert detail(api.get("/chutes/", headers=signed("alice", purpose="chutes")), 401) == "Invalid nonce!"
    ok(api.get("/chutes/", headers=signed("alice", purpose="chutes", nonce=CLOCK + 3600)))


def test_a_non_hex_signature(api: t.Any) -> None:
    headers = {**signed("alice", purpose="chutes"), "X-Chutes-Signature": "not-hex!"}
    got = detail(api.get("/chutes/", headers=headers), 401)
    assert got.startswith("Invalid signature: not-hex!, with error: "), got
    assert len(got) > len("Invalid signature: not-hex!, with error: ")


def test_a_wrong_signature(api: t.Any) -> None:
    hotkey = USERS["alice"]["hotkey"]
    headers = {**signed("alice", purpose="chutes"), "X-Chutes-Signature": sign(keypair_of("bob"), "whatever")}
    got = detail(api.get("/chutes/", headers=headers), 401)
    assert got == f"Invalid request signature for hotkey {hotkey}. Message: {hotkey}:{CLOCK}:chutes"


def test_a_hotkey_that_is_no_ss58_address(api: t.Any) -> None:
    headers = {**signed("alice", purpose="chutes"), "X-Chutes-Hotkey": "not-an-address"}
    got = detail(api.get("/chutes/", headers=headers), 401)
    assert got == f"Invalid request signature for hotkey not-an-address. Message: not-an-address:{CLOCK}:chutes"


def test_a_signature_by_another_users_key(api: t.Any) -> None:
    hotkey = USERS["alice"]["hotkey"]
    headers = hotkey_headers(hotkey, keypair_of("bob"), purpose="chutes")
    got = detail(api.get("/chutes/", headers=headers), 401)
    assert got == f"Invalid request signature for hotkey {hotkey}. Message: {hotkey}:{CLOCK}:chutes"


def test_an_unknown_hotkey_then_registered(api: t.Any) -> None:
    hotkey, keypair = throwaway_keypair()
    raw = raw_json(SHARE)
    headers = {**hotkey_headers(hotkey, keypair, raw=raw), "content-type": "application/json"}
    assert detail(api.client.post("/chutes/share", content=raw, headers=headers), 401) == (
        f"Could not find user with hotkey: {hotkey}")
    # On an optional-auth operation an unknown (but correctly signed) hotkey is an anonymous caller.
    anonymous = ok(api.get("/chutes/", headers=hotkey_headers(hotkey, keypair, purpose="chutes")))
    assert anonymous["total"] == 5

    user = {"username": "dave", "hotkey": hotkey, "free_account": True}
    added = ok(api.client.post(f"{CONTROL}/users", json=user), 201)
    raw = raw_json(chute_args("dave-chute"))
    deployed = api.client.post("/chutes/", content=raw, headers={**hotkey_headers(hotkey, keypair, raw=raw),
                                                                 "content-type": "application/json"})
    assert ok(deployed)["user"]["user_id"] == added["user_id"]
    mine = ok(api.get("/chutes/", headers=hotkey_headers(hotkey, keypair, purpose="chutes")))
    assert [item["name"] for item in mine["items"]] == ["dave-chute"]


def test_a_get_without_purpose_cannot_be_signed(api: t.Any) -> None:
    path = f"/bounties/{chute_id_for('chutes', DEEPSEEK)}/increase"
    for headers in (signed("admin", purpose="chutes"), signed("admin", raw=b"")):
        assert detail(api.get(path, headers=headers), 401) == "Either payload_str or purpose must be provided"
    ok(api.get(path, "admin"))  # an API key works


def test_a_hotkey_without_signature_falls_back_to_authorization(api: t.Any) -> None:
    headers = {"X-Chutes-Hotkey": USERS["alice"]["hotkey"], "X-Chutes-Nonce": str(CLOCK)}
    assert detail(api.post("/chutes/share", SHARE, headers=headers), 401) == NO_USER
    ok(api.post("/chutes/share", SHARE, headers={**headers, **auth("alice")}))


def test_hotkey_headers_win_over_an_api_key(api: t.Any) -> None:
    headers = {**signed("bob", purpose="chutes"), **auth("alice")}
    assert [i["name"] for i in ok(api.get("/chutes/", headers=headers))["items"]] == ["bob-private-llm"]


# -- ordering and optional auth --------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("/chutes/", {}), ("/chutes/", {"name": 5}), ("/chutes/share", {"chute_id_or_name": 1}),
    ("/chutes/vllm", {}), ("/chutes/diffusion", {"model": "x"}), ("/invocations/abc/report", {}),
])
def test_authentication_runs_before_body_validation(api: t.Any, path: str, body: dict) -> None:
    assert detail(api.post(path, body), 401) == NO_USER
    assert detail(api.post(path, body, headers={"Authorization": "cpk_nope"}), 401) == BAD_HEADER
    bad = api.post(path, body, "bob")
    assert bad.status_code == 422, bad.text
    assert isinstance(bad.json()["detail"], list)


def test_anonymous_callers_get_the_public_view(api: t.Any) -> None:
    assert api.names() == [DEEPSEEK, "Qwen/Qwen3-32B", "FLUX.1-schnell", "unsloth/gemma-3-12b-it",
                           "affine/reasoner-7b"]
    assert ok(api.get(f"/chutes/{DEEPSEEK}"))["name"] == DEEPSEEK
    code = api.get(f"/chutes/code/{chute_id_for('chutes', DEEPSEEK)}")
    assert code.status_code == 200 and "DeepSeek-V3-0324" in code.text
    assert detail(api.get("/chutes/alice-embeddings"), 404) == "Chute not found, or does not belong to you"
    assert detail(api.get("/chutes/code/alice-embeddings"), 404) == "Chute not found, or does not belong to you"


@pytest.mark.parametrize("path", ["/chutes/", f"/chutes/{DEEPSEEK}", "/chutes/code/FLUX.1-schnell"])
def test_invalid_credentials_on_optional_operations_are_still_refused(api: t.Any, path: str) -> None:
    assert detail(api.get(path, headers={"Authorization": "cpk_nope"}), 401) == BAD_HEADER
    assert detail(api.get(path, headers={"Authorization": UNKNOWN_KEY}), 401) == BAD_KEY
    assert detail(api.get(path, headers={"Authorization": "Bearer jwt"}), 401) == "Invalid token."
    assert detail(api.get(path, headers=signed("alice", purpose="chutes", nonce=1)), 401) == "Invalid nonce!"


def test_public_operations_need_nothing(api: t.Any) -> None:
    for path in ("/invocations/usage", "/invocations/stats/llm", "/invocations/stats/diffusion",
                 "/invocations/exports/recent", "/chutes/boosted", "/chutes/affine_available",
                 "/chutes/rolling_updates", "/chutes/gpu_count_history", "/chutes/miner_means",
                 "/chutes/utilization", "/bounties/"):
        assert api.get(path).status_code == 200, path
        # ...and credentials, even broken ones, are not looked at.
        assert api.get(path, headers={"Authorization": "cpk_nope"}).status_code == 200, path


# -- the catch-all -----------------------------------------------------------------------------------


CATCH_ALL = [("GET", "/nope"), ("PATCH", "/chutes/x"), ("POST", "/bounties/"), ("GET", "/chutes"),
             ("GET", "/bounties"), ("DELETE", "/chutes/a/b"), ("PUT", "/invocations/usage"),
             ("POST", "/chutes/rolling_updates")]


@pytest.mark.parametrize(("method", "path"), CATCH_ALL)
def test_unknown_routes_need_credentials(api: t.Any, method: str, path: str) -> None:
    assert detail(api.client.request(method, path), 401) == "Authentication required."


@pytest.mark.parametrize(("method", "path"), CATCH_ALL)
def test_unknown_routes_find_no_chute_for_a_known_caller(api: t.Any, method: str, path: str) -> None:
    assert detail(api.client.request(method, path, headers=auth("alice")), 404) == "No matching chute found!"


def test_unknown_routes_still_check_the_credentials(api: t.Any) -> None:
    assert detail(api.client.get("/nope", headers={"Authorization": "cpk_nope"}), 401) == BAD_HEADER
    assert detail(api.client.get("/nope", headers={"Authorization": UNKNOWN_KEY}), 401) == BAD_KEY


@pytest.mark.parametrize("path", ["/nope", "/chutes/", "/invocations/usage"])
def test_head_requests_go_to_the_catch_all(api: t.Any, path: str) -> None:
    """The real routes are GET-only; HEAD reaches the catch-all (which accepts HEAD)."""
    assert api.client.head(path).status_code == 401
    assert api.client.head(path, headers=auth("alice")).status_code == 404
