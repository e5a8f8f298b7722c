"""A large seeded history (`--openai-usage-events N`), drawn in columns rather than event by event.

The same profile as the fixture history (`fixtures/openai_usage/history.yaml`: kinds, models,
ranges of requests and tokens, the organization's API keys), spread over its `days` ending at the
clock's now, each kind getting its share of N by its mean events per day. Only the seed, N, the
fixtures and the clock decide what is drawn.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import numpy as np

from mockserver.engine.clock import DAY, day_start
from mockserver.packs.openai_usage.kinds import KINDS


@dataclass
class KindColumns:
    """One kind's events: times, combos (dimension tuples in the kind's order) and counters."""

    kind: str
    times: np.ndarray
    combos: list[tuple]
    combo_of_event: np.ndarray
    counts: np.ndarray


def generate(total: int, profile: dict, organization: dict, rng: np.random.Generator, now: float) -> list[KindColumns]:
    end = int(now)
    first = day_start(end) - (profile["days"] - 1) * DAY
    kinds = profile["kinds"]
    means = np.array([sum(spec["per_day"]) / 2 for spec in kinds.values()], np.float64)
    shares = np.floor(total * means / means.sum()).astype(np.int64)
    shares[0] += total - shares.sum()  # the first kind (completions) takes what rounding left
    out = []
    for (name, spec), count in zip(kinds.items(), shares.tolist(), strict=True):
        if count <= 0 or name not in _DRAW:
            continue
        keys = organization["api_keys"]
        who = [{"project_id": key["project"], "user_id": key["user"], "api_key_id": key["id"]} for key in keys]
        choices, counters = _DRAW[name](spec, organization, rng, count)
        combos, combo_of_event = _combos(name, [("who", who, _pick(rng, who, count)), *choices])
        kind = KINDS[name]
        counts = np.column_stack([counters.get(c, np.zeros(count, np.int64)) for c in kind.counters])
        out.append(KindColumns(name, rng.integers(first, max(first + 1, end), size=count), combos,
                               combo_of_event, counts))
    return out


# A dimension, its possible values, and each event's value as an index into them. A value that is
# a dict sets several dimensions at once (an API key's project, user and id; an image's model and size).
Choice = tuple[str, t.Sequence[t.Any], np.ndarray]


def _combos(name: str, choices: list[Choice]) -> tuple[list[tuple], np.ndarray]:
    """The distinct dimension tuples the choices make, and each event's."""
    dimensions = KINDS[name].dimensions
    matrix = np.column_stack([index for _, _, index in choices])
    distinct, inverse = np.unique(matrix, axis=0, return_inverse=True)
    combos = []
    for row in distinct.tolist():
        fields: dict[str, t.Any] = {}
        for (dimension, values, _), index in zip(choices, row, strict=True):
            value = values[index]
            fields.update(value if isinstance(value, dict) else {dimension: value})
        combos.append(tuple(fields.get(d) for d in dimensions))
    return combos, inverse.reshape(-1)


def _between(rng: np.random.Generator, bounds: t.Sequence[float], count: int) -> np.ndarray:
    return rng.integers(int(bounds[0]), int(bounds[1]) + 1, size=count)


def _pick(rng: np.random.Generator, options: t.Sequence[t.Any], count: int) -> np.ndarray:
    return rng.integers(len(options), size=count)


def _choice(dimension: str, values: t.Sequence[t.Any], rng: np.random.Generator, count: int) -> Choice:
    return dimension, list(values), _pick(rng, values, count)


def _completions(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
    requests = _between(rng, spec["requests"], count)
    tokens_in = requests * _between(rng, spec["input_tokens_per_request"], count)
    tokens_out = requests * _between(rng, spec["output_tokens_per_request"], count)
    cached = np.floor(tokens_in * rng.uniform(float(spec["cached_share"][0]), float(spec["cached_share"][1]), size=count)).astype(np.int64)
    audio_in = np.where(rng.random(count) < spec["audio_share"], (tokens_in * 3) // 10, 0)
    image_in = np.where(rng.random(count) < spec["image_share"], (tokens_in * 2) // 10, 0)
    audio_out = np.where(audio_in > 0, (tokens_out * 3) // 10, 0)
    cached_audio = np.minimum(cached, audio_in // 4)
    cached_image = np.minimum(cached - cached_audio, image_in // 4)
    models = [_choice("model", spec["models"], rng, count),
              ("batch", [False, True], (rng.random(count) < spec["batch_share"]).astype(np.int64)),
              _choice("service_tier", spec["service_tiers"], rng, count)]
    return models, {
        "input_tokens": tokens_in, "output_tokens": tokens_out, "input_cached_tokens": cached,
        "input_cache_write_tokens": cached // 10, "input_uncached_tokens": tokens_in - cached,
        "input_text_tokens": tokens_in - audio_in - image_in, "output_text_tokens": tokens_out - audio_out,
        "input_cached_text_tokens": cached - cached_audio - cached_image, "input_audio_tokens": audio_in,
        "input_cached_audio_tokens": cached_audio, "output_audio_tokens": audio_out,
        "input_image_tokens": image_in, "input_cached_image_tokens": cached_image, "num_model_requests": requests,
    }


def _per_request(counter: str, bounds_key: str) -> t.Callable[[dict, dict, np.random.Generator, int], tuple[list[Choice], dict]]:
    def draw(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
        requests = _between(rng, spec["requests"], count)
        return [_choice("model", spec["models"], rng, count)], {
            "num_model_requests": requests, counter: requests * _between(rng, spec[bounds_key], count)}
    return draw


def _images(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
    requests = _between(rng, spec["requests"], count)
    pairs = [{"model": model, "size": size} for model in sorted(spec["models"]) for size in spec["models"][model]]
    return [_choice("model_size", pairs, rng, count), _choice("source", spec["sources"], rng, count)], {
        "num_model_requests": requests, "images": requests * _between(rng, spec["images_per_request"], count)}


def _one(counter: str, bounds_key: str) -> t.Callable[[dict, dict, np.random.Generator, int], tuple[list[Choice], dict]]:
    def draw(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
        return [], {counter: _between(rng, spec[bounds_key], count)}
    return draw


def _file_search(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
    return [_choice("vector_store_id", org["vector_stores"], rng, count)], {
        "num_requests": _between(rng, spec["requests"], count)}


def _web_search(spec: dict, org: dict, rng: np.random.Generator, count: int) -> tuple[list[Choice], dict]:
    requests = _between(rng, spec["requests"], count)
    return [_choice("model", spec["models"], rng, count), _choice("context_level", spec["context_levels"], rng, count)], {
        "num_requests": requests, "num_model_requests": requests}


_DRAW: dict[str, t.Callable[[dict, dict, np.random.Generator, int], tuple[list[Choice], dict]]] = {
    "completions": _completions, "embeddings": _per_request("input_tokens", "input_tokens_per_request"),
    "moderations": _per_request("input_tokens", "input_tokens_per_request"), "images": _images,
    "audio_speeches": _per_request("characters", "characters_per_request"),
    "audio_transcriptions": _per_request("seconds", "seconds_per_request"),
    "vector_stores": _one("usage_bytes", "usage_bytes"), "code_interpreter_sessions": _one("num_sessions", "sessions"),
    "file_search_calls": _file_search, "web_search_calls": _web_search,
}
