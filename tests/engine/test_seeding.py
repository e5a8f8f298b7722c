"""Seeded generation replayed on reset (engine/seeding.py): the same data and generator state as
drawing it again, as copies a store may change."""

from __future__ import annotations

import random

from mockserver.app import ServerConfig, build_server
from mockserver.engine.seeding import replayed


def draw(rng: random.Random, count: int = 50) -> list[dict]:
    return [{"value": rng.random(), "tags": [rng.randrange(10)]} for _ in range(count)]


def test_a_replay_is_what_drawing_again_gives_and_leaves_the_generator_alike() -> None:
    inputs = ("profile", 1)
    first = replayed(random.Random("a"), inputs, draw)
    rng = random.Random("a")
    again = replayed(rng, inputs, lambda _: [{"never": "called"}])
    fresh = random.Random("a")
    assert again == first == draw(fresh)
    assert rng.getstate() == fresh.getstate()


def test_a_replay_is_a_copy_of_its_own() -> None:
    first = replayed(random.Random("b"), None, draw)
    first[0]["tags"].append("changed")
    assert "changed" not in replayed(random.Random("b"), None, draw)[0]["tags"]


def test_a_shared_replay_is_the_same_object_and_leaves_the_generator_alike() -> None:
    first = replayed(random.Random("s"), None, draw, shared=True)
    rng = random.Random("s")
    again = replayed(rng, None, lambda _: [{"never": "called"}], shared=True)
    fresh = random.Random("s")
    assert again is first and first == draw(fresh)
    assert rng.getstate() == fresh.getstate()
    assert replayed(random.Random("s"), None, draw) is not first  # a copying caller gets its own


def test_other_inputs_or_another_generator_state_draw_again() -> None:
    calls: list[int] = []

    def counted(rng: random.Random) -> list[dict]:
        calls.append(1)
        return draw(rng)

    replayed(random.Random("c"), 1, counted)
    replayed(random.Random("c"), 2, counted)
    replayed(random.Random("d"), 1, counted)
    assert len(calls) == 3


def test_a_pack_reset_gives_the_world_it_started_with() -> None:
    server = build_server(ServerConfig(apis=["chutes", "openai_usage"], seed=4, clock_start=1_763_683_200))
    for runtime in server.runtimes.values():
        before = runtime.export()
        positions = {label: g.getstate() for label, g in runtime.state.generators.items()}
        runtime.reset()
        assert runtime.export() == before
        assert {label: g.getstate() for label, g in runtime.state.generators.items()} == positions


def test_the_usage_store_keeps_its_own_cost_events() -> None:
    """The OpenAI seeded history is given to its store shared (the store keeps no usage event); a
    cost event is kept, so the store keeps a copy: changing the caller's dict changes nothing."""
    server = build_server(ServerConfig(apis=["openai_usage"], seed=4, clock_start=1_763_683_200))
    store = server.runtimes["openai_usage"].state
    event = {"kind": "costs", "time": 1_763_600_000, "project_id": "proj_x", "line_item": "x", "amount": 1.5}
    store.add_events([event])
    event["amount"] = 99.0
    assert store.cost_events[-1]["amount"] == 1.5
