"""The official `openai` SDK invoking a Chutes LLM on a live `mockserver serve`, as clients of
llm.chutes.ai do: only the base URL changes (`http://127.0.0.1:<port>/hosts/llm/v1`, or the Host
`llm.localhost`), the API key is a fixture user's, and `model` is the chute's name.

The server also serves the OpenAI Usage pack, which owns `/v1/organization/...`: the llm host
still reaches Chutes. Its clock is frozen at 2025-11-21T00:00Z, so the invocations fall in that
hour; the test advances the clock past it to read the hourly export.
"""

from __future__ import annotations

import csv
import io
import typing as t
from pathlib import Path

import httpx
import pytest
import yaml
from lazy import lazy_module

from tests.live import serve

openai = lazy_module("openai")  # imported when a test runs, not at collection (tests/lazy.py)
pytestmark = pytest.mark.live

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chutes"
USERS = {u["username"]: u for u in yaml.safe_load((FIXTURES / "users.yaml").read_text())["users"]}
ALICE_KEY = USERS["alice"]["api_keys"][0]["value"]
MODEL = "deepseek-ai/DeepSeek-V3-0324"
CONTROL = "/__mock__/packs/chutes"
MESSAGES = [{"role": "user", "content": "Say something short."}]
DAY = "2025-11-21"  # the frozen clock's day


@pytest.fixture(scope="module")
def base() -> t.Iterator[str]:
    with serve("--api", "chutes", "--api", "openai_usage", "--seed", "7", "--validate-responses",
               "--clock", "2025-11-21T00:00:00Z") as url:
        yield url


@pytest.fixture
def http(base: str) -> t.Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.put("/__mock__/clock", json={"now": "2025-11-21T00:00:00Z", "frozen": True}).status_code == 200
        assert client.post("/__mock__/reset").status_code == 200
        yield client


def llm_client(base: str, **kwargs: t.Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=ALICE_KEY, base_url=f"{base}/hosts/llm/v1", max_retries=0, **kwargs)


def alice_balance(http: httpx.Client) -> float:
    return next(u for u in http.get(f"{CONTROL}/users").json() if u["username"] == "alice")["balance"]


def price_of(http: httpx.Client, chute_id: str, prompt_tokens: int, completion_tokens: int) -> float:
    chute = http.get(f"/chutes/{chute_id}", headers={"Authorization": ALICE_KEY}).json()
    per_million = chute["current_estimated_price"]["per_million_tokens"]
    return (prompt_tokens * per_million["input"]["usd"] + completion_tokens * per_million["output"]["usd"]) / 1e6


def csv_rows(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_a_chat_completion_is_answered_billed_and_recorded(base: str, http: httpx.Client) -> None:
    before = alice_balance(http)
    raw = llm_client(base).chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    invocation_id = raw.headers["x-chutes-invocationid"]
    completion = raw.parse()
    assert completion.model == MODEL and completion.choices[0].finish_reason == "stop"
    text = completion.choices[0].message.content
    assert text and text.endswith(".")
    usage = completion.usage
    assert usage.prompt_tokens == 3 + 3 + 4  # "Say something short." is 4 tokens
    assert usage.completion_tokens == len(text.split())
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    again = llm_client(base).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert again.choices[0].message.content == text

    chute_id = http.get(f"/chutes/{MODEL}", headers={"Authorization": ALICE_KEY}).json()["chute_id"]
    price = price_of(http, chute_id, usage.prompt_tokens, usage.completion_tokens)
    assert alice_balance(http) == pytest.approx(before - 2 * price)

    [today] = [r for r in http.get("/invocations/usage").json() if (r["chute_id"], r["date"]) == (chute_id, DAY)]
    assert today["invocation_count"] == 2 and today["usd_amount"] == pytest.approx(2 * price)
    [stats] = [r for r in http.get("/invocations/stats/llm").json() if (r["chute_id"], r["date"]) == (chute_id, DAY)]
    assert stats["total_requests"] == 2 and stats["total_output_tokens"] == 2 * usage.completion_tokens
    assert invocation_id in {r["invocation_id"] for r in csv_rows(http.get("/invocations/exports/recent"))}
    assert http.post("/__mock__/clock/advance", json={"seconds": 3600}).status_code == 200
    hourly = csv_rows(http.get("/invocations/exports/2025/11/21/0.csv"))
    assert invocation_id in {r["invocation_id"] for r in hourly}
    report = http.post(f"/invocations/{invocation_id}/report", json={"reason": "test"},
                       headers={"Authorization": ALICE_KEY})
    assert report.json() == {"status": f"report received for invocation_id='{invocation_id}'"}


def test_a_streamed_chat_completion(base: str, http: httpx.Client) -> None:
    whole = llm_client(base).chat.completions.create(model=MODEL, messages=MESSAGES)
    before = alice_balance(http)
    raw = llm_client(base).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    invocation_id = raw.headers["x-chutes-invocationid"]
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.completion_tokens == whole.usage.completion_tokens
    chute_id = http.get(f"/chutes/{MODEL}", headers={"Authorization": ALICE_KEY}).json()["chute_id"]
    assert alice_balance(http) == pytest.approx(before - price_of(http, chute_id, usage.prompt_tokens,
                                                                  usage.completion_tokens))
    recent = csv_rows(http.get("/invocations/exports/recent"))
    assert recent[0]["invocation_id"] == invocation_id and recent[0]["function_name"] == "chat_stream"


def test_the_host_header_routes_past_the_openai_usage_pack(base: str, http: httpx.Client) -> None:
    """`base_url` on 127.0.0.1's `/v1` with the Host `llm.localhost`: Chutes answers, not OpenAI Usage."""
    client = openai.OpenAI(api_key=ALICE_KEY, base_url=f"{base}/v1", max_retries=0,
                           default_headers={"Host": "llm.localhost"})
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).model == MODEL
    assert MODEL in [m.id for m in client.models.list()]
    plain = openai.OpenAI(api_key=ALICE_KEY, base_url=f"{base}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        plain.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_errors_reach_the_sdk_as_the_real_statuses(base: str, http: httpx.Client) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        llm_client(base).chat.completions.create(model="no/such-model", messages=MESSAGES)
    assert missing.value.body == {"detail": "model not found: no/such-model"}
    with pytest.raises(openai.AuthenticationError) as unknown:  # `Bearer <not cpk_>` is read as a JWT
        stranger = openai.OpenAI(api_key="sk-not-chutes", base_url=f"{base}/hosts/llm/v1", max_retries=0)
        stranger.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert unknown.value.body == {"detail": "Invalid token."}
    with pytest.raises(openai.InternalServerError) as cold:  # 503: gemma has no hot instance
        llm_client(base).chat.completions.create(model="unsloth/gemma-3-12b-it", messages=MESSAGES)
    assert cold.value.status_code == 503


def test_embeddings_through_the_embed_host(base: str, http: httpx.Client) -> None:
    """A user's embedding chute, deployed and warmed through the API, answers the SDK's base64 request."""
    bob = {"Authorization": USERS["bob"]["api_keys"][0]["value"]}
    cords = [{"method": "POST", "path": "/embed", "function": "embed", "stream": False, "passthrough": True,
              "public_api_path": "/v1/embeddings", "public_api_method": "POST"}]
    deploy = {"name": "bob-embedder", "image": "chutes/sglang:0.4.9", "public": False, "standard_template": "embedding",
              "code": "from chutes.chute import Chute\n", "filename": "embedder.py", "ref_str": "embedder:chute",
              "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 16}, "cords": cords}
    assert http.post("/chutes/", json=deploy, headers=bob).status_code == 200
    assert http.get("/chutes/warmup/bob-embedder", params={"quick": "true"}, headers=bob).json()["status"] == "cold"
    assert http.post("/__mock__/clock/advance", json={"seconds": 10}).status_code == 200
    client = openai.OpenAI(api_key=bob["Authorization"], base_url=f"{base}/hosts/embed/v1", max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="bob-embedder", input=["hello world", "bye"])
    result = raw.parse()  # the SDK asks for base64 and decodes it into floats
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 384
    assert abs(sum(x * x for x in result.data[0].embedding) - 1.0) < 1e-3
    assert result.usage.prompt_tokens == 3
    again = client.embeddings.create(model="bob-embedder", input=["hello world", "bye"])
    assert again.data[0].embedding == result.data[0].embedding
    invocation_id = raw.headers["x-chutes-invocationid"]
    assert invocation_id in {r["invocation_id"] for r in csv_rows(http.get("/invocations/exports/recent"))}
