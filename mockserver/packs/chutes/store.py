"""The Chutes world: users and their keys, images, chutes, shares, instances, invocations,
reports and bounties. Every list the API answers is derived from these, so a chute deployed
through one call shows up in listings, utilization, GPU history and exports."""

from __future__ import annotations

import copy
import random
import typing as t
import uuid
from dataclasses import dataclass, field

from mockserver.engine.clock import iso
from mockserver.engine.pack import Store

DAY = 86400
MEGA_TARGETS = ("__megallm__", "__megaembed__", "__megadiffuser__")
BOUNTY_TTL = 3600


def chute_id_for(username: str, name: str) -> str:
    """The real server derives a chute's id from its owner and name."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{name}"))


@dataclass
class ApiKey:
    value: str
    user_id: str
    admin: bool = True
    scopes: list[dict] = field(default_factory=list)

    def allows(self, object_type: str, object_id: str, action: str) -> bool:
        if self.admin:
            return True
        if object_type == "chutes" and object_id in MEGA_TARGETS:
            # llm/embed/image hosts: any key scoped to chutes with this action may use them.
            return any(scope.get("object_type") == "chutes" and scope.get("action") in (None, action)
                       for scope in self.scopes)
        return any(scope.get("object_type") == object_type
                   and scope.get("object_id") in (None, object_id)
                   and scope.get("action") in (None, action) for scope in self.scopes)


class ChutesStore(Store):
    def __init__(self, world: dict, rng: random.Random, clock: t.Any) -> None:
        super().__init__()
        self.world = world
        self.rng = rng
        self.clock = clock
        self.warmup_seconds: float = float(world.get("warmup_seconds", 3))
        self.invocation_quota: int = int(world.get("invocation_quota", 0))
        self.users: dict[str, dict] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.images: dict[str, dict] = {}
        self.chutes: dict[str, dict] = {}
        self.shares: dict[tuple[str, str], str] = {}  # (chute_id, shared_to) → shared_by
        self.invocations: list[dict] = []
        self.jobs: list[dict] = []  # runs of chutes' job() functions, as the `-jobs.csv` exports list them
        self.reports: dict[str, dict] = {}  # parent invocation id → report
        self.bounties: dict[str, dict] = {}  # chute id → {created_at, last_notified}
        self.manual_boosts: dict[str, float] = {}
        self.rolling_updates: list[dict] = []
        self._views: dict[tuple, t.Any] = {}
        self._views_version = -1
        self._slugs: dict[str, str] = {}
        self._slugs_version = -1

    # -- lookups ------------------------------------------------------------------------------

    def user_by_name_or_id(self, value: str) -> dict | None:
        lowered = value.lower()
        return next((u for u in self.users.values()
                     if u["user_id"] == value or u["username"].lower() == lowered), None)

    def user_by_hotkey(self, hotkey: str) -> dict | None:
        return next((u for u in self.users.values() if u.get("hotkey") == hotkey), None)

    def chute_id_by_slug(self, slug: str) -> str | None:
        """Asked on every request with a dotted Host, so the slug index is kept until the next write."""
        if self._slugs_version != self.version:
            self._slugs = {c["slug"]: c["chute_id"] for c in self.chutes.values()}
            self._slugs_version = self.version
        return self._slugs.get(slug)

    def visible(self, chute: dict, user: dict | None) -> bool:
        if chute["public"] or "affine" in chute["name"].lower():
            return True
        return user is not None and (chute["user_id"] == user["user_id"]
                                     or (chute["chute_id"], user["user_id"]) in self.shares)

    def get_one(self, value: str, user: dict | None = None) -> dict | None:
        """By id, else by exact name; the system user's chute first, then the caller's own."""
        if value in self.chutes:
            return self.chutes[value]
        named = [c for c in self.chutes.values() if c["name"] == value]
        if not named:
            return None
        system = self.user_by_name_or_id("chutes")
        caller = user["user_id"] if user else None

        def rank(chute: dict) -> tuple:
            return (chute["user_id"] != (system or {}).get("user_id"), chute["user_id"] != caller,
                    chute["created_at"])
        return min(named, key=rank)

    def payment_address(self, user: dict) -> str:
        """Where a user sends tao; users registered without one share the world's address."""
        return user.get("payment_address") or self.world["payment_address"]

    def image_for(self, value: str, user: dict) -> dict | None:
        """An image the caller may use, by id, `name:tag`, `owner/name:tag` or name."""
        for image in self.images.values():
            owner = self.users[image["user_id"]]["username"]
            names = {image["image_id"], f"{image['name']}:{image['tag']}",
                     f"{owner}/{image['name']}:{image['tag']}", image["name"], f"{owner}/{image['name']}"}
            if value in names and (image["public"] or image["user_id"] == user["user_id"]):
                return image
        return None

    # -- time-derived views ---------------------------------------------------------------------

    def live_bounties(self) -> dict[str, dict]:
        now = self.clock.now()
        return {cid: b for cid, b in self.bounties.items() if now - b["created_at"] < BOUNTY_TTL}

    def bounty_amount(self, chute_id: str) -> int | None:
        bounty = self.live_bounties().get(chute_id)
        if bounty is None:
            return None
        return min(3 * int(self.clock.now() - bounty["created_at"]) + 100, 86400)

    def warm(self, chute: dict) -> None:
        """A warmup request: a cold chute gets a bounty and, `warmup_seconds` later, an instance."""
        if any(i["active"] and i["verified"] for i in chute["instances"]):
            return
        now = self.clock.now()
        with self.lock:
            self.bounties.setdefault(chute["chute_id"], {"created_at": now, "last_notified": None})
            if not chute["instances"]:
                chute["instances"].append(self.new_instance(chute, active=False, ready_at=now + self.warmup_seconds))
            self.changed()

    def settle_instances(self, chute: dict) -> None:
        """Instances whose start-up time has come are now active and verified."""
        now = self.clock.now()
        for instance in chute["instances"]:
            ready_at = instance.get("ready_at")
            if ready_at is not None and ready_at <= now:
                with self.lock:
                    instance.update(active=True, verified=True, last_verified_at=iso(ready_at), ready_at=None)
                    self.bounties.pop(chute["chute_id"], None)
                    self.changed()

    def hot_instances(self, chute: dict) -> list[dict]:
        """The instances an invocation may be routed to now (active and verified). Invoking asks only
        this, so the instance bookkeeping behind it can change without touching the invocation code."""
        self.settle_instances(chute)
        return [i for i in chute["instances"] if i["active"] and i["verified"]]

    def memoized(self, key: tuple, chute: dict, make: t.Callable[[], t.Any]) -> t.Any:
        """`make()` for this chute, kept until the next write. A chute whose answer moves with the
        clock (a live bounty, an instance starting) is kept for this instant only."""
        self.settle_instances(chute)
        if self._views_version != self.version:
            self._views, self._views_version = {}, self.version
        moving = chute["chute_id"] in self.bounties or any(i.get("ready_at") for i in chute["instances"])
        full_key = (*key, chute["chute_id"], self.clock.now() if moving else None)
        found = self._views.get(full_key)
        if found is None:
            found = self._views[full_key] = make()
        return found

    def new_instance(self, chute: dict, *, active: bool, ready_at: float | None = None) -> dict:
        return {"instance_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "region": self.rng.choice(["us-east", "us-west", "eu-central", "ap-south"]),
                "active": active, "verified": active,
                "last_verified_at": iso(self.clock.now()) if active else None,
                "gpu_model_name": (chute["supported_gpus"] or ["a100"])[0],
                "gpu_count": chute["node_selector"].get("gpu_count") or 1,
                "ready_at": ready_at}

    # -- export / import ----------------------------------------------------------------------

    def export(self) -> dict:
        with self.lock:
            return copy.deepcopy({
                "users": list(self.users.values()),
                "api_keys": [vars(k) for k in self.api_keys.values()],
                "images": list(self.images.values()), "chutes": list(self.chutes.values()),
                "shares": [{"chute_id": c, "shared_to": u, "shared_by": b} for (c, u), b in self.shares.items()],
                "invocations": self.invocations, "jobs": self.jobs, "reports": list(self.reports.values()),
                "bounties": [{"chute_id": c, **b} for c, b in self.bounties.items()],
                "manual_boosts": self.manual_boosts, "rolling_updates": self.rolling_updates,
                "warmup_seconds": self.warmup_seconds, "invocation_quota": self.invocation_quota,
            })

    def load(self, data: dict) -> None:
        data = copy.deepcopy(data)
        with self.lock:
            self.users = {u["user_id"]: u for u in data["users"]}
            self.api_keys = {k["value"]: ApiKey(**k) for k in data["api_keys"]}
            self.images = {i["image_id"]: i for i in data["images"]}
            self.chutes = {c["chute_id"]: c for c in data["chutes"]}
            self.shares = {(s["chute_id"], s["shared_to"]): s["shared_by"] for s in data["shares"]}
            self.invocations = list(data["invocations"])
            self.jobs = list(data.get("jobs", []))
            self.reports = {r["invocation_id"]: r for r in data["reports"]}
            self.bounties = {b.pop("chute_id"): b for b in data["bounties"]}
            self.manual_boosts = dict(data["manual_boosts"])
            self.rolling_updates = list(data["rolling_updates"])
            self.warmup_seconds = float(data.get("warmup_seconds", self.warmup_seconds))
            self.invocation_quota = int(data.get("invocation_quota", self.invocation_quota))
            self.changed()
