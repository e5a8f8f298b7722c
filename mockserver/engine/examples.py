"""Response bodies for operations that have no hand-written handler.

`mockserver serve --spec any.yaml` answers every operation of a user's OpenAPI 3.0.x document, so
for each response it needs a body that is (1) valid against the response schema, (2) plausible to
a human reading it, and (3) reproducible: the same seed and key give the same body in any process
and whatever was generated before. Explicit examples in the document win; otherwise values are
generated from the schema with Faker and a `random.Random` seeded from `(seed, key)`, never from
global random state.

Validity is checked, not just hoped for: `example`/`default` values are only used when they
validate, `oneOf` values are checked not to match a sibling branch, and a generated body that
still fails (conflicting `allOf` patterns, say) is regenerated a few times under derived keys.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import math
import random
import re
import secrets
import string
import threading
import typing as t
import uuid
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

# `re._parser` is private, but it is the only parser of Python's own regex syntax in the standard
# library, and sampling from the parse tree is far cheaper and more predictable than
# hypothesis' `from_regex` (which is also not reproducible from a seed).
from re import _constants as sre
from re import _parser as sre_parse

import jsonschema_rs

from mockserver.engine.openapi import Bound, lower_bound, to_json_schema, upper_bound

__all__ = ["ExampleGenerator"]

SOFT_DEPTH = 6  # deeper than this: only required properties, only minItems items
HARD_DEPTH = 32  # deeper than this: give up (only a *required* cycle gets here; it has no value)
NODE_BUDGET = 2000  # values generated per body before it, too, only gets required parts
ATTEMPTS = 4  # whole-body regenerations before returning an invalid body anyway
DEFAULT_SPAN = 1000  # unbounded numbers are drawn from a window this wide, e.g. 1..1000
CACHE_SIZE = 4096  # schemas remembered (merged allOf, compiled validators) per generator

# Creating a Faker costs ~20 ms (and importing it ~40 ms); seeding one ~10 µs. One shared instance,
# made on first use and reseeded for every call under a lock, keeps generators cheap to create and
# output independent of other generators.
_LOCK = threading.RLock()


@lru_cache(maxsize=1)
def _faker() -> t.Any:
    from faker import Faker

    return Faker("en_US")

_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
_SIX_YEARS = 6 * 365 * 24 * 3600

Schema = dict[str, t.Any]


class ExampleGenerator:
    """Produces example bodies for OpenAPI 3.0 media types and schemas, reproducibly from a seed."""

    def __init__(self, seed: int | None = None) -> None:
        # No seed: pick one, so a single server run is still self-consistent (and loggable).
        self.seed = seed if seed is not None else secrets.randbits(32)
        self._validators = _ValidatorCache()
        self._merged: _IdentityCache[Schema] = _IdentityCache()

    def for_media(self, media: dict[str, t.Any], *, key: str = "") -> object:
        """Body for a resolved OpenAPI Media Type Object: its `example`, else the first of
        `examples` (their `value`), else generated from `schema`. `key` (e.g. the operationId)
        makes the output depend only on (seed, key), not on call order."""
        if "example" in media:
            return copy.deepcopy(media["example"])
        examples = media.get("examples")
        for example in examples.values() if isinstance(examples, dict) else ():
            if isinstance(example, dict) and "value" in example:  # `externalValue` ones are skipped
                return copy.deepcopy(example["value"])
        schema = media.get("schema")
        if not isinstance(schema, dict):
            return None
        return self.from_schema(schema, key=key)

    def from_schema(self, schema: dict[str, t.Any], *, key: str = "") -> object:
        """A value valid against a resolved (no $ref) OpenAPI 3.0 schema."""
        with _LOCK:
            first: object = None
            for attempt in range(ATTEMPTS):
                salt = f"{self.seed}:{key}" if attempt == 0 else f"{self.seed}:{key}:{attempt}"
                value = _Generation(self, random.Random(salt)).value(schema)
                if self._validators.is_valid(schema, value):
                    return value
                if attempt == 0:
                    first = value
            return first  # best effort: the schema is probably unsatisfiable

    # Merged schemas are cached: merging is not free, and the same merged dict coming back keeps
    # the validator cache (keyed by identity) effective for the schemas inside it.

    def _merged_all_of(self, schema: Schema) -> Schema:
        return self._merged.get(schema, -1, lambda: merge_all_of(schema))

    def _merged_branch(self, schema: Schema, kind: str, index: int) -> Schema:
        """`schema`'s `oneOf`/`anyOf` branch `index` with the schema's other keywords folded in."""
        def build() -> Schema:
            siblings = {k: v for k, v in schema.items() if k not in (kind, "discriminator")}
            branch = schema[kind][index]
            return merge_all_of({**siblings, "allOf": [branch]}) if siblings else branch
        return self._merged.get(schema, index, build)


V = t.TypeVar("V")


class _IdentityCache(t.Generic[V]):
    """Values computed from schema dicts, keyed by the dict's identity (schemas are unhashable
    and may be cyclic). Each entry keeps its dict alive so an id can't be reused while cached;
    the oldest entries go past CACHE_SIZE, so callers that build fresh schema dicts for every
    request cost time but not memory."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int], tuple[Schema, V]] = {}

    def get(self, schema: Schema, slot: int, build: t.Callable[[], V]) -> V:
        entry = self._entries.get((id(schema), slot))
        if entry is None or entry[0] is not schema:
            entry = (schema, build())
            self._entries[(id(schema), slot)] = entry
            if len(self._entries) > CACHE_SIZE:
                del self._entries[next(iter(self._entries))]
        return entry[1]


class _Generation:
    """One call's worth of generation: the seeded random source and the recursive walk."""

    def __init__(self, owner: ExampleGenerator, rng: random.Random) -> None:
        self.owner = owner
        self.rng = rng
        self.fake = _faker()
        self.fake.seed_instance(rng.getrandbits(64))
        self.nodes = 0  # values generated so far, against NODE_BUDGET

    def is_minimal(self, depth: int) -> bool:
        """Past the soft depth or the node budget: required parts only, so that recursive and
        wide schemas still give bodies of a readable size (and recursion ends)."""
        return depth >= SOFT_DEPTH or self.nodes > NODE_BUDGET

    def is_valid(self, schema: Schema, value: object) -> bool:
        return self.owner._validators.is_valid(schema, value)

    # -- dispatch ------------------------------------------------------------------------------

    def value(self, schema: object, depth: int = 0, name: str = "", fresh: bool = False) -> object:
        """A value for `schema`. `fresh` skips example/default (for uniqueItems retries)."""
        if not isinstance(schema, dict) or not schema:
            return self.text(name)  # `{}` or `true`: anything goes; a word reads best
        if depth > HARD_DEPTH:
            return _minimal(schema)
        self.nodes += 1
        original = schema
        if "allOf" in schema:
            schema = self.owner._merged_all_of(schema)
        if not fresh:
            for keyword in ("example", "default"):
                # Checked against the original: merging allOf is an approximation.
                if keyword in schema and self.is_valid(original, schema[keyword]):
                    return copy.deepcopy(schema[keyword])
        if "enum" in schema and schema["enum"]:
            return self.enum_member(schema)
        if "oneOf" in schema or "anyOf" in schema:
            return self.from_branches(schema, depth, name)
        value = self.typed(schema, depth, name)
        return self.with_own_discriminator(original, schema, value)

    def typed(self, schema: Schema, depth: int, name: str) -> object:
        kind = _schema_type(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth, name)
        if kind == "string":
            return self.string(schema, name)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.text(name)

    def enum_member(self, schema: Schema) -> object:
        # `nullable` enums list null too; bodies read better without it unless it's all there is.
        members = [m for m in schema["enum"] if m is not None] or schema["enum"]
        return copy.deepcopy(self.rng.choice(members))

    # -- composition ---------------------------------------------------------------------------

    def from_branches(self, schema: Schema, depth: int, name: str) -> object:
        """The first branch of `oneOf`/`anyOf` that yields a value; for `oneOf`, one that matches
        no sibling branch (a value matching two branches is invalid)."""
        kind = "oneOf" if "oneOf" in schema else "anyOf"
        branches = [b for b in schema[kind] if isinstance(b, dict)]
        if not branches:
            return self.typed({k: v for k, v in schema.items() if k != kind}, depth, name)
        fallback: object = None
        for index in range(len(schema[kind])):
            branch = schema[kind][index]
            if not isinstance(branch, dict):
                continue
            merged = self.owner._merged_branch(schema, kind, index)
            for roll in range(2 if kind == "oneOf" else 1):
                value = self.value(merged, depth, name, fresh=roll > 0)
                value = self.with_discriminator(schema, branch, merged, index, value)
                if kind == "anyOf" or self.matches_only(branches, branch, value):
                    return value
                if index == 0 and roll == 0:
                    fallback = value
        return fallback

    def matches_only(self, branches: list[Schema], chosen: Schema, value: object) -> bool:
        return not any(self.is_valid(b, value) for b in branches if b is not chosen)

    def with_discriminator(self, schema: Schema, branch: Schema, merged: Schema, index: int,
                           value: object) -> object:
        """Sets the discriminator property to the mapping key naming the chosen branch."""
        discriminator = schema.get("discriminator")
        if not isinstance(discriminator, dict) or not isinstance(value, dict):
            return value
        prop = discriminator.get("propertyName")
        branch_count = len(schema.get("oneOf") or schema.get("anyOf") or [])
        tag = _discriminator_tag(discriminator, branch, index, branch_count)
        if prop and tag is not None and not _pins_property(merged, prop):
            value[prop] = tag
        return value

    def with_own_discriminator(self, original: Schema, schema: Schema, value: object) -> object:
        """Inheritance style: `Cat: allOf: [Pet, ...]` where Pet's discriminator maps to Cat."""
        discriminator = schema.get("discriminator")
        if not isinstance(discriminator, dict) or not isinstance(value, dict):
            return value
        prop = discriminator.get("propertyName")
        for tag, target in (discriminator.get("mapping") or {}).items():
            if (target is original or _names_schema(target, original)) and prop:
                value[prop] = tag
                break
        return value

    # -- objects and arrays --------------------------------------------------------------------

    def object(self, schema: Schema, depth: int) -> dict[str, t.Any]:
        properties = schema.get("properties") or {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        extra = schema.get("additionalProperties")
        shallow = self.is_minimal(depth)
        out: dict[str, object] = {}
        # Every property by default: an example that shows all fields is the informative one.
        for prop, sub in properties.items():
            if not shallow or prop in required:
                out[prop] = self.value(sub, depth + 1, prop)
        for prop in required:
            if prop not in out:
                out[prop] = self.value(extra if isinstance(extra, dict) else {}, depth + 1, prop)
        wanted = schema.get("minProperties") or 0
        if isinstance(extra, dict) and not properties and not shallow:
            wanted = max(wanted, 1)  # a map type: show one entry
        if extra is not False:
            self.add_extra_entries(out, extra if isinstance(extra, dict) else {}, wanted, depth)
        return _drop_optional(out, required, schema.get("maxProperties"))

    def add_extra_entries(self, out: dict[str, t.Any], schema: Schema, wanted: int, depth: int) -> None:
        while len(out) < wanted:
            key = self.fake.word()
            while key in out:
                key += str(self.rng.randint(0, 9))
            out[key] = self.value(schema, depth + 1, key)

    def array(self, schema: Schema, depth: int, name: str) -> list[t.Any]:
        items = schema.get("items")
        low = schema.get("minItems") or 0
        high = schema.get("maxItems")
        if self.is_minimal(depth):
            count = low
        else:
            # 1-3 items near the top; deeper, one shows the shape without multiplying the size.
            count = max(low, self.rng.randint(1, 3) if depth < 3 else 1)
        if high is not None:
            count = min(count, high)
        item_name = name[:-1] if name.endswith("s") else name
        if not schema.get("uniqueItems"):
            return [self.value(items, depth + 1, item_name) for _ in range(count)]
        return self.unique_items(items, count, depth, item_name)

    def unique_items(self, items: t.Any, count: int, depth: int, name: str) -> list[t.Any]:
        out: list[t.Any] = []
        seen: set[object] = set()
        for attempt in range(count * 5 + 10):
            if len(out) == count:
                break
            value = self.value(items, depth + 1, name, fresh=attempt > 0)
            frozen = _freeze(value)
            if frozen not in seen:
                seen.add(frozen)
                out.append(value)
        return out

    # -- strings -------------------------------------------------------------------------------

    def string(self, schema: Schema, name: str) -> str:
        low = schema.get("minLength") or 0
        high = schema.get("maxLength")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            made = self.pattern_string(pattern, low, high)
            if made is not None:
                return made
        make = _FORMATS.get(schema.get("format") or "")
        if make is not None:
            for _ in range(5):  # lengths vary (emails, urls): a few tries usually fit
                text = make(self)
                if _fits(text, low, high):
                    return text
            return self.fit_length(text, low, high)
        return self.fit_length(self.text(name), low, high)

    def text(self, name: str) -> str:
        """Plausible free text: guided by the property name when it says what it holds."""
        hint = _name_hint(name)
        if hint is not None:
            return hint(self)
        return " ".join(self.fake.words(self.rng.randint(1, 3)))

    def fit_length(self, text: str, low: int, high: int | None) -> str:
        while len(text) < low:
            text = f"{text} {self.fake.word()}".lstrip()
        if high is not None and len(text) > high:
            trimmed = text[:high].rstrip()
            text = trimmed if len(trimmed) >= low else text[:high]
        return text

    def pattern_string(self, pattern: str, low: int, high: int | None) -> str | None:
        """A string `re.search`-matching `pattern` (JSON Schema patterns are unanchored), within
        the length bounds when possible; None when the pattern can't be sampled."""
        compiled, parsed = _parse_pattern(pattern)
        if compiled is None:
            return None
        matching: str | None = None
        for attempt in range(8):
            # Later attempts aim at the bounds: long repeats when too short, minimal when too long.
            sampler = _RegexSampler(self.rng, grow=_grow_for(attempt, low, high, matching))
            text = sampler.sample(parsed)
            if not compiled.search(text):
                continue
            if _fits(text, low, high):
                return text
            matching = matching or text
        if matching is None:
            return None
        return _stretch_to_fit(matching, compiled, low, high) or matching

    # -- numbers -------------------------------------------------------------------------------

    def integer(self, schema: Schema) -> int:
        low, high = _integer_bounds(schema)
        step = _integer_step(schema.get("multipleOf"))
        unit_low = None if low is None else -((-low) // step)  # ceil division
        unit_high = None if high is None else high // step
        return self.pick_in_window(unit_low, unit_high, max(1, DEFAULT_SPAN // step)) * step

    def number(self, schema: Schema) -> float:
        lower, upper = _lower_bound(schema), _upper_bound(schema)
        multiple = schema.get("multipleOf")
        if _is_number(multiple) and multiple > 0:
            return self.number_multiple(Decimal(str(multiple)), lower, upper)
        return self.number_free(lower, upper)

    def number_multiple(self, step: Decimal, lower: _Bound | None, upper: _Bound | None) -> float:
        # Decimal keeps 3 * 0.1 == 0.3, which is what a multipleOf check expects.
        unit_low = unit_high = None
        if lower is not None:
            unit_low = math.ceil(Decimal(str(lower.value)) / step)
            if lower.exclusive and unit_low * step == Decimal(str(lower.value)):
                unit_low += 1
        if upper is not None:
            unit_high = math.floor(Decimal(str(upper.value)) / step)
            if upper.exclusive and unit_high * step == Decimal(str(upper.value)):
                unit_high -= 1
        span = max(1, int(DEFAULT_SPAN / step))
        return float(self.pick_in_window(unit_low, unit_high, span) * step)

    def number_free(self, lower: _Bound | None, upper: _Bound | None) -> float:
        low = None if lower is None else float(lower.value)
        high = None if upper is None else float(upper.value)
        start, stop = _window(low, high, DEFAULT_SPAN, origin=0)

        def allowed(x: float) -> bool:
            return _bound_allows(lower, x, above=True) and _bound_allows(upper, x, above=False)

        raw = self.rng.uniform(start, stop)
        for candidate in (round(raw, 2), raw, (start + stop) / 2):
            if allowed(candidate):
                return candidate
        return raw  # an empty interval: nothing is allowed

    def pick_in_window(self, low: int | None, high: int | None, span: int) -> int:
        start, stop = _window(low, high, span)
        if start > stop:
            return start  # no value exists; stay close to the lower bound
        return self.rng.randint(start, stop)


# -- numeric bounds ------------------------------------------------------------------------------


# The bounds as openapi.py reads them, 3.0's boolean and 3.1's numeric exclusive ones alike.
_Bound = Bound
_lower_bound = lower_bound
_upper_bound = upper_bound


def _bound_allows(bound: _Bound | None, x: float, *, above: bool) -> bool:
    if bound is None:
        return True
    if above:
        return x > bound.value if bound.exclusive else x >= bound.value
    return x < bound.value if bound.exclusive else x <= bound.value


def _integer_bounds(schema: Schema) -> tuple[int | None, int | None]:
    lower, upper = _lower_bound(schema), _upper_bound(schema)
    low = high = None
    if lower is not None:
        low = math.floor(lower.value) + 1 if lower.exclusive else math.ceil(lower.value)
    if upper is not None:
        high = math.ceil(upper.value) - 1 if upper.exclusive else math.floor(upper.value)
    return low, high


def _integer_step(multiple: object) -> int:
    """Integers that are multiples of p/q (lowest terms) are exactly the multiples of p."""
    if not _is_number(multiple) or multiple <= 0:
        return 1
    return Fraction(str(multiple)).numerator


def _window(low: t.Any, high: t.Any, span: t.Any, origin: int = 1) -> tuple[int, int]:
    """A plausible part of [low, high] (either may be None): the `span` values from `origin` up
    when the bounds allow, else those at the end of the range nearest to them. Nobody reads 1e18
    or -2147483648 as an example."""
    start = origin if low is None else max(low, origin)
    if high is not None and start > high:  # the whole range lies below the origin
        start = high - (span - 1) if low is None else max(low, high - (span - 1))
    stop = start + (span - 1)
    return start, stop if high is None else min(high, stop)


def _is_number(value: object) -> t.TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- strings -------------------------------------------------------------------------------------


def _fits(text: str, low: int, high: int | None) -> bool:
    return len(text) >= low and (high is None or len(text) <= high)


def _date_time(gen: _Generation) -> str:
    moment = _EPOCH + dt.timedelta(seconds=gen.rng.randrange(_SIX_YEARS))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(gen: _Generation) -> str:
    return str(uuid.UUID(int=gen.rng.getrandbits(128), version=4))


_FORMATS: dict[str, t.Callable[[_Generation], str]] = {
    "date-time": _date_time,
    "date": lambda g: _date_time(g)[:10],
    "time": lambda g: _date_time(g)[11:],
    "uuid": _uuid,
    "email": lambda g: g.fake.email(),
    "uri": lambda g: g.fake.url(),
    "url": lambda g: g.fake.url(),
    "uri-reference": lambda g: g.fake.uri_path(),
    "hostname": lambda g: g.fake.hostname(),
    "ipv4": lambda g: g.fake.ipv4_public(),
    "ipv6": lambda g: g.fake.ipv6(),
    "byte": lambda g: base64.b64encode(g.fake.sentence().encode()).decode(),
    "binary": lambda g: g.fake.sha1()[:16],
    "password": lambda g: g.fake.password(length=12),
}

# Property-name hints for otherwise unconstrained strings, checked in order against the name's
# words (`createdAt` -> created, at). The last word decides most: `owner_email` is an email.
_NAME_HINTS: list[tuple[t.Callable[[list[str]], bool], t.Callable[[_Generation], str]]] = [
    (lambda w: w[-1] in ("email", "mail"), lambda g: g.fake.email()),
    (lambda w: w[-1] in ("url", "uri", "link", "href", "website", "homepage"), _FORMATS["uri"]),
    (lambda w: w[-1] == "id" or w[-1] == "uuid", _uuid),
    (lambda w: w[-1] == "at" or w[-1] in ("timestamp", "datetime"), _date_time),
    (lambda w: w[-1] == "date", _FORMATS["date"]),
    (lambda w: w[-2:] in (["first", "name"], ["given", "name"]), lambda g: g.fake.first_name()),
    (lambda w: w[-2:] in (["last", "name"], ["family", "name"]), lambda g: g.fake.last_name()),
    (lambda w: w[-1] in ("username", "login") or w[-2:] == ["user", "name"],
     lambda g: g.fake.user_name()),
    (lambda w: w[-2:] == ["file", "name"] or w[-1] == "filename", lambda g: g.fake.file_name()),
    (lambda w: w == ["name"] or w[-2:] == ["full", "name"], lambda g: g.fake.name()),
    (lambda w: w[-1] in ("phone", "mobile") or w[-2:] == ["phone", "number"],
     lambda g: g.fake.phone_number()),
    (lambda w: w[-1] == "city", lambda g: g.fake.city()),
    (lambda w: w[-1] == "country", lambda g: g.fake.country()),
    (lambda w: w[-1] in ("address", "street"), lambda g: g.fake.street_address()),
    (lambda w: w[-1] in ("zip", "zipcode", "postcode") or w[-2:] == ["postal", "code"],
     lambda g: g.fake.postcode()),
    (lambda w: w[-1] in ("company", "organization", "organisation"), lambda g: g.fake.company()),
    (lambda w: w[-1] == "currency", lambda g: g.fake.currency_code()),
    (lambda w: w[-1] in ("host", "hostname", "domain"), lambda g: g.fake.domain_name()),
    (lambda w: w[-1] == "ip", lambda g: g.fake.ipv4_public()),
    (lambda w: w[-1] == "slug", lambda g: g.fake.slug()),
    (lambda w: w[-1] in ("hash", "sha", "checksum", "digest"), lambda g: g.fake.sha1()),
    (lambda w: w[-1] == "version",
     lambda g: f"{g.rng.randint(0, 4)}.{g.rng.randint(0, 20)}.{g.rng.randint(0, 9)}"),
    (lambda w: w[-1] in ("description", "summary", "comment", "message", "bio", "text"),
     lambda g: g.fake.sentence()),
    (lambda w: w[-1] == "title", lambda g: g.fake.sentence(nb_words=4).rstrip(".")),
]


def _name_hint(name: str) -> t.Callable[[_Generation], str] | None:
    words = _name_words(name)
    if not words:
        return None
    for matches, make in _NAME_HINTS:
        if matches(words):
            return make
    return None


@lru_cache(maxsize=4096)
def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if w]


def _grow_for(attempt: int, low: int, high: int | None, seen: str | None) -> int:
    """How far unbounded repeats (`+`, `*`, `{2,}`) may extend on this attempt."""
    if attempt < 4 or seen is None:
        return 4
    if len(seen) < low:
        return low  # long enough for one repeat to cover the whole minimum on its own
    return 0


def _stretch_to_fit(text: str, compiled: re.Pattern[str], low: int, high: int | None) -> str | None:
    """Pad (repeating the first or last character) or truncate, keeping only what still matches."""
    candidates: list[str] = []
    if len(text) < low and text:
        missing = low - len(text)
        candidates += [text + text[-1] * missing, text[0] * missing + text]
    if high is not None and len(text) > high:
        candidates += [text[:high], text[len(text) - high:]]
    for candidate in candidates:
        if _fits(candidate, low, high) and compiled.search(candidate):
            return candidate
    return None


@lru_cache(maxsize=1024)
def _parse_pattern(pattern: str) -> tuple[re.Pattern[str] | None, t.Any]:
    try:
        return re.compile(pattern), sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None, None  # e.g. ECMA-only syntax like \p{L}


_DIGITS = string.digits
_WORD = string.ascii_letters + string.digits + "_"
_PRINTABLE = string.ascii_letters + string.digits + " -_.:/@+"
_CATEGORY_POOLS = {
    sre.CATEGORY_DIGIT: _DIGITS,
    sre.CATEGORY_NOT_DIGIT: string.ascii_letters,
    sre.CATEGORY_WORD: _WORD,
    sre.CATEGORY_NOT_WORD: " -.",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}


class _RegexSampler:
    """Samples a string from a parsed regex: literals, classes, repeats, groups, alternation and
    back-references. Anchors and lookarounds produce nothing; the caller checks the result."""

    def __init__(self, rng: random.Random, grow: int) -> None:
        self.rng = rng
        self.grow = grow
        self.groups: dict[int, str] = {}

    def sample(self, parsed: t.Iterable[tuple[t.Any, t.Any]]) -> str:
        return "".join(self.node(op, arg) for op, arg in parsed)

    def node(self, op: t.Any, arg: t.Any) -> str:
        if op is sre.LITERAL:
            return chr(arg)
        if op is sre.NOT_LITERAL:
            return self.rng.choice([c for c in _PRINTABLE if ord(c) != arg])
        if op is sre.ANY:
            return self.rng.choice(string.ascii_letters + string.digits)
        if op is sre.IN:
            return self.from_class(arg)
        if op is sre.BRANCH:
            return self.sample(self.rng.choice(arg[1]))
        if op is sre.SUBPATTERN:
            group, _add_flags, _del_flags, inner = arg
            text = self.sample(inner)
            if group is not None:
                self.groups[group] = text
            return text
        if op is sre.ATOMIC_GROUP:
            return self.sample(arg)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, inner = arg
            return "".join(self.sample(inner) for _ in range(self.repeat_count(low, high)))
        if op is sre.GROUPREF:
            return self.groups.get(arg, "")
        if op is sre.GROUPREF_EXISTS:
            group, yes, no = arg
            return self.sample(yes if group in self.groups else (no or []))
        return ""  # AT (anchors), ASSERT, ASSERT_NOT: zero-width

    def repeat_count(self, low: int, high: int) -> int:
        if high == sre.MAXREPEAT:
            high = low + self.grow
        return self.rng.randint(low, max(low, high)) if self.grow else low

    def from_class(self, items: list[tuple[t.Any, t.Any]]) -> str:
        if items and items[0][0] is sre.NEGATE:
            allowed = [c for c in _PRINTABLE if not _class_contains(items[1:], c)]
            return self.rng.choice(allowed) if allowed else ""
        # Weighted by size, so `[A-Za-z0-9._%+-]` reads mostly as letters and digits.
        weights = [_class_item_size(op, arg) for op, arg in items]
        op, arg = self.rng.choices(items, weights=weights)[0]
        if op is sre.LITERAL:
            return chr(arg)
        if op is sre.RANGE:
            return chr(self.rng.randint(*arg))
        if op is sre.CATEGORY:
            return self.rng.choice(_CATEGORY_POOLS.get(arg, "a"))
        return ""


def _class_item_size(op: t.Any, arg: t.Any) -> int:
    if op is sre.RANGE:
        low, high = int(arg[0]), int(arg[1])  # sre_parse's RANGE: two code points
        return high - low + 1
    if op is sre.CATEGORY:
        return len(_CATEGORY_POOLS.get(arg, "a"))
    return 1


def _class_contains(items: list[tuple[t.Any, t.Any]], char: str) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is sre.LITERAL and arg == code:
            return True
        if op is sre.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is sre.CATEGORY and char in _CATEGORY_POOLS.get(arg, ""):
            return True
    return False


# -- schema helpers ------------------------------------------------------------------------------

_STRING_KEYWORDS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_KEYWORDS = ("minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum")


def _schema_type(schema: Schema) -> str | None:
    """The schema's type, inferred from its keywords when `type` is missing."""
    declared = schema.get("type")
    if isinstance(declared, list):  # not 3.0, but seen in the wild
        declared = next((d for d in declared if d != "null"), "null" if declared else None)
    if isinstance(declared, str):
        return declared
    if any(k in schema for k in ("properties", "additionalProperties", "required",
                                 "minProperties", "maxProperties")):
        return "object"
    if any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
        return "array"
    if schema.get("format") in ("int32", "int64"):
        return "integer"
    if schema.get("format") in ("float", "double"):
        return "number"
    if any(k in schema for k in _STRING_KEYWORDS):
        return "string"
    if any(k in schema for k in _NUMBER_KEYWORDS):
        return "number"
    return None


def _minimal(schema: Schema) -> object:
    """The smallest value of the schema's type, for when recursion must stop."""
    return {"object": {}, "array": [], "string": "", "integer": 0, "number": 0,
            "boolean": False}.get(_schema_type(schema) or "", None)


def _drop_optional(out: dict[str, t.Any], required: list[str], max_properties: object) -> dict[str, t.Any]:
    if not isinstance(max_properties, int) or len(out) <= max_properties:
        return out
    for key in reversed(list(out)):
        if len(out) <= max_properties:
            break
        if key not in required:
            del out[key]
    return out


def _freeze(value: object) -> object:
    """A hashable stand-in that is equal exactly when JSON Schema's uniqueItems says so
    (1 == 1.0, but true != 1)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("dict", frozenset((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_freeze(v) for v in value))
    return value


def _discriminator_tag(discriminator: dict[str, t.Any], branch: Schema, index: int,
                       branch_count: int) -> str | None:
    """The `mapping` key naming `branch`: mapped to the very dict (a resolver that resolves the
    mapping too), to a `$ref` whose last segment is the branch's `title`, or by position when
    the mapping lists one key per branch. None when nothing says."""
    mapping: dict[str, t.Any] = discriminator.get("mapping") or {}
    for tag, target in mapping.items():
        if target is branch:
            return tag
    for tag, target in mapping.items():
        if _names_schema(target, branch):
            return tag
    if len(mapping) == branch_count and all(isinstance(v, str) for v in mapping.values()):
        return list(mapping)[index]
    title = branch.get("title")
    if not mapping and isinstance(title, str):
        return title  # implicit mapping: the schema's name
    return None


def _names_schema(target: object, schema: Schema) -> bool:
    title = schema.get("title")
    return isinstance(target, str) and isinstance(title, str) and target.rsplit("/", 1)[-1] == title


def _pins_property(branch: Schema, prop: str) -> bool:
    """Whether the branch fixes the discriminator property itself (an enum), which then wins."""
    sub = (branch.get("properties") or {}).get(prop)
    return isinstance(sub, dict) and bool(sub.get("enum"))


# -- allOf ---------------------------------------------------------------------------------------

_LOWER_LIMITS = ("minLength", "minItems", "minProperties")
_UPPER_LIMITS = ("maxLength", "maxItems", "maxProperties")


def merge_all_of(schema: Schema, _stack: tuple[int, ...] = ()) -> Schema:
    """One schema equivalent (as far as generation goes) to `schema` with its `allOf` flattened:
    properties and required united, bounds tightened, enums intersected. The schema's own
    keywords come first, so its `example` or `description` beat those of its parts."""
    stack = _stack + (id(schema),)
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or []:
        if not isinstance(part, dict) or id(part) in stack:
            continue  # a part that contains this schema again adds nothing new
        if "allOf" in part:
            part = merge_all_of(part, stack)
        merged = _merge_pair(merged, part)
    return merged


def _merge_pair(a: Schema, b: Schema) -> Schema:
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "properties":
            out[key] = _merge_properties(out[key], value)
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "type":
            out[key] = _merge_type(out[key], value)
        elif key in _LOWER_LIMITS:
            out[key] = max(out[key], value)
        elif key in _UPPER_LIMITS:
            out[key] = min(out[key], value)
        elif key == "enum":
            common = [v for v in out[key] if v in value]
            out[key] = common or out[key]
        elif key in ("items", "additionalProperties"):
            out[key] = _merge_subschemas(out[key], value)
        elif key == "multipleOf":
            out[key] = _lcm(out[key], value)
        elif key in ("uniqueItems", "nullable"):
            out[key] = bool(out[key] or value)
    _merge_numeric_bounds(out, a, b)
    return out


def _merge_properties(a: dict[str, t.Any], b: dict[str, t.Any]) -> dict[str, t.Any]:
    out = dict(a)
    for name, sub in b.items():
        out[name] = {"allOf": [out[name], sub]} if name in out and out[name] is not sub else sub
    return out


def _merge_type(a: object, b: object) -> object:
    if {a, b} == {"integer", "number"}:
        return "integer"
    return a


def _merge_subschemas(a: object, b: object) -> object:
    if a is False or b is False:
        return False
    if not isinstance(a, dict):
        return b
    if not isinstance(b, dict) or a is b:
        return a
    return {"allOf": [a, b]}


def _merge_numeric_bounds(out: Schema, a: Schema, b: Schema) -> None:
    """Keep the tighter of each pair of bounds, with its own exclusiveness."""
    for inclusive_key, exclusive_key, bound, tighter in (
            ("minimum", "exclusiveMinimum", _lower_bound, max),
            ("maximum", "exclusiveMaximum", _upper_bound, min)):
        bounds = [x for x in (bound(a), bound(b)) if x is not None]
        if not bounds:
            continue
        best = tighter(x.value for x in bounds)
        out[inclusive_key] = best
        out[exclusive_key] = any(x.exclusive for x in bounds if x.value == best)


def _lcm(a: object, b: object) -> object:
    if not (_is_number(a) and _is_number(b)) or a <= 0 or b <= 0:
        return a
    x, y = Fraction(str(a)), Fraction(str(b))
    value = Fraction(math.lcm(x.numerator, y.numerator), math.gcd(x.denominator, y.denominator))
    return int(value) if value.denominator == 1 else float(value)


# -- validation ----------------------------------------------------------------------------------

class _ValidatorCache:
    """Compiled draft-4 validators for OpenAPI 3.0 schema dicts, by identity."""

    def __init__(self) -> None:
        self._compiled: _IdentityCache[t.Any] = _IdentityCache()

    def is_valid(self, schema: Schema, value: object) -> bool:
        validator = self._compiled.get(schema, 0, lambda: _compile(schema))
        # A schema jsonschema-rs refuses (an ECMA-only regex, say) can't be checked: trust values.
        return validator is None or validator.is_valid(value)


def _compile(schema: Schema) -> t.Any:
    # Formats are checked (date-time, email, hostname, ipv4, ipv6, uri): a strict client checks
    # them too, so an `example` of "yesterday" for a date-time is not one to serve.
    # The translation terminates on cyclic (resolved recursive) schemas.
    try:
        return jsonschema_rs.Draft4Validator(to_json_schema(schema), validate_formats=True)
    except Exception:  # whatever jsonschema-rs rejects, we simply can't check against
        return None
