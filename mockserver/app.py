"""Building the ASGI app: the selected packs, the control plane, shared services."""

from __future__ import annotations

import functools
import os
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from mockserver.engine import control
from mockserver.engine.clock import Clock
from mockserver.engine.control_access import ControlAccess
from mockserver.engine.dialects import DIALECTS
from mockserver.engine.fallback import synthesized_operation_id
from mockserver.engine.journal import Journal
from mockserver.engine.pack import Pack, PackContext, build_store
from mockserver.engine.pipeline import ApiApp, Settings
from mockserver.engine.resources import specs_dir
from mockserver.engine.server import CONTROL_PREFIX, MockServer, PackRuntime, Services
from mockserver.engine.spec import load_spec
from mockserver.packs import AVAILABLE, load_pack, pack_options


@dataclass
class ServerConfig:
    apis: t.Sequence[str | Pack[t.Any]] = ()  # names or Pack objects; empty: every available pack (unless `spec`)
    spec: Path | None = None  # serve a user's spec with generated answers
    spec_dialect: str = "fastapi"
    spec_overrides: Path | None = None  # resource inference overrides for `spec`
    seed: int | None = None  # None: a random seed, reported at start-up
    state_file: Path | None = None
    clock_start: float | None = None  # freeze the clock at this instant
    settings: Settings = field(default_factory=Settings)
    pack_options: t.Mapping[str, t.Any] = field(default_factory=dict)  # by PackOption.dest; None: not given
    control: ControlAccess = field(default_factory=ControlAccess)  # who else may drive /__mock__/


def build_server(config: ServerConfig) -> MockServer:
    seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(4), "big")
    clock = Clock()
    if config.clock_start is not None:
        clock.set(config.clock_start, frozen=True)
    services = Services(clock=clock, seed=seed, settings=config.settings,
                        journal=Journal(config.settings.journal))
    packs = _selected_packs(config, seed)
    _check_options_have_their_pack(config.pack_options, packs)
    runtimes = [_runtime(pack, services, config.pack_options) for pack in packs]
    server_ref: dict[str, MockServer] = {}
    control_app = _control_app(runtimes, services, lambda: server_ref["server"])
    server = MockServer(runtimes, services, control_app, state_file=config.state_file,
                        pack_options=config.pack_options, access=config.control)
    server_ref["server"] = server
    server.load_state_file()
    return server


def _selected_packs(config: ServerConfig, seed: int) -> list[Pack[t.Any]]:
    names = list(config.apis) or ([] if config.spec else list(AVAILABLE))
    packs: list[Pack[t.Any]] = []
    for name in names:
        pack = name if isinstance(name, Pack) else load_pack(name)
        if all(pack.name != chosen.name for chosen in packs):
            packs.append(pack)
    if config.spec is not None:
        from mockserver.specworld.pack import spec_world_pack

        packs.append(spec_world_pack(Path(config.spec), seed=seed, dialect=config.spec_dialect,
                                     overrides=config.spec_overrides))
    return packs


def _check_options_have_their_pack(values: t.Mapping[str, t.Any], packs: list[Pack[t.Any]]) -> None:
    """A pack's option given while the pack is not served would silently do nothing."""
    served = {option.dest for pack in packs for option in pack.options}
    for name in AVAILABLE:
        for option in pack_options(name):
            if values.get(option.dest) is not None and option.dest not in served:
                raise ValueError(f"{option.flag} needs the {name} pack: serve it (--api {name})")


def _operation_name(operation_id: str | None, method: str, template: str) -> str:
    """Operations without an operationId (common in users' specs) get `METHOD /path`."""
    return operation_id or synthesized_operation_id(method, template)


def _runtime(pack: Pack[t.Any], services: Services, options: t.Mapping[str, t.Any]) -> PackRuntime:
    assert pack.spec_path is not None  # Pack.__post_init__ fills it in
    spec = (pack.load_spec(pack.handlers.resolve, _operation_name) if pack.load_spec is not None
            else load_spec(pack.spec_path, pack.handlers.resolve, name_operation=_operation_name))
    context = PackContext(pack.name, services.seed, services.clock, pack.fixtures,
                          options={option.dest: options.get(option.dest) for option in pack.options})
    runtime = PackRuntime(pack, spec, context, build_store(pack, context))
    runtime.app = ApiApp(
        pack.name, spec.operations,
        pack.dialect_wrapper(DIALECTS[pack.dialect]) if pack.dialect_wrapper else DIALECTS[pack.dialect],
        state=lambda: runtime.state, settings=services.settings,
        authenticate=pack.authenticate, journal=services.journal, faults=services.faults,
        redirect_slashes=pack.redirect_slashes, unmatched=pack.unmatched,
        unmatched_methods=pack.unmatched_methods, shutdown=services.shutdown)
    return runtime


def _control_app(runtimes: list[PackRuntime], services: Services,
                 server: t.Callable[[], MockServer]) -> ApiApp[t.Any]:
    """The engine's control operations, with each pack's own control operations in front."""
    dialect = DIALECTS["control"]
    spec = load_spec(specs_dir() / "control.yaml", control.handlers.resolve)
    settings = services.settings.for_state_documents()
    app: ApiApp[t.Any] = ApiApp[control.ControlledServer]("control", spec.operations, dialect, state=server,
                                                          settings=settings)
    for runtime in runtimes:
        if runtime.pack.control_spec_path is None:
            continue
        pack_spec = load_spec(runtime.pack.control_spec_path, runtime.pack.control_handlers.resolve,
                              base_path=f"{CONTROL_PREFIX}/packs/{runtime.name}")
        app = ApiApp(f"control:{runtime.name}", pack_spec.operations, dialect,
                     state=functools.partial(getattr, runtime, "state"), settings=settings, fallback=app)
        runtime.control_app = app
    return app
