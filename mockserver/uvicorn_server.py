"""uvicorn, telling the mock when it starts to stop.

On SIGTERM or Ctrl-C uvicorn stops accepting connections and then waits for every open response
before it exits (and only then sends the lifespan shutdown). The mock's event streams end when
told the server is stopping, so they must be told before that wait, not after it.
"""

from __future__ import annotations

import socket
import typing as t

import uvicorn


class Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, on_shutdown: t.Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)
