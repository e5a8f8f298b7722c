"""Fixtures for the OpenAI Usage pack: an in-process server with a frozen clock, driven over ASGI.

Each test module gets one server (building one generates 120 days of seeded history, which takes a
moment); tests that need an empty organization clear the events through the control plane.
"""

from __future__ import annotations

import typing as t

import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

CLOCK = 1_763_683_200  # 2025-11-21T00:00:00Z, the frozen "now"
SEED = 7
ADMIN_KEY = "sk-admin-mockserver"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
CONTROL = "/__mock__/packs/openai_usage"


class UsageApi:
    """A thin client: the API with the admin key, and the pack's control plane."""

    clock = CLOCK

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, params: t.Any = None, headers: dict | None = None) -> t.Any:
        return self.client.get(path, params=params, headers=AUTH if headers is None else headers)

    def usage(self, kind: str, params: t.Any = None, headers: dict | None = None) -> t.Any:
        path = "/v1/organization/costs" if kind == "costs" else f"/v1/organization/usage/{kind}"
        return self.get(path, params, headers)

    def ok(self, kind: str, params: t.Any = None) -> dict:
        response = self.usage(kind, params)
        assert response.status_code == 200, response.text
        return response.json()

    def clear(self) -> None:
        response = self.client.delete(f"{CONTROL}/events")
        assert response.status_code == 204, response.text

    def add(self, events: list[dict]) -> None:
        if not events:
            return
        response = self.client.post(f"{CONTROL}/events", json={"events": events})
        assert response.status_code == 201, response.text
        assert response.json() == {"added": len(events)}

    def reset(self) -> None:
        response = self.client.post("/__mock__/reset")
        assert response.status_code == 200, response.text


def make_server(seed: int = SEED, clock: float = CLOCK) -> t.Any:
    return build_server(ServerConfig(apis=["openai_usage"], seed=seed, clock_start=clock,
                                     settings=Settings(validate_responses=True)))


@pytest.fixture(scope="module")
def server() -> t.Any:
    return make_server()


@pytest.fixture(scope="module")
def api(server: t.Any) -> t.Iterator[UsageApi]:
    with TestClient(server, base_url="http://mock") as client:
        yield UsageApi(client)


@pytest.fixture
def fresh(api: UsageApi) -> t.Iterator[UsageApi]:
    """The module's server, back to its seeded fixtures before and after the test."""
    api.reset()
    yield api
    api.reset()


@pytest.fixture
def empty(fresh: UsageApi) -> UsageApi:
    """An organization without any usage."""
    fresh.clear()
    return fresh


@pytest.fixture
def server_factory() -> t.Callable[..., t.Any]:
    return make_server
