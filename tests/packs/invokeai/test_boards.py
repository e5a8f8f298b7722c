"""Boards and board_images: create, list, update, archive, delete, and the counts, cover and names
that follow the images moved in and out, the way InvokeAI 6.8.1 answers them.

Where the real server has a defect the mock answers what the spec means: PATCH of an unknown board
is 404 `Board not found` (real: 500), the paged list's `total` is the true total (real: the page
size), and an explicit `cover_image_name` is the cover (the real DTO always shows the newest
image). Like the real server, `is_private` is null in create/get/update and false in lists.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from invokeai_support import (
    BOARDS,
    IMAGES,
    TIMESTAMP_RE,
    gallery_state,
    get_board,
    image_dto,
    image_names,
    new_board,
    tick,
    uploaded,
)
from starlette.testclient import TestClient

BOARD_NOT_FOUND = {"detail": "Board not found"}
BOARD_IMAGES = "/api/v1/board_images/"


def all_boards(client: TestClient, **params: t.Any) -> list[dict]:
    response = client.get(BOARDS, params={"all": "true", **params})
    assert response.status_code == 200, response.text
    return response.json()


def names_of(boards: list[dict]) -> list[str]:
    return [board["board_name"] for board in boards]


def board_image_names(client: TestClient, board_id: str, **params: t.Any) -> list[str]:
    response = client.get(f"{BOARDS}{board_id}/image_names", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def counts(client: TestClient, board_id: str) -> tuple[int, int]:
    board = get_board(client, board_id)
    return board["image_count"], board["asset_count"]


# -- create and get -------------------------------------------------------------------------------


def test_create_answers_201_with_an_empty_board(client: TestClient) -> None:
    response = client.post(BOARDS, params={"board_name": "Test Board"})
    assert response.status_code == 201
    board = response.json()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", board["board_id"])
    assert board == {
        "board_id": board["board_id"],
        "board_name": "Test Board",
        "created_at": board["created_at"],
        "updated_at": board["created_at"],
        "deleted_at": None,
        "cover_image_name": None,
        "archived": False,
        "is_private": None,
        "image_count": 0,
        "asset_count": 0,
        "video_count": 0,
    }
    assert re.fullmatch(TIMESTAMP_RE, board["created_at"])
    assert board["created_at"].startswith("2025-11-21 00:00:00.")
    assert get_board(client, board["board_id"]) == board


def test_is_private_is_null_on_single_boards_and_false_in_lists(client: TestClient) -> None:
    """Seq 15-17, 22, 23, 43: the real BoardDTO leaves `is_private` unset (null) where one board is
    answered; lists read the column, false."""
    made = client.post(BOARDS, params={"board_name": "Second", "is_private": "true"})
    assert made.status_code == 201
    board_id = made.json()["board_id"]
    assert made.json()["is_private"] is None
    assert get_board(client, board_id)["is_private"] is None
    assert all_boards(client)[0]["is_private"] is False
    paged = client.get(BOARDS, params={"offset": 0, "limit": 5}).json()
    assert paged["items"][0]["is_private"] is False
    updated = client.patch(f"{BOARDS}{board_id}", json={"board_name": "Renamed"})
    assert updated.json()["is_private"] is None


def test_get_an_unknown_board_is_404(client: TestClient) -> None:
    response = client.get(f"{BOARDS}no-such-board")
    assert response.status_code == 404
    assert response.json() == BOARD_NOT_FOUND


def test_create_without_a_name_is_422(client: TestClient) -> None:
    response = client.post(BOARDS)
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "missing", "loc": ["query", "board_name"], "msg": "Field required", "input": None}]}
    assert all_boards(client, include_archived="true") == []


def test_a_name_over_300_characters_is_422_and_300_is_fine(client: TestClient) -> None:
    long_name = "x" * 301
    response = client.post(BOARDS, params={"board_name": long_name})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "string_too_long", "loc": ["query", "board_name"], "msg": "String should have at most 300 characters",
         "input": long_name, "ctx": {"max_length": 300}}]}
    assert all_boards(client, include_archived="true") == []
    assert new_board(client, "y" * 300)["board_name"] == "y" * 300


# -- list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"offset": 0}, {"limit": 10}, {"all": "false"},
                                    {"order_by": "board_name"}])
def test_list_needs_all_or_both_offset_and_limit(client: TestClient, params: dict) -> None:
    new_board(client, "Any")
    response = client.get(BOARDS, params=params)
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid request: Must provide either 'all' or both 'offset' and 'limit'"}


def test_list_all_is_newest_first_by_default(client: TestClient) -> None:
    assert all_boards(client) == []
    first = new_board(client, "Test Board")
    tick(client)
    second = new_board(client, "Second")
    listed = all_boards(client)
    assert [board["board_id"] for board in listed] == [second["board_id"], first["board_id"]]
    assert listed[0] == {**get_board(client, second["board_id"]), "is_private": False}  # lists: false


def test_list_order_by_and_direction(client: TestClient) -> None:
    for name in ("bravo", "Charlie", "alpha"):
        new_board(client, name)
        tick(client)
    assert names_of(all_boards(client)) == ["alpha", "Charlie", "bravo"]
    assert names_of(all_boards(client, order_by="created_at", direction="ASC")) == ["bravo", "Charlie", "alpha"]
    assert names_of(all_boards(client, order_by="board_name", direction="ASC")) == ["alpha", "bravo", "Charlie"]
    assert names_of(all_boards(client, order_by="board_name", direction="DESC")) == ["Charlie", "bravo", "alpha"]
    paged = client.get(BOARDS, params={"offset": 0, "limit": 2, "order_by": "board_name", "direction": "ASC"})
    assert names_of(paged.json()["items"]) == ["alpha", "bravo"]


def test_paged_list_has_the_true_total(client: TestClient) -> None:
    for name in ("one", "two", "three"):
        new_board(client, name)
        tick(client)
    first = client.get(BOARDS, params={"offset": 0, "limit": 1})
    assert first.status_code == 200
    assert first.json()["limit"] == 1 and first.json()["offset"] == 0
    assert first.json()["total"] == 3  # the real server says 1 here (a defect)
    assert names_of(first.json()["items"]) == ["three"]
    second = client.get(BOARDS, params={"offset": 1, "limit": 1}).json()
    assert names_of(second["items"]) == ["two"]
    assert second["total"] == 3
    rest = client.get(BOARDS, params={"offset": 1, "limit": 10}).json()
    assert names_of(rest["items"]) == ["two", "one"]
    assert client.get(BOARDS, params={"offset": 3, "limit": 10}).json()["items"] == []


def test_archived_boards_are_hidden_unless_asked_for(client: TestClient) -> None:
    kept = new_board(client, "Kept")
    tick(client)
    archived = new_board(client, "Archived")
    response = client.patch(f"{BOARDS}{archived['board_id']}", json={"archived": True})
    assert response.status_code == 201
    assert response.json()["archived"] is True
    assert [b["board_id"] for b in all_boards(client)] == [kept["board_id"]]
    assert [b["board_id"] for b in all_boards(client, include_archived="true")] == [archived["board_id"],
                                                                                    kept["board_id"]]
    paged = client.get(BOARDS, params={"offset": 0, "limit": 10}).json()
    assert [b["board_id"] for b in paged["items"]] == [kept["board_id"]]
    assert paged["total"] == 1
    paged_all = client.get(BOARDS, params={"offset": 0, "limit": 10, "include_archived": "true"}).json()
    assert paged_all["total"] == 2
    assert get_board(client, archived["board_id"])["archived"] is True  # still readable by id

    client.patch(f"{BOARDS}{archived['board_id']}", json={"archived": False})
    assert len(all_boards(client)) == 2


@pytest.mark.parametrize(("param", "value"), [("order_by", "size"), ("direction", "UP")])
def test_list_with_a_bad_enum_is_422(client: TestClient, param: str, value: str) -> None:
    response = client.get(BOARDS, params={"all": "true", param: value})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["type"], d["loc"], d["input"]) for d in detail] == [("enum", ["query", param], value)]


def test_list_with_a_non_integer_limit_is_422(client: TestClient) -> None:
    response = client.get(BOARDS, params={"offset": 0, "limit": "ten"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "int_parsing"
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


# -- update ---------------------------------------------------------------------------------------


def test_update_name_answers_201_and_moves_updated_at(client: TestClient) -> None:
    board = new_board(client, "Test Board")
    tick(client, 5)
    response = client.patch(f"{BOARDS}{board['board_id']}", json={"board_name": "Renamed Board"})
    assert response.status_code == 201
    updated = response.json()
    assert updated["board_name"] == "Renamed Board"
    assert updated["created_at"] == board["created_at"]
    assert updated["updated_at"].startswith("2025-11-21 00:00:05"), updated["updated_at"]
    assert get_board(client, board["board_id"])["board_name"] == "Renamed Board"
    assert names_of(all_boards(client)) == ["Renamed Board"]


def test_update_of_an_unknown_board_is_404(client: TestClient) -> None:
    response = client.patch(f"{BOARDS}no-such-board", json={"board_name": "x"})
    assert response.status_code == 404  # the real server answers 500 "Failed to update board" (a defect)
    assert response.json() == BOARD_NOT_FOUND
    assert all_boards(client, include_archived="true") == []


@pytest.mark.parametrize("known", [True, False], ids=["known board", "unknown board"])
def test_update_with_another_field_is_422_extra_forbidden(client: TestClient, known: bool) -> None:
    board = new_board(client, "Strict")
    board_id = board["board_id"] if known else "no-such-board"
    before = gallery_state(client)
    response = client.patch(f"{BOARDS}{board_id}", json={"bogus": 1})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "extra_forbidden", "loc": ["body", "bogus"], "msg": "Extra inputs are not permitted", "input": 1}]}
    mixed = client.patch(f"{BOARDS}{board['board_id']}", json={"board_name": "Changed", "image_count": 5})
    assert mixed.status_code == 422
    assert mixed.json()["detail"][0]["type"] == "extra_forbidden"
    assert gallery_state(client) == before


@pytest.mark.parametrize("known", [True, False], ids=["known board", "unknown board"])
def test_update_with_a_wrong_type_is_422_bool_parsing(client: TestClient, known: bool) -> None:
    board = new_board(client, "Strict")
    board_id = board["board_id"] if known else "no-such-board"
    before = gallery_state(client)
    response = client.patch(f"{BOARDS}{board_id}", json={"archived": "maybe"})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "bool_parsing", "loc": ["body", "archived"],
         "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}]}
    assert gallery_state(client) == before


def test_update_with_a_long_name_or_malformed_json_is_422(client: TestClient) -> None:
    board = new_board(client, "Strict")
    before = gallery_state(client)
    too_long = client.patch(f"{BOARDS}{board['board_id']}", json={"board_name": "z" * 301})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["type"] == "string_too_long"
    assert too_long.json()["detail"][0]["loc"] == ["body", "board_name"]
    malformed = client.patch(f"{BOARDS}{board['board_id']}", content=b"{not json",
                             headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    assert gallery_state(client) == before


# -- counts and cover -----------------------------------------------------------------------------


def test_counts_follow_the_categories_of_the_images_in_the_board(client: TestClient) -> None:
    """InvokeAI counts `general` images as images and `user`, `control`, `mask`, `other` as assets."""
    board_id = new_board(client, "Counted")["board_id"]
    other_board = new_board(client, "Elsewhere")["board_id"]
    uploaded(client, category="general", board_id=board_id)
    assert counts(client, board_id) == (1, 0)
    uploaded(client, category="user", board_id=board_id)
    assert counts(client, board_id) == (1, 1)
    for category in ("control", "mask", "other"):
        uploaded(client, category=category, board_id=board_id)
    assert counts(client, board_id) == (1, 4)
    uploaded(client, category="general")  # no board
    uploaded(client, category="general", board_id=other_board)
    assert counts(client, board_id) == (1, 4)
    assert counts(client, other_board) == (1, 0)
    listed = {board["board_id"]: board for board in all_boards(client)}
    assert (listed[board_id]["image_count"], listed[board_id]["asset_count"]) == (1, 4)
    paged = client.get(BOARDS, params={"offset": 0, "limit": 10}).json()
    assert {b["board_id"]: b["asset_count"] for b in paged["items"]}[board_id] == 4
    assert get_board(client, board_id)["video_count"] == 0


def test_intermediate_images_are_neither_counted_nor_the_cover(client: TestClient) -> None:
    board_id = new_board(client, "Quiet")["board_id"]
    shown = uploaded(client, board_id=board_id)["image_name"]
    tick(client)
    uploaded(client, board_id=board_id, intermediate=True)
    board = get_board(client, board_id)
    assert (board["image_count"], board["cover_image_name"]) == (1, shown)


def test_the_cover_is_the_newest_image_starred_first(client: TestClient) -> None:
    board_id = new_board(client, "Covered")["board_id"]
    assert get_board(client, board_id)["cover_image_name"] is None
    tick(client)
    older = uploaded(client, board_id=board_id, category="user")["image_name"]
    assert get_board(client, board_id)["cover_image_name"] == older
    tick(client)
    newer = uploaded(client, board_id=board_id, category="user")["image_name"]
    assert get_board(client, board_id)["cover_image_name"] == newer
    client.post(f"{IMAGES}star", json={"image_names": [older]})
    assert get_board(client, board_id)["cover_image_name"] == older  # as recorded on the real server
    assert all_boards(client)[0]["cover_image_name"] == older


def test_the_cover_is_the_newest_image_even_after_a_cover_is_chosen(client: TestClient) -> None:
    """InvokeAI 6.8 keeps a PATCHed cover_image_name but shows the board's most recent image
    (starred first) as its cover."""
    board_id = new_board(client, "Chosen")["board_id"]
    tick(client)
    chosen = uploaded(client, board_id=board_id)["image_name"]
    tick(client)
    newest = uploaded(client, board_id=board_id)["image_name"]
    response = client.patch(f"{BOARDS}{board_id}", json={"cover_image_name": chosen})
    assert response.status_code == 201
    assert response.json()["cover_image_name"] == newest
    assert get_board(client, board_id)["cover_image_name"] == newest
    assert all_boards(client)[0]["cover_image_name"] == newest
    client.post(f"{IMAGES}star", json={"image_names": [chosen]}).raise_for_status()
    assert get_board(client, board_id)["cover_image_name"] == chosen


# -- delete ---------------------------------------------------------------------------------------


def test_delete_board_keeps_its_images_uncategorized(client: TestClient) -> None:
    board_id = new_board(client, "Temporary")["board_id"]
    inside = sorted(uploaded(client, board_id=board_id)["image_name"] for _ in range(2))
    loose = uploaded(client)["image_name"]
    response = client.delete(f"{BOARDS}{board_id}")
    assert response.status_code == 200
    result = response.json()
    assert result["board_id"] == board_id
    assert sorted(result["deleted_board_images"]) == inside
    assert result["deleted_images"] == []
    got = client.get(f"{BOARDS}{board_id}")
    assert got.status_code == 404
    assert got.json() == BOARD_NOT_FOUND
    assert all_boards(client, include_archived="true") == []
    for name in inside:
        assert image_dto(client, name)["board_id"] is None
    assert sorted(image_names(client, board_id="none")) == sorted([*inside, loose])
    assert sorted(board_image_names(client, "none")) == sorted([*inside, loose])


def test_delete_board_with_its_images(client: TestClient) -> None:
    board_id = new_board(client, "Doomed")["board_id"]
    other_id = new_board(client, "Survivor")["board_id"]
    inside = sorted(uploaded(client, board_id=board_id, category=c)["image_name"] for c in ("general", "user"))
    kept = uploaded(client, board_id=other_id)["image_name"]
    loose = uploaded(client)["image_name"]
    response = client.delete(f"{BOARDS}{board_id}", params={"include_images": "true"})
    assert response.status_code == 200
    result = response.json()
    assert result["board_id"] == board_id
    assert result["deleted_board_images"] == []
    assert sorted(result["deleted_images"]) == inside
    for name in inside:
        assert client.get(f"{IMAGES}i/{name}").status_code == 404
        assert client.get(f"{IMAGES}i/{name}/full").status_code == 404
    assert sorted(image_names(client)) == sorted([kept, loose])
    assert counts(client, other_id) == (1, 0)


def test_delete_an_empty_or_unknown_board(client: TestClient) -> None:
    board_id = new_board(client, "Empty")["board_id"]
    empty = client.delete(f"{BOARDS}{board_id}", params={"include_images": "true"})
    assert empty.status_code == 200
    assert empty.json() == {"board_id": board_id, "deleted_board_images": [], "deleted_images": []}
    unknown = client.delete(f"{BOARDS}no-such-board")
    assert unknown.status_code == 200
    assert unknown.json() == {"board_id": "no-such-board", "deleted_board_images": [], "deleted_images": []}


# -- board image names ----------------------------------------------------------------------------


def test_board_image_names_and_none(client: TestClient) -> None:
    board_id = new_board(client, "Named")["board_id"]
    assert board_image_names(client, board_id) == []
    general = uploaded(client, board_id=board_id, category="general")["image_name"]
    user = uploaded(client, board_id=board_id, category="user")["image_name"]
    hidden = uploaded(client, board_id=board_id, intermediate=True)["image_name"]
    loose = uploaded(client)["image_name"]
    loose_user = uploaded(client, category="user")["image_name"]
    assert sorted(board_image_names(client, board_id)) == sorted([general, user, hidden])
    assert sorted(board_image_names(client, board_id, categories=["user"])) == [user]
    assert sorted(board_image_names(client, board_id, categories=["general", "user"], is_intermediate="false")) == \
        sorted([general, user])
    assert board_image_names(client, board_id, is_intermediate="true") == [hidden]
    assert sorted(board_image_names(client, "none")) == sorted([loose, loose_user])
    assert board_image_names(client, "none", categories=["user"]) == [loose_user]


def test_board_image_names_with_a_bad_category_is_422(client: TestClient) -> None:
    board_id = new_board(client, "Named")["board_id"]
    response = client.get(f"{BOARDS}{board_id}/image_names", params={"categories": ["bogus"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "categories", 0]


# -- board_images ---------------------------------------------------------------------------------


def test_add_and_remove_one_image(client: TestClient) -> None:
    board_id = new_board(client, "Target")["board_id"]
    name = uploaded(client, category="user")["image_name"]
    added = client.post(BOARD_IMAGES, json={"board_id": board_id, "image_name": name})
    assert added.status_code == 201
    assert sorted(added.json()["affected_boards"]) == sorted([board_id, "none"])
    assert added.json()["added_images"] == [name]
    assert image_dto(client, name)["board_id"] == board_id
    assert counts(client, board_id) == (0, 1)
    assert get_board(client, board_id)["cover_image_name"] == name
    assert board_image_names(client, board_id) == [name]
    assert board_image_names(client, "none") == []

    removed = client.request("DELETE", BOARD_IMAGES, json={"image_name": name})
    assert removed.status_code == 201
    assert sorted(removed.json()["affected_boards"]) == sorted([board_id, "none"])
    assert removed.json()["removed_images"] == [name]
    assert image_dto(client, name)["board_id"] is None
    assert counts(client, board_id) == (0, 0)
    assert get_board(client, board_id)["cover_image_name"] is None
    assert board_image_names(client, "none") == [name]


def test_adding_an_image_moves_it_from_its_old_board(client: TestClient) -> None:
    first = new_board(client, "First")["board_id"]
    second = new_board(client, "Second")["board_id"]
    name = uploaded(client, board_id=first)["image_name"]
    moved = client.post(BOARD_IMAGES, json={"board_id": second, "image_name": name})
    assert moved.status_code == 201
    assert sorted(moved.json()["affected_boards"]) == sorted([first, second])
    assert counts(client, first) == (0, 0)
    assert counts(client, second) == (1, 0)
    assert board_image_names(client, first) == []
    assert board_image_names(client, second) == [name]
    assert image_names(client, board_id=second) == [name]


def test_add_and_remove_images_in_batches(client: TestClient) -> None:
    board_id = new_board(client, "Batch")["board_id"]
    old_board = new_board(client, "Old")["board_id"]
    loose = [uploaded(client)["image_name"] for _ in range(2)]
    from_old = uploaded(client, board_id=old_board, category="mask")["image_name"]
    wanted = [*loose, from_old]
    added = client.post(f"{BOARD_IMAGES}batch", json={"board_id": board_id, "image_names": [*wanted, "missing.png"]})
    assert added.status_code == 201
    assert sorted(added.json()["added_images"]) == sorted(wanted)
    assert sorted(added.json()["affected_boards"]) == sorted([board_id, "none", old_board])
    assert counts(client, board_id) == (2, 1)
    assert counts(client, old_board) == (0, 0)
    assert sorted(board_image_names(client, board_id)) == sorted(wanted)

    removed = client.post(f"{BOARD_IMAGES}batch/delete", json={"image_names": loose})
    assert removed.status_code == 201
    assert sorted(removed.json()["removed_images"]) == sorted(loose)
    assert sorted(removed.json()["affected_boards"]) == sorted([board_id, "none"])
    assert counts(client, board_id) == (0, 1)
    assert sorted(board_image_names(client, "none")) == sorted(loose)
    assert board_image_names(client, board_id) == [from_old]


def test_board_images_with_bad_bodies_are_422_and_change_nothing(client: TestClient) -> None:
    board_id = new_board(client, "Unmoved")["board_id"]
    name = uploaded(client)["image_name"]
    before = gallery_state(client)
    missing = client.post(BOARD_IMAGES, json={"board_id": board_id})
    assert missing.status_code == 422
    assert missing.json() == {"detail": [
        {"type": "missing", "loc": ["body", "image_name"], "msg": "Field required", "input": None}]}
    wrong = client.post(f"{BOARD_IMAGES}batch", json={"board_id": board_id, "image_names": name})
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["type"] == "list_type"
    assert wrong.json()["detail"][0]["loc"] == ["body", "image_names"]
    remove_missing = client.request("DELETE", BOARD_IMAGES, json={})
    assert remove_missing.status_code == 422
    assert remove_missing.json()["detail"][0]["loc"] == ["body", "image_name"]
    batch_missing = client.post(f"{BOARD_IMAGES}batch/delete", json={})
    assert batch_missing.status_code == 422
    malformed = client.post(f"{BOARD_IMAGES}batch", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    assert gallery_state(client) == before
