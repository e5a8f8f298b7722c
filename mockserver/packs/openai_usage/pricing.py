"""What usage costs: the line items one kind of usage incurs, from `fixtures/openai_usage/prices.yaml`.

A line item's quantity is a sum of counters (completions' uncached input is input minus cached
tokens), so the cost of any set of events of one combo is the price applied to their summed
counters: costs are computed from the usage sums at query time, never stored per event.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LineTerm:
    line_item: str
    quantity: dict[str, int]  # counter -> +1 / -1: the line's quantity is their signed sum
    unit: str
    unit_price: float  # USD per unit


def price_terms(kind: str, fields: dict[str, t.Any], prices: dict) -> list[LineTerm]:
    """The line items of usage of `kind` with these dimensions."""
    table = prices.get(kind, {})
    model: t.Any = fields.get("model")  # None for some kinds: the line item then reads "None"
    if kind == "completions":
        return _completion_terms(model, bool(fields.get("batch")), table, prices)
    if kind in ("embeddings", "moderations"):
        return [LineTerm(str(model), {"input_tokens": 1}, "tokens", (table.get(model) or 0) / 1e6)]
    if kind == "images":
        size = fields.get("size")
        return [LineTerm(f"{model}, {size}", {"images": 1}, "images", (table.get(model) or {}).get(size, 0))]
    if kind == "audio_speeches":
        return [LineTerm(str(model), {"characters": 1}, "characters", (table.get(model) or 0) / 1e6)]
    if kind == "audio_transcriptions":
        return [LineTerm(str(model), {"seconds": 1}, "seconds", (table.get(model) or 0) / 60)]
    if kind == "vector_stores":
        return [LineTerm("vector store storage", {"usage_bytes": 1}, "bytes", table.get("per_gb_day", 0) / 1e9)]
    if kind == "code_interpreter_sessions":
        return [LineTerm("code interpreter sessions", {"num_sessions": 1}, "sessions", table.get("per_session", 0))]
    if kind == "file_search_calls":
        return [LineTerm("file search tool calls", {"num_requests": 1}, "calls", table.get("per_1k_calls", 0) / 1e3)]
    if kind == "web_search_calls":
        level = fields.get("context_level") or "medium"
        return [LineTerm(f"web search tool calls, {level}", {"num_requests": 1}, "calls",
                         (table.get(level) or 0) / 1e3)]
    return []


def _completion_terms(model: t.Any, batch: bool, table: dict, prices: dict) -> list[LineTerm]:
    model_prices = table.get(model) or table.get("default", {})
    suffix = " | batch" if batch else ""
    discount = prices.get("batch_discount", 0.5) if batch else 1.0
    return [
        LineTerm(f"{model}, input{suffix}", {"input_tokens": 1, "input_cached_tokens": -1}, "tokens",
                 model_prices.get("input", 0) / 1e6 * discount),
        LineTerm(f"{model}, cached input{suffix}", {"input_cached_tokens": 1}, "tokens",
                 model_prices.get("cached_input", 0) / 1e6 * discount),
        LineTerm(f"{model}, output{suffix}", {"output_tokens": 1}, "tokens",
                 model_prices.get("output", 0) / 1e6 * discount),
    ]
