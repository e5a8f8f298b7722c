"""Fixtures for the Chutes pack: an in-process server with a frozen clock, driven over ASGI.

One server per test module (building it seeds 11 days of invocation history); the `api` fixture
puts the clock back at `CLOCK` and the pack back to its fixtures before each test, so every test
starts from `fixtures/chutes/`. The helpers (users, signing, bodies) live in `chutes_support.py`,
which test modules import by that unique name (several directories have a `conftest` module).
"""

from __future__ import annotations

import typing as t

import pytest
from chutes_support import CLOCK, ChutesApi, make_server
from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def server() -> t.Any:
    return make_server()


@pytest.fixture(scope="module")
def client(server: t.Any) -> t.Iterator[TestClient]:
    with TestClient(server, base_url="http://mock") as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> ChutesApi:
    """The module's server with the clock at `CLOCK` and the pack at its fixtures."""
    chutes = ChutesApi(client)
    chutes.set_clock(CLOCK)
    chutes.reset()  # after the clock: the seeded history ends at the clock's "now"
    return chutes
