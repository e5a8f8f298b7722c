"""Pydantic v2's lax conversions for JSON bodies (`engine.lax`), and the body decoder using them
only for dialects that ask (FastAPI) and only after strict validation failed."""

from __future__ import annotations

import typing as t

import pytest

from mockserver.engine.bodies import BodyDecoder, BodyUnreadable
from mockserver.engine.issues import RequestInvalid
from mockserver.engine.lax import lax_value

SCHEMAS = {
    "Level": {"enum": [0, 10, 20, 30]},
    "Changes": {"type": "object", "additionalProperties": False,
                "properties": {"flag": {"type": "boolean", "nullable": True}, "count": {"type": "integer"},
                               "ratio": {"type": "number"}, "name": {"type": "string"},
                               "tags": {"type": "array", "items": {"type": "integer"}},
                               "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                               "level": {"$ref": "#/components/schemas/Level"}}},
}


@pytest.mark.parametrize(("value", "schema", "expected"), [
    ("30", {"type": "integer"}, 30), (" -7 ", {"type": "integer"}, -7), (30.0, {"type": "integer"}, 30),
    ("30", {"$ref": "#/components/schemas/Level"}, 30),
    ("2.5", {"type": "number"}, 2.5), ("1e3", {"type": "number"}, 1000.0),
    (0, {"type": "boolean"}, False), (1, {"type": "boolean"}, True), ("Yes", {"type": "boolean"}, True),
    ("off", {"type": "boolean"}, False), ("f", {"type": "boolean"}, False),
])
def test_pydantic_lax_conversions(value: t.Any, schema: dict, expected: t.Any) -> None:
    converted = lax_value(value, schema, SCHEMAS)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(("value", "schema"), [
    ("3.5", {"type": "integer"}), (30.5, {"type": "integer"}), ("nan", {"type": "number"}),
    (2, {"type": "boolean"}), ("maybe", {"type": "boolean"}), (42, {"type": "string"}),
    ("abc", {"$ref": "#/components/schemas/Level"}),
])
def test_what_pydantic_refuses_is_left_as_it_is(value: t.Any, schema: dict) -> None:
    assert lax_value(value, schema, SCHEMAS) is value


def test_nested_values_convert_and_the_input_is_not_changed() -> None:
    body = {"flag": "1", "count": "3", "tags": ["1", 2], "name": "5", "either": "7", "extra": "9"}
    converted = lax_value(body, {"$ref": "#/components/schemas/Changes"}, SCHEMAS)
    # A union member of the value's own type wins (pydantic's smart mode): "7" stays text.
    assert converted == {"flag": True, "count": 3, "tags": [1, 2], "name": "5", "either": "7", "extra": "9"}
    assert body["flag"] == "1" and body["tags"] == ["1", 2]


def _decoder() -> BodyDecoder:
    return BodyDecoder({"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Changes"}}}}, SCHEMAS)


def test_the_decoder_converts_only_when_asked() -> None:
    raw = b'{"flag": 0, "level": "20"}'
    assert _decoder().decode(raw, "application/json", lax=True) == {"flag": False, "level": 20}
    with pytest.raises(RequestInvalid) as refused:
        _decoder().decode(raw, "application/json")
    assert {issue.loc for issue in refused.value.issues} == {("body", "flag"), ("body", "level")}


def test_a_body_still_invalid_after_conversion_reports_what_was_sent() -> None:
    with pytest.raises(RequestInvalid) as refused:
        _decoder().decode(b'{"flag": "1", "count": "many"}', "application/json", lax=True)
    assert [(issue.loc, issue.input) for issue in refused.value.issues] == [(("body", "count"), "many")]


def test_bytes_that_are_not_text_are_unreadable_not_invalid() -> None:
    with pytest.raises(BodyUnreadable):
        _decoder().decode(b'{"name": "\xff"}', "application/json")
