"""`mockserver contract`: run schemathesis over one of our specs against a server, for CI.

    mockserver contract --api NAME [--base-url URL] [--header 'Name: value' ...]
                        [--chutes-hotkey-seed HEX] [--max-examples N] [--seed S] [--stateful]
                        [--include-operation ID ...] [--exclude-operation ID ...]
                        [--junit FILE] [--json FILE] [--dry-run] [--allow-destructive] [--rate 10/s]

Without `--base-url` the target is the pack's mock, built in-process (ASGI, responses validated
against the spec, so an answer that breaks the spec comes back as a 500), called with the mock's
well-known credentials. With `--base-url` it is whatever server is there, called with the
credentials given (`--header`, `--chutes-hotkey-seed`) and nothing else.

What the run checks is schemathesis's: examples, coverage and fuzzing phases with positive and
negative data, and with `--stateful` the stateful phase built from the spec's OpenAPI links; every
answer goes through not_a_server_error, status_code_conformance, content_type_conformance,
response_headers_conformance, response_schema_conformance, negative_data_rejection,
missing_required_header, ignored_auth and the rest of the built-in checks that apply. Where a
check cannot fit an API's documented behaviour, the API's `Profile` changes it and says why: each
pack owns its profile (`mockserver/packs/<name>/contract.py`), and this module knows no API.
Only schemathesis's public API is used; its one global registry, of checks, gets the runner's
own two checks when a run starts (never at import): documented refusals of schema-valid requests
(`positive_data_acceptance_documented`: a documented status, and one of the texts the operation
documents for it) and the profile's answer to a method a path does not list
(`unlisted_method_as_documented`). Both do nothing for specs this runner did not load.

Exit status: 0 when every selected operation passed (or was skipped on purpose), 1 on any failure
or error, 2 when the run cannot start: a usage error (bad option, unknown API or operation id,
unreadable spec) or a `--base-url` where nothing answers (said in one line, within seconds).
"""

from __future__ import annotations

import contextlib
import random
import re
import sys
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from mockserver.contract.profile import (
    Case,
    Profile,
    Response,
    UnknownApi,
    document_unreadable_json_bodies,
    is_unlisted_method_probe,
    lax_valid_body,
    mark,
    pack_profile,
    profile_of_spec,
    query_valid_as_sent,
    refusal_problem,
)
from mockserver.engine.openapi import operations
from mockserver.engine.resources import read_yaml, specs_dir

DEFAULT_MAX_EXAMPLES = 25
# Headers, query parameters and body fields whose values are secrets, masked (by exact name, any
# case) in the requests a report shows when the target is a real server: credentials, and Chutes'
# request signature.
SECRET_KEYS = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
               "api_key", "apikey", "x-chutes-signature", "password", "passwd", "secret", "client_secret",
               "access_token", "refresh_token", "private_key")
# schemathesis also masks every key *containing* one of its markers (`key`, `token`, `auth`: so
# `api_key_ids`, `max_tokens`), and reads an empty list as "the defaults"; a NUL is in no key.
NO_MARKER = "\x00"
# How long the target may take to accept a connection before the run gives up on it.
CONNECT_TIMEOUT = 3.0


class UsageError(Exception):
    """A bad option or input: exit status 2."""


# ============================================================================== profiles

def profile_for(api: str | None, spec_dialect: str) -> Profile:
    """The API's profile (its pack's `contract.py`); for `--spec FILE` a generic one (no
    API-specific knowledge) in the dialect given."""
    if api is None:
        return Profile(name="spec", dialect=spec_dialect)
    try:
        return pack_profile(api)
    except UnknownApi:
        from mockserver.packs import AVAILABLE

        raise UsageError(f"unknown API {api!r}; available: {', '.join(AVAILABLE)}") from None


# ============================================================================== the runner's own check

def positive_data_acceptance_documented(ctx: t.Any, response: Response, case: Case) -> bool | None:
    """Replaces schemathesis's positive_data_acceptance for the specs this runner loads: a
    schema-valid request gets a 2xx or a refusal the operation documents for it, as the spec's
    profile judges (`mockserver.contract.profile.refusal_problem`). Registered with schemathesis
    when a run starts (its engine runs the checks of its one registry); for a spec this runner did
    not load (no MARKER) it does nothing."""
    profile = profile_of_spec(case.operation.schema.raw_schema)
    if profile is None or case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    problem = refusal_problem(profile, case, response)
    if problem is not None:
        raise AssertionError(problem)
    return None


def unlisted_method_as_documented(ctx: t.Any, response: Response, case: Case) -> bool | None:
    """For APIs whose profile says how their server answers a method a path does not list
    (`Profile.unlisted_method`), the coverage phase's probes get that answer. Registered
    for one run with the check above (`_runner_checks`); does nothing for other specs."""
    profile = profile_of_spec(case.operation.schema.raw_schema)
    if profile is None or profile.unlisted_method is None or not is_unlisted_method_probe(case):
        return None
    problem = profile.unlisted_method(case, response)
    if problem is not None:
        raise AssertionError(problem)
    return None


@contextlib.contextmanager
def _runner_checks() -> t.Iterator[None]:
    """The runner's own checks, in schemathesis's check registry for the length of one run.

    schemathesis's engine runs the checks of that registry, and it is process-wide: every schema
    in the process, a test suite's own schemathesis tests included, reads its checks from it. Left
    registered after a run, the checks would judge (and fail) their cases by this runner's rules.
    A run inside another run (none today) finds them registered and leaves them to the outer one."""
    import schemathesis
    from schemathesis.checks import CHECKS

    checks = (positive_data_acceptance_documented, unlisted_method_as_documented)  # looked up now: tests spy on them
    names = [check.__name__ for check in checks]
    if names[0] in CHECKS.get_all_names():
        yield
        return
    for check in checks:
        schemathesis.check(check)
    try:
        yield
    finally:
        for name in names:
            CHECKS.unregister(name)


def _lax_cases_are_valid(ctx: t.Any, case: Case, response: Response) -> None:
    """An after_call hook (it runs before the checks): a "negative" case that pydantic's lax mode
    makes valid is a valid request to a FastAPI server (it accepts `0` for a boolean), and so is
    one whose wrong-typed query value is valid text on the wire; each is judged as valid."""
    from schemathesis import GenerationMode

    if lax_valid_body(case) or query_valid_as_sent(case):
        case.meta.generation.mode = GenerationMode.POSITIVE


# ============================================================================== options

@dataclass
class Options:
    api: str | None = None
    spec: Path | None = None
    spec_dialect: str = "fastapi"
    base_url: str | None = None
    headers: list[str] = field(default_factory=list)
    chutes_hotkey_seed: str | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    stateful: bool = False
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    junit: Path | None = None
    json: Path | None = None
    dry_run: bool = False
    allow_destructive: bool = False
    rate: str | None = None
    out: t.TextIO = field(default_factory=lambda: sys.stdout)


def parse_headers(values: t.Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip() or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
            raise UsageError(f"--header {value!r}: expected 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


# ============================================================================== the spec and its operations

@dataclass
class SpecOperation:
    method: str
    path: str
    operation_id: str | None
    raw: dict

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def requires_auth(self, spec: dict) -> bool:
        security = self.raw.get("security", spec.get("security", []))
        return bool(security) and all(requirement for requirement in security)


def load_contract_spec(options: Options, profile: Profile) -> tuple[dict, Path]:
    """The spec as schemathesis gets it: read (`--spec FILE` or the pack's), checked to be OpenAPI
    3.x, changed by the profile's `transform`, and marked with the profile that judges it."""
    path = options.spec if options.spec is not None else specs_dir() / f"{options.api}.yaml"
    try:
        spec = read_yaml(path)  # libyaml's parser: the pure-Python one takes seconds on a large spec
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not YAML: {error}") from None
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.") or \
            not isinstance(spec.get("paths"), dict):
        raise UsageError(f"{path}: not an OpenAPI 3.x document")
    if profile.transform is not None:
        spec = profile.transform(spec)
    if profile.lax:
        spec = document_unreadable_json_bodies(spec)
    return mark(spec, profile), path


def operations_of(spec: dict) -> list[SpecOperation]:
    return [SpecOperation(method.upper(), path, operation.get("operationId"), operation)
            for path, method, operation in operations(spec)]


# Verbs that, as a whole word of an operationId or a path segment, name an operation that destroys
# or drops something on the target: deleting, clearing, pruning, resetting, removing, cancelling
# (someone's queued work), emptying (a cache).
DESTRUCTIVE_VERBS = frozenset({"delete", "clear", "prune", "reset", "remove", "purge", "wipe", "erase",
                               "destroy", "cancel", "empty"})
# Safe methods (RFC 9110 9.2.1) only read: a GET that lists or exports never destroys anything,
# whatever its name says.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def words(text: str) -> list[str]:
    """The words of an identifier or path: split at anything not a letter or digit and at
    camelCase humps (`deleteItem`, `delete_all_except_current`, `/batch/delete`), lower case."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return [word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word]


def destructive_reason(operation: SpecOperation) -> str | None:
    """Why the operation is left out unless `--allow-destructive`, or None. By method first: a
    DELETE is destructive, a safe method never is; any other method is when its operationId or a
    segment of its path has a destructive verb as a whole word (`reset_hf_token`, `.../prune`, not
    `style_preset`)."""
    if operation.method == "DELETE":
        return "destructive: DELETE (use --allow-destructive)"
    if operation.method in SAFE_METHODS:
        return None
    literal_path = re.sub(r"\{[^}]*\}", "", operation.path)  # a parameter's name says nothing
    for where, text in (("operationId", operation.operation_id or ""), ("path", literal_path)):
        verb = next((word for word in words(text) if word in DESTRUCTIVE_VERBS), None)
        if verb is not None:
            return f"destructive: {operation.method} whose {where} says {verb!r} (use --allow-destructive)"
    return None


@dataclass
class Selection:
    run: list[SpecOperation]
    skipped: list[tuple[SpecOperation, str]]


def selection_counts(selection: Selection) -> str:
    """The counts the header states, in the footer's terms: the operations selected (the spec's,
    less --include/--exclude), those to test, those left out on purpose."""
    total = len(selection.run) + len(selection.skipped)
    return (f"{total} operations selected: {len(selection.run)} to test, {len(selection.skipped)} "
            "left out on purpose")


def select(operations: list[SpecOperation], spec: dict, options: Options, headers: dict[str, str]) -> Selection:
    def find(key: str, flag: str) -> SpecOperation:
        for op in operations:
            if key in (op.operation_id, op.label):
                return op
        raise UsageError(f"{flag} {key!r}: no such operation in the spec (operationId or 'METHOD /path')")

    chosen = operations
    if options.include:
        wanted = {find(key, "--include-operation").label for key in options.include}
        chosen = [op for op in chosen if op.label in wanted]
    if options.exclude:
        unwanted = {find(key, "--exclude-operation").label for key in options.exclude}
        chosen = [op for op in chosen if op.label not in unwanted]
    if not chosen:
        raise UsageError("--include-operation/--exclude-operation leave no operation to test")
    run, skipped = [], []
    hotkey_only = options.chutes_hotkey_seed is not None and "authorization" not in {h.lower() for h in headers}
    from mockserver.contract import signing

    for op in chosen:
        reason = None if options.allow_destructive else destructive_reason(op)
        if reason is None and hotkey_only and op.requires_auth(spec) and not signing.can_sign(op.raw, op.method):
            reason = ("hotkey signatures cannot authenticate a GET/DELETE without a signature purpose "
                      "(the server answers 401); give an API key with --header to test it")
        if reason is None:
            run.append(op)
        else:
            skipped.append((op, reason))
    return Selection(run, skipped)


# ============================================================================== running

def run(options: Options) -> int:
    try:
        return _run(options)
    except UsageError as error:
        print(f"mockserver contract: {error}", file=sys.stderr)
        return 2


def _run(options: Options) -> int:
    out = options.out
    if (options.api is None) == (options.spec is None):
        raise UsageError("give --api NAME or --spec FILE")
    if options.max_examples < 1:
        raise UsageError("--max-examples must be at least 1")
    profile = profile_for(options.api, options.spec_dialect)
    headers = parse_headers(options.headers)
    hotkey = None
    if options.chutes_hotkey_seed is not None:
        if not profile.hotkey:
            raise UsageError(f"--chutes-hotkey-seed applies to the chutes API, not {profile.name}")
        from mockserver.contract.signing import Hotkey, SeedError

        try:
            hotkey = Hotkey.from_seed(options.chutes_hotkey_seed)
        except SeedError as error:
            raise UsageError(str(error)) from None
    base_url = _base_url(options.base_url) if options.base_url else None
    if options.rate is not None:
        _check_rate(options.rate)
    spec, spec_path = load_contract_spec(options, profile)
    selection = select(operations_of(spec), spec, options, headers)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    target = base_url or "the in-process mock"

    if options.dry_run:
        _print_dry_run(out, profile, spec_path, target, selection)
        return 0

    try:
        import schemathesis  # noqa: F401
    except ImportError:
        raise UsageError("schemathesis is not installed (pip install 'mockserver[test]')") from None
    if base_url is not None:
        check_reachable(base_url)
    from mockserver.contract import report as reporting

    credentials = _credentials(profile, base_url, headers, hotkey)
    schema = _schema(spec, profile, options, base_url, headers, seed, selection, hotkey)
    # In spec order: the operations run and the ones skipped on purpose.
    listed = {op.label for op in selection.run} | {op.label for op, _ in selection.skipped}
    operations = {op.label: reporting.Operation(op.method, op.path, op.operation_id)
                  for op in operations_of(spec) if op.label in listed}
    for op, reason in selection.skipped:
        operations[op.label].skip_reason = reason
        operations[op.label].announced = True
    api = _api_name(profile, spec_path)
    result = reporting.Report(api=api, target=target, spec=str(spec_path), seed=seed,
                              max_examples=options.max_examples, stateful=options.stateful, operations=operations)
    print(f"mockserver contract: {api} ({spec_path.name}) against {target}; seed {seed}, "
          f"{options.max_examples} examples per operation{', stateful' if options.stateful else ''}"
          f"{', ' + credentials if credentials else ''}", file=out)
    print(f"  {selection_counts(selection)}", file=out)
    if options.stateful and profile.stateful_note:
        print(f"  note: {profile.stateful_note}", file=out)
    for op, reason in selection.skipped:
        print(f"  skip  {op.label}  [{op.operation_id}]  {reason}" if op.operation_id
              else f"  skip  {op.label}  {reason}", file=out)
    out.flush()

    started = time.monotonic()
    if selection.run:
        _execute(schema, result, out)
    else:
        print("  nothing to test: every selected operation was skipped", file=out)
    result.duration = time.monotonic() - started

    print(reporting.summary(result), file=out)
    if options.junit is not None:
        reporting.write_junit(result, options.junit)
    if options.json is not None:
        reporting.write_json(result, options.json)
    out.flush()
    return result.exit_code


def _execute(schema: t.Any, result: t.Any, out: t.TextIO) -> None:
    from schemathesis.engine import events, from_schema
    from schemathesis.engine.run import PhaseName

    from mockserver.contract import report as reporting

    collector = reporting.Collector(result)
    with _runner_checks():
        stream = from_schema(schema).execute()
        try:
            for event in stream:
                for kind, op in collector.handle(event):
                    print(reporting.progress_line(kind, op), file=out, flush=True)
                if isinstance(event, events.PhaseStarted) and event.phase.name == PhaseName.STATEFUL_TESTING \
                        and event.phase.is_enabled:
                    print("  stateful phase (OpenAPI links):", file=out, flush=True)
        except KeyboardInterrupt:
            stream.stop()
            result.run_errors.append("interrupted")


def _print_dry_run(out: t.TextIO, profile: Profile, spec_path: Path, target: str, selection: Selection) -> None:
    print(f"mockserver contract --dry-run: {_api_name(profile, spec_path)} ({spec_path.name}) against {target}: "
          "nothing is sent.", file=out)
    print(f"{selection_counts(selection)}. Would test {len(selection.run)}:", file=out)
    for op in selection.run:
        print(f"  {op.label:<58} {op.operation_id or ''}", file=out)
    if selection.skipped:
        print(f"Would skip {len(selection.skipped)}:", file=out)
        for op, reason in selection.skipped:
            print(f"  {op.label:<58} {op.operation_id or '':<40} {reason}", file=out)


def _api_name(profile: Profile, spec_path: Path) -> str:
    """The API's name in reports: the pack's, or the file's for `--spec FILE`."""
    return spec_path.stem if profile.name == "spec" else profile.name


def _base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--base-url {url!r}: expected an http(s) URL")
    return url.rstrip("/")


def check_reachable(base_url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail at once, in one line, when nothing answers at `base_url`: otherwise every operation
    would wait out its own connection errors. Any HTTP answer (a 404 too) means a server is there;
    the probe goes as the run's requests do (the same library, proxies from the environment)."""
    import requests

    try:
        requests.head(base_url, timeout=(timeout, timeout * 3), allow_redirects=False)
    except requests.exceptions.ConnectTimeout:
        raise UsageError(f"cannot reach {base_url}: no connection within {timeout:g} s") from None
    except requests.exceptions.ConnectionError as error:
        raise UsageError(f"cannot reach {base_url}: {_connection_problem(error)}") from None
    except requests.exceptions.ReadTimeout:
        return  # connected: a server is there, slow to answer a HEAD; the run will tell more
    except requests.exceptions.RequestException as error:
        raise UsageError(f"cannot reach {base_url}: {type(error).__name__}") from None


def _connection_problem(error: Exception) -> str:
    """The root cause of a connection error in a few words (`Connection refused`, `Name or
    service not known`), not urllib3's nested reprs."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = t.cast(BaseException, cause.__cause__ or cause.__context__)
    text = str(cause)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    if match:
        return match.group(1).strip()
    return text.split(": ")[-1][:120] or type(cause).__name__


def _check_rate(rate: str) -> None:
    """schemathesis's rate grammar: a count per second, minute, hour or day."""
    match = re.fullmatch(r"\s*(-?\d+)/([smhd])", rate)
    if match is None:
        raise UsageError(f"--rate {rate!r}: expected N/s, N/m, N/h or N/d (e.g. 10/s)")
    if int(match.group(1)) < 1:
        raise UsageError(f"--rate {rate!r}: the limit must be at least 1")


def _with_server_path(base_url: str, spec: dict) -> str:
    """`--base-url` names the server; the spec's own server path (`/v1` for openai_usage) is added
    unless the URL already ends with it."""
    servers = spec.get("servers") or [{"url": "/"}]
    server_path = urlparse(str(servers[0].get("url", "/"))).path.rstrip("/")
    if server_path and not urlparse(base_url).path.rstrip("/").endswith(server_path):
        return base_url + server_path
    return base_url


def _credentials(profile: Profile, base_url: str | None, headers: dict[str, str], hotkey: t.Any) -> str:
    """How the run authenticates, in words (for the header line)."""
    if hotkey is not None:
        return f"hotkey {hotkey.ss58}"
    if any(name.lower() == "authorization" for name in headers):
        return "credentials from --header"
    if base_url is None and profile.mock_credentials is not None:
        return "the mock's fixture credentials"
    if base_url is not None and profile.auth_scheme is not None:
        print("mockserver contract: warning: no credentials (--header 'Authorization: ...'"
              f"{' or --chutes-hotkey-seed' if profile.hotkey else ''}): operations that require them "
              "will answer 401 and fail", file=sys.stderr)
    return ""


def _schema(spec: dict, profile: Profile, options: Options, base_url: str | None, headers: dict[str, str],
            seed: int, selection: Selection, hotkey: t.Any) -> t.Any:
    import schemathesis
    from schemathesis.config import ConfigError, CoveragePhaseConfig, SchemathesisConfig

    in_process = base_url is None
    data: dict[str, t.Any] = {
        "seed": seed,
        # A CI run is stateless: no replay of an earlier run's cases, no files left behind.
        "cache": {"enabled": False},
        "generation": {
            "mode": "all", "max-examples": options.max_examples, "database": "none",
            # Credentials are not generated as parameters: with them in, about half of the negative
            # budget goes to dropping or mangling the key, which gives a 401 and says nothing about
            # the operation's own parameters. `ignored_auth` covers authentication instead.
            "with-security-parameters": False,
        },
        "phases": {
            "stateful": {"enabled": options.stateful},
            # The coverage phase also sends methods a path does not list (for unsupported_method):
            # never DELETE unless destructive requests are allowed; a real server may well have a
            # DELETE route there that the spec does not describe.
            "coverage": {"unexpected-methods": [
                method for method in (profile.unexpected_methods if profile.unexpected_methods is not None
                                      else sorted(CoveragePhaseConfig().unexpected_methods))
                if options.allow_destructive or method != "delete"]},
        },
        # Reports show requests as sent against the in-process mock (its credentials are public
        # fixtures); against a real server, the secrets (SECRET_KEYS, by exact name) are masked
        # and nothing else, so the curl commands still replay (`api_key_ids=[...]` is no secret).
        "output": {"sanitization": {"enabled": not in_process, "keys-to-sanitize": list(SECRET_KEYS),
                                    "sensitive-markers": [NO_MARKER]}},
        "checks": {
            # Invalid input must get the dialect's validation status (400 OpenAI, 422 FastAPI) and
            # nothing else: neither another 4xx nor a 5xx (which the default list allows).
            # FastAPI refuses a JSON body that is not text with a 400 before validating anything.
            "negative_data_rejection": {"expected-statuses": [str(profile.validation_status)] + (
                ["400"] if profile.lax else [])},
            # The built-in check counts every 4xx for schema-valid input as a failure unless listed,
            # and listing them lets them pass anywhere; `positive_data_acceptance_documented` above
            # replaces it (documented refusals only, judged by the profile).
            "positive_data_acceptance": {"enabled": False},
            **profile.checks,
        },
        "workers": 1,
    }
    if profile.operation_checks:
        data["operations"] = [{"include-operation-id": operation_id, "checks": checks}
                              for operation_id, checks in profile.operation_checks.items()]
    if profile.dictionaries:
        data["dictionaries"] = profile.dictionaries
        data["parameters"] = profile.parameters
    if base_url is not None:
        data["base-url"] = _with_server_path(base_url, spec)
    if headers:
        data["headers"] = headers
    if options.rate:
        data["rate-limit"] = options.rate
    explicit_auth = hotkey is not None or any(name.lower() == "authorization" for name in headers)
    if in_process and not explicit_auth and profile.mock_credentials is not None:
        data["auth"] = {"openapi": profile.mock_credentials()}
    try:
        config = SchemathesisConfig.from_dict(data)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    schema: t.Any = schemathesis.openapi.from_dict(spec, config=config)
    # An exclude, not an include: schemathesis ORs include filters, and the per-operation check
    # settings (`operations` above) come with an include of their own that matches everything. It
    # names the spec's operations left out, by method and path: the coverage phase also asks it
    # about methods a path does not list (label-less), and those must stay allowed.
    selected = {op.label for op in selection.run}
    left_out = {op.label for op in operations_of(spec)} - selected
    schema = schema.exclude(lambda ctx: f"{ctx.operation.method.upper()} {ctx.operation.path}" in left_out)
    if in_process:
        schema.app = _mock_app(profile, options, seed)
    if hotkey is not None:
        from mockserver.contract.signing import HotkeyAuthProvider

        schema.auth.providers.append(HotkeyAuthProvider(hotkey))
    if profile.samples:
        samples = profile.samples

        def map_case(context: t.Any, case: t.Any) -> t.Any:
            sample = samples.get(case.operation.definition.raw.get("operationId"))
            if sample is not None and case.meta is not None and case.meta.generation.mode.is_positive:
                sample(case)
            return case

        schema.hooks.register_hook_with_name(map_case, "map_case")
    if profile.lax:
        # On this schema only (schemathesis.hook would apply to every schema in the process).
        schema.hooks.register_hook_with_name(_lax_cases_are_valid, "after_call")
    return schema


def _import_numpy_first() -> None:
    """The in-process mock shares this interpreter with hypothesis, which looks numpy up in
    `sys.modules` while it generates (`isinstance(values, numpy.ndarray)`). A pack that imports
    numpy lazily in a worker thread (InvokeAI's node runners, on the first graph run) would have
    hypothesis find it half-imported: an AttributeError in the middle of a run. Imported here, in
    full, before any thread starts."""
    import importlib.util

    if importlib.util.find_spec("numpy") is not None:
        importlib.import_module("numpy")


def _mock_app(profile: Profile, options: Options, seed: int) -> t.Any:
    import warnings

    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from mockserver.app import ServerConfig, build_server
    from mockserver.engine.pipeline import Settings

    _import_numpy_first()
    if options.spec is not None:
        config = ServerConfig(apis=[], spec=options.spec, spec_dialect=options.spec_dialect, seed=seed,
                              settings=Settings(validate_responses=True))
    else:
        config = ServerConfig(apis=[profile.name], seed=seed, settings=Settings(validate_responses=True))
    try:
        return build_server(config)
    except Exception as error:  # a spec the mock cannot serve (e.g. one that claims `/`)
        raise UsageError(f"cannot serve {options.spec or profile.name} in-process "
                         f"({type(error).__name__}: {error}); give --base-url") from None
