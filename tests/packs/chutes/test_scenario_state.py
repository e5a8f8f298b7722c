"""A user's session across operations, and the pack's state: export, import, reset, seeds."""

from __future__ import annotations

import typing as t

from chutes_support import CLOCK, CONTROL, chute_args, chute_id_for, detail, make_server, ok, signed
from starlette.testclient import TestClient

from mockserver.engine.clock import DAY

NOT_FOUND = "Chute not found, or does not belong to you"


def test_deploy_share_unshare_delete(api: t.Any) -> None:
    """alice deploys -> it is in her list -> shared with bob -> bob reads it -> unshared -> bob
    gets 404 -> alice deletes it -> gone everywhere. alice signs with her hotkey, bob uses his key."""
    body = chute_args("team-llm", standard_template="vllm", revision="c" * 40)
    chute = ok(api.signed_send("POST", "/chutes/", "alice", body, params={"accept_fee": "true"}))
    chute_id = chute["chute_id"]
    assert chute_id == chute_id_for("alice", "team-llm")

    mine = ok(api.get("/chutes/", headers=signed("alice", purpose="chutes")))
    assert [item["name"] for item in mine["items"]] == ["alice-embeddings", "team-llm"]  # by invocation_count
    assert mine["total"] == 2
    assert detail(api.get(f"/chutes/{chute_id}", "bob"), 404) == NOT_FOUND

    shared = api.signed_send("POST", "/chutes/share", "alice", {"chute_id_or_name": "team-llm",
                                                                 "user_id_or_name": "bob"})
    assert ok(shared)["status"] == "Successfully shared chute.name='team-llm' with user.username='bob'"
    seen = ok(api.get(f"/chutes/{chute_id}", "bob"))
    assert seen["name"] == "team-llm" and seen["user"]["username"] == "alice"
    assert api.get(f"/chutes/code/{chute_id}", "bob").text == body["code"]
    assert ok(api.get("/chutes/team-llm", "bob"))["chute_id"] == chute_id
    warm = ok(api.get(f"/chutes/warmup/{chute_id}", "bob", params={"quick": "true"}))
    assert warm["status"] == "cold"

    unshared = api.signed_send("POST", "/chutes/unshare", "alice", {"chute_id_or_name": chute_id,
                                                                     "user_id_or_name": "bob"})
    assert ok(unshared)["status"].endswith("(if share exists)")
    assert detail(api.get(f"/chutes/{chute_id}", "bob"), 404) == NOT_FOUND
    assert detail(api.get(f"/chutes/warmup/{chute_id}", "bob"), 404) == NOT_FOUND

    deleted = api.client.delete(f"/chutes/{chute_id}", headers=signed("alice", purpose="chutes"))
    assert ok(deleted) == {"chute_id": chute_id, "deleted": True}
    assert detail(api.get(f"/chutes/{chute_id}", "alice"), 404) == NOT_FOUND
    assert [item["name"] for item in ok(api.get("/chutes/", "alice"))["items"]] == ["alice-embeddings"]
    assert chute_id not in {b["chute_id"] for b in ok(api.get("/bounties/"))}
    assert chute_id not in {row["chute_id"] for row in ok(api.get("/chutes/utilization"))}


def test_state_export_and_import_round_trip(api: t.Any) -> None:
    ok(api.deploy(chute_args("kept"), "bob"))
    ok(api.share("kept", "carol", "bob"))
    ok(api.get(f"/chutes/warmup/{chute_id_for('chutes', 'unsloth/gemma-3-12b-it')}", "bob",
               params={"quick": "true"}))
    api.warmup_seconds(42)
    invocation_id = api.record_invocation(chute_id_for("bob", "kept"), "bob")
    ok(api.post(f"/invocations/{invocation_id}/report", {"reason": "r"}, "bob"))
    exported = api.state()

    api.reset()
    assert detail(api.get("/chutes/kept", "bob"), 404) == NOT_FOUND
    assert api.state() != exported

    assert ok(api.client.put(f"{CONTROL}/state", json=exported)) == {"packs": ["chutes"]}
    assert api.state() == exported
    assert ok(api.get("/chutes/kept", "carol"))["chute_id"] == chute_id_for("bob", "kept")
    assert ok(api.client.get(f"{CONTROL}/settings"))["warmup_seconds"] == 42
    assert [b["chute_id"] for b in ok(api.get("/bounties/"))] == [chute_id_for("chutes", "unsloth/gemma-3-12b-it")]
    assert detail(api.post(f"/invocations/{invocation_id}/report", {"reason": "r"}, "bob"), 409) == (
        "A report has already been filed for this invocation")


def test_a_broken_state_is_refused_and_changes_nothing(api: t.Any) -> None:
    before = api.state()
    for broken in ({}, {"users": []}, {**before, "chutes": "nope"}):
        response = api.client.put(f"{CONTROL}/state", json=broken)
        assert response.status_code == 400, response.text
    assert api.state() == before


def test_reset_restores_the_fixtures(api: t.Any) -> None:
    fresh = api.state()
    ok(api.deploy(chute_args("temp"), "bob"))
    ok(api.delete(f"/chutes/{chute_id_for('alice', 'alice-embeddings')}", "alice"))
    api.update_user("alice", balance=1.0)
    ok(api.client.post(f"{CONTROL}/users", json={"username": "zed"}), 201)
    trainer = chute_id_for("chutes", "chutes/lora-trainer")
    ok(api.client.post(f"{CONTROL}/jobs", json={"chute_id": trainer, "user": "chutes", "method": "train_lora"}), 201)
    assert len(api.state()["jobs"]) == len(fresh["jobs"]) + 1
    api.reset()
    assert api.state() == fresh
    assert fresh["jobs"] and api.state()["jobs"] == fresh["jobs"]  # the seeded job runs, and only them
    assert api.names(user="alice") == ["alice-embeddings"]
    assert api.user("alice")["balance"] == 250.0


def test_resets_later_the_same_day_show_the_same_history(api: t.Any) -> None:
    """A clock running in real time gives every reset another "now": the history is the same one,
    its window moved on. What both windows hold is the same invocations and job runs; the later one
    adds what happened since, and a run going at the first reset that has ended since has its end."""
    morning, hours = CLOCK + 6 * 3600, 3 * 3600
    api.set_clock(morning)
    api.reset()
    early = api.state()
    api.set_clock(morning + hours)
    api.reset()
    late = api.state()

    def window(invocations: list[dict], low: float, high: float) -> list[dict]:
        return [i for i in invocations if low <= i["started_at"] < high]

    shared = (morning + hours - 11 * DAY, morning - 120)
    assert window(early["invocations"], *shared) == window(late["invocations"], *shared)
    assert len(window(early["invocations"], *shared)) > 1000
    assert window(late["invocations"], morning - 120, morning + hours - 120)  # the three hours since
    late_runs = {run["job_id"]: run for run in late["jobs"]}
    for run in early["jobs"]:
        if run["created_at"] < shared[0]:
            continue
        later = late_runs[run["job_id"]]
        if run["status"] == "running":
            assert later["started_at"] == run["started_at"]
            assert later["status"] == "running" or later["finished_at"] <= morning + hours
        else:
            assert later == run


def test_global_reset_and_state_include_the_pack(api: t.Any) -> None:
    ok(api.deploy(chute_args("temp"), "bob"))
    whole = ok(api.client.get("/__mock__/state"))
    assert "chutes" in whole["packs"]
    ok(api.client.post("/__mock__/reset"))
    assert api.names(user="bob") == ["bob-private-llm"]
    ok(api.client.put("/__mock__/state", json=whole))
    assert sorted(api.names(user="bob")) == ["bob-private-llm", "temp"]


def test_the_same_seed_and_clock_give_the_same_world(api: t.Any) -> None:
    with TestClient(make_server(), base_url="http://mock") as other:
        theirs = ok(other.get(f"{CONTROL}/state"))
    assert theirs == api.state()
    with TestClient(make_server(seed=4), base_url="http://mock") as other:
        different = ok(other.get(f"{CONTROL}/state"))
    assert different["invocations"] != api.state()["invocations"]
    assert theirs["jobs"] == api.state()["jobs"] and different["jobs"] != api.state()["jobs"]
    assert [c["chute_id"] for c in different["chutes"]] == [c["chute_id"] for c in api.state()["chutes"]]


def test_control_plane_users(api: t.Any) -> None:
    users = ok(api.client.get(f"{CONTROL}/users"))
    assert {u["username"] for u in users} == {"chutes", "alice", "bob", "carol", "admin"}
    alice = next(u for u in users if u["username"] == "alice")
    assert len(alice["api_keys"]) == 2 and alice["balance"] == 250.0 and alice["free_account"] is False
    assert api.client.post(f"{CONTROL}/users", json={"username": "alice"}).status_code == 409
    assert api.client.post(f"{CONTROL}/users", json={"username": "x", "hotkey": "not-ss58" * 6}).status_code == 400
    clash = api.client.post(f"{CONTROL}/users", json={"username": "eve", "hotkey": alice["hotkey"]})
    assert clash.status_code == 409
    assert api.client.patch(f"{CONTROL}/users/nobody", json={"balance": 1}).status_code == 404
