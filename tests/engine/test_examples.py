"""Example bodies: valid against their schema, plausible, and reproducible from (seed, key)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import ipaddress
import json
import re
import typing as t
import uuid

import jsonschema_rs
import pytest
from depth import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engine.examples import ExampleGenerator

# -- an independent OpenAPI 3.0 -> draft 4 translation for checking (trees only, no cycles) -------


def to_draft4(schema: t.Any) -> t.Any:
    if isinstance(schema, list):
        return [to_draft4(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties",):
            out[key] = {name: to_draft4(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "oneOf", "anyOf", "not"):
            out[key] = to_draft4(value)
        elif key not in ("nullable", "discriminator", "example"):
            out[key] = value
    if schema.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def assert_valid(schema: dict, value: t.Any) -> None:
    json.dumps(value)  # JSON-serialisable: no datetimes, sets or bytes
    # Formats are checked too (date-time, email, uri, hostname, ipv4, ipv6 in draft 4).
    validator = jsonschema_rs.Draft4Validator(to_draft4(schema), validate_formats=True)
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, f"{value!r} is invalid against {schema!r}: {errors}"


# -- a strategy for random, satisfiable OpenAPI 3.0 schemas ---------------------------------------

PATTERNS = [
    r"^[a-f0-9]{40}$",
    r"^cpk_[0-9a-f]{32}$",
    r"^\d{4}-\d{2}$",
    r"^[A-Z]{2,3}$",
    r"^[a-z][a-z0-9_-]{2,15}$",
    r"^v\d+\.\d+\.\d+$",
    r"^\+?[1-9]\d{6,14}$",
    r"^(draft|published|archived)$",
    r"^[a-z]+(-[a-z]+)*$",
    r"^[^\s@]+@[^\s@]+\.[a-z]{2,}$",
    r"[0-9]+",
]
FORMATS = ["date-time", "date", "uuid", "email", "uri", "hostname", "ipv4", "ipv6", "byte",
           "binary", "password"]
PROPERTY_NAMES = ["id", "name", "email", "created_at", "tags", "count", "status", "url",
                  "description", "ownerId", "items", "price", "title", "version", "data"]
# Arbitrary JSON values as `example`/`default`: mostly invalid, which the generator must notice.
JSON_VALUES = ["abc", "", 5, -3, 2.5, True, None, {"a": 1}, [1, "x"], "2024-01-01", 0]

bounded = st.integers(-1000, 1000)


def maybe(draw: st.DrawFn, schema: dict, key: str, strategy: st.SearchStrategy) -> None:
    if draw(st.booleans()):
        schema[key] = draw(strategy)


@st.composite
def string_schemas(draw: st.DrawFn) -> dict:
    schema: dict = {"type": "string"}
    kind = draw(st.sampled_from(["plain", "format", "pattern", "enum"]))
    if kind == "plain":
        low = draw(st.integers(0, 30))
        maybe(draw, schema, "minLength", st.just(low))
        maybe(draw, schema, "maxLength", st.integers(max(low, 1), 60))
    elif kind == "format":
        schema["format"] = draw(st.sampled_from(FORMATS))
    elif kind == "pattern":
        schema["pattern"] = draw(st.sampled_from(PATTERNS))
    else:
        schema["enum"] = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1,
                                       max_size=4, unique=True))
    return schema


@st.composite
def integer_schemas(draw: st.DrawFn) -> dict:
    schema: dict = {"type": "integer"}
    maybe(draw, schema, "format", st.sampled_from(["int32", "int64"]))
    step = draw(st.sampled_from([None, 2, 5, 10, 0.5]))
    if step is not None:
        schema["multipleOf"] = step
    width = draw(st.integers(2 * int(step or 1) + 2, 2000))  # wide enough for a multiple
    low = draw(st.one_of(st.none(), bounded))
    high = draw(st.one_of(st.none(), st.just((low or 0) + width)))
    if low is not None:
        schema["minimum"] = low
        maybe(draw, schema, "exclusiveMinimum", st.booleans())
    if high is not None:
        schema["maximum"] = high
        maybe(draw, schema, "exclusiveMaximum", st.booleans())
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict:
    schema: dict = {"type": "number"}
    maybe(draw, schema, "format", st.sampled_from(["float", "double"]))
    step = draw(st.sampled_from([None, 0.5, 0.25, 0.1, 0.01, 3]))
    if step is not None:
        schema["multipleOf"] = step
    low = draw(st.one_of(st.none(), st.floats(-1000, 1000, allow_nan=False), bounded))
    if low is not None:
        schema["minimum"] = low
        maybe(draw, schema, "exclusiveMinimum", st.booleans())
    if draw(st.booleans()):
        width = draw(st.floats(2 * (step or 0.001) + 0.01, 5000))
        schema["maximum"] = (low or 0) + width
        maybe(draw, schema, "exclusiveMaximum", st.booleans())
    return schema


leaves = st.one_of(string_schemas(), integer_schemas(), number_schemas(),
                   st.just({"type": "boolean"}))


def arrays(children: st.SearchStrategy) -> st.SearchStrategy:
    @st.composite
    def build(draw: st.DrawFn) -> dict:
        if draw(st.booleans()):
            # uniqueItems only over item types that have plenty of distinct values.
            items = draw(st.sampled_from([{"type": "string"}, {"type": "integer"},
                                          {"type": "string", "format": "uuid"}]))
            low = draw(st.integers(0, 3))
            return {"type": "array", "items": items, "uniqueItems": True, "minItems": low,
                    "maxItems": low + draw(st.integers(0, 3))}
        schema = {"type": "array", "items": draw(children)}
        low = draw(st.integers(0, 3))
        maybe(draw, schema, "minItems", st.just(low))
        maybe(draw, schema, "maxItems", st.integers(low, 5))
        return schema
    return build()


def objects(children: st.SearchStrategy, names: list[str] = PROPERTY_NAMES,
            closed: bool = True) -> st.SearchStrategy:
    @st.composite
    def build(draw: st.DrawFn) -> dict:
        props = draw(st.dictionaries(st.sampled_from(names), children, max_size=5))
        schema: dict = {"properties": props}
        if draw(st.booleans()) or not props:
            schema["type"] = "object"  # else: inferred from `properties`
        if props:
            required = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
            if required:
                schema["required"] = required
            maybe(draw, schema, "maxProperties", st.integers(len(required), len(props)))
        extra = draw(st.sampled_from(["absent", "true", "false", "schema"] if closed
                                     else ["absent", "true"]))
        if extra == "schema":
            schema["additionalProperties"] = draw(children)
            if not props:
                del schema["properties"]  # a map type
        elif extra != "absent":
            schema["additionalProperties"] = extra == "true"
        return schema
    return build()


@st.composite
def all_of_objects(draw: st.DrawFn, children: st.SearchStrategy) -> dict:
    # Disjoint property names and no additionalProperties: false, so the parts are compatible.
    parts = [draw(objects(children, PROPERTY_NAMES[:7], closed=False)),
             draw(objects(children, PROPERTY_NAMES[7:], closed=False))]
    for part in parts:
        part.pop("maxProperties", None)  # each part's count is not the merged count
    return {"allOf": parts}


@st.composite
def all_of_bounds(draw: st.DrawFn) -> dict:
    low = draw(bounded)
    return {"allOf": [{"type": "integer", "minimum": low},
                      {"maximum": low + draw(st.integers(20, 500)), "multipleOf": 5},
                      {"exclusiveMinimum": True, "minimum": low - 3}]}


@st.composite
def one_of_tagged(draw: st.DrawFn, children: st.SearchStrategy) -> dict:
    """Branches told apart by a required `kind` enum, as real `oneOf`s are."""
    count = draw(st.integers(2, 3))
    branches = []
    for index in range(count):
        branch = draw(objects(children, PROPERTY_NAMES[1:], closed=False))
        branch["properties"] = {**branch.get("properties", {}),
                                "kind": {"type": "string", "enum": [f"k{index}"]}}
        branch["required"] = [*branch.get("required", []), "kind"]
        branch.pop("maxProperties", None)
        branches.append(branch)
    return {"oneOf": branches}


one_of_primitives = st.permutations([{"type": "string"}, {"type": "boolean"},
                                     {"type": "integer"}]).map(lambda bs: {"oneOf": list(bs)})


def extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(arrays(children), objects(children), all_of_objects(children),
                     one_of_tagged(children), one_of_primitives,
                     st.lists(children, min_size=1, max_size=3).map(lambda bs: {"anyOf": bs}))


@st.composite
def decorated(draw: st.DrawFn, base: st.SearchStrategy) -> dict:
    """Adds `nullable`, and `example`/`default` values that may or may not be valid."""
    schema = dict(draw(base))
    maybe(draw, schema, "nullable", st.just(True))
    if "format" not in schema:  # a random string could break a format the validator checks
        maybe(draw, schema, "example", st.sampled_from(JSON_VALUES))
        maybe(draw, schema, "default", st.sampled_from(JSON_VALUES))
    return schema


schemas = st.recursive(st.one_of(leaves, all_of_bounds()), lambda c: extend(decorated(c)),
                       max_leaves=12).flatmap(lambda s: decorated(st.just(s)))


@settings(max_examples=examples(quick=50, deep=200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas, seed=st.integers(0, 2**32), key=st.text(max_size=8))
def test_generated_values_are_valid(schema: dict, seed: int, key: str) -> None:
    assert_valid(schema, ExampleGenerator(seed).from_schema(schema, key=key))


@settings(max_examples=examples(quick=25, deep=100), deadline=None)
@given(schema=schemas, seed=st.integers(0, 2**32))
def test_output_depends_only_on_seed_and_key(schema: dict, seed: int) -> None:
    generator = ExampleGenerator(seed)
    first = generator.from_schema(schema, key="op")
    generator.from_schema(schema, key="other")  # an unrelated call in between changes nothing
    assert generator.from_schema(schema, key="op") == first
    assert ExampleGenerator(seed).from_schema(schema, key="op") == first


# -- determinism ----------------------------------------------------------------------------------

PET = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "integer", "format": "int64"},
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "created_at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
    },
}


def test_same_seed_and_key_give_the_same_body() -> None:
    assert ExampleGenerator(7).from_schema(PET, key="getPet") == \
        ExampleGenerator(7).from_schema(PET, key="getPet")


def test_different_seeds_or_keys_give_different_bodies() -> None:
    bodies = {json.dumps(ExampleGenerator(seed).from_schema(PET, key="getPet"))
              for seed in range(10)}
    assert len(bodies) == 10
    by_key = {json.dumps(ExampleGenerator(7).from_schema(PET, key=k)) for k in "abcdefghij"}
    assert len(by_key) == 10


def test_call_order_does_not_matter() -> None:
    forwards, backwards = ExampleGenerator(3), ExampleGenerator(3)
    keys = ["listPets", "getPet", "createPet"]
    ahead = {k: forwards.from_schema(PET, key=k) for k in keys}
    behind = {k: backwards.from_schema(PET, key=k) for k in reversed(keys)}
    assert ahead == behind


def test_no_seed_picks_one_and_stays_consistent() -> None:
    generator = ExampleGenerator()
    assert isinstance(generator.seed, int)
    assert generator.from_schema(PET, key="k") == generator.from_schema(PET, key="k")


def test_global_random_state_is_left_alone() -> None:
    import random
    random.seed(99)
    expected = random.random()
    random.seed(99)
    ExampleGenerator(1).from_schema(PET)
    assert random.random() == expected


# -- media types: explicit examples win -----------------------------------------------------------


def test_media_example_wins_over_examples_and_schema() -> None:
    media = {"example": {"id": 1}, "examples": {"a": {"value": {"id": 2}}}, "schema": PET}
    assert ExampleGenerator(1).for_media(media) == {"id": 1}


def test_media_first_examples_value_is_next() -> None:
    media = {"examples": {"ext": {"externalValue": "https://x.test/a.json"},
                          "first": {"value": {"id": 2}}, "second": {"value": {"id": 3}}},
             "schema": PET}
    assert ExampleGenerator(1).for_media(media) == {"id": 2}


def test_media_without_examples_is_generated_from_its_schema() -> None:
    body = ExampleGenerator(1).for_media({"schema": PET}, key="getPet")
    assert_valid(PET, body)
    assert body == ExampleGenerator(1).from_schema(PET, key="getPet")
    assert ExampleGenerator(1).for_media({}) is None


def test_media_example_is_a_copy() -> None:
    media = {"example": {"tags": ["a"]}}
    ExampleGenerator(1).for_media(media)["tags"].append("b")
    assert media["example"] == {"tags": ["a"]}


# -- schema keywords ------------------------------------------------------------------------------


def test_valid_schema_example_wins_then_default() -> None:
    generator = ExampleGenerator(1)
    assert generator.from_schema({"type": "string", "example": "Rex", "default": "x"}) == "Rex"
    assert generator.from_schema({"type": "string", "default": "x"}) == "x"
    schema = {"type": "object", "properties": {"name": {"type": "string", "example": "Rex"}}}
    assert generator.from_schema(schema) == {"name": "Rex"}


def test_null_example_is_valid_when_nullable() -> None:
    assert ExampleGenerator(1).from_schema({"type": "string", "nullable": True,
                                            "example": None}) is None
    assert ExampleGenerator(1).from_schema({"type": "string", "example": None}) is not None


def test_invalid_example_and_default_are_ignored() -> None:
    schema = {"type": "integer", "minimum": 10, "maximum": 20, "example": 5, "default": "ten"}
    for seed in range(20):
        value = ExampleGenerator(seed).from_schema(schema)
        assert isinstance(value, int) and 10 <= value <= 20


def test_enum_picks_a_member_and_avoids_null() -> None:
    schema = {"type": "string", "enum": ["cat", "dog", None], "nullable": True}
    values = {ExampleGenerator(seed).from_schema(schema) for seed in range(30)}
    assert values == {"cat", "dog"}


def test_nullable_values_are_not_null() -> None:
    obj = {"type": "object", "nullable": True, "properties": {"a": {"type": "integer"}}}
    for schema in ({"type": "string", "nullable": True}, obj):
        for seed in range(20):
            assert ExampleGenerator(seed).from_schema(schema) is not None


@pytest.mark.parametrize("seed", range(5))
def test_formats(seed: int) -> None:
    generator = ExampleGenerator(seed)

    def make(fmt: str) -> str:
        value = generator.from_schema({"type": "string", "format": fmt}, key=fmt)
        assert isinstance(value, str)
        return value

    assert uuid.UUID(make("uuid")).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", make("date-time"))
    assert dt.datetime.fromisoformat(make("date-time")).tzinfo is not None
    dt.date.fromisoformat(make("date"))
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", make("email"))
    assert make("uri").startswith(("http://", "https://"))
    ipaddress.IPv4Address(make("ipv4"))
    ipaddress.IPv6Address(make("ipv6"))
    base64.b64decode(make("byte"), validate=True)
    assert 0 < len(make("binary")) <= 64
    assert "." in make("hostname")


@pytest.mark.parametrize("pattern", PATTERNS + [r"^(ab|cd)\1$", r"^[^a-z]{3}x?$", r"^\w+\s\w+$"])
def test_patterns_are_matched(pattern: str) -> None:
    for seed in range(5):
        value = ExampleGenerator(seed).from_schema({"type": "string", "pattern": pattern})
        assert re.search(pattern, value), (pattern, value)


def test_pattern_is_stretched_to_length_bounds() -> None:
    schema = {"type": "string", "pattern": "^[a-z]+$", "minLength": 20, "maxLength": 25}
    value = ExampleGenerator(1).from_schema(schema)
    assert re.search("^[a-z]+$", value) and 20 <= len(value) <= 25


def test_string_lengths_are_respected() -> None:
    for low, high in ((0, 0), (1, 1), (30, 40), (100, None), (0, 3)):
        schema: dict = {"type": "string", "minLength": low}
        if high is not None:
            schema["maxLength"] = high
        value = ExampleGenerator(1).from_schema(schema, key=str(low))
        assert low <= len(value) <= (high if high is not None else 10**6)


def test_number_bounds_and_multiples() -> None:
    for seed in range(30):
        generator = ExampleGenerator(seed)
        assert generator.from_schema({"type": "integer", "minimum": 3, "maximum": 3}) == 3
        value = generator.from_schema({"type": "integer", "minimum": 1, "exclusiveMinimum": True,
                                       "maximum": 3, "exclusiveMaximum": True})
        assert value == 2
        assert generator.from_schema({"type": "integer", "multipleOf": 7}) % 7 == 0
        tenth = generator.from_schema({"type": "number", "multipleOf": 0.1, "maximum": 1})
        assert_valid({"type": "number", "multipleOf": 0.1, "maximum": 1}, tenth)
        tight = {"type": "number", "minimum": 0.1, "exclusiveMinimum": True, "maximum": 0.1001}
        assert_valid(tight, generator.from_schema(tight))


def test_values_look_plausible() -> None:
    body = ExampleGenerator(5).from_schema(PET)
    assert body["email"].count("@") == 1
    assert " " in body["name"]  # a person's name, not a random token
    assert 1 <= body["id"] <= 1000  # unbounded integers stay small
    assert set(body) == set(PET["properties"])  # optional properties included


def test_unique_items() -> None:
    schema = {"type": "array", "uniqueItems": True, "minItems": 3,
              "items": {"type": "string", "enum": ["a", "b", "c"], "example": "a"}}
    assert sorted(ExampleGenerator(1).from_schema(schema)) == ["a", "b", "c"]


def test_additional_properties_map_gets_an_entry() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    body = ExampleGenerator(1).from_schema(schema)
    assert len(body) == 1 and all(isinstance(v, int) for v in body.values())


# -- composition ----------------------------------------------------------------------------------


def test_all_of_is_merged() -> None:
    base = {"type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer", "minimum": 1}}}
    schema = {"allOf": [base, {"required": ["name"], "properties": {
        "name": {"type": "string"}, "id": {"maximum": 5}}}], "description": "Pet"}
    for seed in range(10):
        body = ExampleGenerator(seed).from_schema(schema)
        assert set(body) == {"id", "name"}
        assert 1 <= body["id"] <= 5
        assert_valid(schema, body)


def test_all_of_wrapper_keeps_the_parts_example() -> None:
    thing = {"type": "object", "properties": {"a": {"type": "string"}}, "example": {"a": "ok"}}
    assert ExampleGenerator(1).from_schema({"allOf": [thing], "description": "x"}) == {"a": "ok"}


def test_one_of_uses_the_first_branch() -> None:
    schema = {"oneOf": [{"type": "object", "required": ["cat"],
                         "properties": {"cat": {"type": "string"}}},
                        {"type": "integer"}]}
    assert set(ExampleGenerator(1).from_schema(schema)) == {"cat"}


def test_one_of_avoids_values_matching_two_branches() -> None:
    # Multiples of 6 match both branches, which oneOf forbids.
    schema = {"oneOf": [{"type": "integer", "multipleOf": 2, "minimum": 1, "maximum": 12},
                        {"type": "integer", "multipleOf": 3, "minimum": 1, "maximum": 12}]}
    for seed in range(30):
        value = ExampleGenerator(seed).from_schema(schema)
        assert (value % 2 == 0) != (value % 3 == 0), value


def test_any_of_uses_the_first_branch() -> None:
    schema = {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "integer"}]}
    uuid.UUID(ExampleGenerator(1).from_schema(schema))


CAT = {"type": "object", "title": "Cat", "required": ["petType"],
       "properties": {"petType": {"type": "string"}, "meows": {"type": "boolean"}}}
DOG = {"type": "object", "title": "Dog", "required": ["petType"],
       "properties": {"petType": {"type": "string"}, "barks": {"type": "boolean"}}}


@pytest.mark.parametrize("mapping", [
    {"dog": DOG, "kitty": CAT},  # the resolver resolved the mapping too: matched by identity
    {"dog": "#/components/schemas/Dog", "kitty": "#/components/schemas/Cat"},  # by title
])
def test_discriminator_mapping_names_the_chosen_branch(mapping: dict) -> None:
    schema = {"oneOf": [CAT, DOG], "discriminator": {"propertyName": "petType",
                                                     "mapping": mapping}}
    body = ExampleGenerator(1).from_schema(schema)
    assert body["petType"] == "kitty" and "meows" in body


def test_discriminator_mapping_by_position() -> None:
    cat = {k: v for k, v in CAT.items() if k != "title"}
    dog = {k: v for k, v in DOG.items() if k != "title"}
    schema = {"oneOf": [cat, dog], "discriminator": {"propertyName": "petType", "mapping": {
        "c": "#/components/schemas/Cat", "d": "#/components/schemas/Dog"}}}
    assert ExampleGenerator(1).from_schema(schema)["petType"] == "c"


def test_inherited_discriminator_names_the_subschema() -> None:
    pet = {"type": "object", "required": ["petType"], "properties": {"petType": {"type": "string"}},
           "discriminator": {"propertyName": "petType"}}
    cat = {"allOf": [pet, {"properties": {"meows": {"type": "boolean"}}}]}
    pet["discriminator"]["mapping"] = {"kitty": cat}
    assert ExampleGenerator(1).from_schema(cat)["petType"] == "kitty"


# -- recursion ------------------------------------------------------------------------------------


def test_self_referencing_schema_terminates_and_is_valid() -> None:
    node: dict = {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}}}
    node["properties"]["children"] = {"type": "array", "items": node}
    node["properties"]["parent"] = node
    node["properties"]["sibling"] = {"allOf": [node]}
    body = ExampleGenerator(1).from_schema(node)
    # The same shape written as JSON Schema with a real `$ref`.
    as_ref = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}},
        "parent": {"$ref": "#"}, "sibling": {"allOf": [{"$ref": "#"}]}}}
    assert jsonschema_rs.Draft4Validator(as_ref).is_valid(body)
    assert "parent" in body and len(json.dumps(body)) < 200_000


def test_required_cycle_stops() -> None:
    node: dict = {"type": "object", "required": ["next"], "properties": {}}
    node["properties"]["next"] = node
    body = ExampleGenerator(1).from_schema(node)
    depth = 0
    while isinstance(body, dict) and "next" in body:
        body, depth = body["next"], depth + 1
    assert depth < 100


def test_all_of_cycle_stops() -> None:
    schema: dict = {"type": "object", "properties": {"a": {"type": "integer"}}}
    schema["allOf"] = [schema]
    assert set(ExampleGenerator(1).from_schema(schema)) == {"a"}


def test_caches_stay_bounded_when_every_call_brings_fresh_schema_dicts(monkeypatch) -> None:
    from mockserver.engine import examples

    monkeypatch.setattr(examples, "CACHE_SIZE", 50)
    generator = ExampleGenerator(1)
    schema = {"allOf": [PET, {"properties": {"kind": {"type": "string", "example": "cat"}}}]}
    for _ in range(100):
        assert generator.from_schema(copy.deepcopy(schema), key="k")["kind"] == "cat"
    assert len(generator._validators._compiled._entries) <= 50
    assert len(generator._merged._entries) <= 50
