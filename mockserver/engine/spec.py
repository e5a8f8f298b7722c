"""Loading an OpenAPI document and compiling its operations for the request pipeline.

connexion does the loading: it validates the document against the OpenAPI schema, resolves
references, and its Resolver maps each upstream operationId to a handler. What connexion would do
per request (decode parameters, validate, route) is compiled here once per operation instead.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from connexion.exceptions import ResolverError
from connexion.operations import OpenAPIOperation
from connexion.resolver import Resolver
from connexion.spec import Specification

from mockserver.engine.bodies import BodyDecoder
from mockserver.engine import openapi
from mockserver.engine.openapi import HTTP_METHODS, deref
from mockserver.engine.params import ParameterDecoder
from mockserver.engine.schema import SchemaValidator

__all__ = ["HTTP_METHODS", "LoadedSpec", "MissingHandler", "Operation", "load_spec"]

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
    definition: dict  # the raw (unresolved) operation object
    components: dict  # the spec's raw components, which the definition's refs point into
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

    def _response(self, status: int) -> dict | None:
        responses = self.definition.get("responses", {})
        found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        return deref(found, {"components": self.components}) if found is not None else None

    def _response_media(self, status: int, content_type: str) -> dict | None:
        content = (self._response(status) or {}).get("content") or {}
        if content_type in content:
            return content[content_type]
        return next((m for ct, m in content.items() if ct in ("*/*", content_type.split("/")[0] + "/*")), None)


@dataclass
class LoadedSpec:
    specification: Specification
    base_path: str
    operations: list[Operation]

    @property
    def raw(self) -> dict:
        return self.specification.raw


def load_spec(path: Path | str, resolve: t.Callable[[str], Handler], *,
              base_path: str | None = None, resolver_class: type[Resolver] = Resolver) -> LoadedSpec:
    """Load and compile every operation; `resolve(operationId)` returns its handler or raises
    MissingHandler."""
    specification = Specification.load(str(path))
    raw = specification.raw
    served_base = (specification.base_path if base_path is None else base_path).rstrip("/")
    resolver = resolver_class(function_resolver=resolve)
    components = raw.get("components", {}) or {}
    operations = [_compile_operation(specification, resolver, served_base, template, method, definition,
                                     components)
                  for template, method, definition in openapi.operations(raw)]
    return LoadedSpec(specification, served_base, operations)


def _compile_operation(specification: Specification, resolver: Resolver, base_path: str,
                       template: str, method: str, definition: dict, components: dict) -> Operation:
    try:
        connexion_op = OpenAPIOperation.from_spec(specification, path=template, method=method,
                                                  resolver=resolver)
    except ResolverError as error:
        raise MissingHandler(str(error)) from error
    body = definition.get("requestBody")
    security = definition.get("security", specification.raw.get("security", []))
    return Operation(
        operation_id=connexion_op.operation_id,
        method=method.upper(),
        path=base_path + template,
        handler=connexion_op.function,
        parameters=[ParameterDecoder(p) for p in connexion_op.parameters],
        body=BodyDecoder(deref(body, specification.raw), components.get("schemas") or {}) if body else None,
        secured=any(requirement for requirement in security),
        auth_optional=any(not requirement for requirement in security),
        success_status=_success_status(definition),
        definition=definition,
        components=components,
    )


def _success_status(definition: dict) -> int:
    codes = sorted(int(code) for code in definition.get("responses", {}) if code.isdigit())
    return next((code for code in codes if 200 <= code < 300), 200)
