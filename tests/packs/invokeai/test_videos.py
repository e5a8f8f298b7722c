"""Videos: InvokeAI 6.8.1 community edition answers every video operation (and the board_videos
batch operations) with 501 `{"detail": "Not implemented"}`. The mock does the same, and none of
them touches the gallery: boards keep `video_count` 0 and their images, images stay as they were.
"""

from __future__ import annotations

import typing as t

import pytest
from invokeai_support import gallery_state, get_board, new_board, uploaded
from starlette.testclient import TestClient

NOT_IMPLEMENTED = {"detail": "Not implemented"}
VIDEO = "video-0001.mp4"

# (method, path, query, json body): every video operation in the 6.8 OpenAPI document, with
# well-formed input, so the answer is the 501 and not a validation error.
OPERATIONS: list[tuple[str, str, dict, t.Any]] = [
    ("GET", "/api/v1/videos/", {}, None),
    ("GET", "/api/v1/videos/", {"board_id": "none", "offset": 0, "limit": 5, "order_dir": "ASC",
                                "starred_first": "false", "is_intermediate": "false", "search_term": "x"}, None),
    ("GET", "/api/v1/videos/ids", {}, None),
    ("GET", "/api/v1/videos/ids", {"board_id": "none", "order_dir": "DESC"}, None),
    ("POST", "/api/v1/videos/videos_by_ids", {}, {"video_ids": [VIDEO]}),
    ("GET", f"/api/v1/videos/i/{VIDEO}", {}, None),
    ("PATCH", f"/api/v1/videos/i/{VIDEO}", {}, {"starred": True}),
    ("POST", "/api/v1/videos/delete", {}, {"video_ids": [VIDEO]}),
    ("POST", "/api/v1/videos/star", {}, {"video_ids": [VIDEO]}),
    ("POST", "/api/v1/videos/unstar", {}, {"video_ids": [VIDEO]}),
    ("DELETE", "/api/v1/videos/uncategorized", {}, None),
    ("POST", "/api/v1/board_videos/batch", {}, {"board_id": "BOARD", "video_ids": [VIDEO]}),
    ("POST", "/api/v1/board_videos/batch/delete", {}, {"video_ids": [VIDEO]}),
]


def send(client: TestClient, method: str, path: str, query: dict, body: t.Any, board_id: str) -> t.Any:
    if isinstance(body, dict) and body.get("board_id") == "BOARD":
        body = {**body, "board_id": board_id}
    kwargs: dict[str, t.Any] = {"params": query}
    if body is not None:
        kwargs["json"] = body
    return client.request(method, path, **kwargs)


@pytest.mark.parametrize(("method", "path", "query", "body"), OPERATIONS,
                         ids=[f"{m} {p} {'+query' if q else ''}".strip() for m, p, q, _ in OPERATIONS])
def test_video_operations_answer_501_and_change_nothing(client: TestClient, method: str, path: str, query: dict,
                                                        body: t.Any) -> None:
    board_id = new_board(client, "With images")["board_id"]
    uploaded(client, board_id=board_id)
    uploaded(client, category="user")
    before = gallery_state(client)

    response = send(client, method, path, query, body, board_id)
    assert response.status_code == 501, response.text
    assert response.json() == NOT_IMPLEMENTED
    assert response.headers["content-type"].startswith("application/json")

    assert gallery_state(client) == before
    board = get_board(client, board_id)
    assert (board["video_count"], board["image_count"]) == (0, 1)


def test_video_counts_stay_zero_after_video_calls(client: TestClient) -> None:
    board_id = new_board(client, "Video board")["board_id"]
    client.post("/api/v1/board_videos/batch", json={"board_id": board_id, "video_ids": ["a.mp4", "b.mp4"]})
    client.post("/api/v1/videos/star", json={"video_ids": ["a.mp4"]})
    listed = client.get("/api/v1/boards/", params={"all": "true"}).json()
    assert [board["video_count"] for board in listed] == [0]
    assert get_board(client, board_id)["video_count"] == 0
