"""Chutes API (api.chutes.ai): chutes, sharing, invocations, exports, bounties, images, logos,
the caller's own account, instance logs."""

from __future__ import annotations

import typing as t

from mockserver.engine.api_docs import ApiDescription
from mockserver.engine.pack import Handlers, Pack, PackOption

if t.TYPE_CHECKING:
    from mockserver.packs.chutes.store import ChutesStore

OPTIONS: tuple[PackOption, ...] = ()


def build_pack() -> Pack[ChutesStore]:
    from mockserver.packs.chutes import (
        bounties,
        chutes,
        control,
        images,
        instance_logs,
        invocations,
        logos,
        users,
    )
    from mockserver.packs.chutes.auth import authenticate
    from mockserver.packs.chutes.invoke import hostname_invocation
    from mockserver.packs.chutes.seed import new_state, state_to_load
    from mockserver.packs.chutes.targets import claims_host

    handlers = Handlers()
    for module in (chutes, invocations, bounties, images, logos, users, instance_logs):
        handlers.include(module.handlers)
    return Pack(
        name="chutes",
        dialect="fastapi",
        prefixes=("/chutes", "/invocations", "/bounties", "/images", "/logos", "/users", "/instances"),
        handlers=handlers,
        new_state=new_state,
        state_to_load=state_to_load,
        authenticate=authenticate,
        control_handlers=control.handlers,
        unmatched=hostname_invocation,  # the real app's last route: chute invocations
        claims_host=claims_host,  # llm., embed., image. and chute-slug hosts are invocations
        # The real app is `FastAPI(default_response_class=ORJSONResponse, lifespan=...)`: FastAPI's
        # title and version, its documentation routes on (ahead of the catch-all route).
        description=ApiDescription(),
    )
