"""What an API pack is: its spec, handlers, dialect, auth, and how to build its state."""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from random import Random  # the class, for annotations below PackContext.random

from mockserver.engine.api_docs import ApiDescription
from mockserver.engine.clock import Clock
from mockserver.engine.copies import Frozen
from mockserver.engine.http import Request
from mockserver.engine.resources import fixtures_dir, read_yaml, specs_dir
from mockserver.engine.spec import Handler, LoadedSpec, MissingHandler, OperationNamer

if t.TYPE_CHECKING:
    from mockserver.engine.dialects import Dialect


class Handlers:
    """operationId → handler, filled with a decorator: `@handlers("usage-completions")`."""

    def __init__(self) -> None:
        self._by_id: dict[str, Handler] = {}

    def __call__(self, *operation_ids: str) -> t.Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            for operation_id in operation_ids:
                if operation_id in self._by_id:
                    raise ValueError(f"two handlers for {operation_id}")
                self._by_id[operation_id] = function
            return function
        return register

    def include(self, other: "Handlers") -> None:
        for operation_id, function in other._by_id.items():
            self(operation_id)(function)

    def resolve(self, operation_id: str) -> Handler:
        try:
            return self._by_id[operation_id]
        except KeyError:
            raise MissingHandler(f"no handler for operationId {operation_id!r}") from None

    def __contains__(self, operation_id: str) -> bool:
        return operation_id in self._by_id


class Store:
    """Base for a pack's in-memory state.

    Handlers run on the event loop, but the control plane, the state file writer and background
    workers may touch the store from other threads: every write goes through `self.lock`, and
    `self.version` moves on every change so the state file knows when to write.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.version = 0
        self.retired = False  # replaced by a reset or an import; no longer served
        # The seeded generators this store was built with, by label (`build_store` fills it):
        # where they stand is state too, or a restarted server would hand out the same ids again.
        self.generators: dict[str, random.Random] = {}
        # The records changed since the state database last took this store, as (section, key):
        # None when some change did not say which (then every record is compared).
        self.touched: set[tuple[str, t.Any]] | None = None

    def changed(self, *touched: tuple[str, t.Any]) -> None:
        """Call after every change. `touched` names the records of `durable_records()` changed,
        as (section, key), when the caller knows them all: the next commit then reads only
        those, not every record. Without it the commit compares everything, which is always
        right, so name records only when you are sure nothing else changed."""
        self.version += 1
        if not touched:
            self.touched = None
        elif self.touched is not None:
            self.touched.update(touched)

    def take_touched(self) -> set[tuple[str, t.Any]] | None:
        """What `changed` collected since the last call (None: unknown, compare everything)."""
        touched, self.touched = self.touched, set()
        return touched

    def retire(self) -> None:
        self.retired = True

    def export(self) -> dict[str, t.Any]:
        raise NotImplementedError

    def load(self, data: dict[str, t.Any]) -> None:
        raise NotImplementedError

    def summary(self) -> dict[str, t.Any]:
        """What the store holds at a glance (the dashboard shows it), read under `self.lock`:
        by default the number of records in each section of `durable_records()`, and the
        section itself when it is a single number or text."""
        counts: dict[str, t.Any] = {}
        for section, value in self.durable_records().items():
            value = getattr(value, "mapping", value)  # records.Rows
            if isinstance(value, (bool, int, float, str)) or value is None:
                counts[section] = value
            elif isinstance(value, t.Sized):
                counts[section] = len(value)
        return counts

    def durable_records(self) -> dict[str, t.Any]:
        """The state as the state database keeps it, read under `self.lock`: the export's shape
        with live objects (no copies), `records.Rows` for mappings kept as a row per record, and
        `bytes` where the export has base64 (see `engine/records.py`). By default the export,
        which costs a copy per commit: stores with many records override this."""
        return self.export()

    def load_records(self, data: dict[str, t.Any]) -> None:
        """Load what `durable_records` described (bytes where the export has base64); called
        on a fresh store."""
        self.load(data)


S = t.TypeVar("S", bound=Store)  # a pack's own Store subclass


def build_store(pack: "Pack[S]", context: "PackContext", *, to_load: bool = False) -> S:
    """A fresh store of `pack`, knowing the seeded generators it was built with; `to_load`: one
    that a state import is about to fill (see `Pack.state_to_load`)."""
    factory = pack.state_to_load if to_load and pack.state_to_load is not None else pack.new_state
    with context.capturing_generators() as generators:
        store = factory(context)
    store.generators = generators
    return store


@dataclass
class PackContext:
    """What a pack's state factory gets: the seed, the clock and its fixtures."""

    name: str
    seed: int
    clock: Clock
    fixtures: Path
    # The values of the pack's `options` (`mockserver serve` flags) by `PackOption.dest`; None: not given.
    options: t.Mapping[str, t.Any] = field(default_factory=dict)
    _captured: dict[str, random.Random] | None = field(default=None, repr=False)

    def random(self, label: str) -> random.Random:
        """A generator that depends only on (seed, pack, label), not on what else ran first."""
        generator = random.Random(f"{self.seed}:{self.name}:{label}")
        if self._captured is not None:
            self._captured[label] = generator
        return generator

    @contextlib.contextmanager
    def capturing_generators(self) -> t.Iterator[dict[str, Random]]:
        """Collect the generators made while the block runs (a store being built), by label."""
        outer, self._captured = self._captured, {}
        try:
            yield self._captured
        finally:
            self._captured = outer

    def fixture(self, filename: str) -> t.Any:
        """A fixture file of the pack, parsed: the caller's own copy to change."""
        path = self.fixtures / filename
        stat = path.stat()
        return _parsed_fixture(path, stat.st_mtime_ns, stat.st_size).thaw()


# Every reset and state import seeds from the fixtures: parse each file once (again when it
# changes on disk), and hand out copies of the parse, several times faster than the YAML parser.
@functools.lru_cache(maxsize=64)
def _parsed_fixture(path: Path, mtime_ns: int, size: int) -> Frozen[t.Any]:
    return Frozen(read_yaml(path))


@dataclass(frozen=True)
class PackOption:
    """A `mockserver serve` option a pack declares (e.g. `--invokeai-ui DIR`). Its value (None when
    not given) reaches the pack's companion under `dest`. `parse` turns the text into the value and
    raises ValueError with a message for the user when the text is unusable."""

    flag: str  # "--invokeai-ui"
    help: str
    metavar: str = "VALUE"
    parse: t.Callable[[str], t.Any] = str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


class Companion(t.Protocol):
    mounts: dict[str, t.Any]
    # Optional, may be absent or None: an ASGI app answering every request none of the pack's
    # operations matches (unknown path, or a method the path lacks), the way a real server's root
    # mount does (InvokeAI's UI bundle at `/`). The pack then also answers paths no other pack owns.
    catch_all: t.Any

    async def run(self) -> None: ...


@dataclass
class Pack(t.Generic[S]):
    """An emulated API, typed by its store: `Pack[ChutesStore]`. The callables below that take the
    pack's state or a request to it are checked against that store (the engine holds `Pack[Any]`)."""

    name: str
    dialect: str  # key of engine.dialects.DIALECTS
    prefixes: tuple[str, ...]  # the paths this pack owns; unknown paths below them get its 404
    handlers: Handlers
    new_state: t.Callable[[PackContext], S]
    # A store a state import will fill (`Store.load`/`load_records`), quicker to build than
    # `new_state` by leaving out what every import replaces. Its generators must stand where
    # `new_state` leaves them: an import moves them on from there. None: `new_state`.
    state_to_load: t.Callable[[PackContext], S] | None = None
    authenticate: t.Callable[[Request[S]], t.Any] | None = None  # returns the principal or raises ApiError
    control_handlers: Handlers = field(default_factory=Handlers)
    redirect_slashes: bool = False  # FastAPI answers /x for a route /x/ with a 307
    gzip: bool = False  # compress answers for clients that send `Accept-Encoding: gzip`
    # What the real server runs beside its REST API (a socket.io endpoint, a job processor): built
    # once per server with a function returning the pack's current state (it changes on reset and
    # import) and the values of the pack's `options` by `dest`. Its `mounts` get HTTP and websocket
    # requests under their path prefixes; its `run()` runs from start-up to shutdown.
    companion: t.Callable[[t.Callable[[], S], t.Mapping[str, t.Any]], Companion] | None = None
    options: tuple[PackOption, ...] = ()  # extra `mockserver serve` options, for the companion
    # Answers requests no operation matches (unknown path, or a method the path lacks) when the real
    # server has a catch-all route of its own (it may return an awaitable); None: the dialect's 404 / 405.
    unmatched: t.Callable[[Request[S]], t.Any] | None = None
    unmatched_methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"})
    # For APIs whose real server routes by the Host's first label (`engine/hosts.py`): called with
    # (label, method, path, current state); True sends the request to this pack whatever its path.
    claims_host: t.Callable[[str, str, str, S], bool] | None = None
    spec_path: Path | None = None
    control_spec_path: Path | None = None
    # Loads and compiles the pack's spec, given its handlers' resolver and the operation namer;
    # None: `load_spec(spec_path)` (connexion-validated). `serve --spec` worlds load their own.
    load_spec: t.Callable[[t.Callable[[str], Handler], OperationNamer], LoadedSpec] | None = None
    # Wraps the dialect's wording (a `serve --spec` world answers in the document's error schemas).
    dialect_wrapper: t.Callable[[Dialect], Dialect] | None = None
    # For APIs whose real server is a FastAPI app with its documentation routes on: `/openapi.json`,
    # `/docs`, `/docs/oauth2-redirect` and `/redoc`, served from `spec_path` (see `engine/api_docs.py`).
    description: ApiDescription | None = None

    def __post_init__(self) -> None:
        if self.spec_path is None:
            self.spec_path = specs_dir() / f"{self.name}.yaml"
        if self.control_spec_path is None:
            candidate = specs_dir() / "control" / f"{self.name}.yaml"
            self.control_spec_path = candidate if candidate.exists() else None

    @property
    def fixtures(self) -> Path:
        return fixtures_dir() / self.name
