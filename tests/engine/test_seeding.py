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
