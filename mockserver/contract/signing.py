"""Chutes hotkey signatures for `mockserver contract --chutes-hotkey-seed HEX`.

Signs exactly as the chutes CLI does (`chutes.util.auth.sign_request`) and as the server verifies
(`specs/chutes.yaml`, `HotkeySignature`):

- nonce: the current Unix time in seconds, taken when the request is sent (the server accepts
  600 s either way);
- message: `"{hotkey}:{nonce}:{purpose}"` on operations with `x-chutes-signature-purpose`, else
  `"{hotkey}:{nonce}:{sha256 hex of the raw body}"` for POST/PUT/PATCH. A GET or DELETE without a
  purpose has nothing to sign: the server answers 401 whatever is sent, so such requests go
  unsigned (the runner skips those operations in hotkey mode);
- headers: `X-Chutes-Hotkey` (SS58 address), `X-Chutes-Nonce`, `X-Chutes-Signature` (hex sr25519).

The signature is computed by a `requests` auth object, which runs on the prepared request: the
body it hashes is the byte string schemathesis actually sends, after serialization, whatever the
media type. Schemathesis attaches it per case through a schema-level auth provider, so its
`ignored_auth` check, which re-sends a case without the case's auth, sends that one unsigned.
"""

from __future__ import annotations

import hashlib
import time
import typing as t
from dataclasses import dataclass

import requests.auth

from mockserver.packs.chutes import ss58

PURPOSE_EXTENSION = "x-chutes-signature-purpose"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class SeedError(ValueError):
    """The seed is not 32 bytes of hex."""


@dataclass(frozen=True)
class Hotkey:
    public: bytes
    private: bytes

    @classmethod
    def from_seed(cls, seed_hex: str) -> Hotkey:
        import sr25519

        text = seed_hex.strip().removeprefix("0x")
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            raise SeedError("--chutes-hotkey-seed: not hex") from None
        if len(seed) != 32:
            raise SeedError(f"--chutes-hotkey-seed: {len(seed)} bytes; a hotkey seed is 32 bytes (64 hex digits)")
        public, private = sr25519.pair_from_seed(seed)
        return cls(public, private)

    @property
    def ss58(self) -> str:
        return ss58.encode(self.public)

    def sign(self, message: str) -> str:
        import sr25519

        return sr25519.sign((self.public, self.private), message.encode()).hex()


def signing_message(hotkey: str, nonce: str, *, method: str, body: bytes | None, purpose: str | None) -> str | None:
    """What the server expects signed for this request, None when nothing can be signed."""
    if purpose:
        return f"{hotkey}:{nonce}:{purpose}"
    if method.upper() in BODY_METHODS:
        return f"{hotkey}:{nonce}:{hashlib.sha256(body or b'').hexdigest()}"
    return None


def can_sign(operation: t.Mapping[str, t.Any], method: str) -> bool:
    """Whether hotkey auth can work for an operation (raw OpenAPI operation object)."""
    return bool(operation.get(PURPOSE_EXTENSION)) or method.upper() in BODY_METHODS


class HotkeyAuth(requests.auth.AuthBase):
    """Signs one prepared request: runs after the body is serialized, so it hashes the real bytes."""

    def __init__(self, hotkey: Hotkey, purpose: str | None, clock: t.Callable[[], float] = time.time) -> None:
        self.hotkey = hotkey
        self.purpose = purpose
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "X-Chutes-Signature" in request.headers:
            # Already signed: schemathesis renders a failure's curl command by preparing the request
            # again, with the headers that were sent (the signature masked unless sanitization is
            # off). A fresh signature there would put a usable credential in the report.
            return request
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):  # a generator/file: not produced by schemathesis
            parts = t.cast(t.Iterable[bytes | str], body)
            body = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in parts)
            request.body = body
        nonce = str(int(self.clock()))
        address = self.hotkey.ss58
        message = signing_message(address, nonce, method=request.method or "GET", body=body, purpose=self.purpose)
        if message is None:
            return request
        request.headers["X-Chutes-Hotkey"] = address
        request.headers["X-Chutes-Nonce"] = nonce
        request.headers["X-Chutes-Signature"] = self.hotkey.sign(message)
        return request


class HotkeyAuthProvider:
    """A schemathesis auth provider: every case of an operation that takes credentials gets a
    `HotkeyAuth` for its operation's purpose (or body hash). Operations with `security: []` get none,
    as from the CLI."""

    def __init__(self, hotkey: Hotkey) -> None:
        self.hotkey = hotkey

    def get(self, case: t.Any, context: t.Any) -> HotkeyAuth | None:
        operation = case.operation.definition.raw
        security = operation.get("security", case.operation.schema.raw_schema.get("security", []))
        if not any(requirement for requirement in security):
            return None
        return HotkeyAuth(self.hotkey, operation.get(PURPOSE_EXTENSION))

    def set(self, case: t.Any, data: HotkeyAuth, context: t.Any) -> None:
        case._auth = data  # the transport hands it to requests as `auth=`
