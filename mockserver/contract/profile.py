"""What `mockserver contract` knows about an API: its `Profile`, and the judgement of a schema-valid
request's refusal that the runner's own check and the contract tests share.

Each pack owns its profile (`mockserver/packs/<name>/contract.py`, a `profile()` function); this
module holds the shape, the rules every pack's profile is read by, and what FastAPI servers have in
common. Nothing here imports schemathesis: cases and responses are duck-typed (`case.meta`,
`case.operation.definition.raw`, `response.status_code`, `response.json()`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import re
import typing as t
from dataclasses import dataclass, field

from mockserver.engine.openapi import deref, operations

Case = t.Any  # schemathesis.Case
Response = t.Any  # schemathesis.Response
Check = t.Callable[[t.Any, Response, Case], None]

# Marks a spec as loaded by the runner (value: the profile's name and dialect), so the runner's own
# check (schemathesis runs the checks of its one registry) does nothing for anyone else's schema.
MARKER = "x-mockserver-contract-profile"


@dataclass(frozen=True)
class Profile:
    """What the runner knows about one API: everything API-specific lives here.

    - `dialect`: the pack's error dialect (`mockserver.packs.load_pack(name).dialect`); its
      `validation_status` (400 openai/control, 422 fastapi) is what negative data must get.
    - `auth_scheme` / `mock_credentials`: the security scheme the mock's well-known credential
      fills when no `--base-url` is given (the value: a schemathesis `auth.openapi` entry).
    - `checks`: schemathesis check settings beyond the common ones, each with its reason;
      `operation_checks`: the same for single operations (by operationId).
    - `transform`: the spec as schemathesis gets it, when the document as written misleads it.
    - `refusal`: for a schema-valid request answered with a documented 4xx other than 401, why
      that refusal is wrong (a message), or None when the API documents it for that request.
    - `validator_refusal`: whether a 422 for a schema-valid request is one of the API's validator
      refusals (rules a pydantic validator checks that no schema states).
    - `dictionaries` / `parameters`: schemathesis generation hints (values the API accepts).
    - `samples`: operationId -> a function that may turn a positive case into one the API
      accepts (half of them, so the generated ones still get through too).
    - `unexpected_methods`: the methods the coverage phase tries on paths that do not list them
      (None: schemathesis's list; `--allow-destructive` off always leaves out DELETE).
    - `unlisted_method`: how the API answers a method its path does not list (the coverage
      phase's probes): what is wrong with an answer, or None. For APIs whose real server does not
      answer them as schemathesis's unsupported_method expects (405 with an `Allow` header), which
      the profile then turns off; the runner checks this instead.
    - `hotkey`: whether `--chutes-hotkey-seed` applies.
    - `stateful_note`: said when `--stateful` is asked for.
    """

    name: str
    dialect: str
    auth_scheme: str | None = None
    mock_credentials: t.Callable[[], dict] | None = None
    checks: dict[str, dict] = field(default_factory=dict)
    operation_checks: dict[str, dict[str, dict]] = field(default_factory=dict)
    transform: t.Callable[[dict], dict] | None = None
    refusal: t.Callable[[Case, Response], str | None] | None = None
    validator_refusal: t.Callable[[Case, Response], bool] | None = None
    dictionaries: dict[str, dict] = field(default_factory=dict)
    parameters: dict[str, dict] = field(default_factory=dict)
    samples: dict[str, t.Callable[[Case], None]] = field(default_factory=dict)
    unexpected_methods: tuple[str, ...] | None = None
    unlisted_method: t.Callable[[Case, Response], str | None] | None = None
    hotkey: bool = False
    stateful_note: str | None = None

    @property
    def validation_status(self) -> int:
        from mockserver.engine.dialects import DIALECTS

        return DIALECTS[self.dialect].validation_status

    @property
    def lax(self) -> bool:
        """The server validates bodies as pydantic v2 does (lax mode) and refuses unreadable ones
        with 400: FastAPI's way."""
        from mockserver.engine.dialects import DIALECTS

        dialect = DIALECTS.get(self.dialect)
        return dialect is not None and dialect.lax_json


class UnknownApi(LookupError):
    """No pack of that name."""


def pack_profile(api: str) -> Profile:
    """The profile of the pack `api`, from `mockserver/packs/<api>/contract.py`, in the pack's
    dialect (the pack is the authority on it); a pack without one gets a profile that knows
    nothing beyond that dialect."""
    from mockserver.packs import AVAILABLE, load_pack

    if api not in AVAILABLE:
        raise UnknownApi(api)
    dialect = load_pack(api).dialect
    try:
        module = importlib.import_module(f"mockserver.packs.{api}.contract")
    except ModuleNotFoundError as error:
        if error.name != f"mockserver.packs.{api}.contract":
            raise
        return Profile(name=api, dialect=dialect)
    profile: Profile = module.profile()
    return profile if profile.dialect == dialect else _with_dialect(profile, dialect)


def _with_dialect(profile: Profile, dialect: str) -> Profile:
    return dataclasses.replace(profile, dialect=dialect)


@functools.lru_cache(maxsize=None)
def marked_profile(name: str, dialect: str) -> Profile:
    """The profile a spec's MARKER names (`spec`: a `--spec FILE` run, no API knowledge)."""
    return Profile(name="spec", dialect=dialect) if name == "spec" else pack_profile(name)


def mark(spec: dict, profile: Profile) -> dict:
    spec[MARKER] = {"name": profile.name, "dialect": profile.dialect}
    return spec


def profile_of_spec(raw_schema: t.Mapping) -> Profile | None:
    """The profile a spec loaded by the runner was marked with; None for anyone else's spec."""
    marker = raw_schema.get(MARKER)
    if not isinstance(marker, dict):
        return None
    return marked_profile(str(marker.get("name")), str(marker.get("dialect")))


# ================================================================================= the judgement

def refusal_problem(profile: Profile, case: Case, response: Response) -> str | None:
    """What is wrong with the answer to a schema-valid request, or None. It gets a 2xx or a refusal
    the operation documents for it. A documented 401 is wrong (the run's credentials are valid),
    unless its `detail` names a business rule the operation documents; so is the dialect's
    validation status where it means "invalid input" only (422), unless the profile counts it as a
    validator refusal; any other documented 4xx goes to the profile's `refusal`. 5xx and
    undocumented statuses are left to not_a_server_error and status_code_conformance, so each
    defect is reported once, by the check that names it."""
    status = response.status_code
    responses = case.operation.definition.raw.get("responses", {})
    documented = {int(code) for code in responses if str(code).isdigit()}
    if 200 <= status < 300 or not 400 <= status < 500 or status not in documented:
        return None
    if status == 422 and profile.validator_refusal is not None and profile.validator_refusal(case, response):
        return None
    if status == 401 and names_a_rule(responses.get("401", {}), response):
        return None
    if status == 401 or (status == 422 and profile.validation_status == 422):
        return f"schema-valid request answered {status}: {response.text[:300]}"
    problem = undocumented_text(case, response)
    if problem is not None:
        return problem
    return profile.refusal(case, response) if profile.refusal is not None else None


# ================================================================================= documented texts

# A placeholder in a documented text (`<name>`, `<True|False>`) or an elision (`...`).
_PLACEHOLDER = re.compile(r"<[^<>`]*>|\.\.\.|…")


def undocumented_text(case: Case, response: Response) -> str | None:
    """A refusal whose error text is none of the texts the operation documents for its status, or
    None. The texts are those a spec writes in backquotes, in the response's description or after
    the status in the operation's description (`-> 409 `Chute ... already exists``), placeholders
    (`<name>`) and elisions (`...`) matching anything. A status documented with no text, or an
    answer with no text (HEAD, a non-JSON page), is not judged here."""
    status = response.status_code
    spec = case.operation.schema.raw_schema
    raw = case.operation.definition.raw
    texts = documented_texts(raw, status, spec)
    said = error_text(response)
    if not texts or said is None:
        return None
    if any(text_pattern(text).fullmatch(said) or text_pattern(text).fullmatch(said.strip()) for text in texts):
        return None
    listed = "; ".join(f"`{text}`" for text in texts[:6])
    return f"refusal {status} with a text the operation does not document for {status}: {said[:200]!r} " \
           f"(documented: {listed})"


def documented_texts(operation: dict, status: int, spec: t.Mapping) -> list[str]:
    """The error texts an operation documents for a status (see `undocumented_text`)."""
    entry = deref((operation.get("responses") or {}).get(str(status), {}), spec)
    description = str(entry.get("description", "")) if isinstance(entry, dict) else ""
    found = re.findall(r"`([^`]+)`", description)
    for chain in re.findall(rf"\b{status}\s+(`[^`]+`(?:\s*,?\s*(?:or\s+)?`[^`]+`)*)",
                            str(operation.get("description", ""))):
        found += re.findall(r"`([^`]+)`", chain)
    texts = [_detail_of(re.sub(r"\s+", " ", text)) for text in found]  # a text may wrap in the YAML
    return list(dict.fromkeys(text for text in texts if _is_a_text(text)))


def _is_a_text(text: str) -> bool:
    """Whether a backquoted span is an error text. Not: a name in lower case (`detail`, `null`,
    `text/csv`), or one made only of placeholders (`<text>`), which would accept anything."""
    if re.fullmatch(r"[a-z_][\w./:-]*", text):
        return False
    return len(_PLACEHOLDER.sub("", text).strip()) >= 3


def _detail_of(text: str) -> str:
    """A documented text, or the message inside a documented body (`{"detail": "Not Found"}`)."""
    if text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            return text
        message = _message_of(body)
        if message is not None:
            return message
    return text


@functools.lru_cache(maxsize=1024)
def text_pattern(text: str) -> re.Pattern[str]:
    """A documented text as a pattern: literal, but for placeholders and elisions (anything), and
    `\\n`, which stands for a line break."""
    parts = _PLACEHOLDER.split(text.strip())
    literal = [re.escape(part).replace(re.escape("\\n"), "\n") for part in parts]
    return re.compile(".*?".join(literal), re.DOTALL)


def error_text(response: Response) -> str | None:
    """The text of an error answer: FastAPI's `detail`, OpenAI's `error.message`; None without one."""
    try:
        body = response.json()
    except (ValueError, AttributeError):
        return None
    return _message_of(body)


def _message_of(body: t.Any) -> str | None:
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else body.get("message")
    return message if isinstance(message, str) and message else None


def is_unlisted_method_probe(case: Case) -> bool:
    """A coverage-phase request with a method its path does not list."""
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    scenario = getattr(data, "scenario", None)
    return str(getattr(scenario, "value", scenario)) == "unspecified_http_method"


def names_a_rule(documented_401: t.Any, response: Response) -> bool:
    """A 401 that is a business rule, not bad credentials (Chutes' `POST /images/` for another
    user's name): the operation's own 401 names its `detail` text, in backquotes."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, str) and bool(detail) and f"`{detail}`" in str(documented_401)


def acceptance_check(profile: Profile) -> Check:
    """The judgement as a schemathesis check for `case.call_and_validate(additional_checks=...)`:
    schema-valid requests only, whatever spec they come from."""
    def documented_refusals_only(ctx: t.Any, response: Response, case: Case) -> None:
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return
        problem = refusal_problem(profile, case, response)
        if problem is not None:
            raise AssertionError(problem)

    return documented_refusals_only


# ================================================================================= FastAPI servers

UNREADABLE_BODY_DETAIL = "There was an error parsing the body"


def document_unreadable_json_bodies(spec: dict) -> dict:
    """FastAPI answers a JSON body that is not UTF-8 (-16, -32) text with a 400 `There was an error
    parsing the body` before anything else; upstream documents never say so. Schemathesis sends
    such bodies ("random bytes"), so each operation taking JSON gets that 400 documented."""
    for _path, _method, operation in operations(spec):
        content = (operation.get("requestBody") or {}).get("content") or {}
        if not any("json" in media for media in content):
            continue
        operation.setdefault("responses", {}).setdefault("400", {
            "description": f"The body is not text: `{{\"detail\": \"{UNREADABLE_BODY_DETAIL}\"}}`.",
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}}}})
    return spec


def unreadable_json_body(case: Case) -> bool:
    """A case whose JSON body is bytes that are not text in any encoding JSON allows."""
    if "json" not in (case.media_type or "") or not isinstance(case.body, (bytes, bytearray)):
        return False
    try:
        json.loads(bytes(case.body))
    except UnicodeDecodeError:
        return True
    except ValueError:
        return False
    return False


def _negative_only_in(case: Case, part: str) -> bool:
    """A negative case whose generated violations are all in one part of the request (`body`, `query`)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    return {str(getattr(location, "value", location)) for location, info in meta.components.items()
            if info.mode.is_negative} == {part}


def lax_valid_body(case: Case) -> bool:
    """A "negative" case whose only violation is a JSON body that pydantic v2's lax mode turns into
    a valid one (`0` for a boolean, `"30"` for an integer): a FastAPI server accepts it, rightly."""
    from mockserver.engine.lax import lax_value
    from mockserver.engine.schema import SchemaValidator

    if not _negative_only_in(case, "body") or "json" not in (case.media_type or ""):
        return False
    spec = case.operation.schema.raw_schema
    components = spec.get("components", {}).get("schemas", {})
    request_body = deref(case.operation.definition.raw.get("requestBody", {}), spec)
    schema = request_body.get("content", {}).get(case.media_type, {}).get("schema")
    if schema is None:
        return False
    converted = lax_value(case.body, schema, components)
    return converted is not case.body and SchemaValidator(schema, components).is_valid(converted)


def query_valid_as_sent(case: Case) -> bool:
    """A "negative" case whose only violation is a query value of the wrong type for a string
    parameter (a number for a tag): on the wire every query value is text, so the server reads a
    valid string and rightly accepts it. Parameters of other types are judged as generated."""
    from mockserver.engine.schema import SchemaValidator

    if not _negative_only_in(case, "query") or not isinstance(case.query, dict):
        return False
    spec = case.operation.schema.raw_schema
    components = spec.get("components", {}).get("schemas", {})
    declared = _query_parameters(case, spec)
    if any(parameter.get("required") and name not in case.query for name, parameter in declared.items()):
        return False
    for name, value in case.query.items():
        schema = declared.get(name, {}).get("schema")
        if not isinstance(schema, dict):
            return False
        validator = SchemaValidator(schema, components)
        if not (validator.is_valid(value) or validator.is_valid(_as_text(value, deref(schema, spec)))):
            return False
    return True


def _query_parameters(case: Case, spec: dict) -> dict[str, dict]:
    item = deref(spec.get("paths", {}).get(case.operation.path, {}), spec)
    found: dict[str, dict] = {}
    for raw in [*(item.get("parameters") or ()), *(case.operation.definition.raw.get("parameters") or ())]:
        parameter = deref(raw, spec)
        if isinstance(parameter, dict) and parameter.get("in") == "query":
            found[str(parameter.get("name"))] = parameter
    return found


def _as_text(value: t.Any, schema: dict) -> t.Any:
    """A scalar query value as the server reads it: text (one item, for an array parameter).
    Booleans, null and structures are left alone: their text depends on the client."""
    def text(item: t.Any) -> t.Any:
        return str(item) if isinstance(item, (str, int, float)) and not isinstance(item, bool) else item

    if isinstance(value, list):
        return [text(item) for item in value]
    return [text(value)] if schema.get("type") == "array" else text(value)


def detail_text(response: Response) -> str | None:
    """FastAPI's `{"detail": "<text>"}`: the text, or None for any other body."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) and detail else None
