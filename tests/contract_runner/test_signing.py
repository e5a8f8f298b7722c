"""The hotkey signer of `mockserver contract --chutes-hotkey-seed`: what it signs, byte for byte."""

from __future__ import annotations

import hashlib

import pytest
import requests
import sr25519

from mockserver.contract.signing import Hotkey, HotkeyAuth, SeedError, can_sign
from mockserver.packs.chutes import ss58

SEED = "4292ed6f42fbc05ddff938d51a389bb63d4a9d84be747ca8479335021aa42583"  # fixture user alice
ALICE = "5GRaqtRa7wPapCFN8QPQK6nPFYz1KUDmurTzk3ETamwUVVkP"
NOW = 1_750_000_000


def signed(method: str, purpose: str | None, **request: object) -> requests.PreparedRequest:
    prepared = requests.Request(method, "http://127.0.0.1/chutes/", **request).prepare()
    return HotkeyAuth(Hotkey.from_seed(SEED), purpose, clock=lambda: NOW + 0.9)(prepared)


def verifies(prepared: requests.PreparedRequest, message: str) -> bool:
    signature = bytes.fromhex(prepared.headers["X-Chutes-Signature"])
    return sr25519.verify(signature, message.encode(), ss58.decode(ALICE))


def test_the_seed_gives_the_fixture_hotkey() -> None:
    assert Hotkey.from_seed(SEED).ss58 == ALICE
    assert Hotkey.from_seed("0x" + SEED.upper()).ss58 == ALICE


@pytest.mark.parametrize("seed", ["xyz", "00" * 31, ""])
def test_bad_seeds(seed: str) -> None:
    with pytest.raises(SeedError):
        Hotkey.from_seed(seed)


def test_a_body_is_signed_by_the_hash_of_the_bytes_sent() -> None:
    body = b'{"chute_id_or_name": "x",   "user_id_or_name": "b\xc3\xb6b"}'  # odd spacing, UTF-8
    prepared = signed("POST", None, data=body, headers={"Content-Type": "application/json"})
    assert prepared.headers["X-Chutes-Hotkey"] == ALICE and prepared.headers["X-Chutes-Nonce"] == str(NOW)
    assert verifies(prepared, f"{ALICE}:{NOW}:{hashlib.sha256(body).hexdigest()}")
    # A JSON body requests serializes itself: the hash is of requests' bytes, whatever they are.
    prepared = signed("PUT", None, json={"tagline": "ü"})
    assert verifies(prepared, f"{ALICE}:{NOW}:{hashlib.sha256(prepared.body).hexdigest()}")


def test_an_empty_body_is_the_hash_of_nothing() -> None:
    prepared = signed("POST", None)
    assert verifies(prepared, f"{ALICE}:{NOW}:{hashlib.sha256(b'').hexdigest()}")


def test_a_purpose_is_signed_instead_of_the_body() -> None:
    prepared = signed("GET", "chutes")
    assert verifies(prepared, f"{ALICE}:{NOW}:chutes")
    assert not verifies(prepared, f"{ALICE}:{NOW}:{hashlib.sha256(b'').hexdigest()}")


def test_a_read_without_purpose_is_left_unsigned() -> None:
    prepared = signed("GET", None)
    assert "X-Chutes-Signature" not in prepared.headers
    assert not can_sign({}, "GET") and not can_sign({}, "DELETE")
    assert can_sign({"x-chutes-signature-purpose": "chutes"}, "DELETE") and can_sign({}, "PATCH")


def test_a_signed_request_is_not_signed_again() -> None:
    """Schemathesis renders a failure's curl command by preparing the sent request again, with its
    headers (the signature masked); signing there would put a fresh, usable signature in reports."""
    prepared = signed("POST", None, data=b"{}", headers={"X-Chutes-Signature": "[Filtered]"})
    assert prepared.headers["X-Chutes-Signature"] == "[Filtered]" and "X-Chutes-Nonce" not in prepared.headers
