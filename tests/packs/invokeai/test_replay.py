"""Replay the real InvokeAI 6.8.1 recording (part 1 operations) against one fresh mock.

`data/real-server-transcript.jsonl` is the recording of a real `invokeai-web` 6.8.1 (CPU, no models,
empty database; see `/work/shared/reference/invokeai/behaviour.md` where it came from). The calls of
part 1's operation families -- `/api/v1/{app, utilities, boards, board_images, board_videos, images,
videos, workflows, style_presets, client_state}` plus the generic unknown-route 404, wrong-method
405 and no-trailing-slash 404 -- are sent in recorded order to one in-process server, ids rewritten
from the real server's to the mock's (`replay.py` says how), and every answer is compared with the
recorded one: status, JSON shape, 422 error `type`/`loc`, media type and a structural check of
binary bodies. One test per call, named by seq and name; the table and the match rate are printed
in the terminal summary.

Not replayed here (`SKIPPED`, built by `classify()` plus the overrides below):

- part 2, queue: seqs 95-139 (status, enqueue, items, pause/resume, retry, cancel, prune, clear; the
  `observation` entries 100, 104-107, 110, 115, 126-127 are queue-item polling), 186-192 (queue
  errors), 199 (a queue 422 with `Accept-Encoding: identity`);
- part 2, models and downloads: seqs 140-152 (`/api/v2/models`, `/api/v1/download_queue`,
  `/api/v1/model_relationships`), 194-195 (model errors);
- part-1 paths whose answer depends on part 2's queue (`PART2_DEPENDENT`): 112 (image names) and
  113 (image list) of category `general` list the image the queue's `blank_image` run saved; with
  no queue replayed they would list nothing;
- not operations: 200 (CORS preflight from a foreign origin), 201 (GET with an `Origin` header:
  CORS), 202 (root `/?__theme=dark` redirect), 204 (`/openapi.json`), 205 (`/docs`), 206
  (`/redoc`), 207 (frontend index `/`). The recording has no socket.io calls (those are in
  `real-server-socketio-events.jsonl`).

`DELIBERATE` lists the calls where the mock answers differently on purpose, with the answer it
documents instead; `ALLOW` the per-call relaxations of the shape rules, each with its reason (none
needed for part 1). In the table, `!` marks a problem (the call fails) and `~` a value difference
found after mapping ids and leaving out times, reported only (e.g. the default style presets' prompt
wording, which the fixtures write in their own words). The last two tests check the harness itself
against a stand-in that answers exactly what the real server did.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import typing as t

import pytest
from invokeai_support import make_server
from replay import (Allowances, EchoClient, Entry, IdMap, Outcome, Replayer, classify, compare, is_call,
                    load_transcript, report, shape_problems)
from starlette.testclient import TestClient

ENTRIES = load_transcript()
BY_SEQ = {entry["seq"]: entry for entry in ENTRIES}

PART2_DEPENDENT = {
    112: "image names of category general list the image the queue's blank_image run saved (seq 109)",
    113: "image DTOs of category general list the image the queue's blank_image run saved (seq 109)",
}


def _select() -> tuple[list[Entry], dict[int, str]]:
    part1: list[Entry] = []
    skipped: dict[int, str] = {}
    for entry in ENTRIES:
        part, why = classify(entry)
        if entry["seq"] in PART2_DEPENDENT:
            part, why = "part2", f"part-2-dependent: {PART2_DEPENDENT[entry['seq']]}"
        if part == "part1":
            part1.append(entry)
        else:
            skipped[entry["seq"]] = f"{part}: {why}" if part == "part2" else why
    return part1, skipped


PART1, SKIPPED = _select()


# ---------------------------------------------------------------------------------------------------
# Deliberate differences: the mock's documented answer is asserted instead of the recorded one.

Check = t.Callable[[Entry, t.Any, IdMap], list[str]]


@dataclasses.dataclass(frozen=True)
class Deliberate:
    reason: str
    status: int
    check: Check


def detail(message: str | None = None) -> Check:
    """`{"detail": <string>}` (with this exact message, when given)."""

    def check(entry: Entry, got: t.Any, ids: IdMap) -> list[str]:
        if not isinstance(got, dict) or set(got) != {"detail"} or not isinstance(got["detail"], str):
            return [f"body {got!r}, documented {{'detail': <string>}}"]
        if message is not None and got["detail"] != message:
            return [f"detail {got['detail']!r}, documented {message!r}"]
        return []

    return check


def recorded_shape(allow: Allowances = Allowances(), **values: t.Any) -> Check:
    """The recorded shape, with these top-level values."""

    def check(entry: Entry, got: t.Any, ids: IdMap) -> list[str]:
        problems = shape_problems(entry["response"]["json"], got, ids, allow)
        for key, value in values.items():
            if not isinstance(got, dict) or got.get(key) != value:
                problems.append(f"{key} {got.get(key) if isinstance(got, dict) else got!r}, documented {value!r}")
        return problems

    return check


DELIBERATE: dict[int, Deliberate] = {
    19: Deliberate("real server's paged board list answers `total` = the page size (a defect); the mock "
                   "answers the true total (2 boards at this point), same shape",
                   200, recorded_shape(limit=1, offset=0, total=2)),
    78: Deliberate("thumbnail of a workflow without one: real server 500 (text/plain, a defect); the mock "
                   "answers 404 with a JSON detail", 404, detail()),
    85: Deliberate("image of a style preset without one: real server 500 (text/plain, a defect); the mock "
                   "answers 404 with a JSON detail", 404, detail()),
    160: Deliberate("PATCH of an unknown board: real server 500 'Failed to update board' (a defect); the "
                    "mock answers 404 'Board not found'", 404, detail("Board not found")),
    179: Deliberate("adding an unknown image to an unknown board: real server 500 'Failed to add image to "
                    "board' (a defect); the mock answers 404, the board checked first", 404,
                    detail("Board not found")),
}

# `is_private`: the real server answers null from board create / get / update (a quirk) and false in
# lists; the community edition keeps no private flag. The mock answers false everywhere.
_IS_PRIVATE = ("`is_private`: real server null on a single-board answer (a quirk), false in lists; the mock "
               "answers false everywhere, same shape otherwise")
for _seq in (15, 16, 17, 22, 23, 43):
    DELIBERATE[_seq] = Deliberate(_IS_PRIVATE, BY_SEQ[_seq]["response"]["status"],
                                  recorded_shape(Allowances(null_ok={"$.is_private"}), is_private=False))

# Relaxations of the shape rules, per call and path pattern, each with its reason.
ALLOW: dict[int, tuple[Allowances, str]] = {}


# ---------------------------------------------------------------------------------------------------
# The replay: one fresh server, every part-1 call in recorded order, once per module.


class _Summary:
    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter: t.Any) -> None:
        terminalreporter.write_sep("=", "InvokeAI real-server transcript replay (part 1)")
        terminalreporter.write_line(self.text)


def _replay_one(replayer: Replayer, entry: Entry) -> Outcome:
    request = entry["request"]
    outcome = Outcome(entry["seq"], entry["name"], request["method"], request["path"],
                      entry["response"]["status"], None, [], [])
    try:
        kwargs = replayer.build(entry)
        outcome.path = kwargs["url"]
        response = replayer.client.request(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the replay goes on; the call fails with the error
        outcome.problems.append(f"request raised {type(exc).__name__}: {exc}")
        return outcome
    outcome.status = response.status_code
    outcome.body = response.text[:300] if request["method"] != "HEAD" else ""
    replayer.learn(entry, response)  # first: ids the answer introduces compare equal
    deliberate = DELIBERATE.get(entry["seq"])
    if deliberate is not None:
        outcome.deliberate = deliberate.reason
        if response.status_code != deliberate.status:
            outcome.problems.append(f"status {response.status_code}, documented {deliberate.status}")
        try:
            got = response.json()
        except ValueError:
            outcome.problems.append(f"body is not JSON: {response.text[:80]!r}")
        else:
            outcome.problems += deliberate.check(entry, got, replayer.ids)
    else:
        allow = ALLOW.get(entry["seq"], (Allowances(), ""))[0]
        problems, notes = compare(entry, response, replayer.ids, allow)
        outcome.problems += problems
        outcome.notes += notes
    return outcome


@dataclasses.dataclass
class Run:
    outcomes: dict[int, Outcome]
    ids: IdMap


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest) -> Run:
    results: dict[int, Outcome] = {}
    with TestClient(make_server(), base_url="http://mock", raise_server_exceptions=False) as client:
        replayer = Replayer(client, ENTRIES)
        for entry in PART1:
            results[entry["seq"]] = _replay_one(replayer, entry)
    name = "invokeai-replay-part1"
    if not request.config.pluginmanager.has_plugin(name):
        request.config.pluginmanager.register(_Summary(report(list(results.values()), "").lstrip("\n")), name=name)
    return Run(results, replayer.ids)


@pytest.fixture(scope="module")
def outcomes(run: Run) -> dict[int, Outcome]:
    return run.outcomes


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


@pytest.mark.parametrize("seq", [e["seq"] for e in PART1], ids=[f"{e['seq']:03d}-{_slug(e['name'])}" for e in PART1])
def test_call_matches_recording(outcomes: dict[int, Outcome], seq: int) -> None:
    outcome = outcomes[seq]
    if outcome.problems:
        lines = [f"seq {seq} {outcome.name}: {outcome.method} {outcome.path} -> {outcome.status} "
                 f"(recorded {outcome.recorded_status})"]
        if outcome.deliberate:
            lines.append(f"deliberate difference: {outcome.deliberate}")
        lines += [f"  - {problem}" for problem in outcome.problems]
        lines.append(f"mock body: {outcome.body}")
        pytest.fail("\n".join(lines), pytrace=False)


def test_every_recorded_entry_is_replayed_or_skipped_with_a_reason() -> None:
    assert {e["seq"] for e in PART1} | set(SKIPPED) == set(BY_SEQ)
    assert not {e["seq"] for e in PART1} & set(SKIPPED)
    assert all(SKIPPED.values())
    assert set(DELIBERATE) <= {e["seq"] for e in PART1}
    assert set(ALLOW) <= {e["seq"] for e in PART1}
    # the documented split (module docstring)
    queue = {s for s in SKIPPED if s not in PART2_DEPENDENT and (not is_call(BY_SEQ[s]) or
             BY_SEQ[s]["request"]["path"].startswith("/api/v1/queue/"))}
    assert queue == set(range(95, 140)) - {112, 113} | set(range(186, 193)) | {199}
    models = set(SKIPPED) - queue - set(PART2_DEPENDENT) - {200, 201, 202, 204, 205, 206, 207}
    assert models == set(range(140, 153)) | {194, 195}
    assert all(is_call(BY_SEQ[s]) for s in (e["seq"] for e in PART1))


def test_match_rate(outcomes: dict[int, Outcome]) -> None:
    """Prints the table (shown with `-s`, and in the terminal summary) and checks the totals."""
    print(report(list(outcomes.values()), "InvokeAI real-server transcript replay (part 1)"))
    assert len(outcomes) == len(PART1)
    unmatched = [o.seq for o in outcomes.values() if not o.matched]
    assert not unmatched, f"calls that do not match: {unmatched}"


def test_created_ids_got_stand_ins(run: Run) -> None:
    """The harness itself: every id the real server minted for a created object was paired with the
    mock's id for the same object, one to one."""
    created = {15: "board_id", 16: "board_id", 27: "image_name", 28: "image_name", 29: "image_name",
               54: "image_name", 55: "bulk_download_item_name", 70: "workflow_id", 82: "id"}
    recorded = [BY_SEQ[seq]["response"]["json"][key] for seq, key in created.items()]
    missing = [(seq, value) for (seq, _), value in zip(created.items(), recorded) if value not in run.ids]
    assert not missing, f"recorded ids without a stand-in (their create call failed?): {missing}"
    stand_ins = [run.ids.forward[value] for value in recorded]
    assert len(set(stand_ins)) == len(stand_ins)


# ---------------------------------------------------------------------------------------------------
# The harness itself, against a stand-in that answers exactly what the real server did.


def _echo_replay(mutate: t.Callable[[Entry], Entry] | None = None) -> tuple[EchoClient, dict[int, tuple[list[str], list[str]]]]:
    echo = EchoClient()
    replayer = Replayer(echo, ENTRIES)
    found: dict[int, tuple[list[str], list[str]]] = {}
    for entry in PART1:
        echo.entry = mutate(entry) if mutate else entry
        response = replayer.send(entry)
        replayer.learn(entry, response)
        found[entry["seq"]] = compare(entry, response, replayer.ids, ALLOW.get(entry["seq"], (Allowances(), ""))[0])
    return echo, found


def test_harness_matches_a_server_that_answers_as_recorded() -> None:
    echo, found = _echo_replay()
    assert {seq: problems for seq, (problems, _) in found.items() if problems} == {}
    # every request went out with the stand-in's ids in place of the recorded ones
    for seq, sent, expected in echo.sent:
        for key, value in expected.items():
            assert sent.get(key) == value, (seq, key, sent.get(key), value)


def test_harness_flags_shape_differences() -> None:
    def mutate(entry: Entry) -> Entry:
        entry = copy.deepcopy(entry)
        body = entry["response"].get("json")
        if entry["seq"] == 17:  # a missing key
            del body["video_count"]
        elif entry["seq"] == 30:  # a value where the recording has null
            body["session_id"] = "s"
        elif entry["seq"] == 44:  # a list one short
            body.pop()
        elif entry["seq"] == 71:  # null where the recording has a value
            body["name"] = None
        elif entry["seq"] == 158:  # another 422 loc
            body["detail"][0]["loc"] = ["query", "name"]
        elif entry["seq"] == 156:  # another status
            entry["response"] = {**entry["response"], "status": 400}
        elif entry["seq"] == 86:  # a CSV with another header
            entry["response"] = {**entry["response"], "text": "name,prompt\r\n"}
        return entry

    _, found = _echo_replay(mutate)
    failing = {seq for seq, (problems, _) in found.items() if problems}
    assert failing == {17, 30, 44, 71, 158, 156, 86}
