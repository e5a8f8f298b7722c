"""The Chutes world: users and their keys, images, chutes, shares, instances, invocations,
reports and bounties. Every list the API answers is derived from these, so a chute deployed
through one call shows up in listings, utilization, GPU history and exports."""

from __future__ import annotations

import math
import random
import re
import typing as t
import uuid
from dataclasses import dataclass, field

from mockserver.engine.clock import parse_instant
from mockserver.engine.copies import deep_copy
from mockserver.engine.pack import Store
from mockserver.engine.records import Rows
from mockserver.packs.chutes.instances import Instance, Instances

MEGA_TARGETS = ("__megallm__", "__megaembed__", "__megadiffuser__")
BOUNTY_TTL = 3600


IMAGE_REF = re.compile(r"^(?:([a-z0-9][a-z0-9_.-]*)/)?([a-z0-9][a-z0-9_.-]*):([a-z0-9][a-z0-9_.-]*)$", re.I)


BOOST_MIN, BOOST_MAX, BOOST_RAMP_SECONDS = 1.1, 1.5, 180 * 60


def bounty_boost(age_seconds: int) -> float:
    """The compute-multiplier boost an instance started for this bounty gets (newer server)."""
    if age_seconds <= 0:
        return BOOST_MIN
    if age_seconds >= BOOST_RAMP_SECONDS:
        return BOOST_MAX
    return BOOST_MIN + age_seconds / BOOST_RAMP_SECONDS * (BOOST_MAX - BOOST_MIN)


def chute_id_for(username: str, name: str) -> str:
    """The real server derives a chute's id from its owner and name."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{name}"))


def image_id_for(username: str, name: str, tag: str) -> str:
    """An image's id from owner, name and tag, lower-cased as a whole: what the CLI's `Image.uid`
    computes, so `chutes build` and `chutes deploy` can ask for an image before it exists."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}/{name}:{tag}".lower()))


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
        self.build_queue_seconds: float = float(world.get("build_queue_seconds", 1))
        self.build_seconds: float = float(world.get("build_seconds", 8))
        self.invocation_quota: int = int(world.get("invocation_quota", 0))
        self.users: dict[str, dict] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.images: dict[str, dict] = {}
        self.image_history: list[dict] = []  # {user_id, image_id, action, at}: the rate limit counts these
        self.logos: dict[str, dict] = {}
        self.chutes: dict[str, dict] = {}
        self.shares: dict[tuple[str, str], str] = {}  # (chute_id, shared_to) → shared_by
        # Invocations and job runs are records of what happened: appended, never changed in place.
        # A reset shares the seeded ones with every other reset of the day (seed.new_state).
        self.invocations: list[dict] = []
        self.jobs: list[dict] = []  # runs of chutes' job() functions, as the `-jobs.csv` exports list them
        self.reports: dict[str, dict] = {}  # parent invocation id → report
        self.bounties: dict[str, dict] = {}  # chute id → {created_at, last_notified}
        self.manual_boosts: dict[str, float] = {}
        self.rolling_updates: list[dict] = []
        self.instances = Instances()
        self._settled_version = -1  # settle() has nothing to do until the version or
        self._next_change = math.inf  # the clock reaches these
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
        """An image the caller may use (public or their own), as the real server looks one up:
        `[owner/]name:tag` (owner by default the caller; owner, name and tag compared exactly),
        anything else is an image id."""
        value = value.lstrip("/")
        match = IMAGE_REF.match(value)
        for image in self.images.values():
            if not (image["public"] or image["user_id"] == user["user_id"]):
                continue
            if match is None:
                if image["image_id"] == value:
                    return image
                continue
            owner, name, tag = match.groups()
            if (self.users[image["user_id"]]["username"] == (owner or user["username"])
                    and image["name"] == name and image["tag"] == tag):
                return image
        return None

    # -- time-derived views ---------------------------------------------------------------------

    def live_bounties(self) -> dict[str, dict]:
        now = self.clock.now()
        return {cid: b for cid, b in self.bounties.items() if now - b["created_at"] < BOUNTY_TTL}

    def bounty_amount(self, chute_id: str) -> int | None:
        info = self.bounty_info(chute_id)
        return None if info is None else info["amount"]

    def bounty_info(self, chute_id: str) -> dict | None:
        """The live bounty as the newer server describes it: amount (grows 3 a second from 100,
        at most 86400), boost (ramps linearly over 180 minutes), age and creation time."""
        bounty = self.live_bounties().get(chute_id)
        if bounty is None:
            return None
        age = int(self.clock.now() - bounty["created_at"])
        return {"amount": min(3 * age + 100, 86400), "boost": bounty_boost(age), "age_seconds": age,
                "created_at": bounty["created_at"]}

    def warm(self, chute: dict) -> None:
        """A warmup request: a cold chute gets a bounty and, `warmup_seconds` later, an instance."""
        self.settle()
        chute_id = chute["chute_id"]
        if self.instances.hot_for(chute_id):
            return
        with self.lock:
            now = self.clock.now()
            self.bounties.setdefault(chute_id, {"created_at": now, "last_notified": None})
            if not self.instances.for_chute(chute_id):
                self.start_instance(chute, ready_at=now + self.warmup_seconds)
            self.changed()
        self.settle()  # with warmup_seconds 0 it is hot at once

    def start_instance(self, chute: dict, *, ready_at: float | None, created_at: float | None = None,
                       gpu: str | None = None, gpu_count: int | None = None, scales_down: bool = True) -> Instance:
        """A new instance of `chute`, inactive until `ready_at` (see `settle`)."""
        instance_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        instance = Instance(
            instance_id=instance_id, chute_id=chute["chute_id"],
            region=self.rng.choice(["us-east", "us-west", "eu-central", "ap-south"]),
            gpu_model_name=gpu or (chute["supported_gpus"] or ["a100"])[0],
            gpu_count=gpu_count or chute["node_selector"].get("gpu_count") or 1,
            created_at=self.clock.now() if created_at is None else created_at, ready_at=ready_at,
            scales_down=scales_down)
        with self.lock:
            self.instances.add(instance)
            self.changed()
        return instance

    def instance_used(self, instance_id: str, when: float | None = None) -> None:
        """An invocation was served by this instance (at `when`, default now): its idle time, and
        so its scale-down, starts over."""
        with self.lock:
            self.instances.touch(instance_id, self.clock.now() if when is None else when)
            self.changed()

    def remove_instances(self, chute_id: str) -> None:
        with self.lock:
            if self.instances.remove_chute(chute_id, self.clock.now()):
                self.changed()

    def settle(self) -> None:
        """Bring the instances up to the engine clock: a finished start-up makes its instance
        active and verified (and its chute's bounty is claimed); an instance of a private chute
        idle for the chute's `shutdown_after_seconds` scales down. Cheap when nothing is due."""
        now = self.clock.now()
        if self._settled_version == self.version and now < self._next_change:
            return
        with self.lock:
            changed = False
            for instance in self.instances:
                if not instance.active and instance.ready_at is not None and instance.ready_at <= now:
                    instance.active = instance.verified = True
                    self.bounties.pop(instance.chute_id, None)
                    changed = True
                ends = self._scale_down_at(instance)
                if ends is not None and ends <= now:
                    self.instances.remove(instance.instance_id, max(ends, instance.created_at))
                    changed = True
            if changed:
                self.changed()
            due = [self._next_event(i) for i in self.instances]
            self._next_change = min((d for d in due if d is not None), default=math.inf)
            self._settled_version = self.version

    def _scale_down_at(self, instance: Instance) -> float | None:
        chute = self.chutes.get(instance.chute_id)
        if chute is None:
            return -math.inf  # its chute is gone
        if not instance.scales_down or not instance.hot or chute["public"]:
            return None
        return instance.idle_since() + (chute["shutdown_after_seconds"] or 300)

    def _next_event(self, instance: Instance) -> float | None:
        if not instance.active and instance.ready_at is not None:
            return instance.ready_at
        return self._scale_down_at(instance)

    def memoized(self, key: tuple, chute: dict, make: t.Callable[[], t.Any]) -> t.Any:
        """`make()` for this chute, kept until the next write. A chute whose answer moves with the
        clock (a live bounty) is kept for this instant only."""
        self.settle()
        if self._views_version != self.version:
            self._views, self._views_version = {}, self.version
        moving = (chute["chute_id"] in self.bounties
                  or self.clock.now() < self.images[chute["image_id"]]["build_completed_at"])
        full_key = (*key, chute["chute_id"], self.clock.now() if moving else None)
        found = self._views.get(full_key)
        if found is None:
            found = self._views[full_key] = make()
        return found

    # -- export / import ----------------------------------------------------------------------

    def export(self) -> dict:
        with self.lock:
            return deep_copy({name: list(value.mapping.values()) if isinstance(value, Rows) else value
                                  for name, value in self.durable_records().items()})

    def durable_records(self) -> dict:
        """The export's shape, live (read under the lock): a row per user, key, image, chute,
        share, invocation and report, so a commit writes only what changed."""
        with self.lock:
            return {
                "users": Rows(self.users),
                "api_keys": Rows({key: vars(k) for key, k in self.api_keys.items()}),
                "images": Rows(self.images), "chutes": Rows(self.chutes),
                "shares": Rows({f"{c} {u}": {"chute_id": c, "shared_to": u, "shared_by": b}
                                for (c, u), b in self.shares.items()}),
                "invocations": self.invocations, "jobs": self.jobs, "reports": Rows(self.reports),
                "bounties": [{"chute_id": c, **b} for c, b in self.bounties.items()],
                "manual_boosts": self.manual_boosts, "rolling_updates": self.rolling_updates,
                "instances": self.instances.export(), "warmup_seconds": self.warmup_seconds,
                "invocation_quota": self.invocation_quota, "image_history": self.image_history,
                "logos": Rows(self.logos), "build_queue_seconds": self.build_queue_seconds,
                "build_seconds": self.build_seconds,
            }

    def load(self, data: dict) -> None:
        data = deep_copy(data)
        with self.lock:
            self.users = {u["user_id"]: u for u in data["users"]}
            self.api_keys = {k["value"]: ApiKey(**k) for k in data["api_keys"]}
            self.images = {i["image_id"]: _as_built(i) for i in data["images"]}
            self.chutes = {c["chute_id"]: c for c in data["chutes"]}
            self.instances = Instances.load(data.get("instances", []))
            for chute in self.chutes.values():
                for row in chute.pop("instances", None) or []:  # exports from before instances were records
                    self.instances.add(_legacy_instance(chute, row, self.clock.now()))
            self.shares = {(s["chute_id"], s["shared_to"]): s["shared_by"] for s in data["shares"]}
            # In start order, as every handler reads them (invocation_window.py); stable for ties.
            self.invocations = sorted(data["invocations"], key=lambda i: i["started_at"])
            self.jobs = list(data.get("jobs", []))
            self.reports = {r["invocation_id"]: r for r in data["reports"]}
            self.bounties = {b.pop("chute_id"): b for b in data["bounties"]}
            self.manual_boosts = dict(data["manual_boosts"])
            self.rolling_updates = list(data["rolling_updates"])
            self.warmup_seconds = float(data.get("warmup_seconds", self.warmup_seconds))
            self.image_history = list(data.get("image_history", []))
            self.logos = {logo["logo_id"]: logo for logo in data.get("logos", [])}
            self.build_queue_seconds = float(data.get("build_queue_seconds", self.build_queue_seconds))
            self.build_seconds = float(data.get("build_seconds", self.build_seconds))
            self.invocation_quota = int(data.get("invocation_quota", self.invocation_quota))
            self.changed()


def _as_built(image: dict) -> dict:
    """An image from a state written before builds were planned on the clock (an ISO
    `created_at`, no build times) was built when it was created."""
    if isinstance(image.get("created_at"), str):
        image["created_at"] = parse_instant(image["created_at"])
    image.setdefault("build_started_at", image["created_at"])
    image.setdefault("build_completed_at", image["created_at"])
    image.setdefault("dockerfile", "FROM parachutes/python:3.12")
    return image


def _legacy_instance(chute: dict, row: dict, now: float) -> Instance:
    ready_at = row.get("ready_at") or (now if row.get("active") else None)
    return Instance(instance_id=row["instance_id"], chute_id=chute["chute_id"], region=row.get("region", "us-east"),
                    gpu_model_name=row.get("gpu_model_name", "a100"), gpu_count=row.get("gpu_count", 1),
                    created_at=now, ready_at=ready_at, active=bool(row.get("active")),
                    verified=bool(row.get("verified")), scales_down=False)
