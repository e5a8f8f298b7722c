"""Images: lookup and visibility, listing, deleting, building on the clock, build logs; logos;
`GET /users/me`; and deploy's image check."""

from __future__ import annotations

import asyncio
import json
import typing as t

import pytest
from chutes_support import CONTROL, CUSTOM_ML, SGLANG, auth, chute_args, detail, image_id_for, ok, signed

from mockserver.packs.chutes import images

NOT_FOUND = "Image not found, or does not belong to you"
DOCKERFILE = "FROM parachutes/python:3.12\nRUN pip install --no-cache-dir httpx"


def build_form(username: str, /, **fields: str) -> dict:
    """The multipart fields `chutes build` sends (besides the zip)."""
    return {"username": username, "name": "echo-base", "tag": "0.1", "readme": "An echo image.", "dockerfile": DOCKERFILE,
            "public": "False", "logo_id": "__none__", "wait": "False", "image": "gASVAAAAAAAAAAA=", **fields}


def build(api: t.Any, user: str, **fields: str) -> t.Any:
    form = build_form(user, **fields)
    files = {"build_context": ("chute.zip", b"PK\x05\x06" + b"\x00" * 18, "application/zip")}
    return api.client.post("/images/", data=form, files=files, headers=auth(user))


def settings(api: t.Any, **values: float) -> None:
    ok(api.client.put(f"{CONTROL}/settings", json=values))


# -- lookup and listing -------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["chutes/sglang:0.4.9", "/chutes/sglang:0.4.9", SGLANG["image_id"]])
def test_a_public_image_by_reference_or_id(api: t.Any, ref: str) -> None:
    image = ok(api.get(f"/images/{ref}", "bob"))
    assert image["image_id"] == SGLANG["image_id"] == image_id_for("chutes", "sglang", "0.4.9")
    assert (image["name"], image["tag"], image["status"], image["public"]) == ("sglang", "0.4.9", "built and pushed", True)
    assert image["user"]["username"] == "chutes" and image["build_completed_at"] is not None


@pytest.mark.parametrize(("user", "ref"), [
    ("bob", "sglang:0.4.9"),  # the owner defaults to the caller
    ("bob", "Chutes/sglang:0.4.9"),  # owner compared exactly
    ("bob", "chutes/SGLang:0.4.9"),  # so are name and tag
    ("bob", "sglang"),  # no tag: taken for an id
    ("bob", "alice/custom-ml:1.0"),  # someone else's private image
    ("bob", CUSTOM_ML["image_id"]),
])
def test_what_a_lookup_does_not_find(api: t.Any, user: str, ref: str) -> None:
    assert detail(api.get(f"/images/{ref}", user), 404) == NOT_FOUND


def test_an_own_private_image_by_name_and_tag(api: t.Any) -> None:
    assert ok(api.get("/images/custom-ml:1.0", "alice"))["image_id"] == CUSTOM_ML["image_id"]
    assert ok(api.get("/images/alice/custom-ml:1.0", "alice"))["public"] is False


def test_lookups_are_signed_with_the_images_purpose(api: t.Any) -> None:
    path = f"/images/{SGLANG['image_id']}"
    assert ok(api.signed_send("GET", path, "carol", purpose="images"))["name"] == "sglang"
    assert api.signed_send("GET", path, "carol", purpose="chutes").status_code == 401


def test_listing_own_or_with_public(api: t.Any) -> None:
    own = ok(api.get("/images/", "alice"))
    assert (own["total"], own["page"], own["limit"], own["cord_refs"]) == (1, 0, 25, None)
    assert [i["name"] for i in own["items"]] == ["custom-ml"]
    assert ok(api.get("/images/", "bob"))["total"] == 0
    every = ok(api.get("/images/", "bob", params={"include_public": "True"}))
    assert sorted(i["name"] for i in every["items"]) == ["diffusion", "sglang", "vllm"]
    assert ok(api.get("/images/", "alice", params={"include_public": "true", "name": "L"}))["total"] == 3
    assert ok(api.get("/images/", "alice", params={"include_public": "true", "tag": "0.4"}))["total"] == 1
    paged = ok(api.get("/images/", "alice", params={"include_public": "true", "limit": 2, "page": 1}))
    assert (paged["total"], len(paged["items"]), paged["limit"]) == (4, 2, 2)
    assert ok(api.get("/images/", "alice", params={"limit": 0}))["limit"] == 0  # echoed; 25 used


def test_listing_needs_credentials(api: t.Any) -> None:
    assert detail(api.get("/images/"), 401) == "Can't find a user with that api key in our db :("


# -- deleting -----------------------------------------------------------------------------------------


def test_delete_only_own_unused_images(api: t.Any) -> None:
    assert detail(api.delete(f"/images/{SGLANG['image_id']}", "bob"), 404) == NOT_FOUND  # public, not his
    assert detail(api.delete("/images/custom-ml:1.0", "alice"), 409) == "Image is in use by one or more chutes"
    ok(api.delete(f"/chutes/{next(c for c in api.state()['chutes'] if c['name'] == 'alice-embeddings')['chute_id']}",
                  "alice"))
    assert ok(api.delete("/images/custom-ml:1.0", "alice")) == {"image_id": CUSTOM_ML["image_id"], "deleted": True}
    assert detail(api.get(f"/images/{CUSTOM_ML['image_id']}", "alice"), 404) == NOT_FOUND


def test_fixture_images_come_back_on_reset(api: t.Any) -> None:
    ok(api.delete("/chutes/" + next(c["chute_id"] for c in api.state()["chutes"] if c["name"] == "alice-embeddings"),
                  "alice"))
    ok(api.delete("/images/custom-ml:1.0", "alice"))
    api.reset()
    assert ok(api.get("/images/custom-ml:1.0", "alice"))["status"] == "built and pushed"


# -- building -----------------------------------------------------------------------------------------


def test_a_build_is_queued_then_built_on_the_clock(api: t.Any) -> None:
    settings(api, build_queue_seconds=2, build_seconds=10)
    accepted = build(api, "alice")
    assert accepted.status_code == 202, accepted.text
    row = accepted.json()
    assert row["image_id"] == image_id_for("alice", "echo-base", "0.1")
    assert (row["status"], row["user_id"], row["logo_id"], row["public"]) == (
        "pending build", "7eaf7622-ac49-5697-83f9-dcc368efc0fc", None, False)
    path = f"/images/{row['image_id']}"
    seen = []
    for step in (0, 2, 9, 1):
        api.advance(step)
        image = ok(api.get(path, "alice"))
        seen.append((image["status"], image["build_started_at"] is not None, image["build_completed_at"] is not None))
    assert seen == [("pending build", False, False), ("building", True, False),
                    ("building", True, False), ("built and pushed", True, True)]
    assert ok(api.get("/images/", "alice"))["items"][0]["name"] == "echo-base"  # newest first


def test_build_checks_in_the_real_order(api: t.Any) -> None:
    assert detail(build(api, "alice", username="bob"), 401) == "Cannot make images for users other than yourself!"
    assert detail(build(api, "bob"), 402) == "You must have a balance of >= $50 to create images."  # $40
    api.update_user("bob", permissions=["unlimited_dev"])
    assert build(api, "bob").status_code == 202  # unlimited dev activity skips the balance check
    ok(build(api, "alice"), 202)
    assert detail(build(api, "alice"), 409) == "Image with name='echo-base' and tag='0.1' aready exists"
    # The id is the whole reference lower-cased, so another spelling is the same image.
    assert detail(build(api, "alice", name="Echo-Base"), 409) == "Image with name='Echo-Base' and tag='0.1' aready exists"


def test_at_most_24_image_changes_a_day(api: t.Any) -> None:
    for number in range(24):
        ok(build(api, "alice", tag=f"v{number}"), 202)
    assert detail(build(api, "alice", tag="v24"), 429) == "You many only update/create 24 imagehistorys per 24 hours."
    api.advance(86400)
    ok(build(api, "alice", tag="v24"), 202)


def test_build_form_fields_are_validated(api: t.Any) -> None:
    form = build_form("alice")
    del form["dockerfile"]
    response = api.client.post("/images/", data=form, files={"build_context": ("c.zip", b"x", "application/zip")},
                               headers=auth("alice"))
    assert response.status_code == 422
    assert [(i["type"], i["loc"]) for i in response.json()["detail"]] == [("missing", ["body", "dockerfile"])]
    bad = build(api, "alice", public="maybe")
    assert [(i["type"], i["loc"]) for i in detail(bad, 422)] == [("bool_parsing", ["body", "public"])]


def test_a_build_signed_by_hotkey_hashes_the_multipart_body(api: t.Any) -> None:
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in build_form("carol").items()]
    raw = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="build_context"; '
           f'filename="chute.zip"\r\nContent-Type: application/zip\r\n\r\nPK\r\n--{boundary}--\r\n').encode()
    api.update_user("carol", balance=60)
    headers = {**signed("carol", raw=raw, nonce=int(api.now())),
               "content-type": f"multipart/form-data; boundary={boundary}"}
    response = api.client.post("/images/", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    tampered = api.client.post("/images/", content=raw.replace(b"echo-base", b"echo-bass"), headers=headers)
    assert tampered.status_code == 401


# -- build logs ---------------------------------------------------------------------------------------


def test_the_log_of_a_built_image_is_plain_text(api: t.Any) -> None:
    response = api.get(f"/images/{SGLANG['image_id']}/logs")  # public: no credentials needed
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == f'inline; filename="{SGLANG["image_id"]}.log"'
    lines = response.text.splitlines()
    assert lines[0] == f"Building image chutes/sglang:0.4.9 ({SGLANG['image_id']})"
    assert "STEP 2/3: RUN pip install --no-cache-dir \"sglang[all]==0.4.9\"" in lines
    assert lines[-1].startswith("Pushed chutes/sglang:0.4.9 sha256:")


def test_the_log_of_a_private_image_is_its_owners(api: t.Any) -> None:
    path = f"/images/{CUSTOM_ML['image_id']}/logs"
    assert detail(api.get(path), 404) == NOT_FOUND
    assert detail(api.get(path, "bob"), 404) == NOT_FOUND
    assert api.get(path, "alice").status_code == 200
    assert detail(api.get("/images/no-such-image/logs", "alice"), 404) == NOT_FOUND


def test_the_log_streams_while_building_and_ends_with_done(api: t.Any) -> None:
    """Real time (the clock runs): a one-second build is streamed line by line, then `DONE`."""
    settings(api, build_queue_seconds=0, build_seconds=1)
    api.set_clock(api.now(), frozen=False)
    image_id = ok(build(api, "alice"), 202)["image_id"]
    response = api.get(f"/images/{image_id}/logs", "alice")
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in response.text.split("\n") if line and line != "."]
    assert lines[-1] == "DONE"
    events = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert [e["log"]["log"] for e in events][:2] == [
        f"Building image alice/echo-base:0.1 ({image_id})", "STEP 1/2: FROM parachutes/python:3.12"]
    assert {e["log"]["log_type"] for e in events} == {"stdout", "stderr"}
    assert all(e["offset"].count("-") == 1 for e in events)


def test_a_stream_resumes_after_the_offset_it_was_given(api: t.Any) -> None:
    store = api.client.app.runtimes["chutes"].state
    entries = images.build_log(store, store.images[SGLANG["image_id"]])

    def read(offset: str | None) -> list[bytes]:
        async def collect() -> list[bytes]:
            return [chunk async for chunk in images._log_events(store, entries, offset)]
        return asyncio.run(collect())

    everything = read(None)
    assert everything[-1] == b"DONE\n" and len(everything) == len(entries)
    third = json.loads(everything[2][len(b"data: "):])
    rest = read(third["offset"])
    assert rest == everything[3:]
    assert read("not-an-id") == [b"data: ERROR: Invalid stream ID specified as stream command argument"]
    for past_64_bits in ("9" * 5000, "1-" + "9" * 5000, str(2**64)):  # int() refuses the first two
        assert read(past_64_bits) == [b"data: ERROR: Invalid stream ID specified as stream command argument"]


# -- deploying on images ------------------------------------------------------------------------------


def test_deploy_needs_an_image_it_can_see(api: t.Any) -> None:
    assert detail(api.deploy(chute_args(image="chutes/no-such:1.0"), "bob"), 400) == (
        "Chute image not found, or does not belong to you")
    ok(build(api, "alice"), 202)  # the real server does not wait for the build: a pending image deploys
    chute = ok(api.deploy(chute_args(image="echo-base:0.1"), "alice", accept_fee=True))
    assert chute["image"]["status"] == "pending build"
    assert detail(api.delete("/images/echo-base:0.1", "alice"), 409) == "Image is in use by one or more chutes"


# -- logos and the caller's account -------------------------------------------------------------------


def test_logo_upload(api: t.Any) -> None:
    png = {"logo": ("logo.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    created = ok(api.client.post("/logos/", files=png, headers=auth("alice")))
    assert created["path"] == f"/logos/{created['logo_id']}.webp"
    text = {"logo": ("logo.txt", b"hello", "text/plain")}
    assert detail(api.client.post("/logos/", files=text, headers=auth("alice")), 400) == "Uploaded logo is not an image!"
    built = ok(build(api, "alice", logo_id=created["logo_id"]), 202)
    image = ok(api.get(f"/images/{built['image_id']}", "alice"))
    assert image["logo"] == f"https://logos.chutes.ailogos/{created['logo_id']}.webp"  # sic


@pytest.mark.parametrize(("user", "bitmask", "public"), [("admin", 2048 | 64 | 16, True), ("alice", 0, False),
                                                        ("bob", 16, False)])
def test_users_me(api: t.Any, user: str, bitmask: int, public: bool) -> None:
    me = ok(api.signed_send("GET", "/users/me", user, purpose="me"))
    assert me["username"] == user and me["permissions_bitmask"] == bitmask
    assert ("Allow deploying models publicly." in me["permissions"]) is public
    assert me["hotkey"] == api.user(user)["hotkey"] and me["balance"] == api.user(user)["balance"]
    assert me["coldkey"].startswith("5") and me["payment_address"]


def test_users_me_needs_credentials(api: t.Any) -> None:
    assert api.get("/users/me").status_code == 401
    assert api.signed_send("GET", "/users/me", "alice", purpose="images").status_code == 401
