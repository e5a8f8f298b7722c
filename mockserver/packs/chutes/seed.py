"""The world at start and after a reset, built from `fixtures/chutes/` with the seed and clock."""

from __future__ import annotations

import random
import re
import typing as t
import uuid

from mockserver.engine.clock import DAY, day_start, iso
from mockserver.engine.pack import PackContext
from mockserver.engine.seeding import replayed
from mockserver.packs.chutes.invocation_window import between
from mockserver.packs.chutes.render import compute_multiplier, hourly_usd, supported_gpus
from mockserver.packs.chutes.store import ApiKey, ChutesStore, chute_id_for, image_id_for


def _cord(function: str, public_api_path: str | None, *, method: str = "POST", stream: bool = False,
          passthrough: bool = False, path: str | None = None, output_content_type: str | None = None,
          input_schema: dict | None = None, output_schema: dict | None = None) -> dict:
    """A cord as the chutes library describes it at deploy time."""
    return {"method": method, "path": path or f"/{function}", "function": function, "stream": stream,
            "passthrough": passthrough, "public_api_path": public_api_path, "public_api_method": method,
            "input_schema": input_schema or {"type": "object"}, "output_schema": output_schema or {},
            "output_content_type": output_content_type, "minimal_input_schema": input_schema or {"type": "object"}}


# The cords of the library's standard templates (chutes 0.6.9 `chute/template/*.py`), and a plain
# JSON cord for custom chutes.
_CORDS = {
    "vllm": [_cord("chat_stream", "/v1/chat/completions", stream=True, passthrough=True),
             _cord("completion_stream", "/v1/completions", stream=True, passthrough=True),
             _cord("chat", "/v1/chat/completions", passthrough=True),
             _cord("do_tokenize", "/tokenize", passthrough=True),
             _cord("do_detokenize", "/detokenize", passthrough=True),
             _cord("completion", "/v1/completions", passthrough=True),
             _cord("get_models", "/v1/models", method="GET", passthrough=True)],
    "diffusion": [_cord("generate", "/generate", output_content_type="image/jpeg",
                        input_schema={"type": "object", "properties": {"prompt": {"type": "string"}}})],
    "embedding": [_cord("embed", "/v1/embeddings", passthrough=True),
                  _cord("get_models", "/v1/models", method="GET", passthrough=True)],
    None: [_cord("run", "/run", output_content_type="application/json",
                 output_schema={"type": "object", "required": ["result", "score"],
                                "properties": {"result": {"type": "string"},
                                               "score": {"type": "number", "minimum": 0, "maximum": 1}}})],
}


START_UP = 180.0  # seconds the fixture world's instances took to start


def slugify(text: str, max_length: int = 58) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_length].strip("-")


def version_of(image: dict, code: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{image['image_id']}:{image.get('patch_version')}:{code}"))


def new_state(context: PackContext) -> ChutesStore:
    now = context.clock.now()
    store = _state(context, now)
    # Drawn by whole days and kept by day, so on a clock running in real time every reset of a day
    # takes the same draws and keeps what lies in its window. The records are shared, not copied:
    # nothing changes an invocation or a job run in place (see ChutesStore).
    today, first = day_start(now), int(now) - store.world["history_days"] * DAY
    invocations = replayed(context.random("invocations"), _history_inputs(store, today),
                           lambda rng: _history(store, rng, today), shared=True)
    store.invocations = between(invocations, first, now - 120)
    runs = replayed(context.random("jobs"), _job_history_inputs(store, today),
                    lambda rng: _job_history(store, rng, today), shared=True)
    store.jobs = [_as_of(run, now) for run in runs if first <= run["created_at"] < now - 300]
    store.version = 0
    return store


def state_to_load(context: PackContext) -> ChutesStore:
    """A state an import is about to fill: without the invocation and job history, which the
    import replaces and which is most of a fresh state's cost. Their generators are made (an
    import moves every generator on) but not drawn from: nothing draws from them after seeding."""
    store = _state(context, context.clock.now())
    for label in ("invocations", "jobs"):
        context.random(label)
    store.version = 0
    return store


def _state(context: PackContext, now: float) -> ChutesStore:
    """Users, images and chutes (with their instances) as of `now`."""
    world = context.fixture("world.yaml")
    store = ChutesStore(world, context.random("world"), context.clock)
    created = iso(now - 120 * DAY)
    for user in context.fixture("users.yaml")["users"]:
        keys = user.pop("api_keys", [])
        store.users[user["user_id"]] = {**user, "created_at": created}
        for key in keys:
            store.api_keys[key["value"]] = ApiKey(key["value"], user["user_id"], key.get("admin", True),
                                                  key.get("scopes", []))
    by_name = {u["username"]: u for u in store.users.values()}
    for spec in world["images"]:
        _seed_image(store, spec, by_name[spec["owner"]], now - 120 * DAY)
    for index, spec in enumerate(world["chutes"]):
        _seed_chute(store, spec, by_name, now - (90 - index) * DAY)
    return store


def _seed_image(store: ChutesStore, spec: dict, owner: dict, created_at: float) -> None:
    """A fixture image, built long ago (its build took the fixture's `build_minutes`)."""
    fields = {k: v for k, v in spec.items() if k not in ("owner", "build_minutes", "dockerfile", "readme")}
    image = new_image(owner, **fields, readme=spec.get("readme", ""), logo_id=None,
                      dockerfile=spec["dockerfile"], created_at=created_at, queue_seconds=30,
                      build_seconds=60 * spec.get("build_minutes", 10))
    store.images[image["image_id"]] = image


def new_image(owner: dict, *, name: str, tag: str, public: bool, readme: str, logo_id: str | None,
              dockerfile: str, created_at: float, queue_seconds: float, build_seconds: float,
              patch_version: str | None = None, chutes_version: str | None = None) -> dict:
    """An image record: its build is planned on the clock at creation (queued, then built)."""
    started = created_at + queue_seconds
    return {"image_id": image_id_for(owner["username"], name, tag), "user_id": owner["user_id"], "name": name,
            "tag": tag, "readme": readme, "public": public, "logo_id": logo_id, "patch_version": patch_version,
            "chutes_version": chutes_version, "dockerfile": dockerfile, "created_at": created_at,
            "build_started_at": started, "build_completed_at": started + build_seconds}


def _seed_chute(store: ChutesStore, spec: dict, users: dict, created_at: float) -> None:
    owner = users[spec["owner"]]
    image = next(i for i in store.images.values() if f"{i['name']}:{i['tag']}" == spec["image"])
    template = spec.get("template")
    jobs = spec.get("jobs", [])
    code = f"# {spec['name']}\nfrom chutes.chute import Chute\nchute = Chute(username={owner['username']!r}, name={spec['name']!r})\n"
    code += "".join(_job_code(job) for job in jobs)
    node_selector = {"gpu_count": spec["gpu_count"], "min_vram_gb_per_gpu": 16, "include": [spec["gpu"]],
                     "exclude": None, "dynamic": False}
    chute = make_chute(store, owner, image, name=spec["name"], code=code, public=spec["public"],
                       node_selector=node_selector, template=template,
                       cords=[] if jobs else _CORDS[template], jobs=jobs,
                       created_at=created_at, tagline=spec.get("tagline"), revision=spec.get("revision"))
    chute["invocation_count"] = spec["invocation_count"]
    chute["boost"] = spec.get("boost")
    chute["disabled"] = spec.get("disabled", False)
    for gpu, count, active in spec.get("instances", []):
        # Running since shortly after the chute was deployed; the world's traffic keeps it up.
        instance = store.start_instance(chute, created_at=created_at, ready_at=created_at + START_UP if active else None,
                                        gpu=gpu, gpu_count=count, scales_down=False)
        instance.active = instance.verified = active
    for username in spec.get("shared_with", []):
        store.shares[(chute["chute_id"], users[username]["user_id"])] = owner["user_id"]


def _job_code(job: dict) -> str:
    """The decorated function the CLI read a fixture job from (`ssh=True` is what adds port 2202)."""
    ports = [p for p in job["ports"] if p["port"] != 2202]
    ssh = len(ports) != len(job["ports"])
    return (f"\n\n@chute.job(timeout={job['timeout']!r}, upload={job['upload']!r}, ssh={ssh!r}, ports={ports!r})\n"
            f"async def {job['name']}(self, **job_data):\n    ...\n")


def make_chute(store: ChutesStore, owner: dict, image: dict, *, name: str, code: str, public: bool,
               node_selector: dict, template: str | None, cords: list, jobs: list, created_at: float,
               tagline: str | None = "", revision: str | None = None, **extra: t.Any) -> dict:
    """A new chute record, registered in the store, as deploy creates one."""
    chute_id = chute_id_for(owner["username"], name)
    slug = slugify(f"{owner['username']}-{name}")
    if any(c["slug"] == slug for c in store.chutes.values()):
        slug = f"{slug[:52]}-{''.join(store.rng.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(5))}"
    gpus = store.world["gpus"]
    chute = {
        "chute_id": chute_id, "name": name, "tagline": tagline, "readme": extra.get("readme") or "",
        "public": public, "version": version_of(image, code), "tool_description": extra.get("tool_description"),
        "slug": slug, "standard_template": template, "cords": cords, "jobs": jobs,
        "created_at": iso(created_at), "updated_at": iso(created_at), "image_id": image["image_id"],
        "user_id": owner["user_id"], "node_selector": node_selector,
        "supported_gpus": supported_gpus(node_selector, gpus), "invocation_count": 0,
        "logo_id": extra.get("logo_id"), "openrouter": False, "chutes_version": image.get("chutes_version"),
        "revision": revision, "concurrency": extra.get("concurrency"), "boost": None,
        "max_instances": extra.get("max_instances", 1), "scaling_threshold": extra.get("scaling_threshold", 0.75),
        "shutdown_after_seconds": extra.get("shutdown_after_seconds", 300), "preemptible": False,
        "disabled": False, "code": code, "filename": extra.get("filename", "chute.py"),
        "ref_str": extra.get("ref_str", "chute:chute"),
    }
    store.chutes[chute_id] = chute
    return chute


def _history_inputs(store: ChutesStore, today: int) -> tuple:
    """Everything `_history` reads besides its generator."""
    world = store.world
    chutes = [(c["chute_id"], c["user_id"], c["image_id"], store.images[c["image_id"]]["user_id"],
               c["node_selector"], c["standard_template"], c["cords"][0]["function"] if c["cords"] else None,
               [i.instance_id for i in store.instances.for_chute(c["chute_id"])])
              for c in sorted(store.chutes.values(), key=lambda c: c["chute_id"])]
    callers = [(u["user_id"], u["username"]) for u in store.users.values()]
    return today, world["history_days"], world["invocations_per_day"], world["gpus"], chutes, callers


def _job_history_inputs(store: ChutesStore, today: int) -> tuple:
    """Everything `_job_history` reads besides its generator."""
    world = store.world
    chutes = [(c["chute_id"], c["user_id"], c["version"], c["chutes_version"], c["node_selector"], c["jobs"])
              for c in sorted(store.chutes.values(), key=lambda c: c["chute_id"])]
    return today, world["history_days"], world["job_runs_per_day"], world["gpus"], chutes


def _history(store: ChutesStore, rng: random.Random, today: int) -> list[dict]:
    """Completed invocations of the running chutes over the `history_days` whole days before
    `today` and all of `today` (UTC), in start order: the store keeps the last `history_days`
    days' worth before its "now"."""
    world = store.world
    callers = [u for u in store.users.values() if u["username"] != "chutes"]
    invocations = []
    for chute in sorted(store.chutes.values(), key=lambda c: c["chute_id"]):
        instances = store.instances.for_chute(chute["chute_id"])
        if not instances:
            continue
        rate = hourly_usd(chute["node_selector"], world["gpus"]) / 3600
        for day in range(today - world["history_days"] * DAY, today + DAY, DAY):
            for _ in range(rng.randint(*world["invocations_per_day"])):
                started = day + rng.randrange(DAY)
                duration = round(rng.uniform(0.2, 30.0), 3)
                caller = rng.choice(callers)
                instance = rng.choice(instances)
                invocation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                output_tokens = rng.randint(20, 2000) if chute["standard_template"] == "vllm" else 0
                invocations.append({
                    "invocation_id": invocation_id, "parent_invocation_id": invocation_id,
                    "chute_id": chute["chute_id"], "chute_user_id": chute["user_id"],
                    "user_id": caller["user_id"], "function_name": chute["cords"][0]["function"] if chute["cords"] else "run",
                    "image_id": chute["image_id"], "image_user_id": store.images[chute["image_id"]]["user_id"],
                    "instance_id": instance.instance_id, "miner_uid": rng.randint(0, 255),
                    "miner_hotkey": f"5Miner{rng.randint(0, 15):02d}" + "x" * 40,
                    "started_at": started, "completed_at": started + duration,
                    "error_message": "upstream timeout" if rng.random() < 0.02 else None,
                    "compute_multiplier": compute_multiplier(chute["node_selector"], world["gpus"]),
                    "bounty": 0, "usd_amount": round(duration * rate, 8),
                    "input_tokens": rng.randint(50, 4000) if output_tokens else 0, "output_tokens": output_tokens,
                    "steps": rng.randint(4, 50) if chute["standard_template"] == "diffusion" else 0,
                })
    invocations.sort(key=lambda i: i["started_at"])
    return invocations


# Final states of a job run, by weight; `miner_terminated` runs are the ones a miner stopped.
_JOB_OUTCOMES = (("complete", False, 86), ("error", False, 7), ("partial_failure", False, 4), ("error", True, 3))


def _job_history(store: ChutesStore, rng: random.Random, today: int) -> list[dict]:
    """Runs of the chutes' jobs over the same days as `_history`, each on a miner's instance that
    is gone once it ended, as they end (`_as_of` shows one still going). A stream of its own keeps
    the invocation history what it was."""
    world = store.world
    runs = []
    for chute in sorted(store.chutes.values(), key=lambda c: c["chute_id"]):
        if not chute["jobs"]:
            continue
        for day in range(today - world["history_days"] * DAY, today + DAY, DAY):
            for _ in range(rng.randint(*world["job_runs_per_day"])):
                runs.append(_job_run(store, chute, rng, day + rng.randrange(DAY)))
    runs.sort(key=lambda j: j["started_at"])
    return runs


def _as_of(run: dict, now: float) -> dict:
    """A drawn run as it stands at `now`: one that ends later is still running."""
    if run["finished_at"] < now:
        return run
    return {**run, "status": "running", "miner_terminated": False, "finished_at": None,
            "updated_at": run["started_at"]}


def _job_run(store: ChutesStore, chute: dict, rng: t.Any, created: float) -> dict:
    job = rng.choice(chute["jobs"])
    started = created + round(rng.uniform(5.0, 240.0), 3)  # waiting for a miner to take it
    duration = round(rng.uniform(300.0, job["timeout"] or 4 * 3600.0), 3)
    status, terminated, _ = rng.choices(_JOB_OUTCOMES, weights=[w for *_, w in _JOB_OUTCOMES])[0]
    finished = started + duration
    miner = rng.randint(0, 15)
    return {
        "job_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "user_id": chute["user_id"],
        "chute_id": chute["chute_id"], "version": chute["version"], "chutes_version": chute["chutes_version"],
        "method": job["name"], "miner_uid": rng.randint(0, 255), "miner_hotkey": f"5Miner{miner:02d}" + "x" * 40,
        "miner_coldkey": f"5Cold{miner:02d}" + "x" * 41,
        "instance_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "created_at": created, "updated_at": finished,
        "started_at": started, "finished_at": finished, "status": status,
        "compute_multiplier": compute_multiplier(chute["node_selector"], store.world["gpus"]),
        "miner_terminated": terminated,
    }
