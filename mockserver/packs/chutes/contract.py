"""The Chutes API's contract profile: what `mockserver contract --api chutes` (and
tests/contract/test_schemathesis_chutes.py) need to know to judge a server by its spec."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

import yaml

from mockserver.contract.profile import Case, Profile, Response, detail_text, document_unreadable_json_bodies
from mockserver.engine.openapi import deref
from mockserver.engine.resources import fixtures_dir

AUTH_HEADERS = ("XChutesHotkey", "XChutesSignature", "XChutesNonce", "Authorization")
CALLER = "chutes"  # the fixture user the in-process mock is called as (admin API key)
# One warmup event as the server streams it: `data: {"status": "cold"|"hot", "log": "..."}`.
WARMUP_EVENT = {
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["message"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {
            "type": "object", "required": ["status", "log"], "additionalProperties": False,
            "properties": {"status": {"type": "string", "enum": ["cold", "hot"]}, "log": {"type": "string"}}}},
    },
}
# One instance log event as the log server streams it: `data: {"event": "connected", "filename":
# "current"}` first, then `data: {"log": "<line>"}` per line (and a bare `.` line while idle, which
# carries no data).
LOG_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["message"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"anyOf": [
            {"type": "object", "required": ["event", "filename"], "additionalProperties": False,
             "properties": {"event": {"type": "string", "enum": ["connected"]}, "filename": {"type": "string"}}},
            {"type": "object", "required": ["log"], "additionalProperties": False,
             "properties": {"log": {"type": "string"}}},
        ]}},
    },
}
EVENT_STREAMS = {"/chutes/warmup/{chute_id_or_name}": WARMUP_EVENT, "/instances/{instance_id}/logs": LOG_EVENT}
# Every multipart field is text on the wire, and FastAPI reads a boolean form field as pydantic
# does: a "type-violating" `public` generated as 0 arrives as "0", a valid false, and the build
# goes on to its business rules (or succeeds).
FORM_CHECKS = {"negative_data_rejection": {"enabled": False}}
CORD = {"method": "POST", "path": "/echo", "function": "echo", "stream": False}
DEPLOY = {"image": "chutes/sglang:0.4.9", "public": False, "code": "chute = 1\n", "filename": "my_chute.py",
          "ref_str": "my_chute:chute", "standard_template": None,
          "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24}, "cords": [CORD]}


def profile() -> Profile:
    return Profile(
        name="chutes", dialect="fastapi",
        auth_scheme="APIKeyHeader", mock_credentials=mock_credentials,
        transform=as_tested, refusal=refusal, hotkey=True,
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
        # What that catch-all answers instead is checked by `unlisted_method`.
        unlisted_method=unlisted_method,
        # ensure_resource_availability reads a 404 from a link target after a create as "the
        # created chute is gone". It looks for a delete in between only on the created resource's
        # own path and below it; these operations name the chute elsewhere (/chutes/code/{id},
        # /chutes/warmup/{id}, the share body), so after DELETE /chutes/{id} their documented 404
        # is taken for a lost chute. Share also answers 404 for a target *user* that does not
        # exist (`Could not find target user to share with`), the generated one in particular.
        # GET and PUT /chutes/{chute_id_or_name} take the chute by id or by name, and the links
        # schemathesis infers from a deploy's answer name it by `name`; a DELETE in between names
        # it by id, on a path the check cannot match to the name, so the 404 after that delete
        # was read as a lost chute too (seen on a loaded machine, where schemathesis's scheduling
        # put a delete between the deploy and the update).
        operation_checks={
            **{operation_id: {"ensure_resource_availability": {"enabled": False}}
               for operation_id in ("get_chute_code_chutes_code__chute_id__get",
                                    "warm_up_chute_chutes_warmup__chute_id_or_name__get",
                                    "share_chute_chutes_share_post",
                                    "get_chute_chutes__chute_id_or_name__get",
                                    "update_common_attributes_chutes__chute_id_or_name__put")},
            "create_image_images__post": FORM_CHECKS,
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
        samples={"deploy_chute_chutes__post": deploy_sample},
    )


def mock_credentials() -> dict:
    users = yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
    caller = next(u for u in users if u["username"] == CALLER)
    key = next(k["value"] for k in caller["api_keys"] if k.get("admin"))
    return {"APIKeyHeader": {"api_key": key}}


def as_tested(spec: dict) -> dict:
    """Two changes, neither to what the API promises (tests/contract/test_schemathesis_chutes.py uses it too),
    and the 400 for unreadable JSON bodies documented (`document_unreadable_json_bodies`):

    - The four auth headers every authenticated operation declares as parameters (X-Chutes-Hotkey,
      X-Chutes-Signature, X-Chutes-Nonce, Authorization) are dropped. Declared parameters are always
      generated, so schemathesis would replace the valid credentials with generated text (and a
      generated X-Chutes-Hotkey + X-Chutes-Signature pair switches the server to hotkey auth): a
      401 that says nothing about the operation. Credentials come from the run (`--header`,
      `--chutes-hotkey-seed`, the mock's key) and `ignored_auth` tests that they are required.
    - The `text/event-stream` schemas of the warmup and the instance log: schemathesis reads the
      schema of an event stream in an OpenAPI 3.0 document as the schema of one event (`{data,
      event, id, retry}`), so the spec's `{type: string}` fails on every event. Each becomes the
      event its description documents.
    """
    refs = {f"#/components/parameters/{name}" for name in AUTH_HEADERS}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [p for p in operation["parameters"] if p.get("$ref") not in refs]
    for path, event in EVENT_STREAMS.items():
        stream = spec["paths"].get(path, {}).get("get")
        if stream is not None:
            content = stream["responses"]["200"]["content"]
            if content.get("text/event-stream", {}).get("schema") == {"type": "string"}:
                content["text/event-stream"]["schema"] = event
    return document_unreadable_json_bodies(spec)


# The methods of the real app's last route, `/{path:path}` (chute invocations by hostname).
CATCH_ALL_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"})
NO_CHUTE = "No matching chute found!"


def unlisted_method(case: Case, response: Response) -> str | None:
    """A method the path does not list: another route of the spec takes it when one matches (route
    order: `GET /chutes/share` is `GET /chutes/{chute_id_or_name}`), else the catch-all invocation
    route does: a 401 for credentials it does not take, or 404 `No matching chute found!` (no
    chute is invoked by the API host). Any other method (OPTIONS, TRACE) is Starlette's 405
    `Method Not Allowed`, whose `Allow` names some route's methods."""
    method = str(response.request.method).upper()
    path = urlsplit(str(response.request.url)).path
    if routed_elsewhere(case.operation.schema.raw_schema, method, path):
        return None
    status = response.status_code
    if method in CATCH_ALL_METHODS:
        if status == 401 or (status == 404 and (method == "HEAD" or detail_text(response) == NO_CHUTE)):
            return None
        expected = f"401, or 404 {{\"detail\": \"{NO_CHUTE}\"}} from the catch-all invocation route"
    else:
        if status == 405 and detail_text(response) == "Method Not Allowed":
            return None
        expected = '405 {"detail": "Method Not Allowed"}'
    return f"{method} {path} (a method the path does not list) answered {status} {response.text[:120]!r}; " \
           f"the real server answers {expected}"


def routed_elsewhere(spec: dict, method: str, path: str) -> bool:
    """Whether an operation of the spec takes `method` on `path` (HEAD: a GET's route)."""
    wanted = {method.lower()} | ({"get"} if method == "HEAD" else set())
    for template, item in spec.get("paths", {}).items():
        if wanted & set(item) and _template_pattern(template, item, spec).fullmatch(path):
            return True
    return False


def _template_pattern(template: str, item: dict, spec: dict) -> re.Pattern[str]:
    """A path template as Starlette matches it: a parameter is one segment, or any run of text
    without a line break for `format: path`."""
    greedy = {parameter.get("name") for operation in [item, *item.values()] if isinstance(operation, dict)
              for parameter in (deref(p, spec) for p in operation.get("parameters") or [])
              if isinstance(parameter, dict) and (parameter.get("schema") or {}).get("format") == "path"}
    pattern, last = "", 0
    for match in re.finditer(r"{([^}/]+)}", template):
        pattern += re.escape(template[last:match.start()]) + (".+" if match.group(1) in greedy else "[^/]+")
        last = match.end()
    return re.compile(pattern + re.escape(template[last:]))


def refusal(case: Case, response: Response) -> str | None:
    """Chutes refuses schema-valid requests for many documented reasons the schema cannot state
    (deploy rules, a lookup that finds nothing, a report already filed, billing): any documented
    4xx but 401/422 is fine, with FastAPI's `{"detail": "<text>"}` body."""
    if detail_text(response) is not None:
        return None
    return f"refusal {response.status_code} without a `{{\"detail\": \"<text>\"}}` body: {response.text[:300]}"


def deploy_sample(case: Case) -> None:
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
    case.body = {**DEPLOY, "name": f"contract-{digest[:10]}"}
    if isinstance(case.query, dict):
        case.query.pop("accept_fee", None)
