"""The `/api/v1/app` operations: version and configuration (from the fixtures), the log level and
the invocation cache switches."""

from __future__ import annotations

import copy

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


@handlers("app_version")
def app_version(request: Request) -> dict:
    store: InvokeStore = request.state
    return {"version": store.app["version"], "highlights": store.app.get("highlights")}


@handlers("get_app_deps")
def get_app_deps(request: Request) -> dict:
    return copy.deepcopy(request.state.app["app_deps"])


@handlers("get_config")
def get_config(request: Request) -> dict:
    return copy.deepcopy(request.state.app["config"])


@handlers("get_runtime_config")
def get_runtime_config(request: Request) -> dict:
    return copy.deepcopy(request.state.app["runtime_config"])


@handlers("get_log_level")
def get_log_level(request: Request) -> int:
    return request.state.log_level


@handlers("set_log_level")
def set_log_level(request: Request) -> int:
    store: InvokeStore = request.state
    with store.lock:
        store.log_level = int(request.body)  # the IntEnum the real server parses `30.0` into
        store.changed()
    return store.log_level


@handlers("get_invocation_cache_status")
def get_invocation_cache_status(request: Request) -> dict:
    cache = request.state.cache
    return {"size": len(cache["entries"]), "hits": cache["hits"], "misses": cache["misses"],
            "enabled": cache["enabled"], "max_size": cache["max_size"]}


def _switch(request: Request, enabled: bool) -> None:
    store: InvokeStore = request.state
    with store.lock:
        store.cache["enabled"] = enabled
        store.changed()


@handlers("enable_invocation_cache")
def enable_invocation_cache(request: Request) -> None:
    _switch(request, True)


@handlers("disable_invocation_cache")
def disable_invocation_cache(request: Request) -> None:
    _switch(request, False)


@handlers("clear_invocation_cache")
def clear_invocation_cache(request: Request) -> None:
    store: InvokeStore = request.state
    with store.lock:
        # InvokeAI's clear empties the entries and zeroes the hit and miss counters with them.
        store.cache.update(entries={}, hits=0, misses=0)
        store.changed()
