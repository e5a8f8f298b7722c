"""The download queue (`/api/v1/download_queue`): jobs on the engine clock (waiting → running →
completed, bytes in proportion to the time elapsed), errors, cancelling one or all, pruning, the
`download_*` events, and the parts of model installs that run in the same queue.

Facts: transcript seq 149-150 (an empty list, 404 `Unrecognized job`), the 6.8 OpenAPI document
(DownloadJob, Body_download), and upstream's download queue for the rest: ids count from 0 and are
shared with the parts of model installs; a failed request is `error_type` `HTTPError(<reason>)`
with the traceback in `error`; a file that is there already is `OSError([Errno 17] File ... exists)`;
cancel, cancel-all and prune answer 204; a download into a directory takes the file's name.
What can be downloaded comes from fixtures/invokeai/hugging_face.yaml; any other URL is a 404.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from invokeai_support import CONTROL, advance, ok, recorded, scan

DQ = "/api/v1/download_queue"
MODELS = "/api/v2/models"
CIVITAI = "https://civitai.com/api/download/models/128713"  # dreamshaper_8.safetensors, 2132625894 bytes
PNG_URL = "https://example.com/downloads/openpose-hands.png"  # 48213 bytes
HF_FILE = "https://huggingface.co/stabilityai/sdxl-vae/resolve/main/diffusion_pytorch_model.safetensors"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")



def download(client: t.Any, source: str, dest: str = "/invokeai/import", **body: t.Any) -> dict:
    return ok(client.post(f"{DQ}/i/", json={"source": source, "dest": dest, **body}))


def get(client: t.Any, job_id: int) -> dict:
    return ok(client.get(f"{DQ}/i/{job_id}"))




def test_recorded_answers(client: t.Any) -> None:
    for seq in (149, 150):
        request = recorded(seq)["request"]
        response = client.get(request["path"])
        assert response.status_code == recorded(seq)["response"]["status"]
        assert response.json() == recorded(seq)["response"]["json"]


def test_download_progresses_on_the_clock(client: t.Any, events: list) -> None:
    job = download(client, CIVITAI, priority=5, access_token="secret")
    assert job == {"id": 0, "dest": "/invokeai/import", "download_path": None, "status": "waiting", "bytes": 0,
                   "total_bytes": 0, "error_type": None, "error": None, "source": CIVITAI, "access_token": "secret",
                   "priority": 5, "job_started": None, "job_ended": None, "content_type": None}
    assert ok(client.get(f"{DQ}/")) == [job]

    advance(client, 0.2)
    running = get(client, 0)
    assert running["status"] == "running"
    assert running["download_path"] == "/invokeai/import/dreamshaper_8.safetensors"  # dest is a directory
    assert running["total_bytes"] == 2132625894 and running["bytes"] == 0
    assert ISO.match(running["job_started"]) and running["job_ended"] is None
    assert running["content_type"] == "application/octet-stream"

    advance(client, 0.75)  # a quarter of the three-second download
    assert get(client, 0)["bytes"] == 2132625894 // 4
    advance(client, 1.5)
    assert get(client, 0)["bytes"] == 2132625894 * 3 // 4
    advance(client, 0.75)
    done = get(client, 0)
    assert done["status"] == "completed" and done["bytes"] == done["total_bytes"]
    assert ISO.match(done["job_ended"])

    names = [name for name, _ in events]
    assert names == ["download_started"] + ["download_progress"] * 10 + ["download_complete"]
    assert events[0][1] == {"timestamp": events[0][1]["timestamp"], "source": CIVITAI,
                            "download_path": "/invokeai/import/dreamshaper_8.safetensors"}
    assert [p["current_bytes"] for _, p in events[1:11]] == [2132625894 * k // 10 for k in range(1, 11)]
    assert set(events[5][1]) == {"timestamp", "source", "download_path", "current_bytes", "total_bytes"}
    assert events[-1][1]["total_bytes"] == 2132625894

    # The downloaded file is on the server's disk now: a scan finds it, and it installs.
    assert scan(client, "/invokeai/import")["/invokeai/import/dreamshaper_8.safetensors"] is False
    install = ok(client.post(f"{MODELS}/install", params={"source": "/invokeai/import/dreamshaper_8.safetensors"},
                             json={}), 201)
    advance(client, 1)
    assert ok(client.get(f"{MODELS}/install/{install['id']}"))["config_out"]["base"] == "sd-1"


def test_download_to_a_file_path_and_instant_speed(client: t.Any) -> None:
    client.get(f"{MODELS}/").raise_for_status()
    ok(client.put(f"{CONTROL}/settings", json={"model_speed": "instant"}))
    job = download(client, PNG_URL, dest="/invokeai/import/hands.png")
    assert job["status"] == "waiting"
    done = get(client, job["id"])
    assert done["status"] == "completed"
    assert done["download_path"] == "/invokeai/import/hands.png"
    assert done["content_type"] == "image/png" and done["bytes"] == 48213


def test_download_errors(client: t.Any, events: list) -> None:
    missing = download(client, "https://example.com/nothing-here.bin")
    advance(client, 0.2)
    failed = get(client, missing["id"])
    assert failed["status"] == "error"
    assert failed["error_type"] == "HTTPError(Not Found)"
    assert failed["error"].startswith("Traceback (most recent call last):")
    assert failed["download_path"] is None and ISO.match(failed["job_ended"])
    assert events[-1] == ("download_error", {"timestamp": events[-1][1]["timestamp"],
                                             "source": "https://example.com/nothing-here.bin",
                                             "error_type": "HTTPError(Not Found)", "error": failed["error"]})

    # A file already at the download path is not overwritten.
    existing = download(client, HF_FILE, dest="/invokeai/import/checkpoints/dreamshaper_8.safetensors")
    advance(client, 0.2)
    clash = get(client, existing["id"])
    assert clash["status"] == "error"
    assert clash["error_type"] == ("OSError([Errno 17] File /invokeai/import/checkpoints/dreamshaper_8.safetensors "
                                   "exists)")

    not_found = client.get(f"{DQ}/i/999")
    assert not_found.status_code == 404 and not_found.json() == {"detail": "Unrecognized job"}
    assert client.delete(f"{DQ}/i/999").status_code == 404
    invalid = client.post(f"{DQ}/i/", json={"source": "", "dest": "/tmp"})
    assert invalid.status_code == 422


def test_cancel_cancel_all_and_prune(client: t.Any, events: list) -> None:
    first = download(client, CIVITAI)
    second = download(client, PNG_URL, dest="/invokeai/import/a.png")
    third = download(client, HF_FILE, dest="/invokeai/import/vae.safetensors")
    advance(client, 1)

    response = client.delete(f"{DQ}/i/{first['id']}")
    assert response.status_code == 204 and response.content == b""
    cancelled = get(client, first["id"])
    assert cancelled["status"] == "cancelled" and cancelled["bytes"] < cancelled["total_bytes"]
    assert events[-1] == ("download_cancelled", {"timestamp": events[-1][1]["timestamp"], "source": CIVITAI})
    advance(client, 5)
    assert get(client, first["id"])["status"] == "cancelled"  # stays cancelled
    assert get(client, second["id"])["status"] == "completed"

    fourth = download(client, PNG_URL, dest="/invokeai/import/b.png")
    assert client.delete(f"{DQ}/i").status_code == 204  # cancel all: only what is unfinished
    assert [get(client, i)["status"] for i in (second["id"], third["id"], fourth["id"])] == [
        "completed", "completed", "cancelled"]
    assert client.delete(f"{DQ}/i/{second['id']}").status_code == 204  # finished: left as it is
    assert get(client, second["id"])["status"] == "completed"

    fifth = download(client, PNG_URL, dest="/invokeai/import/c.png")
    assert client.patch(f"{DQ}/").status_code == 204
    assert [job["id"] for job in ok(client.get(f"{DQ}/"))] == [fifth["id"]]
    assert fifth["id"] == 4


def test_install_parts_share_the_queue(client: t.Any, events: list) -> None:
    first = download(client, PNG_URL, dest="/invokeai/import/x.png")
    install = ok(client.post(f"{MODELS}/install", params={"source": "stabilityai/sdxl-vae"}, json={}), 201)
    parts = install["download_parts"]
    assert [p["id"] for p in parts] == [first["id"] + 1, first["id"] + 2]
    queue = ok(client.get(f"{DQ}/"))
    assert [job["id"] for job in queue] == [0, 1, 2]
    assert queue[1]["dest"] == install["local_path"] + "/sdxl-vae/config.json"

    advance(client, 1.0)
    # Cancelling one part stops the whole install.
    assert client.delete(f"{DQ}/i/{parts[1]['id']}").status_code == 204
    stopped = ok(client.get(f"{MODELS}/install/{install['id']}"))
    assert stopped["status"] == "cancelled"
    assert [p["status"] for p in stopped["download_parts"]] == ["cancelled", "cancelled"]
    assert ("model_install_cancelled", {"timestamp": events[-1][1]["timestamp"], "id": install["id"],
                                        "source": stopped["source"]}) == events[-1]
    advance(client, 10)
    assert ok(client.get(f"{MODELS}/")) == {"models": []}

    # Pruning the queue leaves an install's record of its parts alone.
    assert client.patch(f"{DQ}/").status_code == 204
    assert ok(client.get(f"{DQ}/")) == []
    assert len(ok(client.get(f"{MODELS}/install/{install['id']}"))["download_parts"]) == 2


def test_cancelling_an_install_cancels_its_downloads(client: t.Any, events: list) -> None:
    install = ok(client.post(f"{MODELS}/install", params={"source": "stabilityai/sdxl-vae"}, json={}), 201)
    advance(client, 1.0)
    assert client.delete(f"{MODELS}/install/{install['id']}").status_code == 201
    assert [job["status"] for job in ok(client.get(f"{DQ}/"))] == ["cancelled", "cancelled"]
    assert [name for name, _ in events[-3:]] == ["download_cancelled", "download_cancelled",
                                                 "model_install_cancelled"]


@pytest.mark.parametrize("source,kind,message", [
    ("0", "url_parsing", "Input should be a valid URL, relative URL without a base"),
    ("ftp://example.com/model.bin", "url_scheme", "URL scheme should be 'http' or 'https'"),
    ("http://", "url_parsing", "Input should be a valid URL, empty host"),
])
def test_source_must_be_an_http_url(client: t.Any, source: str, kind: str, message: str) -> None:
    """`source` is pydantic's AnyHttpUrl upstream: anything else is FastAPI's 422."""
    response = client.post(f"{DQ}/i/", json={"source": source, "dest": "/tmp"})
    assert response.status_code == 422
    item = response.json()["detail"][0]
    assert (item["type"], item["loc"], item["msg"], item["input"]) == (kind, ["body", "source"], message, source)
    assert ok(client.get(f"{DQ}/")) == []
