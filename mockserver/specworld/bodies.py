"""Bodies of a spec world: the document's examples and schemas, resolved lazily and once.

A big document (GitHub's has 1,200 operations and 900 schemas) is never resolved whole: an
operation's media type is resolved the first time it answers, and every reference resolves to one
shared object for the whole document, so memory stays near the document's own size.
"""

from __future__ import annotations

import copy
import typing as t
from collections.abc import Mapping

from mockserver.engine.openapi import Resolver, deref
from mockserver.engine.schema import SchemaValidator

if t.TYPE_CHECKING:
    from mockserver.engine.examples import ExampleGenerator


_NONE = object()


class Bodies:
    """Examples and generated values for one document, seeded."""

    def __init__(self, raw: dict[str, t.Any], seed: int) -> None:
        from mockserver.engine.examples import ExampleGenerator  # ~60 ms to import: only worlds need it

        self.raw = raw
        self.resolve = Resolver(raw)
        self.generator: ExampleGenerator = ExampleGenerator(seed)
        self._field_validators: dict[int, SchemaValidator] = {}

    def media(self, operation: dict[str, t.Any], status: int | str) -> tuple[str | None, t.Any]:
        """(media type, resolved Media Type Object) of a documented response, JSON preferred."""
        responses = operation.get("responses") or {}
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        content = (deref(response, self.raw) or {}).get("content") or {} if response is not None else {}
        media_type = next((ct for ct in content if "json" in ct), next(iter(content), None))
        if media_type is None:
            return None, None
        return media_type, self.resolve(content[media_type])

    def example_or_generated(self, media: t.Any, key: str) -> t.Any:
        """The media type's example (an `examples` entry by its `value`) when it matches the
        schema, else a generated body: documents' examples drift from their schemas (GitHub's
        repository example lacks the required `language`), and SDKs parse by the schema."""
        if not isinstance(media, Mapping):
            return None
        schema = media.get("schema")
        example = self._example(media)
        if example is not _NONE and (not isinstance(schema, dict) or self.fits(schema, example)):
            return fresh(example)
        if isinstance(schema, dict):
            return self.generator.from_schema(schema, key=key)
        return None if example is _NONE else fresh(example)

    @staticmethod
    def _example(media: Mapping[str, t.Any]) -> t.Any:
        if "example" in media:
            return media["example"]
        examples = media.get("examples")
        for example in examples.values() if isinstance(examples, Mapping) else ():
            if isinstance(example, Mapping) and "value" in example:  # `externalValue` ones are skipped
                return example["value"]
        return _NONE

    def generated(self, media: t.Any, key: str) -> t.Any:
        """A schema-valid body, ignoring examples (each record gets its own values)."""
        schema = media.get("schema") if isinstance(media, Mapping) else None
        if not isinstance(schema, dict):
            return self.example_or_generated(media, key)
        return self.generator.from_schema(schema, key=key)

    def fits(self, schema: t.Any, value: t.Any) -> bool:
        """Does `value` match a resolved property schema (so it may be stored into a record)?"""
        if not isinstance(schema, dict):
            return True
        validator = self._field_validators.get(id(schema))
        if validator is None:
            validator = self._field_validators[id(schema)] = SchemaValidator(schema, direction="response")
        try:
            return validator.is_valid(value)
        except Exception:  # noqa: BLE001 - a schema the validator cannot compile: don't trust the value
            return False


def object_properties(schema: t.Any) -> dict[str, t.Any]:
    """A resolved object schema's properties, `allOf` parts included."""
    if not isinstance(schema, Mapping):
        return {}
    out = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        out.update(object_properties(part))
    return out


def fresh(value: t.Any) -> t.Any:
    return copy.deepcopy(value)
