"""Who is calling: hotkey signatures or API keys, with the real server's rules and 401 texts.

Hotkey auth applies when both `X-Chutes-Hotkey` and `X-Chutes-Signature` are sent; the signed
message is `{hotkey}:{nonce}:{purpose}` for operations the spec marks with
`x-chutes-signature-purpose`, else `{hotkey}:{nonce}:{sha256 hex of the body}` for requests with a
body. Otherwise `Authorization` carries an API key (`cpk_...`), checked against its scopes.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

import sr25519

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError
from mockserver.packs.chutes import ss58

if t.TYPE_CHECKING:
    from mockserver.packs.chutes.store import ChutesStore

NONCE_WINDOW = 600
API_KEY = re.compile(r"^cpk_[a-f0-9]{32}\.[a-f0-9]{32}\.[a-zA-Z0-9]{32}$")
_BODY_METHODS = ("POST", "PUT", "PATCH")


def authenticate(request: Request[ChutesStore]) -> dict | None:
    """The calling user, None for an anonymous caller where the operation allows one."""
    headers = request.headers
    hotkey, signature = headers.get("x-chutes-hotkey"), headers.get("x-chutes-signature")
    optional = request.operation.auth_optional if request.operation is not None else False
    if hotkey and signature:
        return _by_signature(request, hotkey, signature, headers.get("x-chutes-nonce"), optional)
    authorization = headers.get("authorization")
    if authorization and _token(authorization):
        return _by_api_key(request, authorization)
    if optional:
        return None
    raise ApiError(401, "Can't find a user with that api key in our db :(")


def signed_message(request: Request[ChutesStore], hotkey: str, nonce: str) -> str:
    purpose = request.operation.definition.get("x-chutes-signature-purpose") if request.operation else None
    if purpose:
        return f"{hotkey}:{nonce}:{purpose}"
    if request.method in _BODY_METHODS:
        return f"{hotkey}:{nonce}:{hashlib.sha256(request.raw_body).hexdigest()}"
    raise ApiError(401, "Either payload_str or purpose must be provided")


def nonce_is_valid(nonce: str | None, now: float) -> bool:
    """Digits within `NONCE_WINDOW` seconds of now. Nothing remembers nonces: a signed request
    replayed inside the window is accepted, as on the real servers (the CLI itself sends one set
    of signed headers twice)."""
    if not nonce or not nonce.isdigit():
        return False
    if len(nonce.lstrip("0")) > 20:  # past any clock (and int() refuses thousands of digits)
        return False
    try:
        return abs(now - int(nonce)) < NONCE_WINDOW
    except ValueError:  # digits int() does not read, such as superscripts
        return False


def _by_signature(request: Request[ChutesStore], hotkey: str, signature: str, nonce: str | None,
                  optional: bool) -> dict | None:
    if nonce is None or not nonce_is_valid(nonce, request.state.clock.now()):
        raise ApiError(401, "Invalid nonce!")
    message = signed_message(request, hotkey, nonce)
    try:
        signature_bytes = bytes.fromhex(signature)
    except ValueError as error:
        raise ApiError(401, f"Invalid signature: {signature}, with error: {error}") from None
    if not _verifies(hotkey, message, signature_bytes):
        raise ApiError(401, f"Invalid request signature for hotkey {hotkey}. Message: {message}")
    user = request.state.user_by_hotkey(hotkey)
    if user is None and not optional:
        raise ApiError(401, f"Could not find user with hotkey: {hotkey}")
    return user


def _verifies(hotkey: str, message: str, signature: bytes) -> bool:
    try:
        public_key = ss58.decode(hotkey)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    data = message.encode()
    try:
        # Like bittensor's Keypair.verify: signatures made by polkadot.js wrap the message in <Bytes>.
        return (sr25519.verify(signature, data, public_key)
                or sr25519.verify(signature, b"<Bytes>" + data + b"</Bytes>", public_key))
    except (ValueError, TypeError):  # 64 bytes that are no signature at all
        return False


def _token(authorization: str) -> str:
    """The last space-separated word; empty (no credentials at all) for a bare `Bearer `."""
    return authorization.split(" ")[-1]


def invocation_caller(request: Request[ChutesStore], object_id: str | None) -> dict | None:
    """The caller of an invocation (the real server authenticates it with no purpose and without
    requiring a user); None when no credentials were sent or the hotkey belongs to nobody. API keys
    are checked for the `invoke` action on object type `chutes` and the targeted chute."""
    headers = request.headers
    hotkey, signature = headers.get("x-chutes-hotkey"), headers.get("x-chutes-signature")
    if hotkey and signature:
        return _by_signature(request, hotkey, signature, headers.get("x-chutes-nonce"), True)
    authorization = headers.get("authorization")
    if authorization and _token(authorization):
        if object_id is None:
            return _by_api_key(request, authorization)
        return _by_api_key(request, authorization, ("chutes", object_id, "invoke"))
    return None


def _by_api_key(request: Request[ChutesStore], authorization: str, target: tuple[str, str, str] | None = None) -> dict:
    token = _token(authorization)
    if authorization.lower().lstrip().startswith("bearer ") and not token.startswith("cpk_"):
        raise ApiError(401, "Invalid token.")  # a JWT; the mock issues none, so none decodes
    if not API_KEY.match(token):
        raise ApiError(401, "Missing or invalid authorization header(s)")
    store = request.state
    key = store.api_keys.get(token)
    if key is None or key.user_id not in store.users:
        raise ApiError(401, "Invalid token or user not found")
    if target is None:
        object_type, object_id = _scope_target(request.path)
        action = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(request.method, "write")
    else:
        object_type, object_id, action = target
    if not key.allows(object_type, object_id, action):
        raise ApiError(401, "Invalid token or user not found")
    return store.users[key.user_id]


def _scope_target(path: str) -> tuple[str, str]:
    parts = [p for p in path.strip("/").split("/") if p]
    object_type = parts[0] if parts else ""
    return object_type, (parts[1] if len(parts) == 2 else "__list_or_invalid__")
