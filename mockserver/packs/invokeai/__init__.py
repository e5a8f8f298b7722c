"""InvokeAI 6.8 (the image-generation server's REST API): gallery, boards, workflows, style
presets, app info, client state and utilities, the session queue, models and downloads, all in
one store (`store.py`: gallery, library, runtime, session queue, models) and handler registry."""

from __future__ import annotations

import typing as t

from mockserver.engine.pack import Handlers, Pack, PackOption
from mockserver.packs.invokeai.options import UI_OPTION

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.store import InvokeStore

OPTIONS: tuple[PackOption, ...] = (UI_OPTION,)  # --invokeai-ui DIR


def build_pack() -> Pack[InvokeStore]:
    from mockserver.packs.invokeai import (
        app,
        boards,
        client_state,
        control,
        images,
        models,
        queue,
        style_presets,
        utilities,
        videos,
        workflows,
    )
    from mockserver.packs.invokeai.events import InvokeCompanion
    from mockserver.packs.invokeai.seed import new_state, state_to_load

    handlers = Handlers()
    for module in (images, boards, videos, workflows, style_presets, app, client_state, utilities, queue, models):
        handlers.include(module.handlers)
    return Pack(
        name="invokeai",
        dialect="fastapi+static",  # its web UI is a StaticFiles mount at `/`
        prefixes=("/api/v1", "/api/v2"),
        handlers=handlers,
        new_state=new_state,
        state_to_load=state_to_load,
        control_handlers=control.handlers,
        # InvokeAI turns FastAPI's trailing-slash redirect off: `GET /api/v1/boards` is a 404.
        redirect_slashes=False,
        gzip=True,  # InvokeAI adds FastAPI's GZipMiddleware
        companion=InvokeCompanion,  # socket.io at /ws/socket.io, the queue processor's clock, the web UI
        options=OPTIONS,
    )
