"""The fleet views: boosted, affine_available, utilization, gpu_count_history, rolling_updates and
miner_means (index, `{id}.{ext}` and `{id}?ext=`). behaviour.md "GET /chutes/boosted" etc."""

from __future__ import annotations

import csv
import io
import re
import typing as t

import pytest
from chutes_support import USERS, chute_args, chute_id_for, ok

DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"
DEEPSEEK_ID = chute_id_for("chutes", DEEPSEEK)
SEEDED = {  # name -> (owner, public, template, gpu_count)
    DEEPSEEK: ("chutes", True, "vllm", 8), "Qwen/Qwen3-32B": ("chutes", True, "vllm", 2),
    "unsloth/gemma-3-12b-it": ("chutes", True, "vllm", 1), "FLUX.1-schnell": ("chutes", True, "diffusion", 1),
    "affine/reasoner-7b": ("chutes", False, "vllm", 1), "alice-embeddings": ("alice", False, None, 1),
    "bob-private-llm": ("bob", False, "vllm", 1), "carol-sandbox": ("carol", False, None, 1),
    "chutes/lora-trainer": ("chutes", False, None, 1),  # jobs, no cords
}
IDS = {name: chute_id_for(owner, name) for name, (owner, *_rest) in SEEDED.items()}
MEANS_HEADER = "instance_id,miner_hotkey,avg_tps,avg_output_tokens"


def test_boosted(api: t.Any) -> None:
    assert ok(api.get("/chutes/boosted")) == [{"chute_id": IDS["Qwen/Qwen3-32B"], "name": "Qwen/Qwen3-32B",
                                                "boost": 1.5, "manual_boost": None}]


def test_affine_available(api: t.Any) -> None:
    rows = ok(api.get("/chutes/affine_available"))
    assert rows == [{"chute_id": IDS["affine/reasoner-7b"], "user_id": USERS["chutes"]["user_id"],
                     "name": "affine/reasoner-7b", "hotkey": USERS["chutes"]["hotkey"], "has_active_instance": True}]


def test_affine_available_needs_an_owner_with_a_positive_balance(api: t.Any) -> None:
    ok(api.deploy(chute_args("my-affine-test"), "alice", accept_fee=True))
    api.update_user("alice", balance=0)
    assert [row["name"] for row in ok(api.get("/chutes/affine_available"))] == ["affine/reasoner-7b"]
    ok(api.delete(f"/chutes/{IDS['affine/reasoner-7b']}", "chutes"))
    assert ok(api.get("/chutes/affine_available")) == []


def test_gpu_count_history(api: t.Any) -> None:
    rows = ok(api.get("/chutes/gpu_count_history"))
    assert {row["chute_id"]: row["gpu_count"] for row in rows} == {
        IDS[name]: spec[3] for name, spec in SEEDED.items()}
    ok(api.deploy(chute_args("four", node_selector={"gpu_count": 4}), "bob"))
    assert {row["chute_id"]: row["gpu_count"] for row in ok(api.get("/chutes/gpu_count_history"))}[
        chute_id_for("bob", "four")] == 4


def test_rolling_updates_start_empty(api: t.Any) -> None:
    assert ok(api.get("/chutes/rolling_updates")) == []


def test_utilization(api: t.Any) -> None:
    rows = ok(api.get("/chutes/utilization"))
    assert {row["chute_id"] for row in rows} == set(IDS.values())
    by_id = {row["chute_id"]: row for row in rows}
    for name, (_owner, public, _template, _gpus) in SEEDED.items():
        row = by_id[IDS[name]]
        assert row["name"] == (name if public else "[private chute]")
        assert row["avg_busy_ratio"] == row["utilization_1h"]
        assert row["total_invocations"] == row["total_requests_1h"]
        assert row["total_rate_limit_errors"] == row["rate_limited_requests_1h"]
        assert row["active_instance_count"] <= row["total_instance_count"]
        assert isinstance(row["scalable"], bool) and isinstance(row["update_in_progress"], bool)
    requests = [row["total_requests_1h"] for row in rows]
    assert requests == sorted(requests, reverse=True)
    assert by_id[DEEPSEEK_ID]["active_instance_count"] == 2
    assert by_id[IDS["unsloth/gemma-3-12b-it"]]["total_instance_count"] == 0


def test_utilization_counts_recent_requests(api: t.Any) -> None:
    before = {row["chute_id"]: row for row in ok(api.get("/chutes/utilization"))}[IDS["carol-sandbox"]]
    for _ in range(3):
        api.record_invocation(IDS["carol-sandbox"], "carol", started_at=api.clock - 60)
    after = {row["chute_id"]: row for row in ok(api.get("/chutes/utilization"))}[IDS["carol-sandbox"]]
    assert after["total_requests_1h"] == before["total_requests_1h"] + 3
    assert after["total_requests_5m"] == before["total_requests_5m"] + 3


def test_a_rolling_update_is_in_progress_in_utilization(api: t.Any) -> None:
    body = chute_args("alice-embeddings", image="custom-ml:1.0", code="print(2)\n")
    ok(api.deploy(body, "alice"))
    by_id = {row["chute_id"]: row for row in ok(api.get("/chutes/utilization"))}
    assert by_id[IDS["alice-embeddings"]]["update_in_progress"] is True
    assert by_id[DEEPSEEK_ID]["update_in_progress"] is False


# -- miner means ----------------------------------------------------------------------------------


def test_miner_means_index_links_the_vllm_chutes_anyone_may_see(api: t.Any) -> None:
    """No auth, so the visibility rule for an anonymous caller: public chutes and affine ones. A
    private chute (bob-private-llm) is neither named nor linked."""
    response = api.get("/chutes/miner_means")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    links = re.findall(r'href="https://api\.chutes\.ai/chutes/miner_means/([0-9a-f-]{36})"', response.text)
    visible = [name for name, spec in SEEDED.items() if spec[2] == "vllm" and (spec[1] or "affine" in name)]
    assert set(links) == {IDS[name] for name in visible}
    assert links[:3] == [DEEPSEEK_ID, IDS["Qwen/Qwen3-32B"], IDS["unsloth/gemma-3-12b-it"]]  # by invocations
    assert "bob-private-llm" not in response.text and IDS["bob-private-llm"] not in response.text
    # Credentials change nothing: bob's own chute is still left out of this public page.
    assert "bob-private-llm" not in api.get("/chutes/miner_means", "bob").text


def test_miner_means_of_a_private_chute_are_those_of_an_unknown_one(api: t.Any) -> None:
    private = IDS["bob-private-llm"]
    api.record_invocation(private, "bob", output_tokens=300)
    assert ok(api.get(f"/chutes/miner_means/{private}.json")) == []
    assert ok(api.get(f"/chutes/miner_means/{private}.json")) == ok(api.get("/chutes/miner_means/nope.json"))
    assert ok(api.get(f"/chutes/miner_means/{IDS['affine/reasoner-7b']}.json"))  # affine: visible to all


def test_miner_means_as_json(api: t.Any) -> None:
    response = api.get(f"/chutes/miner_means/{DEEPSEEK_ID}.json")
    assert response.headers["content-type"].startswith("application/json")
    rows = ok(response)
    assert rows
    for row in rows:
        assert set(row) == {"miner_hotkey", "instance_id", "avg_tps", "avg_output_tokens"}
        assert isinstance(row["avg_tps"], float) and isinstance(row["avg_output_tokens"], float)
    tokens = [row["avg_output_tokens"] for row in rows]
    assert tokens == sorted(tokens, reverse=True)
    assert ok(api.get(f"/chutes/miner_means/{DEEPSEEK_ID}", params={"ext": "json"})) == rows


def test_miner_means_as_csv(api: t.Any) -> None:
    json_rows = ok(api.get(f"/chutes/miner_means/{DEEPSEEK_ID}.json"))
    for response in (api.get(f"/chutes/miner_means/{DEEPSEEK_ID}.csv"),
                     api.get(f"/chutes/miner_means/{DEEPSEEK_ID}", params={"ext": "csv"})):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert response.text.splitlines()[0] == MEANS_HEADER
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["instance_id"], r["miner_hotkey"]) for r in rows] == [
            (r["instance_id"], r["miner_hotkey"]) for r in json_rows]
        assert [float(r["avg_tps"]) for r in rows] == [r["avg_tps"] for r in json_rows]


@pytest.mark.parametrize("path", [f"/chutes/miner_means/{DEEPSEEK_ID}", f"/chutes/miner_means/{DEEPSEEK_ID}.html",
                                  f"/chutes/miner_means/{DEEPSEEK_ID}.xml"])
def test_miner_means_as_html_otherwise(api: t.Any, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    hotkeys = {row["miner_hotkey"] for row in ok(api.get(f"/chutes/miner_means/{DEEPSEEK_ID}.json"))}
    assert "<table" in response.text and all(hotkey in response.text for hotkey in hotkeys)


def test_miner_means_with_an_unknown_ext_query(api: t.Any) -> None:
    response = api.get(f"/chutes/miner_means/{DEEPSEEK_ID}", params={"ext": "pdf"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("chute", ["nope", "00000000-0000-0000-0000-000000000000", IDS["FLUX.1-schnell"]])
def test_miner_means_of_an_unknown_or_non_llm_chute_are_empty(api: t.Any, chute: str) -> None:
    assert ok(api.get(f"/chutes/miner_means/{chute}.json")) == []
    assert ok(api.get(f"/chutes/miner_means/{chute}", params={"ext": "json"})) == []
    as_csv = api.get(f"/chutes/miner_means/{chute}.csv")
    assert as_csv.status_code == 200 and as_csv.text.strip() == MEANS_HEADER
    as_html = api.get(f"/chutes/miner_means/{chute}")
    assert as_html.status_code == 200 and as_html.headers["content-type"].startswith("text/html")
