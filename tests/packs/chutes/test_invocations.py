"""The /invocations operations: usage, stats, CSV exports and reports. Expectations are computed
here from the pack's exported state (its invocation records), not with the pack's own code.
behaviour.md "Invocations"."""

from __future__ import annotations

import csv
import io
import typing as t
from datetime import datetime, timezone

import pytest
from chutes_support import CLOCK, CONTROL, USERS, chute_id_for, detail, ok

DAY = 86400
HEADER = ("invocation_id,chute_id,chute_user_id,function_name,image_id,image_user_id,instance_id,miner_uid,"
          "miner_hotkey,started_at,completed_at,error_message,compute_multiplier,bounty,metrics")
DEEPSEEK_ID = chute_id_for("chutes", "deepseek-ai/DeepSeek-V3-0324")
FLUX_ID = chute_id_for("chutes", "FLUX.1-schnell")
REPORTED = "A report has already been filed for this invocation"
NOT_YOURS = "Invocation not found, or does not belong to you"


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def rows_of(response: t.Any, filename: str) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv"), response.headers
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    return list(csv.DictReader(io.StringIO(response.text)))


def invocations(api: t.Any) -> list[dict]:
    return api.state()["invocations"]


# -- usage and stats ------------------------------------------------------------------------------


def test_usage_is_per_chute_and_day_over_the_last_11_days(api: t.Any) -> None:
    rows = ok(api.get("/invocations/usage"))
    expected: dict[tuple[str, str], list[float]] = {}
    for inv in invocations(api):
        if inv["started_at"] >= CLOCK - 11 * DAY:
            expected.setdefault((inv["chute_id"], day_of(inv["started_at"])), []).append(inv["usd_amount"])
    assert {(r["chute_id"], r["date"]) for r in rows} == set(expected)
    for row in rows:
        amounts = expected[(row["chute_id"], row["date"])]
        assert row["invocation_count"] == len(amounts)
        assert row["usd_amount"] == pytest.approx(sum(amounts))
        assert set(row) == {"chute_id", "date", "usd_amount", "invocation_count"}
    dates = sorted({r["date"] for r in rows})
    assert len(dates) == 11 and dates[0] == "2025-11-10" and dates[-1] == "2025-11-20"
    # Newest day first, then the largest spend.
    assert rows == sorted(rows, key=lambda r: (r["date"], r["usd_amount"]), reverse=True)


def test_usage_follows_new_invocations(api: t.Any) -> None:
    before = {(r["chute_id"], r["date"]): r for r in ok(api.get("/invocations/usage"))}
    api.record_invocation(DEEPSEEK_ID, "alice", started_at=CLOCK - 3600)
    after = {(r["chute_id"], r["date"]): r for r in ok(api.get("/invocations/usage"))}
    key = (DEEPSEEK_ID, "2025-11-20")
    assert after[key]["invocation_count"] == before[key]["invocation_count"] + 1


def test_usage_window_moves_with_the_clock(api: t.Any) -> None:
    api.advance(5 * DAY)
    dates = {r["date"] for r in ok(api.get("/invocations/usage"))}
    assert min(dates) == "2025-11-15" and max(dates) == "2025-11-20"


def test_llm_stats(api: t.Any) -> None:
    rows = ok(api.get("/invocations/stats/llm"))
    names = {r["name"] for r in rows}
    assert names == {"deepseek-ai/DeepSeek-V3-0324", "Qwen/Qwen3-32B", "affine/reasoner-7b"}  # vllm with traffic
    for row in rows:
        assert set(row) == {"chute_id", "name", "date", "total_requests", "total_input_tokens",
                            "total_output_tokens", "average_tps", "average_ttft"}
        assert len(row["date"]) == 10 and row["total_requests"] > 0
        assert isinstance(row["average_tps"], float) and isinstance(row["average_ttft"], float)
    records = [i for i in invocations(api) if i["chute_id"] == DEEPSEEK_ID and not i["error_message"]]
    day = rows[0]["date"]
    row = next(r for r in rows if r["chute_id"] == DEEPSEEK_ID and r["date"] == day)
    same_day = [i for i in records if day_of(i["started_at"]) == day]
    assert row["total_requests"] == len(same_day)
    assert row["total_output_tokens"] == sum(i["output_tokens"] for i in same_day)


def test_diffusion_stats(api: t.Any) -> None:
    rows = ok(api.get("/invocations/stats/diffusion"))
    assert {r["name"] for r in rows} == {"FLUX.1-schnell"} and len(rows) == 11
    for row in rows:
        assert set(row) == {"chute_id", "name", "date", "total_steps", "total_requests", "average_sps"}
        assert row["chute_id"] == FLUX_ID and row["total_steps"] > 0


# -- recent export -------------------------------------------------------------------------------------


def recent_expected(api: t.Any, hotkey: str | None = None) -> list[dict]:
    """Completed-without-error invocations of the last 24 h, newest first (ties in any order)."""
    found = [i for i in invocations(api) if i["started_at"] >= CLOCK - DAY and not i["error_message"]
             and (hotkey is None or i["miner_hotkey"] == hotkey)]
    return sorted(found, key=lambda i: i["started_at"], reverse=True)


def same_rows(rows: list[dict], expected: list[dict], api: t.Any) -> None:
    """The rows are the expected invocations, in the expected (newest first) order."""
    started = {i["invocation_id"]: i["started_at"] for i in invocations(api)}
    assert [started[r["invocation_id"]] for r in rows] == [i["started_at"] for i in expected]
    if len(rows) == len(expected):
        assert {r["invocation_id"] for r in rows} == {i["invocation_id"] for i in expected}


def test_recent_export_is_the_last_day_newest_first(api: t.Any) -> None:
    response = api.get("/invocations/exports/recent", params={"limit": 10000})
    assert response.text.splitlines()[0] == HEADER
    rows = rows_of(response, "recent.csv")
    expected = recent_expected(api)
    assert 100 < len(expected) < 10000
    same_rows(rows, expected, api)
    assert all(r["error_message"] == "" for r in rows)
    first = rows[0]
    assert datetime.fromisoformat(first["started_at"]).timestamp() >= CLOCK - DAY
    assert datetime.fromisoformat(first["completed_at"]) >= datetime.fromisoformat(first["started_at"])


@pytest.mark.parametrize(("limit", "count"), [(None, 100), (0, 100), (-5, 100), (1, 1), (37, 37), (100, 100)])
def test_recent_export_limits(api: t.Any, limit: int | None, count: int) -> None:
    params = {} if limit is None else {"limit": limit}
    rows = rows_of(api.get("/invocations/exports/recent", params=params), "recent.csv")
    same_rows(rows, recent_expected(api)[:count], api)


@pytest.mark.parametrize("limit", ["abc", "1.5", ""])
def test_recent_export_limit_must_be_an_integer(api: t.Any, limit: str) -> None:
    response = api.get("/invocations/exports/recent", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_recent_export_is_capped_at_10000_rows(api: t.Any) -> None:
    state = api.state()
    template = next(i for i in state["invocations"] if i["started_at"] >= CLOCK - DAY and not i["error_message"])
    extra = [{**template, "invocation_id": f"00000000-0000-4000-8000-{n:012d}", "parent_invocation_id": "p",
              "started_at": CLOCK - 7200 + n * 0.5, "completed_at": CLOCK - 7199 + n * 0.5} for n in range(10050)]
    state["invocations"] = sorted(state["invocations"] + extra, key=lambda i: i["started_at"])
    ok(api.client.put(f"{CONTROL}/state", json=state))
    rows = rows_of(api.get("/invocations/exports/recent", params={"limit": 50000}), "recent.csv")
    assert len(rows) == 10000
    same_rows(rows, recent_expected(api)[:10000], api)


def test_recent_export_by_miner_hotkey(api: t.Any) -> None:
    hotkey = rows_of(api.get("/invocations/exports/recent"), "recent.csv")[0]["miner_hotkey"]
    rows = rows_of(api.get("/invocations/exports/recent", params={"hotkey": hotkey, "limit": 10000}), "recent.csv")
    assert rows and all(r["miner_hotkey"] == hotkey for r in rows)
    same_rows(rows, recent_expected(api, hotkey), api)
    empty = api.get("/invocations/exports/recent", params={"hotkey": "5Nobody"})
    assert rows_of(empty, "recent.csv") == [] and empty.text.strip() == HEADER


def test_a_recorded_invocation_is_exported(api: t.Any) -> None:
    invocation_id = api.record_invocation(DEEPSEEK_ID, "alice", started_at=CLOCK - 30, output_tokens=12)
    rows = rows_of(api.get("/invocations/exports/recent", params={"limit": 1}), "recent.csv")
    assert rows[0]["invocation_id"] == invocation_id and rows[0]["chute_id"] == DEEPSEEK_ID
    failed = api.record_invocation(DEEPSEEK_ID, "alice", started_at=CLOCK - 10, error_message="boom")
    assert failed not in [i["invocation_id"] for i in recent_expected(api)]
    assert rows_of(api.get("/invocations/exports/recent", params={"limit": 1}), "recent.csv")[0][
        "invocation_id"] == invocation_id


# -- hourly exports -------------------------------------------------------------------------------------


def hour_start(year: int, month: int, day: int, hour: int) -> float:
    return datetime(year, month, day, hour, tzinfo=timezone.utc).timestamp()


def test_an_hourly_export(api: t.Any) -> None:
    response = api.get("/invocations/exports/2025/11/20/13.csv")
    assert response.text.splitlines()[0] == "parent_invocation_id," + HEADER  # the exporter's query adds it
    rows = rows_of(response, "2025-11-20-13.csv")
    start = hour_start(2025, 11, 20, 13)
    expected = {i["invocation_id"] for i in invocations(api) if start <= i["started_at"] < start + 3600}
    assert expected and {r["invocation_id"] for r in rows} == expected


TRAINER_ID = chute_id_for("chutes", "chutes/lora-trainer")
JOB_STATUSES = {"complete", "error", "partial_failure", "running"}


def naive_iso(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None).isoformat()


def test_the_seeded_history_has_job_runs_of_the_job_chute(api: t.Any) -> None:
    state = api.state()
    jobs = state["jobs"]
    trainer = next(c for c in state["chutes"] if c["chute_id"] == TRAINER_ID)
    assert len({day_of(j["started_at"]) for j in jobs}) >= 10  # spread over the 11 seeded days
    assert {j["chute_id"] for j in jobs} == {TRAINER_ID}
    assert {j["method"] for j in jobs} == {"train_lora", "dev_box"}
    assert {j["status"] for j in jobs} <= JOB_STATUSES and "complete" in {j["status"] for j in jobs}
    assert all(j["version"] == trainer["version"] and j["chutes_version"] == "0.3.61" for j in jobs)
    for job in jobs:
        assert job["created_at"] < job["started_at"] < CLOCK
        assert (job["finished_at"] is None) == (job["status"] == "running")
        assert job["updated_at"] == (job["finished_at"] or job["started_at"])
        assert job["miner_terminated"] is False or job["status"] == "error"
        assert job["method"] == "dev_box" or job["finished_at"] - job["started_at"] <= 7200  # its timeout


def test_a_seeded_hour_lists_its_job_runs(api: t.Any) -> None:
    jobs = api.state()["jobs"]
    first = jobs[0]
    when = datetime.fromtimestamp(first["started_at"], timezone.utc)
    start = hour_start(when.year, when.month, when.day, when.hour)
    response = api.get(f"/invocations/exports/{when.year}/{when.month}/{when.day}/{when.hour}-jobs.csv")
    rows = rows_of(response, f"{when:%Y-%m-%d-%H}-jobs.csv")
    expected = {j["job_id"] for j in jobs if start <= j["started_at"] < start + 3600
                or j["finished_at"] is not None and start <= j["finished_at"] < start + 3600}
    assert {r["job_id"] for r in rows} == expected
    row = next(r for r in rows if r["job_id"] == first["job_id"])
    assert row == {
        "job_id": first["job_id"], "chute_id": TRAINER_ID, "version": first["version"], "chutes_version": "0.3.61",
        "method": first["method"], "miner_uid": str(first["miner_uid"]), "miner_hotkey": first["miner_hotkey"],
        "miner_coldkey": first["miner_coldkey"], "instance_id": first["instance_id"],
        "created_at": naive_iso(first["created_at"]), "updated_at": naive_iso(first["updated_at"]),
        "started_at": naive_iso(first["started_at"]), "finished_at": naive_iso(first["finished_at"]),
        "status": first["status"], "compute_multiplier": str(first["compute_multiplier"]),
        "miner_terminated": str(first["miner_terminated"])}
    assert row["miner_hotkey"].startswith("5") and len(row["miner_hotkey"]) == len(row["miner_coldkey"]) == 48


def test_hour_numbers_may_be_zero_padded(api: t.Any) -> None:
    rows_of(api.get("/invocations/exports/2025/11/20/05.csv"), "2025-11-20-05.csv")
    rows_of(api.get("/invocations/exports/2025/11/3/7.csv"), "2025-11-03-07.csv")


@pytest.mark.parametrize("kind", ["reports", "jobs"])
def test_reports_and_jobs_exports(api: t.Any, kind: str) -> None:
    rows_of(api.get(f"/invocations/exports/2025/11/20/13-{kind}.csv"), f"2025-11-20-13-{kind}.csv")


@pytest.mark.parametrize("hour_format", ["13", "13.txt", "13-logs.csv", "x.csv", "13.csv.gz", "-reports.csv",
                                         "13-reports", "13.CSV"])
def test_an_invalid_hour_format_is_400(api: t.Any, hour_format: str) -> None:
    got = detail(api.get(f"/invocations/exports/2025/11/20/{hour_format}"), 400)
    assert got == f"Invalid format: {hour_format}"


@pytest.mark.parametrize(("path", "when"), [
    ("2024/12/13/5.csv", "year=2024 month=12 day=13 hour=5"),  # before the first export
    ("2024/12/13/23-reports.csv", "year=2024 month=12 day=13 hour=23"),
    ("2023/6/1/0.csv", "year=2023 month=6 day=1 hour=0"),
    ("2099/1/1/0.csv", "year=2099 month=1 day=1 hour=0"),
    ("2025/11/21/5.csv", "year=2025 month=11 day=21 hour=5"),  # later today: the future
    ("2025/12/1/0.csv", "year=2025 month=12 day=1 hour=0"),
    ("2026/1/1/0-jobs.csv", "year=2026 month=1 day=1 hour=0"),
])
def test_exports_that_cannot_exist_are_404(api: t.Any, path: str, when: str) -> None:
    assert detail(api.get(f"/invocations/exports/{path}"), 404) == f"Invocations export not found {when}"


def test_the_first_export_day_exists(api: t.Any) -> None:
    rows_of(api.get("/invocations/exports/2024/12/14/0.csv"), "2024-12-14-00.csv")


def test_an_impossible_date_is_not_found(api: t.Any) -> None:
    """Upstream builds `datetime(year, month, day, hour)` unconditionally and answers 500; no
    export can exist for such a date, so the mock answers the 404 (a deliberate difference)."""
    for path, (y, m, d, h) in {"2025/13/1/0.csv": (2025, 13, 1, 0), "2025/2/30/0.csv": (2025, 2, 30, 0),
                               "2025/11/32/0.csv": (2025, 11, 32, 0), "2025/11/20/24.csv": (2025, 11, 20, 24)}.items():
        response = api.get(f"/invocations/exports/{path}")
        assert response.status_code == 404, path
        assert response.json() == {"detail": f"Invocations export not found year={y} month={m} day={d} hour={h}"}


@pytest.mark.parametrize("path", ["x/11/20/13.csv", "2025/nov/20/13.csv", "2025/11/1.5/13.csv"])
def test_non_integer_dates_are_422(api: t.Any, path: str) -> None:
    response = api.get(f"/invocations/exports/{path}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "path"


def test_the_current_hour_appears_once_it_is_over(api: t.Any) -> None:
    api.advance(90 * 60)  # 01:30 on 2025-11-21
    rows_of(api.get("/invocations/exports/2025/11/21/0.csv"), "2025-11-21-00.csv")
    assert detail(api.get("/invocations/exports/2025/11/21/1.csv"), 404) == (
        "Invocations export not found year=2025 month=11 day=21 hour=1")


# -- reports ---------------------------------------------------------------------------------------------


def test_report_an_invocation(api: t.Any) -> None:
    invocation_id = api.record_invocation(DEEPSEEK_ID, "alice")
    path = f"/invocations/{invocation_id}/report"
    assert detail(api.post(path, {"reason": "bad output"}, "bob"), 404) == NOT_YOURS
    assert ok(api.post(path, {"reason": "bad output"}, "alice")) == {
        "status": f"report received for invocation_id='{invocation_id}'"}
    # Any second report is a conflict, whoever files it (checked before ownership).
    assert detail(api.post(path, {"reason": "again"}, "alice"), 409) == REPORTED
    assert detail(api.post(path, {"reason": "me too"}, "bob"), 409) == REPORTED
    reports = api.state()["reports"]
    assert [(r["invocation_id"], r["user_id"], r["reason"]) for r in reports] == [
        (invocation_id, USERS["alice"]["user_id"], "bad output")]


def test_report_by_hotkey_signature(api: t.Any) -> None:
    invocation_id = api.record_invocation(FLUX_ID, "bob")
    response = api.signed_send("POST", f"/invocations/{invocation_id}/report", "bob", {"reason": "blurry"})
    assert ok(response)["status"] == f"report received for invocation_id='{invocation_id}'"


def test_report_of_an_unknown_invocation(api: t.Any) -> None:
    assert detail(api.post("/invocations/nope/report", {"reason": "x"}, "alice"), 404) == NOT_YOURS


def test_report_of_a_seeded_invocation_by_its_caller(api: t.Any) -> None:
    seeded = next(i for i in invocations(api) if i["user_id"] == USERS["carol"]["user_id"])
    path = f"/invocations/{seeded['parent_invocation_id']}/report"
    assert detail(api.post(path, {"reason": "x"}, "alice"), 404) == NOT_YOURS
    ok(api.post(path, {"reason": "x"}, "carol"))


def test_report_body_is_required(api: t.Any) -> None:
    invocation_id = api.record_invocation(DEEPSEEK_ID, "alice")
    for body in ({}, {"reason": 5}, None):
        response = api.post(f"/invocations/{invocation_id}/report", body, "alice")
        assert response.status_code == 422, response.text
    ok(api.post(f"/invocations/{invocation_id}/report", {"reason": "x"}, "alice"))


def test_reports_show_in_the_hourly_reports_export(api: t.Any) -> None:
    invocation_id = api.record_invocation(DEEPSEEK_ID, "alice")
    api.advance(600)
    ok(api.post(f"/invocations/{invocation_id}/report", {"reason": "slow"}, "alice"))
    api.advance(3600)
    rows = rows_of(api.get("/invocations/exports/2025/11/21/0-reports.csv"), "2025-11-21-00-reports.csv")
    assert [r["invocation_id"] for r in rows] == [invocation_id]
    assert rows_of(api.get("/invocations/exports/2025/11/20/23-reports.csv"), "2025-11-20-23-reports.csv") == []


def test_recording_needs_a_known_chute_and_user(api: t.Any) -> None:
    assert api.client.post(f"{CONTROL}/invocations", json={"chute_id": "nope", "user": "alice"}).status_code == 404
    assert api.client.post(f"{CONTROL}/invocations", json={"chute_id": DEEPSEEK_ID, "user": "zed"}).status_code == 404
