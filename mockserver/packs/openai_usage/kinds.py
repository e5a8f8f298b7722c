"""The usage kinds the API reports: what each counts, how it can be filtered and grouped.

One row per endpoint. `dimensions` are the result fields that are null unless grouped by;
`counters` are summed per bucket; `filters` maps a query parameter to the dimension it filters.
"""

from __future__ import annotations

from dataclasses import dataclass

_WHO = ("project_id", "user_id", "api_key_id")
_WHO_FILTERS = {"project_ids": "project_id", "user_ids": "user_id", "api_key_ids": "api_key_id"}


@dataclass(frozen=True)
class Kind:
    name: str  # path segment and event kind: /organization/usage/<name>
    operation_id: str
    object: str  # the `object` of its result
    dimensions: tuple[str, ...]
    counters: tuple[str, ...]
    filters: dict[str, str]  # query parameter → dimension

    @property
    def group_fields(self) -> tuple[str, ...]:
        return self.dimensions


def _kind(name: str, operation_id: str, obj: str, dimensions: tuple[str, ...], counters: tuple[str, ...],
          filters: dict[str, str]) -> Kind:
    return Kind(name, operation_id, obj, dimensions, counters, filters)


COMPLETION_COUNTERS = (
    "input_tokens", "output_tokens", "input_cached_tokens", "input_cache_write_tokens",
    "input_uncached_tokens", "input_text_tokens", "output_text_tokens", "input_cached_text_tokens",
    "input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens", "input_image_tokens",
    "input_cached_image_tokens", "output_image_tokens", "num_model_requests",
)

KINDS: dict[str, Kind] = {k.name: k for k in (
    _kind("completions", "usage-completions", "organization.usage.completions.result",
          _WHO + ("model", "batch", "service_tier"), COMPLETION_COUNTERS,
          {**_WHO_FILTERS, "models": "model", "batch": "batch"}),
    _kind("embeddings", "usage-embeddings", "organization.usage.embeddings.result",
          _WHO + ("model",), ("input_tokens", "num_model_requests"), {**_WHO_FILTERS, "models": "model"}),
    _kind("moderations", "usage-moderations", "organization.usage.moderations.result",
          _WHO + ("model",), ("input_tokens", "num_model_requests"), {**_WHO_FILTERS, "models": "model"}),
    _kind("images", "usage-images", "organization.usage.images.result",
          ("source", "size") + _WHO + ("model",), ("images", "num_model_requests"),
          {**_WHO_FILTERS, "models": "model", "sources": "source", "sizes": "size"}),
    _kind("audio_speeches", "usage-audio-speeches", "organization.usage.audio_speeches.result",
          _WHO + ("model",), ("characters", "num_model_requests"), {**_WHO_FILTERS, "models": "model"}),
    _kind("audio_transcriptions", "usage-audio-transcriptions",
          "organization.usage.audio_transcriptions.result",
          _WHO + ("model",), ("seconds", "num_model_requests"), {**_WHO_FILTERS, "models": "model"}),
    _kind("vector_stores", "usage-vector-stores", "organization.usage.vector_stores.result",
          ("project_id",), ("usage_bytes",), {"project_ids": "project_id"}),
    _kind("code_interpreter_sessions", "usage-code-interpreter-sessions",
          "organization.usage.code_interpreter_sessions.result",
          ("project_id",), ("num_sessions",), {"project_ids": "project_id"}),
    _kind("file_search_calls", "usage-file-search-calls", "organization.usage.file_searches.result",
          _WHO + ("vector_store_id",), ("num_requests",),
          {**_WHO_FILTERS, "vector_store_ids": "vector_store_id"}),
    _kind("web_search_calls", "usage-web-search-calls", "organization.usage.web_searches.result",
          _WHO + ("model", "context_level"), ("num_model_requests", "num_requests"),
          {**_WHO_FILTERS, "models": "model", "context_levels": "context_level"}),
)}

# Costs are line items derived from usage (and from cost events added directly).
COSTS = Kind("costs", "usage-costs", "organization.costs.result",
             ("project_id", "api_key_id", "line_item"), ("amount", "quantity"),
             {"project_ids": "project_id", "api_key_ids": "api_key_id", "line_items": "line_item"})

BY_OPERATION: dict[str, Kind] = {k.operation_id: k for k in (*KINDS.values(), COSTS)}
