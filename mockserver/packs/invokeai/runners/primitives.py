"""Primitives, collections, math and strings: the nodes that need nothing but their inputs, with
the real results (the same arithmetic, rounding, splitting and errors as InvokeAI 6.8's nodes)."""

from __future__ import annotations

import math
import re
import typing as t

import numpy as np

from mockserver.engine.jsonlimits import MAX_INT_DIGITS
from mockserver.packs.invokeai.runners.context import (
    NodeFailed,
    RunContext,
    Runner,
    latents_info,
)

NOT_EXECUTABLE = "This class should never be executed or instantiated directly."
# The real server computes whatever a graph asks and fails later: on a result it cannot write
# (CPython's 4,300-digit int/str limit), or never (a range of 10**4000 items). The mock fails the
# node at once with the error the real one ends in, so no graph can stall the server or store a
# value that breaks every later answer and state save.
INT_TOO_LONG = ("Exceeds the limit (4300 digits) for integer string conversion; "
                "use sys.set_int_max_str_digits() to increase the limit")
_INT_LIMIT = 10 ** MAX_INT_DIGITS
_INT_LIMIT_BITS = _INT_LIMIT.bit_length()
MAX_COLLECTION = 100_000  # items a collection node makes (a million ints is ~40 MB held per result)


def _value(output_type: str, convert: t.Callable[[t.Any], t.Any]) -> Runner:
    return lambda ctx, node: {"value": convert(node["value"]), "type": output_type}


def _collection(output_type: str) -> Runner:
    return lambda ctx, node: {"collection": list(node.get("collection") or []), "type": output_type}


def _not_executable(ctx: RunContext, node: dict) -> dict:
    """Batch and generator nodes: the UI turns them into batch data before it enqueues; run
    anyway, the real node refuses."""
    raise NodeFailed("NotExecutableNodeError", NOT_EXECUTABLE, "invocations/batch.py")


def _latents(ctx: RunContext, node: dict) -> dict:
    latents = node.get("latents") or {}
    found = latents_info(ctx, latents)
    return {"latents": {"latents_name": latents["latents_name"], "seed": None}, "width": found["width"],
            "height": found["height"], "type": "latents_output"}


def _bounding_box(ctx: RunContext, node: dict) -> dict:
    box = {key: int(node[key]) for key in ("x_min", "x_max", "y_min", "y_max")}
    return {"bounding_box": {**box, "score": None}, "type": "bounding_box_output"}


def _collect(ctx: RunContext, node: dict) -> dict:
    """The collection the executor gathered from every incoming item (the real node just copies it)."""
    return {"collection": list(node.get("collection") or []), "type": "collect_output"}


def _iterate(ctx: RunContext, node: dict) -> dict:
    collection = node.get("collection") or []
    index = int(node.get("index", 0))
    if not 0 <= index < len(collection):
        raise NodeFailed("IndexError", "list index out of range", "services/shared/graph.py")
    return {"item": collection[index], "index": index, "total": len(collection), "type": "iterate_output"}


# -- collections ---------------------------------------------------------------------------------

def _int_collection(values: t.Iterable[t.Any]) -> dict:
    return {"collection": [int(v) for v in values], "type": "integer_collection_output"}


def _bounded(count: int) -> None:
    """Refuse to build a collection past MAX_COLLECTION items (the real node runs out of memory)."""
    if count > MAX_COLLECTION:
        raise NodeFailed("MemoryError", f"a collection of {count} items; the mock makes at most {MAX_COLLECTION}",
                         "invocations/collections.py")


def _bounded_range(start: int, stop: int, step: int) -> range:
    _bounded(max(0, -((start - stop) // step)))  # len(range) overflows past sys.maxsize items
    return range(start, stop, step)


def _range(ctx: RunContext, node: dict) -> dict:
    if node["step"] == 0:
        raise NodeFailed("ValueError", "range() arg 3 must not be zero", "invocations/collections.py")
    return _int_collection(_bounded_range(node["start"], node["stop"], node["step"]))


def _range_of_size(ctx: RunContext, node: dict) -> dict:
    if node["step"] == 0:
        raise NodeFailed("ValueError", "range() arg 3 must not be zero", "invocations/collections.py")
    return _int_collection(_bounded_range(node["start"], node["start"] + node["step"] * node["size"], node["step"]))


def _random_range(ctx: RunContext, node: dict) -> dict:
    """numpy's seeded generator, as the real node uses it: the same seed gives the same numbers."""
    if node["low"] >= node["high"]:
        raise NodeFailed("ValueError", "high <= low", "invocations/collections.py")
    if node["size"] < 0:
        raise NodeFailed("ValueError", "negative dimensions are not allowed", "invocations/collections.py")
    _bounded(node["size"])
    rng = np.random.default_rng(node["seed"])
    return _int_collection(rng.integers(low=node["low"], high=node["high"], size=node["size"]))


def _float_range(ctx: RunContext, node: dict) -> dict:
    _bounded(node["steps"])
    values = np.linspace(node["start"], node["stop"], node["steps"])
    return {"collection": [float(v) for v in values], "type": "float_collection_output"}


# -- math ----------------------------------------------------------------------------------------

def _int(value: t.Any) -> dict:
    value = int(value)
    if value.bit_length() >= _INT_LIMIT_BITS and abs(value) >= _INT_LIMIT:
        raise NodeFailed("ValueError", INT_TOO_LONG, "invocations/math.py")
    return {"value": value, "type": "integer_output"}


def _power(a: int, b: int) -> int:
    """`a ** b`, refused before it is computed when the result would be past the digit limit."""
    if b > 0 and b * (abs(a).bit_length() - 1) > _INT_LIMIT_BITS:  # at least that many bits
        raise NodeFailed("ValueError", INT_TOO_LONG, "invocations/math.py")
    return a**b


def _float(value: t.Any) -> dict:
    return {"value": float(value), "type": "float_output"}


def _math(op: t.Callable[[int, int], t.Any]) -> Runner:
    return lambda ctx, node: _int(op(node["a"], node["b"]))


def _divide(ctx: RunContext, node: dict) -> dict:
    if node["b"] == 0:
        raise NodeFailed("ZeroDivisionError", "division by zero", "invocations/math.py")
    return _int(int(node["a"] / node["b"]))


def _rand_int(ctx: RunContext, node: dict) -> dict:
    if node["low"] >= node["high"]:
        raise NodeFailed("ValueError", "low >= high", "invocations/math.py")
    return _int(ctx.rng.randrange(node["low"], node["high"]))


def _rand_float(ctx: RunContext, node: dict) -> dict:
    return _float(round(ctx.rng.uniform(node["low"], node["high"]), node["decimals"]))


INTEGER_OPS: dict[str, t.Callable[[int, int], int]] = {
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "DIV": lambda a, b: int(a / b), "EXP": _power, "MOD": lambda a, b: a % b,
    "ABS": lambda a, b: abs(a), "MIN": min, "MAX": max,
}
FLOAT_OPS: dict[str, t.Callable[[float, float], float]] = {
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "DIV": lambda a, b: a / b, "EXP": lambda a, b: a**b, "ABS": lambda a, b: abs(a),
    "SQRT": lambda a, b: float(np.sqrt(a)), "MIN": min, "MAX": max,
}


def _integer_math(ctx: RunContext, node: dict) -> dict:
    """(Its validator's refusals, b = 0 for DIV/MOD and b < 0 for EXP, are checked before it runs.)"""
    return _int(INTEGER_OPS[node["operation"]](node["a"], node["b"]))


def _float_math(ctx: RunContext, node: dict) -> dict:
    return _float(FLOAT_OPS[node["operation"]](float(node["a"]), float(node["b"])))


def _round_float(ctx: RunContext, node: dict) -> dict:
    return _float(round(float(node["value"]), int(node["decimals"])))


def _float_to_int(ctx: RunContext, node: dict) -> dict:
    value, multiple, method = float(node["value"]), int(node["multiple"]), node["method"]
    rounders: dict[str, t.Callable[[float], int]] = {"Nearest": round, "Floor": math.floor, "Ceiling": math.ceil,
                                                     "Truncate": int}
    return _int(rounders[method](value / multiple) * multiple)


# -- strings -------------------------------------------------------------------------------------

def _string(value: str) -> dict:
    return {"value": value, "type": "string_output"}


def _string_split(ctx: RunContext, node: dict) -> dict:
    parts = str(node["string"]).split(node["delimiter"], 1) if node["delimiter"] else None
    if parts is None:
        raise NodeFailed("ValueError", "empty separator", "invocations/strings.py")
    first, second = (parts + [""])[:2]
    return {"string_1": first, "string_2": second, "type": "string_2_output"}


def _string_split_neg(ctx: RunContext, node: dict) -> dict:
    """Text in [brackets] goes to the negative prompt; each bracket leaves a space, as the real node does."""
    positive, negative, depth, escaped = "", "", 0, False
    for char in node.get("string") or "":
        if char == "[" and not escaped:
            negative += " "
            depth += 1
        elif char == "]" and not escaped:
            depth -= 1
            char = " "
        elif depth > 0:
            negative += char
        else:
            positive += char
        escaped = char == "\\" and not escaped
    return {"positive_string": positive, "negative_string": negative, "type": "string_pos_neg_output"}


def _string_replace(ctx: RunContext, node: dict) -> dict:
    pattern, text = node.get("search_string") or "", node.get("string") or ""
    if pattern:
        if not node.get("use_regex"):
            pattern = "(?i)" + re.escape(pattern)
        try:
            text = re.sub(pattern, node.get("replace_string") or "", text)
        except re.error as error:
            raise NodeFailed("error", str(error), "invocations/strings.py") from None
    return _string(text)


def _join(*keys: str) -> Runner:
    return lambda ctx, node: _string("".join(node.get(key) or "" for key in keys))


RUNNERS: dict[str, Runner] = {
    "integer": _value("integer_output", int),
    "float": _value("float_output", float),
    "string": _value("string_output", str),
    "boolean": _value("boolean_output", bool),
    "color": lambda ctx, node: {"color": dict(node["color"]), "type": "color_output"},
    "latents": _latents,
    "conditioning": lambda ctx, node: {"conditioning": node["conditioning"], "type": "conditioning_output"},
    "bounding_box": _bounding_box,
    "integer_collection": _collection("integer_collection_output"),
    "float_collection": _collection("float_collection_output"),
    "string_collection": _collection("string_collection_output"),
    "boolean_collection": _collection("boolean_collection_output"),
    "image_collection": _collection("image_collection_output"),
    "latents_collection": _collection("latents_collection_output"),
    "conditioning_collection": _collection("conditioning_collection_output"),
    **{name: _not_executable for name in ("integer_batch", "float_batch", "string_batch", "image_batch",
                                          "integer_generator", "float_generator", "string_generator",
                                          "image_generator")},
    "collect": _collect,
    "iterate": _iterate,
    "range": _range,
    "range_of_size": _range_of_size,
    "random_range": _random_range,
    "float_range": _float_range,
    "add": _math(lambda a, b: a + b),
    "sub": _math(lambda a, b: a - b),
    "mul": _math(lambda a, b: a * b),
    "div": _divide,
    "rand_int": _rand_int,
    "rand_float": _rand_float,
    "integer_math": _integer_math,
    "float_math": _float_math,
    "round_float": _round_float,
    "float_to_int": _float_to_int,
    "string_join": _join("string_left", "string_right"),
    "string_join_three": _join("string_left", "string_middle", "string_right"),
    "string_split": _string_split,
    "string_split_neg": _string_split_neg,
    "string_replace": _string_replace,
}
