"""Replay the real InvokeAI 6.8.1 recording (part 1 and part 2 operations) against one fresh mock.

`data/real-server-transcript.jsonl` is the recording of a real `invokeai-web` 6.8.1 (CPU, no models,
empty database; see `/work/shared/reference/invokeai/behaviour.md` where it came from). Every
operation call in it is sent in recorded order to one in-process server, part 1 and part 2 together
so that ids and counts line up as they did on the real server; ids are rewritten from the real
server's to the mock's (`replay.py` says how: uuids, image names, and the queue's integer item ids in
paths and bodies, e.g. the retry body `[7]`), and every answer is compared with the recorded one:
status, JSON shape (keys recursively, so a `GET .../i/{id}` that does not leave out its null fields
fails), 422 error `type`/`loc`, media type and a structural check of binary bodies. One test per
call, named by seq and name; the table and the match rates (part 1, part 2, total) are printed in
the terminal summary.

- **Part 1**: `/api/v1/{app, utilities, boards, board_images, board_videos, images, videos,
  workflows, style_presets, client_state}` plus the generic unknown-route 404, wrong-method 405 and
  no-trailing-slash 404.
- **Part 2**: the session queue, seqs 95-139 (status, enqueue, items, pause/resume, retry, cancel,
  prune, clear), 186-192 (queue errors), 199 (a queue 422 with `Accept-Encoding: identity`); models
  and downloads, 140-152 (`/api/v2/models`, `/api/v1/download_queue`,
  `/api/v1/model_relationships`) and 194-195 (model errors); and the part-1 paths whose answer
  depends on the queue (`PART2_DEPENDENT`): 112 (image names) and 113 (image list) of category
  `general` list the image the queue's `blank_image` run saved.
- **Queue observations** (seqs 100, 104-107, 110, 115, 126-127: `{item_id, transitions: [{t_ms,
  status}], final_status}`, the recorder polling one item): the queue runs at `realtime` speed (set
  through the control plane) on the frozen engine clock, and `replay.check_observation()` moves the
  clock forward through `POST /__mock__/clock/advance` to reproduce each one: the item must show
  every status the recording saw, in order, each change within the recorder's poll window widened
  by the real server's own jitter (`replay.POLL_MS`, `replay.JITTER_MS`; polling only at the exact
  recorded offsets cannot work for any fixed timing, `replay.py` says why), and end in the recorded
  final status. The table notes when each status began on the mock and when the recording first saw
  it. Between calls the clock does not move, except where the recording shows time passed
  (`WAITS`).
- **Not replayed** (`SKIPPED`): 200 (CORS preflight from a foreign origin), 201 (GET with an `Origin`
  header: CORS), 202 (root `/?__theme=dark` redirect), 204 (`/openapi.json`), 205 (`/docs`), 206
  (`/redoc`), 207 (frontend index `/`): not operations. The recording has no socket.io calls (those
  are in `real-server-socketio-events.jsonl`).

`DELIBERATE` lists the calls where the mock answers differently on purpose, with the answer it
documents instead; `ALLOW` the per-call relaxations of the shape rules, each with its reason. In the
table, `!` marks a problem (the call fails) and `~` a value difference found after mapping ids and
leaving out times, reported only (e.g. the default style presets' prompt wording, which the fixtures
write in their own words). The last tests check the harness itself: against a stand-in that answers
exactly what the real server did (with other uuids and other item ids), and the observation check
against made-up timelines.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import typing as t

import pytest
from invokeai_support import make_server
from replay import (
    JITTER_MS,
    NO_ALLOWANCES,
    POLL_MS,
    Allowances,
    EchoClient,
    Entry,
    IdMap,
    Outcome,
    Replayer,
    check_observation,
    classify,
    compare,
    is_call,
    load_transcript,
    report,
    shape_problems,
)
from starlette.testclient import TestClient

ENTRIES = load_transcript()
BY_SEQ = {entry["seq"]: entry for entry in ENTRIES}

PART2_DEPENDENT = {
    112: "image names of category general list the image the queue's blank_image run saved (seq 109)",
    113: "image DTOs of category general list the image the queue's blank_image run saved (seq 109)",
}


def _select() -> tuple[list[Entry], dict[int, str], dict[int, str]]:
    """(the entries replayed, in recorded order; seq -> "part1" | "part2"; seq -> why skipped)."""
    replayed: list[Entry] = []
    parts: dict[int, str] = {}
    skipped: dict[int, str] = {}
    for entry in ENTRIES:
        part, why = classify(entry)
        if entry["seq"] in PART2_DEPENDENT:
            part, why = "part2", f"part-2-dependent: {PART2_DEPENDENT[entry['seq']]}"
        if part == "skip":
            skipped[entry["seq"]] = why
        else:
            replayed.append(entry)
            parts[entry["seq"]] = part
    return replayed, parts, skipped


REPLAYED, PARTS, SKIPPED = _select()
PART1 = [e for e in REPLAYED if PARTS[e["seq"]] == "part1"]
PART2 = [e for e in REPLAYED if PARTS[e["seq"]] == "part2"]
CALLS = [e for e in REPLAYED if is_call(e)]
OBSERVATIONS = [e for e in REPLAYED if not is_call(e)]


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


def recorded_shape(allow: Allowances = NO_ALLOWANCES, **values: t.Any) -> Check:
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

# Relaxations of the shape rules, per call and path pattern, each with its reason.
ALLOW: dict[int, tuple[Allowances, str]] = {}

# Engine-clock seconds to let pass before sending a call, where the recording shows real time passed
# between two calls without an observation to reproduce it.
WAITS: dict[int, tuple[float, str]] = {
    131: (1.431, "item 11, made by the retry at seq 130, was no longer pending at seq 132 "
                 "(cancel_all_except_current canceled 0) and had finished by seq 135 (prune deleted 10): "
                 "the socket.io recording has it created at 26.898 and failed at 28.329, 1.431 s later, "
                 "before the queue was cleared (seq 138)"),
}


# ---------------------------------------------------------------------------------------------------
# The replay: one fresh server, every part-1 call in recorded order, once per module.


class _Summary:
    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter: t.Any) -> None:
        terminalreporter.write_sep("=", "InvokeAI real-server transcript replay (part 1 and part 2)")
        terminalreporter.write_line(self.text)


def _observe(client: t.Any, replayer: Replayer, entry: Entry) -> Outcome:
    """Reproduce one recorded queue-item observation on the frozen clock (`check_observation`)."""
    observation = entry["observation"]
    item_id = replayer.ids.value(observation["item_id"], "item_id")
    path = f"/api/v1/queue/default/i/{item_id}"
    outcome = Outcome(entry["seq"], entry["name"], "GET", path, None, None, [], [], part=PARTS[entry["seq"]])
    moved = [0.0]  # ms the clock has moved since the observation began

    def poll(ms: float) -> str:
        if ms > moved[0]:
            client.post("/__mock__/clock/advance", json={"seconds": (ms - moved[0]) / 1000}).raise_for_status()
            moved[0] = ms
        response = client.get(path)
        if response.status_code != 200:
            raise AssertionError(f"GET {path} at {ms:.1f} ms: {response.status_code} {response.text[:200]}")
        return response.json()["status"]

    try:
        problems, notes, seen = check_observation(observation, poll)
    except AssertionError as exc:
        outcome.problems.append(str(exc))
        return outcome
    outcome.problems += problems
    outcome.notes += notes
    outcome.body = "mock statuses: " + ", ".join(f"{status} from {ms} ms" for ms, status in seen)
    recorded = ", ".join(f"{row['status']} at {row['t_ms']} ms" for row in observation["transitions"])
    outcome.body += f"; recorded: {recorded}"
    return outcome


def _replay_one(replayer: Replayer, entry: Entry) -> Outcome:
    request = entry["request"]
    outcome = Outcome(entry["seq"], entry["name"], request["method"], request["path"],
                      entry["response"]["status"], None, [], [], part=PARTS[entry["seq"]])
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
        client.put("/__mock__/packs/invokeai/settings", json={"queue_speed": "realtime"}).raise_for_status()
        replayer = Replayer(client, ENTRIES)
        for entry in REPLAYED:
            if not is_call(entry):
                results[entry["seq"]] = _observe(client, replayer, entry)
                continue
            if entry["seq"] in WAITS:
                client.post("/__mock__/clock/advance", json={"seconds": WAITS[entry["seq"]][0]}).raise_for_status()
            results[entry["seq"]] = _replay_one(replayer, entry)
    name = "invokeai-replay"
    if not request.config.pluginmanager.has_plugin(name):
        request.config.pluginmanager.register(_Summary(report(list(results.values()), "").lstrip("\n")), name=name)
    return Run(results, replayer.ids)


@pytest.fixture(scope="module")
def outcomes(run: Run) -> dict[int, Outcome]:
    return run.outcomes


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


@pytest.mark.parametrize("seq", [e["seq"] for e in REPLAYED],
                         ids=[f"{e['seq']:03d}-{_slug(e['name'])}" for e in REPLAYED])
def test_call_matches_recording(outcomes: dict[int, Outcome], seq: int) -> None:
    outcome = outcomes[seq]
    if outcome.problems:
        if outcome.recorded_status is None:
            lines = [f"seq {seq} {outcome.name}: polling {outcome.path} on the frozen clock"]
        else:
            lines = [f"seq {seq} {outcome.name}: {outcome.method} {outcome.path} -> {outcome.status} "
                     f"(recorded {outcome.recorded_status})"]
        if outcome.deliberate:
            lines.append(f"deliberate difference: {outcome.deliberate}")
        lines += [f"  - {problem}" for problem in outcome.problems]
        lines.append(f"mock body: {outcome.body}")
        pytest.fail("\n".join(lines), pytrace=False)


def test_every_recorded_entry_is_replayed_or_skipped_with_a_reason() -> None:
    replayed = [e["seq"] for e in REPLAYED]
    assert replayed == sorted(replayed), "one replay, in recorded order"
    assert set(replayed) | set(SKIPPED) == set(BY_SEQ)
    assert not set(replayed) & set(SKIPPED)
    assert all(SKIPPED.values())
    assert set(SKIPPED) == {200, 201, 202, 204, 205, 206, 207}
    assert set(DELIBERATE) <= set(replayed)
    assert set(ALLOW) <= set(replayed)
    assert set(WAITS) <= {e["seq"] for e in CALLS}
    # the documented split (module docstring)
    part2 = {e["seq"] for e in PART2}
    queue = {s for s in part2 if s not in PART2_DEPENDENT and (not is_call(BY_SEQ[s]) or
             BY_SEQ[s]["request"]["path"].startswith("/api/v1/queue/"))}
    assert queue == set(range(95, 140)) - {112, 113} | set(range(186, 193)) | {199}
    assert {e["seq"] for e in OBSERVATIONS} == {100, 104, 105, 106, 107, 110, 115, 126, 127}
    models = part2 - queue - set(PART2_DEPENDENT)
    assert models == set(range(140, 153)) | {194, 195}
    assert all(is_call(e) for e in PART1)
    assert len(PART1) == 132 and len(PART2) == 68


def test_match_rate(outcomes: dict[int, Outcome]) -> None:
    """Prints the table (shown with `-s`, and in the terminal summary) and checks the totals."""
    print(report(list(outcomes.values()), "InvokeAI real-server transcript replay (part 1 and part 2)"))
    assert len(outcomes) == len(REPLAYED)
    unmatched = [o.seq for o in outcomes.values() if not o.matched]
    assert not unmatched, f"entries that do not match: {unmatched}"


def test_created_ids_got_stand_ins(run: Run) -> None:
    """The harness itself: every id the real server minted for a created object was paired with the
    mock's id for the same object, one to one."""
    created: dict[int, tuple[str, ...]] = {
        15: ("board_id",), 16: ("board_id",), 27: ("image_name",), 28: ("image_name",), 29: ("image_name",),
        54: ("image_name",), 55: ("bulk_download_item_name",), 70: ("workflow_id",), 82: ("id",),
        # part 2: batches, their sessions, and the image the blank_image node saved
        99: ("batch", "batch_id"), 103: ("batch", "batch_id"), 109: ("batch", "batch_id"),
        114: ("batch", "batch_id"), 118: ("batch", "batch_id"), 101: ("session_id",), 108: ("session_id",),
        111: ("session_id",), 116: ("session_id",), 120: ("session_id",),
        112: ("image_names", 0),
    }

    def at(value: t.Any, path: tuple[str | int, ...]) -> t.Any:
        for step in path:
            value = value[step]
        return value

    recorded = [at(BY_SEQ[seq]["response"]["json"], path) for seq, path in created.items()]
    missing = [(seq, value) for seq, value in zip(created, recorded, strict=True) if value not in run.ids]
    assert not missing, f"recorded ids without a stand-in (their create call failed?): {missing}"
    stand_ins = [run.ids.forward[value] for value in recorded]
    assert len(set(stand_ins)) == len(stand_ins)
    # queue item ids: every one the real server minted (1-10 by enqueue) has a stand-in
    item_ids = [i for seq in (99, 103, 109, 114, 118) for i in BY_SEQ[seq]["response"]["json"]["item_ids"]]
    assert sorted(item_ids) == list(range(1, 11))
    assert all(isinstance(run.ids.forward.get(i), int) for i in item_ids), [i for i in item_ids if i not in run.ids]


# ---------------------------------------------------------------------------------------------------
# The harness itself, against a stand-in that answers exactly what the real server did.


def _echo_replay(mutate: t.Callable[[Entry], Entry] | None = None) -> tuple[EchoClient, dict[int, tuple[list[str], list[str]]]]:
    echo = EchoClient(int_shift=1000)
    replayer = Replayer(echo, ENTRIES)
    found: dict[int, tuple[list[str], list[str]]] = {}
    for entry in CALLS:
        echo.entry = mutate(entry) if mutate else entry
        response = replayer.send(entry)
        replayer.learn(entry, response)
        found[entry["seq"]] = compare(entry, response, replayer.ids, ALLOW.get(entry["seq"], (Allowances(), ""))[0])
    return echo, found


def test_harness_matches_a_server_that_answers_as_recorded() -> None:
    echo, found = _echo_replay()
    assert {seq: problems for seq, (problems, _) in found.items() if problems} == {}
    # no value differences either: every id was mapped (56: the stand-in's zip holds a made-up entry)
    assert {seq: notes for seq, (_, notes) in found.items() if notes and seq != 56} == {}
    # every request went out with the stand-in's ids in place of the recorded ones
    for seq, sent, expected in echo.sent:
        for key, value in expected.items():
            assert sent.get(key) == value, (seq, key, sent.get(key), value)
    sent = {seq: kwargs for seq, kwargs, _ in echo.sent}
    # integer ids in paths and bodies went out renumbered; other numbers as recorded
    assert sent[101]["url"] == "/api/v1/queue/default/i/1001"
    assert sent[121]["url"] == "/api/v1/queue/default/i/1010/cancel"
    assert sent[123]["json"] == {"item_ids": [1010, 1009, 1008]}
    assert sent[130]["json"] == [1007]
    assert sent[186]["url"] == "/api/v1/queue/default/i/999999"
    assert sent[118]["json"]["batch"]["runs"] == 3
    assert sent[147]["url"] == "/api/v2/models/install/12345"


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
        elif entry["seq"] == 101:  # GET .../i/{id} with its null fields left in
            body.update(error_type=None, error_message=None, retried_from_item_id=None)
        elif entry["seq"] == 121:  # a cancel answer with its null fields left out
            del body["started_at"], body["credits"]
        elif entry["seq"] == 123:  # items_by_ids one item short
            body.pop()
        elif entry["seq"] == 108:  # a session's prepared node missing from its results
            del body["session"]["results"][next(iter(body["session"]["results"]))]
        elif entry["seq"] == 189:  # another 422 type
            body["detail"][0]["type"] = "value_error"
        return entry

    _, found = _echo_replay(mutate)
    failing = {seq for seq, (problems, _) in found.items() if problems}
    assert failing == {17, 30, 44, 71, 158, 156, 86, 101, 121, 123, 108, 189}
    assert any("extra keys ['error_type', 'error_message', 'retried_from_item_id']" in p for p in found[101][0])


# ---------------------------------------------------------------------------------------------------
# The observation check itself, against made-up timelines.


def _timeline(*changes: tuple[float, str]) -> t.Callable[[float], str]:
    """A stand-in item: `changes` are (ms, status) it takes on; polls must not go back in time."""
    polled: list[float] = []

    def poll(ms: float) -> str:
        assert not polled or ms >= polled[-1], "the check moved the clock back"
        polled.append(ms)
        return [status for start, status in changes if start <= ms][-1]

    return poll


ITEM_1 = BY_SEQ[100]["observation"]  # pending 7.1, in_progress 485.0, completed 508.7


@pytest.mark.parametrize("changes, verdict", [
    (((0, "pending"), (450, "in_progress"), (455, "completed")), "ok"),  # the mock's own timing
    (((0, "pending"), (480, "in_progress"), (500, "completed")), "ok"),  # the recording's
    (((0, "pending"), (450, "completed")), "skips in_progress"),
    (((0, "pending"), (450, "in_progress"), (455, "failed")), "other end"),
    (((0, "pending"), (300, "in_progress"), (305, "completed")), "too early"),
    (((0, "pending"), (600, "in_progress"), (605, "completed")), "too late"),
    (((0, "pending"), (450, "in_progress")), "never finishes"),
    (((0, "completed"),), "already done"),
], ids=["mock-timing", "recorded-timing", "skips-in-progress", "fails", "too-early", "too-late",
        "never-finishes", "already-done"])
def test_observation_check(changes: tuple[tuple[float, str], ...], verdict: str) -> None:
    problems, notes, seen = check_observation(ITEM_1, _timeline(*changes))
    if verdict == "ok":
        assert problems == []
        assert [status for _, status in seen] == ["pending", "in_progress", "completed"]
        assert any("in_progress from" in note for note in notes)
    else:
        assert problems, f"{verdict}: not flagged ({seen})"


def test_observation_check_first_sighting_and_terminal_items() -> None:
    # item 6: the recorder's first poll (441 ms) already saw in_progress; a mock picking up at 450 ms
    # shows pending there first, which the recording could not have seen
    problems, notes, _ = check_observation(BY_SEQ[110]["observation"],
                                           _timeline((0, "pending"), (450, "in_progress"), (455, "completed")))
    assert problems == [] and any("before the first recorded poll" in note for note in notes)
    # items observed after they finished (105-107): one poll
    problems, _, seen = check_observation(BY_SEQ[105]["observation"], _timeline((0, "completed"),))
    assert problems == [] and seen == [(4.2, "completed")]
    # the tolerances are what the recording shows
    gaps = [b["t_ms"] - a["t_ms"] for e in OBSERVATIONS for a, b in itertools.pairwise(e["observation"]["transitions"])]
    assert min(gaps) > 20 and max(g for g in gaps if g < 100) <= POLL_MS
    assert JITTER_MS >= 484.0 - 441.0
