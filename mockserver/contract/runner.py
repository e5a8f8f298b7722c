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
check cannot fit an API's documented behaviour, the API's `Profile` (below: the only place that
knows about particular APIs) changes it and says why.

Exit status: 0 when every selected operation passed (or was skipped on purpose), 1 on any failure
or error, 2 on a usage error (bad option, unknown API or operation id, unreadable spec).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import random
import re
import sys
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from mockserver.engine.resources import fixtures_dir, specs_dir

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DEFAULT_MAX_EXAMPLES = 25
# Marks a spec as loaded by this runner (value: the profile's name), so the runner's own check
# (registered with schemathesis globally, as checks are) does nothing for anyone else's schema.
MARKER = "x-mockserver-contract-profile"


class UsageError(Exception):
    """A bad option or input: exit status 2."""


# ============================================================================== per-API profiles

Case = t.Any  # schemathesis.Case
Response = t.Any  # schemathesis.Response


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
    - `dictionaries` / `parameters`: schemathesis generation hints (values the API accepts).
    - `samples`: operationId -> a function that may turn a positive case into one the API
      accepts (half of them, so the generated ones still get through too).
    - `unexpected_methods`: the methods the coverage phase tries on paths that do not list them
      (None: schemathesis's list; `--allow-destructive` off always leaves out DELETE).
    - `hotkey`: whether `--chutes-hotkey-seed` applies.
    - `stateful_note`: said when `--stateful` is asked for.
    - `validator_refusals`: operations where a schema-valid request may get a 422 made only of
      validator errors (`value_error`, `union_tag_invalid`), the checks the schema cannot state.
    """

    name: str
    dialect: str
    auth_scheme: str | None = None
    mock_credentials: t.Callable[[], dict] | None = None
    checks: dict[str, dict] = field(default_factory=dict)
    operation_checks: dict[str, dict[str, dict]] = field(default_factory=dict)
    transform: t.Callable[[dict], dict] | None = None
    refusal: t.Callable[[Case, Response], str | None] | None = None
    dictionaries: dict[str, dict] = field(default_factory=dict)
    parameters: dict[str, dict] = field(default_factory=dict)
    samples: dict[str, t.Callable[[Case], None]] = field(default_factory=dict)
    unexpected_methods: tuple[str, ...] | None = None
    hotkey: bool = False
    stateful_note: str | None = None
    # Operations whose schema-valid requests the server may still refuse with a 422 from a
    # validator (pydantic `value_error` / `union_tag_invalid`): a rule no schema states.
    validator_refusals: frozenset[str] = frozenset()

    @property
    def validation_status(self) -> int:
        from mockserver.engine.dialects import DIALECTS

        return DIALECTS[self.dialect].validation_status


# -- openai_usage -----------------------------------------------------------------------------------

OPENAI_ADMIN_KEY = "sk-admin-mockserver"
OPENAI_LIMIT_MAXIMA = {"1m": 1440, "1h": 168, "1d": 31}  # usage endpoints; costs' 180 is in the schema
# The time rules below compare with the server's "now", which ours may trail or lead a little.
CLOCK_SLACK = 30


def _openai_refusal(case: Case, response: Response) -> str | None:
    """A 400 for a schema-valid request must name (`error.param`) a rule the spec documents that the
    schema cannot state, and the request must break it: `limit` above the per-bucket_width maximum,
    an empty start_time..end_time range (end_time defaults to now), a `page` cursor this endpoint
    did not issue. Every other documented 4xx (429) is the server's to give."""
    if response.status_code != 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    param = error.get("param") if isinstance(error, dict) else None
    query = case.query if isinstance(case.query, dict) else {}
    now = time.time()
    try:
        if param == "limit" and not case.path.endswith("/costs"):
            width = query.get("bucket_width", "1d")
            if "limit" in query and int(query["limit"]) > OPENAI_LIMIT_MAXIMA.get(width, 0):
                return None
        elif param == "end_time":
            start = int(query["start_time"])
            if "end_time" in query and int(query["end_time"]) <= start:
                return None
            if "end_time" not in query and start >= now - CLOCK_SLACK:
                return None
        elif param == "start_time":
            if "end_time" not in query and int(query["start_time"]) >= now - CLOCK_SLACK:
                return None
        elif param == "page" and "page" in query:
            return None  # generated text is never a cursor this endpoint issued
    except (KeyError, TypeError, ValueError):
        pass
    return f"schema-valid request refused with 400 for no documented rule (param {param!r}): {response.text[:300]}"


# -- chutes -------------------------------------------------------------------------------------------

CHUTES_AUTH_HEADERS = ("XChutesHotkey", "XChutesSignature", "XChutesNonce", "Authorization")
CHUTES_CALLER = "chutes"  # the fixture user the in-process mock is called as (admin API key)
# One warmup event as the server streams it: `data: {"status": "cold"|"hot", "log": "..."}`.
CHUTES_WARMUP_EVENT = {
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["message"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {
            "type": "object", "required": ["status", "log"], "additionalProperties": False,
            "properties": {"status": {"type": "string", "enum": ["cold", "hot"]}, "log": {"type": "string"}}}},
    },
}
CHUTES_INSTANCE_LOG_EVENT = {
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["message"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"anyOf": [
            {"type": "object", "required": ["event", "filename"], "additionalProperties": False,
             "properties": {"event": {"const": "connected"}, "filename": {"type": "string"}}},
            {"type": "object", "required": ["log"], "additionalProperties": False,
             "properties": {"log": {"type": "string"}}},
        ]}},
    },
}
# Event streams whose spec schema is `{type: string}` (as upstream), and the event each one sends.
CHUTES_EVENT_STREAMS = {"/chutes/warmup/{chute_id_or_name}": CHUTES_WARMUP_EVENT,
                        "/instances/{instance_id}/logs": CHUTES_INSTANCE_LOG_EVENT}
CHUTES_FORM_CHECKS = {"negative_data_rejection": {"enabled": False}}
CHUTES_CORD = {"method": "POST", "path": "/echo", "function": "echo", "stream": False}
CHUTES_DEPLOY = {"image": "chutes/sglang:0.4.9", "public": False, "code": "chute = 1\n", "filename": "my_chute.py",
                 "ref_str": "my_chute:chute", "standard_template": None,
                 "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24}, "cords": [CHUTES_CORD]}


def _chutes_credentials() -> dict:
    users = yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
    caller = next(u for u in users if u["username"] == CHUTES_CALLER)
    key = next(k["value"] for k in caller["api_keys"] if k.get("admin"))
    return {"APIKeyHeader": {"api_key": key}}


UNREADABLE_BODY_DETAIL = "There was an error parsing the body"


def document_unreadable_json_bodies(spec: dict) -> dict:
    """FastAPI answers a JSON body that is not UTF-8 (-16, -32) text with a 400 `There was an error
    parsing the body` before anything else; upstream documents never say so. Schemathesis sends
    such bodies ("random bytes"), so each operation taking JSON gets that 400 documented."""
    for item in spec.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS or not isinstance(operation, dict):
                continue
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


def chutes_as_tested(spec: dict) -> dict:
    """Two changes, neither to what the API promises (tests/contract/test_schemathesis_chutes.py uses it too),
    and the 400 for unreadable JSON bodies documented (`document_unreadable_json_bodies`):

    - The four auth headers every authenticated operation declares as parameters (X-Chutes-Hotkey,
      X-Chutes-Signature, X-Chutes-Nonce, Authorization) are dropped. Declared parameters are always
      generated, so schemathesis would replace the valid credentials with generated text (and a
      generated X-Chutes-Hotkey + X-Chutes-Signature pair switches the server to hotkey auth): a
      401 that says nothing about the operation. Credentials come from the run (`--header`,
      `--chutes-hotkey-seed`, the mock's key) and `ignored_auth` tests that they are required.
    - The `text/event-stream` schemas of the warmup and instance-log streams: schemathesis reads the
      schema of an event stream in an OpenAPI 3.0 document as the schema of one event (`{data,
      event, id, retry}`), so the spec's `{type: string}` fails on every event. Each becomes the
      event its description documents. (The image build log stream ends no line with a blank one,
      so an SSE parser sees no event in it.)
    """
    refs = {f"#/components/parameters/{name}" for name in CHUTES_AUTH_HEADERS}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [p for p in operation["parameters"] if p.get("$ref") not in refs]
    for path, event in CHUTES_EVENT_STREAMS.items():
        stream = spec["paths"].get(path, {}).get("get")
        if stream is not None:
            content = stream["responses"]["200"]["content"]
            if content.get("text/event-stream", {}).get("schema") == {"type": "string"}:
                content["text/event-stream"]["schema"] = event
    return document_unreadable_json_bodies(spec)


def _chutes_refusal(case: Case, response: Response) -> str | None:
    """Chutes refuses schema-valid requests for many documented reasons the schema cannot state
    (deploy rules, a lookup that finds nothing, a report already filed, billing): any documented
    4xx but 401/422 is fine, with FastAPI's `{"detail": "<text>"}` body."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return None
    return f"refusal {response.status_code} without a `{{\"detail\": \"<text>\"}}` body: {response.text[:300]}"


def _chutes_deploy_sample(case: Case) -> None:
    """Half the schema-valid deploys become one that passes every deploy rule the schema cannot
    state (image, cords, node selector, name/filename/ref_str patterns, Python code), under a name
    derived from the generated body: without it no deploy succeeds, and the stateful links that
    start from a deployed chute never run. `accept_fee` is dropped: never agree to pay."""
    body = case.body
    if not isinstance(body, dict):
        return
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    if int(digest[0], 16) % 2:
        return
    case.body = {**CHUTES_DEPLOY, "name": f"contract-{digest[:10]}"}
    if isinstance(case.query, dict):
        case.query.pop("accept_fee", None)


# -- invokeai ---------------------------------------------------------------------------------------

# InvokeAI 6.8's community edition answers 501 for these (the spec documents it): a server error by
# schemathesis's reading, and the honest answer here.
INVOKEAI_NOT_IMPLEMENTED = (
    "create_image_upload_entry", "list_video_dtos", "get_video_dto", "update_video", "get_video_ids",
    "get_videos_by_ids", "delete_videos_from_list", "star_videos_in_list", "unstar_videos_in_list",
    "delete_uncategorized_videos", "add_videos_to_board", "remove_videos_from_board",
)
# The semver grammar the real server checks `meta.version` against (in a validator, not its schema).
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$"


def invokeai_as_tested(spec: dict) -> dict:
    """Rules the real server checks in pydantic validators, which its schema cannot state, given
    to schemathesis so its positive data is data the server accepts. The spec as served keeps the
    upstream schemas, so each refusal keeps its real 422 shape (`value_error`, `union_tag_invalid`):
    - a workflow's `meta.version` is a semantic version;
    - a graph node's `type` is one of the invocation types (a discriminated union upstream, one
      open `InvocationNode` schema in our spec, which leaves `nodes`, `id` and `type` to the
      mock's own checks so their refusals have pydantic's shapes): here nodes are objects with an
      `id` and a `type`; the fields of each type are not stated, so a refusal inside a node is a
      validator refusal (see `_validator_refusal`); batch data items, which the mock also checks
      itself, are strings, numbers or image fields;
    Edges must join existing nodes' fields and batch data must name existing nodes, which no
    schema can say either; those refusals are accepted as validator refusals (the profile's
    `validator_refusals`), since narrowing the schema would also narrow what the answers echo.
    The 400 for unreadable JSON bodies is documented (`document_unreadable_json_bodies`).
    """
    schemas = spec.get("components", {}).get("schemas", {})
    version = schemas.get("WorkflowMeta", {}).get("properties", {}).get("version")
    if isinstance(version, dict):
        version["pattern"] = SEMVER_PATTERN
    node = schemas.get("InvocationNode", {})
    properties = node.get("properties", {})
    if isinstance(properties.get("type"), dict):
        properties["type"].update(type="string", enum=list(_invocation_types()))
        node["required"] = ["id", "type"]
        for name, kind in (("id", "string"), ("is_intermediate", "boolean"), ("use_cache", "boolean")):
            if isinstance(properties.get(name), dict):
                properties[name]["type"] = kind
    nodes = schemas.get("Graph", {}).get("properties", {}).get("nodes")
    if isinstance(nodes, dict):
        nodes["type"] = "object"
    items = schemas.get("BatchDatum", {}).get("properties", {}).get("items")
    if isinstance(items, dict):
        items["items"] = {"anyOf": [{"type": "string"}, {"type": "number"}, {"$ref": "#/components/schemas/ImageField"}]}
    return document_unreadable_json_bodies(spec)


def _invocation_types() -> list[str]:
    from mockserver.packs.invokeai.catalogue import load_catalogue

    return list(load_catalogue().order)


def _content_type(response: Response) -> str:
    value = response.headers.get("content-type") or ""
    return (value[0] if isinstance(value, list) and value else str(value)).lower()


def _invokeai_refusal(case: Case, response: Response) -> str | None:
    """InvokeAI refuses schema-valid requests for reasons the schema cannot state (a name that does
    not exist, a file that is not an image, a default workflow that is read-only): any documented
    4xx but 401/422, with FastAPI's `{"detail": "<text>"}` body (none for HEAD)."""
    if case.method.upper() == "HEAD":
        return None
    if _content_type(response).startswith("text/html"):
        return None  # the HuggingFace install page answers its refusals as HTML, as documented
    try:
        body = response.json()
    except ValueError:
        return f"refusal without a JSON body: {response.text[:200]}"
    if not (isinstance(body, dict) and isinstance(body.get("detail"), str)):
        return f'refusal body is not {{"detail": "<text>"}}: {response.text[:200]}'
    return None


PROFILES: dict[str, Profile] = {
    "openai_usage": Profile(
        name="openai_usage", dialect="openai",
        auth_scheme="AdminApiKeyAuth", mock_credentials=lambda: {"AdminApiKeyAuth": {"bearer": OPENAI_ADMIN_KEY}},
        refusal=_openai_refusal,
        # Read-only: nothing is created, so there is nothing to chain and the spec has no links.
        stateful_note="openai_usage is read-only: its spec has no OpenAPI links, so the stateful phase "
                      "has nothing to chain (schemathesis may still infer a few)",
    ),
    "chutes": Profile(
        name="chutes", dialect="fastapi",
        auth_scheme="APIKeyHeader", mock_credentials=_chutes_credentials,
        transform=chutes_as_tested, refusal=_chutes_refusal, hotkey=True,
        checks={
            # The check expects 405 for a method a path does not list. The real app ends with a
            # catch-all route for GET/POST/PUT/DELETE/PATCH/HEAD (chute invocations): e.g.
            # `PUT /invocations/usage` is 401 without credentials and 404 `No matching chute found!`
            # with them, as the spec's info.description documents.
            "unsupported_method": {"enabled": False},
            # For a method outside that set (OPTIONS, TRACE) Starlette answers 405 naming the methods
            # of the first route whose path matched in the real route order (OPTIONS /chutes/vllm:
            # GET /chutes/{chute_id_or_name}), not the methods the spec lists for the path.
            "allow_header_conformance": {"enabled": False},
        },
        # With those two checks off, requests with methods the spec does not list test nothing.
        unexpected_methods=(),
        # ensure_resource_availability reads a 404 from a link target after a create as "the
        # created chute is gone". It looks for a delete in between only on the created resource's
        # own path and below it; these operations name the chute elsewhere (/chutes/code/{id},
        # /chutes/warmup/{id}, the share body), so after DELETE /chutes/{id} their documented 404
        # is taken for a lost chute. Share also answers 404 for a target *user* that does not
        # exist (`Could not find target user to share with`), the generated one in particular.
        operation_checks={
            **{operation_id: {"ensure_resource_availability": {"enabled": False}}
               for operation_id in ("get_chute_code_chutes_code__chute_id__get",
                                    "warm_up_chute_chutes_warmup__chute_id_or_name__get",
                                    "share_chute_chutes_share_post")},
            # Every multipart field is text on the wire, and FastAPI reads a boolean form field as
            # pydantic does: a "type-violating" `public` generated as 0 arrives as "0", a valid
            # false, and the build goes on to its business rules (or succeeds).
            "create_image_images__post": CHUTES_FORM_CHECKS,
        },
        # Generated names, images and code are almost never ones a deploy accepts; these are.
        dictionaries={
            "images": {"values": ["chutes/sglang:0.4.9", "vllm", "diffusion:0.3.0"]},
            "names": {"values": ["my-chute", "chutes/llama-3.1-8b"]},
            "filenames": {"values": ["my_chute.py"]},
            "ref_strs": {"values": ["my_chute:chute"]},
            "code": {"values": ["chute = 1\n"]},
        },
        parameters={
            "body.image": {"dictionary": "images", "probability": 0.5},
            "body.name": {"dictionary": "names", "probability": 0.5},
            "body.filename": {"dictionary": "filenames", "probability": 0.5},
            "body.ref_str": {"dictionary": "ref_strs", "probability": 0.5},
            "body.code": {"dictionary": "code", "probability": 0.5},
        },
        samples={"deploy_chute_chutes__post": _chutes_deploy_sample},
    ),
    "invokeai": Profile(
        name="invokeai", dialect="fastapi",  # no auth: InvokeAI's API is open on its port
        transform=invokeai_as_tested, refusal=_invokeai_refusal,
        validator_refusals=frozenset({"enqueue_batch"}),
        checks={
            # The real app ends with the web UI's StaticFiles mount at `/`, which takes every
            # request no route takes in full: a method the path does not list is a 405 without
            # `Allow` (any method but GET/HEAD) or a 404 (GET/HEAD: no such file).
            "unsupported_method": {"enabled": False},
            "allow_header_conformance": {"enabled": False},
        },
        # With those two checks off, requests with methods the spec does not list test nothing.
        unexpected_methods=(),
        operation_checks={
            **{operation_id: {"not_a_server_error": {"enabled": False}}
               for operation_id in INVOKEAI_NOT_IMPLEMENTED},
            # Every multipart field is text on the wire, so a "schema-violating" upload is one whose
            # file part is not an image; the real server answers that with 415 before anything else.
            **{operation_id: {"negative_data_rejection": {"expected-statuses": ["415", "422"]}}
               for operation_id in ("upload_image", "set_workflow_thumbnail", "import_style_presets")},
            # The same for a preset's `data` field: a mutated value is still text, read as preset
            # JSON first, and refused with the documented 400 `Invalid preset data`.
            **{operation_id: {"negative_data_rejection": {"expected-statuses": ["400", "415", "422"]}}
               for operation_id in ("create_style_preset", "update_style_preset")},
            # `DELETE /api/v2/models/install/huggingface` is the install job route with id
            # "huggingface": a 422 int_parsing on the real server as here, not a 405.
            "install_hugging_face_model": {"unsupported_method": {"enabled": False}},
            # use_after_free (stateful) expects a 404 from a resource after a DELETE of it. The
            # DELETEs of install and download jobs cancel them: the job stays listed, status
            # `cancelled` (or as it was, when already finished), until a prune, as upstream's
            # `cancel_job` keeps it; so the 200 that follows is the documented answer. Two reads
            # answer for any name, existing or not, as upstream's do (no 404 documented): a
            # board's image names are a query over the images (`[]` for a deleted board), and an
            # image's URLs are built from its name alone.
            **{operation_id: {"use_after_free": {"enabled": False}}
               for operation_id in ("get_model_install_job", "get_download_job", "list_all_board_image_names",
                                    "get_image_urls")},
            # ensure_resource_availability (stateful) reads a 404 from a link target right after a
            # create as "the created resource is gone". These read a part the new resource may not
            # have yet, and answer the documented 404 when it is missing: a preset created without
            # an image (`Style preset image not found`), a workflow before a thumbnail is set
            # (`Workflow thumbnail not found`). A workflow update ignores the path and updates the
            # workflow its body's `id` names, as the real server does: a generated body names none
            # (404 `Workflow not found`; real: 500).
            **{operation_id: {"ensure_resource_availability": {"enabled": False}}
               for operation_id in ("get_style_preset_image", "get_workflow_thumbnail", "update_workflow")},
        },
    ),
}


def profile_for(api: str | None, spec_dialect: str) -> Profile:
    """The API's profile; for `--spec FILE` a generic one (no API-specific knowledge) in the dialect
    given. The pack is the authority on its dialect."""
    if api is None:
        return Profile(name="spec", dialect=spec_dialect)
    from mockserver.packs import AVAILABLE, load_pack

    if api not in AVAILABLE:
        raise UsageError(f"unknown API {api!r}; available: {', '.join(AVAILABLE)}")
    dialect = load_pack(api).dialect
    profile = PROFILES.get(api) or Profile(name=api, dialect=dialect)
    return profile if profile.dialect == dialect else dataclasses.replace(profile, dialect=dialect)


# ============================================================================== the runner's own check

def positive_data_acceptance_documented(ctx: t.Any, response: Response, case: Case) -> bool | None:
    """Replaces schemathesis's positive_data_acceptance: a schema-valid request gets a 2xx or a
    refusal the operation documents for it. A documented 401 is wrong (the run's credentials are
    valid), and so is the dialect's validation status where it means "invalid input" only (422);
    any other documented 4xx goes to the API's profile, which says whether it is documented for
    this request. 5xx and undocumented statuses are left to not_a_server_error and
    status_code_conformance, so each defect is reported once, by the check that names it."""
    profile_name = case.operation.schema.raw_schema.get(MARKER)
    if profile_name is None or case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    status = response.status_code
    documented = {int(code) for code in case.operation.definition.raw.get("responses", {}) if str(code).isdigit()}
    if 200 <= status < 300 or not 400 <= status < 500 or status not in documented:
        return None
    profile = _ACTIVE_PROFILES.get(profile_name)
    if status == 422 and profile is not None and _validator_refusal(profile, case, response):
        return None
    if status == 401 and _names_a_rule(case, response):
        return None
    if status == 401 or (status == 422 and profile is not None and profile.validation_status == 422):
        raise AssertionError(f"schema-valid request answered {status}: {response.text[:300]}")
    if profile is not None and profile.refusal is not None:
        problem = profile.refusal(case, response)
        if problem is not None:
            raise AssertionError(problem)
    return None


def lax_valid_body(case: Case) -> bool:
    """A "negative" case whose only violation is a JSON body that pydantic v2's lax mode turns into
    a valid one (`0` for a boolean, `"30"` for an integer): a FastAPI server accepts it, rightly."""
    from mockserver.engine.lax import lax_value
    from mockserver.engine.schema import SchemaValidator

    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or "json" not in (case.media_type or ""):
        return False
    if {str(getattr(location, "value", location)) for location, info in meta.components.items()
            if info.mode.is_negative} != {"body"}:
        return False
    spec = case.operation.schema.raw_schema
    components = spec.get("components", {}).get("schemas", {})
    request_body = case.operation.definition.raw.get("requestBody", {})
    if "$ref" in request_body:
        request_body = spec["components"]["requestBodies"][request_body["$ref"].rsplit("/", 1)[-1]]
    schema = request_body.get("content", {}).get(case.media_type, {}).get("schema")
    if schema is None:
        return False
    converted = lax_value(case.body, schema, components)
    return converted is not case.body and SchemaValidator(schema, components).is_valid(converted)


def lax_valid_query(case: Case) -> bool:
    """A "negative" case whose only violation is a query value that, as the text a query string
    carries, is valid (a number generated for a list of strings arrives as one string): a FastAPI
    server reads it as that text and accepts it, rightly."""
    from mockserver.engine.lax import lax_value
    from mockserver.engine.schema import SchemaValidator

    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or not isinstance(case.query, dict):
        return False
    if {str(getattr(location, "value", location)) for location, info in meta.components.items()
            if info.mode.is_negative} != {"query"}:
        return False
    spec = case.operation.schema.raw_schema
    components = spec.get("components", {})
    for parameter in case.operation.definition.raw.get("parameters", []):
        if "$ref" in parameter:
            parameter = components.get("parameters", {}).get(parameter["$ref"].rsplit("/", 1)[-1], {})
        name, schema = parameter.get("name"), parameter.get("schema")
        if parameter.get("in") != "query":
            continue
        if name not in case.query:
            if parameter.get("required"):
                return False
            continue
        if schema is None:
            continue
        texts = [_query_text(v) for v in (case.query[name] if isinstance(case.query[name], list)
                                          else [case.query[name]])]
        value: t.Any = texts if _takes_array(schema, components) else texts[-1] if texts else ""
        converted = lax_value(value, schema, components.get("schemas", {}))
        if not SchemaValidator(schema, components.get("schemas", {})).is_valid(converted):
            return False
    return True


def _query_text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _takes_array(schema: dict, components: dict) -> bool:
    branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    return any(isinstance(b, dict) and b.get("type") == "array" for b in branches)


NODE_LOC = ["body", "batch", "graph", "nodes"]
def _names_a_rule(case: Case, response: Response) -> bool:
    """A 401 that is a business rule, not bad credentials (Chutes' `POST /images/` for another
    user's name): the operation's own 401 names its `detail` text, in backquotes."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    documented = case.operation.definition.raw.get("responses", {}).get("401", {})
    return isinstance(detail, str) and bool(detail) and f"`{detail}`" in str(documented)


def _validator_refusal(profile: Profile, case: Case, response: Response) -> bool:
    if case.operation.definition.raw.get("operationId") not in profile.validator_refusals:
        return False
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return bool(detail) and isinstance(detail, list) and all(
        isinstance(issue, dict) and (issue.get("type") in ("value_error", "union_tag_invalid") or in_node(issue))
        for issue in detail)


def in_node(issue: dict) -> bool:
    """An error about a field of a graph node (`body, batch, graph, nodes, <id>, <type>, <field>`):
    the node's type schema says what its fields take, which the spec's open node cannot."""
    loc = issue.get("loc")
    return isinstance(loc, list) and len(loc) >= 7 and loc[:4] == NODE_LOC


_ACTIVE_PROFILES: dict[str, Profile] = {}
_REGISTERED = False


def lax_dialect(profile: Profile) -> bool:
    """The server validates bodies as pydantic v2 does (lax mode) and refuses unreadable ones with 400."""
    from mockserver.engine.dialects import DIALECTS

    dialect = DIALECTS.get(profile.dialect)
    return dialect is not None and dialect.lax_json


def _lax_cases_are_valid(ctx: t.Any, case: Case, **kwargs: t.Any) -> None:
    """before_call: a "negative" case that pydantic's lax mode makes valid is a valid request to a
    FastAPI server (it accepts `0` for a boolean), so it is judged as one."""
    from schemathesis.generation import GenerationMode

    profile = _ACTIVE_PROFILES.get(case.operation.schema.raw_schema.get(MARKER))
    if profile is not None and lax_dialect(profile) and (lax_valid_body(case) or lax_valid_query(case)):
        case.meta.generation.mode = GenerationMode.POSITIVE


def _register_check() -> None:
    global _REGISTERED
    if not _REGISTERED:
        import schemathesis

        schemathesis.check(positive_data_acceptance_documented)
        schemathesis.hook("before_call")(_lax_cases_are_valid)
        _REGISTERED = True


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


def load_spec(options: Options, profile: Profile) -> tuple[dict, Path]:
    path = options.spec if options.spec is not None else specs_dir() / f"{options.api}.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not YAML: {error}") from None
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.") or \
            not isinstance(spec.get("paths"), dict):
        raise UsageError(f"{path}: not an OpenAPI 3.x document")
    spec = copy.deepcopy(spec)
    if profile.transform is not None:
        spec = profile.transform(spec)
    if lax_dialect(profile):
        spec = document_unreadable_json_bodies(spec)
    spec[MARKER] = profile.name
    return spec, path


def operations_of(spec: dict) -> list[SpecOperation]:
    found = []
    for path, item in spec["paths"].items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                found.append(SpecOperation(method.upper(), path, operation.get("operationId"), operation))
    return found


DESTRUCTIVE_WORDS = re.compile(r"clear|prune|reset|empty[_\-\s]?cache|delete", re.IGNORECASE)


def destructive_reason(operation: SpecOperation) -> str | None:
    if operation.method == "DELETE":
        return "destructive: DELETE (use --allow-destructive)"
    for text in (operation.operation_id or "", operation.path):
        match = DESTRUCTIVE_WORDS.search(text)
        if match:
            return f"destructive: {'operationId' if text == operation.operation_id else 'path'} names " \
                   f"{match.group(0).lower()!r} (use --allow-destructive)"
    return None


@dataclass
class Selection:
    run: list[SpecOperation]
    skipped: list[tuple[SpecOperation, str]]


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
    spec, spec_path = load_spec(options, profile)
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
          f"{options.max_examples} examples per operation, {len(selection.run)} operations"
          f"{', stateful' if options.stateful else ''}{', ' + credentials if credentials else ''}", file=out)
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
    from schemathesis.engine import from_schema
    from schemathesis.engine.run import PhaseName

    from mockserver.contract import report as reporting

    collector = reporting.Collector(result)
    stream = from_schema(schema).execute()
    try:
        for event in stream:
            for kind, op in collector.handle(event):
                print(reporting.progress_line(kind, op), file=out, flush=True)
            if type(event).__name__ == "PhaseStarted" and event.phase.name == PhaseName.STATEFUL_TESTING \
                    and event.phase.is_enabled:
                print("  stateful phase (OpenAPI links):", file=out, flush=True)
    except KeyboardInterrupt:
        stream.stop()
        result.run_errors.append("interrupted")


def _print_dry_run(out: t.TextIO, profile: Profile, spec_path: Path, target: str, selection: Selection) -> None:
    print(f"mockserver contract --dry-run: {_api_name(profile, spec_path)} ({spec_path.name}) against {target}: "
          "nothing is sent.", file=out)
    print(f"Would test {len(selection.run)} operations:", file=out)
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


def _check_rate(rate: str) -> None:
    from schemathesis.core.errors import InvalidRateLimit
    from schemathesis.core.rate_limit import parse_units

    try:
        limit, _ = parse_units(rate)
    except InvalidRateLimit:
        raise UsageError(f"--rate {rate!r}: expected N/s, N/m, N/h or N/d (e.g. 10/s)") from None
    if limit < 1:
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
    from schemathesis.config import ConfigError, SchemathesisConfig
    from schemathesis.config._output import DEFAULT_KEYS_TO_SANITIZE
    from schemathesis.config._phases import DEFAULT_UNEXPECTED_METHODS

    _register_check()
    _ACTIVE_PROFILES[profile.name] = profile
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
                                      else sorted(DEFAULT_UNEXPECTED_METHODS))
                if options.allow_destructive or method != "delete"]},
        },
        # Reports show requests as sent against the in-process mock (its credentials are public
        # fixtures, and masking also hides parameters that merely look sensitive, which makes the
        # curl commands wrong); against a real server, credentials are masked.
        "output": {"sanitization": {"enabled": not in_process,
                                    "keys-to-sanitize": [*DEFAULT_KEYS_TO_SANITIZE, "x-chutes-signature"]}},
        "checks": {
            # Invalid input must get the dialect's validation status (400 OpenAI, 422 FastAPI) and
            # nothing else: neither another 4xx nor a 5xx (which the default list allows).
            # FastAPI refuses a JSON body that is not text with a 400 before validating anything.
            "negative_data_rejection": {"expected-statuses": [str(profile.validation_status)] + (
                ["400"] if lax_dialect(profile) else [])},
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
    schema = schemathesis.openapi.from_dict(spec, config=config)
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
    return schema


def _mock_app(profile: Profile, options: Options, seed: int) -> t.Any:
    import warnings

    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from mockserver.app import ServerConfig, build_server
    from mockserver.engine.pipeline import Settings

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
