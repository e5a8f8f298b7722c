"""OpenAI organization Usage and Costs API (`/v1/organization/usage/*`, `/v1/organization/costs`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.pack import Pack, PackContext, PackOption
from mockserver.packs.openai_usage.options import EVENTS_OPTION

if t.TYPE_CHECKING:
    from mockserver.packs.openai_usage.store import UsageStore

OPTIONS: tuple[PackOption, ...] = (EVENTS_OPTION,)  # --openai-usage-events N


def build_pack() -> Pack[UsageStore]:
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
        options=OPTIONS,
    )


def new_state(context: PackContext) -> UsageStore:
    from mockserver.packs.openai_usage.store import UsageStore

    organization = context.fixture("organization.yaml")
    store = UsageStore(organization, context.fixture("prices.yaml"), context.clock)
    count = context.options.get(EVENTS_OPTION.dest)
    if count is None:
        _seed_fixture_history(store, context, organization)
    else:
        _seed_synthetic_history(store, context, organization, count)
    store.version = 0
    return store


def _seed_fixture_history(store: UsageStore, context: PackContext, organization: dict) -> None:
    from mockserver.engine.clock import day_start
    from mockserver.engine.seeding import replayed
    from mockserver.packs.openai_usage import history

    profile, now = context.fixture("history.yaml"), context.clock.now()
    today = day_start(now)
    # Kept by day, not by instant; shared, not copied: the store reads usage events into its
    # columns and keeps none of them.
    events = replayed(context.random("history"), (profile, organization, today),
                      lambda rng: history.generate(profile, organization, rng, today), shared=True)
    store.add_events(history.until(events, now))


def _seed_synthetic_history(store: UsageStore, context: PackContext, organization: dict, count: int) -> None:
    import numpy as np

    from mockserver.packs.openai_usage import synthetic

    rng = np.random.default_rng(context.random("synthetic history").getrandbits(64))
    for drawn in synthetic.generate(count, context.fixture("history.yaml"), organization, rng, context.clock.now()):
        store.add_columns(drawn.kind, drawn.times, drawn.combos, drawn.combo_of_event, drawn.counts)
