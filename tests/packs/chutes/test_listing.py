"""GET /chutes/ (scope, filters, pages, cord refs), GET /chutes/{x}, GET /chutes/code/{x}, and
sharing, which widens what a user may see. behaviour.md "GET /chutes/", "Visibility rule"."""

from __future__ import annotations

import re
import typing as t
import uuid

import pytest
from chutes_support import CLOCK, USERS, WORLD, chute_args, chute_id_for, detail, ok, signed

NOT_FOUND = "Chute not found, or does not belong to you"
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"
PUBLIC_VIEW = [DEEPSEEK, "Qwen/Qwen3-32B", "FLUX.1-schnell", "unsloth/gemma-3-12b-it", "affine/reasoner-7b"]
SCHEMA_FIELDS = {"input_schema", "minimal_input_schema", "output_schema"}
EMBEDDINGS_ID = chute_id_for("alice", "alice-embeddings")
BOBS_ID = chute_id_for("bob", "bob-private-llm")


# -- scope ------------------------------------------------------------------------------------------


def test_anonymous_callers_see_public_and_affine_chutes_by_invocation_count(api: t.Any) -> None:
    page = ok(api.get("/chutes/"))
    assert page["total"] == 5 and page["page"] == 0 and page["limit"] == 25
    assert [item["name"] for item in page["items"]] == PUBLIC_VIEW
    counts = [item["invocation_count"] for item in page["items"]]
    assert counts == sorted(counts, reverse=True)
    affine = page["items"][-1]
    assert affine["public"] is False  # visible through its name, not through `public`


def test_a_caller_sees_only_their_own_chutes_by_default(api: t.Any) -> None:
    assert api.names(user="alice") == ["alice-embeddings"]
    assert api.names(user="bob") == ["bob-private-llm"]  # shared chutes are not listed
    assert api.names(user="carol") == ["carol-sandbox"]
    assert api.names(user="admin") == []
    assert ok(api.get("/chutes/", "admin"))["total"] == 0


def test_include_public_adds_public_and_affine_chutes(api: t.Any) -> None:
    names = api.names({"include_public": "true"}, "alice")
    assert sorted(names) == sorted(PUBLIC_VIEW + ["alice-embeddings"])
    assert "bob-private-llm" not in names  # shared with alice, but not listed
    assert api.names({"include_public": "false"}, "alice") == ["alice-embeddings"]
    assert api.names({"include_public": "true"}) == PUBLIC_VIEW  # anonymous: no difference


def test_a_new_chute_shows_up_in_its_owners_list(api: t.Any) -> None:
    ok(api.deploy(chute_args("fresh"), "bob"))
    assert sorted(api.names(user="bob")) == ["bob-private-llm", "fresh"]
    assert "fresh" not in api.names()


# -- filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"name": "qwen"}, ["Qwen/Qwen3-32B"]),
    ({"name": "QWEN3"}, ["Qwen/Qwen3-32B"]),
    ({"name": "-"}, [DEEPSEEK, "Qwen/Qwen3-32B", "FLUX.1-schnell", "unsloth/gemma-3-12b-it", "affine/reasoner-7b"]),
    ({"exclude": "deepseek"}, PUBLIC_VIEW[1:]),
    ({"exclude": "E"}, []),
    ({"name": "e", "exclude": "affine"}, PUBLIC_VIEW[:4]),
    ({"template": "vllm"}, [DEEPSEEK, "Qwen/Qwen3-32B", "unsloth/gemma-3-12b-it", "affine/reasoner-7b"]),
    ({"template": "diffusion"}, ["FLUX.1-schnell"]),
    ({"template": "other"}, []),
    ({"template": "tei"}, []),
    ({"slug": "chutes-flux-1-schnell"}, ["FLUX.1-schnell"]),
    ({"slug": "CHUTES-FLUX-1-SCHNELL"}, ["FLUX.1-schnell"]),
    ({"slug": "chutes-flux"}, []),  # ILIKE without wildcards: the whole slug
])
def test_filters(api: t.Any, params: dict, expected: list) -> None:
    page = ok(api.get("/chutes/", params=params))
    assert [item["name"] for item in page["items"]] == expected
    assert page["total"] == len(expected)


def test_template_other_means_no_template(api: t.Any) -> None:
    assert api.names({"template": "other"}, "alice") == ["alice-embeddings"]
    assert api.names({"template": "other", "include_public": "true"}, "alice") == ["alice-embeddings"]
    assert api.names({"template": "vllm"}, "alice") == []


def test_the_image_filter_filters_by_image(api: t.Any) -> None:
    """Upstream compares against the literal text `%{image}%` and so matches nothing; the mock
    answers what the filter means (a deliberate difference, in the README)."""
    page = ok(api.get("/chutes/", params={"image": "diffusion"}))
    assert [item["name"] for item in page["items"]] == ["FLUX.1-schnell"]
    assert all(item["image"]["name"] == "vllm" for item in ok(api.get("/chutes/", params={"image": "vllm"}))["items"])
    assert ok(api.get("/chutes/", params={"image": "no-such-image"}))["total"] == 0


def test_the_slugs_of_the_seeded_chutes(api: t.Any) -> None:
    slugs = {item["name"]: item["slug"] for item in ok(api.get("/chutes/"))["items"]}
    assert slugs[DEEPSEEK] == "chutes-deepseek-ai-deepseek-v3-0324"
    assert slugs["FLUX.1-schnell"] == "chutes-flux-1-schnell"


# -- pages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "names"), [
    ({"limit": 2}, PUBLIC_VIEW[:2]),
    ({"limit": 2, "page": 1}, PUBLIC_VIEW[2:4]),
    ({"limit": 2, "page": 2}, PUBLIC_VIEW[4:]),
    ({"limit": 2, "page": 3}, []),
    ({"limit": 2, "offset": 3}, PUBLIC_VIEW[3:5]),
    ({"offset": 1}, PUBLIC_VIEW[1:]),
    ({"page": 0, "offset": 4}, PUBLIC_VIEW[4:]),
    ({"page": 1, "offset": 0}, []),  # offset 0 counts as absent: page 1 of 25
    ({"limit": 5000}, PUBLIC_VIEW),
])
def test_pages(api: t.Any, params: dict, names: list) -> None:
    page = ok(api.get("/chutes/", params=params))
    assert [item["name"] for item in page["items"]] == names
    assert page["total"] == 5
    assert page["page"] == params.get("page", 0) and page["limit"] == params.get("limit", 25)


def test_page_and_offset_together(api: t.Any) -> None:
    got = detail(api.get("/chutes/", params={"page": 1, "offset": 1}), 400)
    assert got == "Cannot specify both page and offset, select <= 1 of these."


@pytest.mark.parametrize("params", [{"page": -1}, {"page": 101}, {"limit": 0}, {"limit": 5001}, {"offset": -1},
                                    {"offset": 5001}, {"page": "x"}, {"limit": "1.5"}, {"include_public": "perhaps"}])
def test_out_of_range_query_parameters_are_422(api: t.Any, params: dict) -> None:
    response = api.get("/chutes/", params=params)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors and errors[0]["loc"] == ["query", next(iter(params))]
    assert {"type", "loc", "msg", "input"} <= set(errors[0])


# -- cord refs ---------------------------------------------------------------------------------------


def test_items_name_their_cords_by_reference(api: t.Any) -> None:
    page = ok(api.get("/chutes/"))
    refs = page["cord_refs"]
    for item in page["items"]:
        assert item["cords"] is None
        assert str(uuid.UUID(item["cord_ref_id"])) == item["cord_ref_id"]
        assert item["cord_ref_id"] in refs
        for cord in refs[item["cord_ref_id"]]:
            assert not SCHEMA_FIELDS & set(cord), cord
            assert {"method", "path", "function", "stream"} <= set(cord)
    assert set(refs) == {item["cord_ref_id"] for item in page["items"]}
    # Chutes with the same cords share a reference: the four vllm chutes have one.
    vllm = {item["cord_ref_id"] for item in page["items"] if item["standard_template"] == "vllm"}
    assert len(vllm) == 1 and len(refs) == 2


def test_include_schemas_keeps_the_schemas(api: t.Any) -> None:
    page = ok(api.get("/chutes/", params={"include_schemas": "true"}))
    full = ok(api.get(f"/chutes/{DEEPSEEK}"))
    deepseek = next(item for item in page["items"] if item["name"] == DEEPSEEK)
    assert page["cord_refs"][deepseek["cord_ref_id"]] == full["cords"]
    assert SCHEMA_FIELDS <= set(full["cords"][0])


def test_the_reference_of_a_chute_does_not_depend_on_schemas(api: t.Any) -> None:
    plain = {i["name"]: i["cord_ref_id"] for i in ok(api.get("/chutes/"))["items"]}
    full = ok(api.get("/chutes/", params={"include_schemas": "true"}))
    schemas = {i["name"]: i["cord_ref_id"] for i in full["items"]}
    assert plain == schemas


def test_list_items_carry_prices_and_node_selector_extras(api: t.Any) -> None:
    for item in ok(api.get("/chutes/"))["items"]:
        price = item["current_estimated_price"]
        assert price["usd"]["hour"] > 0 and price["tao"]["hour"] > 0
        assert item["node_selector"]["supported_gpus"] == item["supported_gpus"]
        assert "compute_multiplier" in item["node_selector"]


# -- GET by id or name ---------------------------------------------------------------------------------


def test_get_by_id_and_by_name_with_slashes(api: t.Any) -> None:
    by_id = ok(api.get(f"/chutes/{chute_id_for('chutes', DEEPSEEK)}"))
    by_name = ok(api.get(f"/chutes/{DEEPSEEK}"))
    assert by_id == by_name
    assert by_id["chute_id"] == chute_id_for("chutes", DEEPSEEK)
    assert by_id["cord_ref_id"] is None and by_id["cords"][0]["public_api_path"] == "/v1/chat/completions"
    assert by_id["user"]["username"] == "chutes" and by_id["image"]["name"] == "vllm"
    assert by_id["revision"] == "e9b33add76883f293d6bf61f6bd89b497e80e335"
    assert by_id["hot"] is True and len(by_id["instances"]) == 2
    assert all(i["active"] and i["verified"] for i in by_id["instances"])
    assert set(by_id["instances"][0]) == {"instance_id", "region", "active", "verified", "last_verified_at"}
    assert by_id["max_instances"] is None  # public chute
    price = by_id["current_estimated_price"]
    assert {"usd", "tao", "per_million_tokens"} <= set(price)
    assert price["usd"]["hour"] == pytest.approx(8 * WORLD["gpus"]["h200"]["usd_per_hour"])
    assert price["tao"]["hour"] == pytest.approx(price["usd"]["hour"] / WORLD["tao_usd"])
    assert ok(api.get("/chutes/FLUX.1-schnell"))["current_estimated_price"].keys() >= {"per_step"}


def test_get_of_a_cold_chute(api: t.Any) -> None:
    gemma = ok(api.get("/chutes/unsloth/gemma-3-12b-it"))
    assert gemma["instances"] == [] and gemma["hot"] is False


def test_get_by_exact_name_only(api: t.Any) -> None:
    for value in ("deepseek-ai/deepseek-v3-0324", "DeepSeek-V3-0324", "deepseek", "nope"):
        assert detail(api.get(f"/chutes/{value}"), 404) == NOT_FOUND, value


def test_boosted_is_a_route_of_its_own(api: t.Any) -> None:
    boosted = ok(api.get("/chutes/boosted"))
    assert boosted == [{"chute_id": chute_id_for("chutes", "Qwen/Qwen3-32B"), "name": "Qwen/Qwen3-32B",
                        "boost": 1.5, "manual_boost": None}]


@pytest.mark.parametrize(("user", "value", "visible"), [
    (None, "affine/reasoner-7b", True),  # affine names are visible to all
    (None, "alice-embeddings", False),
    ("bob", "alice-embeddings", False),
    ("alice", "alice-embeddings", True),
    ("alice", "bob-private-llm", True),  # shared with alice
    ("carol", "bob-private-llm", False),
    (None, "bob-private-llm", False),
    ("admin", "carol-sandbox", False),  # no admin bypass
    ("carol", "carol-sandbox", True),  # disabled, but still hers to read
    ("chutes", "chutes/lora-trainer", True),  # private, with jobs
    (None, "chutes/lora-trainer", False),
    ("alice", "chutes/lora-trainer", False),
])
def test_visibility(api: t.Any, user: str | None, value: str, visible: bool) -> None:
    chute_id = next(c for c in ok(api.client.get("/__mock__/packs/chutes/state"))["chutes"] if c["name"] == value)[
        "chute_id"]
    for target in (value, chute_id):
        response = api.get(f"/chutes/{target}", user)
        code = api.get(f"/chutes/code/{chute_id}", user)
        if visible:
            assert ok(response)["name"] == value
            assert code.status_code == 200 and code.text.startswith(f"# {value}\n")
            assert code.headers["content-type"].startswith("text/plain")
        else:
            assert detail(response, 404) == NOT_FOUND
            assert detail(code, 404) == NOT_FOUND


def test_the_seeded_job_chute_is_its_owners_and_has_jobs_not_cords(api: t.Any) -> None:
    mine = api.names(user="chutes")
    assert "chutes/lora-trainer" in mine and "chutes/lora-trainer" not in api.names({"include_public": "true"}, "alice")
    chute = ok(api.get("/chutes/chutes/lora-trainer", "chutes"))
    assert chute["cords"] == [] and chute["standard_template"] is None
    assert chute["jobs"] == [
        {"name": "train_lora", "timeout": 7200, "upload": True, "ports": []},
        {"name": "dev_box", "timeout": None, "upload": False,
         "ports": [{"name": "ssh", "port": 2202, "proto": "tcp"}, {"name": "jupyter", "port": 8888, "proto": "http"}]}]
    code = api.get(f"/chutes/code/{chute['chute_id']}", "chutes").text
    assert "async def train_lora(" in code and "@chute.job(timeout=None, upload=False, ssh=True," in code
    assert "@chute.cord" not in code


def test_code_by_name(api: t.Any) -> None:
    code = api.get("/chutes/code/FLUX.1-schnell")
    assert code.status_code == 200 and code.text.startswith("# FLUX.1-schnell\n")
    assert detail(api.get("/chutes/code/nope"), 404) == NOT_FOUND


def test_code_of_a_deployed_chute_is_what_was_sent(api: t.Any) -> None:
    body = chute_args("coded", code="import os\n\n# a comment with unicode: é\nprint(os.name)\n")
    chute_id = ok(api.deploy(body, "bob"))["chute_id"]
    code = api.get(f"/chutes/code/{chute_id}", headers=signed("bob", purpose="chutes"))
    assert code.status_code == 200 and code.text == body["code"]


# -- sharing -----------------------------------------------------------------------------------------------


def share(api: t.Any, chute: str, target: str, user: str, action: str = "share") -> t.Any:
    return api.share(chute, target, user, action)


def test_share_then_unshare(api: t.Any) -> None:
    assert detail(api.get(f"/chutes/{EMBEDDINGS_ID}", "bob"), 404) == NOT_FOUND
    assert ok(share(api, "alice-embeddings", "bob", "alice")) == {
        "status": "Successfully shared chute.name='alice-embeddings' with user.username='bob'"}
    assert ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "bob"))["name"] == "alice-embeddings"
    assert ok(api.get("/chutes/alice-embeddings", "bob"))["chute_id"] == EMBEDDINGS_ID
    assert api.get(f"/chutes/code/{EMBEDDINGS_ID}", "bob").status_code == 200
    assert detail(api.get(f"/chutes/{EMBEDDINGS_ID}", "carol"), 404) == NOT_FOUND
    assert api.names(user="bob") == ["bob-private-llm"]  # shared chutes are not listed
    assert ok(share(api, "alice-embeddings", "bob", "alice", "unshare")) == {
        "status": "Successfully unshared chute.name='alice-embeddings' with user.username='bob' (if share exists)"}
    assert detail(api.get(f"/chutes/{EMBEDDINGS_ID}", "bob"), 404) == NOT_FOUND


def test_share_looks_up_chute_and_user_case_insensitively_or_by_id(api: t.Any) -> None:
    assert ok(share(api, "ALICE-Embeddings", "BOB", "alice"))["status"] == (
        "Successfully shared chute.name='alice-embeddings' with user.username='bob'")
    assert ok(share(api, EMBEDDINGS_ID, USERS["carol"]["user_id"], "alice"))["status"] == (
        "Successfully shared chute.name='alice-embeddings' with user.username='carol'")
    assert ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "carol"))["name"] == "alice-embeddings"


def test_share_is_idempotent(api: t.Any) -> None:
    for _ in range(2):
        ok(share(api, "alice-embeddings", "bob", "alice"))
    shares = [s for s in api.state()["shares"] if s["chute_id"] == EMBEDDINGS_ID]
    assert shares == [{"chute_id": EMBEDDINGS_ID, "shared_to": USERS["bob"]["user_id"],
                       "shared_by": USERS["alice"]["user_id"]}]


def test_unshare_without_a_share_still_succeeds(api: t.Any) -> None:
    assert ok(share(api, "alice-embeddings", "carol", "alice", "unshare"))["status"] == (
        "Successfully unshared chute.name='alice-embeddings' with user.username='carol' (if share exists)")


@pytest.mark.parametrize("action", ["share", "unshare"])
def test_share_of_a_chute_that_is_not_the_callers(api: t.Any, action: str) -> None:
    for chute in ("bob-private-llm", BOBS_ID, DEEPSEEK, "nope"):
        assert detail(share(api, chute, "carol", "alice", action), 404) == (
            f"Did not find target chute {chute}, or it does not belong to you")


@pytest.mark.parametrize("action", ["share", "unshare"])
def test_share_with_an_unknown_user(api: t.Any, action: str) -> None:
    assert detail(share(api, "alice-embeddings", "nobody", "alice", action), 404) == (
        "Could not find target user to share with")


def test_share_of_a_public_chute(api: t.Any) -> None:
    assert detail(share(api, DEEPSEEK, "bob", "chutes"), 400) == "Chute is public, no need to share."
    # The public check comes before the user lookup.
    assert detail(share(api, DEEPSEEK, "nobody", "chutes"), 400) == "Chute is public, no need to share."
    # Unshare has no public check.
    assert ok(share(api, DEEPSEEK, "bob", "chutes", "unshare"))["status"].startswith("Successfully unshared")


def test_share_with_yourself(api: t.Any) -> None:
    assert detail(share(api, "alice-embeddings", "alice", "alice"), 400) == "Cannot share a chute with yourself"
    assert detail(share(api, "alice-embeddings", USERS["alice"]["user_id"], "alice"), 400) == (
        "Cannot share a chute with yourself")
    # Unshare has no self check.
    assert ok(share(api, "alice-embeddings", "alice", "alice", "unshare"))["status"].endswith("(if share exists)")


def test_share_body_is_validated(api: t.Any) -> None:
    for body in ({}, {"chute_id_or_name": "x"}, {"user_id_or_name": "bob"}):
        response = api.post("/chutes/share", body, "alice")
        assert response.status_code == 422, response.text


def test_share_by_hotkey(api: t.Any) -> None:
    body = {"chute_id_or_name": "bob-private-llm", "user_id_or_name": "carol"}
    assert ok(api.signed_send("POST", "/chutes/share", "bob", body))["status"].endswith("user.username='carol'")
    code = api.get(f"/chutes/code/{BOBS_ID}", headers=signed("carol", purpose="chutes", nonce=CLOCK))
    assert code.status_code == 200


def test_shared_chutes_are_not_the_sharees_to_change(api: t.Any) -> None:
    assert detail(api.put(f"/chutes/{BOBS_ID}", {"tagline": "mine now"}, "alice"), 404) == NOT_FOUND
    assert detail(api.delete(f"/chutes/{BOBS_ID}", "alice"), 404) == NOT_FOUND
    assert detail(share(api, "bob-private-llm", "carol", "alice"), 404).startswith("Did not find target chute")


def test_the_slug_matches_the_upstream_pattern(api: t.Any) -> None:
    for item in ok(api.get("/chutes/"))["items"]:
        assert re.fullmatch(r"[a-z0-9-]+", item["slug"]), item["slug"]

