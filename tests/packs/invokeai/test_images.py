"""Images: real files behind the gallery API, the way InvokeAI 6.8.1 serves them.

Uploads are decoded and stored as PNGs, thumbnails are real WebPs, the DTO carries the true size,
and every list (names, DTO pages, boards) is derived from what was uploaded, starred, moved and
deleted. Bad input gets the real server's status and error body and changes nothing.
"""

from __future__ import annotations

import io
import json
import re
import typing as t
import zipfile

import pytest
from invokeai_support import (
    BOARDS,
    IMAGES,
    TIMESTAMP_RE,
    decoded,
    gallery_state,
    get_board,
    image_dto,
    image_names,
    new_board,
    pattern_png,
    png_bytes,
    same_pixels,
    tick,
    upload,
    upload_form,
    uploaded,
)
from starlette.testclient import TestClient

NOT_FOUND = {"detail": "Not Found"}
CATEGORY_ENUM = "'general', 'mask', 'control', 'user' or 'other'"


def full_of(client: TestClient, name: str) -> t.Any:
    return client.get(f"{IMAGES}i/{name}/full")


# -- upload ---------------------------------------------------------------------------------------


def test_upload_answers_201_with_a_relative_location_and_the_true_dto(client: TestClient) -> None:
    response = upload(client, pattern_png(123, 45), category="user")
    assert response.status_code == 201, response.text
    dto = response.json()
    name = dto["image_name"]
    assert re.fullmatch(r"[0-9a-f-]{36}\.png", name), name
    assert response.headers["location"] == f"api/v1/images/i/{name}/full"
    assert dto == {
        "image_name": name,
        "image_url": f"api/v1/images/i/{name}/full",
        "thumbnail_url": f"api/v1/images/i/{name}/thumbnail",
        "image_origin": "external",
        "image_category": "user",
        "width": 123,
        "height": 45,
        "created_at": dto["created_at"],
        "updated_at": dto["created_at"],
        "deleted_at": None,
        "is_intermediate": False,
        "session_id": None,
        "node_id": None,
        "starred": False,
        "has_workflow": False,
        "board_id": None,
    }
    assert re.fullmatch(TIMESTAMP_RE, dto["created_at"]), dto["created_at"]
    assert dto["created_at"].startswith("2025-11-21 00:00:00.")  # the engine clock, not the wall clock
    assert image_dto(client, name) == dto


def test_uploads_take_the_time_of_the_engine_clock(client: TestClient) -> None:
    tick(client, 3661.5)
    dto = uploaded(client)
    assert dto["created_at"].startswith("2025-11-21 01:01:01.5"), dto["created_at"]


def test_full_serves_the_stored_png_with_the_real_headers(client: TestClient) -> None:
    original = pattern_png(64, 48)
    name = uploaded(client, original)["image_name"]
    response = full_of(client, name)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "max-age=31536000"
    assert response.headers["content-disposition"] == f'inline; filename="{name}"'
    image = decoded(response.content)
    assert (image.format, image.size) == ("PNG", (64, 48))
    assert same_pixels(response.content, original)


def test_each_upload_keeps_its_own_bytes(client: TestClient) -> None:
    red = uploaded(client, png_bytes(20, 10, (255, 0, 0)))["image_name"]
    blue = uploaded(client, png_bytes(10, 20, (0, 0, 255)))["image_name"]
    assert decoded(full_of(client, red).content).getpixel((0, 0)) == (255, 0, 0)
    assert decoded(full_of(client, blue).content).getpixel((0, 0)) == (0, 0, 255)
    assert decoded(full_of(client, blue).content).size == (10, 20)


def test_head_full_answers_the_headers_without_a_body(client: TestClient) -> None:
    name = uploaded(client)["image_name"]
    got = full_of(client, name)
    head = client.head(f"{IMAGES}i/{name}/full")
    assert head.status_code == 200
    assert head.content == b""
    for header in ("content-type", "cache-control", "content-disposition"):
        assert head.headers[header] == got.headers[header]
    assert client.head(f"{IMAGES}i/no-such-image.png/full").status_code == 404


def test_a_jpeg_upload_is_stored_as_a_png(client: TestClient) -> None:
    jpeg = pattern_png(40, 30, fmt="JPEG")
    dto = uploaded(client, jpeg, filename="photo.jpg", content_type="image/jpeg")
    assert dto["image_name"].endswith(".png")
    assert (dto["width"], dto["height"]) == (40, 30)
    full = full_of(client, dto["image_name"])
    assert full.headers["content-type"] == "image/png"
    assert decoded(full.content).format == "PNG"
    assert same_pixels(full.content, jpeg)  # decoded once, stored losslessly


@pytest.mark.parametrize(("size", "thumb"), [((640, 480), (256, 192)), ((100, 400), (64, 256)),
                                             ((300, 300), (256, 256)), ((64, 48), (64, 48))])
def test_the_thumbnail_is_a_real_webp_that_fits_256_keeping_the_aspect(
        client: TestClient, size: tuple[int, int], thumb: tuple[int, int]) -> None:
    name = uploaded(client, pattern_png(*size))["image_name"]
    response = client.get(f"{IMAGES}i/{name}/thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "max-age=31536000"
    image = decoded(response.content)
    assert image.format == "WEBP"
    assert image.size == thumb  # never enlarged: a 64×48 image keeps 64×48, as on the real server


def test_resize_to_resizes_the_stored_image(client: TestClient) -> None:
    small = uploaded(client, pattern_png(64, 48), form={"resize_to": '{"width":32,"height":32}'})
    assert (small["width"], small["height"]) == (32, 32)
    assert decoded(full_of(client, small["image_name"]).content).size == (32, 32)
    thumb = client.get(f"{IMAGES}i/{small['image_name']}/thumbnail")
    assert decoded(thumb.content).size == (32, 32)

    wide = uploaded(client, pattern_png(100, 100), form={"resize_to": json.dumps({"width": 50, "height": 40})})
    assert (wide["width"], wide["height"]) == (50, 40)
    assert image_dto(client, wide["image_name"])["width"] == 50
    assert decoded(full_of(client, wide["image_name"]).content).size == (50, 40)


@pytest.mark.parametrize("resize_to", ['{"width": "32", "height": "24"}', '{"width": 32.0, "height": 24}'])
def test_resize_to_reads_numbers_as_pydantic_does(client: TestClient, resize_to: str) -> None:
    """The real server reads the dimensions with pydantic's lax integers: "32" and 32.0 are 32."""
    dto = uploaded(client, pattern_png(64, 48), form={"resize_to": resize_to})
    assert (dto["width"], dto["height"]) == (32, 24)


def test_crop_visible_crops_to_the_opaque_pixels(client: TestClient) -> None:
    from PIL import Image

    canvas = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    canvas.paste(Image.new("RGBA", (10, 20), (0, 200, 0, 255)), (5, 7))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    data = out.getvalue()

    cropped = uploaded(client, data, crop_visible="true")
    assert (cropped["width"], cropped["height"]) == (10, 20)
    assert decoded(full_of(client, cropped["image_name"]).content).size == (10, 20)
    kept = uploaded(client, data)  # crop_visible defaults to false
    assert (kept["width"], kept["height"]) == (64, 64)


def test_session_id_and_board_id_are_taken_at_upload(client: TestClient) -> None:
    board = new_board(client, "Uploads")
    dto = uploaded(client, session_id="session-42", board_id=board["board_id"])
    assert dto["session_id"] == "session-42"
    assert dto["board_id"] == board["board_id"]
    assert image_dto(client, dto["image_name"])["board_id"] == board["board_id"]
    assert get_board(client, board["board_id"])["image_count"] == 1
    assert client.get(f"{BOARDS}{board['board_id']}/image_names").json() == [dto["image_name"]]


def test_upload_intermediate(client: TestClient) -> None:
    dto = uploaded(client, pattern_png(16, 16), intermediate=True)
    assert dto["is_intermediate"] is True
    assert client.get(f"{IMAGES}intermediates").json() == 1


# -- metadata and workflow ------------------------------------------------------------------------


def test_metadata_round_trips_and_is_null_when_none(client: TestClient) -> None:
    meta = {"positive_prompt": "a test", "seed": 123}
    with_meta = uploaded(client, form={"metadata": json.dumps(meta)}, category="user")
    without = uploaded(client, category="user")
    got = client.get(f"{IMAGES}i/{with_meta['image_name']}/metadata")
    assert got.status_code == 200
    assert got.json() == meta
    none = client.get(f"{IMAGES}i/{without['image_name']}/metadata")
    assert none.status_code == 200
    assert none.json() is None
    for name in (with_meta["image_name"], without["image_name"]):
        workflow = client.get(f"{IMAGES}i/{name}/workflow")
        assert workflow.status_code == 200
        assert workflow.json() == {"workflow": None, "graph": None}
    assert with_meta["has_workflow"] is False


@pytest.mark.parametrize("metadata", ["not json", "[1, 2]", '"just a string"'])
def test_metadata_that_is_not_a_json_object_is_dropped(client: TestClient, metadata: str) -> None:
    """InvokeAI keeps the metadata only when it parses to a JSON object; the upload still succeeds."""
    dto = uploaded(client, form={"metadata": metadata})
    assert client.get(f"{IMAGES}i/{dto['image_name']}/metadata").json() is None


def test_metadata_and_graph_embedded_in_the_png_are_read(client: TestClient) -> None:
    meta = {"positive_prompt": "embedded", "seed": 7}
    graph = {"id": "g", "nodes": {}, "edges": []}
    data = pattern_png(32, 32, pnginfo={"invokeai_metadata": json.dumps(meta), "invokeai_graph": json.dumps(graph)})
    dto = uploaded(client, data)
    name = dto["image_name"]
    assert client.get(f"{IMAGES}i/{name}/metadata").json() == meta
    workflow = client.get(f"{IMAGES}i/{name}/workflow").json()
    assert workflow["workflow"] is None
    assert json.loads(workflow["graph"]) == graph
    assert dto["has_workflow"] is True


def test_the_metadata_form_field_wins_over_the_embedded_one(client: TestClient) -> None:
    data = pattern_png(8, 8, pnginfo={"invokeai_metadata": json.dumps({"seed": 1})})
    dto = uploaded(client, data, form={"metadata": json.dumps({"seed": 2})})
    assert client.get(f"{IMAGES}i/{dto['image_name']}/metadata").json() == {"seed": 2}


def test_the_stored_png_carries_its_metadata(client: TestClient) -> None:
    """InvokeAI writes the metadata into the saved PNG, so a downloaded image can be re-imported."""
    meta = {"positive_prompt": "keep me", "seed": 9}
    name = uploaded(client, form={"metadata": json.dumps(meta)})["image_name"]
    image = decoded(full_of(client, name).content)
    assert json.loads(image.info["invokeai_metadata"]) == meta
    again = uploaded(client, full_of(client, name).content)
    assert client.get(f"{IMAGES}i/{again['image_name']}/metadata").json() == meta


# -- urls, star, update ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no-such-image.png", "anything at all"])
def test_urls_of_any_name_answer_200_without_an_existence_check(client: TestClient, name: str) -> None:
    response = client.get(f"{IMAGES}i/{name}/urls")
    assert response.status_code == 200
    assert response.json() == {"image_name": name, "image_url": f"api/v1/images/i/{name}/full",
                               "thumbnail_url": f"api/v1/images/i/{name}/thumbnail"}


def test_urls_of_an_uploaded_image_match_its_dto(client: TestClient) -> None:
    dto = uploaded(client)
    urls = client.get(f"{IMAGES}i/{dto['image_name']}/urls").json()
    assert urls == {key: dto[key] for key in ("image_name", "image_url", "thumbnail_url")}


def test_star_and_unstar(client: TestClient) -> None:
    dto = uploaded(client)
    name = dto["image_name"]
    tick(client, 2)
    starred = client.post(f"{IMAGES}star", json={"image_names": [name]})
    assert starred.status_code == 200
    assert starred.json() == {"affected_boards": ["none"], "starred_images": [name]}
    after = image_dto(client, name)
    assert after["starred"] is True
    assert after["created_at"] == dto["created_at"]
    assert after["updated_at"].startswith("2025-11-21 00:00:02."), after["updated_at"]
    assert client.get(f"{IMAGES}names").json()["starred_count"] == 1

    unstarred = client.post(f"{IMAGES}unstar", json={"image_names": [name]})
    assert unstarred.status_code == 200
    assert unstarred.json() == {"affected_boards": ["none"], "unstarred_images": [name]}
    assert image_dto(client, name)["starred"] is False
    assert client.get(f"{IMAGES}names").json()["starred_count"] == 0


def test_star_reports_the_boards_of_the_starred_images_and_skips_unknown_names(client: TestClient) -> None:
    board = new_board(client, "Stars")
    inside = uploaded(client, board_id=board["board_id"])["image_name"]
    loose = uploaded(client)["image_name"]
    result = client.post(f"{IMAGES}star", json={"image_names": [inside, loose, "no-such.png"]}).json()
    assert sorted(result["starred_images"]) == sorted([inside, loose])
    assert sorted(result["affected_boards"]) == sorted([board["board_id"], "none"])
    unknown = client.post(f"{IMAGES}star", json={"image_names": ["no-such.png"]})
    assert unknown.status_code == 200
    assert unknown.json() == {"affected_boards": [], "starred_images": []}


def test_patch_updates_starred_category_session_and_intermediate(client: TestClient) -> None:
    board = new_board(client, "Patched")
    dto = uploaded(client, board_id=board["board_id"])
    name = dto["image_name"]
    assert get_board(client, board["board_id"])["image_count"] == 1

    response = client.patch(f"{IMAGES}i/{name}", json={"starred": True})
    assert response.status_code == 200
    assert response.json()["starred"] is True
    assert image_dto(client, name)["starred"] is True

    recategorised = client.patch(f"{IMAGES}i/{name}", json={"image_category": "control"}).json()
    assert recategorised["image_category"] == "control"
    assert recategorised["starred"] is True  # fields not sent stay as they were
    counts = get_board(client, board["board_id"])
    assert (counts["image_count"], counts["asset_count"]) == (0, 1)
    assert image_names(client, categories=["control"]) == [name]

    assert client.patch(f"{IMAGES}i/{name}", json={"session_id": "s-1"}).json()["session_id"] == "s-1"
    assert image_dto(client, name)["session_id"] == "s-1"

    assert client.get(f"{IMAGES}intermediates").json() == 0
    made = client.patch(f"{IMAGES}i/{name}", json={"is_intermediate": True}).json()
    assert made["is_intermediate"] is True
    assert client.get(f"{IMAGES}intermediates").json() == 1
    assert image_names(client, is_intermediate="false") == []


def test_patch_of_an_unknown_image_is_400(client: TestClient) -> None:
    response = client.patch(f"{IMAGES}i/no-such-image.png", json={"starred": True})
    assert response.status_code == 400
    assert response.json() == {"detail": "Failed to update image"}
    assert client.get(f"{IMAGES}i/no-such-image.png").status_code == 404


# -- names and list_image_dtos -------------------------------------------------------------------


@pytest.fixture
def gallery(client: TestClient) -> dict[str, t.Any]:
    """Six images made a second apart (oldest first): a board, categories, an intermediate,
    searchable metadata. Returns the names by role and the board."""
    board = new_board(client, "Gallery")
    made: dict[str, t.Any] = {"board": board}
    specs = [
        ("general_old", {"category": "general", "form": {"metadata": json.dumps({"positive_prompt": "A Red Fox"})}}),
        ("user_in_board", {"category": "user", "board_id": board["board_id"]}),
        ("control", {"category": "control"}),
        ("general_in_board", {"category": "general", "board_id": board["board_id"],
                              "form": {"metadata": json.dumps({"positive_prompt": "blue whale"})}}),
        ("intermediate", {"category": "general", "intermediate": True}),
        ("general_new", {"category": "general"}),
    ]
    for role, kwargs in specs:
        tick(client)
        made[role] = uploaded(client, pattern_png(20, 20), **kwargs)["image_name"]
    return made


def names_result(client: TestClient, **params: t.Any) -> dict:
    response = client.get(f"{IMAGES}names", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_names_default_order_is_newest_first(client: TestClient, gallery: dict) -> None:
    g = gallery
    result = names_result(client)
    assert result == {"image_names": [g["general_new"], g["intermediate"], g["general_in_board"], g["control"],
                                      g["user_in_board"], g["general_old"]],
                      "starred_count": 0, "total_count": 6}


def test_names_order_dir_and_starred_first(client: TestClient, gallery: dict) -> None:
    g = gallery
    client.post(f"{IMAGES}star", json={"image_names": [g["control"], g["general_old"]]})
    starred_first = names_result(client)
    assert starred_first["image_names"] == [g["control"], g["general_old"], g["general_new"], g["intermediate"],
                                            g["general_in_board"], g["user_in_board"]]
    assert starred_first["starred_count"] == 2
    ascending = names_result(client, order_dir="ASC")  # still starred first, each group oldest first
    assert ascending["image_names"] == [g["general_old"], g["control"], g["user_in_board"], g["general_in_board"],
                                        g["intermediate"], g["general_new"]]
    oldest_first = names_result(client, order_dir="ASC", starred_first="false")
    assert oldest_first["image_names"] == [g["general_old"], g["user_in_board"], g["control"],
                                           g["general_in_board"], g["intermediate"], g["general_new"]]
    plain = names_result(client, starred_first="false")
    assert plain["image_names"] == [g["general_new"], g["intermediate"], g["general_in_board"], g["control"],
                                    g["user_in_board"], g["general_old"]]
    assert plain["starred_count"] == 0  # only counted when starred_first
    assert plain["total_count"] == 6


def test_names_filters(client: TestClient, gallery: dict) -> None:
    g = gallery
    board_id = g["board"]["board_id"]
    assert image_names(client, categories=["general"]) == [g["general_new"], g["intermediate"],
                                                           g["general_in_board"], g["general_old"]]
    assert image_names(client, categories=["user", "control", "mask", "other"]) == [g["control"], g["user_in_board"]]
    assert image_names(client, is_intermediate="true") == [g["intermediate"]]
    assert g["intermediate"] not in image_names(client, is_intermediate="false")
    assert image_names(client, board_id=board_id) == [g["general_in_board"], g["user_in_board"]]
    assert image_names(client, board_id="none") == [g["general_new"], g["intermediate"], g["control"],
                                                    g["general_old"]]
    assert image_names(client, board_id="none", categories=["general"], is_intermediate="false") == [
        g["general_new"], g["general_old"]]
    assert image_names(client, image_origin="external") == image_names(client)
    assert image_names(client, image_origin="internal") == []
    result = names_result(client, board_id=board_id)
    assert result["total_count"] == 2


def test_names_search_term_matches_metadata_and_creation_time(client: TestClient, gallery: dict) -> None:
    g = gallery
    assert image_names(client, search_term="red fox") == [g["general_old"]]
    assert image_names(client, search_term="WHALE") == [g["general_in_board"]]
    assert image_names(client, search_term="no such words") == []
    assert len(image_names(client, search_term="2025-11-21")) == 6
    assert names_result(client, search_term="fox")["total_count"] == 1


def list_page(client: TestClient, **params: t.Any) -> dict:
    response = client.get(IMAGES, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_list_image_dtos_pages_and_filters_like_names(client: TestClient, gallery: dict) -> None:
    g = gallery
    default = list_page(client)
    assert (default["limit"], default["offset"], default["total"]) == (10, 0, 6)
    assert [item["image_name"] for item in default["items"]] == image_names(client)
    assert default["items"][0] == image_dto(client, g["general_new"])

    page = list_page(client, offset=1, limit=2)
    assert (page["limit"], page["offset"], page["total"]) == (2, 1, 6)
    assert [item["image_name"] for item in page["items"]] == [g["intermediate"], g["general_in_board"]]
    assert list_page(client, offset=5, limit=5)["items"][0]["image_name"] == g["general_old"]
    assert list_page(client, offset=6, limit=5)["items"] == []

    assets = list_page(client, offset=0, limit=1, categories=["user", "control", "mask", "other"])
    assert assets["total"] == 2
    assert [item["image_name"] for item in assets["items"]] == [g["control"]]

    board = list_page(client, board_id=g["board"]["board_id"])
    assert board["total"] == 2
    assert {item["board_id"] for item in board["items"]} == {g["board"]["board_id"]}
    assert [item["image_name"] for item in list_page(client, board_id="none", is_intermediate="false")["items"]] == [
        g["general_new"], g["control"], g["general_old"]]
    assert [item["image_name"] for item in list_page(client, order_dir="ASC", limit=2)["items"]] == [
        g["general_old"], g["user_in_board"]]
    assert [item["image_name"] for item in list_page(client, search_term="whale")["items"]] == [g["general_in_board"]]
    assert list_page(client, image_origin="internal")["total"] == 0


def test_list_image_dtos_puts_starred_first_unless_asked_not_to(client: TestClient, gallery: dict) -> None:
    g = gallery
    client.post(f"{IMAGES}star", json={"image_names": [g["general_old"]]})
    assert list_page(client, limit=1)["items"][0]["image_name"] == g["general_old"]
    assert list_page(client, limit=1)["items"][0]["starred"] is True
    assert list_page(client, limit=1, starred_first="false")["items"][0]["image_name"] == g["general_new"]


def test_images_by_names_keeps_the_requested_order_and_skips_missing(client: TestClient, gallery: dict) -> None:
    g = gallery
    wanted = [g["control"], "missing.png", g["general_new"], g["general_old"]]
    response = client.post(f"{IMAGES}images_by_names", json={"image_names": wanted})
    assert response.status_code == 200
    assert [dto["image_name"] for dto in response.json()] == [g["control"], g["general_new"], g["general_old"]]
    assert response.json()[0] == image_dto(client, g["control"])
    assert client.post(f"{IMAGES}images_by_names", json={"image_names": []}).json() == []


# -- intermediates, delete ------------------------------------------------------------------------


def test_intermediates_count_and_clear(client: TestClient) -> None:
    board = new_board(client, "Mixed")
    kept = uploaded(client)["image_name"]
    first = uploaded(client, intermediate=True)["image_name"]
    second = uploaded(client, intermediate=True, board_id=board["board_id"])["image_name"]
    assert client.get(f"{IMAGES}intermediates").json() == 2

    cleared = client.delete(f"{IMAGES}intermediates")
    assert cleared.status_code == 200
    assert cleared.json() == 2
    assert client.get(f"{IMAGES}intermediates").json() == 0
    assert image_names(client) == [kept]
    for name in (first, second):
        assert client.get(f"{IMAGES}i/{name}").status_code == 404
        assert full_of(client, name).status_code == 404
    assert client.get(f"{BOARDS}{board['board_id']}/image_names").json() == []
    assert client.delete(f"{IMAGES}intermediates").json() == 0


def test_delete_one_image_removes_record_and_files(client: TestClient) -> None:
    dto = uploaded(client)
    name = dto["image_name"]
    other = uploaded(client)["image_name"]
    response = client.delete(f"{IMAGES}i/{name}")
    assert response.status_code == 200
    assert response.json() == {"affected_boards": ["none"], "deleted_images": [name]}
    for suffix in ("", "/full", "/thumbnail", "/metadata", "/workflow"):
        gone = client.get(f"{IMAGES}i/{name}{suffix}")
        assert gone.status_code == 404, suffix
        assert gone.json() == NOT_FOUND
    assert image_names(client) == [other]
    again = client.delete(f"{IMAGES}i/{name}")
    assert again.status_code == 200
    assert again.json() == {"affected_boards": [], "deleted_images": []}


def test_deleting_an_image_in_a_board_updates_the_board(client: TestClient) -> None:
    board = new_board(client, "Shrinks")
    board_id = board["board_id"]
    tick(client)
    older = uploaded(client, board_id=board_id)["image_name"]
    tick(client)
    newer = uploaded(client, board_id=board_id)["image_name"]
    before = get_board(client, board_id)
    assert (before["image_count"], before["cover_image_name"]) == (2, newer)

    result = client.delete(f"{IMAGES}i/{newer}").json()
    assert result == {"affected_boards": [board_id], "deleted_images": [newer]}
    after = get_board(client, board_id)
    assert (after["image_count"], after["cover_image_name"]) == (1, older)
    assert client.get(f"{BOARDS}{board_id}/image_names").json() == [older]

    client.delete(f"{IMAGES}i/{older}")
    empty = get_board(client, board_id)
    assert (empty["image_count"], empty["asset_count"], empty["cover_image_name"]) == (0, 0, None)


def test_delete_images_from_a_list(client: TestClient) -> None:
    board = new_board(client, "List")
    inside = uploaded(client, board_id=board["board_id"], category="user")["image_name"]
    loose = uploaded(client)["image_name"]
    kept = uploaded(client)["image_name"]
    response = client.post(f"{IMAGES}delete", json={"image_names": [inside, loose, "missing.png"]})
    assert response.status_code == 200
    result = response.json()
    assert sorted(result["deleted_images"]) == sorted([inside, loose])
    assert sorted(result["affected_boards"]) == sorted([board["board_id"], "none"])
    assert image_names(client) == [kept]
    assert get_board(client, board["board_id"])["asset_count"] == 0


def test_delete_uncategorized_deletes_only_images_without_a_board(client: TestClient) -> None:
    board = new_board(client, "Safe")
    inside = uploaded(client, board_id=board["board_id"])["image_name"]
    loose = uploaded(client)["image_name"]
    loose_intermediate = uploaded(client, intermediate=True)["image_name"]
    response = client.delete(f"{IMAGES}uncategorized")
    assert response.status_code == 200
    result = response.json()
    assert sorted(result["deleted_images"]) == sorted([loose, loose_intermediate])
    assert result["affected_boards"] == ["none"]
    assert image_names(client) == [inside]
    assert get_board(client, board["board_id"])["image_count"] == 1
    assert client.delete(f"{IMAGES}uncategorized").json() == {"affected_boards": [], "deleted_images": []}


# -- bulk download --------------------------------------------------------------------------------


def fetch_zip(client: TestClient, body: dict) -> tuple[str, zipfile.ZipFile, t.Any]:
    started = client.post(f"{IMAGES}download", json=body)
    assert started.status_code == 202, started.text
    answer = started.json()
    assert answer["response"] is None
    item = answer["bulk_download_item_name"]
    assert item.endswith(".zip")
    got = client.get(f"{IMAGES}download/{item}")
    assert got.status_code == 200, got.text
    return item, zipfile.ZipFile(io.BytesIO(got.content)), got


def test_bulk_download_of_named_images_is_a_real_zip(client: TestClient) -> None:
    first = uploaded(client, pattern_png(30, 20), category="user")["image_name"]
    second = uploaded(client, pattern_png(10, 40), category="general")["image_name"]
    uploaded(client)  # not asked for
    item, archive, response = fetch_zip(client, {"image_names": [first, second]})
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'inline; filename="{item}"'
    assert sorted(archive.namelist()) == sorted([f"user/{first}", f"general/{second}"])
    assert archive.read(f"user/{first}") == full_of(client, first).content
    assert archive.read(f"general/{second}") == full_of(client, second).content
    assert decoded(archive.read(f"general/{second}")).size == (10, 40)


def test_bulk_download_of_a_board(client: TestClient) -> None:
    board = new_board(client, "Zip me")
    inside = [uploaded(client, pattern_png(12, 12), board_id=board["board_id"])["image_name"] for _ in range(2)]
    uploaded(client)  # outside the board
    _, archive, _ = fetch_zip(client, {"board_id": board["board_id"]})
    assert sorted(archive.namelist()) == sorted(f"general/{name}" for name in inside)
    for name in inside:
        assert archive.read(f"general/{name}") == full_of(client, name).content


@pytest.mark.parametrize("body", [{}, {"image_names": []}, {"image_names": None, "board_id": None}])
def test_bulk_download_of_nothing_is_400(client: TestClient, body: dict) -> None:
    response = client.post(f"{IMAGES}download", json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": "No images or board id specified."}


def test_an_unknown_bulk_download_item_is_404(client: TestClient) -> None:
    response = client.get(f"{IMAGES}download/no-such-item.zip")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# -- other image endpoints ------------------------------------------------------------------------


def test_create_image_upload_entry_is_not_implemented(client: TestClient) -> None:
    before = gallery_state(client)
    response = client.post(IMAGES, json={"width": 64, "height": 64})
    assert response.status_code == 501
    assert response.json() == {"detail": "Not implemented"}
    assert gallery_state(client) == before


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/metadata", "/full", "/thumbnail", "/workflow"])
def test_an_unknown_image_is_404_not_found(client: TestClient, suffix: str) -> None:
    uploaded(client)
    response = client.get(f"{IMAGES}i/no-such-image.png{suffix}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


TRAVERSALS = [
    "..%2F..%2Fetc%2Fpasswd",
    "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2F%2e%2e%2Fetc%2Fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "%2Fetc%2Fpasswd",
    "%2e%2e",
]


@pytest.mark.parametrize("name", TRAVERSALS)
@pytest.mark.parametrize("suffix", ["", "/full", "/thumbnail", "/metadata", "/workflow"])
def test_path_traversal_names_are_refused_without_reading_files(client: TestClient, name: str, suffix: str) -> None:
    uploaded(client)
    before = gallery_state(client)
    response = client.get(f"{IMAGES}i/{name}{suffix}")
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert b"root:" not in response.content
    assert b"[fonts]" not in response.content
    head = client.head(f"{IMAGES}i/{name}/full")
    assert 400 <= head.status_code < 500
    deleted = client.delete(f"{IMAGES}i/{name}")
    assert deleted.status_code < 500
    assert gallery_state(client) == before


def test_raw_dot_dot_paths_do_not_reach_a_file(client: TestClient) -> None:
    for path in (f"{IMAGES}i/../x.png", f"{IMAGES}i/../x.png/full", f"{IMAGES}i/../../../../etc/passwd/full",
                 f"{IMAGES}i/x/../../../../etc/passwd"):
        response = client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert b"root:" not in response.content


def test_a_real_file_outside_the_store_cannot_be_fetched(client: TestClient, tmp_path: t.Any) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(pattern_png(9, 9))
    relative = "..%2F" * 12 + str(secret).lstrip("/").replace("/", "%2F")
    for name in (relative, str(secret).replace("/", "%2F"), secret.name):
        for suffix in ("/full", "/thumbnail"):
            response = client.get(f"{IMAGES}i/{name}{suffix}")
            assert 400 <= response.status_code < 500, (name, suffix, response.status_code)
            assert response.content != secret.read_bytes()


def test_upload_of_a_non_image_content_type_is_415(client: TestClient) -> None:
    before = gallery_state(client)
    response = upload(client, b"hello", filename="t.txt", content_type="text/plain", category="user")
    assert response.status_code == 415
    assert response.json() == {"detail": "Not an image"}
    assert gallery_state(client) == before


def test_upload_of_corrupt_bytes_is_415(client: TestClient) -> None:
    before = gallery_state(client)
    response = upload(client, b"not a png", filename="t.png", content_type="image/png", category="user")
    assert response.status_code == 415
    assert response.json() == {"detail": "Failed to read image"}
    assert gallery_state(client) == before


@pytest.mark.parametrize("resize_to", ["nope", "[32, 32]", '{"width": 0, "height": 10}', '{"width": -5, "height": 10}',
                                       '{"width": 32}', '{"width": 5000, "height": 5000}',
                                       '{"width": "a", "height": 3}', '{"width": 32.5, "height": 3}',
                                       '{"width": true, "height": 3}'])
def test_bad_resize_to_is_400(client: TestClient, resize_to: str) -> None:
    before = gallery_state(client)
    response = upload_form(client, form={"resize_to": resize_to}, category="user")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid resize_to format or size"}
    assert gallery_state(client) == before


def test_upload_without_file_and_parameters_is_422(client: TestClient) -> None:
    response = client.post(f"{IMAGES}upload")
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "missing", "loc": ["query", "image_category"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["query", "is_intermediate"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None},
    ]}
    assert image_names(client) == []


def test_upload_with_a_bad_category_and_flag_is_422(client: TestClient) -> None:
    files = {"file": ("t.png", png_bytes(), "image/png")}
    response = client.post(f"{IMAGES}upload", params={"image_category": "bogus", "is_intermediate": "maybe"},
                           files=files)
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "enum", "loc": ["query", "image_category"], "msg": f"Input should be {CATEGORY_ENUM}",
         "input": "bogus", "ctx": {"expected": CATEGORY_ENUM}},
        {"type": "bool_parsing", "loc": ["query", "is_intermediate"],
         "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"},
    ]}
    assert image_names(client) == []


def test_list_with_a_non_integer_limit_is_422(client: TestClient) -> None:
    response = client.get(IMAGES, params={"limit": "abc"})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "int_parsing", "loc": ["query", "limit"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"},
    ]}


def test_list_with_a_bad_category_is_422(client: TestClient) -> None:
    response = client.get(IMAGES, params={"categories": ["bogus"]})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "enum", "loc": ["query", "categories", 0], "msg": f"Input should be {CATEGORY_ENUM}",
         "input": "bogus", "ctx": {"expected": CATEGORY_ENUM}},
    ]}


@pytest.mark.parametrize(("path", "param"), [(IMAGES, "order_dir"), (f"{IMAGES}names", "order_dir"),
                                             (IMAGES, "image_origin"), (f"{IMAGES}names", "image_origin")])
def test_bad_enums_on_lists_are_422_with_their_loc(client: TestClient, path: str, param: str) -> None:
    response = client.get(path, params={param: "sideways"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["type"], d["loc"], d["input"]) for d in detail] == [("enum", ["query", param], "sideways")]


@pytest.mark.parametrize(("kwargs", "detail"), [
    ({}, [{"type": "missing", "loc": ["body", "image_names"], "msg": "Field required", "input": None}]),
    ({"json": {"image_names": "NAME"}},
     [{"type": "list_type", "loc": ["body", "image_names"], "msg": "Input should be a valid list", "input": "NAME"}]),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}},
     [{"type": "json_invalid", "loc": ["body", 1], "msg": "JSON decode error", "input": {},
       "ctx": {"error": "Expecting property name enclosed in double quotes"}}]),
], ids=["missing", "list_type", "json_invalid"])
def test_star_with_a_bad_body_is_422_and_changes_nothing(client: TestClient, kwargs: dict, detail: list) -> None:
    name = uploaded(client)["image_name"]
    before = gallery_state(client)
    if "json" in kwargs:
        kwargs = {"json": {"image_names": name}}
        detail = [{**detail[0], "input": name}]
    response = client.post(f"{IMAGES}star", **kwargs)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}
    assert gallery_state(client) == before
    assert image_dto(client, name)["starred"] is False


def test_patch_with_a_bad_category_is_422_and_changes_nothing(client: TestClient) -> None:
    name = uploaded(client)["image_name"]
    before = gallery_state(client)
    response = client.patch(f"{IMAGES}i/{name}", json={"image_category": "bogus"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "image_category"]
    assert detail[0]["input"] == "bogus"
    assert gallery_state(client) == before


def test_delete_with_a_malformed_list_changes_nothing(client: TestClient) -> None:
    uploaded(client)
    before = gallery_state(client)
    response = client.post(f"{IMAGES}delete", json={"image_names": "everything"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "list_type"
    assert gallery_state(client) == before
