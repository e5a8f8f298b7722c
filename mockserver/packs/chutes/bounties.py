"""The `/bounties` operations: live bounties, and a billing admin raising one."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.store import BOUNTY_TTL, ChutesStore

handlers = Handlers()
NOTIFY_WINDOW = 30


@handlers("get_bounty_list_bounties__get")
def list_bounties(request: Request[ChutesStore]) -> list:
    store = request.state
    now = store.clock.now()
    rows = []
    for chute_id, bounty in sorted(store.live_bounties().items(), key=lambda item: item[1]["created_at"]):
        elapsed = int(now - bounty["created_at"])
        rows.append({"chute_id": chute_id, "bounty_amount": min(3 * elapsed + 100, 86400),
                     "seconds_elapsed": elapsed, "time_remaining": max(0, BOUNTY_TTL - elapsed),
                     "created_at": bounty["created_at"]})
    return rows


@handlers("increase_chute_bounty_bounties__chute_id__increase_get")
def increase_bounty(request: Request[ChutesStore]) -> dict:
    store = request.state
    if "billing_admin" not in request.principal.get("permissions", []):
        raise ApiError(403, "Only billing admins may perform this action")
    chute_id = request.params["chute_id"]
    if chute_id not in store.chutes:
        raise ApiError(404, "Chute not found")
    now = store.clock.now()
    with store.lock:
        existed = chute_id in store.live_bounties()
        bounty = store.bounties[chute_id] if existed else {"created_at": now, "last_notified": None}
        store.bounties[chute_id] = bounty
        # Miners are notified at most once per aligned 30-second window, as upstream's SETNX does.
        window = int(now - now % NOTIFY_WINDOW)
        notify = bounty["last_notified"] != window
        if notify:
            bounty["last_notified"] = window
        boost = request.params.get("boost")
        if boost is not None and 1.0 <= boost <= 4.0:
            # The real server means to record this but references an undefined session (a 500).
            store.manual_boosts[chute_id] = boost
        store.changed()
    return {"bounty_created": not existed, "bounty_existed": existed, "notification_sent": notify,
            "amount": store.bounty_amount(chute_id)}
