"""The allow-list: which differences an entry explains, malformed entries, stale entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockserver.contract.drift import AllowEntry, Difference, DriftError, judge, load_allow_list

LIMIT = Difference("GET /organization/costs", "usage-costs", "parameter",
                   "parameter query.limit: maximum", "180", "none")
LINE_ITEMS = Difference("GET /organization/costs", "usage-costs", "parameter",
                        "parameter query.line_items", "array<string>, optional", "absent")
UNAUTHORIZED = Difference("GET /organization/usage/images", "usage-images", "response",
                          "response 401", "application/json", "absent")
BASE_PATH = Difference("*", None, "server", "server base path", "/v1", "/v2")


def entry(operation: str, where: str, reason: str = "because", number: int = 1) -> AllowEntry:
    return AllowEntry(operation=operation, where=where, reason=reason, number=number)


@pytest.mark.parametrize("operation, where, matches", [
    ("usage-costs", "parameter query.limit: maximum", True),  # operationId, exact location
    ("GET /organization/costs", "parameter query.limit: maximum", True),  # METHOD /path
    ("get /organization/costs", "parameter query.limit: maximum", True),  # method in any case
    ("*", "parameter query.limit: *", True),  # any operation, a glob on the location
    ("usage-*", "parameter query.*: maximum", True),  # globs on both
    ("GET /organization/*", "*", True),
    ("usage-images", "parameter query.limit: maximum", False),  # another operation
    ("POST /organization/costs", "parameter query.limit: maximum", False),  # another method
    ("usage-costs", "parameter query.limit: minimum", False),  # another location
    ("usage-costs", "parameter query.limit", False),  # the glob covers the whole location
])
def test_an_entry_matches_by_operation_and_location(operation: str, where: str, matches: bool) -> None:
    assert entry(operation, where).matches(LIMIT) is matches


def test_a_document_wide_difference_is_matched_by_star_only() -> None:
    assert entry("*", "server base path").matches(BASE_PATH)
    assert not entry("usage-costs", "server base path").matches(BASE_PATH)


def test_judge_separates_allowed_from_unexplained_and_reports_stale_entries() -> None:
    entries = [entry("usage-costs", "parameter query.line_items", "the SDK sends it", 1),
               entry("*", "response 40[01]", "real error answers", 2),
               entry("usage-moderations", "*", "nothing differs there", 3)]
    verdict = judge([LIMIT, LINE_ITEMS, UNAUTHORIZED], entries)
    assert verdict.unexplained == [LIMIT]
    assert [(d, e.reason) for d, e in verdict.allowed] == [
        (LINE_ITEMS, "the SDK sends it"), (UNAUTHORIZED, "real error answers")]
    assert [e.number for e in verdict.stale] == [3]


def test_the_first_matching_entry_gives_the_reason_and_overlapped_entries_are_not_stale() -> None:
    entries = [entry("usage-costs", "*", "costs specifics", 1), entry("*", "*", "everything", 2)]
    verdict = judge([LIMIT, UNAUTHORIZED], entries)
    assert [e.number for _, e in verdict.allowed] == [1, 2]
    assert verdict.stale == []
    assert judge([LIMIT], entries).stale == []  # entry 2 matched too


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allow.yaml"
    path.write_text(text)
    return path


def test_entries_load_from_a_list_or_an_allow_mapping(tmp_path: Path) -> None:
    text = '- {operation: usage-costs, where: "parameter query.limit: *", reason: "  prose\\n bounds "}\n'
    for document in (text, "allow:\n" + "\n".join("  " + line for line in text.splitlines())):
        assert load_allow_list(_write(tmp_path, document)) == [
            AllowEntry("usage-costs", "parameter query.limit: *", "prose bounds", 1)]
    assert load_allow_list(_write(tmp_path, "# nothing allowed yet\n")) == []


@pytest.mark.parametrize("text, message", [
    ('- {operation: "*", where: "*", reason: ok}\n- {operation: "*", where: "*"}\n',
     "entry 2: no reason given"),
    ('- {operation: "*", where: "*", reason: "   "}\n', "entry 1: no reason given"),
    ('- {operation: "*", where: "*", reason: 42}\n', "entry 1: no reason given"),
    ('- {where: "*", reason: ok}\n', "entry 1: no `operation` given"),
    ('- {operation: "*", reason: ok}\n', "entry 1: no `where` given"),
    ('- {operation: "*", where: "*", reason: ok, ours: "1"}\n', "entry 1: unknown keys: ours"),
    ('- just a string\n', "entry 1: not a mapping"),
    ('operation: "*"\n', "must be a list"),
    ('- [unclosed\n', "not YAML"),
])
def test_a_malformed_allow_list_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DriftError, match=re.escape(message)):
        load_allow_list(_write(tmp_path, text))


def test_a_missing_allow_list_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DriftError, match="cannot read the allow-list"):
        load_allow_list(tmp_path / "nope.yaml")
