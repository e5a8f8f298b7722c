"""Invoking a chute: the real server's catch-all route, with its checks in their order.

`hostname_invocation` answers every request no spec operation matches (the real app ends with a
`{path:path}` route): `GET llm…/v1/models` without auth; otherwise auth (401 `Authentication
required.`), the mega endpoints' `model` lookup, maintenance, then `_invoke`: visibility, the
private chute owner's balance, quota and balance, the JSON body, the cord, the template's input
rules, a hot instance. The answer is a deterministic stand-in of the cord's output (`outputs.py`),
and the call is recorded and billed (`billing.py`) before it is sent.
"""

from __future__ import annotations

import asyncio
import json
import math
import typing as t
from datetime import datetime, timedelta, timezone

from mockserver.engine.http import Request, Response, json_bytes
from mockserver.engine.issues import ApiError
from mockserver.packs.chutes import outputs
from mockserver.packs.chutes.auth import invocation_caller
from mockserver.packs.chutes.billing import Work, is_user_private, new_invocation_id, quota_used, record
from mockserver.packs.chutes.instances import Instance
from mockserver.packs.chutes.render import estimated_price
from mockserver.packs.chutes.store import ChutesStore
from mockserver.packs.chutes.targets import MEGA_LLM, TEMPLATES, invocation_target

_NO_CHUTE = "No matching chute found!"
_DIFFUSION_FIELDS = {"prompt", "negative_prompt", "height", "width", "num_inference_steps", "guidance_scale",
                     "seed", "img_guidance_scale", "image_b64"}
LLM_TTFT, LLM_TPS, DIFFUSION_SPS, OTHER_SECONDS = 0.25, 50.0, 2.0, 0.5


def hostname_invocation(request: Request[ChutesStore]) -> t.Any:
    store = request.state
    target = invocation_target(request)
    caller = invocation_caller(request, target)  # bad credentials are refused even for the model list
    if target == MEGA_LLM and request.method == "GET" and request.path == "/v1/models":
        request.route = "llm models"
        return list_llms(store)
    if caller is None:
        raise ApiError(401, "Authentication required.")
    body = None
    if target in TEMPLATES:
        body = _mega_body(request)
        target = _mega_chute(store, caller, target, body)
    chute = store.get_one(target, caller) if target is not None else None
    if chute is not None and chute.get("disabled"):
        raise ApiError(429, "model is under maintenance")
    return _invoke(request, store, caller, target, chute, body)


def list_llms(store: ChutesStore) -> dict:
    """`GET llm…/v1/models`: the platform's public vllm chutes, most invoked first."""
    system = store.user_by_name_or_id("chutes")
    chutes = sorted((c for c in store.chutes.values() if c["standard_template"] == "vllm" and c["public"]
                     and system is not None and c["user_id"] == system["user_id"]),
                    key=lambda c: -c["invocation_count"])
    return {"object": "list", "data": [outputs.model_card(c, _epoch(c["created_at"]),
                                                          estimated_price(c, store.world)["per_million_tokens"])
                                       for c in chutes]}


def _epoch(iso_time: str) -> int:
    return int(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp())


def _mega_body(request: Request[ChutesStore]) -> dict:
    try:
        payload = request.parse_json(request.raw_body)  # depth-bounded: ValueError past it
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise ApiError(400, "Invalid request JSON: {str(exc)}")  # sic: the real text is not an f-string
    model = payload.get("model")
    thinking = (request.headers.get("x-enable-thinking") or "").lower() == "true"
    if isinstance(model, str) and model.endswith(":THINKING"):
        payload["model"], thinking = model.split(":THINKING")[0], True
    if thinking:
        payload.setdefault("chat_template_kwargs", {}).update({"thinking": True, "enable_thinking": True})
    if payload.get("tools") and "tool_choice" not in payload:
        payload["tool_choice"] = "auto"
    return payload


def _mega_chute(store: ChutesStore, caller: dict, mega: str, body: dict) -> str:
    """The chute `model` names (exact name or id, the host's template, visible to the caller)."""
    model = body.get("model")
    if not model:
        return mega  # no chute has this id: `_invoke` answers "No matching chute found!"
    chute = store.get_one(str(model), caller)
    if chute is None or chute["standard_template"] != TEMPLATES[mega] or not store.visible(chute, caller):
        raise ApiError(404, f"model not found: {model}")
    return chute["chute_id"]


def _invoke(request: Request[ChutesStore], store: ChutesStore, caller: dict, target: str | None, chute: dict | None,
            body: dict | None) -> t.Any:
    if chute is None or not store.visible(chute, caller):
        raise ApiError(404, _NO_CHUTE)
    request.route = "chute invocation"  # the journal counts it as matched, unless no cord is
    _check_owner_balance(store, chute)
    free = _check_quota(store, caller, chute)
    if body is None:
        body = _request_body(request)
    stream = body.get("stream", request.query.get("stream", [False])[-1])
    cord = _select_cord(chute, request, stream)
    if cord is None:
        request.route = None
        raise ApiError(404, "No matching cord found!")
    stream = stream or bool(cord.get("stream"))
    _prepare_body(chute, body, stream)
    store.settle()  # an instance whose start-up is done by now takes the call
    instances = store.instances.hot_for(chute["chute_id"])
    if not instances:
        raise ApiError(503, f"No instances available (yet) for chute_id='{target}'")
    invocation_id = new_invocation_id(store)
    instance = instances[chute["invocation_count"] % len(instances)]
    return _answer(request, store, chute, cord, body, bool(stream), invocation_id,
                   lambda work: _record(store, invocation_id, chute, caller, instance, work, free))


def _record(store: ChutesStore, invocation_id: str, chute: dict, caller: dict, instance: Instance, work: Work,
            free: bool) -> None:
    with store.lock:
        row = record(store, invocation_id, chute, caller, instance, work, free=free)
        store.instance_used(instance.instance_id, row["completed_at"])  # busy: its idle time starts over


def _check_owner_balance(store: ChutesStore, chute: dict) -> None:
    owner = store.users.get(chute["user_id"])
    if is_user_private(store, chute) and (owner is None or owner["balance"] <= 0):
        raise ApiError(402, "Chute unavailable because the creator of this chute {chute.user_id=} has zero balance.")


def _check_quota(store: ChutesStore, caller: dict, chute: dict) -> bool:
    """True when the call is free (within the daily quota); 402 when it must be paid and can't be."""
    if caller.get("free_account"):
        return False
    quota = 0 if is_user_private(store, chute) else store.invocation_quota
    if quota and quota_used(store, caller, chute) < quota:
        return True
    if caller["balance"] <= 0:
        detail: dict[str, t.Any] = {
            "message": f"Quota exceeded and account balance is ${float(caller['balance'])}, please pay with "
                       f"fiat or send tao to {store.payment_address(caller)}"}
        if quota:
            tomorrow = datetime.fromtimestamp(store.clock.now(), timezone.utc).date() + timedelta(days=1)
            detail["quota_reset_timestamp"] = datetime(tomorrow.year, tomorrow.month, tomorrow.day,
                                                       tzinfo=timezone.utc).isoformat()
        raise ApiError(402, detail["message"], detail=detail)
    return False


def _request_body(request: Request[ChutesStore]) -> dict:
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}
    try:
        body = request.parse_json(request.raw_body)
    except ValueError as error:
        raise ApiError(400, f"invalid request JSON payload: {error}") from None
    if not isinstance(body, dict):  # the real server fails with a 500 here
        raise ApiError(400, "invalid request JSON payload: expected a JSON object")
    return body


def _select_cord(chute: dict, request: Request[ChutesStore], stream: t.Any) -> dict | None:
    for cord in chute["cords"]:
        if cord.get("public_api_path") and cord["public_api_path"] == request.path \
                and (cord.get("public_api_method") or "POST") == request.method \
                and (chute["standard_template"] != "vllm" or stream == cord.get("stream")):
            return cord
    return None


def _prepare_body(chute: dict, body: dict, stream: bool) -> None:
    """The template's own rules: diffusion inputs are checked, LLM calls always report usage."""
    if chute["standard_template"] == "diffusion":
        for key in ("cord", "method", "model"):
            body.pop(key, None)
        steps = body.get("num_inference_steps")
        if isinstance(steps, str) and steps.isdigit() or isinstance(steps, int) and not isinstance(steps, bool):
            cap = 30 if chute["name"] == "FLUX-1.dev" else 50
            # past a few digits the cap wins anyway (and int() refuses thousands of digits)
            body["num_inference_steps"] = cap if len(str(steps).lstrip("0")) > 6 else min(int(steps), cap)
        if not _valid_diffusion_input(body):
            raise ApiError(400, "bad request, naughty naughty")
    elif chute["standard_template"] == "vllm":
        if body.get("stream"):
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        body["model"] = chute["name"]


def _valid_diffusion_input(body: dict) -> bool:
    """The real server's `DiffusionInput` (extra fields forbidden)."""
    images = body.get("image_b64")
    return (set(body) <= _DIFFUSION_FIELDS and isinstance(body.get("prompt"), str)
            and isinstance(body.get("negative_prompt", ""), str)
            and _in_range(body, "height", 128, 2048, integer=True) and _in_range(body, "width", 128, 2048, integer=True)
            and _in_range(body, "num_inference_steps", 1, 50, integer=True)
            and _in_range(body, "guidance_scale", 1.0, 20.0) and _in_range(body, "img_guidance_scale", 1.0, 20.0)
            and _in_range(body, "seed", 0, 2**32 - 1, integer=True, nullable=True)
            and (images is None or isinstance(images, list) and all(isinstance(i, str) for i in images)))


def _in_range(body: dict, name: str, low: float, high: float, *, integer: bool = False,
              nullable: bool = False) -> bool:
    """An absent field takes its default; a present one must be a finite number within the bounds."""
    if name not in body:
        return True
    value = body[name]
    if value is None:
        return nullable
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):  # (an int is finite, and may be too big for a float)
        return False
    return (not integer or value == int(value)) and low <= value <= high


# -- answers --------------------------------------------------------------------------------------

def _answer(request: Request[ChutesStore], store: ChutesStore, chute: dict, cord: dict, body: dict, stream: bool,
            invocation_id: str, done: t.Callable[[Work], None]) -> t.Any:
    headers = {"X-Chutes-InvocationID": invocation_id}
    template, function = chute["standard_template"], cord["function"]
    path = request.path.lstrip("/")
    if template == "vllm" and path.startswith(("v1/chat", "v1/completion")):
        return _llm_answer(store, chute, cord, body, stream, invocation_id, headers, done)
    if template == "diffusion":
        return _image_answer(cord, body, headers, done)
    if template == "embedding" and function == "embed":
        answer, tokens = outputs.embeddings(chute["name"], body)
        done(Work(function, OTHER_SECONDS, input_tokens=tokens))
        return Response.json(answer, headers=headers)
    if function == "get_models":
        done(Work(function, OTHER_SECONDS))
        return Response.json({"object": "list", "data": [outputs.model_card(chute, _epoch(chute["created_at"]))]},
                             headers=headers)
    if template == "vllm" and function in ("do_tokenize", "do_detokenize"):
        done(Work(function, OTHER_SECONDS))
        answer = outputs.tokenize(body) if function == "do_tokenize" else outputs.detokenize(body)
        return Response.json(answer, headers=headers)
    if stream:
        return _custom_stream(cord, body, headers, done)
    return _custom_answer(cord, body, headers, done)


def _llm_answer(store: ChutesStore, chute: dict, cord: dict, body: dict, stream: bool, invocation_id: str,
                headers: dict, done: t.Callable[[Work], None]) -> Response:
    chat = cord["public_api_path"].startswith("/v1/chat")
    problem = outputs.llm_input_problem(body, chat)
    if problem is not None:  # the instance answers 400; the real server passes its words on
        raise ApiError(400, f"Invalid request: {problem}")
    pieces, finish = outputs.completion_pieces(chute["name"], body)
    prompt, completion = outputs.prompt_tokens(body), len(pieces)
    use = outputs.usage(prompt, completion)
    done(Work(cord["function"], round(LLM_TTFT + completion / LLM_TPS, 3),
              {"ttft": LLM_TTFT, "tps": LLM_TPS, "tokens": completion, "it": prompt, "ot": completion},
              input_tokens=prompt, output_tokens=completion))
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{invocation_id.replace('-', '')}"
    created = int(store.clock.now())
    if not stream:
        make = outputs.chat_completion if chat else outputs.text_completion
        return Response.json(make(ident, created, chute["name"], pieces, finish, use), headers=headers)
    chunks = (outputs.chat_chunks if chat else outputs.completion_chunks)(
        ident, created, chute["name"], pieces, finish, use, include_usage=True)
    return _event_stream(list(chunks), headers)


def _event_stream(chunks: list[bytes], headers: dict) -> Response:
    async def send_all() -> t.AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
    return Response(200, b"", "text/event-stream; charset=utf-8", headers, stream=send_all())


async def _image_answer(cord: dict, body: dict, headers: dict, done: t.Callable[[Work], None]) -> Response:
    steps = int(body.get("num_inference_steps") or 25)
    content_type = cord.get("output_content_type") or "image/jpeg"
    picture = await asyncio.to_thread(outputs.image, body, content_type)  # image work off the event loop
    done(Work(cord["function"], round(steps / DIFFUSION_SPS, 3), {"steps": steps, "sps": DIFFUSION_SPS}, steps=steps))
    return Response(200, picture, content_type, headers)


def _custom_stream(cord: dict, body: dict, headers: dict, done: t.Callable[[Work], None]) -> Response:
    """A streaming cord (or a `stream` request): its output as one server-sent event."""
    done(Work(cord["function"], OTHER_SECONDS))
    return _event_stream([b"data: " + json_bytes(outputs.custom_json(cord, body)) + b"\n\n"], headers)


async def _custom_answer(cord: dict, body: dict, headers: dict, done: t.Callable[[Work], None]) -> Response:
    """JSON valid against the cord's output schema, an image, or text, as its content type says."""
    done(Work(cord["function"], OTHER_SECONDS))
    content_type = cord.get("output_content_type") or "application/json"
    if "json" in content_type:
        return Response(200, json_bytes(outputs.custom_json(cord, body)), "application/json", headers)
    if content_type.startswith("image/"):
        picture = {"prompt": json.dumps(body, sort_keys=True, default=str), "width": 256, "height": 256}
        return Response(200, await asyncio.to_thread(outputs.image, picture, content_type), content_type, headers)
    if content_type.startswith("text/") and "charset" not in content_type:
        content_type += "; charset=utf-8"  # as Starlette labels text answers
    return Response(200, outputs.custom_text(cord, body).encode(), content_type, headers)
