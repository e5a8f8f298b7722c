"""The request journal stays bounded (entries and bytes), cuts long bodies visibly, and keeps no
credentials."""

from __future__ import annotations

import gc
import tracemalloc
import typing as t

import pytest
from starlette.testclient import TestClient

from mockserver.engine.journal import Journal, JournalLimits, fingerprint, redact_query
from mockserver.engine.pipeline import Settings
from tests.engine.conftest import make_server, tiny_pack

AUTH = {"authorization": "Bearer good"}
MB = 1 << 20


def _record(journal: Journal, body: bytes = b"", **fields: t.Any) -> None:
    entry = dict(time=0.0, pack="p", operation_id=None, method="POST", path="/x", query="", headers={},
                 body=body, content_type="application/octet-stream", status=200, duration_ms=1.0)
    entry.update(fields)
    journal.record(**entry)


def test_the_journal_is_bounded_in_bytes_keeping_the_newest() -> None:
    journal = Journal(JournalLimits(max_entries=10_000, max_bytes=MB, body_bytes=64 * 1024))
    for _ in range(150):
        _record(journal, body=b"x" * MB)
    assert journal.size_bytes <= MB
    kept = journal.find()
    assert 10 <= len(kept) < 20 and kept[-1].id == 150
    assert all(len(entry.body) == 64 * 1024 for entry in kept)


def test_the_journal_is_bounded_in_entries() -> None:
    journal = Journal(JournalLimits(max_entries=5))
    for _ in range(12):
        _record(journal)
    assert [entry.id for entry in journal.find()] == [8, 9, 10, 11, 12]


def test_clearing_gives_the_bytes_back() -> None:
    journal = Journal(JournalLimits(max_bytes=10 * MB))
    _record(journal, body=b"x" * 1000, pack="a")
    _record(journal, body=b"y" * 2000, pack="b")
    journal.clear("a")
    assert [e.pack for e in journal.find()] == ["b"] and 2000 < journal.size_bytes < 3000
    journal.clear()
    assert journal.size_bytes == 0 and len(journal) == 0


def test_long_bodies_are_cut_and_say_so() -> None:
    journal = Journal(JournalLimits(body_bytes=8))
    _record(journal, body=b'{"name": "a long name"}', content_type="application/json",
            response_body=b"0123456789abcdef", response_type="text/plain")
    shown = journal.find()[0].to_json()
    assert shown["body"] == '{"name":' and shown["body_truncated"] is True and shown["body_bytes"] == 23
    assert shown["response_body"] == "01234567" and shown["response_body_bytes"] == 16
    _record(journal, body=b'{"a": 1}', content_type="application/json")
    whole = journal.find()[-1].to_json()
    assert whole["body"] == {"a": 1} and "body_truncated" not in whole


def test_a_cut_inside_a_character_keeps_the_text_before_it() -> None:
    journal = Journal(JournalLimits(body_bytes=4))
    _record(journal, body="abcé".encode(), content_type="text/plain")
    assert journal.find()[0].to_json()["body"] == "abc"


def test_credentials_are_fingerprinted() -> None:
    journal = Journal()
    headers = {"authorization": "Bearer sk-secret", "cookie": "session=abc", "x-api-key": "k-123",
               "x-chutes-signature": "ab" * 64, "x-chutes-hotkey": "5GRaqtRa", "x-chutes-nonce": "1763683200",
               "user-agent": "tests"}
    _record(journal, headers=headers, query="api_key=k-123&limit=2&token=t0k")
    entry = journal.find()[0].to_json()
    shown = entry["headers"]
    assert shown["authorization"] == fingerprint("Bearer sk-secret")
    assert shown["authorization"].startswith("Bearer [redacted sha256:")
    assert "sk-secret" not in str(entry) and "abab" not in str(entry) and "session=abc" not in str(entry)
    assert "k-123" not in str(entry) and "t0k" not in str(entry)
    # what authorises nothing by itself stays, so tests can still check it
    kept = (shown["x-chutes-hotkey"], shown["x-chutes-nonce"], shown["user-agent"])
    assert kept == ("5GRaqtRa", "1763683200", "tests")
    assert "limit=2" in entry["query"]
    assert fingerprint("Bearer sk-secret") != fingerprint("Bearer sk-other")


def test_credential_fields_in_bodies_are_fingerprinted() -> None:
    journal = Journal()
    _record(journal, body=b'{"source": "a/b", "access_token": "hf_s3cret", "nested": {"Token": "t0k"}}',
            content_type="application/json", response_body=b'{"password": "pw", "name": "n"}',
            response_type="application/json")
    shown = journal.find()[0].to_json()
    assert shown["body"]["access_token"] == fingerprint("hf_s3cret") and shown["body"]["source"] == "a/b"
    assert shown["body"]["nested"]["Token"].startswith("[redacted sha256:")
    assert shown["response_body"] == {"password": fingerprint("pw"), "name": "n"}


def test_query_credentials_in_any_spelling() -> None:
    assert "s3cret" not in redact_query("API-Key=s3cret&access_token%3D=x&Signature=s3cret")
    assert redact_query("a=1&b=&c") == "a=1&b=&c"


def test_credentials_can_be_kept_on_request() -> None:
    journal = Journal(JournalLimits(redact=False))
    _record(journal, headers={"authorization": "Bearer sk-secret"}, query="key=abc")
    entry = journal.find()[0]
    assert entry.headers["authorization"] == "Bearer sk-secret" and entry.query == "key=abc"


def test_a_served_request_is_journaled_redacted_with_its_answer() -> None:
    with TestClient(make_server(tiny_pack())) as client:
        client.post("/tiny/items", json={"name": "kept"}, headers=AUTH)
        [entry] = client.get("/__mock__/journal", params={"method": "POST"}).json()["requests"]
    assert entry["headers"]["authorization"] == fingerprint("Bearer good")
    assert entry["body"] == {"name": "kept"} and entry["response_body"]["name"] == "kept"


def test_uploads_leave_at_most_the_journal_cap_behind() -> None:
    """The issue's case: 150 uploads of 1 MB kept +363 MB. Now the journal keeps 64 KB of each."""
    settings = Settings(max_body_bytes=2 * MB, journal=JournalLimits(max_bytes=8 * MB))
    with TestClient(make_server(tiny_pack(), settings=settings)) as client:
        payload = b"\x89PNG" + b"\x00" * (MB - 4)
        client.post("/tiny/uploads/", files={"file": ("a.png", payload, "image/png")})  # warm up
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(150):
                assert client.post("/tiny/uploads/", files={"file": ("a.png", payload, "image/png")}).status_code == 201
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        journal = client.get("/__mock__/journal").json()
    assert grown < 12 * MB, f"{grown / MB:.1f} MB kept after 150 MB of uploads"
    assert 100 < journal["total"] < 151  # 64 KB of each, up to 8 MB: the oldest went
    assert all(entry["body"] == {"bytes": entry["body_bytes"]} and entry["body_truncated"]
               for entry in journal["requests"])


@pytest.mark.parametrize("flag", ["--journal-max-entries", "--max-json-depth"])
def test_limits_refuse_nonsense_on_the_command_line(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mockserver.cli import main

    with pytest.raises(SystemExit):
        main(["serve", flag, "0"])
    assert "not a positive integer" in capsys.readouterr().err


def test_serve_takes_the_limits_from_its_command_line() -> None:
    import json
    import time
    import urllib.error
    import urllib.request

    from live import serve

    def call(base: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, t.Any]:
        request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    args = ("--api", "openai_usage", "--max-json-depth", "4", "--journal-max-entries", "3", "--journal-body-kb", "1")
    with serve(*args) as base:
        # the control plane allows 32 levels more, for state exports of what the APIs accepted
        status, answer = call(base, "PUT", "/__mock__/clock", b'{"now": ' + b"[" * 40 + b"]" * 40 + b"}",
                              {"content-type": "application/json"})
        assert status == 400 and "nested deeper than 36 levels" in answer["error"]["issues"][0]["ctx"]["error"]
        week_ago = int(time.time()) - 7 * 86400
        for _ in range(5):
            status, _ = call(base, "GET", f"/v1/organization/costs?start_time={week_ago}&limit=7&api_key=abc",
                             headers={"authorization": "Bearer sk-admin-mockserver"})
            assert status == 200
        journal = call(base, "GET", "/__mock__/journal")[1]
    assert journal["total"] == 3
    entry = journal["requests"][-1]
    assert entry["headers"]["authorization"].startswith("Bearer [redacted sha256:") and "abc" not in entry["query"]
    assert entry["response_body_truncated"] is True and len(entry["response_body"]) == 1024
