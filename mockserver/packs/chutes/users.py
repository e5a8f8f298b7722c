"""`GET /users/me`: the caller's own account, with balance and permissions as the real server
reports them (a bitmask and the descriptions of the roles it enables)."""

from __future__ import annotations

import hashlib

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes import ss58
from mockserver.packs.chutes.store import ChutesStore

handlers = Handlers()

# The real server's roles: bit, description. Listed in the order it reports them (its attribute
# names sorted), with the mock's permission name for the roles a mock user can have.
ROLES: list[tuple[str, int, str]] = [
    ("affine_admin", 1 << 10, "Affine admin"),
    ("billing_admin", 1 << 6, "Billing admin."),
    ("create_user", 1 << 1, "Create users -- administrator role allowing creation of users."),
    ("delete_user", 1 << 3, "Delete users -- administrator role allowing deletion of users."),
    ("developer", 1 << 0, "Developer -- create images and chutes on the platform."),
    ("free_account", 1 << 4, "Free invocation -- run anything, for free."),
    ("invoice_billing", 1 << 8, "Invoice billing option"),
    ("public_deploy", 1 << 11, "Allow deploying models publicly."),
    ("stake_weight_quota", 1 << 9, "Enable stake weighted quota (signed message with the coldkey)"),
    ("unlimited", 1 << 5, "No rate limits."),
    ("unlimited_dev", 1 << 7, "Unlimited dev activity."),
    ("update_user", 1 << 2, "Update users -- administrator role allowing updates to users."),
]


def permissions_bitmask(user: dict) -> int:
    granted = set(user.get("permissions", []))
    if user.get("free_account"):
        granted.add("free_account")
    return sum(bit for name, bit, _ in ROLES if name in granted)


def coldkey_of(user: dict) -> str:
    """Mock users have no coldkey of their own; each gets a stable made-up SS58 address."""
    return user.get("coldkey") or ss58.encode(hashlib.sha256(f"coldkey:{user['user_id']}".encode()).digest())


@handlers("me_users_me_get")
def me(request: Request[ChutesStore]) -> dict:
    store = request.state
    user = request.principal
    bitmask = permissions_bitmask(user)
    return {"username": user["username"], "user_id": user["user_id"], "logo_id": None,
            "created_at": user["created_at"], "logo": None, "hotkey": user.get("hotkey") or "",
            "coldkey": coldkey_of(user), "payment_address": store.payment_address(user),
            "permissions_bitmask": bitmask, "balance": user["balance"],
            "permissions": [text for _, bit, text in ROLES if bitmask & bit == bit]}
