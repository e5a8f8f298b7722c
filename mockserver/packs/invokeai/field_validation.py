"""One node field's value checked as pydantic v2 checks it on the real server, from the field's JSON
schema in the catalogue.

InvokeAI validates graph nodes in Python (lax) mode: a node's type adapter runs `validate_python`
on the parsed JSON. So strings of digits are integers (`"30"` → 30, `"1.0"` → 1), integers are
floats (1 → 1.0, and floats stay floats), 0/1 and "yes"/"off"/... are booleans, and every failure
is one pydantic error with its own type, message context and location. The value that comes back
is what the real server keeps (and echoes): coerced, with the defaults of nested models filled in.
"""

from __future__ import annotations

import math
import re
import typing as t

from mockserver.engine.issues import Issue
from mockserver.engine.jsonlimits import IntTooLong, int_text
from mockserver.engine.schema import expected_text
from mockserver.packs.invokeai.catalogue import SCHEMA_REF

Loc = tuple[t.Any, ...]
TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({"0", "off", "f", "false", "n", "no"})
_INT_TEXT = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?", re.ASCII)
_JSON_LABELS = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "none"}


class Invalid(Exception):
    """The value failed; `issues` are the pydantic errors, in the real server's order."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} issue(s)")
        self.issues = issues


class FieldValidator:
    """Validates values against field schemas; `components` resolves `$ref`s (ImageField, ...)."""

    def __init__(self, components: t.Mapping[str, dict]) -> None:
        self.components = components

    def validate(self, value: t.Any, schema: t.Mapping[str, t.Any], loc: Loc) -> t.Any:
        """The value as the real server keeps it, or Invalid."""
        if "anyOf" in schema:
            return self._any_of(value, schema["anyOf"], loc)
        if "$ref" in schema:
            return self._reference(value, schema["$ref"], loc)
        if "const" in schema:
            return self._literal(value, [schema["const"]], loc)
        if "enum" in schema:
            return self._literal(value, schema["enum"], loc)
        kind = schema.get("type")
        if kind == "integer":
            return _bounded(_integer(value, loc), schema, value, loc)
        if kind == "number":
            return _bounded(_number(value, loc), schema, value, loc)
        if kind == "boolean":
            return _boolean(value, loc)
        if kind == "string":
            return _string(value, schema, loc)
        if kind == "array":
            return self._array(value, schema, loc)
        if kind == "object":
            return self._mapping(value, schema, loc)
        if kind == "null":
            if value is None:
                return None
            raise Invalid([Issue("none_required", loc, value)])
        return value  # no type: anything (pydantic's Any)

    # -- unions -----------------------------------------------------------------------------

    def _any_of(self, value: t.Any, options: list[dict], loc: Loc) -> t.Any:
        """`Optional[X]` is X or None; a real union tries each member as pydantic's smart mode
        does (an exact type first, then the first that accepts) and reports every member."""
        members = [option for option in options if option.get("type") != "null"]
        if value is None and len(members) < len(options):
            return None
        if len(members) == 1:
            return self.validate(value, members[0], loc)
        exact = [m for m in members if _exact_match(value, m)]
        for member in exact + [m for m in members if m not in exact]:
            try:
                return self.validate(value, member, loc)
            except Invalid:
                continue
        # None accepted: pydantic reports every member's errors, each under the member's name.
        issues: list[Issue] = []
        for member in members:
            try:
                self.validate(value, member, loc + (self.label(member),))
            except Invalid as failure:
                issues.extend(failure.issues)
        raise Invalid(issues)

    def label(self, schema: t.Mapping[str, t.Any]) -> str:
        """The name pydantic gives a union member in error locations."""
        if "$ref" in schema:
            return schema["$ref"].rsplit("/", 1)[-1]
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            return "literal[" + ",".join(repr(v) for v in values) + "]"
        kind = schema.get("type")
        if kind == "array":
            return f"list[{self.label(schema.get('items') or {})}]"
        if kind == "object":
            return f"dict[str,{self.label(schema.get('additionalProperties') or {})}]"
        return _JSON_LABELS.get(str(kind), "any")

    # -- named schemas: models and enums ----------------------------------------------------

    def _reference(self, value: t.Any, ref: str, loc: Loc) -> t.Any:
        name = ref[len(SCHEMA_REF):] if ref.startswith(SCHEMA_REF) else ref
        schema = self.components.get(name)
        if schema is None:
            return value  # a type the catalogue does not describe: taken as given
        if "enum" in schema:
            if value in schema["enum"] and not isinstance(value, bool):
                return value
            raise Invalid([Issue("enum", loc, value, {"expected": expected_text(schema["enum"])})])
        if "properties" in schema:
            return self._model(value, name, schema, loc)
        return self.validate(value, schema, loc)

    def _model(self, value: t.Any, name: str, schema: t.Mapping[str, t.Any], loc: Loc) -> dict:
        if not isinstance(value, dict):
            raise Invalid([Issue("model_type", loc, value, {"class_name": name})])
        required = set(schema.get("required", ()))
        kept: dict[str, t.Any] = {}
        issues: list[Issue] = []
        for key, prop in schema["properties"].items():
            if key in value:
                try:
                    kept[key] = self.validate(value[key], prop, loc + (key,))
                except Invalid as failure:
                    issues.extend(failure.issues)
            elif key in required:
                issues.append(Issue("missing", loc + (key,), value))
            elif "default" in prop:
                kept[key] = copy_json(prop["default"])
        if schema.get("additionalProperties") is False:
            issues.extend(Issue("extra_forbidden", loc + (key,), value[key])
                          for key in value if key not in schema["properties"])
        if issues:
            raise Invalid(issues)
        return kept

    # -- containers ---------------------------------------------------------------------------

    def _array(self, value: t.Any, schema: t.Mapping[str, t.Any], loc: Loc) -> list:
        if not isinstance(value, list):
            raise Invalid([Issue("list_type", loc, value)])
        items = schema.get("items") or {}
        kept, issues = [], []
        for index, item in enumerate(value):
            try:
                kept.append(self.validate(item, items, loc + (index,)))
            except Invalid as failure:
                issues.extend(failure.issues)
        if issues:
            raise Invalid(issues)
        if "minItems" in schema and len(kept) < schema["minItems"]:
            raise Invalid([Issue("too_short", loc, value, {"field_type": "List", "min_length": schema["minItems"],
                                                           "actual_length": len(kept)})])
        if "maxItems" in schema and len(kept) > schema["maxItems"]:
            raise Invalid([Issue("too_long", loc, value, {"field_type": "List", "max_length": schema["maxItems"],
                                                          "actual_length": len(kept)})])
        return kept

    def _mapping(self, value: t.Any, schema: t.Mapping[str, t.Any], loc: Loc) -> dict:
        if not isinstance(value, dict):
            raise Invalid([Issue("dict_type", loc, value)])
        values = schema.get("additionalProperties")
        if not isinstance(values, dict) or not values:
            return value
        kept, issues = {}, []
        for key, item in value.items():
            try:
                kept[key] = self.validate(item, values, loc + (key,))
            except Invalid as failure:
                issues.extend(failure.issues)
        if issues:
            raise Invalid(issues)
        return kept

    @staticmethod
    def _literal(value: t.Any, allowed: list, loc: Loc) -> t.Any:
        for option in allowed:
            if value == option and type(value) is type(option):
                return option
        raise Invalid([Issue("literal_error", loc, value, {"expected": expected_text(allowed)})])


# -- scalars ------------------------------------------------------------------------------------

def _exact_match(value: t.Any, schema: t.Mapping[str, t.Any]) -> bool:
    kind = schema.get("type")
    if isinstance(value, bool):
        return kind == "boolean"
    return {"integer": isinstance(value, int), "number": isinstance(value, float),
            "string": isinstance(value, str), "array": isinstance(value, list),
            "object": isinstance(value, dict)}.get(str(kind), "$ref" in schema and isinstance(value, dict))


def _integer(value: t.Any, loc: Loc) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        kind = "int_from_float" if math.isfinite(value) else "finite_number"
        raise Invalid([Issue(kind, loc, value)])
    if isinstance(value, str):
        try:
            parsed = _parse_int(value.strip())
        except IntTooLong:
            raise Invalid([Issue("int_parsing_size", loc, value)]) from None
        if parsed is None:
            raise Invalid([Issue("int_parsing", loc, value)])
        return parsed
    raise Invalid([Issue("int_type", loc, value)])


def _parse_int(text: str) -> int | None:
    """pydantic's reading of a string as an integer: ASCII digits (underscores between them), an
    optional sign, and a fractional part of zeros only; IntTooLong past 4,300 digits."""
    match = _INT_TEXT.fullmatch(text)
    return int_text(match.group(1).replace("_", "")) if match else None


def _number(value: t.Any, loc: Loc) -> float:
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer past any float: pydantic calls it no number
            raise Invalid([Issue("float_type", loc, value)]) from None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise Invalid([Issue("float_parsing", loc, value)]) from None
    raise Invalid([Issue("float_type", loc, value)])


def _boolean(value: t.Any, loc: Loc) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return bool(value)
        raise Invalid([Issue("bool_parsing", loc, value)])
    if isinstance(value, str):
        word = value.lower()  # no stripping here: "true " is refused
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise Invalid([Issue("bool_parsing", loc, value)])
    raise Invalid([Issue("bool_type", loc, value)])


def _string(value: t.Any, schema: t.Mapping[str, t.Any], loc: Loc) -> str:
    if not isinstance(value, str):
        raise Invalid([Issue("string_type", loc, value)])
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise Invalid([Issue("string_too_short", loc, value, {"min_length": schema["minLength"]})])
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Invalid([Issue("string_too_long", loc, value, {"max_length": schema["maxLength"]})])
    return value


def _bounded(number: int | float, schema: t.Mapping[str, t.Any], given: t.Any, loc: Loc) -> int | float:
    """pydantic-core's constraint order: multiple_of, le, lt, ge, gt; the first failure only."""
    step = schema.get("multipleOf")
    if step is not None and step != 0 and not _is_multiple(number, step):
        raise Invalid([Issue("multiple_of", loc, given, {"multiple_of": step})])
    checks = (("maximum", "less_than_equal", "le", lambda n, b: n <= b),
              ("exclusiveMaximum", "less_than", "lt", lambda n, b: n < b),
              ("minimum", "greater_than_equal", "ge", lambda n, b: n >= b),
              ("exclusiveMinimum", "greater_than", "gt", lambda n, b: n > b))
    for key, kind, name, holds in checks:
        bound = schema.get(key)
        if bound is not None and not isinstance(bound, bool) and not holds(number, bound):
            raise Invalid([Issue(kind, loc, given, {name: bound})])
    return number


def _is_multiple(number: int | float, step: int | float) -> bool:
    if isinstance(number, int) and isinstance(step, int):
        return number % step == 0
    remainder = math.fmod(number, step)
    return math.isclose(remainder, 0.0, abs_tol=1e-9) or math.isclose(abs(remainder), abs(step), abs_tol=1e-9)


def copy_json(value: t.Any) -> t.Any:
    """A copy of a JSON value (cheaper than deepcopy for the small defaults it copies)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value
