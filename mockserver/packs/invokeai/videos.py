"""The video operations. InvokeAI 6.8's community edition declares them but implements none: every
one answers 501 (the recorded server did so for the list). The spec keeps the shapes the
commercial edition returns, so a client written against them still sees the honest answer here."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()

VIDEO_OPERATIONS = (
    "list_video_dtos", "get_video_dto", "update_video", "get_video_ids", "get_videos_by_ids",
    "delete_videos_from_list", "star_videos_in_list", "unstar_videos_in_list",
    "delete_uncategorized_videos", "add_videos_to_board", "remove_videos_from_board",
)


@handlers(*VIDEO_OPERATIONS)
def not_implemented(request: Request[InvokeStore]) -> None:
    raise ApiError(501, "Not implemented")
