"""The `/api/v1/client_state` operations: the web UI's key/value store. InvokeAI 6.8 keeps one
store for the whole server; the queue id in the path is accepted and not used to separate keys.
The handlers work on the store's library: `store` here is `request.state.library` (`library.py`)."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


@handlers("get_client_state_by_key")
def get_client_state_by_key(request: Request[InvokeStore]) -> str | None:
    store = request.state.library
    return store.client_state.get(request.params["key"])


@handlers("set_client_state")
def set_client_state(request: Request[InvokeStore]) -> str:
    store = request.state.library
    # The body is a JSON string, or any other content type's raw text (FastAPI reads it as is).
    value = request.body if isinstance(request.body, str) else request.raw_body.decode("utf-8", "replace")
    with store.lock:
        store.client_state[request.params["key"]] = value
        store.changed()
    return value


@handlers("delete_client_state")
def delete_client_state(request: Request[InvokeStore]) -> None:
    store = request.state.library
    with store.lock:
        store.client_state.clear()
        store.changed()
