"""`mockserver contract` against a deliberately broken server (broken_app.py + broken.yaml).

The runner must find each planted defect, name the operation and the check that caught it, exit 1,
and write reports that say the same. Safety features (dry run, destructive skipping, filters, the
rate limit) are tested here too: the app counts every request it gets.
"""

from __future__ import annotations

import time

import pytest

DEFECTS = {  # operationId -> the check that must name it
    "getItem": "response_schema_conformance",  # `id` is a string
    "getCrash": "not_a_server_error",  # 500
    "getTeapot": "status_code_conformance",  # undocumented 418
    "getSecret": "ignored_auth",  # bearer required by the spec, never checked
}
AUTH = ("--header", "Authorization: Bearer t0ken")


def test_every_defect_is_found_and_named(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    outcome = contract("--spec", broken_spec, "--base-url", base, *AUTH, "--max-examples", "5", "--seed", "1")
    assert outcome.code == 1, outcome.out
    assert app.requests > 0

    # JSON: each defective operation failed, by its check; the correct one passed.
    report = outcome.report
    assert report["status"] == "failed" and report["exit_code"] == 1
    for operation_id, check in DEFECTS.items():
        op = outcome.operation(operation_id)
        assert op["status"] == "failed", op
        assert check in op["checks_failed"], (operation_id, op["checks_failed"])
        first = next(f for f in op["failures"] if f["check"] == check)
        assert first["curl"].startswith("curl -X GET") and base in first["curl"]
    assert outcome.operation("getHealth")["status"] == "passed"
    # Each defect is reported by the check that names it, not also by the runner's own check.
    assert outcome.operation("getTeapot")["checks_failed"] == ["status_code_conformance"]
    assert outcome.operation("getItem")["checks_failed"] == ["response_schema_conformance"]

    # Text: a progress line per operation, the summary table, the failing request as curl.
    for operation_id, check in DEFECTS.items():
        line = next(line for line in outcome.out.splitlines() if f"[{operation_id}]" in line)
        assert line.lstrip().startswith("FAIL") and check in line, line
    assert "GET /items/{item_id}" in outcome.out and "first failing request:" in outcome.out
    assert "curl -X GET" in outcome.out and "/crash" in outcome.out

    # JUnit: one test case per operation; the defects are failures typed by their check.
    suite = outcome.junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "4" and suite.get("tests") == "6"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert {f.get("type") for f in cases["GET /crash"].iter("failure")} >= {"not_a_server_error"}
    assert {f.get("type") for f in cases["GET /secret"].iter("failure")} == {"ignored_auth"}
    assert cases["GET /health"].find("failure") is None
    assert cases["DELETE /items/{item_id}"].find("skipped") is not None


def test_dry_run_sends_nothing(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    outcome = contract("--spec", broken_spec, "--base-url", base, *AUTH, "--dry-run", reports=False)
    assert outcome.code == 0, outcome.err
    assert app.requests == 0
    would_test, _, would_skip = outcome.out.partition("Would skip")
    for operation_id in ("getHealth", *DEFECTS):
        assert operation_id in would_test
    assert "deleteItem" in would_skip and "destructive" in would_skip and "deleteItem" not in would_test


def test_destructive_operations_are_skipped_unless_allowed(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    skipped = contract("--spec", broken_spec, "--base-url", base, "--include-operation", "deleteItem",
                       "--include-operation", "getHealth", "--max-examples", "3", "--seed", "1")
    assert skipped.code == 0, skipped.out
    delete = skipped.operation("deleteItem")
    assert delete["status"] == "skipped" and delete["requests"] == 0
    assert "destructive" in delete["skip_reason"] and "--allow-destructive" in delete["skip_reason"]
    assert "DELETE /items/{item_id}" in skipped.out.split("Skipped operations:")[1]
    sent_without = app.requests

    allowed = contract("--spec", broken_spec, "--base-url", base, "--include-operation", "deleteItem",
                       "--allow-destructive", "--max-examples", "3", "--seed", "1")
    assert allowed.code == 0, allowed.out
    assert allowed.operation("deleteItem")["status"] == "passed"
    assert allowed.operation("deleteItem")["requests"] > 0 and app.requests > sent_without


def test_include_and_exclude(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    only = contract("--spec", broken_spec, "--base-url", base, "--include-operation", "getHealth",
                    "--include-operation", "GET /teapot", "--max-examples", "3", "--seed", "1")
    assert only.code == 1  # the teapot
    assert [op["operation_id"] for op in only.report["operations"]] == ["getHealth", "getTeapot"]

    rest = contract("--spec", broken_spec, "--base-url", base, *AUTH, "--exclude-operation", "getItem",
                    "--exclude-operation", "getCrash", "--exclude-operation", "getTeapot",
                    "--exclude-operation", "getSecret", "--max-examples", "3", "--seed", "1")
    assert rest.code == 0, rest.out  # what is left (health; delete skipped) is correct
    assert {op["operation_id"]: op["status"] for op in rest.report["operations"]} == {
        "getHealth": "passed", "deleteItem": "skipped"}


def test_rate_limit_slows_the_run(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    args = ("--spec", broken_spec, "--base-url", base, "--include-operation", "getHealth",
            "--max-examples", "2", "--seed", "1")
    assert contract(*args, reports=False).code == 0
    sent = app.requests
    started = time.monotonic()
    outcome = contract(*args, "--rate", "4/s", reports=False)
    limited = time.monotonic() - started
    assert outcome.code == 0, outcome.out
    # The same ~10 requests: at most 4 per second is at least (n - 4) / 4 s (at most 4 go at once).
    assert app.requests - sent == sent > 8
    assert limited >= (sent - 4) / 4 * 0.9, (sent, limited)


@pytest.mark.parametrize("args, message", [
    (("--api", "nope"), "unknown API 'nope'"),
    (("--api", "openai_usage", "--include-operation", "nope"), "--include-operation 'nope': no such operation"),
    (("--api", "openai_usage", "--header", "no colon"), "expected 'Name: value'"),
    (("--api", "openai_usage", "--chutes-hotkey-seed", "00" * 32), "applies to the chutes API"),
    (("--api", "chutes", "--chutes-hotkey-seed", "zz"), "not hex"),
    (("--api", "openai_usage", "--rate", "fast"), "--rate 'fast'"),
    (("--api", "openai_usage", "--base-url", "ftp://x"), "expected an http(s) URL"),
    (("--api", "openai_usage", "--exclude-operation", "usage-costs", "--include-operation", "usage-costs"),
     "leave no operation"),
    ((), "give --api NAME or --spec FILE"),
])
def test_usage_errors_exit_2(contract, args, message) -> None:
    outcome = contract(*args, "--dry-run", reports=False)
    assert outcome.code == 2
    assert message in outcome.err, outcome.err
