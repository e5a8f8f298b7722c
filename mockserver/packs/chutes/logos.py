"""`POST /logos/`: a logo upload, kept by id for images and chutes to refer to."""

from __future__ import annotations

import hashlib
import uuid

from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.store import ChutesStore

handlers = Handlers()


@handlers("create_logo_logos__post")
def create_logo(request: Request[ChutesStore]) -> dict:
    store = request.state
    upload: UploadedFile = request.body["logo"]
    if not (upload.content_type or "").startswith("image/"):
        raise ApiError(400, "Uploaded logo is not an image!")
    caller = request.principal
    logo_id = str(uuid.UUID(int=store.rng.getrandbits(128), version=4))
    with store.lock:
        # The bytes themselves are not served back by the mock; their size and digest are kept.
        store.logos[logo_id] = {"logo_id": logo_id, "user_id": caller["user_id"],
                                "path": f"logos/{caller['user_id']}/{logo_id}.webp", "size": len(upload),
                                "sha256": hashlib.sha256(upload.data).hexdigest()}
        store.changed()
    return {"logo_id": logo_id, "path": f"/logos/{logo_id}.webp"}
