"""Contract profiles: each pack owns its own, and they judge refusals of schema-valid requests."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from types import SimpleNamespace

import pytest
import yaml

from mockserver.contract.profile import MARKER, Profile, mark, pack_profile, profile_of_spec, refusal_problem
from mockserver.contract.runner import positive_data_acceptance_documented
from mockserver.packs import AVAILABLE, load_pack
from mockserver.packs.openai_usage import contract as openai_contract

NOW = 1_750_000_000


class FakeResponse:
    def __init__(self, status: int, body: t.Any) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self._body = body

    def json(self) -> t.Any:
        return self._body


def usage_case(query: dict, responses: tuple[str, ...] = ("200", "400", "401", "429"),
               raw_schema: dict | None = None) -> t.Any:
    operation = SimpleNamespace(definition=SimpleNamespace(raw={"responses": {code: {} for code in responses}}),
                                schema=SimpleNamespace(raw_schema=raw_schema or {}))
    positive = SimpleNamespace(generation=SimpleNamespace(mode=SimpleNamespace(is_positive=True)))
    return SimpleNamespace(query=query, path="/organization/usage/completions", operation=operation,
                           method="GET", meta=positive)


def openai_error(param: str) -> FakeResponse:
    return FakeResponse(400, {"error": {"message": "bad", "type": "invalid_request_error", "param": param,
                                        "code": None}})


@pytest.mark.parametrize("api", AVAILABLE)
def test_each_pack_owns_its_profile(api: str) -> None:
    profile = pack_profile(api)
    assert profile.name == api and profile.dialect == load_pack(api).dialect
    assert type(profile) is Profile
    assert profile.refusal is not None  # every pack here documents refusals the schema cannot state


def test_openai_refusals_must_name_a_broken_rule() -> None:
    profile = openai_contract.profile(now=lambda: NOW, clock_slack=0)
    over = usage_case({"start_time": 0, "bucket_width": "1h", "limit": 169})
    assert refusal_problem(profile, over, openai_error("limit")) is None
    within = usage_case({"start_time": 0, "bucket_width": "1h", "limit": 168})
    assert "no documented rule (param 'limit')" in refusal_problem(profile, within, openai_error("limit"))
    empty = usage_case({"start_time": NOW})  # end_time defaults to now
    assert refusal_problem(profile, empty, openai_error("start_time")) is None
    assert refusal_problem(profile, usage_case({"start_time": NOW - 1}), openai_error("start_time")) is not None
    # The key is valid: a 401 is always wrong; a 429 is the server's to give; undocumented statuses
    # are status_code_conformance's to report.
    assert "answered 401" in refusal_problem(profile, within, FakeResponse(401, {"error": {}}))
    assert refusal_problem(profile, within, FakeResponse(429, {"error": {}})) is None
    assert refusal_problem(profile, usage_case({}, responses=("200",)), openai_error("limit")) is None


def test_the_runner_check_judges_only_specs_it_marked() -> None:
    within = {"start_time": 0, "bucket_width": "1h", "limit": 168}
    foreign = usage_case(within)
    assert positive_data_acceptance_documented(None, openai_error("limit"), foreign) is None
    spec = mark({}, pack_profile("openai_usage"))
    assert spec[MARKER] == {"name": "openai_usage", "dialect": "openai"}
    assert profile_of_spec(spec).name == "openai_usage"
    with pytest.raises(AssertionError, match="no documented rule"):
        positive_data_acceptance_documented(None, openai_error("limit"), usage_case(within, raw_schema=spec))


def test_importing_the_runner_and_profiles_registers_nothing() -> None:
    code = ("import sys\n"
            "import mockserver.contract.runner\n"
            + "".join(f"import mockserver.packs.{api}.contract\n" for api in AVAILABLE)
            + "print('schemathesis' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # schemathesis (and its check registry) untouched at import


def query_case(query: dict, negative: tuple[str, ...] = ("query",)) -> t.Any:
    spec = {"paths": {"/w": {"get": {}}}, "components": {"parameters": {"Tags": {
        "name": "tags", "in": "query", "schema": {"type": "array", "nullable": True, "items": {"type": "string"}}}}}}
    definition = {"parameters": [{"$ref": "#/components/parameters/Tags"},
                                 {"name": "page", "in": "query", "required": True, "schema": {"type": "integer"}}]}
    mode = SimpleNamespace(is_negative=True, is_positive=False)
    components = {location: SimpleNamespace(mode=SimpleNamespace(is_negative=location in negative))
                  for location in ("query", "body")}
    return SimpleNamespace(query=query, operation=SimpleNamespace(
        path="/w", definition=SimpleNamespace(raw=definition), schema=SimpleNamespace(raw_schema=spec)),
        meta=SimpleNamespace(generation=SimpleNamespace(mode=mode), components=components))


def test_a_query_value_that_is_valid_text_is_not_negative() -> None:
    from mockserver.contract.profile import query_valid_as_sent

    assert query_valid_as_sent(query_case({"tags": 2.6e16, "page": 1}))  # "2.6e+16" is a tag
    assert query_valid_as_sent(query_case({"tags": [3, "x"], "page": 1}))
    assert not query_valid_as_sent(query_case({"tags": "x", "page": "one"}))  # not an integer as text either
    assert not query_valid_as_sent(query_case({"tags": {"a": 1}, "page": 1}))
    assert not query_valid_as_sent(query_case({"tags": "x"}))  # the required page is missing
    assert not query_valid_as_sent(query_case({"tags": 1, "page": 1}, negative=("query", "body")))


# -- documented error texts ---------------------------------------------------------------------------

def text_case(operation: dict, spec: dict | None = None) -> t.Any:
    positive = SimpleNamespace(generation=SimpleNamespace(mode=SimpleNamespace(is_positive=True)))
    return SimpleNamespace(operation=SimpleNamespace(definition=SimpleNamespace(raw=operation),
                                                     schema=SimpleNamespace(raw_schema=spec or {})),
                           method="GET", meta=positive)


def test_a_refusal_needs_a_text_the_operation_documents() -> None:
    profile = Profile(name="spec", dialect="fastapi")
    operation = {
        "description": "Rules: taken -> 409 `Name <name> is taken`, or 409 `Locked` when frozen.",
        "responses": {"200": {}, "404": {"description": "`Thing <id> not found` (`detail`)"},
                      "409": {"description": "See above."}, "400": {"description": "Bad `input`."}}}
    case = text_case(operation)
    assert refusal_problem(profile, case, FakeResponse(404, {"detail": "Thing 7 not found"})) is None
    problem = refusal_problem(profile, case, FakeResponse(404, {"detail": "x"}))
    assert problem is not None and "'x'" in problem and "`Thing <id> not found`" in problem
    assert refusal_problem(profile, case, FakeResponse(409, {"detail": "Name a b is taken"})) is None
    assert refusal_problem(profile, case, FakeResponse(409, {"detail": "Locked"})) is None
    assert refusal_problem(profile, case, FakeResponse(409, {"detail": "Busy"})) is not None
    # No text documented (`input` is a name, not a text): the status alone is judged.
    assert refusal_problem(profile, case, FakeResponse(400, {"detail": "anything"})) is None


def test_documented_texts_of_shared_responses_and_line_breaks() -> None:
    profile = Profile(name="spec", dialect="fastapi")
    spec = {"components": {"responses": {"Fee": {"description": "`FEE NOTICE:\\n===\\n...` or\n`Balance\n  too low`"}}}}
    case = text_case({"responses": {"402": {"$ref": "#/components/responses/Fee"}}}, spec)
    assert refusal_problem(profile, case, FakeResponse(402, {"detail": "FEE NOTICE:\n===\npay $3"})) is None
    assert refusal_problem(profile, case, FakeResponse(402, {"detail": "Balance too low"})) is None
    assert refusal_problem(profile, case, FakeResponse(402, {"detail": "Pay up"})) is not None


# -- methods a path does not list ---------------------------------------------------------------------

def probe(method: str, url: str, status: int, body: t.Any, spec: dict) -> tuple[t.Any, t.Any]:
    response = FakeResponse(status, body)
    response.request = SimpleNamespace(method=method, url=url)  # type: ignore[attr-defined]
    case = SimpleNamespace(operation=SimpleNamespace(path="/x", schema=SimpleNamespace(raw_schema=spec)))
    return case, response


def test_chutes_unlisted_methods_reach_the_catch_all_unless_another_route_takes_them() -> None:
    from mockserver.engine.resources import specs_dir
    from mockserver.packs.chutes import contract as chutes

    spec = yaml.safe_load((specs_dir() / "chutes.yaml").read_text(encoding="utf-8"))
    rule = chutes.profile().unlisted_method
    assert rule is not None
    assert rule(*probe("PATCH", "http://h/chutes/share", 404, {"detail": "No matching chute found!"}, spec)) is None
    assert rule(*probe("PATCH", "http://h/chutes/share", 401, {"detail": "Authentication required."}, spec)) is None
    assert "the real server answers" in rule(*probe("PATCH", "http://h/chutes/share", 405,
                                                    {"detail": "Method Not Allowed"}, spec))
    assert rule(*probe("TRACE", "http://h/users/me", 405, {"detail": "Method Not Allowed"}, spec)) is None
    # `GET /chutes/share` is `GET /chutes/{chute_id_or_name}` (a name may hold slashes): its own 404.
    assert chutes.routed_elsewhere(spec, "GET", "/chutes/share") and chutes.routed_elsewhere(spec, "GET", "/chutes/a/b")
    assert not chutes.routed_elsewhere(spec, "PATCH", "/chutes/share")


def test_invokeai_unlisted_methods_get_what_its_static_mount_answers() -> None:
    from mockserver.packs.invokeai import contract as invokeai

    rule = invokeai.profile().unlisted_method
    assert rule is not None
    assert rule(*probe("PUT", "http://h/api/v1/app/version", 405, {"detail": "Method Not Allowed"}, {})) is None
    assert rule(*probe("POST", "http://h/api/v1/app/version", 404, {"detail": "Not Found"}, {})) is not None
    assert rule(*probe("GET", "http://h/api/v1/boards/x/y", 404, {"detail": "Not Found"}, {})) is None
    assert rule(*probe("GET", "http://h/api/v1/boards/x/y", 405, {"detail": "Method Not Allowed"}, {})) is not None


def test_a_run_leaves_its_check_out_of_the_registry() -> None:
    """schemathesis's check registry is process-wide: the runner's checks are in it while a run
    judges cases, and gone after, so other schemathesis tests in the process are not judged by it."""
    import io

    from schemathesis.checks import CHECKS

    from mockserver.contract import runner

    seen: list[bool] = []
    judge = runner.positive_data_acceptance_documented

    def spy(ctx: t.Any, response: t.Any, case: t.Any) -> bool | None:
        seen.append(True)
        return judge(ctx, response, case)

    spy.__name__ = judge.__name__
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "positive_data_acceptance_documented", spy)
        status = runner.run(runner.Options(api="openai_usage", max_examples=1, seed=1, include=["usage-costs"],
                                           out=io.StringIO()))
    assert status == 0
    assert seen  # it judged the run's cases
    assert judge.__name__ not in CHECKS.get_all_names()
    assert runner.unlisted_method_as_documented.__name__ not in CHECKS.get_all_names()
