"""The request journal: what clients sent and what they got, for tests to verify (as WireMock's).

Bounded, so no sequence of requests makes it grow without end: it keeps at most `max_entries`
entries and `max_bytes` bytes (bodies, headers, path and query of the entries kept; the oldest go
first), and keeps at most `body_bytes` of each request and response body (an entry says when it
cut one, and how long the body was). Credentials never enter it: the values of `Authorization`,
cookies, API-key headers and signing signatures, and of API-key-like query parameters, are
replaced by a fingerprint (`[redacted sha256:…]`) that tells two credentials apart without
revealing either; so are credential-named JSON string fields (`token`, `access_token`, `password`,
...) in the bodies kept, when an entry is shown.

Every request a client sends to the mocked APIs is recorded, also those no spec operation matched
(`unmatched`): a path under a pack's prefix it has no operation for, what a pack's catch-all route
answers without finding anything to serve (Chutes: a chute and cord to invoke), and
paths no pack serves at all (`pack` is then null), which are what a user looks for first when a
client "gets 404 from the mock". Control-plane calls, CORS preflights, socket.io traffic and the
pages describing the APIs (`/docs`, `/openapi.json`) are not client traffic and are not recorded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import re
import threading
import typing as t
from collections import deque
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus

import orjson

from mockserver.engine.jsonlimits import DEFAULT_MAX_DEPTH, too_deep_at

# Headers whose values are credentials. `x-chutes-signature` with its nonce can be replayed inside
# the Chutes nonce window; the hotkey (an SS58 public address) and the nonce alone authorise
# nothing, and tests check them, so they stay.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token",
    "x-chutes-signature", "openai-organization-key",
})
# Query parameters carrying credentials (compared lower-case, `-` read as `_`).
SECRET_QUERY_PARAMETERS = frozenset({
    "api_key", "apikey", "key", "token", "access_token", "auth", "authorization", "password",
    "secret", "signature", "sig", "client_secret",
})
# JSON string fields carrying credentials in bodies (InvokeAI's `access_token` for model sources,
# its Hugging Face login `token`), wherever they appear.
_SECRET_FIELD = re.compile(
    rb'("(?:token|access_token|api_key|apikey|secret|secret_key|client_secret|password|hotkey_seed)"\s*:\s*")'
    rb'((?:[^"\\]|\\.)+)(")', re.IGNORECASE)
# What a client may see instead of whole text: the scheme word of an Authorization value stays.
_SCHEMES = ("bearer ", "basic ", "token ", "digest ")
_ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its strings and bodies (object, dict, deque slot)


@dataclass(frozen=True, slots=True)
class JournalLimits:
    """How much the journal keeps (settable with `mockserver serve --journal-*`)."""

    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    body_bytes: int = 64 * 1024  # of each request and response body
    redact: bool = True  # False keeps credentials in clear (a private, throw-away setup only)


@dataclass(slots=True)
class Entry:
    id: int
    time: float
    pack: str | None  # None: no pack serves the path
    operation_id: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    content_type: str
    status: int
    duration_ms: float
    body_size: int = 0  # of the body as sent, when `body` is cut short
    response_body: bytes = b""
    response_type: str = ""
    response_size: int = 0
    redact: bool = True  # credential fields in the bodies are fingerprinted when shown
    unmatched: bool = False  # no spec operation matched (unknown path or method, a catch-all answered)

    def to_json(self) -> dict[str, t.Any]:
        body, response_body = self.body, self.response_body
        if self.redact:  # here, not when recording: the scan costs ~0.3 ms for a 40 KB JSON answer
            body, response_body = redact_body(body), redact_body(response_body)
        out = {
            "id": self.id, "time": self.time, "pack": self.pack, "operation_id": self.operation_id,
            "method": self.method, "path": self.path, "query": self.query,
            "headers": self.headers, "body": _body_view(body, self.content_type, self.body_size),
            "status": self.status, "duration_ms": round(self.duration_ms, 3), "unmatched": self.unmatched,
            "response_body": _body_view(response_body, self.response_type, self.response_size),
        }
        if self.body_size > len(self.body):
            out.update(body_truncated=True, body_bytes=self.body_size)
        if self.response_size > len(self.response_body):
            out.update(response_body_truncated=True, response_body_bytes=self.response_size)
        return out

    def cost(self) -> int:
        """Bytes this entry holds, roughly: what `max_bytes` counts."""
        headers = sum(len(name) + len(value) for name, value in self.headers.items())
        return (_ENTRY_OVERHEAD + len(self.body) + len(self.response_body) + headers + len(self.path)
                + len(self.query) + len(self.content_type) + len(self.response_type))


def _body_view(body: bytes, content_type: str, size: int) -> t.Any:
    """JSON bodies as JSON, text as text, anything else described by its size; a body cut short
    as the text kept (the client's JSON no longer parses)."""
    if not body:
        return None
    whole = size <= len(body)
    # JSON too deep to be accepted is shown as text: parsed, it could not be written out again.
    if whole and "json" in content_type and too_deep_at(body, DEFAULT_MAX_DEPTH) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        if not whole and error.start >= len(body) - 3:  # the cut fell inside a character
            return body[:error.start].decode("utf-8", "replace")
        return {"bytes": max(size, len(body))}


def fingerprint(value: str) -> str:
    """What the journal shows instead of a credential: equal credentials look equal."""
    scheme = next((value[:len(s)] for s in _SCHEMES if value[:len(s)].lower() == s), "")
    digest = hashlib.sha256(value[len(scheme):].encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{scheme}[redacted sha256:{digest}]"


def redact_headers(headers: t.Mapping[str, str]) -> dict[str, str]:
    return {name: fingerprint(value) if name in SECRET_HEADERS and value else value
            for name, value in headers.items()}


def redact_body(body: bytes) -> bytes:
    """`body` with the values of credential-named JSON string fields fingerprinted."""
    if b'"' not in body:
        return body
    return _SECRET_FIELD.sub(lambda m: m.group(1) + fingerprint(m.group(2).decode("utf-8", "replace")).encode()
                             + m.group(3), body)


def redact_query(query: str) -> str:
    """The query string with credential-like parameters' values fingerprinted (others as sent)."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        name = unquote_plus(key).lower().replace("-", "_").removesuffix("[]")
        if sep and value and name in SECRET_QUERY_PARAMETERS:
            value = quote_plus(fingerprint(unquote_plus(value)), safe="[]:")
        pairs.append(f"{key}{sep}{value}")
    return "&".join(pairs)


class Journal:
    def __init__(self, limits: JournalLimits | None = None) -> None:
        self.limits = limits or JournalLimits()
        self._entries: deque[Entry] = deque()
        self._bytes = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.enabled = True
        self.dropped = 0  # entries the bounds pushed out since the journal was last cleared whole

    def record(self, *, headers: t.Mapping[str, str], query: str, body: bytes,
               response_body: bytes = b"", body_size: int | None = None, response_size: int | None = None,
               **fields: t.Any) -> None:
        """Keep one exchange; the sizes are the bodies' whole lengths when a caller passes bodies
        it already cut."""
        if not self.enabled:
            return
        limits = self.limits
        if limits.redact:
            headers, query = redact_headers(headers), redact_query(query)
        entry = Entry(id=0, headers=dict(headers), query=query, body=body[:limits.body_bytes],
                      body_size=max(len(body), body_size or 0),
                      response_body=response_body[:limits.body_bytes],
                      response_size=max(len(response_body), response_size or 0), redact=limits.redact, **fields)
        cost = entry.cost()
        with self._lock:
            entry.id = next(self._ids)
            self._entries.append(entry)
            self._bytes += cost
            self._evict()

    def _evict(self) -> None:
        """Drop the oldest entries past either bound (the newest is always kept)."""
        limits = self.limits
        while len(self._entries) > 1 and (len(self._entries) > limits.max_entries or self._bytes > limits.max_bytes):
            self._bytes -= self._entries.popleft().cost()
            self.dropped += 1

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, pack: str | None = None) -> int:
        with self._lock:
            before = len(self._entries)
            kept = [] if pack is None else [e for e in self._entries if e.pack != pack]
            self._entries = deque(kept)
            self._bytes = sum(entry.cost() for entry in kept)
            if pack is None:
                self.dropped = 0
            return before - len(self._entries)

    def find(self, *, pack: str | None = None, method: str | None = None, path: str | None = None,
             status: int | None = None, operation_id: str | None = None, since_id: int | None = None,
             unmatched: bool | None = None, limit: int | None = None) -> list[Entry]:
        """Matching entries, oldest first; `path` may be a glob (`/v1/organization/*`);
        `limit` keeps the newest."""
        with self._lock:
            entries = list(self._entries)
        method = method.upper() if method else None
        found = [
            e for e in entries
            if (pack is None or e.pack == pack) and (method is None or e.method == method)
            and (status is None or e.status == status)
            and (operation_id is None or e.operation_id == operation_id)
            and (unmatched is None or e.unmatched == unmatched)
            and (since_id is None or e.id > since_id)
            and (path is None or e.path == path or fnmatch.fnmatchcase(e.path, path))
        ]
        return found[-limit:] if limit else found
