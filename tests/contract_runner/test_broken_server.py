"""`mockserver contract` against a deliberately broken server (broken_app.py + broken.yaml).

The runner must find each planted defect, name the operation and the check that caught it, exit 1,
and write reports that say the same. Safety features (dry run, destructive skipping, filters, the
rate limit) are tested here too: the app counts every request it gets.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from broken_app import serve_broken_app

from mockserver.contract.runner import SpecOperation, destructive_reason

DEFECTS = {  # operationId -> the check that must name it
    "getItem": "response_schema_conformance",  # `id` is a string
    "getCrash": "not_a_server_error",  # 500
    "getTeapot": "status_code_conformance",  # undocumented 418
    "getSecret": "ignored_auth",  # bearer required by the spec, never checked
    "getGone": "positive_data_acceptance_documented",  # 404 "x": no text the spec documents
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
    assert outcome.operation("getThing")["status"] == "passed"  # its 404s say what the spec says
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
    assert suite is not None and suite.get("failures") == "5" and suite.get("tests") == "8"
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
                    "--exclude-operation", "getSecret", "--exclude-operation", "getGone",
                    "--max-examples", "3", "--seed", "1")
    assert rest.code == 0, rest.out  # what is left (health, things; delete skipped) is correct
    assert {op["operation_id"]: op["status"] for op in rest.report["operations"]} == {
        "getHealth": "passed", "deleteItem": "skipped", "getThing": "passed"}


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


# -- refusals, reproductions, counts, an unreachable target ----------------------------------------

def test_a_refusal_must_say_a_text_the_operation_documents(contract, broken_server, broken_spec) -> None:
    base, app = broken_server
    outcome = contract("--spec", broken_spec, "--base-url", base, "--include-operation", "getGone",
                       "--include-operation", "getThing", "--max-examples", "5", "--seed", "1")
    assert outcome.code == 1, outcome.out
    failure = next(f for f in outcome.operation("getGone")["failures"]
                   if f["check"] == "positive_data_acceptance_documented")
    assert "'x'" in failure["message"] and "`Gone item <gone_id> not found`" in failure["message"]
    # `No thing 1` is `No thing <thing_id>`: a documented refusal, which passes.
    assert any(path.startswith("/things/") and status == 404 for path, status in app.answered)
    assert outcome.operation("getThing")["status"] == "passed"


def test_a_server_answering_404_x_to_everything_fails(contract, not_found_server) -> None:
    base, _app = not_found_server
    operations = ["get_board", "get_workflow", "get_style_preset", "app_version", "list_style_presets"]
    args = [arg for operation_id in operations for arg in ("--include-operation", operation_id)]
    outcome = contract("--api", "invokeai", "--base-url", base, *args, "--max-examples", "3", "--seed", "1")
    assert outcome.code == 1
    assert {op["operation_id"]: op["status"] for op in outcome.report["operations"]} == dict.fromkeys(
        operations, "failed")
    board = outcome.operation("get_board")  # documents its 404: `Board not found`
    assert "positive_data_acceptance_documented" in board["checks_failed"]
    assert any("`Board not found`" in f["message"] for f in board["failures"])


def test_reproductions_mask_secrets_and_nothing_else(contract, broken_server, broken_spec) -> None:
    base, _app = broken_server
    outcome = contract("--spec", broken_spec, "--base-url", base, *AUTH, "--include-operation", "getGone",
                       "--max-examples", "3", "--seed", "1")
    assert outcome.code == 1
    curl = next(f["curl"] for f in outcome.operation("getGone")["failures"]
                if f["check"] == "positive_data_acceptance_documented")
    assert "Authorization: [Filtered]" in curl and "t0ken" not in outcome.out
    # Names that merely contain `key` or `token` keep their values: the command replays.
    assert "api_key_ids=key_1" in curl and "max_tokens=7" in curl


def test_header_and_footer_count_the_same_operations(contract, broken_server, broken_spec) -> None:
    base, _app = broken_server
    outcome = contract("--spec", broken_spec, "--base-url", base, *AUTH, "--max-examples", "2", "--seed", "1")
    header = re.search(r"^  (\d+) operations selected: (\d+) to test, (\d+) left out on purpose$", outcome.out, re.M)
    footer = re.search(r"^FAILED: (\d+) operations selected: (\d+) passed, (\d+) failed, (\d+) errored, "
                       r"(\d+) skipped \((\d+) left out on purpose\)", outcome.out, re.M)
    assert header is not None and footer is not None, outcome.out
    assert header[1] == footer[1] == "8" and header[2] == "7" and header[3] == footer[6] == "1"
    totals = outcome.report["totals"]
    assert totals["operations"] == 8 and totals["left_out"] == 1 and sum(int(footer[n]) for n in (2, 3, 4, 5)) == 8


def test_a_server_that_stops_answering_fails_the_run(contract, broken_spec) -> None:
    """Schemathesis stops a run when the server goes away (a refused connection, then no answer to
    its probe) and skips what is left: the run fails and says why, instead of passing untested."""
    correct = ("--include-operation", "getHealth", "--include-operation", "getThing")
    with serve_broken_app() as (base, _app):
        whole = contract("--spec", broken_spec, "--base-url", base, *correct, "--max-examples", "5", "--seed", "1")
    assert whole.code == 0, whole.out  # both operations pass while the server stays up
    with serve_broken_app(stop_after=10) as (base, app):
        outcome = contract("--spec", broken_spec, "--base-url", base, *correct, "--max-examples", "5", "--seed", "1")
    assert outcome.code == 1, outcome.out
    assert app.requests == 10 < whole.report["operations"][0]["requests"] + whole.report["operations"][1]["requests"]
    (error,) = outcome.report["run_errors"]
    assert error.startswith("Server: Server Unavailable") and f"{base} stopped responding" in error
    assert "Server Unavailable" in outcome.out


def test_an_unreachable_target_fails_at_once_in_one_line(contract) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = contract("--api", "openai_usage", "--base-url", f"http://127.0.0.1:{port}", reports=False)
    assert outcome.code == 2
    assert outcome.err.splitlines() == [f"mockserver contract: cannot reach http://127.0.0.1:{port}: "
                                        "Connection refused"]
    assert outcome.out == ""


# -- what counts as destructive --------------------------------------------------------------------

@pytest.mark.parametrize("method, path, operation_id, verb", [
    ("DELETE", "/things/{id}", "remove_thing", "DELETE"),
    ("POST", "/presets/reset", "reset_presets", "reset"),
    ("POST", "/x", "resetThing", "reset"),  # camelCase words
    ("PUT", "/queue/{queue_id}/prune", "prune", "prune"),
    ("POST", "/images/batch/delete", "trash_images", "delete"),  # the path says it
    ("POST", "/models/empty_model_cache", "empty_model_cache", "empty"),
    ("PUT", "/queue/{queue_id}/i/{item_id}/cancel", "cancel_queue_item", "cancel"),
])
def test_destructive_operations(method, path, operation_id, verb) -> None:
    reason = destructive_reason(SpecOperation(method, path, operation_id, {}))
    assert reason is not None and verb in reason and "--allow-destructive" in reason


@pytest.mark.parametrize("method, path, operation_id", [
    ("POST", "/style_presets/", "create_style_preset"),  # `reset` inside `preset` is no word
    ("PATCH", "/style_presets/i/{style_preset_id}", "update_style_preset"),
    ("GET", "/style_presets/export", "export_style_presets"),
    ("GET", "/images/delete", "list_deleted_images"),  # a safe method never destroys
    ("HEAD", "/queue/clear", "clear"),
    ("PUT", "/queue/{reset_id}/rename", "rename"),  # a parameter's name says nothing
    ("POST", "/cleared", "presetting"),
])
def test_not_destructive(method, path, operation_id) -> None:
    assert destructive_reason(SpecOperation(method, path, operation_id, {})) is None


def test_invokeai_style_presets_are_tested_and_its_destructive_operations_are_not(contract) -> None:
    outcome = contract("--api", "invokeai", "--dry-run", reports=False)
    assert outcome.code == 0, outcome.err
    would_test, _, would_skip = outcome.out.partition("Would skip")

    def operation_ids(section: str) -> set[str]:
        return {line.split()[2] for line in section.splitlines() if line.startswith("  ") and len(line.split()) > 2}

    tested, skipped = operation_ids(would_test), operation_ids(would_skip)
    assert {"list_style_presets", "export_style_presets", "get_style_preset", "get_style_preset_image",
            "create_style_preset", "update_style_preset", "import_style_presets"} <= tested
    assert {"delete_style_preset", "reset_hf_token", "empty_model_cache", "prune", "clear", "prune_downloads",
            "cancel_queue_item", "delete_images_from_list", "remove_images_from_board"} <= skipped
    assert not tested & skipped and len(tested) + len(skipped) == 131
    assert "131 operations selected: 97 to test, 34 left out on purpose" in outcome.out
