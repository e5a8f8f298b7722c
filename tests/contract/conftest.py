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
