"""OpenAI organization Usage and Costs API (`/v1/organization/usage/*`, `/v1/organization/costs`)."""

from __future__ import annotations

from mockserver.engine.pack import Pack, PackContext
from mockserver.packs.openai_usage import control, history, usage
from mockserver.packs.openai_usage.auth import authenticate
from mockserver.packs.openai_usage.store import UsageStore


def new_state(context: PackContext) -> UsageStore:
    organization = context.fixture("organization.yaml")
    store = UsageStore(organization, context.fixture("prices.yaml"), context.clock)
    events = history.generate(context.fixture("history.yaml"), organization, context.random("history"),
                              context.clock.now())
    store.add_events(events)
    store.version = 0
    return store


PACK = Pack(
    name="openai_usage",
    dialect="openai",
    prefixes=("/v1",),
    handlers=usage.handlers,
    new_state=new_state,
    authenticate=authenticate,
    control_handlers=control.handlers,
)
