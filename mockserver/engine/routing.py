"""Matching a method and path to an operation.

Routes are tried in the order the spec declares them, as FastAPI does, so a pack whose real server
has route-order quirks keeps them. Static paths that no earlier template can shadow are looked up in
a dict, which keeps the common case O(1).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from mockserver.engine.spec import Operation

_PARAM = re.compile(r"{([^}/]+)}")


@dataclass(slots=True)
class Match:
    operation: Operation
    path_params: dict[str, str]


@dataclass(slots=True)
class MethodNotAllowed:
    allowed: set[str]


@dataclass(slots=True)
class Redirect:
    location: str


class _Template:
    __slots__ = ("template", "regex", "operations")

    def __init__(self, template: str, greedy: set[str]) -> None:
        self.template = template
        self.operations: dict[str, Operation] = {}
        pattern, last = "", 0
        for m in _PARAM.finditer(template):
            name = m.group(1)
            pattern += re.escape(template[last:m.start()])
            pattern += f"(?P<{_group(name)}>{'.+' if name in greedy else '[^/]+'})"
            last = m.end()
        pattern += re.escape(template[last:])
        self.regex = re.compile(f"^{pattern}$") if "{" in template else None


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _greedy_params(operation: Operation) -> set[str]:
    """Path parameters whose schema says `format: path` may contain slashes (connexion's rule)."""
    return {p.name for p in operation.parameters
            if p.location == "path" and p.schema.get("format") == "path"}


class Router:
    def __init__(self, operations: t.Iterable[Operation], *, redirect_slashes: bool = False) -> None:
        self.redirect_slashes = redirect_slashes
        templates: dict[str, _Template] = {}
        for operation in operations:
            template = templates.get(operation.path)
            if template is None:
                template = templates[operation.path] = _Template(operation.path, _greedy_params(operation))
            template.operations[operation.method] = operation
        self._ordered = list(templates.values())
        self._static: dict[str, tuple[_Template, list[_Template]]] = {}
        for index, template in enumerate(self._ordered):
            if template.regex is None:
                earlier = [t_ for t_ in self._ordered[:index] if t_.regex and t_.regex.match(template.template)]
                self._static[template.template] = (template, earlier)
        self._names = {t_.template: [m.group(1) for m in _PARAM.finditer(t_.template)] for t_ in self._ordered}

    def match(self, method: str, path: str) -> Match | MethodNotAllowed | Redirect | None:
        found = self._match(method, path)
        if found is None and self.redirect_slashes and path not in ("", "/"):
            other = path[:-1] if path.endswith("/") else path + "/"
            if self._match(method, other) is not None:
                return Redirect(other)
        return found

    def _match(self, method: str, path: str) -> Match | MethodNotAllowed | None:
        static = self._static.get(path)
        if static is not None and not static[1]:
            operation = static[0].operations.get(method)
            if operation is not None:
                return Match(operation, {})
            # A later template may still take this method (FastAPI tries every route in turn).
        first_partial: set[str] | None = None
        for template in self._ordered:
            if template.regex is None:
                if template.template != path:
                    continue
                params: dict[str, str] = {}
            else:
                m = template.regex.match(path)
                if m is None:
                    continue
                names = self._names[template.template]
                params = dict(zip(names, m.groups(), strict=True))
            operation = template.operations.get(method)
            if operation is not None:
                return Match(operation, params)
            if first_partial is None:
                # Starlette's 405 names the methods of the first route whose path matched.
                first_partial = set(template.operations)
        return MethodNotAllowed(first_partial) if first_partial is not None else None
