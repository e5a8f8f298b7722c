"""OpenAPI 3.0 schemas as compiled JSON Schema validators.

OpenAPI 3.0's Schema Object is JSON Schema draft 4 plus a few keywords of its own. It is translated
once at load time (by engine/openapi.py, the one translator) and compiled with jsonschema-rs, whose
validators run in about half a microsecond on the happy path. Errors are only examined when a value
fails, and then translated into `Issue`s with pydantic-style kinds.
"""

from __future__ import annotations

import typing as t

import jsonschema_rs

from mockserver.engine import openapi
from mockserver.engine.issues import Issue, Location
from mockserver.engine.jsonlimits import is_oversized_int_text


class SchemaValidator:
    """A compiled schema. `issues(value, loc)` is empty when the value is valid.

    Translated and compiled on first use, not at load: a test run calls few of a big spec's
    operations, and each compiled validator carries its spec's components (about 2 MB for
    InvokeAI's), so compiling every one at start-up cost InvokeAI ~0.5 s and ~90 MB."""

    __slots__ = ("_source", "_components", "_direction", "_schema", "_compiled")

    def __init__(self, schema: dict[str, t.Any], components: dict[str, t.Any] | None = None, *,
                 direction: str = "request"):
        self._source = schema
        self._components = components
        self._direction = direction
        self._schema: dict[str, t.Any] | None = None
        self._compiled: t.Any = None

    @property
    def schema(self) -> dict[str, t.Any]:
        """The JSON Schema the value is checked against."""
        if self._schema is None:
            converted = openapi.to_json_schema(self._source, direction=self._direction)
            if self._components:
                # Keep `#/components/schemas/...` refs resolvable, recursion included: the
                # components this schema reaches, not all of them (InvokeAI's are ~2 MB compiled).
                used = {name: self._components[name] for name in _reachable(self._source, self._components)}
                converted = {"allOf": [converted],
                             "components": {"schemas": {name: openapi.to_json_schema(sub, direction=self._direction)
                                                         for name, sub in used.items()}}}
            self._schema = converted
        return self._schema

    @property
    def _validator(self) -> t.Any:
        compiled = self._compiled
        if compiled is None:  # two threads racing here both compile the same thing: harmless
            compiled = self._compiled = jsonschema_rs.Draft4Validator(self.schema, validate_formats=False)
        return compiled

    def is_valid(self, value: t.Any) -> bool:
        return bool(self._validator.is_valid(value))  # jsonschema_rs is untyped; it returns a bool

    def issues(self, value: t.Any, loc: Location) -> list[Issue]:
        if self._validator.is_valid(value):
            return []
        issues: list[Issue] = []
        for error in self._validator.iter_errors(value):
            issue = _issue_from_error(error, loc)
            if issue.kind == "extra_forbidden" and isinstance(issue.input, dict) and issue.ctx is not None:
                # pydantic reports each unexpected key at its own location, with its value.
                issues.extend(Issue("extra_forbidden", issue.loc + (key,), issue.input[key])
                              for key in issue.ctx["unexpected"] if key in issue.input)
            else:
                issues.append(issue)
        return issues


_COMPONENT_REF = "#/components/schemas/"


def _reachable(schema: t.Any, components: dict[str, t.Any]) -> list[str]:
    """The names of the components `schema` refers to, directly or through other components."""
    found: dict[str, None] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_COMPONENT_REF):
                name = ref[len(_COMPONENT_REF):].split("/", 1)[0].replace("~1", "/").replace("~0", "~")
                if name in components and name not in found:
                    found[name] = None
                    stack.append(components[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return list(found)


def _issue_from_error(error: t.Any, loc: Location) -> Issue:
    kind = error.kind
    name = type(kind).__name__
    if name in ("AnyOf", "OneOfNotValid") and getattr(kind, "context", None):
        # Report the branch that came closest (a nullable wrapper's non-null branch, usually)
        # rather than an opaque "not valid under any of the schemas".
        branch = min(kind.context, key=_branch_distance)
        if branch:
            return _issue_from_error(branch[0], loc)
    where = loc + tuple(error.instance_path)
    value = error.instance
    if name == "Required":
        # pydantic shows the object the field is missing from; FastAPI's top-level body fields
        # are validated one by one, so there the input is null.
        return Issue("missing", where + (kind.property,), value if error.instance_path else None)
    translate = _KIND_TRANSLATIONS.get(name)
    if translate is None:
        return Issue("value_error", where, value, {"error": error.message})
    issue_kind, ctx = translate(kind, value)
    return Issue(issue_kind, where, value, ctx)


def _branch_distance(errors: list[t.Any]) -> tuple[int, int]:
    null_only = len(errors) == 1 and "null" in str(getattr(errors[0].kind, "types", ""))
    return (1 if null_only else 0, len(errors))


def _type_kind(kind: t.Any, value: t.Any) -> tuple[str, dict[str, t.Any] | None]:
    expected = [str(t_) for t_ in kind.types] if hasattr(kind, "types") else []
    wanted = next((t_ for t_ in expected if t_ != "null"), "")
    if isinstance(value, str) and wanted.lower() in ("integer", "number", "boolean"):
        # pydantic tries to read a string as the number or boolean first: a parsing error.
        if wanted.lower() == "integer" and is_oversized_int_text(value):
            return "int_parsing_size", None
        return {"integer": "int_parsing", "number": "float_parsing", "boolean": "bool_parsing"}[wanted.lower()], None
    return {
        "integer": "int_type", "number": "float_type", "string": "string_type",
        "boolean": "bool_type", "array": "list_type", "object": "model_attributes_type",
    }.get(wanted.lower(), "value_error"), None


def _sized(short: str, long_: str, key: str) -> t.Callable[[t.Any, t.Any], tuple[str, dict[str, t.Any]]]:
    def translate(kind: t.Any, value: t.Any) -> tuple[str, dict[str, t.Any]]:
        is_text = isinstance(value, str)
        ctx = {key: kind.limit}
        if not is_text:
            ctx["actual_length"] = len(value) if hasattr(value, "__len__") else None
        return (short if is_text else long_), ctx
    return translate


_KIND_TRANSLATIONS: dict[str, t.Callable[[t.Any, t.Any], tuple[str, dict[str, t.Any] | None]]] = {
    "Type": _type_kind,
    "Minimum": lambda k, v: ("greater_than_equal", {"ge": k.limit}),
    "Maximum": lambda k, v: ("less_than_equal", {"le": k.limit}),
    "ExclusiveMinimum": lambda k, v: ("greater_than", {"gt": k.limit}),
    "ExclusiveMaximum": lambda k, v: ("less_than", {"lt": k.limit}),
    "MultipleOf": lambda k, v: ("multiple_of", {"multiple_of": k.multiple_of}),
    "MinLength": _sized("string_too_short", "too_short", "min_length"),
    "MaxLength": _sized("string_too_long", "too_long", "max_length"),
    "MinItems": _sized("too_short", "too_short", "min_length"),
    "MaxItems": _sized("too_long", "too_long", "max_length"),
    "Pattern": lambda k, v: ("string_pattern_mismatch", {"pattern": k.pattern}),
    "Enum": lambda k, v: ("enum", {"expected": expected_text(k.options)}),
    "AdditionalProperties": lambda k, v: ("extra_forbidden", {"unexpected": list(k.unexpected)}),
    "UniqueItems": lambda k, v: ("value_error", {"error": "items must be unique"}),
}


def expected_text(options: t.Iterable[t.Any]) -> str:
    """pydantic's way of listing allowed values: `'a', 'b' or 'c'`, numbers bare."""
    shown = [f"'{o}'" if isinstance(o, str) else ("None" if o is None else str(o)) for o in options]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]
