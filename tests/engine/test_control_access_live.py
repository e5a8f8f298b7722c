"""The control plane's exposure rules against a real `mockserver serve` on 127.0.0.1, over a socket."""

from __future__ import annotations

import typing as t

import httpx
import pytest
from live import serve

pytestmark = pytest.mark.live

SERVE_ARGS = ("--api", "openai_usage", "--seed", "3")
ADMIN_KEYS = "/__mock__/packs/openai_usage/admin_keys"
KEY = "sk-admin-control-plane-test"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def http(live_server: str) -> t.Iterator[httpx.Client]:
    """A client of the module's server, which holds the admin key KEY (state the refused requests
    below must not reach). Added here, not by the first test: each test stands alone, whichever
    others run before it (or on another pytest-xdist worker)."""
    with httpx.Client(base_url=live_server, timeout=30, trust_env=False) as client:
        assert client.post(ADMIN_KEYS, json={"value": KEY}).status_code == 201
        yield client


def _port(client: httpx.Client) -> int:
    return t.cast(int, client.base_url.port)


def _keys(client: httpx.Client, **headers: str) -> list[str]:
    response = client.get(ADMIN_KEYS, headers=headers)
    assert response.status_code == 200, response.text
    return [key["value"] for key in response.json()]


def test_a_pages_text_plain_post_to_reset_is_refused_and_resets_nothing(http: httpx.Client) -> None:
    response = http.post("/__mock__/reset", content=b"{}", headers={"origin": EVIL, "content-type": "text/plain"})
    assert response.status_code == 403
    assert "cross-origin" in response.json()["error"]["message"]
    assert "access-control-allow-origin" not in response.headers
    assert KEY in _keys(http)


def test_cross_origin_reads_and_writes_of_state_are_refused(http: httpx.Client) -> None:
    before = http.get("/__mock__/state").json()["packs"]
    for method, path in (("GET", "/__mock__/state"), ("PUT", "/__mock__/state"), ("POST", "/__mock__/clock/advance"),
                         ("GET", "/__mock__/journal"), ("PUT", "/__mock__/packs/openai_usage/state")):
        response = http.request(method, path, json={"seconds": 1, "packs": {}}, headers={"origin": EVIL})
        assert response.status_code == 403, (method, path, response.text)
        assert KEY not in response.text
    assert http.get("/__mock__/state").json()["packs"] == before


def test_a_rebound_dns_name_is_refused(http: httpx.Client) -> None:
    """What a page on a name re-pointed at 127.0.0.1 sends: its own Host, and no Origin on a GET."""
    port = _port(http)
    response = http.get("/__mock__/state", headers={"host": f"rebind.example:{port}"})
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert f"rebind.example:{port}" in message and f"127.0.0.1:{port}" in message
    assert KEY not in response.text
    response = http.post("/__mock__/reset", headers={"host": f"rebind.example:{port}",
                                                     "origin": f"http://rebind.example:{port}"})
    assert response.status_code == 403 and KEY in _keys(http)


def test_its_own_names_and_origin_are_accepted(http: httpx.Client) -> None:
    port = _port(http)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert http.get("/__mock__/health", headers={"host": host}).status_code == 200, host
    assert http.get("/__mock__/health", headers={"host": f"localhost:{port + 1}"}).status_code == 403
    assert KEY in _keys(http, origin=f"http://127.0.0.1:{port}")


def test_the_api_keeps_permissive_cors_with_authorization_listed(http: httpx.Client) -> None:
    response = http.options("/v1/organization/costs", headers={
        "origin": "http://localhost:5173", "access-control-request-method": "GET",
        "access-control-request-headers": "authorization, openai-organization"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET"
    assert response.headers["access-control-allow-headers"] == "authorization, openai-organization"
    response = http.get("/v1/organization/costs", params={"start_time": 1},
                        headers={"origin": "http://localhost:5173", "authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*" and "Origin" in response.headers["vary"]


def test_a_team_server_opts_in_to_more_hosts_origins_and_a_token() -> None:
    dash = "https://dash.example"
    with serve(*SERVE_ARGS, "--control-allow-host", "team.example", "--control-allow-origin", dash,
               env={"MOCKSERVER_CONTROL_TOKEN": "t0ken"}) as base, \
            httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        token = {"authorization": "Bearer t0ken"}
        assert client.post(ADMIN_KEYS, json={"value": KEY}).status_code == 401
        assert client.post(ADMIN_KEYS, json={"value": KEY}, headers=token).status_code == 201
        assert client.get("/__mock__/health", headers={**token, "host": "team.example"}).status_code == 200
        assert client.get("/__mock__/health", headers={**token, "host": "other.example"}).status_code == 403
        preflight = client.options("/__mock__/reset", headers={
            "origin": dash, "access-control-request-method": "POST", "access-control-request-headers": "authorization"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == dash
        assert preflight.headers["access-control-allow-headers"] == "authorization"
        response = client.post("/__mock__/reset", headers={**token, "origin": dash})
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == dash
        assert KEY not in _keys(client, **token)
        assert client.post("/__mock__/reset", headers={**token, "origin": EVIL}).status_code == 403
