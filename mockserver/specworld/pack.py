"""`mockserver serve --spec FILE`: any OpenAPI 3.0/3.1 document served as a stateful world.

The document is a pack built at start-up: its operations are compiled like a pack's (validated
parameters and bodies), inferred resources keep what clients create (`infer.py`), every other
operation answers its example or a generated body, and errors use the document's own error
schemas. Being a pack, it gets the control plane, journal, faults, clock, state export/import and
`--state-file` as the hand-written packs do.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from mockserver.engine.dialects import Dialect
from mockserver.engine.fallback import credentials_present, synthesized_operation_id
from mockserver.engine.openapi import operations
from mockserver.engine.pack import Handlers, Pack, PackContext
from mockserver.engine.spec import Handler, LoadedSpec, Operation, OperationNamer, compile_document
from mockserver.specworld import document as documents
from mockserver.specworld.bodies import Bodies
from mockserver.specworld.errors import SpecDialect
from mockserver.specworld.handlers import World
from mockserver.specworld.infer import Inference, infer
from mockserver.specworld.store import WorldStore


def operation_name(method: str, template: str, operation: dict[str, t.Any]) -> str:
    """The operationId, or `METHOD /path` for an operation without one (as the engine names it)."""
    return operation.get("operationId") or synthesized_operation_id(method, template)


def read_overrides(path: Path | None) -> dict[str, t.Any]:
    """The override file (YAML or JSON): `operations:` by operation name, `resources:` by
    collection path template. Raises ValueError for a file of another shape."""
    if path is None:
        return {}
    from mockserver.engine.resources import read_yaml

    data = read_yaml(path) or {}
    if not isinstance(data, dict) or not all(isinstance(data.get(k) or {}, dict) for k in ("operations", "resources")):
        raise ValueError(f"{path}: an override file holds 'operations' and 'resources' mappings")
    return data


def inferred(spec_path: Path, overrides: Path | None = None) -> Inference:
    """What `mockserver infer FILE` prints."""
    document = documents.load(spec_path)
    return infer(document.raw, operation_name, read_overrides(overrides))


def spec_world_pack(spec_path: Path, *, seed: int, dialect: str = "fastapi", name: str | None = None,
                    overrides: Path | None = None) -> Pack[WorldStore]:
    document = documents.load(spec_path)
    raw = document.raw
    bodies = Bodies(raw, seed)
    world = World(bodies, infer(raw, operation_name, read_overrides(overrides)))
    handlers = Handlers()
    for template, method, definition in operations(raw):
        operation_id = operation_name(method, template, definition)
        if operation_id not in handlers:  # a document repeating an operationId: the first one serves
            handlers(operation_id)(world.handler(operation_id, method, template, definition))

    def load_spec(resolve: t.Callable[[str], Handler], namer: OperationNamer) -> LoadedSpec:
        return compile_document(documents.compiled(document), resolve, name_operation=namer)

    error_bodies: dict[tuple[int, int], t.Any] = {}
    common = _CommonErrors(raw)

    def error_body(operation: Operation, status: int) -> t.Any:
        """The body the operation documents for `status`, else the one most of the document's
        operations document for it (None: JSON for it is documented nowhere); made once, the
        dialect copies it before wording it."""
        key = (id(operation), status)
        if key not in error_bodies:
            definition = operation.definition
            if str(status) not in (definition.get("responses") or {}):
                definition = common.operation_documenting(status) or definition
            media_type, media = bodies.media(definition, status)
            error_bodies[key] = (bodies.example_or_generated(media, f"{operation.operation_id}:{status}")
                                 if media_type is not None and "json" in media_type else None)
        return error_bodies[key]

    def with_error_schemas(base: Dialect) -> Dialect:
        return SpecDialect(base, error_body)

    return Pack(
        name=name or spec_path.stem,
        dialect=dialect,
        prefixes=(document.base_path or "/",),
        handlers=handlers,
        new_state=lambda context: _new_store(context),
        authenticate=credentials_present(raw),
        spec_path=spec_path,
        load_spec=load_spec,
        dialect_wrapper=with_error_schemas,
    )


def _new_store(context: PackContext) -> WorldStore:
    return WorldStore(context.random("ids"), context.clock)


class _CommonErrors:
    """For each error status, an operation documenting the JSON body most operations document for
    it (by reference, e.g. GitHub's `#/components/responses/not_found`), found on first need."""

    def __init__(self, raw: dict[str, t.Any]) -> None:
        self.raw = raw
        self._found: dict[int, dict[str, t.Any] | None] = {}

    def operation_documenting(self, status: int) -> dict[str, t.Any] | None:
        if status not in self._found:
            counts: dict[str, int] = {}
            example: dict[str, dict[str, t.Any]] = {}
            for _, _, definition in operations(self.raw):
                response = (definition.get("responses") or {}).get(str(status))
                if not isinstance(response, dict):
                    continue
                ref = response.get("$ref")
                key = ref if isinstance(ref, str) else repr(response)[:200]
                counts[key] = counts.get(key, 0) + 1
                example.setdefault(key, definition)
            self._found[status] = example[max(counts, key=counts.__getitem__)] if counts else None
        return self._found[status]
