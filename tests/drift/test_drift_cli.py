"""`mockserver drift`: exit status, output, the default allow-list, `--json`, bad input."""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mockserver.cli import main

DATA = Path(__file__).resolve().parent / "data"
OURS = DATA / "synthetic-3.0.yaml"
SAME = DATA / "synthetic-3.1.json"


@pytest.fixture
def drifted(tmp_path: Path) -> Path:
    """The 3.1 upstream with `limit` bounded at 50 (ours: 100) and no `/stats`."""
    document = json.loads(SAME.read_text())
    document["paths"]["/things"]["get"]["parameters"][0]["schema"]["maximum"] = 50
    del document["paths"]["/stats"]
    path = tmp_path / "upstream.json"
    path.write_text(json.dumps(document))
    return path


def drift(*args: str | Path) -> int:
    return main(["drift", *map(str, args)])


def test_no_difference_exits_0(capsys: pytest.CaptureFixture) -> None:
    assert drift("--spec", OURS, "--upstream", SAME) == 0
    out = capsys.readouterr().out
    assert "No unexplained differences." in out
    assert out.rstrip().endswith("drift: 0 unexplained, 0 allowed, 0 stale allow-list entries; "
                                 "operations: 5 ours, 5 upstream, 5 matched")


def test_unexplained_drift_exits_1_with_a_table(drifted: Path, capsys: pytest.CaptureFixture) -> None:
    assert drift("--spec", OURS, "--upstream", drifted) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "Unexplained differences (2):" in lines
    header = lines.index("Unexplained differences (2):") + 1
    assert lines[header].split() == ["operation", "aspect", "where", "ours", "upstream"]
    assert lines[header + 2].split() == ["GET", "/things", "parameter", "parameter", "query.limit:", "maximum",
                                         "100", "50"]
    assert lines[header + 3].split() == ["GET", "/stats", "operation", "operation", "get-stats", "absent"]
    assert lines[-1] == ("drift: 2 unexplained, 0 allowed, 0 stale allow-list entries; "
                         "operations: 5 ours, 4 upstream, 4 matched")


def _allow(path: Path, *entries: str) -> Path:
    path.write_text("".join(f"- {e}\n" for e in entries))
    return path


def test_explained_drift_exits_0_and_shows_reasons_and_stale_entries(
        tmp_path: Path, drifted: Path, capsys: pytest.CaptureFixture) -> None:
    allow = _allow(tmp_path / "allow.yaml",
                   '{operation: list-things, where: "parameter query.limit: maximum", reason: tighter upstream}',
                   '{operation: "GET /stats", where: operation, reason: not served upstream}',
                   '{operation: "*", where: "response 5*", reason: nothing matches this}')
    assert drift("--spec", OURS, "--upstream", drifted, "--allow", allow) == 0
    out = capsys.readouterr().out
    assert "No unexplained differences." in out
    assert "[allowed, entry 1: tighter upstream]" in out
    assert "[allowed, entry 2: not served upstream]" in out
    assert "warning: 1 stale allow-list entries" in out
    assert "entry 3: operation '*', where 'response 5*': nothing matches this" in out
    assert out.rstrip().endswith("drift: 0 unexplained, 2 allowed, 1 stale allow-list entries; "
                                 "operations: 5 ours, 4 upstream, 4 matched")


def test_partly_explained_drift_still_exits_1(tmp_path: Path, drifted: Path) -> None:
    allow = _allow(tmp_path / "allow.yaml", '{operation: "*", where: operation, reason: fine}')
    assert drift("--spec", OURS, "--upstream", drifted, "--allow", allow) == 1


def test_the_allow_list_beside_the_spec_is_picked_up(tmp_path: Path, drifted: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "things.yaml"
    shutil.copy(OURS, spec)
    assert drift("--spec", spec, "--upstream", drifted) == 1
    _allow(tmp_path / "things.drift-allow.yaml", '{operation: "*", where: "*", reason: all known}')
    assert drift("--spec", spec, "--upstream", drifted) == 0
    assert f"allow-list: {tmp_path / 'things.drift-allow.yaml'} (1 entries)" in capsys.readouterr().out


def test_an_entry_without_reason_is_an_error(tmp_path: Path, drifted: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    allow = _allow(tmp_path / "allow.yaml", '{operation: "*", where: "*"}')
    assert drift("--spec", OURS, "--upstream", drifted, "--allow", allow) == 2
    assert f"mockserver: {allow}: entry 1: no reason given" in capsys.readouterr().err


def test_json_output(tmp_path: Path, drifted: Path) -> None:
    allow = _allow(tmp_path / "allow.yaml", '{operation: "GET /stats", where: "*", reason: not upstream}',
                   '{operation: nope, where: "*", reason: stale}')
    result = tmp_path / "out" / "drift.json"
    result.parent.mkdir()
    assert drift("--spec", OURS, "--upstream", drifted, "--allow", allow, "--json", result) == 1
    data = json.loads(result.read_text())
    assert data["summary"] == {"unexplained": 1, "allowed": 1, "stale": 1,
                               "operations": {"ours": 5, "upstream": 4, "matched": 4}}
    assert data["unexplained"] == [{
        "operation": "GET /things", "operation_id": "list-things", "aspect": "parameter",
        "where": "parameter query.limit: maximum", "ours": "100", "upstream": "50"}]
    assert data["allowed"] == [{
        "operation": "GET /stats", "operation_id": "get-stats", "aspect": "operation", "where": "operation",
        "ours": "get-stats", "upstream": "absent", "allowed": True, "reason": "not upstream", "allow_entry": 1}]
    assert data["stale"] == [{"entry": 2, "operation": "nope", "where": "*", "reason": "stale"}]
    assert (data["ours"], data["upstream"], data["allow_list"]) == (str(OURS), str(drifted), str(allow))


def test_the_upstream_may_be_a_url() -> None:
    handler = partial(SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{SAME.name}"
        assert drift("--spec", OURS, "--upstream", url) == 0
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("args, message", [
    (["--upstream", str(SAME)], "give --api NAME or --spec FILE"),
    (["--api", "nope", "--upstream", str(SAME)], "no spec for API 'nope'"),
    (["--spec", str(OURS), "--upstream", "/nonexistent.json"], "/nonexistent.json: cannot read"),
    (["--spec", str(OURS), "--upstream", str(DATA / "not-openapi.yaml")], "not an OpenAPI 3.x document"),
    (["--spec", str(OURS), "--upstream", str(SAME), "--allow", "/nonexistent.yaml"], "cannot read the allow-list"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert drift(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
