"""A store's state as rows: what the state database keeps, one row per record.

A store describes its state with `Store.durable_records()`: the export's shape, with live objects
instead of copies. Each top-level entry is a *section*:

- `Rows(mapping)`: one row per entry, rebuilt as the list of its values (how exports list
  records); `Rows(mapping, as_dict=True)` rebuilds the mapping itself (with str keys);
- a list: one row per `LIST_CHUNK` elements, rebuilt as a list;
- anything else: one row, rebuilt as itself.

A row's value is JSON, or `bytes`, which the database keeps as a file (see `statefile.py`). Rows
keep their order, so dicts come back in insertion order.

`capture()` runs under the store's lock and only serializes (each record on its own, so one
record that cannot be serialized is skipped without stopping the others); comparing with what is
on disk and writing happens later in the writer thread.
"""

from __future__ import annotations

import json
import logging
import typing as t
from dataclasses import dataclass, field

import orjson

log = logging.getLogger("mockserver.state")

ONE, LIST, ROWS, DICT = "one", "list", "rows", "dict"
JSON, BLOB = "j", "b"
LIST_CHUNK = 256  # a list is kept as rows of this many elements: appending rewrites the last one


@dataclass(frozen=True)
class Rows:
    """A mapping kept as one row per entry."""

    mapping: t.Mapping[t.Any, t.Any]
    as_dict: bool = False


@dataclass
class Row:
    key: str
    kind: str  # JSON or BLOB
    payload: bytes  # JSON text, or the blob's bytes


@dataclass
class SectionCapture:
    kind: str  # ONE, LIST, ROWS, DICT
    rows: list[Row]
    unstorable: list[str] = field(default_factory=list)  # keys left as they were on disk
    # Partial: only the rows named (in `rows`, or gone: `removed`) changed; the others stay.
    partial: bool = False
    removed: list[str] = field(default_factory=list)


def capture(records: t.Mapping[str, t.Any]) -> dict[str, SectionCapture]:
    """Serialize a store's `durable_records()`; call it under the store's lock."""
    sections: dict[str, SectionCapture] = {}
    for name, value in records.items():
        if isinstance(value, Rows):
            kind = DICT if value.as_dict else ROWS
            # list(...) of a dict's items is one step for the interpreter: a thread that writes
            # without the lock cannot change the dict halfway through it.
            items = [(str(key), record) for key, record in list(value.mapping.items())]
        elif isinstance(value, list):
            kind = LIST
            elements = list(value)
            items = [(f"{start // LIST_CHUNK:010d}", elements[start:start + LIST_CHUNK])
                     for start in range(0, len(elements), LIST_CHUNK)]
        else:
            kind, items = ONE, [("", value)]
        section = SectionCapture(kind, [])
        for key, record in items:
            row = _row(name, key, record) if kind != LIST else _chunk_row(name, key, record)
            if row is None:
                section.unstorable.append(key)
            else:
                section.rows.append(row)
        sections[name] = section
    return sections


def capture_touched(records: t.Mapping[str, t.Any], touched: t.Iterable[tuple[str, t.Any]]) -> dict[str, SectionCapture]:
    """Serialize only the named records (section, key) of `durable_records()`; a section named
    with `EVERY`, or one not keyed by record (a list, a single value), is captured whole."""
    keys: dict[str, list[t.Any]] = {}
    for section, key in touched:
        keys.setdefault(section, []).append(key)
    sections: dict[str, SectionCapture] = {}
    for name, names in keys.items():
        value = records.get(name)
        if not isinstance(value, Rows) or any(key is EVERY for key in names):
            sections.update(capture({name: value}) if name in records else {})
            continue
        captured = SectionCapture(DICT if value.as_dict else ROWS, [], partial=True)
        for key in dict.fromkeys(names):
            record = value.mapping.get(key, _GONE)
            if record is _GONE:
                captured.removed.append(str(key))
                continue
            row = _row(name, str(key), record)
            if row is None:
                captured.unstorable.append(str(key))
            else:
                captured.rows.append(row)
        sections[name] = captured
    return sections


_GONE = object()
EVERY = object()  # as a key in `Store.changed`: every record of the section may have changed


def _row(section: str, key: str, record: t.Any) -> Row | None:
    if isinstance(record, (bytes, bytearray, memoryview)):
        return Row(key, BLOB, record if isinstance(record, bytes) else bytes(record))
    try:
        return Row(key, JSON, orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS))
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        # orjson stops at 254 levels of nesting; the standard library goes as deep as the
        # interpreter's recursion limit.
        return Row(key, JSON, json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
    except (RecursionError, TypeError, ValueError) as error:
        log.error("state: %s/%s cannot be saved (%s: %s); it keeps its last saved value",
                  section, key or "-", type(error).__name__, error)
        return None


def _chunk_row(section: str, key: str, elements: list[t.Any]) -> Row:
    """A list's chunk; an element that cannot be saved is left out (and logged), not the chunk."""
    row = _row(section, key, elements)
    if row is not None:
        return row
    kept = [element for element in elements if _row(section, key, element) is not None]
    return t.cast(Row, _row(section, key, kept))


def parse(payload: bytes) -> t.Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)  # nested deeper than orjson reads


def rebuild(kind: str, rows: t.Iterable[tuple[str, t.Any]]) -> t.Any:
    """A section's value from its rows (key, value) in order."""
    if kind == ONE:
        return next((value for _, value in rows), None)
    if kind == DICT:
        return {key: value for key, value in rows}
    if kind == LIST:
        return [element for _, chunk in rows for element in chunk]
    return [value for _, value in rows]
