"""Chutes API (api.chutes.ai): chutes, sharing, invocations, exports, bounties, instance logs."""

from __future__ import annotations

from mockserver.engine.pack import Handlers, Pack
from mockserver.packs.chutes import bounties, chutes, control, instance_logs, invocations
from mockserver.packs.chutes.auth import authenticate, catch_all
from mockserver.packs.chutes.seed import new_state

handlers = Handlers()
for module in (chutes, invocations, bounties, instance_logs):
    handlers.include(module.handlers)

PACK = Pack(
    name="chutes",
    dialect="fastapi",
    prefixes=("/chutes", "/invocations", "/bounties", "/instances"),
    handlers=handlers,
    new_state=new_state,
    authenticate=authenticate,
    control_handlers=control.handlers,
    unmatched=catch_all,
)
