"""Schemathesis over `specs/chutes.yaml`, against the app in-process (ASGI), responses validated.

Each of the 35 operations is one pytest item; the app, its baseline world and the schema are built
by the `world` fixture, once per process that runs any of them. Schemathesis generates valid and invalid requests
from the spec (examples, coverage and fuzzing phases), sends them with a valid API key, and checks
every answer: no 5xx, a documented status, a documented content type, a body that fits the schema,
invalid input rejected with 422 (FastAPI's status), and schema-valid input answered with a 2xx or a
refusal the operation documents.
"""

from __future__ import annotations

import copy
import functools
import typing as t

import pytest
import schemathesis
from contract_items import OneItemPerOperation
from depth import contract_phases, examples
from schemathesis.config import SchemathesisConfig
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.contract.profile import UNREADABLE_BODY_DETAIL, acceptance_check, lax_valid_body, unreadable_json_body
from mockserver.engine.pipeline import Settings
from mockserver.engine.resources import fixtures_dir, read_yaml, specs_dir
from mockserver.packs.chutes import contract
from mockserver.packs.chutes.contract import FORM_CHECKS, WARMUP_EVENT
from mockserver.packs.chutes.contract import as_tested as chutes_as_tested

PACK = "chutes"
CONTROL = f"/__mock__/packs/{PACK}"
NOW = 1749988800  # 2025-06-15T12:00:00Z


# -- the world every case starts from ------------------------------------------------------------

# The caller: the `chutes` system user of fixtures/chutes/users.yaml. It owns the public chutes
# and one private one, so deploy / update / share / delete / warmup reach their success paths, not
# only 404s. It is granted billing_admin (below) so that `GET /bounties/{id}/increase` gets past
# its 403 as well, and unlimited dev activity so that its $0 balance does not stop image builds.
@functools.cache
def users() -> dict[str, dict]:
    return {u["username"]: u for u in read_yaml(fixtures_dir() / PACK / "users.yaml")["users"]}


def key_of(username: str) -> str:
    return users()[username]["api_keys"][0]["value"]


class World:
    """The app (frozen clock: the seeded history, bounties and "now" are the same on every run, so
    a failure reproduces; validate_responses: an answer that breaks the spec comes back as a 500),
    the baseline world every case starts from, and the spec as schemathesis tests it."""

    def __init__(self) -> None:
        self.app = build_server(ServerConfig(apis=[PACK], seed=3, clock_start=NOW,
                                             settings=Settings(validate_responses=True)))
        self.client = TestClient(self.app)
        self.baseline = self._baseline()
        self.chute_ids = self._chute_ids()
        self.image_ids = list(self.app.runtimes[PACK].state.images)
        self._clean = self._version()
        self.schema = schemathesis.openapi.from_dict(as_tested(raw_spec()), config=contract_config(self))
        self.schema.app = self.app
        # A schema-valid request gets a 2xx, or a 4xx the operation documents other than 401 (the
        # credentials are valid; a 401 the operation documents as a business rule aside) and 422 (the
        # input is valid), with the `{"detail": "<text>"}` body: the judgement of `mockserver
        # contract`, by the pack's contract profile.
        self.documented_refusals_only = acceptance_check(contract.profile())

    def _version(self) -> tuple[t.Any, int]:
        runtime = self.app.runtimes[PACK]
        return runtime.state, runtime.state.version

    def _chute_ids(self) -> dict[str, str]:
        return {c["name"]: c["chute_id"] for c in self.app.runtimes[PACK].state.chutes.values()}

    def _baseline(self) -> dict:
        """Fixture state + the caller's extra permission + invocations of its own to report + instant warmup."""
        client = self.client

        def ok(response: t.Any) -> t.Any:
            assert response.status_code < 300, response.text
            return response.json()

        ok(client.post(f"{CONTROL}/reset"))
        ok(client.patch(f"{CONTROL}/users/chutes", json={"permissions": ["public_deploy", "billing_admin",
                                                                         "unlimited_dev"]}))
        ids = self._chute_ids()
        invocations = [ok(client.post(f"{CONTROL}/invocations", json={"chute_id": ids[name], "user": "chutes"}))
                       ["invocation_id"] for name in ("FLUX.1-schnell", "deepseek-ai/DeepSeek-V3-0324")]
        # A warmup without `?quick=true` streams `cold` events once a second until an instance is up,
        # `warmup_seconds` (3 by default) after the request -- and with the clock frozen that time never
        # comes, so the stream would run for its 600 s limit. With 0 the new instance is up at once: the
        # stream is a single `hot` event and the case takes milliseconds.
        # Builds likewise: an image still building streams its log until the build is done, which a
        # frozen clock never reaches; with no queue and no build time an image is built when created.
        instant = {"warmup_seconds": 0, "build_queue_seconds": 0, "build_seconds": 0}
        settings = ok(client.put(f"{CONTROL}/settings", json=instant))
        assert {name: settings[name] for name in instant} == instant
        return {"state": ok(client.get(f"{CONTROL}/state")), "invocations": invocations}

    def restore(self) -> None:
        """Deploy, delete, share, warmup, report, update and bounty increases change the world; the next
        case must not depend on what an earlier one did (a deleted chute, a filed report, a chute that
        is hot now), or failures would not reproduce alone. Reads leave the state alone (its version
        does not move), so the reload only follows cases that changed something. It is what
        `PUT /__mock__/packs/chutes/state` does, without the HTTP round trip of the 1 MB document
        (JSON both ways: about half the cost of a reload)."""
        if self._version() == self._clean:
            return
        self.app.runtimes[PACK].load(self.baseline["state"])
        self._clean = self._version()

    def call(self, method: str, path: str, key: str | None = "", **case: t.Any) -> schemathesis.Response:
        """One request through schemathesis (`call_and_validate`), with the caller's API key (`key`
        empty), another one, or none (`key` None)."""
        if "body" in case:
            case.setdefault("media_type", "application/json")
        key = key_of("chutes") if key == "" else key
        headers = {"Authorization": key} if key else {}
        return self.schema[path][method].Case(headers=headers, **case).call_and_validate()


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# -- the spec as schemathesis sees it --------------------------------------------------------------

def as_tested(spec: dict) -> dict:
    """The spec as schemathesis gets it, adapted as `mockserver contract` adapts it (see
    `chutes_as_tested`): the four auth header parameters dropped, so generated text never replaces
    the valid credentials, and the warmup event stream described per event."""
    spec = chutes_as_tested(copy.deepcopy(spec))
    warmup = spec["paths"]["/chutes/warmup/{chute_id_or_name}"]["get"]["responses"]["200"]["content"]
    assert warmup["text/event-stream"]["schema"] == WARMUP_EVENT, "the spec changed: revisit the adaptation"
    return spec


@functools.cache
def raw_spec() -> dict:
    return read_yaml(specs_dir() / "chutes.yaml")

def contract_config(world: World) -> SchemathesisConfig:
    """How schemathesis tests this API (some of it names things in the baseline world)."""
    return SchemathesisConfig.from_dict({
        # Reproducible and bounded: derandomized Hypothesis (the seed covers what is not), no example
        # database (a run does not depend on earlier runs), 40 fuzzed examples per operation (positive
        # and negative together) on top of the coverage phase's deterministic boundary cases; at the
        # quick depth (tests/depth.py) 10, the examples phase whole, the same checks, and the coverage
        # phase left to `mockserver contract` (see contract_phases).
        "seed": 20250615,
        "phases": contract_phases(),
        "generation": {"mode": "all", "max-examples": examples(quick=10, deep=40), "deterministic": True,
                       "database": "none",
                       # Security-scheme headers are not generated either (see as_tested).
                       "with-security-parameters": False},
        # The valid credentials: the caller's admin API key in `Authorization` (the APIKeyHeader
        # scheme) on every operation that reads credentials, optional-auth reads included (operations
        # with `security: []` get none, as from the CLI; the server would not look at it). `ignored_auth`
        # re-sends successful cases of auth-required operations without it and with a wrong one, and
        # fails unless both get a 401; optional-auth operations are exempt (anonymous access is
        # documented there).
        "auth": {"openapi": {"APIKeyHeader": {"api_key": key_of("chutes")}}},
        # Generated ids and names almost never name anything that exists, so every lookup would be a
        # 404. Half the time a parameter of these names takes a value from the world instead: fixture
        # chutes by name and by id (public, private to someone else, the caller's own), users, images,
        # and the caller's own invocations -- so get, code, warmup, share, update, delete, report, miner
        # means, bounty increases and hourly exports (the day before the frozen "now") reach their
        # success paths too. The deploy fields are drawn from
        # valid values more often (0.8): a deploy has to get five fields right at once to get past the
        # rules the schema cannot state (test_deploy_lifecycle below pins the complete success path).
        "dictionaries": {
            "chutes": {"values": [*world.chute_ids, *world.chute_ids.values(), "deepseek-ai", "vllm"]},
            "users": {"values": [*users(), *(u["user_id"] for u in users().values())]},
            "images": {"values": ["chutes/sglang:0.4.9", "vllm", "diffusion:0.3.0", "alice/custom-ml:1.0"]},
            "image_refs": {"values": ["sglang:0.4.9", "chutes/vllm:0.10.1", "alice/custom-ml:1.0", *world.image_ids]},
            "image_ids": {"values": world.image_ids},
            "usernames": {"values": ["chutes"]},
            "invocations": {"values": world.baseline["invocations"]},
            "names": {"values": ["my-chute", "FLUX.1-schnell", "chutes/llama-3.1-8b"]},
            "filenames": {"values": ["my_chute.py"]},
            "ref_strs": {"values": ["my_chute:chute"]},
            "code": {"values": ["from chutes.chute import Chute\nchute = Chute(username='chutes', name='x')\n"]},
            "years": {"values": [2025]},
            "months": {"values": [6]},
            "days": {"values": [14]},
            "hour_formats": {"values": ["09.csv", "10-reports.csv", "11-jobs.csv"]},
        },
        "parameters": {
            "path.chute_id_or_name": {"dictionary": "chutes", "probability": 0.5},
            "path.chute_id": {"dictionary": "chutes", "probability": 0.5},
            "body.chute_id_or_name": {"dictionary": "chutes", "probability": 0.5},
            "body.user_id_or_name": {"dictionary": "users", "probability": 0.5},
            "path.invocation_id": {"dictionary": "invocations", "probability": 0.5},
            "body.image": {"dictionary": "images", "probability": 0.8},
            "path.image_id_or_name": {"dictionary": "image_refs", "probability": 0.5},
            "path.image_id": {"dictionary": "image_ids", "probability": 0.5},
            "body.username": {"dictionary": "usernames", "probability": 0.8},
            "body.name": {"dictionary": "names", "probability": 0.8},
            "body.filename": {"dictionary": "filenames", "probability": 0.8},
            "body.ref_str": {"dictionary": "ref_strs", "probability": 0.8},
            "body.code": {"dictionary": "code", "probability": 0.8},
            "path.year": {"dictionary": "years", "probability": 0.5},
            "path.month": {"dictionary": "months", "probability": 0.5},
            "path.day": {"dictionary": "days", "probability": 0.5},
            "path.hour_format": {"dictionary": "hour_formats", "probability": 0.5},
        },
        # The build form's "type-violating" fields are text on the wire that FastAPI may well accept
        # (a boolean generated as 0 arrives as "0", a valid false); see the pack's contract profile.
        "operations": [{"include-operation-id": "create_image_images__post", "checks": FORM_CHECKS}],
        # Failure reports show requests as sent: the API key is a fixture value, nothing is secret.
        "output": {"sanitization": {"enabled": False}},
        "checks": {
            # FastAPI dialect: invalid input is a 422 (the 400s of this API are business rules).
            "negative_data_rejection": {"expected-statuses": [422]},
            # Schema-valid requests are often refused for documented reasons the schema cannot state
            # (the deploy rules, a lookup that finds nothing, a report already filed, ...). The
            # built-in check would count every such 4xx as a failure (or, with them listed, let any of
            # them pass anywhere); `documented_refusals_only` below replaces it.
            "positive_data_acceptance": {"enabled": False},
            # The check expects 405 for a method a path does not list. The real app ends with a
            # catch-all route for GET/POST/PUT/DELETE/PATCH/HEAD (chute invocations), so e.g.
            # `PUT /invocations/usage` is 401 without credentials and 404 `No matching chute found!`
            # with them, as the spec's description documents. Methods outside that set (TRACE) are
            # pinned by test_methods_outside_the_catch_all_are_405 instead.
            "unsupported_method": {"enabled": False},
            # For a method outside that set (OPTIONS, TRACE) Starlette answers 405 naming the methods
            # of the first route whose path matched, in the real route order (for OPTIONS /chutes/vllm
            # that is GET /chutes/{chute_id_or_name}), not the methods the spec lists for the path.
            # test_methods_outside_the_catch_all_are_405 pins the real answer.
            "allow_header_conformance": {"enabled": False},
        },
    })


# One item per operation (see tests/contract_items.py), the schema taken from `world.schema`.
items = OneItemPerOperation("chutes.yaml")
lazy_schema = items.lazy_schema
operation, contract_schema = items.operation_fixture, items.schema_fixture


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    items.parametrize(metafunc)


@lazy_schema.parametrize()
def test_chutes_api(case: schemathesis.Case, world: World) -> None:
    try:
        # A body valid after pydantic's lax conversions (`0` for a boolean) is accepted, as by the
        # real FastAPI server: not a negative case's failure.
        unreadable = unreadable_json_body(case)  # bytes that are not text: FastAPI's 400 first
        excluded = [schemathesis.checks.negative_data_rejection] if unreadable or lax_valid_body(case) else None
        response = case.call_and_validate(additional_checks=[world.documented_refusals_only],
                                          excluded_checks=excluded)
        if unreadable:
            assert response.status_code == 400 and response.json() == {"detail": UNREADABLE_BODY_DETAIL}
    finally:
        world.restore()


# -- pinned cases: success paths fuzzing rarely reaches, and inputs it rarely draws ----------------
# Each goes through schemathesis (`call_and_validate`: no 5xx, documented status and content type,
# schema-conformant body) and starts from the baseline world.

CORD = {"method": "POST", "path": "/echo", "function": "echo", "stream": False}


def deploy_args(name: str, **changes: t.Any) -> dict:
    return {"name": name, "image": "chutes/sglang:0.4.9", "public": False, "code": f"# {name}\nchute = 1\n",
            "filename": "my_chute.py", "ref_str": "my_chute:chute", "standard_template": None,
            "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24}, "cords": [CORD], **changes}


def test_deploy_lifecycle(world: World) -> None:
    """Deploy, conflict, rolling update, warmup stream, share, update, delete: all schema-conformant."""
    try:
        first = world.call("POST", "/chutes/", body=deploy_args("my-chute"))
        assert first.status_code == 200, first.text
        chute = first.json()
        assert chute["slug"] == "chutes-my-chute" and chute["max_instances"] == 1 and chute["hot"] is False

        same = world.call("POST", "/chutes/", body=deploy_args("my-chute"))
        assert same.status_code == 409, same.text
        updated = world.call("POST", "/chutes/", body=deploy_args("my-chute", code="chute = 2\n"))
        assert updated.status_code == 200, updated.text
        assert updated.json()["chute_id"] == chute["chute_id"] and updated.json()["version"] != chute["version"]
        rolling = world.call("GET", "/chutes/rolling_updates").json()
        assert [(u["chute_id"], u["old_version"]) for u in rolling] == [(chute["chute_id"], chute["version"])]

        # warmup_seconds is 0: the stream's first event is already "hot" (an instance was started).
        stream = world.call("GET", "/chutes/warmup/{chute_id_or_name}", path_parameters={"chute_id_or_name": "my-chute"})
        assert stream.status_code == 200 and stream.headers["content-type"][0].startswith("text/event-stream")
        assert stream.text == 'data: {"status":"hot","log":"chute is hot, 1 instances available"}\n\n'
        quick = world.call("GET", "/chutes/warmup/{chute_id_or_name}", path_parameters={"chute_id_or_name": "my-chute"},
                     query={"quick": True})
        assert quick.json()["status"] == "hot" and quick.json()["instance_count"] == 1

        shared = world.call("POST", "/chutes/share", body={"chute_id_or_name": "my-chute", "user_id_or_name": "bob"})
        assert shared.status_code == 200, shared.text
        seen = world.call("GET", "/chutes/{chute_id_or_name}", key=key_of("bob"),
                    path_parameters={"chute_id_or_name": chute["chute_id"]})
        assert seen.status_code == 200 and seen.json()["hot"] is True

        put = world.call("PUT", "/chutes/{chute_id_or_name}", path_parameters={"chute_id_or_name": "my-chute"},
                   body={"tagline": "new tagline", "max_instances": 7})
        assert put.status_code == 200, put.text
        assert put.json()["tagline"] == "new tagline" and put.json()["max_instances"] == 1  # ignored

        deleted = world.call("DELETE", "/chutes/{chute_id}", path_parameters={"chute_id": chute["chute_id"]})
        assert deleted.json() == {"chute_id": chute["chute_id"], "deleted": True}
        gone = world.call("GET", "/chutes/{chute_id_or_name}", path_parameters={"chute_id_or_name": "my-chute"})
        assert gone.status_code == 404
    finally:
        world.restore()


def test_public_deploy_and_fee(world: World) -> None:
    """A public deploy (permission needed) has no scaling settings; a paying user gets the fee notice
    first, and with accept_fee=true pays it from the balance."""
    try:
        public = world.call("POST", "/chutes/", body=deploy_args("public-chute", public=True))
        assert public.status_code == 200, public.text
        assert public.json()["public"] is True
        assert (public.json()["max_instances"], public.json()["shutdown_after_seconds"]) == (None, None)
        refused = world.call("POST", "/chutes/", key=key_of("alice"), body=deploy_args("public-chute", public=True))
        assert refused.status_code == 400 and refused.json()["detail"].startswith("Chutes no longer supports public")

        notice = world.call("POST", "/chutes/", key=key_of("alice"), body=deploy_args("alice-chute"))
        assert notice.status_code == 402 and notice.json()["detail"].startswith("DEPLOYMENT FEE NOTICE:\n===\n")
        paid = world.call("POST", "/chutes/", key=key_of("alice"), body=deploy_args("alice-chute"), query={"accept_fee": True})
        assert paid.status_code == 200, paid.text
        balance = next(u["balance"] for u in world.client.get(f"{CONTROL}/users").json() if u["username"] == "alice")
        assert balance < users()["alice"]["balance"]
    finally:
        world.restore()


# -- known bugs (see the report): these fail until the mock is fixed ------------------------------


def test_deployed_cords_carry_their_defaults(world: World) -> None:
    """ChuteResponse.cords is `list[Cord]`: the real server answers every Cord field, defaults
    included, whatever subset the deploy sent (the chutes CLI reads e.g. `passthrough`)."""
    try:
        chute = world.call("POST", "/chutes/", body=deploy_args("my-chute")).json()
        assert chute["cords"] == [{**CORD, "passthrough": False, "public_api_path": None, "public_api_method": None,
                                   "input_schema": {}, "output_schema": {}, "output_content_type": None,
                                   "minimal_input_schema": {}}]
    finally:
        world.restore()


def test_warmup_quick_and_the_instance_log_refusals(world: World) -> None:
    """The quick warmup answer with its bounty object, and the three refusals of the instance log
    stream in their order (its 200 is an endless stream: tests/packs/chutes/test_instances.py
    reads it from the app)."""
    try:
        # The baseline's warmup_seconds is 0: the instance is up at once and the bounty claimed.
        quick = world.call("GET", "/chutes/warmup/{chute_id_or_name}", query={"quick": True},
                     path_parameters={"chute_id_or_name": "unsloth/gemma-3-12b-it"})
        assert quick.status_code == 200 and quick.json()["status"] == "hot" and quick.json()["bounty"] is None
        public_instance = quick.json()["instances"][0]["instance_id"]
        missing = world.call("GET", "/instances/{instance_id}/logs", path_parameters={"instance_id": "nope"},
                       query={"backfill": -1})
        assert (missing.status_code, missing.json()) == (404, {"detail": "Instance not found."})
        public = world.call("GET", "/instances/{instance_id}/logs", path_parameters={"instance_id": public_instance},
                      query={"backfill": -1})
        assert (public.status_code, public.json()) == (
            403, {"detail": "You may only view logs for your own (private) chutes."})
        affine = world.client.get("/chutes/affine/reasoner-7b", headers={"Authorization": key_of("chutes")}).json()
        own = world.call("GET", "/instances/{instance_id}/logs", query={"backfill": 10001},
                   path_parameters={"instance_id": affine["instances"][0]["instance_id"]})
        assert (own.status_code, own.json()) == (
            400, {"detail": "`backfill` must be between 0 and 10000 (lines of logs)"})
    finally:
        world.restore()


def test_big_integers_in_a_body_stay_integers(world: World) -> None:
    """`Job.timeout` is an unbounded integer. FastAPI parses bodies with Python's json (exact
    integers) and pydantic accepts any int; the mock's orjson turns integers >= 2**64 into floats
    and then answers 422 int_type for a schema-valid body."""
    try:
        response = world.call("POST", "/chutes/", body=deploy_args("job-chute", cords=[],
                                                             jobs=[{"name": "train", "timeout": 2**64}]))
        assert response.status_code == 200, response.text
        assert response.json()["jobs"][0]["timeout"] == 2**64
    finally:
        world.restore()


def test_non_json_body_is_a_422(world: World) -> None:
    """FastAPI reads a body as JSON only when Content-Type says JSON; any other type leaves the raw
    bytes, which fail model validation: 422 model_attributes_type at loc ["body"] -- never 415."""
    response = world.client.post("/chutes/share", content=b'{"chute_id_or_name": "x", "user_id_or_name": "bob"}',
                           headers={"Authorization": key_of("chutes"), "Content-Type": "text/plain"})
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["type"] == "model_attributes_type" and issue["loc"] == ["body"]
    assert issue["msg"] == "Input should be a valid dictionary or object to extract fields from"


def test_methods_outside_the_catch_all_are_405(world: World) -> None:
    """The catch-all route takes GET/POST/PUT/DELETE/PATCH/HEAD only. For another method (TRACE)
    Starlette finds no full match, and the first partial match (the path's own route, or the
    catch-all itself) answers 405 `{"detail": "Method Not Allowed"}` -- not the catch-all's 401/404."""
    for headers in ({}, {"Authorization": key_of("chutes")}):
        known = world.client.request("TRACE", "/invocations/usage", headers=headers)
        assert known.status_code == 405, known.text
        assert known.json() == {"detail": "Method Not Allowed"} and known.headers["allow"] == "GET"
        unknown = world.client.request("TRACE", "/nope", headers=headers)
        assert unknown.status_code == 405, unknown.text
        assert unknown.json() == {"detail": "Method Not Allowed"}


def test_lowercase_bearer_is_a_jwt(world: World) -> None:
    """The real server lower-cases and left-strips the header before looking for `bearer `
    (`authorization.lower().lstrip().startswith("bearer ")`): `bearer <not cpk_...>` is a JWT, and
    one that does not decode is `Invalid token.`, not a malformed API key."""
    response = world.client.get("/chutes/", headers={"Authorization": "bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
