"""`/api/v1/app`: version, configuration, dependencies, runtime config, the log level and the
invocation cache switches.

Facts: behaviour.md "App", transcript seq 1-12 and 196, openapi-v6.8.json (LogLevel enum 0-50,
InvocationCacheStatus). The cache's hits and misses move only when the queue (part 2) runs
nodes; here the tests cover the switches, `clear` and what a reset puts back.
"""

from __future__ import annotations

import typing as t

import pytest
from invokeai_support import CONTROL, ok, recorded

APP = "/api/v1/app"
CACHE = f"{APP}/invocation_cache"



def status(client: t.Any) -> dict:
    return ok(client.get(f"{CACHE}/status"))


# -- fixed answers -----------------------------------------------------------------------------------


def test_version(client: t.Any) -> None:
    assert ok(client.get(f"{APP}/version")) == {"version": "6.8.1", "highlights": None}  # seq 1


@pytest.mark.parametrize(("seq", "path"), [(2, "config"), (3, "app_deps"), (4, "runtime_config")])
def test_configuration_answers_as_recorded(client: t.Any, seq: int, path: str) -> None:
    assert ok(client.get(f"{APP}/{path}")) == recorded(seq)["response"]["json"]


def test_app_deps_name_the_versions_that_matter(client: t.Any) -> None:
    deps = ok(client.get(f"{APP}/app_deps"))
    assert deps["InvokeAI"] == "6.8.1" and deps["dynamicprompts"] == "0.31.0"
    assert all(isinstance(value, str) for value in deps.values())


def test_runtime_config_shape(client: t.Any) -> None:
    runtime = ok(client.get(f"{APP}/runtime_config"))
    assert set(runtime) == {"set_fields", "config"}
    assert runtime["config"]["log_level"] == "info" and runtime["config"]["node_cache_size"] == 512
    assert runtime["config"]["allow_origins"] == []


def test_fixed_answers_do_not_leak_edits(client: t.Any) -> None:
    first = ok(client.get(f"{APP}/config"))
    first["infill_methods"].append("mutated")
    assert ok(client.get(f"{APP}/config")) == recorded(2)["response"]["json"]


# -- log level ----------------------------------------------------------------------------------------


def test_log_level_starts_at_info(client: t.Any) -> None:
    assert ok(client.get(f"{APP}/logging")) == 20  # seq 5


def test_setting_the_recorded_level_echoes_it(client: t.Any) -> None:
    assert ok(client.post(f"{APP}/logging", json=20)) == 20  # seq 6


@pytest.mark.parametrize("level", [0, 10, 20, 30, 40, 50])
def test_set_log_level_returns_it_and_get_reflects_it(client: t.Any, level: int) -> None:
    assert ok(client.post(f"{APP}/logging", json=level)) == level
    assert ok(client.get(f"{APP}/logging")) == level


def test_log_level_changes_stick_until_changed_again(client: t.Any) -> None:
    ok(client.post(f"{APP}/logging", json=40))
    ok(client.get(f"{APP}/version"))
    assert ok(client.get(f"{APP}/logging")) == 40
    ok(client.post(f"{APP}/logging", json=10))
    assert ok(client.get(f"{APP}/logging")) == 10


@pytest.mark.parametrize("seq", [7, 196])
def test_an_invalid_level_is_422_as_recorded(client: t.Any, seq: int) -> None:
    real = recorded(seq)
    response = client.post(f"{APP}/logging", json=real["request"]["json"])
    assert response.status_code == 422
    assert response.json() == real["response"]["json"]
    assert ok(client.get(f"{APP}/logging")) == 20  # unchanged


@pytest.mark.parametrize("value", [25, 60, -10, 20.5])
def test_other_values_off_the_enum_are_422(client: t.Any, value: t.Any) -> None:
    response = client.post(f"{APP}/logging", json=value)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "enum" and error["loc"] == ["body"]
    assert error["msg"] == "Input should be 0, 10, 20, 30, 40 or 50"


def test_a_missing_level_is_422(client: t.Any) -> None:
    response = client.post(f"{APP}/logging")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["body"]


def test_reset_puts_the_log_level_back(client: t.Any) -> None:
    from invokeai_support import reset

    ok(client.post(f"{APP}/logging", json=50))
    reset(client)
    assert ok(client.get(f"{APP}/logging")) == 20


# -- invocation cache ----------------------------------------------------------------------------------


def test_cache_status_at_start(client: t.Any) -> None:
    assert status(client) == recorded(8)["response"]["json"]
    assert status(client) == {"size": 0, "hits": 0, "misses": 0, "enabled": True, "max_size": 512}


def test_disable_then_enable(client: t.Any) -> None:
    assert ok(client.put(f"{CACHE}/disable")) is None  # seq 9
    assert status(client) == recorded(10)["response"]["json"]  # seq 10: enabled false
    assert ok(client.put(f"{CACHE}/disable")) is None  # idempotent
    assert status(client)["enabled"] is False
    assert ok(client.put(f"{CACHE}/enable")) is None  # seq 11
    assert status(client) == {"size": 0, "hits": 0, "misses": 0, "enabled": True, "max_size": 512}


def test_clear_answers_null_and_leaves_the_switch_alone(client: t.Any) -> None:
    assert ok(client.delete(CACHE)) is None  # seq 12
    assert status(client) == {"size": 0, "hits": 0, "misses": 0, "enabled": True, "max_size": 512}
    ok(client.put(f"{CACHE}/disable"))
    assert ok(client.delete(CACHE)) is None
    assert status(client)["enabled"] is False


def test_clear_zeroes_the_counters(client: t.Any) -> None:
    """Counters only move when the queue runs nodes (part 2); load some through the pack's state
    import, then clear."""
    state = ok(client.get(f"{CONTROL}/state"))
    pack_state = state.get("state", state)
    if "cache" not in pack_state:
        pytest.skip("the pack state has no invocation cache to load counters into")
    pack_state["cache"] = {**pack_state["cache"], "hits": 3, "misses": 5}
    loaded = client.put(f"{CONTROL}/state", json=state)
    assert loaded.status_code in (200, 204), loaded.text
    assert (status(client)["hits"], status(client)["misses"]) == (3, 5)
    ok(client.delete(CACHE))
    after = status(client)
    assert (after["size"], after["hits"], after["misses"]) == (0, 0, 0)


def test_reset_turns_the_cache_back_on(client: t.Any) -> None:
    from invokeai_support import reset

    ok(client.put(f"{CACHE}/disable"))
    reset(client)
    assert status(client)["enabled"] is True


@pytest.mark.parametrize(("method", "path"), [("post", f"{CACHE}/enable"), ("post", f"{CACHE}/status"),
                                              ("delete", f"{CACHE}/disable")])
def test_wrong_method_is_405(client: t.Any, method: str, path: str) -> None:
    response = client.request(method.upper(), path)
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize("path", [f"{CACHE}/enable", f"{CACHE}/disable"])
def test_a_get_of_a_put_only_route_is_404(client: t.Any, path: str) -> None:
    """The GET falls through to the web UI's StaticFiles mount, which has no such file."""
    response = client.get(path)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
