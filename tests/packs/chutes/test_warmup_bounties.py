"""GET /chutes/warmup/{x} (event stream and `?quick=true`), GET /bounties/ and
GET /bounties/{id}/increase, all driven by the engine clock. behaviour.md "warmup", "Bounties"."""

from __future__ import annotations

import json
import typing as t

import pytest
from chutes_support import CLOCK, WORLD, chute_args, chute_id_for, detail, ok, signed

NOT_FOUND = "Chute not found, or does not belong to you"
GEMMA = "unsloth/gemma-3-12b-it"  # public, no instances: cold
GEMMA_ID = chute_id_for("chutes", GEMMA)
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"  # public, two active instances: hot
DEEPSEEK_ID = chute_id_for("chutes", DEEPSEEK)
ADMIN_ONLY = "Only billing admins may perform this action"


def quick(api: t.Any, value: str, user: str = "bob") -> dict:
    response = api.get(f"/chutes/warmup/{value}", user, params={"quick": "true"})
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return ok(response)


def events(response: t.Any) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = response.text.split("\n\n")
    assert chunks[-1] == "", response.text  # every event ends with a blank line
    assert all(chunk.startswith("data: ") for chunk in chunks[:-1]), response.text
    return [json.loads(chunk[len("data: "):]) for chunk in chunks[:-1]]


def bounties(api: t.Any) -> dict[str, dict]:
    rows = ok(api.get("/bounties/"))
    return {row["chute_id"]: row for row in rows}


# -- warmup: who may ---------------------------------------------------------------------------------


def test_warmup_needs_credentials(api: t.Any) -> None:
    assert detail(api.get(f"/chutes/warmup/{GEMMA}"), 401) == "Can't find a user with that api key in our db :("
    assert detail(api.get(f"/chutes/warmup/{GEMMA}", headers={"Authorization": "cpk_x"}), 401) == (
        "Missing or invalid authorization header(s)")
    assert bounties(api) == {}  # nothing was warmed


@pytest.mark.parametrize(("user", "value"), [("alice", "carol-sandbox"), ("carol", "alice-embeddings"),
                                             ("bob", "nope"), ("admin", "bob-private-llm")])
def test_warmup_of_an_invisible_chute_is_404(api: t.Any, user: str, value: str) -> None:
    assert detail(api.get(f"/chutes/warmup/{value}", user), 404) == NOT_FOUND


def test_a_disabled_chute_is_503_before_the_balance_check(api: t.Any) -> None:
    # carol-sandbox is disabled, and carol has a zero balance: the 503 comes first (upstream order).
    assert detail(api.get("/chutes/warmup/carol-sandbox", "carol"), 503) == "This chute is currently disabled."


def test_a_caller_without_balance_gets_402(api: t.Any) -> None:
    got = detail(api.get(f"/chutes/warmup/{GEMMA}", "carol"), 402)
    assert got == f"Account balance is $0.0, please top-up with fiat or send tao to {WORLD['payment_address']}"
    assert GEMMA_ID not in bounties(api)
    api.update_user("carol", balance=-2.5)
    assert detail(api.get(f"/chutes/warmup/{GEMMA}", "carol"), 402).startswith("Account balance is $-2.5, ")
    api.update_user("carol", balance=1.0)
    assert quick(api, GEMMA, "carol")["status"] == "cold"


def test_warmup_by_name_case_insensitively_by_id_and_by_hotkey(api: t.Any) -> None:
    assert quick(api, GEMMA.upper())["status"] == "cold"
    assert quick(api, GEMMA_ID)["status"] == "cold"
    response = api.get(f"/chutes/warmup/{DEEPSEEK}", headers=signed("alice", purpose="chutes"))
    assert events(response)[-1]["status"] == "hot"


def test_warmup_of_a_shared_and_an_affine_chute(api: t.Any) -> None:
    assert quick(api, "bob-private-llm", "alice")["status"] == "cold"  # shared with alice
    assert quick(api, "affine/reasoner-7b", "alice")["status"] == "hot"


def test_the_callers_own_chute_comes_first(api: t.Any) -> None:
    """Lookup is `name ILIKE x or chute_id == x`, the caller's own chute first."""
    mine = ok(api.deploy(chute_args(GEMMA), "bob"))
    status = quick(api, GEMMA, "bob")
    assert status["status"] == "cold" and mine["chute_id"] in bounties(api)
    assert GEMMA_ID not in bounties(api)


# -- warmup: cold to hot ------------------------------------------------------------------------------


def test_quick_warmup_goes_from_cold_to_hot_as_the_clock_advances(api: t.Any) -> None:
    assert ok(api.client.get("/__mock__/packs/chutes/settings"))["warmup_seconds"] == WORLD["warmup_seconds"]
    api.warmup_seconds(30)
    cold = quick(api, GEMMA)
    assert list(cold) == ["chute_id", "status", "instance_count", "bounty", "instances"]
    assert cold["chute_id"] == GEMMA_ID and cold["status"] == "cold" and cold["instance_count"] == 0
    assert cold["bounty"] == {"amount": 100, "boost": 1.1, "age_seconds": 0, "created_at": float(CLOCK)}
    assert len(cold["instances"]) == 1 and cold["instances"][0]["active"] is False
    assert list(cold["instances"][0]) == ["instance_id", "active", "gpu_count", "gpu_model_name"]
    assert cold["instances"][0]["gpu_count"] == 1 and cold["instances"][0]["gpu_model_name"] == "a100"
    assert ok(api.get(f"/chutes/{GEMMA}"))["hot"] is False

    api.advance(10)
    still = quick(api, GEMMA)
    assert still["status"] == "cold"
    assert still["bounty"]["amount"] == 130 and still["bounty"]["age_seconds"] == 10  # 3 * 10 + 100
    assert still["bounty"]["boost"] == pytest.approx(1.1 + 0.4 * 10 / 10800)  # 1.1 -> 1.5 over 180 minutes
    assert [i["instance_id"] for i in still["instances"]] == [i["instance_id"] for i in cold["instances"]]

    api.advance(20)
    hot = quick(api, GEMMA)
    assert hot["status"] == "hot" and hot["instance_count"] == 1
    assert hot["instances"][0]["active"] is True
    assert hot["instances"][0]["instance_id"] == cold["instances"][0]["instance_id"]
    assert hot["bounty"] is None and GEMMA_ID not in bounties(api)  # a hot chute needs no bounty
    chute = ok(api.get(f"/chutes/{GEMMA}"))
    assert chute["hot"] is True and chute["instances"][0]["active"] and chute["instances"][0]["verified"]
    assert chute["bounty"] is None


def test_a_hot_chute_streams_one_hot_event(api: t.Any) -> None:
    got = events(api.get(f"/chutes/warmup/{DEEPSEEK}", "bob"))
    assert got == [{"status": "hot", "log": "chute is hot, 2 instances available"}]
    assert DEEPSEEK_ID not in bounties(api)  # nothing to warm


def test_a_cold_chute_streams_cold_events_then_hot(api: t.Any) -> None:
    api.set_clock(CLOCK, frozen=False)  # the stream polls once a second of real time
    api.warmup_seconds(1)
    got = events(api.get(f"/chutes/warmup/{GEMMA}", "bob"))
    assert len(got) >= 2, got
    assert all(event == {"status": "cold", "log": "waiting for instances ..."} for event in got[:-1]), got
    assert got[-1] == {"status": "hot", "log": "chute is hot, 1 instances available"}


def test_an_immediate_warmup_is_hot_at_once(api: t.Any) -> None:
    api.warmup_seconds(0)
    assert events(api.get(f"/chutes/warmup/{GEMMA}", "bob")) == [
        {"status": "hot", "log": "chute is hot, 1 instances available"}]


def test_warmup_settings_are_bounded(api: t.Any) -> None:
    for body in ({"warmup_seconds": -1}, {"warmup_seconds": 601}, {}):
        assert api.client.put("/__mock__/packs/chutes/settings", json=body).status_code == 400


# -- bounties -----------------------------------------------------------------------------------------


def test_a_warmup_bounty_grows_with_the_clock_and_expires(api: t.Any) -> None:
    api.warmup_seconds(600)
    assert ok(api.get("/bounties/")) == []
    quick(api, GEMMA)
    assert ok(api.get("/bounties/")) == [{"chute_id": GEMMA_ID, "bounty_amount": 100, "seconds_elapsed": 0,
                                           "time_remaining": 3600, "created_at": CLOCK}]
    api.advance(100)
    assert bounties(api)[GEMMA_ID] | {"created_at": 0} == {
        "chute_id": GEMMA_ID, "bounty_amount": 400, "seconds_elapsed": 100, "time_remaining": 3500, "created_at": 0}
    assert ok(api.get(f"/chutes/{GEMMA}"))["bounty"] == 400
    api.advance(3499)
    assert bounties(api)[GEMMA_ID]["bounty_amount"] == 3 * 3599 + 100
    assert bounties(api)[GEMMA_ID]["time_remaining"] == 1
    api.advance(1)
    assert GEMMA_ID not in bounties(api)


def test_bounties_are_sorted_by_creation(api: t.Any) -> None:
    api.warmup_seconds(600)
    quick(api, "bob-private-llm", "bob")
    api.advance(5)
    quick(api, GEMMA)
    rows = ok(api.get("/bounties/"))
    assert [row["chute_id"] for row in rows] == [chute_id_for("bob", "bob-private-llm"), GEMMA_ID]
    assert [row["bounty_amount"] for row in rows] == [115, 100]


def test_warming_again_keeps_the_first_bounty(api: t.Any) -> None:
    api.warmup_seconds(600)
    quick(api, GEMMA)
    api.advance(50)
    assert quick(api, GEMMA, "alice")["bounty"]["amount"] == 250
    assert bounties(api)[GEMMA_ID]["created_at"] == CLOCK


def test_increase_needs_a_billing_admin(api: t.Any) -> None:
    path = f"/bounties/{GEMMA_ID}/increase"
    for user in ("alice", "bob", "chutes"):
        assert detail(api.get(path, user), 403) == ADMIN_ONLY
    assert detail(api.get("/bounties/nope/increase", "alice"), 403) == ADMIN_ONLY  # before the lookup
    assert bounties(api) == {}


def test_increase_of_an_unknown_chute(api: t.Any) -> None:
    for value in ("nope", "FLUX.1-schnell", GEMMA_ID.upper()):  # exact chute_id only
        assert detail(api.get(f"/bounties/{value}/increase", "admin"), 404) == "Chute not found"


def test_increase_creates_then_reports_and_notifies_at_most_every_30_seconds(api: t.Any) -> None:
    path = f"/bounties/{DEEPSEEK_ID}/increase"
    assert ok(api.get(path, "admin")) == {"bounty_created": True, "bounty_existed": False,
                                          "notification_sent": True, "amount": 100}
    assert bounties(api)[DEEPSEEK_ID]["bounty_amount"] == 100
    api.advance(10)
    assert ok(api.get(path, "admin")) == {"bounty_created": False, "bounty_existed": True,
                                          "notification_sent": False, "amount": 130}
    api.advance(20)
    assert ok(api.get(path, "admin"))["notification_sent"] is True
    assert ok(api.get(path, "admin"))["notification_sent"] is False
    api.advance(3600 - 30)  # the bounty's TTL is over: a new one
    assert ok(api.get(path, "admin")) == {"bounty_created": True, "bounty_existed": False,
                                          "notification_sent": True, "amount": 100}


def test_notifications_go_by_aligned_30_second_windows(api: t.Any) -> None:
    """Upstream: `window = now - now % 30`, one notification per window (redis SETNX)."""
    path = f"/bounties/{DEEPSEEK_ID}/increase"
    api.advance(29)
    assert ok(api.get(path, "admin"))["notification_sent"] is True
    api.advance(2)  # a new window has begun, 2 s after the last notification
    assert ok(api.get(path, "admin"))["notification_sent"] is True


def test_increase_with_a_boost_in_range_records_the_manual_boost(api: t.Any) -> None:
    """Upstream means to record the boost but references an undefined `session` (a 500); the mock
    records it (a deliberate difference), and the chute shows among the boosted."""
    response = api.get(f"/bounties/{DEEPSEEK_ID}/increase", "admin", params={"boost": 2.0})
    assert response.status_code == 200, response.text
    boosted = {row["name"]: row for row in ok(api.get("/chutes/boosted"))}
    assert boosted[DEEPSEEK]["manual_boost"] == 2.0


def test_increase_with_a_boost_out_of_range_is_ignored(api: t.Any) -> None:
    for boost in (0.5, 4.5):
        ok(api.get(f"/bounties/{DEEPSEEK_ID}/increase", "admin", params={"boost": boost}))
    assert [row["name"] for row in ok(api.get("/chutes/boosted"))] == ["Qwen/Qwen3-32B"]
    assert api.get(f"/bounties/{DEEPSEEK_ID}/increase", "admin", params={"boost": "lots"}).status_code == 422


def test_a_bounty_shows_on_the_chute(api: t.Any) -> None:
    ok(api.get(f"/bounties/{DEEPSEEK_ID}/increase", "admin"))
    api.advance(7)
    chute = ok(api.get(f"/chutes/{DEEPSEEK_ID}"))
    assert chute["bounty"] == 121
    listed = next(i for i in ok(api.get("/chutes/"))["items"] if i["chute_id"] == DEEPSEEK_ID)
    assert listed["bounty"] == 121
    api.advance(3600)  # past the TTL
    assert ok(api.get(f"/chutes/{DEEPSEEK_ID}"))["bounty"] is None
    assert next(i for i in ok(api.get("/chutes/"))["items"] if i["chute_id"] == DEEPSEEK_ID)["bounty"] is None


def test_disabling_a_private_chute_drops_its_instances_and_bounty(api: t.Any) -> None:
    embeddings = chute_id_for("alice", "alice-embeddings")
    ok(api.get(f"/bounties/{embeddings}/increase", "admin"))
    updated = ok(api.put(f"/chutes/{embeddings}", {"disabled": True}, "alice"))
    assert updated["instances"] == [] and updated["hot"] is False
    assert embeddings not in bounties(api)
    assert detail(api.get(f"/chutes/warmup/{embeddings}", "alice"), 503) == "This chute is currently disabled."
    ok(api.put(f"/chutes/{embeddings}", {"disabled": False}, "alice"))
    assert quick(api, embeddings, "alice")["status"] == "cold"


def test_deleting_a_chute_drops_its_bounty(api: t.Any) -> None:
    api.warmup_seconds(600)
    bobs = chute_id_for("bob", "bob-private-llm")
    quick(api, "bob-private-llm", "bob")
    assert bobs in bounties(api)
    ok(api.delete(f"/chutes/{bobs}", "bob"))
    assert bobs not in bounties(api)
