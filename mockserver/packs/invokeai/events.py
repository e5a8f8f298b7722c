"""The socket.io endpoint InvokeAI clients listen on (`/ws/socket.io`), and the loop that runs the
queue processor and model jobs forward and delivers what they emit.

Clients join rooms the way they do on the real server: `subscribe_queue {"queue_id": ...}` for
queue and invocation events, `subscribe_bulk_download {"bulk_download_id": ...}` for bulk
downloads; model install and download events go to everyone.
"""

from __future__ import annotations

import asyncio
import logging
import typing as t

from mockserver.packs.invokeai import openapi_document
from mockserver.packs.invokeai.session_runs import settle
from mockserver.packs.invokeai.store import InvokeStore
from mockserver.packs.invokeai.web_ui import UiBundle

if t.TYPE_CHECKING:
    import socketio

log = logging.getLogger("mockserver.invokeai")
TICK_SECONDS = 0.02
ROOM_KEYS = {"subscribe_queue": "queue_id", "unsubscribe_queue": "queue_id",
             "subscribe_bulk_download": "bulk_download_id", "unsubscribe_bulk_download": "bulk_download_id"}


class InvokeCompanion:
    """What runs beside InvokeAI's REST API: socket.io, and the clock-driven work behind it."""

    def __init__(self, state: t.Callable[[], InvokeStore], options: t.Mapping[str, t.Any]) -> None:
        self.state = state
        self.sio: socketio.AsyncServer | None = None  # made when the first client comes
        self._socket_app: t.Any = None
        self.mounts = {"/ws/socket.io": self._socket_io,
                       **openapi_document.mounts()}  # /openapi.json, /docs, /redoc
        # `--invokeai-ui DIR`: the web UI behind every API route, as invokeai-web mounts it at `/`.
        ui_folder = options.get("invokeai_ui")
        self.catch_all = UiBundle(ui_folder) if ui_folder is not None else None

    async def _socket_io(self, scope: t.Any, receive: t.Any, send: t.Any) -> None:
        """The socket.io endpoint, made on first use: python-socketio imports its clients too
        (requests among them), a fifth of a second a server nobody listens to need not spend
        starting. Until then there is nobody to deliver events to."""
        if self._socket_app is None:
            self._socket_app = self._make_socket_app()
        await self._socket_app(scope, receive, send)

    def _make_socket_app(self) -> t.Any:
        import socketio

        sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False)
        for event, key in ROOM_KEYS.items():
            sio.on(event, self._room_handler(sio, event.startswith("subscribe"), key))
        self.sio = sio
        return socketio.ASGIApp(sio, socketio_path="/ws/socket.io")

    @staticmethod
    def _room_handler(sio: socketio.AsyncServer, join: bool,
                      key: str) -> t.Callable[[str, t.Any], t.Awaitable[None]]:
        async def handle(sid: str, data: t.Any) -> None:
            room = data.get(key) if isinstance(data, dict) else None
            if isinstance(room, str):
                await (sio.enter_room(sid, room) if join else sio.leave_room(sid, room))
        return handle

    async def run(self) -> None:
        while True:
            try:
                await self.deliver()
            except Exception:  # keep serving: one bad tick must not stop the processor for good
                log.exception("InvokeAI background tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def deliver(self) -> None:
        store = self.state()
        # Start what is due; a session's nodes run in a worker meanwhile and their events queue up
        # in order, delivered as they come, tick after tick.
        await settle(store, wait=False)
        with store.lock:
            events = store.runtime.take_events()
        if self.sio is None:
            return
        for name, data, room in events:
            await self.sio.emit(name, data, room=room)
