"""What an invocation costs, who pays it, and the record it leaves.

Prices are the ones a chute advertises (`current_estimated_price`): vllm chutes per million input
and output tokens, diffusion chutes per step, everything else per started second of compute
(`ceil(seconds) × compute multiplier × the price basis / 3600`, the basis being the GPU-hour the
multiplier is relative to). Private chutes follow the older server (S): the owner's own calls are
free; a user the chute is shared with pays, and the owner is credited as much. Free accounts are
never debited, though their usage is recorded at its price, as the real usage tracker does.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from mockserver.packs.chutes.instances import Instance
from mockserver.packs.chutes.render import compute_multiplier, estimated_price
from mockserver.packs.chutes.store import ChutesStore

SYSTEM_USER = "chutes"


@dataclass
class Work:
    """What one invocation did: its cord, its metrics and how long it took on the instance."""

    function: str
    seconds: float
    metrics: dict = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    steps: int = 0


def is_user_private(store: ChutesStore, chute: dict) -> bool:
    """A private chute of a user (not the platform's own), billed to its owner's balance."""
    system = store.user_by_name_or_id(SYSTEM_USER)
    return not chute["public"] and chute["user_id"] != (system or {}).get("user_id")


def multiplier_of(store: ChutesStore, chute: dict) -> float:
    return round(compute_multiplier(chute["node_selector"], store.world["gpus"]) * (chute.get("boost") or 1.0), 6)


def price_of(store: ChutesStore, chute: dict, work: Work) -> float:
    price = estimated_price(chute, store.world)
    template = chute["standard_template"]
    if template == "vllm" and work.metrics:
        per_million = price["per_million_tokens"]
        return (work.input_tokens / 1e6 * per_million["input"]["usd"]
                + work.output_tokens / 1e6 * per_million["output"]["usd"])
    if template == "diffusion":
        return work.steps * price["per_step"]["usd"]
    basis = store.world["gpus"]["a100"]["usd_per_hour"]  # compute_multiplier is relative to an A100-hour
    return math.ceil(work.seconds) * multiplier_of(store, chute) * basis / 3600


def quota_used(store: ChutesStore, user: dict, chute: dict) -> int:
    """Free (within-quota) invocations of this chute by this user so far today (UTC, engine clock)."""
    now = store.clock.now()
    day_start = now - now % 86400
    used = 0
    for invocation in reversed(store.invocations):  # kept in start order: today's are at the end
        if invocation["started_at"] < day_start:
            break
        used += bool(invocation.get("quota_free") and invocation["user_id"] == user["user_id"]
                     and invocation["chute_id"] == chute["chute_id"])
    return used


def new_invocation_id(store: ChutesStore) -> str:
    return str(uuid.UUID(int=store.rng.getrandbits(128), version=4))


def record(store: ChutesStore, invocation_id: str, chute: dict, caller: dict, instance: Instance, work: Work, *,
           free: bool) -> dict:
    """Charge the call and store its invocation row; the caller must hold `store.lock`."""
    amount = 0.0 if free else price_of(store, chute, work)
    credited = 0.0
    if is_user_private(store, chute):
        if caller["user_id"] == chute["user_id"]:
            amount = 0.0
        else:
            credited = amount
    if amount and not caller.get("free_account"):
        caller["balance"] = caller["balance"] - amount
    owner = store.users.get(chute["user_id"])
    if credited and owner is not None and not owner.get("free_account"):
        owner["balance"] = owner["balance"] + credited
    started = store.clock.now()
    row = {
        "invocation_id": invocation_id, "parent_invocation_id": invocation_id, "chute_id": chute["chute_id"],
        "chute_user_id": chute["user_id"], "user_id": caller["user_id"], "function_name": work.function,
        "image_id": chute["image_id"], "image_user_id": store.images[chute["image_id"]]["user_id"],
        "instance_id": instance.instance_id, **_miner_of(instance),
        "started_at": started, "completed_at": started + work.seconds, "error_message": None,
        "compute_multiplier": multiplier_of(store, chute), "bounty": 0, "usd_amount": round(amount, 10),
        "credited_usd": round(credited, 10), "input_tokens": work.input_tokens,
        "output_tokens": work.output_tokens, "steps": work.steps, "metrics": work.metrics, "quota_free": free,
    }
    store.invocations.append(row)  # the clock never goes back between calls, so the list stays in order
    if len(store.invocations) > 1 and store.invocations[-2]["started_at"] > started:
        store.invocations.sort(key=lambda i: i["started_at"])
    chute["invocation_count"] += 1
    store.changed()
    return row


def _miner_of(instance: Instance) -> dict:
    """The miner serving an instance: its own fields when the instance record has them, else a
    miner derived from its id (the same one every time)."""
    seed = uuid.UUID(instance.instance_id).int
    uid = getattr(instance, "miner_uid", None)
    return {"miner_uid": seed % 256 if uid is None else uid,
            "miner_hotkey": getattr(instance, "miner_hotkey", None) or f"5Miner{seed % 16:02d}" + "x" * 40}
