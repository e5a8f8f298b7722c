"""POST /chutes/ (deploy and rolling update), PUT /chutes/{x}, DELETE /chutes/{id}, and the
easy-deploy routes that always refuse. Texts and rules: behaviour.md "POST /chutes/ (deploy)"."""

from __future__ import annotations

import re
import typing as t
import uuid

import pytest
from chutes_support import CUSTOM_ML, SGLANG, USERS, WORLD, auth, chute_args, chute_id_for, detail, ok, signed

NOT_FOUND = "Chute not found, or does not belong to you"
NO_PUBLIC = ("Chutes no longer supports public chutes. You can instead deploy the chute as a private chute "
             "and share it with other users.")
NO_CORDS = "A chute must define at least one cord() or job() function!"
BOTH = "A chute can have jobs or cords not both."
JOB = {"name": "train"}
EMBEDDINGS_ID = chute_id_for("alice", "alice-embeddings")


def version_of(image: dict, code: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{image['image_id']}:{image.get('patch_version')}:{code}"))


# -- a successful deploy ----------------------------------------------------------------------------


def test_deploy_creates_a_private_chute_with_a_derived_id_slug_and_version(api: t.Any) -> None:
    body = chute_args("my-chute", readme="# hi", tool_description="tools", logo_id="logo-1", concurrency=4,
                      max_instances=3, scaling_threshold=0.5, shutdown_after_seconds=600)
    chute = ok(api.deploy(body, "alice", accept_fee=True))
    assert chute["chute_id"] == chute_id_for("alice", "my-chute") == str(
        uuid.uuid5(uuid.NAMESPACE_OID, "alice::chute::my-chute"))
    assert chute["slug"] == "alice-my-chute"
    assert chute["version"] == version_of(SGLANG, body["code"])
    assert chute["public"] is False
    assert chute["user"]["username"] == "alice" and chute["user"]["user_id"] == USERS["alice"]["user_id"]
    assert chute["image"]["image_id"] == SGLANG["image_id"]
    assert (chute["max_instances"], chute["scaling_threshold"], chute["shutdown_after_seconds"]) == (3, 0.5, 600)
    assert (chute["tagline"], chute["readme"], chute["tool_description"]) == ("a test chute", "# hi", "tools")
    assert chute["logo_id"] == "logo-1" and chute["logo"] == "https://logos.chutes.ai/logos/logo-1.webp"
    assert chute["concurrency"] == 4
    assert chute["cords"][0]["function"] == "run" and chute["jobs"] == []
    assert chute["instances"] == [] and chute["hot"] is False and chute["invocation_count"] == 0
    assert chute["cord_ref_id"] is None
    # It is there afterwards, by id and by name, for its owner only.
    assert ok(api.get(f"/chutes/{chute['chute_id']}", "alice"))["version"] == chute["version"]
    assert ok(api.get("/chutes/my-chute", "alice"))["chute_id"] == chute["chute_id"]
    assert detail(api.get("/chutes/my-chute", "bob"), 404) == NOT_FOUND
    assert detail(api.get(f"/chutes/{chute['chute_id']}"), 404) == NOT_FOUND


def test_a_cord_without_schemas_gets_empty_ones_and_null_stays_null(api: t.Any) -> None:
    """The server's default for a cord's three schemas is `{}` (the spec says so in words, as a
    `default` would break generated clients); an explicit null is kept."""
    bare = {"method": "POST", "path": "/bare", "function": "bare", "stream": False}
    nulls = {**bare, "path": "/nulls", "function": "nulls", "input_schema": None}
    chute = ok(api.deploy(chute_args("schemaless", cords=[bare, nulls]), "bob"))
    first, second = chute["cords"]
    assert (first["input_schema"], first["output_schema"], first["minimal_input_schema"]) == ({}, {}, {})
    assert second["input_schema"] is None and second["output_schema"] == {}


def test_private_chutes_get_the_scaling_defaults(api: t.Any) -> None:
    chute = ok(api.deploy(chute_args("defaults"), "bob"))
    assert (chute["max_instances"], chute["scaling_threshold"], chute["shutdown_after_seconds"]) == (1, 0.75, 300)


def test_a_public_deploy_needs_the_permission(api: t.Any) -> None:
    assert detail(api.deploy(chute_args("pub", public=True), "bob"), 400) == NO_PUBLIC
    assert detail(api.deploy(chute_args("pub", public=True), "alice", accept_fee=True), 400) == NO_PUBLIC
    chute = ok(api.deploy(chute_args("pub", public=True), "admin"))
    assert chute["public"] is True
    assert (chute["max_instances"], chute["scaling_threshold"], chute["shutdown_after_seconds"]) == (None, None, None)
    assert "pub" in api.names()  # everybody sees it


def test_a_public_chute_needs_a_public_image(api: t.Any) -> None:
    api.update_user("alice", permissions=["public_deploy"])
    body = chute_args("pub", public=True, image="custom-ml:1.0")
    assert detail(api.deploy(body, "alice", accept_fee=True), 409) == "Chute cannot be public when image is not public!"


@pytest.mark.parametrize("image", ["chutes/sglang:0.4.9", "/chutes/sglang:0.4.9", SGLANG["image_id"]])
def test_the_image_by_name_or_id(api: t.Any, image: str) -> None:
    assert ok(api.deploy(chute_args(image=image), "bob"))["image"]["image_id"] == SGLANG["image_id"]


@pytest.mark.parametrize(("user", "image"), [
    ("bob", "no-such-image"),
    ("bob", "sglang"),  # a name without a tag is taken for an id
    ("bob", "sglang:0.4.9"),  # the owner defaults to the caller, not to the image's owner
    ("bob", "Chutes/sglang:0.4.9"),  # owner, name and tag are compared exactly
    ("bob", "alice/custom-ml:1.0"), ("bob", CUSTOM_ML["image_id"]),  # someone else's private image
])
def test_an_unknown_or_someone_elses_private_image(api: t.Any, user: str, image: str) -> None:
    assert detail(api.deploy(chute_args(image=image), user), 400) == "Chute image not found, or does not belong to you"


def test_an_own_private_image_is_fine(api: t.Any) -> None:
    chute = ok(api.deploy(chute_args(image="custom-ml:1.0"), "alice", accept_fee=True))
    assert chute["image"]["name"] == "custom-ml"


def test_deploying_by_hotkey_signature(api: t.Any) -> None:
    chute = ok(api.signed_send("POST", "/chutes/", "bob", chute_args("signed-chute")))
    assert chute["chute_id"] == chute_id_for("bob", "signed-chute")


# -- validation ------------------------------------------------------------------------------------


def test_vllm_needs_a_revision(api: t.Any) -> None:
    body = chute_args(standard_template="vllm")
    assert detail(api.deploy(body, "bob"), 400) == "Missing required revision parameter for vllm template."
    ok(api.deploy({**body, "revision": "a" * 40}, "bob"))


@pytest.mark.parametrize(("override", "start"), [
    ({"name": "Bad Name"}, "Validation failure: Invalid chute name"),
    ({"name": "UPPER"}, "Validation failure: Invalid chute name"),
    ({"name": "_lead"}, "Validation failure: Invalid chute name"),
    ({"filename": "Chute.py"}, "Validation failure: Invalid entrypoint filename"),
    ({"filename": "chute.txt"}, "Validation failure: Invalid entrypoint filename"),
    ({"ref_str": "chute"}, "Validation failure: Invalid reference string"),
    ({"ref_str": "my_chute:Chute"}, "Validation failure: Invalid reference string"),
    ({"code": "def broken(:\n"}, "Validation failure: Invalid code"),
])
def test_validation_failures(api: t.Any, override: dict, start: str) -> None:
    got = detail(api.deploy(chute_args(**override), "bob"), 400)
    assert got.startswith(start), got


@pytest.mark.parametrize("name", ["abc", "org/model-1", "Org_Name/model.v2", "a/b/c-d"])
def test_valid_names(api: t.Any, name: str) -> None:
    assert ok(api.deploy(chute_args(name), "bob"))["name"] == name


@pytest.mark.parametrize(("cords", "jobs", "text"), [(None, None, NO_CORDS), ([], [], NO_CORDS),
                                                     ([{"method": "POST", "path": "/x", "function": "x",
                                                        "stream": False}], [JOB], BOTH)])
def test_cords_or_jobs(api: t.Any, cords: t.Any, jobs: t.Any, text: str) -> None:
    assert detail(api.deploy(chute_args(cords=cords, jobs=jobs), "bob"), 400) == text


def test_a_job_only_chute(api: t.Any) -> None:
    chute = ok(api.deploy(chute_args(cords=[], jobs=[JOB]), "bob"))
    assert chute["cords"] == [] and chute["jobs"][0]["name"] == "train"


def test_a_node_selector_no_gpu_satisfies(api: t.Any) -> None:
    body = chute_args(node_selector={"gpu_count": 1, "include": ["b300"]})
    assert detail(api.deploy(body, "bob"), 400) == "No supported GPUs based on node selector!"


@pytest.mark.parametrize("override", [
    {"name": "ab"}, {"name": "x" * 129}, {"max_instances": 0}, {"max_instances": 101},
    {"scaling_threshold": 1.5}, {"shutdown_after_seconds": 59}, {"concurrency": 257},
    {"revision": "not-a-sha"}, {"code": "x" * 150_001}, {"public": "maybe"},
    {"node_selector": {"gpu_count": 9}}, {"node_selector": {"min_vram_gb_per_gpu": 8}},
])
def test_body_bounds_are_422(api: t.Any, override: dict) -> None:
    response = api.deploy(chute_args(**override), "bob")
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list) and response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize("missing", ["name", "image", "public", "code", "filename", "ref_str", "node_selector"])
def test_required_fields_are_422(api: t.Any, missing: str) -> None:
    body = chute_args()
    del body[missing]
    response = api.deploy(body, "bob")
    assert response.status_code == 422, response.text
    assert any(error["loc"] == ["body", missing] and error["type"] == "missing"
               for error in response.json()["detail"]), response.text


# -- the deployment fee ------------------------------------------------------------------------------


def fee_for(node_selector: dict) -> float:
    gpus = WORLD["gpus"]
    fits = [g for g in gpus.values() if g["vram"] >= node_selector.get("min_vram_gb_per_gpu", 16)]
    return round(node_selector.get("gpu_count", 1) * min(g["usd_per_hour"] for g in fits) * 3, 2)


def test_a_paying_account_must_accept_the_fee(api: t.Any) -> None:
    for accept in (None, False):
        got = detail(api.deploy(chute_args(), "alice", accept_fee=accept), 402)
        assert got.startswith("DEPLOYMENT FEE NOTICE:\n===\n"), got
    assert api.get(f"/chutes/{chute_id_for('alice', 'my-chute')}", "alice").status_code == 404
    assert api.user("alice")["balance"] == 250.0


def test_an_accepted_fee_is_charged(api: t.Any) -> None:
    selector = {"gpu_count": 2, "min_vram_gb_per_gpu": 48}
    ok(api.deploy(chute_args(node_selector=selector), "alice", accept_fee=True))
    assert api.user("alice")["balance"] == pytest.approx(250.0 - fee_for(selector))  # 2 x l40s/a6000 @ 0.80 x 3


def test_a_free_account_pays_nothing(api: t.Any) -> None:
    ok(api.deploy(chute_args(), "bob"))
    assert api.user("bob")["balance"] == 40.0


def test_a_balance_at_or_below_the_fee_is_refused(api: t.Any) -> None:
    assert detail(api.deploy(chute_args(), "carol"), 402).startswith("DEPLOYMENT FEE NOTICE:\n===\n")
    got = detail(api.deploy(chute_args(), "carol", accept_fee=True), 402)
    # Upstream: f"... is ${deployment_fee}, but you have a balance of {current_user.balance}.\n..."
    assert got.startswith("The deployment fee, based on your node selector, is $"), got
    assert ", but you have a balance of 0.0" in got, got
    api.update_user("carol", balance=0.6)  # exactly the fee: still refused (balance <= fee)
    assert detail(api.deploy(chute_args(), "carol", accept_fee=True), 402).startswith(
        "The deployment fee, based on your node selector, is $")


def test_the_fee_notice_comes_before_the_definition_checks(api: t.Any) -> None:
    """behaviour.md's order: fee (402) before the GPU, revision, validator and cord checks (400)."""
    for override in ({"standard_template": "vllm"}, {"filename": "Bad.py"}, {"cords": []}):
        got = detail(api.deploy(chute_args(**override), "alice"), 402)
        assert got.startswith("DEPLOYMENT FEE NOTICE:\n===\n"), (override, got)


# -- redeploying ---------------------------------------------------------------------------------------


def test_redeploying_the_same_code_is_a_conflict(api: t.Any) -> None:
    body = chute_args("same")
    first = ok(api.deploy(body, "bob"))
    got = detail(api.deploy(body, "bob"), 409)
    assert got == f"Chute with name=same, version='{first['version']}' and public=False already exists"


def test_redeploying_new_code_is_a_rolling_update_of_the_same_chute(api: t.Any) -> None:
    before = ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "alice"))
    body = chute_args("alice-embeddings", image="custom-ml:1.0", code="print('v2')\n", tagline="v2 tagline")
    api.advance(60)
    # No fee for an existing chute: no accept_fee needed.
    after = ok(api.deploy(body, "alice"))
    assert after["chute_id"] == EMBEDDINGS_ID
    assert after["version"] == version_of(CUSTOM_ML, "print('v2')\n") != before["version"]
    assert after["created_at"] == before["created_at"] and after["updated_at"] != before["updated_at"]
    assert api.get(f"/chutes/code/{EMBEDDINGS_ID}", "alice").text == "print('v2')\n"
    assert api.user("alice")["balance"] == 250.0
    rows = ok(api.get("/chutes/rolling_updates"))
    assert [(r["chute_id"], r["old_version"], r["new_version"]) for r in rows] == [
        (EMBEDDINGS_ID, before["version"], after["version"])]
    assert rows[0]["started_at"].startswith("2025-11-21T00:01:00")
    assert not rows[0]["started_at"].endswith("Z")  # naive ISO
    assert isinstance(rows[0]["permitted"], dict)
    # Same version again: now a conflict.
    assert detail(api.deploy(body, "alice"), 409).startswith("Chute with name=alice-embeddings, version=")


def test_a_redeploy_updates_the_chute_in_place(api: t.Any) -> None:
    """Upstream sets tagline/readme/tool_description/logo_id/concurrency... from the new args."""
    body = chute_args("alice-embeddings", image="custom-ml:1.0", code="print('v2')\n", tagline="v2 tagline",
                      readme="v2 readme", concurrency=8)
    ok(api.deploy(body, "alice"))
    chute = ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "alice"))
    assert (chute["tagline"], chute["readme"], chute["concurrency"]) == ("v2 tagline", "v2 readme", 8)


def test_names_are_unique_per_user_not_globally(api: t.Any) -> None:
    mine = ok(api.deploy(chute_args("alice-embeddings"), "bob"))
    assert mine["chute_id"] == chute_id_for("bob", "alice-embeddings") != EMBEDDINGS_ID
    assert mine["slug"] == "bob-alice-embeddings"
    assert ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "alice"))["user"]["username"] == "alice"


def test_slug_collisions_get_a_random_suffix(api: t.Any) -> None:
    first = ok(api.deploy(chute_args("my-chute"), "bob"))
    second = ok(api.deploy(chute_args("my.chute"), "bob"))
    assert first["slug"] == "bob-my-chute"
    assert re.fullmatch(r"bob-my-chute-[a-z0-9]{5}", second["slug"]), second["slug"]


def test_long_names_give_a_58_character_slug(api: t.Any) -> None:
    name = "org/" + "a" * 100
    slug = ok(api.deploy(chute_args(name), "bob"))["slug"]
    assert slug == ("bob-org-" + "a" * 100)[:58]


# -- update -----------------------------------------------------------------------------------------------


def test_update_applies_only_non_blank_texts_and_a_logo(api: t.Any) -> None:
    body = {"tagline": "new tagline", "readme": "   ", "tool_description": "", "logo_id": "logo-9",
            "max_instances": 7, "scaling_threshold": 0.1, "shutdown_after_seconds": 3600}
    updated = ok(api.put(f"/chutes/{EMBEDDINGS_ID}", body, "alice"))
    assert updated["tagline"] == "new tagline"
    assert updated["readme"] == "" and updated["tool_description"] is None  # blanks are ignored
    assert updated["logo_id"] == "logo-9" and updated["logo"] == "https://logos.chutes.ai/logos/logo-9.webp"
    assert (updated["max_instances"], updated["scaling_threshold"], updated["shutdown_after_seconds"]) == (
        1, 0.75, 300)  # accepted but ignored
    assert updated["current_estimated_price"] is None  # PUT answers without price injection
    again = ok(api.get(f"/chutes/{EMBEDDINGS_ID}", "alice"))
    assert again["tagline"] == "new tagline" and again["logo_id"] == "logo-9"
    assert again["current_estimated_price"]["usd"]["hour"] > 0


def test_an_empty_logo_keeps_the_old_one(api: t.Any) -> None:
    ok(api.put(f"/chutes/{EMBEDDINGS_ID}", {"logo_id": "logo-1"}, "alice"))
    assert ok(api.put(f"/chutes/{EMBEDDINGS_ID}", {"logo_id": ""}, "alice"))["logo_id"] == "logo-1"


def test_update_by_name_and_by_hotkey(api: t.Any) -> None:
    assert ok(api.put("/chutes/alice-embeddings", {"tagline": "by name"}, "alice"))["tagline"] == "by name"
    updated = ok(api.signed_send("PUT", "/chutes/alice-embeddings", "alice", {"tagline": "signed"}))
    assert updated["tagline"] == "signed"


@pytest.mark.parametrize(("user", "target"), [
    ("bob", EMBEDDINGS_ID),  # someone else's
    ("alice", "bob-private-llm"),  # shared with alice, still not hers
    ("alice", "deepseek-ai/DeepSeek-V3-0324"),  # public, not hers
    ("alice", "no-such-chute"),
])
def test_update_of_a_chute_not_owned_is_404(api: t.Any, user: str, target: str) -> None:
    assert detail(api.put(f"/chutes/{target}", {"tagline": "x"}, user), 404) == NOT_FOUND


def test_update_bounds_are_422(api: t.Any) -> None:
    for body in ({"max_instances": 0}, {"scaling_threshold": 2}, {"tagline": "x" * 1025}):
        assert api.put(f"/chutes/{EMBEDDINGS_ID}", body, "alice").status_code == 422


# -- delete ------------------------------------------------------------------------------------------------


def test_delete_needs_a_uuid(api: t.Any) -> None:
    assert detail(api.delete("/chutes/alice-embeddings", "alice"), 400) == "Must use chute UUID to delete."


def test_delete_of_a_chute_not_owned_is_404(api: t.Any) -> None:
    assert detail(api.delete(f"/chutes/{EMBEDDINGS_ID}", "bob"), 404) == NOT_FOUND
    assert detail(api.delete(f"/chutes/{chute_id_for('bob', 'bob-private-llm')}", "alice"), 404) == NOT_FOUND
    assert detail(api.delete(f"/chutes/{uuid.uuid4()}", "alice"), 404) == NOT_FOUND
    assert api.get(f"/chutes/{EMBEDDINGS_ID}", "alice").status_code == 200


def test_delete_removes_the_chute_from_everything(api: t.Any) -> None:
    bobs = chute_id_for("bob", "bob-private-llm")
    assert ok(api.get(f"/chutes/{bobs}", "alice"))["name"] == "bob-private-llm"  # shared with alice
    assert ok(api.delete(f"/chutes/{bobs}", headers=signed("bob", purpose="chutes"))) == {
        "chute_id": bobs, "deleted": True}
    for user in ("alice", "bob"):
        assert detail(api.get(f"/chutes/{bobs}", user), 404) == NOT_FOUND
    assert api.names(user="bob") == []
    assert bobs not in [row["chute_id"] for row in ok(api.get("/chutes/utilization"))]
    assert bobs not in [row["chute_id"] for row in ok(api.get("/chutes/gpu_count_history"))]
    assert bobs not in [s["chute_id"] for s in api.state()["shares"]]
    assert detail(api.delete(f"/chutes/{bobs}", "bob"), 404) == NOT_FOUND
    # The name is free again: a new deploy gets the same derived id.
    body = chute_args("bob-private-llm", standard_template="vllm", revision="b" * 40)
    assert ok(api.deploy(body, "bob"))["chute_id"] == bobs


# -- easy deploy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [("/chutes/vllm", {"model": "org/model"}),
                                            ("/chutes/diffusion", {"model": "org/model", "name": "pics"})])
def test_easy_deploy_is_disabled(api: t.Any, path: str, body: dict) -> None:
    assert detail(api.post(path, body), 401) == "Can't find a user with that api key in our db :("
    assert detail(api.post(path, body, "admin"), 403) == "Easy deployment is currently disabled!"
    assert detail(api.signed_send("POST", path, "bob", body), 403) == "Easy deployment is currently disabled!"
    incomplete = api.post(path, {"public": True}, "admin")
    assert incomplete.status_code == 422, incomplete.text
    assert ["body", "model"] in [error["loc"] for error in incomplete.json()["detail"]]


def test_get_on_easy_deploy_paths_is_a_chute_lookup(api: t.Any) -> None:
    """`GET /chutes/vllm` is matched by `GET /chutes/{chute_id_or_name}`."""
    assert detail(api.get("/chutes/vllm"), 404) == NOT_FOUND
    assert detail(api.get("/chutes/diffusion", "alice"), 404) == NOT_FOUND


def test_post_with_a_raw_body_that_is_not_json(api: t.Any) -> None:
    raw = b"{not json"
    response = api.client.post("/chutes/", content=raw, headers={**auth("bob"), "content-type": "application/json"})
    assert response.status_code == 422, response.text
