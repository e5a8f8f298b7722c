"""What every contract module here shares: requests to the in-process app skip the network settings."""

from __future__ import annotations

import typing as t

import pytest


@pytest.fixture(scope="session", autouse=True)
def in_process_requests_ignore_the_environment() -> t.Iterator[None]:
    """Schemathesis reaches an in-process (ASGI) app through a `requests` session, a new one per
    request (and per re-sent probe of its checks). With the session's default `trust_env`, every
    request reads proxy settings and looks for `~/.netrc`: a fifth of the client's cost of a request,
    for settings that mean nothing without a network (the adapter hands the request to the app; a
    proxy is never used, and no netrc names the test client's host). Off for these sessions only."""
    from schemathesis.python import asgi

    original = asgi.get_client

    def get_client(app: t.Any, **options: t.Any) -> t.Any:
        client = original(app, **options)
        client.trust_env = False
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asgi, "get_client", get_client)
        yield


@pytest.fixture(scope="session", autouse=True)
def settings_resolved_once_per_operation() -> t.Iterator[None]:
    """Schemathesis resolves an operation's check and generation settings (its config's
    `operations` entries, each matched by filter, merged over the phase's and the project's) for
    every case it generates and every response it validates: ~0.8 ms each with InvokeAI's profile,
    a tenth of a case's cost. An operation's settings in a phase never change during a run
    (schemathesis's own runner caches its check settings per operation for that reason); the pytest
    path does not, so this does, per config object."""
    from schemathesis.config import ProjectConfig

    with pytest.MonkeyPatch.context() as patch:
        for name in ("checks_config_for", "generation_for"):
            patch.setattr(ProjectConfig, name, _per_operation(getattr(ProjectConfig, name)))
        yield


def _per_operation(resolve: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    resolved: dict[tuple[int, t.Any, str | None], tuple[t.Any, t.Any]] = {}

    def memoized(self: t.Any, *, operation: t.Any = None, phase: str | None = None) -> t.Any:
        which = None if operation is None else (operation.label, operation.definition.raw.get("operationId"))
        key = (id(self), which, phase)
        found = resolved.get(key)
        if found is None or found[0] is not self:  # the config is kept, so its id is never reused
            found = resolved[key] = (self, resolve(self, operation=operation, phase=phase))
        return found[1]
    return memoized
