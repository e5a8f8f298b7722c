"""A user's session across the gallery: what one call changes shows up in every call that would
show it (board counts, covers, names, image DTOs, uncategorized images, downloads)."""

from __future__ import annotations

import io
import zipfile

from invokeai_support import (
    BOARDS,
    IMAGES,
    get_board,
    image_dto,
    image_names,
    new_board,
    pattern_png,
    same_pixels,
    tick,
    uploaded,
)
from starlette.testclient import TestClient


def board_names(client: TestClient, board_id: str) -> list[str]:
    return sorted(client.get(f"{BOARDS}{board_id}/image_names").json())


def test_upload_move_delete_board_then_delete_uncategorized(client: TestClient) -> None:
    """Upload into a board -> counts -> move one to another board -> delete the first board keeping
    its images -> they are uncategorized -> delete uncategorized -> only the moved image is left."""
    sketches = new_board(client, "Sketches")["board_id"]
    finals = new_board(client, "Finals")["board_id"]

    tick(client)
    photo = uploaded(client, pattern_png(80, 60), category="general", board_id=sketches)["image_name"]
    tick(client)
    reference = uploaded(client, pattern_png(30, 30), category="user", board_id=sketches)["image_name"]
    tick(client)
    draft = uploaded(client, pattern_png(40, 20), category="general", board_id=sketches)["image_name"]
    loose = uploaded(client, category="general")["image_name"]

    board = get_board(client, sketches)
    assert (board["image_count"], board["asset_count"], board["cover_image_name"]) == (2, 1, draft)
    assert board_names(client, sketches) == sorted([photo, reference, draft])
    assert image_names(client, board_id=sketches) == [draft, reference, photo]

    moved = client.post("/api/v1/board_images/", json={"board_id": finals, "image_name": draft})
    assert moved.status_code == 201
    assert sorted(moved.json()["affected_boards"]) == sorted([sketches, finals])
    board = get_board(client, sketches)
    assert (board["image_count"], board["asset_count"], board["cover_image_name"]) == (1, 1, reference)
    final = get_board(client, finals)
    assert (final["image_count"], final["asset_count"], final["cover_image_name"]) == (1, 0, draft)
    assert image_dto(client, draft)["board_id"] == finals
    assert board_names(client, finals) == [draft]

    deleted = client.delete(f"{BOARDS}{sketches}")
    assert deleted.status_code == 200
    assert sorted(deleted.json()["deleted_board_images"]) == sorted([photo, reference])
    assert deleted.json()["deleted_images"] == []
    assert client.get(f"{BOARDS}{sketches}").status_code == 404
    listed = client.get(BOARDS, params={"all": "true"}).json()
    assert [b["board_id"] for b in listed] == [finals]

    for name in (photo, reference):
        assert image_dto(client, name)["board_id"] is None
    assert sorted(image_names(client, board_id="none")) == sorted([photo, reference, loose])
    assert board_names(client, "none") == sorted([photo, reference, loose])
    assert same_pixels(client.get(f"{IMAGES}i/{photo}/full").content, pattern_png(80, 60))  # bytes survive

    cleared = client.delete(f"{IMAGES}uncategorized")
    assert cleared.status_code == 200
    assert sorted(cleared.json()["deleted_images"]) == sorted([photo, reference, loose])
    assert cleared.json()["affected_boards"] == ["none"]
    assert image_names(client) == [draft]
    assert image_names(client, board_id="none") == []
    for name in (photo, reference, loose):
        assert client.get(f"{IMAGES}i/{name}").status_code == 404
        assert client.get(f"{IMAGES}i/{name}/thumbnail").status_code == 404
    final = get_board(client, finals)
    assert (final["image_count"], final["cover_image_name"]) == (1, draft)
    assert client.get(f"{IMAGES}i/{draft}/full").status_code == 200


def test_starring_reorders_names_and_the_board_cover(client: TestClient) -> None:
    """Star -> starred images lead `names` (starred_first) and the board cover; unstar -> back to
    newest first; starred_first=false ignores stars."""
    board_id = new_board(client, "Favourites")["board_id"]
    made = []
    for _ in range(4):
        tick(client)
        made.append(uploaded(client, board_id=board_id)["image_name"])
    first, second, third, fourth = made
    assert image_names(client) == [fourth, third, second, first]
    assert get_board(client, board_id)["cover_image_name"] == fourth

    tick(client)
    starred = client.post(f"{IMAGES}star", json={"image_names": [second, first]})
    assert starred.status_code == 200
    assert sorted(starred.json()["starred_images"]) == sorted([first, second])
    assert starred.json()["affected_boards"] == [board_id]

    result = client.get(f"{IMAGES}names").json()
    assert result["image_names"] == [second, first, fourth, third]
    assert (result["starred_count"], result["total_count"]) == (2, 4)
    assert client.get(f"{IMAGES}names", params={"order_dir": "ASC"}).json()["image_names"] == [
        first, second, third, fourth]
    assert client.get(f"{IMAGES}names", params={"starred_first": "false"}).json()["image_names"] == [
        fourth, third, second, first]
    assert image_names(client, board_id=board_id) == [second, first, fourth, third]
    assert [item["image_name"] for item in client.get(IMAGES, params={"limit": 2}).json()["items"]] == [second, first]
    assert get_board(client, board_id)["cover_image_name"] == second

    client.post(f"{IMAGES}unstar", json={"image_names": [second]})
    result = client.get(f"{IMAGES}names").json()
    assert result["image_names"] == [first, fourth, third, second]
    assert result["starred_count"] == 1
    assert get_board(client, board_id)["cover_image_name"] == first

    client.patch(f"{IMAGES}i/{first}", json={"starred": False})
    assert image_names(client) == [fourth, third, second, first]
    assert get_board(client, board_id)["cover_image_name"] == fourth


def test_a_board_download_follows_the_moves(client: TestClient) -> None:
    """Images moved into a board are in its zip; images moved out are not."""
    board_id = new_board(client, "Export")["board_id"]
    stays = uploaded(client, pattern_png(10, 10), board_id=board_id)["image_name"]
    leaves = uploaded(client, pattern_png(11, 11), board_id=board_id)["image_name"]
    joins = uploaded(client, pattern_png(12, 12), category="user")["image_name"]
    client.post("/api/v1/board_images/batch", json={"board_id": board_id, "image_names": [joins]})
    client.post("/api/v1/board_images/batch/delete", json={"image_names": [leaves]})

    started = client.post(f"{IMAGES}download", json={"board_id": board_id})
    assert started.status_code == 202
    item = started.json()["bulk_download_item_name"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{IMAGES}download/{item}").content))
    assert sorted(archive.namelist()) == sorted([f"general/{stays}", f"user/{joins}"])
    assert archive.read(f"user/{joins}") == client.get(f"{IMAGES}i/{joins}/full").content
