"""The `/api/v1/app` operations: version and configuration (from the fixtures), the log level and
the invocation cache switches."""

from __future__ import annotations

import copy

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


@handlers("app_version")
def app_version(request: Request[InvokeStore]) -> dict:
    app = request.state.runtime.app
    return {"version": app["version"], "highlights": app.get("highlights")}


@handlers("get_app_deps")
def get_app_deps(request: Request[InvokeStore]) -> dict:
    return copy.deepcopy(request.state.runtime.app["app_deps"])


@handlers("get_config")
def get_config(request: Request[InvokeStore]) -> dict:
    return copy.deepcopy(request.state.runtime.app["config"])


@handlers("get_runtime_config")
def get_runtime_config(request: Request[InvokeStore]) -> dict:
    return copy.deepcopy(request.state.runtime.app["runtime_config"])


@handlers("get_log_level")
def get_log_level(request: Request[InvokeStore]) -> int:
    return request.state.runtime.log_level


@handlers("set_log_level")
def set_log_level(request: Request[InvokeStore]) -> int:
    store = request.state
    with store.lock:
        store.runtime.log_level = int(request.body)  # the IntEnum the real server parses `30.0` into
        store.changed()
    return store.runtime.log_level


@handlers("get_invocation_cache_status")
def get_invocation_cache_status(request: Request[InvokeStore]) -> dict:
    cache = request.state.runtime.cache
    return {"size": len(cache["entries"]), "hits": cache["hits"], "misses": cache["misses"],
            "enabled": cache["enabled"], "max_size": cache["max_size"]}


def _switch(request: Request[InvokeStore], enabled: bool) -> None:
    store = request.state
    with store.lock:
        store.runtime.cache["enabled"] = enabled
        store.changed()


@handlers("enable_invocation_cache")
def enable_invocation_cache(request: Request[InvokeStore]) -> None:
    _switch(request, True)


@handlers("disable_invocation_cache")
def disable_invocation_cache(request: Request[InvokeStore]) -> None:
    _switch(request, False)


@handlers("clear_invocation_cache")
def clear_invocation_cache(request: Request[InvokeStore]) -> None:
    store = request.state
    with store.lock:
        # InvokeAI's clear empties the entries and zeroes the hit and miss counters with them.
        store.runtime.cache.update(entries={}, hits=0, misses=0)
        store.changed()
