"""Invoking chutes: routing by Host (and the `/hosts/{label}` path form), the real checks and their
texts in order, the stand-in outputs, and what an invocation leaves behind (its record, the bill,
usage, stats, exports, reports). behaviour-lifecycle.md section 6. Prices are read from the chute's
advertised `current_estimated_price`, not from the pack's code."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import struct
import typing as t
from datetime import datetime, timezone

import pytest
from chutes_support import CLOCK, CONTROL, USERS, WORLD, auth, chute_args, chute_id_for, detail, ok, raw_json, signed
from PIL import Image
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

DEEPSEEK, QWEN, GEMMA = "deepseek-ai/DeepSeek-V3-0324", "Qwen/Qwen3-32B", "unsloth/gemma-3-12b-it"
FLUX = "FLUX.1-schnell"
DEEPSEEK_ID, FLUX_ID = chute_id_for("chutes", DEEPSEEK), chute_id_for("chutes", FLUX)
BOB_LLM_ID = chute_id_for("bob", "bob-private-llm")
LLM, IMAGE, EMBED = "llm.localhost:8000", "image.localhost:8000", "embed.localhost:8000"
DEEPSEEK_HOST, EMBEDDINGS_HOST = "chutes-deepseek-ai-deepseek-v3-0324.localhost", "alice-alice-embeddings.localhost"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour, please!"}]
PROMPT_TOKENS = 3 + (3 + 3) + (3 + 6)  # 3 to prime the reply, 3 per message, then its words and punctuation


def invoke(api: t.Any, host: str, path: str, body: t.Any = None, user: str | None = "alice",
           **kwargs: t.Any) -> t.Any:
    headers = {**(auth(user) if user else {}), "host": host, **kwargs.pop("headers", {})}
    return api.client.post(path, json=body, headers=headers, **kwargs)


def chat(api: t.Any, model: str = DEEPSEEK, user: str = "alice", **extra: t.Any) -> t.Any:
    return invoke(api, LLM, "/v1/chat/completions", {"model": model, "messages": MESSAGES, **extra}, user)


def balance(api: t.Any, user: str) -> float:
    return api.user(user)["balance"]


def chute(api: t.Any, chute_id: str, user: str = "alice") -> dict:
    return ok(api.get(f"/chutes/{chute_id}", user))


def token_price(api: t.Any, chute_id: str, usage: dict) -> float:
    per_million = chute(api, chute_id)["current_estimated_price"]["per_million_tokens"]
    return (usage["prompt_tokens"] * per_million["input"]["usd"]
            + usage["completion_tokens"] * per_million["output"]["usd"]) / 1e6


def record_of(api: t.Any, invocation_id: str) -> dict:
    return next(i for i in api.state()["invocations"] if i["parent_invocation_id"] == invocation_id)


def make_hot(api: t.Any, name: str, user: str) -> None:
    ok(api.get(f"/chutes/warmup/{name}", user, params={"quick": "true"}))
    api.advance(WORLD["warmup_seconds"])


def sse_events(text: str) -> list[t.Any]:
    events = [line[len("data: "):] for line in text.split("\n\n") if line.startswith("data: ")]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


def today(api: t.Any, path: str, chute_id: str) -> dict:
    """The one row of `path` (usage or stats) for this chute on the clock's day."""
    [row] = [r for r in ok(api.get(path)) if r["chute_id"] == chute_id and r["date"] == "2025-11-21"]
    return row


def csv_rows(response: t.Any) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


# -- routing --------------------------------------------------------------------------------------


def test_the_llm_host_lists_the_platforms_public_llms_without_auth(api: t.Any) -> None:
    listed = ok(api.client.get("/v1/models", headers={"host": LLM}))
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == [DEEPSEEK, QWEN, GEMMA]  # most invoked first
    card = listed["data"][0]
    advertised = chute(api, DEEPSEEK_ID)["current_estimated_price"]["per_million_tokens"]
    assert card["price"] == advertised and card["object"] == "model" and card["root"] == DEEPSEEK
    assert card["pricing"] == {"prompt": advertised["input"]["usd"], "completion": advertised["output"]["usd"]}
    assert ok(api.client.get("/hosts/llm/v1/models")) == listed


@pytest.mark.parametrize("host", ["llm.localhost:8000", "llm.127.0.0.1.nip.io", "LLM.Chutes.AI", "llm.mock"])
def test_the_first_host_label_routes_to_the_llm_endpoint(api: t.Any, host: str) -> None:
    response = invoke(api, host, "/v1/chat/completions", {"model": DEEPSEEK, "messages": MESSAGES})
    assert ok(response)["object"] == "chat.completion"


def test_the_path_form_stands_for_the_host(api: t.Any) -> None:
    by_path = api.client.post("/hosts/llm/v1/chat/completions", json={"model": DEEPSEEK, "messages": MESSAGES},
                              headers=auth("alice"))
    by_host = chat(api)
    assert ok(by_path)["choices"] == ok(by_host)["choices"]
    slug = api.client.post("/hosts/alice-alice-embeddings/run", json={"q": 1}, headers=auth("alice"))
    assert set(ok(slug)) == {"result", "score"}


def test_other_requests_on_an_invocation_host_reach_the_api(api: t.Any) -> None:
    """Only POSTs (and `GET /v1/models`) are invocations on llm.; other calls are the normal API."""
    got = ok(api.client.get(f"/chutes/{DEEPSEEK_ID}", headers={**auth("alice"), "host": LLM}))
    assert got["name"] == DEEPSEEK
    assert ok(api.client.get("/invocations/usage", headers={"host": "api.localhost"}))


def test_a_chute_slug_host_invokes_that_chutes_cords(api: t.Any) -> None:
    first = ok(invoke(api, EMBEDDINGS_HOST, "/run", {"text": "hello"}))
    assert isinstance(first["result"], str) and 0 <= first["score"] <= 1
    assert ok(invoke(api, EMBEDDINGS_HOST, "/run", {"text": "hello"})) == first  # same input, same output
    tokens = ok(invoke(api, DEEPSEEK_HOST, "/tokenize", {"prompt": "one two three"}))
    assert tokens["count"] == 3 and len(tokens["tokens"]) == 3
    models = api.client.get("/v1/models", headers={**auth("alice"), "host": DEEPSEEK_HOST})  # a GET cord
    assert [m["id"] for m in ok(models)["data"]] == [DEEPSEEK] and models.headers["x-chutes-invocationid"]


def test_with_several_packs_the_host_wins_over_path_prefixes() -> None:
    """OpenAI Usage owns `/v1`; a request to the llm host still reaches Chutes."""
    server = build_server(ServerConfig(apis=["chutes", "openai_usage"], seed=3, clock_start=CLOCK,
                                       settings=Settings(validate_responses=True)))
    with TestClient(server, base_url="http://127.0.0.1:8000") as client:
        body = {"model": DEEPSEEK, "messages": MESSAGES}
        via_host = client.post("/v1/chat/completions", json=body, headers={**auth("alice"), "host": LLM})
        via_path = client.post("/hosts/llm/v1/chat/completions", json=body, headers=auth("alice"))
        assert ok(via_host)["model"] == ok(via_path)["model"] == DEEPSEEK
        plain = client.post("/v1/chat/completions", json=body, headers=auth("alice"))
        assert plain.status_code == 404 and "error" in plain.json()  # the OpenAI pack's own 404
        costs = client.get("/v1/organization/costs", params={"start_time": CLOCK - 86400},
                           headers={"Authorization": "Bearer sk-admin-mockserver"})
        assert costs.status_code == 200


# -- auth and checks, in the real order -----------------------------------------------------------


def test_invoking_needs_credentials(api: t.Any) -> None:
    body = {"model": DEEPSEEK, "messages": MESSAGES}
    assert detail(invoke(api, LLM, "/v1/chat/completions", body, user=None), 401) == "Authentication required."
    assert detail(invoke(api, EMBEDDINGS_HOST, "/run", {}, user=None), 401) == "Authentication required."
    bad = invoke(api, LLM, "/v1/chat/completions", body, user=None, headers={"Authorization": "cpk_nope"})
    assert detail(bad, 401) == "Missing or invalid authorization header(s)"


def test_a_hotkey_signature_over_the_body_works(api: t.Any) -> None:
    body = {"model": DEEPSEEK, "messages": MESSAGES}
    raw = raw_json(body)
    headers = {**signed("alice", raw=raw), "host": LLM, "content-type": "application/json"}
    assert ok(api.client.post("/v1/chat/completions", content=raw, headers=headers))["model"] == DEEPSEEK


def test_api_key_scopes_are_checked_for_the_invoke_action(api: t.Any) -> None:
    read_only = {"Authorization": USERS["alice"]["api_keys"][1]["value"]}
    response = invoke(api, LLM, "/v1/chat/completions", {"model": DEEPSEEK}, user=None, headers=read_only)
    assert detail(response, 401) == "Invalid token or user not found"
    scopes = [{"object_type": "chutes", "action": "invoke"}]
    key = ok(api.client.post(f"{CONTROL}/users/alice/api_keys", json={"admin": False, "scopes": scopes}), 201)
    allowed = invoke(api, LLM, "/v1/chat/completions", {"model": DEEPSEEK, "messages": MESSAGES}, user=None,
                     headers={"Authorization": key["value"]})
    assert ok(allowed)["model"] == DEEPSEEK


@pytest.mark.parametrize(("raw", "host", "text"), [
    (b"{not json", LLM, "Invalid request JSON: {str(exc)}"),  # sic: the real text is not formatted
    (b"[1, 2]", LLM, "Invalid request JSON: {str(exc)}"),
    (b"{not json", EMBEDDINGS_HOST, "invalid request JSON payload: Expecting property name enclosed in double "
                                    "quotes: line 1 column 2 (char 1)"),
    (b"", EMBEDDINGS_HOST, "invalid request JSON payload: Expecting value: line 1 column 1 (char 0)"),
])
def test_bad_json_is_a_400(api: t.Any, raw: bytes, host: str, text: str) -> None:
    path = "/v1/chat/completions" if host == LLM else "/run"
    response = api.client.post(path, content=raw, headers={**auth("alice"), "host": host})
    assert detail(response, 400) == text


@pytest.mark.parametrize(("model", "user"), [("no/such-model", "alice"), (FLUX, "alice"),  # wrong template
                                             ("bob-private-llm", "carol")])  # not visible to carol
def test_a_model_the_caller_cannot_use_is_not_found(api: t.Any, model: str, user: str) -> None:
    api.update_user("carol", balance=5.0)
    assert detail(chat(api, model, user), 404) == f"model not found: {model}"


def test_a_model_may_be_named_by_id_or_with_the_thinking_suffix(api: t.Any) -> None:
    assert ok(chat(api, DEEPSEEK_ID))["model"] == DEEPSEEK
    assert ok(chat(api, f"{DEEPSEEK}:THINKING"))["model"] == DEEPSEEK


def test_no_model_or_no_chute_is_no_matching_chute(api: t.Any) -> None:
    no_model = invoke(api, LLM, "/v1/chat/completions", {"messages": MESSAGES})
    assert detail(no_model, 404) == "No matching chute found!"
    # On the api host, an unknown path with credentials is an invocation of nothing.
    assert detail(api.client.post("/nope", json={}, headers=auth("alice")), 404) == "No matching chute found!"
    assert detail(api.client.post("/chutes/no-such-chute/run", json={}, headers=auth("alice")), 404) == \
        "No matching chute found!"


def test_a_path_or_method_no_cord_serves_is_no_matching_cord(api: t.Any) -> None:
    assert detail(invoke(api, EMBEDDINGS_HOST, "/other", {}), 404) == "No matching cord found!"
    get = api.client.get("/run", headers={**auth("alice"), "host": EMBEDDINGS_HOST})
    assert detail(get, 404) == "No matching cord found!"
    # vllm cords also match on `stream`: a value neither cord has finds none.
    assert detail(chat(api, stream="yes"), 404) == "No matching cord found!"
    # Naming a chute in the path on the api host finds it, but no cord has that path.
    named = api.client.post(f"/chutes/{DEEPSEEK_ID}/v1/chat/completions", json={}, headers=auth("alice"))
    assert detail(named, 404) == "No matching cord found!"


def test_a_private_chute_whose_owner_has_no_balance_is_402(api: t.Any) -> None:
    api.update_user("bob", balance=0.0)
    text = "Chute unavailable because the creator of this chute {chute.user_id=} has zero balance."
    assert detail(chat(api, "bob-private-llm"), 402) == text


def test_without_quota_or_balance_a_call_is_402(api: t.Any) -> None:
    got = detail(chat(api, user="carol"), 402)
    assert got == {"message": "Quota exceeded and account balance is $0.0, please pay with fiat or send tao to "
                              f"{WORLD['payment_address']}"}


def test_the_daily_quota_makes_calls_free_then_pay_as_you_go(api: t.Any) -> None:
    ok(api.client.put(f"{CONTROL}/settings", json={"invocation_quota": 2}))
    before = balance(api, "alice")
    for _ in range(2):
        ok(chat(api))
    assert balance(api, "alice") == before  # within the quota
    third = ok(chat(api))
    assert balance(api, "alice") == pytest.approx(before - token_price(api, DEEPSEEK_ID, third["usage"]))
    for _ in range(2):
        ok(chat(api, user="carol"))  # free, though carol has $0
    got = detail(chat(api, user="carol"), 402)
    assert got["quota_reset_timestamp"] == "2025-11-22T00:00:00+00:00"
    api.advance(86400)  # a new UTC day, a new quota
    ok(chat(api, user="carol"))


def test_a_chute_without_a_hot_instance_is_503_until_warm(api: t.Any) -> None:
    gemma_id = chute_id_for("chutes", GEMMA)
    assert detail(chat(api, GEMMA), 503) == f"No instances available (yet) for chute_id='{gemma_id}'"
    make_hot(api, GEMMA, "alice")
    assert ok(chat(api, GEMMA))["model"] == GEMMA


def test_a_disabled_chute_is_under_maintenance(api: t.Any) -> None:
    response = invoke(api, "carol-carol-sandbox.localhost", "/run", {}, user="carol")
    assert detail(response, 429) == "model is under maintenance"


@pytest.mark.parametrize("body", [{"prompt": "a cat", "width": 64}, {"prompt": "a cat", "bogus": 1},
                                  {"negative_prompt": "no prompt"}, {"prompt": "x", "guidance_scale": 30}])
def test_diffusion_inputs_are_checked(api: t.Any, body: dict) -> None:
    response = invoke(api, IMAGE, "/generate", {"model": FLUX, **body})
    assert detail(response, 400) == "bad request, naughty naughty"


# -- outputs --------------------------------------------------------------------------------------


def test_a_chat_completion(api: t.Any) -> None:
    response = chat(api)
    answer = ok(response)
    assert answer["object"] == "chat.completion" and answer["model"] == DEEPSEEK
    [choice] = answer["choices"]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    text = choice["message"]["content"]
    usage = answer["usage"]
    assert usage["prompt_tokens"] == PROMPT_TOKENS
    assert usage["completion_tokens"] == len(text.rstrip(".").split()) and text.endswith(".")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    invocation_id = response.headers["x-chutes-invocationid"]
    assert answer["id"] == "chatcmpl-" + invocation_id.replace("-", "")
    again = ok(chat(api))
    assert again["choices"] == answer["choices"] and again["id"] != answer["id"]  # same input, same text
    other = ok(chat(api, messages=[{"role": "user", "content": "something else"}]))
    assert other["choices"][0]["message"]["content"] != text


def test_max_tokens_cuts_the_answer(api: t.Any) -> None:
    answer = ok(chat(api, max_tokens=3))
    assert answer["usage"]["completion_tokens"] == 3 and answer["choices"][0]["finish_reason"] == "length"


def test_a_streamed_chat_completion_always_ends_with_usage(api: t.Any) -> None:
    whole = ok(chat(api))
    response = chat(api, stream=True)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-chutes-invocationid"]
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    # The server forces stream_options.include_usage, so the usage chunk comes even unasked.
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_a_text_completion_streamed_and_not(api: t.Any) -> None:
    body = {"model": DEEPSEEK, "prompt": "Once upon a time"}
    whole = ok(invoke(api, LLM, "/v1/completions", body))
    assert whole["object"] == "text_completion" and whole["usage"]["prompt_tokens"] == 4
    events = sse_events(invoke(api, LLM, "/v1/completions", {**body, "stream": True}).text)
    assert "".join(e["choices"][0]["text"] for e in events[:-1] if e["choices"]) == whole["choices"][0]["text"]
    assert events[-2]["usage"] == whole["usage"]


def test_embeddings_on_the_embed_host(api: t.Any) -> None:
    cords = [{"method": "POST", "path": "/embed", "function": "embed", "stream": False, "passthrough": True,
              "public_api_path": "/v1/embeddings", "public_api_method": "POST"}]
    ok(api.deploy(chute_args("bob-embedder", standard_template="embedding", cords=cords), "bob"))
    make_hot(api, "bob-embedder", "bob")
    body = {"model": "bob-embedder", "input": ["hello world", "goodbye"]}
    answer = ok(invoke(api, EMBED, "/v1/embeddings", body, user="bob"))
    assert answer["object"] == "list" and [d["index"] for d in answer["data"]] == [0, 1]
    vector = answer["data"][0]["embedding"]
    assert len(vector) == 384 and math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-4)
    assert answer["usage"]["prompt_tokens"] == 3
    assert ok(invoke(api, EMBED, "/v1/embeddings", body, user="bob"))["data"] == answer["data"]
    packed = ok(invoke(api, EMBED, "/v1/embeddings", {**body, "encoding_format": "base64"}, user="bob"))
    decoded = struct.unpack("<384f", base64.b64decode(packed["data"][0]["embedding"]))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vector, strict=True))
    assert detail(invoke(api, EMBED, "/v1/embeddings", {"model": DEEPSEEK, "input": "x"}), 404) == \
        f"model not found: {DEEPSEEK}"


def test_diffusion_answers_a_real_image(api: t.Any) -> None:
    body = {"model": FLUX, "prompt": "a red fox", "width": 320, "height": 256, "seed": 7}
    response = invoke(api, IMAGE, "/generate", body)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"  # the cord's type
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "JPEG" and picture.size == (320, 256)
    assert invoke(api, IMAGE, "/generate", body).content == response.content
    assert invoke(api, IMAGE, "/generate", {**body, "seed": 8}).content != response.content


# -- recorded and billed ----------------------------------------------------------------------------


def test_a_call_is_recorded_counted_and_charged_by_its_tokens(api: t.Any) -> None:
    before, count = balance(api, "alice"), chute(api, DEEPSEEK_ID)["invocation_count"]
    response = chat(api)
    usage = ok(response)["usage"]
    price = token_price(api, DEEPSEEK_ID, usage)
    assert price > 0 and balance(api, "alice") == pytest.approx(before - price)
    assert chute(api, DEEPSEEK_ID)["invocation_count"] == count + 1
    row = record_of(api, response.headers["x-chutes-invocationid"])
    assert row["user_id"] == USERS["alice"]["user_id"] and row["chute_id"] == DEEPSEEK_ID
    assert row["function_name"] == "chat" and row["started_at"] == CLOCK and row["completed_at"] > CLOCK
    assert row["error_message"] is None and row["usd_amount"] == pytest.approx(price)
    assert (row["input_tokens"], row["output_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    instances = [i["instance_id"] for i in chute(api, DEEPSEEK_ID)["instances"]]
    assert row["instance_id"] in instances
    assert record_of(api, chat(api, stream=True).headers["x-chutes-invocationid"])["function_name"] == "chat_stream"


def test_diffusion_is_charged_per_step(api: t.Any) -> None:
    before = balance(api, "alice")
    ok_image = invoke(api, IMAGE, "/generate", {"model": FLUX, "prompt": "a fox", "width": 128, "height": 128,
                                                "num_inference_steps": 60})  # capped at 50
    assert ok_image.status_code == 200
    per_step = chute(api, FLUX_ID)["current_estimated_price"]["per_step"]["usd"]
    assert balance(api, "alice") == pytest.approx(before - 50 * per_step)
    assert record_of(api, ok_image.headers["x-chutes-invocationid"])["steps"] == 50


def test_other_cords_are_charged_per_started_second(api: t.Any) -> None:
    """ceil(seconds) × compute multiplier (with boost) × the GPU-hour basis / 3600: one second here."""
    for name, slug in ((DEEPSEEK, DEEPSEEK_HOST), (QWEN, "chutes-qwen-qwen3-32b.localhost")):
        advertised = chute(api, chute_id_for("chutes", name))
        before = balance(api, "alice")
        ok(invoke(api, slug, "/tokenize", {"prompt": "a b"}))
        per_second = advertised["current_estimated_price"]["usd"]["second"] * (advertised["boost"] or 1.0)
        assert balance(api, "alice") == pytest.approx(before - per_second)


def test_private_chutes_bill_shared_users_and_credit_the_owner(api: t.Any) -> None:
    api.update_user("bob", free_account=False)
    make_hot(api, "bob-private-llm", "bob")
    alice, bob = balance(api, "alice"), balance(api, "bob")
    usage = ok(chat(api, "bob-private-llm"))["usage"]
    price = token_price(api, BOB_LLM_ID, usage)
    assert balance(api, "alice") == pytest.approx(alice - price)
    assert balance(api, "bob") == pytest.approx(bob + price)
    ok(chat(api, "bob-private-llm", user="bob"))  # the owner's own call is free
    assert balance(api, "bob") == pytest.approx(bob + price)
    # Paid by alice, credited to bob: the chute's usage nets out, both calls count.
    usage_row = today(api, "/invocations/usage", BOB_LLM_ID)
    assert (usage_row["usd_amount"], usage_row["invocation_count"]) == (0.0, 2)


def test_free_accounts_are_not_debited_but_their_usage_is_priced(api: t.Any) -> None:
    before = balance(api, "bob")
    usage = ok(chat(api, user="bob"))["usage"]
    assert balance(api, "bob") == before
    row = today(api, "/invocations/usage", DEEPSEEK_ID)
    assert row["invocation_count"] == 1 and row["usd_amount"] == pytest.approx(token_price(api, DEEPSEEK_ID, usage))


def test_a_call_shows_in_usage_stats_and_exports_of_its_hour(api: t.Any) -> None:
    assert not [r for r in ok(api.get("/invocations/usage")) if r["date"] == "2025-11-21"]
    response = chat(api)
    invocation_id, usage = response.headers["x-chutes-invocationid"], response.json()["usage"]
    image = invoke(api, IMAGE, "/generate", {"model": FLUX, "prompt": "x", "width": 128, "height": 128})
    row = today(api, "/invocations/usage", DEEPSEEK_ID)
    assert row["invocation_count"] == 1 and row["usd_amount"] == pytest.approx(token_price(api, DEEPSEEK_ID, usage))
    llm = today(api, "/invocations/stats/llm", DEEPSEEK_ID)
    assert (llm["total_requests"], llm["total_input_tokens"], llm["total_output_tokens"]) == (
        1, usage["prompt_tokens"], usage["completion_tokens"])
    steps = today(api, "/invocations/stats/diffusion", FLUX_ID)
    assert steps["total_steps"] == 25 and steps["total_requests"] == 1
    recent = csv_rows(api.get("/invocations/exports/recent"))
    assert {recent[0]["invocation_id"], recent[1]["invocation_id"]} == {
        invocation_id, image.headers["x-chutes-invocationid"]}
    row = next(r for r in recent if r["invocation_id"] == invocation_id)
    assert '"it": %d' % usage["prompt_tokens"] in row["metrics"] and row["function_name"] == "chat"
    hour = "/invocations/exports/2025/11/21/0.csv"
    assert detail(api.get(hour), 404) == "Invocations export not found year=2025 month=11 day=21 hour=0"
    api.advance(3600)  # the hour is over: its export exists
    assert invocation_id in {r["invocation_id"] for r in csv_rows(api.get(hour))}


def test_an_invocation_can_be_reported_by_its_caller(api: t.Any) -> None:
    invocation_id = chat(api).headers["x-chutes-invocationid"]
    reason = {"reason": "the answer was nonsense"}
    assert detail(api.post(f"/invocations/{invocation_id}/report", reason, "bob"), 404) == \
        "Invocation not found, or does not belong to you"
    assert ok(api.post(f"/invocations/{invocation_id}/report", reason, "alice")) == {
        "status": f"report received for invocation_id='{invocation_id}'"}
    api.advance(3600)
    reports = csv_rows(api.get("/invocations/exports/2025/11/21/0-reports.csv"))
    assert [(r["invocation_id"], r["reason"]) for r in reports] == [(invocation_id, reason["reason"])]


def test_the_jobs_export_lists_job_runs(api: t.Any) -> None:
    deployed = ok(api.deploy(chute_args("trainer", cords=[], jobs=[{"name": "train"}]), "bob"))
    job = {"chute_id": deployed["chute_id"], "user": "bob", "method": "train", "started_at": CLOCK + 60,
           "duration": 1200}
    job_id = ok(api.client.post(f"{CONTROL}/jobs", json=job), 201)["job_id"]
    missing = api.client.post(f"{CONTROL}/jobs", json={**job, "method": "nope"})
    assert missing.status_code == 404
    api.advance(2 * 3600)
    response = api.get("/invocations/exports/2025/11/21/0-jobs.csv")
    assert response.text.splitlines()[0] == ("job_id,chute_id,version,chutes_version,method,miner_uid,miner_hotkey,"
                                             "miner_coldkey,instance_id,created_at,updated_at,started_at,finished_at,"
                                             "status,compute_multiplier,miner_terminated")
    [row] = csv_rows(response)
    assert (row["job_id"], row["method"], row["status"]) == (job_id, "train", "complete")
    assert row["started_at"] == datetime.fromtimestamp(CLOCK + 60, timezone.utc).replace(tzinfo=None).isoformat()
    assert job_id not in {r["job_id"] for r in csv_rows(api.get("/invocations/exports/2025/11/20/23-jobs.csv"))}


def test_the_model_list_refuses_bad_credentials(api: t.Any) -> None:
    response = api.client.get("/v1/models", headers={"host": LLM, "Authorization": "cpk_nope"})
    assert detail(response, 401) == "Missing or invalid authorization header(s)"
    assert ok(api.client.get("/v1/models", headers={**auth("bob"), "host": LLM}))["data"]


def test_custom_cords_answer_in_their_content_type(api: t.Any) -> None:
    cords = [{"method": "POST", "path": "/draw", "function": "draw", "stream": False,
              "public_api_path": "/draw", "public_api_method": "POST", "output_content_type": "image/png"},
             {"method": "POST", "path": "/say", "function": "say", "stream": False,
              "public_api_path": "/say", "public_api_method": "POST", "output_content_type": "text/plain"}]
    deployed = ok(api.deploy(chute_args("painter", cords=cords), "bob"))
    make_hot(api, "painter", "bob")
    host = f"{deployed['slug']}.localhost"
    drawn = invoke(api, host, "/draw", {"what": "a tree"}, user="bob")
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(drawn.content)).format == "PNG"
    said = invoke(api, host, "/say", {"what": "hi"}, user="bob")
    assert said.status_code == 200 and said.headers["content-type"].startswith("text/plain") and said.text
    assert invoke(api, host, "/say", {"what": "hi"}, user="bob").text == said.text


def test_a_streaming_cord_answers_an_event_stream(api: t.Any) -> None:
    cords = [{"method": "POST", "path": "/feed", "function": "feed", "stream": True, "public_api_path": "/feed",
              "public_api_method": "POST", "output_schema": {"type": "object", "required": ["n"],
                                                             "properties": {"n": {"type": "integer"}}}}]
    deployed = ok(api.deploy(chute_args("feeder", cords=cords), "bob"))
    make_hot(api, "feeder", "bob")
    response = invoke(api, f"{deployed['slug']}.localhost", "/feed", {"x": 1}, user="bob")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    [event] = sse_events(response.text)
    assert isinstance(event["n"], int)


def test_the_hourly_export_names_the_parent_invocation(api: t.Any) -> None:
    invocation_id = chat(api).headers["x-chutes-invocationid"]
    api.advance(3600)
    [row] = [r for r in csv_rows(api.get("/invocations/exports/2025/11/21/0.csv"))
             if r["parent_invocation_id"] == invocation_id]
    assert row["invocation_id"] == invocation_id  # one attempt: the parent is the attempt itself


@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", {}), ("/v1/chat/completions", {"messages": []}),
                                            ("/v1/chat/completions", {"messages": "hi"}), ("/v1/completions", {})])
def test_an_llm_request_the_model_cannot_read_is_400_and_free(api: t.Any, path: str, body: dict) -> None:
    before = balance(api, "alice")
    response = invoke(api, LLM, path, {"model": DEEPSEEK, **body})
    assert detail(response, 400).startswith("Invalid request: ")
    assert balance(api, "alice") == before


def test_an_invocation_keeps_the_instance_it_used_up(api: t.Any) -> None:
    """A call marks its instance used: a private chute's idle time (`shutdown_after_seconds`, 300
    for bob's) starts over when the call ends, so traffic keeps the instance from scaling down."""
    bobs_id = chute_id_for("bob", "bob-private-llm")
    make_hot(api, "bob-private-llm", "bob")
    [instance] = chute(api, bobs_id, "bob")["instances"]
    api.advance(250)
    response = chat(api, "bob-private-llm")  # alice, whom bob shares it with
    assert response.status_code == 200, response.text
    row = record_of(api, response.headers["x-chutes-invocationid"])
    assert row["instance_id"] == instance["instance_id"]
    took = math.ceil(row["completed_at"] - row["started_at"])
    api.advance(250)  # 500 s after it was ready, 250 s after the call
    assert [i["instance_id"] for i in chute(api, bobs_id, "bob")["instances"]] == [instance["instance_id"]]
    api.advance(took + 51)  # 300 s idle since the call ended
    assert chute(api, bobs_id, "bob")["instances"] == []
