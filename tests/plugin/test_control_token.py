"""`MockServerConfig.control_token`: the helpers send it, other clients of the control plane need it."""

from __future__ import annotations

import httpx
import pytest

from mockserver.testing import MockServerHandle

ADMIN = {"authorization": "Bearer sk-admin-mockserver"}


def _helpers_drive_it_and_bare_clients_are_refused(mock: MockServerHandle, bare: httpx.Client) -> None:
    mock.set_clock("2025-06-15T12:00:00Z")
    mock.reset()
    assert mock.health()["status"] == "ok" and mock.clock()["frozen"] is False
    assert "openai_usage" in mock.state()["packs"]
    refused = bare.post("/__mock__/reset")
    assert refused.status_code == 401 and "token" in refused.json()["error"]["message"]
    assert bare.get("/__mock__/health", headers={"x-mockserver-token": "s3cret"}).status_code == 200
    # The API itself takes no control token.
    assert bare.get("/v1/organization/costs", params={"start_time": 1}, headers=ADMIN).status_code == 200


def test_in_process_with_a_token() -> None:
    with MockServerHandle.start("openai_usage", control_token="s3cret") as mock:
        _helpers_drive_it_and_bare_clients_are_refused(mock, mock.client())


@pytest.mark.live
def test_live_with_a_token_and_not_with_one_inherited_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_CONTROL_TOKEN", "from-the-shell")
    with MockServerHandle.start("openai_usage", live=True, control_token="s3cret") as mock, \
            httpx.Client(base_url=mock.base_url, trust_env=False) as bare:
        _helpers_drive_it_and_bare_clients_are_refused(mock, bare)
        assert bare.get("/__mock__/health", headers={"x-mockserver-token": "from-the-shell"}).status_code == 401
    with MockServerHandle.start("openai_usage", live=True) as mock, \
            httpx.Client(base_url=mock.base_url, trust_env=False) as bare:
        assert mock.health()["status"] == "ok"
        assert bare.post("/__mock__/reset").status_code == 200  # no token asked for

