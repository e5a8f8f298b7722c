"""Loading an OpenAPI document and compiling its operations for the request pipeline.

connexion does the loading: it validates the document against the OpenAPI schema and resolves
references (`spec_cache`, which keeps its result on disk so a warm start never imports connexion).
Each upstream operationId maps to a handler through the pack's `resolve`. What connexion would do
per request (decode parameters, validate, route) is compiled here once per operation instead.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from mockserver.engine import openapi
from mockserver.engine.bodies import BodyDecoder
from mockserver.engine.openapi import HTTP_METHODS, deref
from mockserver.engine.params import ParameterDecoder
from mockserver.engine.schema import SchemaValidator
from mockserver.engine.spec_cache import CompiledDocument, load_document

__all__ = ["HTTP_METHODS", "LoadedSpec", "MissingHandler", "Operation", "compile_document", "load_spec"]

Handler = t.Callable[..., t.Any]


class MissingHandler(Exception):
    """An operation of a pack's spec has no handler."""


@dataclass
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # template as served, base path included
    handler: Handler
    parameters: list[ParameterDecoder]
    body: BodyDecoder | None
    secured: bool  # some security requirement applies
    auth_optional: bool  # ...but `{}` among the requirements lets anonymous callers in
    success_status: int
    definition: dict[str, t.Any]  # the raw (unresolved) operation object
    components: dict[str, t.Any]  # the spec's raw components, which the definition's refs point into
    _response_validators: dict[tuple[int, str], SchemaValidator | None] = field(default_factory=dict)

    def documents(self, status: int) -> bool:
        return self._response(status) is not None

    def response_validator(self, status: int, content_type: str) -> SchemaValidator | None:
        """The schema a response must match, compiled on first use (only tests and strict mode ask)."""
        key = (status, content_type.split(";", 1)[0].strip().lower())
        if key not in self._response_validators:
            schema = (self._response_media(status, key[1]) or {}).get("schema")
            self._response_validators[key] = (
                SchemaValidator(schema, self.components.get("schemas"), direction="response")
                if schema else None)
        return self._response_validators[key]

    def _response(self, status: int) -> dict[str, t.Any] | None:
        responses = self.definition.get("responses", {})
        found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        return deref(found, {"components": self.components}) if found is not None else None

    def _response_media(self, status: int, content_type: str) -> dict[str, t.Any] | None:
        content = (self._response(status) or {}).get("content") or {}
        if content_type in content:
            media: dict[str, t.Any] = content[content_type]
            return media
        return next((m for ct, m in content.items() if ct in ("*/*", content_type.split("/")[0] + "/*")), None)


OperationNamer = t.Callable[[t.Optional[str], str, str], t.Optional[str]]


def upstream_operation_id(operation_id: str | None, method: str, template: str) -> str | None:
    """The operationId as the spec writes it."""
    return operation_id


@dataclass
class LoadedSpec:
    document: CompiledDocument
    base_path: str
    operations: list[Operation]

    @property
    def raw(self) -> dict[str, t.Any]:
        return self.document.raw


def load_spec(path: Path | str, resolve: t.Callable[[str], Handler], *,
              base_path: str | None = None, name_operation: OperationNamer = upstream_operation_id) -> LoadedSpec:
    """Load and compile every operation; `resolve(operationId)` returns its handler or raises
    MissingHandler. `name_operation(operationId, method, template)` names each operation (a spec
    may leave operationIds out)."""
    return compile_document(load_document(path), resolve, base_path=base_path, name_operation=name_operation)


def compile_document(document: CompiledDocument, resolve: t.Callable[[str], Handler], *,
                     base_path: str | None = None,
                     name_operation: OperationNamer = upstream_operation_id) -> LoadedSpec:
    """`load_spec` for a document loaded some other way (`serve --spec` loads its own)."""
    raw = document.raw
    served_base = (document.base_path if base_path is None else base_path).rstrip("/")
    components = raw.get("components", {}) or {}
    operations = [_compile_operation(document, resolve, name_operation, served_base, template, method,
                                     definition, components)
                  for template, method, definition in openapi.operations(raw)]
    return LoadedSpec(document, served_base, operations)


def _compile_operation(document: CompiledDocument, resolve: t.Callable[[str], Handler],
                       name_operation: OperationNamer, base_path: str, template: str, method: str,
                       definition: dict[str, t.Any], components: dict[str, t.Any]) -> Operation:
    operation_id = name_operation(definition.get("operationId"), method, template)
    if operation_id is None:
        raise MissingHandler(f"{method.upper()} {template} has no operationId")
    handler = resolve(operation_id)
    body = definition.get("requestBody")
    security = definition.get("security", document.raw.get("security", []))
    return Operation(
        operation_id=operation_id,
        method=method.upper(),
        path=base_path + template,
        handler=handler,
        parameters=[ParameterDecoder(p) for p in document.parameters[(template, method)]],
        body=BodyDecoder(deref(body, document.raw), components.get("schemas") or {}) if body else None,
        secured=any(requirement for requirement in security),
        auth_optional=any(not requirement for requirement in security),
        success_status=_success_status(definition),
        definition=definition,
        components=components,
    )


def _success_status(definition: dict[str, t.Any]) -> int:
    codes = sorted(int(code) for code in definition.get("responses", {}) if code.isdigit())
    return next((code for code in codes if 200 <= code < 300), 200)
