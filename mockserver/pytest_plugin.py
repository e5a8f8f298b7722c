"""pytest plugin: a mock server for the test session, reset before every test that asks for it.

Fixtures:
- `mock`: the session's server (a `mockserver.testing.MockServerHandle`), reset to its fixtures,
  with the journal and faults cleared and the clock back at its start, before the test runs;
- `mockserver`: the same server without the reset (session scope, for session/module fixtures);
- `mockserver_config`: how the server is started (a `MockServerConfig`), from the options below;
  override it in a conftest.py to configure the server in code.

Options (command line, or the ini key in brackets): `--mockserver-apis openai_usage,chutes`
[`mockserver_apis`] (default: `openai_usage` only; an unknown name stops the run as a usage error), `--mockserver-live` [`mockserver_live`], `--mockserver-seed N`
[`mockserver_seed`], `--mockserver-clock INSTANT` [`mockserver_clock`],
[`mockserver_validate_responses`] (default true).

Registered through the `pytest11` entry point; importing this module is cheap (the server, httpx
and the packs are imported when a test first asks for a fixture).
"""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:
    from mockserver.testing import MockServerConfig, MockServerHandle

DEFAULT_APIS = "openai_usage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "mockserver: mock APIs for the `mock` / `mockserver` fixtures")
    group.addoption("--mockserver-apis", metavar="NAMES", default=None,
                    help=f"comma-separated API packs to serve, of openai_usage, chutes, invokeai "
                         f"(default: ini mockserver_apis, else {DEFAULT_APIS} only)")
    group.addoption("--mockserver-live", action="store_true", default=None,
                    help="run `mockserver serve` as a process on a free 127.0.0.1 port instead of in-process")
    group.addoption("--mockserver-seed", type=int, metavar="N", default=None,
                    help="seed for ids and generated data (default: ini mockserver_seed, else 0)")
    group.addoption("--mockserver-clock", metavar="INSTANT", default=None,
                    help="freeze the mock's clock at this Unix time or ISO 8601 instant (default: real time)")
    # The ignores below: mypy 1.19 reads the string Literal of addini's `type` as a TypeForm.
    parser.addini("mockserver_apis", "API packs the mock serves (comma or line separated)",
                  type="args",  # type: ignore[maybe-unrecognized-str-typeform]
                  default=[DEFAULT_APIS])
    parser.addini("mockserver_live", "run the mock as a separate process (true/false)",
                  type="bool", default=False)  # type: ignore[maybe-unrecognized-str-typeform]
    parser.addini("mockserver_seed", "the mock's seed", default="0")
    parser.addini("mockserver_clock", "freeze the mock's clock at this instant (empty: real time)", default="")
    parser.addini("mockserver_validate_responses", "check every mock answer against its spec (true/false)",
                  type="bool", default=True)  # type: ignore[maybe-unrecognized-str-typeform]


def pytest_configure(config: pytest.Config) -> None:
    """Pack names given on the command line or in the ini file are checked once, at start-up: an
    unknown one is a usage error of the run, not an error in every test that asks for `mock`."""
    names = _configured_apis(config)
    if names == DEFAULT_APIS:
        return  # nothing to check, and nothing imported in projects that don't use the mock
    from mockserver.packs import AVAILABLE

    unknown = [name for name in _split(names) if name not in AVAILABLE]
    if unknown:
        raise pytest.UsageError(f"mockserver: unknown API pack {unknown[0]!r} in --mockserver-apis / "
                                f"mockserver_apis; available: {', '.join(AVAILABLE)}")


def _configured_apis(config: pytest.Config) -> str:
    return t.cast(str, config.getoption("mockserver_apis") or ",".join(config.getini("mockserver_apis")))


def _split(names: str) -> list[str]:
    return [name.strip() for name in names.split(",") if name.strip()]


def _config_from_options(config: pytest.Config) -> MockServerConfig:
    from mockserver.testing import MockServerConfig, _api_names

    apis = _configured_apis(config)
    live = config.getoption("mockserver_live")
    seed = config.getoption("mockserver_seed")
    if seed is None:
        try:
            seed = int(config.getini("mockserver_seed"))
        except ValueError:
            raise pytest.UsageError(f"mockserver_seed: not an integer: {config.getini('mockserver_seed')!r}") from None
    clock = config.getoption("mockserver_clock") or config.getini("mockserver_clock") or None
    try:
        live = bool(config.getini("mockserver_live") if live is None else live)
        return MockServerConfig(apis=_api_names(apis), live=live,
                                seed=seed, clock=clock,
                                validate_responses=bool(config.getini("mockserver_validate_responses")))
    except ValueError as error:
        raise pytest.UsageError(f"mockserver: {error}") from None


@pytest.fixture(scope="session")
def mockserver_config(pytestconfig: pytest.Config) -> MockServerConfig:
    """How the session's mock server is started. Override in a conftest.py:

    ```python
    @pytest.fixture(scope="session")
    def mockserver_config():
        return MockServerConfig(apis=("openai_usage", "chutes"), seed=7, clock="2025-06-15T12:00:00Z")
    ```
    """
    return _config_from_options(pytestconfig)


@pytest.fixture(scope="session")
def mockserver(mockserver_config: MockServerConfig) -> t.Iterator[MockServerHandle]:
    """The session's mock server, started on first use and stopped at the end of the session.
    Not reset between tests: use `mock` for that."""
    from mockserver.testing import MockServerHandle

    handle = MockServerHandle.from_config(mockserver_config)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def mock(mockserver: MockServerHandle) -> t.Iterator[MockServerHandle]:
    """The session's mock server, reset for this test: every pack back to its fixtures, the
    journal and faults cleared, the clock back where the server started. Clients handed out by
    `mock.client()` during the test are closed when it ends."""
    mockserver.reset()
    with mockserver.closing_clients():
        yield mockserver
