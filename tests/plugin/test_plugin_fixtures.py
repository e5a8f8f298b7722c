"""The pytest plugin as a user meets it: a user's test file, run by pytester, using `mock` with the
official OpenAI SDK, in-process and live.

pytester runs the user's session in this process (`runpytest_inprocess`). Plugin auto-loading is
off there and the plugin is named with `-p`, so these tests do not depend on how the package was
installed; `test_entry_point_*` checks the installed entry point separately.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys

# pytester drops the modules an in-process run imported when the run ends. Imported here first,
# they stay, so each run doesn't import the server again, and nothing ends up with two copies of
# a module: httpx maps httpcore's exceptions by class, so a re-imported httpcore would make a
# refused connection escape as a raw httpcore.ConnectError in a later test. numpy's C core cannot be
# loaded twice in one process at all, and the server imports it lazily (deep JSON, images).
import httpcore  # noqa: F401,E402
import httpx  # noqa: F401,E402
import numpy  # noqa: F401,E402
import openai  # noqa: F401,E402
import pytest

import mockserver.app  # noqa: F401,E402
import mockserver.testing  # noqa: F401,E402

pytest_plugins = ["pytester"]  # here, not in a conftest: only the top-level conftest may name plugins

# The rewrite warning: in-process, this test session has imported the plugin module already.
PLUGIN_ARGS = ("--disable-plugin-autoload", "-p", "mockserver.pytest_plugin", "-p", "no:cacheprovider",
               "-W", "ignore::pytest.PytestAssertRewriteWarning")

INI = """
[pytest]
mockserver_apis = openai_usage
mockserver_seed = 3
mockserver_clock = 2025-06-15T12:00:00Z
"""

# What a user writes: their code (two small functions using the SDK) and tests of it.
USER_TESTS = '''
import os
from pathlib import Path

import openai
import pytest
from openai import OpenAI

NOW = 1749988800  # 2025-06-15T12:00:00Z, where the ini freezes the mock's clock
DAY = 86400


# -- the code under test --------------------------------------------------------------------------

def cost_by_line_item(client, days=7):
    page = client.admin.organization.usage.costs(start_time=NOW - days * DAY, group_by=["line_item"],
                                                 limit=days)
    totals = {}
    for bucket in page.data:
        for result in bucket.results:
            totals[result.line_item] = totals.get(result.line_item, 0) + result.amount.value
    return totals


def input_tokens(client, days=2):
    page = client.admin.organization.usage.completions(start_time=NOW - days * DAY, bucket_width="1d")
    return sum(result.input_tokens for bucket in page.data for result in bucket.results)


# -- the tests ---------------------------------------------------------------------------------

@pytest.fixture
def client(mock):
    return OpenAI(admin_api_key="sk-admin-mockserver", api_key="unused", base_url=f"{mock.base_url}/v1",
                  http_client=mock.client(), max_retries=0)


def test_sends_group_by_line_item(client, mock):
    assert cost_by_line_item(client)
    [sent] = mock.requests(path="/v1/organization/costs")
    assert sent.query["group_by[]"] == ["line_item"]
    assert sent.query["start_time"] == [str(NOW - 7 * DAY)]
    assert sent.sent_credential("Authorization", "Bearer sk-admin-mockserver")
    assert "sk-admin-mockserver" not in sent.headers["authorization"]  # the journal keeps no secrets
    assert sent.status == 200 and sent.operation_id == "usage-costs"


def test_adds_usage(client, mock):
    mock.control("DELETE", "packs/openai_usage/events")
    mock.control("POST", "packs/openai_usage/events", json={"events": [
        {"kind": "completions", "time": NOW - 3600, "project_id": "proj_default",
         "model": "gpt-4o-mini-2024-07-18", "input_tokens": 4242, "num_model_requests": 1}]})
    assert input_tokens(client) == 4242


def test_does_not_see_the_previous_tests_usage(client, mock):
    assert mock.requests() == []  # the journal starts empty too
    assert input_tokens(client) not in (0, 4242)  # the seeded history is back


def test_fault_inside_the_block_only(client, mock):
    with mock.fault("usage-costs", status=503):
        with pytest.raises(openai.InternalServerError) as failed:
            cost_by_line_item(client)
        assert failed.value.status_code == 503
    assert cost_by_line_item(client)
    assert [r.status for r in mock.requests(path="/v1/organization/costs")] == [503, 200]


def test_leaves_a_fault_and_a_clock_behind(client, mock):
    mock.fault("usage-costs", status=500)  # never removed
    mock.set_clock(NOW - 10 * DAY)  # "now" 10 days earlier: the query starts in the future
    with pytest.raises(openai.BadRequestError, match="in the future"):
        input_tokens(client)


def test_starts_clean_after_that(client, mock):
    assert mock.faults() == []
    assert mock.clock()["now"] == NOW
    assert cost_by_line_item(client) and input_tokens(client) > 0


def test_one_server_for_the_session(mock, mockserver):
    assert mock is mockserver
    Path("server.txt").write_text(f"{mock.pid} {mock.base_url} {os.getpid()}")
'''
USER_TEST_COUNT = 7


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_user_code=USER_TESTS)
    return pytester


def test_user_tests_in_process(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_inprocess("-W", "error", *PLUGIN_ARGS)
    result.assert_outcomes(passed=USER_TEST_COUNT)
    pid, base_url, _ = (user_project.path / "server.txt").read_text().split()
    assert pid == "None" and base_url == "http://mockserver.invalid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie counts as gone
        return stat.read().split(")")[-1].split()[0] != "Z"


def _nothing_listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.live
def test_user_tests_live(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_inprocess("-W", "error", *PLUGIN_ARGS, "--mockserver-live")
    result.assert_outcomes(passed=USER_TEST_COUNT)
    pid, base_url, test_process = (user_project.path / "server.txt").read_text().split()
    assert int(pid) != int(test_process) and base_url.startswith("http://127.0.0.1:")
    # The session ended: the server process is gone and its port is free.
    assert not _alive(int(pid))
    assert _nothing_listens(int(base_url.rsplit(":", 1)[1]))


def test_command_line_options_win_over_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "mockserver_validate_responses = false\n")
    pytester.makepyfile(test_config="""
        from mockserver.testing import MockServerConfig

        def test_config(mockserver_config, mock):
            assert mockserver_config == MockServerConfig(
                apis=("chutes",), live=False, seed=9, clock="2025-06-15T12:00:00Z", validate_responses=False)
            health = mock.health()
            assert [p["name"] for p in health["packs"]] == ["chutes"]
            assert health["seed"] == 9 and health["clock"]["iso"] == "2025-06-15T12:00:00Z"
    """)
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--mockserver-apis", "chutes", "--mockserver-seed", "9")
    result.assert_outcomes(passed=1)


def test_config_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import dataclasses
        import pytest

        @pytest.fixture(scope="session")
        def mockserver_config(mockserver_config):  # the options' config, adjusted in code
            return dataclasses.replace(mockserver_config, apis=("openai_usage", "chutes"), seed=7)
    """)
    pytester.makepyfile(test_override="""
        def test_both_packs(mock):
            assert sorted(p["name"] for p in mock.health()["packs"]) == ["chutes", "openai_usage"]
            assert mock.health()["seed"] == 7 and not mock.clock()["frozen"]
    """)
    pytester.runpytest_inprocess(*PLUGIN_ARGS).assert_outcomes(passed=1)


def test_a_bad_pack_name_stops_the_run_once_as_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="""
        def test_uses_it(mock):
            pass

        def test_uses_it_too(mock):
            pass
    """)
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "--mockserver-apis", "openai_usage,nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mockserver: unknown API pack 'nope' in --mockserver-apis / mockserver_apis; "
                                 "available: openai_usage, chutes, invokeai*"])
    assert "KeyError" not in result.stdout.str() + result.stderr.str()
    assert result.stderr.str().count("unknown API pack") == 1


def test_a_bad_pack_name_in_the_ini_file_is_a_usage_error_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmockserver_apis = chutes\n    invokai\n")
    pytester.makepyfile(test_bad="def test_uses_it(mock):\n    pass\n")
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown API pack 'invokai'*"])


def test_a_bad_pack_name_in_code_names_the_packs() -> None:
    from mockserver.testing import MockServerConfig

    with pytest.raises(ValueError, match="unknown API pack 'nope'; available: openai_usage, chutes, invokeai"):
        MockServerConfig(apis=("openai_usage", "nope"))


def test_options_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--help")
    result.stdout.fnmatch_lines(["*--mockserver-apis=NAMES*", "*--mockserver-live*", "*--mockserver-seed=N*",
                                 "*--mockserver-clock=INSTANT*", "*mockserver_validate_responses*"])


def test_importing_the_plugin_is_cheap() -> None:
    """pytest imports every installed plugin at start-up, in every project: the server, the packs
    and httpx wait until a test asks for a fixture."""
    heavy = ("httpx", "mockserver.app", "mockserver.testing", "connexion")
    code = f"import sys, mockserver.pytest_plugin; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _entry_point() -> importlib.metadata.EntryPoint | None:
    found = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.value == "mockserver.pytest_plugin"]
    return found[0] if found else None


def test_entry_point_is_installed() -> None:
    entry_point = _entry_point()
    if entry_point is None:
        pytest.skip("the installed mockserver predates its pytest11 entry point; reinstall (pip install -e .)")
    assert entry_point.name == "mockserver"


def test_entry_point_loads_the_plugin_without_p(pytester: pytest.Pytester) -> None:
    if _entry_point() is None:
        pytest.skip("the pytest11 entry point is not installed")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--fixtures")
    # Each on its own: pytest sorts the listing by location as text, so ':97' comes after ':123'.
    result.stdout.fnmatch_lines(["*mockserver_config*"])
    result.stdout.fnmatch_lines(["mock -- *mockserver/pytest_plugin.py*"])
    # With auto-loading off, the entry point's name loads it.
    result = pytester.runpytest_inprocess("--disable-plugin-autoload", "-p", "mockserver", "--fixtures")
    result.stdout.fnmatch_lines(["*mockserver_config*"])
