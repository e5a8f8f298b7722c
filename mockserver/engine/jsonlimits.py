"""Bounds on JSON a client sends: nesting depth and integer length.

Depth. A value nested deeper than the encoders can write breaks every later answer and state save
that contains it (orjson refuses past 254 levels, the standard encoder past the recursion limit),
and one nested deeper than the recursion limit cannot even be read. So request JSON is refused past
`DEFAULT_MAX_DEPTH` levels, before it is parsed. 128 leaves room under orjson's 254 for the levels
the mock wraps around a stored value (a workflow inside its record, inside its pack, inside the
state export or the journal: about ten) with margin, and is well above anything a real client
sends (InvokeAI's UI workflows and graphs nest fewer than 20 levels). Pydantic's own JSON parser
stops at 200 for the same reason.

Integers. CPython refuses to convert between text and `int` past 4,300 digits (a ValueError from
`int()`, `json.loads`, `str()`); pydantic refuses integer strings past 4,300 significant digits
with `int_parsing_size`. `int_text` reads integer text the way pydantic does, without ever calling
`int()` on more digits than that.
"""

from __future__ import annotations

import functools
import json
import re
import typing as t

if t.TYPE_CHECKING:
    import numpy as np

DEFAULT_MAX_DEPTH = 128
MAX_INT_DIGITS = 4300  # CPython's default int/str conversion limit, and pydantic's bound

_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # `\"` and `\\` must not read as quotes or escapes
_CHUNK = 1 << 20  # bytes scanned at once: bounds the scan's memory whatever the body's size
_QUOTE, _OPEN_FOLDED, _CLOSE_FOLDED = 0x22, 0x7B, 0x7D  # `"`; `[`/`{` and `]`/`}` with bit 0x20 set


@functools.cache
def _steps() -> "np.ndarray":
    """Each byte's change of depth: +1 for `[` and `{`, -1 for `]` and `}`."""
    import numpy as np

    table = np.zeros(256, np.int8)
    table[[ord("["), ord("{")]] = 1
    table[[ord("]"), ord("}")]] = -1
    return table


class JsonTooDeep(ValueError):
    """JSON nested deeper than the limit; `position` is the offset of the first bracket too deep."""

    def __init__(self, position: int, limit: int) -> None:
        super().__init__(f"recursion limit exceeded: JSON nested deeper than {limit} levels")
        self.position = position
        self.limit = limit


def loads(data: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> t.Any:
    """`json.loads` that refuses nesting past `max_depth` (JsonTooDeep, a ValueError) before it
    parses anything. Other failures are json.loads's: JSONDecodeError, UnicodeDecodeError, and a
    plain ValueError for an integer of more than 4,300 digits."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    position = too_deep_at(raw, max_depth)
    if position is not None:
        raise JsonTooDeep(position, max_depth)
    try:
        return json.loads(data)
    except RecursionError:  # a limit set above what the interpreter's stack allows
        raise JsonTooDeep(0, max_depth) from None


def too_deep_at(raw: bytes, limit: int) -> int | None:
    """The offset in `raw` of the first `[` or `{` that opens level `limit + 1`, or None.

    Vectorised, so it costs about what parsing does (a 120 KB graph: ~0.4 ms): only quotes and
    brackets are looked at, a bracket counts when an even number of quotes precede it (escapes are
    blanked first, keeping offsets), and the depth is their running sum."""
    if len(raw) <= limit or raw.count(b"[") + raw.count(b"{") <= limit:
        return None  # cannot nest deeper than it has openers: the common case
    if b"\\" in raw:
        raw = _ESCAPE.sub(b"__", raw)
    import numpy as np  # here, not at import: only bodies with more openers than the limit get here

    depth, in_string = 0, 0
    for start in range(0, len(raw), _CHUNK):
        chunk = np.frombuffer(raw, np.uint8, count=min(_CHUNK, len(raw) - start), offset=start)
        found, depth, in_string = _scan(chunk, limit, depth, in_string)
        if found is not None:
            return start + found
    return None


def _scan(chunk: np.ndarray, limit: int, depth: int, in_string: int) -> tuple[int | None, int, int]:
    """(offset of the first bracket past `limit` or None, depth and in-string state at the end)."""
    import numpy as np

    folded = chunk | 0x20
    offsets = np.flatnonzero((folded == _OPEN_FOLDED) | (folded == _CLOSE_FOLDED) | (chunk == _QUOTE))
    if not offsets.size:
        return None, depth, in_string
    kinds = chunk[offsets]
    quotes = np.cumsum(kinds == _QUOTE, dtype=np.int64) + in_string
    steps = np.where(quotes % 2 == 0, _steps()[kinds], 0)
    depths = np.cumsum(steps, dtype=np.int64) + depth
    over = np.flatnonzero(depths > limit)
    if over.size:
        return int(offsets[over[0]]), depth, in_string
    return None, int(depths[-1]), int(quotes[-1] % 2)


_INT_TEXT = re.compile(r"^\s*([+-]?)(\d+)\s*$")  # no `0*` before `\d+`: that pair backtracks quadratically


class IntTooLong(ValueError):
    """Integer text of more significant digits than pydantic (and CPython) read."""


def int_text(text: str) -> int:
    """Integer text as pydantic's lax mode reads it (surrounding blanks and leading zeros allowed).
    ValueError when it is no integer; IntTooLong past 4,300 significant digits."""
    found = _INT_TEXT.match(text)
    if found is None:
        raise ValueError(f"not an integer: {text[:40]!r}")
    sign, digits = found.groups()
    digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise IntTooLong(f"integer of {len(digits)} digits, more than {MAX_INT_DIGITS}")
    return int(sign + digits)


def is_oversized_int_text(value: t.Any) -> bool:
    """Text of an integer too long to read (pydantic's `int_parsing_size`)."""
    if not isinstance(value, str) or len(value) <= MAX_INT_DIGITS:
        return False
    found = _INT_TEXT.match(value)
    return found is not None and len(found.group(2).lstrip("0")) > MAX_INT_DIGITS
