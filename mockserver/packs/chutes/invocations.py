"""The `/invocations` operations: usage, LLM and diffusion stats, CSV exports, reports."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone

from mockserver.engine.clock import DAY
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.invocation_window import between, since
from mockserver.packs.chutes.store import ChutesStore

handlers = Handlers()

_HOUR_FORMAT = re.compile(r"^(\d+)((?:-(reports|jobs))?\.csv)$")
_FIRST_EXPORT = datetime(2024, 12, 14, tzinfo=timezone.utc)
EXPORT_COLUMNS = ("invocation_id", "chute_id", "chute_user_id", "function_name", "image_id", "image_user_id",
                  "instance_id", "miner_uid", "miner_hotkey", "started_at", "completed_at", "error_message",
                  "compute_multiplier", "bounty", "metrics")
# The hourly exporter also writes each attempt's parent (the id clients see and report).
HOURLY_COLUMNS = ("parent_invocation_id", *EXPORT_COLUMNS)
REPORT_COLUMNS = ("invocation_id", "user_id", "timestamp", "reason")
JOB_COLUMNS = ("job_id", "chute_id", "version", "chutes_version", "method", "miner_uid", "miner_hotkey",
               "miner_coldkey", "instance_id", "created_at", "updated_at", "started_at", "finished_at", "status",
               "compute_multiplier", "miner_terminated")


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def _recent(store: ChutesStore, days: int) -> list[dict]:
    return since(store.invocations, store.clock.now() - days * DAY)


@handlers("get_usage_invocations_usage_get")
def usage(request: Request[ChutesStore]) -> list:
    """Per chute and day over the last 11 days, newest day first, then the largest spend."""
    rows: dict[tuple[str, str], dict] = {}
    for invocation in _recent(request.state, 11):
        key = (invocation["chute_id"], _day(invocation["started_at"]))
        row = rows.setdefault(key, {"chute_id": key[0], "date": key[1], "usd_amount": 0.0, "invocation_count": 0})
        # What the caller paid, less what a private chute's owner was credited for it: the real
        # usage table holds both as rows of the same chute.
        amount = invocation["usd_amount"] - invocation.get("credited_usd", 0.0)
        row["usd_amount"] = round(row["usd_amount"] + amount, 8)
        row["invocation_count"] += 1
    return sorted(rows.values(), key=lambda r: (r["date"], r["usd_amount"]), reverse=True)


def _daily_by_chute(store: ChutesStore, template: str) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for invocation in store.invocations:
        chute = store.chutes.get(invocation["chute_id"])
        if chute is not None and chute["standard_template"] == template and not invocation["error_message"]:
            groups.setdefault((chute["chute_id"], _day(invocation["started_at"])), []).append(invocation)
    return groups


@handlers("get_llm_stats_invocations_stats_llm_get")
def llm_stats(request: Request[ChutesStore]) -> list:
    store = request.state
    rows = []
    for (chute_id, date), group in sorted(_daily_by_chute(store, "vllm").items()):
        seconds = sum(i["completed_at"] - i["started_at"] for i in group) or 1.0
        output = sum(i["output_tokens"] for i in group)
        rows.append({"chute_id": chute_id, "name": store.chutes[chute_id]["name"], "date": date,
                     "total_requests": len(group), "total_input_tokens": sum(i["input_tokens"] for i in group),
                     "total_output_tokens": output, "average_tps": round(output / seconds, 3),
                     "average_ttft": round(min(2.0, seconds / len(group) / 10), 4)})
    return rows


@handlers("get_diffusion_stats_invocations_stats_diffusion_get")
def diffusion_stats(request: Request[ChutesStore]) -> list:
    store = request.state
    rows = []
    for (chute_id, date), group in sorted(_daily_by_chute(store, "diffusion").items()):
        seconds = sum(i["completed_at"] - i["started_at"] for i in group) or 1.0
        steps = sum(i["steps"] for i in group)
        rows.append({"chute_id": chute_id, "name": store.chutes[chute_id]["name"], "date": date,
                     "total_steps": steps, "total_requests": len(group), "average_sps": round(steps / seconds, 3)})
    return rows


def _csv(columns: tuple[str, ...], rows: list[dict], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response.text(out.getvalue(), media_type="text/csv; charset=utf-8",
                         headers={"content-disposition": f'attachment; filename="{filename}"'})


def _export_row(invocation: dict) -> dict:
    return {**invocation,
            "started_at": datetime.fromtimestamp(invocation["started_at"], timezone.utc).isoformat(),
            "completed_at": datetime.fromtimestamp(invocation["completed_at"], timezone.utc).isoformat(),
            "error_message": invocation["error_message"] or "",
            "metrics": json.dumps(invocation["metrics"]) if "metrics" in invocation
            else f'{{"it": {invocation["input_tokens"]}, "ot": {invocation["output_tokens"]}}}'}


def _job_row(job: dict) -> dict:
    """A job run as the exporter writes it: naive UTC timestamps, empty cells for what is unset."""
    def when(value: float | None) -> str:
        return "" if value is None else datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None).isoformat()
    return {**job, **{k: when(job[k]) for k in ("created_at", "updated_at", "started_at", "finished_at")},
            **{k: "" if job[k] is None else job[k] for k in ("miner_uid", "miner_hotkey", "miner_coldkey",
                                                                "instance_id")}}


@handlers("get_recent_export_invocations_exports_recent_get")
def recent_export(request: Request[ChutesStore]) -> Response:
    store = request.state
    limit = request.params.get("limit")
    limit = 100 if not limit or limit <= 0 else min(limit, 10000)
    hotkey = request.params.get("hotkey")
    now = store.clock.now()
    rows = [i for i in reversed(since(store.invocations, now - DAY))
            if not i["error_message"] and (hotkey is None or i["miner_hotkey"] == hotkey)]
    return _csv(EXPORT_COLUMNS, [_export_row(i) for i in rows[:limit]], "recent.csv")


@handlers("get_export_invocations_exports__year___month___day___hour_format__get")
def hourly_export(request: Request[ChutesStore]) -> Response:
    store = request.state
    year, month, day, hour_format = (request.params[k] for k in ("year", "month", "day", "hour_format"))
    match = _HOUR_FORMAT.match(hour_format)
    if match is None:
        raise ApiError(400, f"Invalid format: {hour_format}")
    digits, suffix, kind = match.groups()
    digits = digits.lstrip("0") or "0"  # the hour as int() would print it
    missing = ApiError(404, f"Invocations export not found year={year} month={month} day={day} hour={digits}")
    if len(digits) > 2:
        raise missing  # no hour has three digits (and int() refuses thousands)
    hour = int(digits)
    try:
        start = datetime(year, month, day, hour, tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise missing from None  # the real server answers 500 here; nothing can exist at such a date
    now = store.clock.now()
    if start < _FIRST_EXPORT or start.timestamp() + 3600 > now or not 2024 <= year <= datetime.fromtimestamp(now, timezone.utc).year:
        raise missing
    lo, hi = start.timestamp(), start.timestamp() + 3600
    filename = f"{start:%Y-%m-%d-%H}{suffix}"
    if kind == "reports":
        rows = [r for r in store.reports.values() if lo <= r["created_at"] < hi]
        return _csv(REPORT_COLUMNS, rows, filename)
    if kind == "jobs":
        rows = [_job_row(j) for j in store.jobs if lo <= j["started_at"] < hi
                or j["finished_at"] is not None and lo <= j["finished_at"] < hi]
        return _csv(JOB_COLUMNS, rows, filename)
    return _csv(HOURLY_COLUMNS, [_export_row(i) for i in between(store.invocations, lo, hi)], filename)


@handlers("report_invocation_invocations__invocation_id__report_post")
def report_invocation(request: Request[ChutesStore]) -> dict:
    store = request.state
    invocation_id = request.params["invocation_id"]
    caller = request.principal
    with store.lock:
        if invocation_id in store.reports:
            raise ApiError(409, "A report has already been filed for this invocation")
        if not any(i["parent_invocation_id"] == invocation_id and i["user_id"] == caller["user_id"]
                   for i in store.invocations):
            raise ApiError(404, "Invocation not found, or does not belong to you")
        now = store.clock.now()
        store.reports[invocation_id] = {"invocation_id": invocation_id, "user_id": caller["user_id"],
                                        "timestamp": datetime.fromtimestamp(now, timezone.utc).isoformat(),
                                        "created_at": now, "reason": request.body["reason"]}
        store.changed()
    return {"status": f"report received for invocation_id='{invocation_id}'"}
