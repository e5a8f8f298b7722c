"""`mockserver serve` refuses bad options with one clear line, before binding a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.cli import main


@pytest.mark.parametrize("args, message", [
    (["--spec", "/nonexistent.yaml"], "/nonexistent.yaml: no such file"),
    (["--api", "nope"], "unknown API pack 'nope'"),
    (["--clock", "yesterday"], "--clock: not a Unix time or ISO 8601 instant"),
])
def test_bad_options_fail_with_a_message(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_spec_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: {title: x}\npaths: {}\n")
    assert main(["serve", "--spec", str(spec)]) == 2
    assert "not a valid OpenAPI 3.0 document: 'version' is a required property" in capsys.readouterr().err


def test_a_state_file_that_is_not_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    state = tmp_path / "state.json"
    state.write_text("not json")
    assert main(["serve", "--api", "openai_usage", "--state-file", str(state)]) == 2
    assert "is not a mockserver state file" in capsys.readouterr().err
