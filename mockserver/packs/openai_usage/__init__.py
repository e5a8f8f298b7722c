"""OpenAI organization Usage and Costs API (`/v1/organization/usage/*`, `/v1/organization/costs`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.pack import Pack, PackContext, PackOption

if t.TYPE_CHECKING:
    from mockserver.packs.openai_usage.store import UsageStore

OPTIONS: tuple[PackOption, ...] = ()


def build_pack() -> Pack:
    from mockserver.packs.openai_usage import control, usage
    from mockserver.packs.openai_usage.auth import authenticate

    return Pack(
        name="openai_usage",
        dialect="openai",
        prefixes=("/v1",),
        handlers=usage.all_handlers(),
        new_state=new_state,
        authenticate=authenticate,
        control_handlers=control.handlers,
    )


def new_state(context: PackContext) -> UsageStore:
    from mockserver.packs.openai_usage import history
    from mockserver.packs.openai_usage.store import UsageStore

    organization = context.fixture("organization.yaml")
    store = UsageStore(organization, context.fixture("prices.yaml"), context.clock)
    events = history.generate(context.fixture("history.yaml"), organization, context.random("history"),
                              context.clock.now())
    store.add_events(events)
    store.version = 0
    return store
