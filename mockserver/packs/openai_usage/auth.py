"""Admin API keys, checked as OpenAI checks them."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError

if t.TYPE_CHECKING:
    from mockserver.packs.openai_usage.store import UsageStore

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
    "username) if you're accessing the API from your browser and are prompted for a username. You "
    "can obtain an API key from https://platform.openai.com/account/api-keys."
)


def authenticate(request: Request[UsageStore]) -> dict:
    """The admin key record for the bearer token, or a 401 in OpenAI's words."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, MISSING_KEY)
    key = request.state.admin_keys.get(token)
    if key is None:
        raise ApiError(401, f"Incorrect API key provided: {redact(token)}. You can find your API key at "
                            "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    return key


def redact(token: str) -> str:
    """OpenAI shows a key's first and last characters only."""
    if len(token) <= 12:
        return "*" * len(token)
    return token[:8] + "*" * (len(token) - 12) + token[-4:]
