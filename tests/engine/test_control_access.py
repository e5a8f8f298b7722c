"""Who may drive `/__mock__/` (cross-origin, foreign Host, token) and the emulated APIs' CORS."""

from __future__ import annotations

import typing as t

import pytest
from starlette.testclient import TestClient

from mockserver.engine import statefile
from mockserver.engine.control_access import ControlAccess, parse_host, parse_origin
from tests.engine.conftest import make_server, tiny_pack

AUTH = {"authorization": "Bearer good"}
EVIL = "https://evil.example"
# A state import that would leave the tiny pack empty.
EMPTY_STATE = {"format": statefile.FORMAT, "packs": {"tiny": {"items": []}}}


@pytest.fixture
def client() -> t.Iterator[TestClient]:
    """The server as a browser on this machine reaches it: http://127.0.0.1:8000."""
    with TestClient(make_server(tiny_pack()), base_url="http://127.0.0.1:8000") as client:
        yield client


def _served(access: ControlAccess, base_url: str = "http://127.0.0.1:8000") -> TestClient:
    return TestClient(make_server(tiny_pack(), control=access), base_url=base_url)


def _item_names(client: TestClient) -> list[str]:
    return [item["name"] for item in client.get("/tiny/items").json()]


def _refused(response: t.Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("control plane refused"), message
    for word in words:
        assert word in message, message
    assert not [name for name in response.headers if name.startswith("access-control-")]


# -- cross-origin --------------------------------------------------------------------------------


def test_a_pages_text_plain_post_to_reset_resets_nothing(client: TestClient) -> None:
    client.post("/tiny/items", json={"name": "mine"}, headers=AUTH)
    response = client.post("/__mock__/reset", content="x", headers={"origin": EVIL, "content-type": "text/plain"})
    _refused(response, 403, "cross-origin", EVIL, "--control-allow-origin")
    assert _item_names(client) == ["first", "mine"]
    assert client.get("/__mock__/journal").json()["total"] == 2  # nor was the journal cleared


def test_cross_origin_state_import_and_export_are_refused(client: TestClient) -> None:
    _refused(client.put("/__mock__/state", json=EMPTY_STATE, headers={"origin": EVIL}), 403, "cross-origin")
    assert _item_names(client) == ["first"]
    response = client.get("/__mock__/state", headers={"origin": EVIL})
    _refused(response, 403)
    assert b"first" not in response.content
    _refused(client.post("/__mock__/clock/advance", json={"seconds": 60}, headers={"origin": "null"}), 403)


def test_cross_site_fetch_metadata_without_an_origin_is_refused(client: TestClient) -> None:
    _refused(client.get("/__mock__/state", headers={"sec-fetch-site": "cross-site"}), 403, "Sec-Fetch-Site")
    assert client.get("/__mock__/health", headers={"sec-fetch-site": "same-origin"}).status_code == 200


def test_a_preflight_to_the_control_plane_is_refused_without_cors_grants(client: TestClient) -> None:
    response = client.options("/__mock__/reset", headers={
        "origin": EVIL, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    _refused(response, 403, "cross-origin")


def test_the_servers_own_origin_may_drive_it(client: TestClient) -> None:
    own = {"origin": "http://127.0.0.1:8000"}
    assert client.put("/__mock__/state", json=EMPTY_STATE, headers=own).status_code == 200
    assert _item_names(client) == []
    response = client.post("/__mock__/reset", headers=own)
    assert response.status_code == 200 and _item_names(client) == ["first"]
    assert "access-control-allow-origin" not in response.headers  # same origin: nothing to grant
    # Another port of the same host is another origin (a dev server on :3000 is not the mock).
    _refused(client.post("/__mock__/reset", headers={"origin": "http://127.0.0.1:3000"}), 403)
    _refused(client.post("/__mock__/reset", headers={"origin": "https://127.0.0.1:8000"}), 403)


# -- Host (DNS rebinding) ------------------------------------------------------------------------


def test_a_foreign_host_is_refused_even_same_origin(client: TestClient) -> None:
    """A rebound name reaches the socket, but its requests carry its own Host (and Origin)."""
    client.post("/tiny/items", json={"name": "mine"}, headers=AUTH)
    rebound = {"host": "rebind.example:8000", "origin": "http://rebind.example:8000"}
    _refused(client.post("/__mock__/reset", headers=rebound), 403, "rebind.example:8000",
             "127.0.0.1:8000", "localhost:8000", "[::1]:8000", "--control-allow-host")
    _refused(client.get("/__mock__/state", headers={"host": "rebind.example:8000"}), 403, "Host")
    assert _item_names(client) == ["first", "mine"]
    # The emulated API itself answers any Host, as the real one behind its proxy does.
    assert client.get("/tiny/items/count", headers={"host": "rebind.example:8000"}).json() == 2


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000", "[::1]:8000"])
def test_loopback_names_on_the_servers_port_are_its_own(client: TestClient, host: str) -> None:
    assert client.get("/__mock__/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["localhost:9000", "localhost", "127.0.0.2:8000", "evil.localhost.example:8000",
                                  "localhost:8000@evil", "::1", "", "localhost:80000"])
def test_other_hosts_and_ports_are_not(client: TestClient, host: str) -> None:
    _refused(client.get("/__mock__/health", headers={"host": host}), 403, "Host")


def test_in_process_clients_are_accepted_by_the_name_they_address() -> None:
    """TestClient (Host `testserver`) and httpx's ASGI transport report that name as the server's."""
    with TestClient(make_server(tiny_pack())) as client:
        assert client.post("/__mock__/reset").status_code == 200
        _refused(client.post("/__mock__/reset", headers={"host": "other"}), 403)


def test_the_host_path_form_is_checked_by_the_host_sent() -> None:
    hosted = tiny_pack(claims_host=lambda label, method, path, state: label == "items")
    with TestClient(make_server(hosted), base_url="http://127.0.0.1:8000") as client:
        # `/hosts/nobody/...` is served as Host `nobody.127.0.0.1:8000`; what was sent is 127.0.0.1.
        assert client.get("/hosts/nobody/__mock__/health").status_code == 200
        _refused(client.get("/hosts/nobody/__mock__/health", headers={"host": "evil.example"}), 403)


# -- opt-ins -------------------------------------------------------------------------------------


def test_allowed_hosts_are_accepted_on_any_port_unless_one_is_given() -> None:
    access = ControlAccess(hosts=("team.example", "ci.example:9000", "[fd00::1]:8000"))
    with _served(access) as client:
        for host in ("team.example", "team.example:8000", "TEAM.example:1234", "ci.example:9000", "[fd00::1]:8000"):
            assert client.get("/__mock__/health", headers={"host": host}).status_code == 200, host
        for host in ("ci.example:9001", "ci.example", "evil.example", "sub.team.example"):
            _refused(client.get("/__mock__/health", headers={"host": host}), 403, "team.example", "ci.example:9000")


def test_any_host_when_asked() -> None:
    with _served(ControlAccess(hosts=("*",))) as client:
        assert client.get("/__mock__/health", headers={"host": "anything.example"}).status_code == 200
        _refused(client.get("/__mock__/health", headers={"origin": EVIL}), 403)  # origins stay checked


def test_an_allowed_origin_drives_it_with_cors_grants_for_itself_only() -> None:
    dash = "https://dash.example:8443"
    with _served(ControlAccess(origins=(dash,))) as client:
        preflight = client.options("/__mock__/state", headers={
            "origin": dash, "access-control-request-method": "PUT",
            "access-control-request-headers": "Content-Type, Authorization"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == dash
        assert preflight.headers["access-control-allow-methods"] == "PUT"
        assert preflight.headers["access-control-allow-headers"] == "content-type, authorization"
        assert "origin" in preflight.headers["vary"].lower()
        response = client.put("/__mock__/state", json=EMPTY_STATE, headers={"origin": dash})
        assert response.status_code == 200 and _item_names(client) == []
        assert response.headers["access-control-allow-origin"] == dash
        assert "Origin" in response.headers["vary"]
        _refused(client.post("/__mock__/reset", headers={"origin": "https://dash.example"}), 403)  # other port
        _refused(client.post("/__mock__/reset", headers={"origin": EVIL}), 403)
        assert _item_names(client) == []


def test_a_token_is_required_on_every_control_call_when_set() -> None:
    with _served(ControlAccess(token="s3cret", hosts=("team.example",))) as client:
        missing = client.post("/__mock__/reset")
        _refused(missing, 401, "token", "Authorization: Bearer", "X-Mockserver-Token")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        _refused(client.get("/__mock__/health", headers={"authorization": "Bearer wrong"}), 401)
        _refused(client.get("/__mock__/health", headers={"authorization": "Basic s3cret"}), 401)
        _refused(client.put("/__mock__/state", json=EMPTY_STATE), 401)
        assert _item_names(client) == ["first"]
        assert client.get("/__mock__/health", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/__mock__/health", headers={"authorization": "bearer  s3cret "}).status_code == 200
        assert client.get("/__mock__/health", headers={"x-mockserver-token": "s3cret"}).status_code == 200
        # The token does not open the door to foreign hosts or origins.
        token = {"x-mockserver-token": "s3cret"}
        _refused(client.get("/__mock__/health", headers={**token, "host": "evil.example"}), 403)
        _refused(client.get("/__mock__/health", headers={**token, "origin": EVIL}), 403)
        assert client.get("/__mock__/health", headers={**token, "host": "team.example"}).status_code == 200
        # The emulated API does not want it.
        assert client.get("/tiny/items/count").json() == 1


@pytest.mark.parametrize(("access", "message"), [
    (dict(hosts=("bad/host",)), "--control-allow-host"), (dict(hosts=("a:b:c",)), "--control-allow-host"),
    (dict(origins=("dash.example",)), "--control-allow-origin"),
    (dict(origins=("https://dash.example/path",)), "--control-allow-origin"),
    (dict(token=" "), "--control-token"),
])
def test_opt_ins_that_mean_nothing_are_refused(access: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControlAccess(**access)


@pytest.mark.parametrize(("value", "address"), [
    ("localhost:8000", ("localhost", 8000)), ("LocalHost", ("localhost", 80)), ("[::1]:8000", ("::1", 8000)),
    ("[::1]", ("::1", 80)), ("::1", None), ("a:b", None), ("host:", None), ("host:+1", None), ("[::1", None),
    ("[::1]x", None), ("", None), ("h:８０", None), ("user@host:8000", None),
])
def test_host_values_are_parsed_strictly(value: str, address: tuple | None) -> None:
    assert parse_host(value, 80) == address


@pytest.mark.parametrize(("value", "origin"), [
    ("http://localhost:3000", ("http", "localhost", 3000)), ("HTTPS://Dash.Example", ("https", "dash.example", 443)),
    ("http://[::1]:8000", ("http", "::1", 8000)), ("null", None), ("file://", None), ("ftp://x", None),
])
def test_origins_are_parsed_with_default_ports(value: str, origin: tuple | None) -> None:
    assert parse_origin(value) == origin


# -- the emulated APIs' CORS ---------------------------------------------------------------------


def test_a_preflight_gets_exactly_the_method_and_headers_it_asks_for(client: TestClient) -> None:
    """`Access-Control-Allow-Headers: *` never covers Authorization: the names must be listed."""
    response = client.options("/tiny/items", headers={
        "origin": "http://ui.example", "access-control-request-method": "POST",
        "access-control-request-headers": "Authorization,content-type , X-Stainless-Lang, bad header"})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-lang"
    assert {part.strip() for part in response.headers["vary"].split(",")} == {
        "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
    bare = client.options("/tiny/items/1", headers={"origin": "http://ui.example", "access-control-request-method": "DELETE"})
    assert bare.headers["access-control-allow-methods"] == "DELETE"
    assert "access-control-allow-headers" not in bare.headers


def test_answers_to_an_origin_carry_the_grant_and_vary_by_origin(client: TestClient) -> None:
    response = client.post("/tiny/items", json={"name": "xyz"}, headers={**AUTH, "origin": "http://ui.example"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "*"
    assert response.headers["vary"] == "Origin"
    plain = client.get("/tiny/items/1")
    assert "access-control-allow-origin" not in plain.headers and "vary" not in plain.headers
