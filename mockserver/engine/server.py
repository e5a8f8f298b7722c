"""The whole mock: every selected pack on one port, each at its real paths, plus `/__mock__/`.

connexion mounts one API per base path; two APIs at the root (Chutes and InvokeAI both live at
`/`) need a dispatcher in front. Each pack declares the path prefixes it owns, the server refuses
to start when two packs claim overlapping ones, and a request goes to the pack owning the longest
matching prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from mockserver.dashboard.site import ControlSite
from mockserver.engine import cors, hosts, statefile
from mockserver.engine.clock import Clock, iso
from mockserver.engine.control_access import ControlAccess, ControlGate
from mockserver.engine.dialects import DIALECTS
from mockserver.engine.durability import GENERATORS, Durability, restore_generators
from mockserver.engine.faults import Faults
from mockserver.engine.http import BodyTimeout, ClientGone, read_body
from mockserver.engine.issues import ApiError
from mockserver.engine.journal import Journal
from mockserver.engine.journaled import journaled
from mockserver.engine.pack import Pack, PackContext, Store, build_store
from mockserver.engine.pipeline import ApiApp, Settings
from mockserver.engine.spec import LoadedSpec
from mockserver.engine.streams import Receive, Send, Shutdown

if t.TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger("mockserver")

CONTROL_PREFIX = "/__mock__"


class PrefixConflict(Exception):
    """Two selected packs claim the same paths."""


@dataclass
class PackRuntime:
    """A pack as served: its compiled spec, its app and its current state."""

    pack: Pack[t.Any]
    spec: LoadedSpec
    context: PackContext
    state: Store
    app: ApiApp[Store] | None = None
    control_app: ApiApp[Store] | None = None  # the pack's control operations (falls back to the engine's)
    _gzipped: t.Any = None

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def asgi(self) -> t.Any:
        """The app as served: gzip-compressed when the real server compresses its answers."""
        if self.app is None or not self.pack.gzip:
            return self.app
        if self._gzipped is None:
            from starlette.middleware.gzip import GZipMiddleware  # ~45 ms to import; only gzip packs

            # Every non-empty size: the real server compresses even a 4-byte `null` (an empty 204
            # must stay empty).
            # Level 1, not starlette's 9: a client decodes any level to the same bytes, and a 4 MB
            # image-names list compresses in ~50 ms instead of ~350 ms on the event loop (5% larger).
            # ApiApp takes the scope as a dict, starlette types it as a MutableMapping: the same object.
            self._gzipped = GZipMiddleware(t.cast("ASGIApp", self.app), minimum_size=1, compresslevel=1)
        return self._gzipped

    def new_store(self, *, to_load: bool = False) -> Store:
        """A fresh store; `to_load`: one a state import is about to fill."""
        store: Store = build_store(self.pack, self.context, to_load=to_load)  # the pack's own Store subclass
        return store

    def reset(self) -> None:
        self.replace_state(self.new_store())

    def replace_state(self, fresh: Store) -> None:
        """Serve `fresh` from now on; the old state is retired, so whatever still holds it (an
        open event stream) knows its world is gone."""
        old, self.state = self.state, fresh
        old.retire()

    def export(self) -> dict[str, t.Any]:
        with self.state.lock:
            return self.state.export()

    def load(self, data: dict[str, t.Any]) -> None:
        fresh = self.new_store(to_load=True)
        fresh.load(data)
        move_generators_past(fresh, data)
        self.replace_state(fresh)  # swap whole: a failed import leaves the old state untouched


@dataclass
class Services:
    """What every pack's pipeline and the control plane share."""

    clock: Clock
    seed: int
    settings: Settings
    journal: Journal = field(default_factory=Journal)
    faults: Faults = field(default_factory=Faults)
    started_at: float = field(default_factory=time.time)
    shutdown: Shutdown = field(default_factory=Shutdown)  # begun when the server stops


class MockServer:
    def __init__(self, runtimes: list[PackRuntime], services: Services, control: ApiApp[t.Any], *,
                 state_file: Path | None = None, cors: bool = True,
                 pack_options: t.Mapping[str, t.Any] | None = None, access: ControlAccess | None = None) -> None:
        self.runtimes = {r.name: r for r in runtimes}
        self.services = services
        self.control = control
        self.control_gate = ControlGate(access or ControlAccess())
        self.control_site = ControlSite(self, control, CONTROL_PREFIX)  # the dashboard and docs in front
        self.state_file = state_file
        self.cors = cors
        self._routes = _prefix_table(runtimes)
        self._host_claims = [r for r in runtimes if r.pack.claims_host is not None and r.app is not None]
        self.durability = (Durability(statefile.StateDatabase(state_file), self.runtimes, services.clock)
                           if state_file is not None else None)
        self._flusher: asyncio.Task[t.Any] | None = None
        self._background: list[asyncio.Task[t.Any]] = []
        self._companions = {r.name: r.pack.companion(_state_of(r), _options_of(r.pack, pack_options or {}))
                            for r in runtimes if r.pack.companion is not None}
        self._mounts = sorted(((prefix, app) for companion in self._companions.values()
                               for prefix, app in companion.mounts.items()),
                              key=lambda item: len(item[0]), reverse=True)
        # Served alone, a pack answers every path, as its real server would (its own 404s, or its
        # catch-all route); served beside others, paths no pack owns go to the pack whose companion
        # mounts something behind its routes, or get a plain 404.
        self._pages = _description_pages(runtimes)
        behind = self._mount_behind_routes(runtimes)
        self._only_app = runtimes[0].asgi if len(runtimes) == 1 else behind

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            mounted = self._mounted(scope)
            if mounted is not None:
                await mounted(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1000})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        as_sent = scope  # the control plane's checks look at the Host the client really sent
        if self._host_claims:
            scope = hosts.from_path_form(scope) or scope
        mounted = self._mounted(scope) or self._page(scope)
        if mounted is not None:
            await mounted(scope, receive, send)
            return
        app = self._host_app(scope) or self._app_for(scope["path"])
        if self.durability is not None and scope["method"] not in _SAFE_METHODS and (app or self._only_app):
            send = _after_commit(send, self.durability, _dialect_of(app or self._only_app))
        if app is self.control:
            await self.control_gate.serve(self.control_site, scope, receive, send, as_sent=as_sent,
                                          page=self.control_site.is_page(scope))
            return
        if self.cors and cors.is_preflight(scope):
            await cors.preflight(scope).send(send)
            return
        if self.cors and cors.has_origin(scope):
            send = cors.with_cors(send)
        app = app or self._only_app
        if app is None:
            await journaled(self._not_served, scope, receive, send, journal=self.services.journal, pack=None)
        else:
            await app(scope, receive, send)

    async def _not_served(self, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        """The 404 for a path no pack serves, after reading what the client sent (the journal
        shows it: a client posting to a wrong path wants to see its body there)."""
        try:
            await read_body(receive, self.services.settings.max_body_bytes)
        except (ClientGone, BodyTimeout):
            pass
        await DIALECTS["fastapi"].not_found(scope["method"], scope["path"]).send(send)

    def _mount_behind_routes(self, runtimes: list[PackRuntime]) -> t.Any:
        """Give each companion's `catch_all` to its pack's app; the app of the first such pack."""
        first = None
        for runtime in runtimes:
            catch_all = getattr(self._companions.get(runtime.name), "catch_all", None)
            if catch_all is not None and runtime.app is not None:
                runtime.app.mounted_behind = catch_all
                first = first or runtime.asgi
        return first

    def _mounted(self, scope: dict[str, t.Any]) -> t.Any:
        path = scope["path"]
        for prefix, app in self._mounts:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return app
        return None

    def _page(self, scope: dict[str, t.Any]) -> t.Any:
        """A pack's description page (`/openapi.json`, `/docs`, ...): GET and HEAD of the exact
        path; any other method goes on to the pack's routes, as on the real app."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        return self._pages.get(scope["path"])

    def _host_app(self, scope: dict[str, t.Any]) -> t.Any:
        """The app of a pack that claims this request's Host (see `engine/hosts.py`)."""
        if not self._host_claims:
            return None
        label = hosts.first_label(hosts.host_of(scope))
        if label is None:
            return None
        for runtime in self._host_claims:
            claims = runtime.pack.claims_host  # never None in _host_claims
            if claims is not None and claims(label, scope["method"], scope["path"], runtime.state):
                return runtime.asgi
        return None

    def _app_for(self, path: str) -> ApiApp[t.Any] | None:
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control
        for prefix, app in self._routes:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"
                                            or prefix.endswith("/")):
                return app
        return None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.durability is not None:
                    self.durability.start()
                    self._flusher = asyncio.create_task(self.durability.commit_periodically())
                self._start_background()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.begin_shutdown()
                if self._flusher is not None:
                    self._flusher.cancel()
                for task in self._background:
                    task.cancel()
                self._background = []
                if self.durability is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.durability.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def begin_shutdown(self) -> None:
        """End every open event stream. A server must call this when it starts to stop, before
        it waits for open responses: uvicorn sends the lifespan shutdown only after that wait."""
        self.services.shutdown.begin()

    def _start_background(self) -> None:
        for name, companion in self._companions.items():
            task = asyncio.create_task(companion.run(), name=f"{name} companion")
            task.add_done_callback(_log_failure)
            self._background.append(task)

    # -- state --------------------------------------------------------------------------------

    def export_state(self) -> dict[str, t.Any]:
        return {
            "format": statefile.FORMAT,
            "saved_at": iso(time.time()),
            "seed": self.services.seed,
            "clock": self.services.clock.export(),
            "packs": {name: runtime.export() for name, runtime in self.runtimes.items()},
        }

    def import_state(self, data: dict[str, t.Any]) -> None:
        """Load an export. Packs are checked first so a bad file changes nothing."""
        packs = data.get("packs")
        if not isinstance(packs, dict):
            raise ValueError("state has no 'packs' object")
        self._check_served(packs)

        def load(store: Store, pack_state: t.Any) -> None:
            store.load(pack_state)
            move_generators_past(store, pack_state)

        self._swap_in(packs, data.get("clock"), load)

    def _check_served(self, packs: t.Mapping[str, t.Any]) -> None:
        unknown = sorted(set(packs) - set(self.runtimes))
        if unknown:
            raise ValueError(f"state names packs that are not served: {', '.join(unknown)}")

    def _swap_in(self, packs: t.Mapping[str, t.Any], clock: t.Any,
                 load: t.Callable[[Store, t.Any], None]) -> None:
        if clock is not None:
            self.services.clock.parse_export(clock)  # check before anything is swapped in
        staged = {}
        for name, pack_state in packs.items():
            fresh = self.runtimes[name].new_store(to_load=True)
            load(fresh, pack_state)
            staged[name] = fresh
        for name, fresh in staged.items():
            self.runtimes[name].replace_state(fresh)
        if clock is not None:
            self.services.clock.restore(clock)

    def load_state_file(self) -> bool:
        """Serve what `--state-file` holds: its database, or (once) a JSON state file from
        before the database, which is then kept beside it as `PATH.v1.json`."""
        if self.durability is None or self.state_file is None:
            return False
        if self.durability.database.kind() == "json":
            return self._migrate_json_state_file(self.state_file)
        loaded = self.durability.open()
        if loaded is None:
            return False
        served = {name: records for name, records in loaded.packs.items() if name in self.runtimes}

        def load(store: Store, pack_records: dict[str, t.Any]) -> None:
            positions = pack_records.pop(GENERATORS, None)
            store.load_records(pack_records)
            restore_generators(store, positions)

        self._swap_in(served, loaded.clock, load)
        self.durability.mark_saved(served, clock=loaded.clock is not None)
        return True

    def _migrate_json_state_file(self, path: Path) -> bool:
        data = statefile.read_json(path)
        self.import_state(data)
        kept = path.with_name(path.name + ".v1.json")
        path.replace(kept)
        assert self.durability is not None
        self.durability.open()
        self.durability.commit()
        log.warning("state: %s was a JSON state file; it is now a state database (the JSON is kept as %s)",
                    path, kept)
        return True

    def save_state(self) -> bool:
        """Commit whatever changed (in the calling thread); False when nothing had."""
        if self.durability is None:
            return False
        return self.durability.commit()

    # -- description --------------------------------------------------------------------------

    def describe(self) -> list[dict[str, t.Any]]:
        return [{"name": r.name, "prefixes": list(r.pack.prefixes), "dialect": r.pack.dialect,
                 "operations": len(r.spec.operations), "spec": str(r.pack.spec_path)}
                for r in self.runtimes.values()]


def _description_pages(runtimes: list[PackRuntime]) -> dict[str, t.Any]:
    """The description pages of the packs that have them, by path. Where two packs' real servers
    use the same paths, the first selected pack's are served (its spec is the one `/openapi.json`
    describes); a companion's own mounts (InvokeAI's document, which its web UI reads) come first."""
    pages: dict[str, t.Any] = {}
    for runtime in runtimes:
        description, spec_path = runtime.pack.description, runtime.pack.spec_path
        if description is not None and spec_path is not None:
            for path, app in description.pages(spec_path).items():
                pages.setdefault(path, app)
    return pages


def move_generators_past(store: Store, imported: t.Any) -> None:
    """An export does not say where the seeded generators stood, and from their start they would
    hand out the ids of its records again (a board made after the import would replace one in
    it): seed them anew from their seed and the imported content, still reproducible."""
    try:
        content = hashlib.sha256(orjson.dumps(imported, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    except (orjson.JSONEncodeError, TypeError):
        content = hashlib.sha256(repr(sorted(imported)).encode() if isinstance(imported, dict) else b"")
    for label, generator in store.generators.items():
        generator.seed(f"{generator.getrandbits(64)}:{label}:imported {content.hexdigest()}")


def _options_of(pack: Pack[t.Any], values: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {option.dest: values.get(option.dest) for option in pack.options}


def _state_of(runtime: PackRuntime) -> t.Callable[[], Store]:
    return lambda: runtime.state


def _log_failure(task: asyncio.Task[t.Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped", task.get_name(), exc_info=task.exception())


def _prefix_table(runtimes: list[PackRuntime]) -> list[tuple[str, ApiApp[Store]]]:
    claims: list[tuple[str, PackRuntime]] = [(p.rstrip("/") or "/", r) for r in runtimes for p in r.pack.prefixes]
    for index, (prefix, runtime) in enumerate(claims):
        for other_prefix, other in claims[index + 1:]:
            if other is not runtime and _overlap(prefix, other_prefix):
                raise PrefixConflict(
                    f"packs {runtime.name!r} and {other.name!r} both claim {min(prefix, other_prefix, key=len)!r} "
                    f"({prefix} / {other_prefix}); serve them on separate ports")
        # The control plane is dispatched first, so a root claim ("/") leaves it alone; a claim
        # at or below /__mock__ would be unreachable.
        if prefix == CONTROL_PREFIX or prefix.startswith(CONTROL_PREFIX + "/"):
            raise PrefixConflict(f"pack {runtime.name!r} claims {prefix!r}, reserved for the control plane")
        if any(r.pack.claims_host for r in runtimes) and (
                prefix == hosts.HOSTS_PREFIX or prefix.startswith(hosts.HOSTS_PREFIX + "/")):
            raise PrefixConflict(f"pack {runtime.name!r} claims {prefix!r}, reserved for host routing by path")
    table = [(prefix, runtime.asgi) for prefix, runtime in claims if runtime.app is not None]
    return sorted(table, key=lambda item: len(item[0]), reverse=True)


def _overlap(a: str, b: str) -> bool:
    def under(path: str, prefix: str) -> bool:
        return prefix == "/" or path == prefix or path.startswith(prefix + "/")
    return under(a, b) or under(b, a)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _after_commit(send: Send, durability: Durability, dialect: t.Any) -> Send:
    """Hold back the answer's start until what the request changed is on disk. When that fails
    the client gets a 503 in the API's own error format instead of an answer it cannot rely on."""
    failed = False

    async def durable_send(message: dict[str, t.Any]) -> None:
        nonlocal failed
        if failed:
            return  # the original answer's body: the 503 went instead
        if message["type"] == "http.response.start":
            try:
                await durability.durable()
            except Exception as error:  # noqa: BLE001 - the client learns the write is not saved
                failed = True
                await dialect.error(ApiError(503, f"the change could not be saved to the state file: {error}")).send(send)
                return
        await send(message)
    return durable_send


def _dialect_of(app: t.Any) -> t.Any:
    inner = getattr(app, "app", None)  # under the gzip middleware
    return getattr(app, "dialect", None) or getattr(inner, "dialect", None) or DIALECTS["fastapi"]


