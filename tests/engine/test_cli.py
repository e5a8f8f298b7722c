"""`mockserver serve` refuses bad options with one clear line, before binding a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.cli import main


@pytest.mark.parametrize("args, message", [
    (["--spec", "/nonexistent.yaml"], "/nonexistent.yaml: no such file"),
    (["--api", "nope"], "unknown API pack 'nope'"),
    (["--clock", "yesterday"], "--clock: not a Unix time or ISO 8601 instant"),
    (["--control-allow-host", "a/b"], "--control-allow-host: not a host name or host:port: 'a/b'"),
    (["--control-allow-origin", "dash.example"], "--control-allow-origin: not an origin"),
    (["--control-token", ""], "--control-token: the token is empty"),
])
def test_bad_options_fail_with_a_message(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_spec_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: {title: x}\npaths: {}\n")
    assert main(["serve", "--spec", str(spec)]) == 2
    assert "not a valid OpenAPI 3.0/3.1 document: 'version' is a required property" in capsys.readouterr().err


def test_a_state_file_that_is_not_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    state = tmp_path / "state.json"
    state.write_text("not json")
    assert main(["serve", "--api", "openai_usage", "--state-file", str(state)]) == 2
    assert "is not a mockserver state file" in capsys.readouterr().err


def test_control_plane_options_and_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.cli import _control_access, _parser

    def access(*args: str):
        return _control_access(_parser().parse_args(["serve", *args]))

    monkeypatch.delenv("MOCKSERVER_CONTROL_TOKEN", raising=False)
    plain = access()
    assert (plain.hosts, plain.origins, plain.token) == ((), (), None)
    # A name the server is bound to is one of its own addresses; wildcards and loopback add nothing.
    assert access("--host", "devbox.lan", "--port", "9000").hosts == ("devbox.lan:9000",)
    assert access("--host", "0.0.0.0").hosts == () and access("--host", "::").hosts == ()
    assert access("--host", "fd00::5", "--port", "9000").hosts == ("[fd00::5]:9000",)
    both = access("--control-allow-host", "team.example", "--control-allow-host", "ci:81",
                  "--control-allow-origin", "https://dash.example")
    assert both.hosts == ("team.example", "ci:81") and both.origins == ("https://dash.example",)
    monkeypatch.setenv("MOCKSERVER_CONTROL_TOKEN", "from-env")
    assert access().token == "from-env"
    assert access("--control-token", "from-flag").token == "from-flag"
    monkeypatch.setenv("MOCKSERVER_CONTROL_TOKEN", "")
    assert access().token is None
