"""The seeded usage history: plausible events for every kind, from `fixtures/openai_usage/history.yaml`.

Only the seed, the fixtures and the clock decide what is generated, so `--seed` and a frozen clock
give the same organization every time.
"""

from __future__ import annotations

import random
import typing as t

from mockserver.engine.clock import DAY, day_start


def generate(profile: dict, organization: dict, rng: random.Random, now: float) -> list[dict]:
    """Every event of the profile's days up to the end of `now`'s day (UTC), later hours included:
    the store holds `until(events, now)`. The draws do not depend on the time of day, so one day's
    history serves every reset of that day (the pack keeps it: a clock running in real time gives
    every reset another "now")."""
    today = day_start(now)
    first_day = today - (profile["days"] - 1) * DAY
    keys = organization["api_keys"]
    events: list[dict] = []
    for kind, spec in profile["kinds"].items():
        make = _MAKERS[kind]
        for day in range(first_day, today + DAY, DAY):
            for _ in range(rng.randint(*spec["per_day"])):
                time = day + rng.randrange(DAY)
                key = rng.choice(keys)
                who = {"project_id": key["project"], "user_id": key["user"], "api_key_id": key["id"]}
                events.append({"kind": kind, "time": time, **make(spec, who, organization, rng)})
    return events


def until(events: list[dict], now: float) -> list[dict]:
    """The events before `now`: no usage from the future."""
    end = int(now)
    return [event for event in events if event["time"] < end]


def _between(rng: random.Random, bounds: t.Sequence[float]) -> int:
    return rng.randint(int(bounds[0]), int(bounds[1]))


def _completions(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    requests = _between(rng, spec["requests"])
    input_tokens = requests * _between(rng, spec["input_tokens_per_request"])
    output_tokens = requests * _between(rng, spec["output_tokens_per_request"])
    cached = int(input_tokens * rng.uniform(*spec["cached_share"]))
    audio_in = int(input_tokens * 0.3) if rng.random() < spec["audio_share"] else 0
    image_in = int(input_tokens * 0.2) if rng.random() < spec["image_share"] else 0
    audio_out = int(output_tokens * 0.3) if audio_in else 0
    cached_audio = min(cached, audio_in // 4)
    cached_image = min(cached - cached_audio, image_in // 4)
    return {
        **who, "model": rng.choice(spec["models"]), "batch": rng.random() < spec["batch_share"],
        "service_tier": rng.choice(spec["service_tiers"]),
        "input_tokens": input_tokens, "output_tokens": output_tokens,
        "input_cached_tokens": cached, "input_cache_write_tokens": int(cached * 0.1),
        "input_uncached_tokens": input_tokens - cached,
        "input_text_tokens": input_tokens - audio_in - image_in,
        "output_text_tokens": output_tokens - audio_out,
        "input_cached_text_tokens": cached - cached_audio - cached_image,
        "input_audio_tokens": audio_in, "input_cached_audio_tokens": cached_audio,
        "output_audio_tokens": audio_out, "input_image_tokens": image_in,
        "input_cached_image_tokens": cached_image, "output_image_tokens": 0,
        "num_model_requests": requests,
    }


def _tokens(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    requests = _between(rng, spec["requests"])
    return {**who, "model": rng.choice(spec["models"]), "num_model_requests": requests,
            "input_tokens": requests * _between(rng, spec["input_tokens_per_request"])}


def _images(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    model = rng.choice(sorted(spec["models"]))
    requests = _between(rng, spec["requests"])
    return {**who, "model": model, "size": rng.choice(spec["models"][model]),
            "source": rng.choice(spec["sources"]), "num_model_requests": requests,
            "images": requests * _between(rng, spec["images_per_request"])}


def _per_request(counter: str, bounds_key: str) -> t.Callable[[dict, dict, dict, random.Random], dict]:
    def make(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
        requests = _between(rng, spec["requests"])
        return {**who, "model": rng.choice(spec["models"]), "num_model_requests": requests,
                counter: requests * _between(rng, spec[bounds_key])}
    return make


def _vector_stores(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    return {"project_id": who["project_id"], "usage_bytes": _between(rng, spec["usage_bytes"])}


def _code_interpreter(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    return {"project_id": who["project_id"], "num_sessions": _between(rng, spec["sessions"])}


def _file_search(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    return {**who, "vector_store_id": rng.choice(org["vector_stores"]),
            "num_requests": _between(rng, spec["requests"])}


def _web_search(spec: dict, who: dict, org: dict, rng: random.Random) -> dict:
    requests = _between(rng, spec["requests"])
    return {**who, "model": rng.choice(spec["models"]), "context_level": rng.choice(spec["context_levels"]),
            "num_requests": requests, "num_model_requests": requests}


_MAKERS = {
    "completions": _completions, "embeddings": _tokens, "moderations": _tokens, "images": _images,
    "audio_speeches": _per_request("characters", "characters_per_request"),
    "audio_transcriptions": _per_request("seconds", "seconds_per_request"),
    "vector_stores": _vector_stores, "code_interpreter_sessions": _code_interpreter,
    "file_search_calls": _file_search, "web_search_calls": _web_search,
}
