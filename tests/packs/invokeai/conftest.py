"""Fixtures for the InvokeAI pack: one in-process server per module, reset before each test."""

from __future__ import annotations

import typing as t

import pytest
from invokeai_support import make_server, reset
from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def server() -> t.Any:
    return make_server()


@pytest.fixture(scope="module")
def module_client(server: t.Any) -> t.Iterator[TestClient]:
    with TestClient(server, base_url="http://mock") as test_client:
        yield test_client


@pytest.fixture
def client(module_client: TestClient) -> TestClient:
    """The module's server, back at its fixtures (default workflows and presets, nothing uploaded)."""
    reset(module_client)
    return module_client


@pytest.fixture
def events(client: TestClient, server: t.Any) -> list[tuple[str, dict]]:
    """What the model manager emits on the socket, recorded (and still delivered)."""
    manager = server.runtimes["invokeai"].state.models.jobs
    seen: list[tuple[str, dict]] = []
    original = manager.emit

    def record(name: str, payload: dict) -> None:
        seen.append((name, payload))
        original(name, payload)

    manager.emit = record
    return seen
