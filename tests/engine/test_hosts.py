"""Routing by the Host's first label (`Pack.claims_host`) and its `/hosts/{label}/` path form."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from mockserver.engine.hosts import first_label, from_path_form
from mockserver.engine.server import PrefixConflict
from tests.engine.conftest import make_server, tiny_pack


@pytest.mark.parametrize(("host", "label"), [
    ("llm.chutes.ai", "llm"), ("llm.localhost:8000", "llm"), ("LLM.127.0.0.1.nip.io", "llm"),
    ("my-chute.example", "my-chute"), ("127.0.0.1:8000", "127"), ("localhost:8000", None), ("", None),
    ("under_score.example", None),
])
def test_the_first_label_needs_a_second_one(host: str, label: str | None) -> None:
    assert first_label(host) == label


def test_the_path_form_becomes_a_host() -> None:
    scope = {"type": "http", "path": "/hosts/LLM/v1/models", "headers": [(b"host", b"127.0.0.1:8000")]}
    rewritten = from_path_form(scope)
    assert rewritten["path"] == "/v1/models" and rewritten["root_path"] == "/hosts/llm"
    assert (b"host", b"llm.127.0.0.1:8000") in rewritten["headers"]
    assert from_path_form({**scope, "path": "/hosts/llm"})["path"] == "/"
    assert from_path_form({**scope, "path": "/hostsx/llm/v1"}) is None


def claims_items_host(label: str, method: str, path: str, state: object) -> bool:
    return label == "items"


def test_a_claimed_host_goes_to_its_pack_whatever_the_path() -> None:
    """`other` owns `/tiny`; a request to `items.<anything>` still reaches `tiny` (at `/other/...`)."""
    hosted = tiny_pack(prefixes=("/tiny",), claims_host=claims_items_host)
    other = tiny_pack(name="other", dialect="openai", prefixes=("/other",))
    with TestClient(make_server(hosted, other)) as client:
        assert client.get("/tiny/items/count").json() == 1
        assert client.get("/other/x").json()["error"]["message"] == "Invalid URL (GET /other/x)"
        # Through the host, `/other/x` is tiny's (FastAPI-dialect) 404, not other's OpenAI one.
        assert client.get("/other/x", headers={"host": "items.localhost"}).json() == {"detail": "Not Found"}
        assert client.get("/hosts/items/other/x").json() == {"detail": "Not Found"}
        assert client.get("/hosts/items/tiny/items/count").json() == 1
        # An unclaimed label in the path form is an ordinary request to that host.
        assert client.get("/hosts/nobody/tiny/items/count").json() == 1


def test_hosts_is_reserved_when_a_pack_routes_by_host() -> None:
    with pytest.raises(PrefixConflict, match="host routing"):
        make_server(tiny_pack(claims_host=claims_items_host), tiny_pack(name="two", prefixes=("/hosts/x",)))
    make_server(tiny_pack(), tiny_pack(name="two", prefixes=("/hosts",)))  # no host routing: an ordinary path
