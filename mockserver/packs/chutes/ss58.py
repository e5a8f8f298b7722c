"""SS58 addresses (Substrate's hotkey format): base58 of prefix + public key + blake2b checksum."""

from __future__ import annotations

import hashlib

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_PREFIX = b"SS58PRE"
GENERIC_SUBSTRATE = 42
_MAX_LENGTH = 64  # 35 bytes (prefix, key, checksum) are 48 base58 digits at most


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(_PREFIX + payload, digest_size=64).digest()[:2]


def encode(public_key: bytes, network: int = GENERIC_SUBSTRATE) -> str:
    payload = bytes([network]) + public_key
    number = int.from_bytes(payload + _checksum(payload), "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _ALPHABET[digit] + text
    return text


def decode(address: str) -> bytes:
    """The 32-byte public key of a single-byte-prefix address; ValueError if it is not one."""
    if len(address) > _MAX_LENGTH:  # refused before decoding: base58 of megabytes is quadratic work
        raise ValueError("too long for an SS58 address")
    number = 0
    for char in address:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _INDEX[char]
    raw = number.to_bytes(35, "big") if number.bit_length() <= 280 else b""
    if len(raw) != 35 or raw[0] >= 64:
        raise ValueError("not an SS58 address with a 32-byte public key")
    payload, checksum = raw[:33], raw[33:]
    if _checksum(payload) != checksum:
        raise ValueError("SS58 checksum mismatch")
    return payload[1:]
