"""The `/api/v2/models` (model manager), `/api/v1/download_queue` and `/api/v1/model_relationships`
operations. The state lives in `model_manager.ModelManager` (`store.models`) and the job lifecycles
in its `jobs` (`model_jobs.py`, `model_downloads.py`); these handlers read the request, move the
jobs on to the clock's "now", and shape the answers the way InvokeAI 6.8's routes do.

Where the real server fails with an unhandled error the mock answers what the route means:
an install from a repo id HuggingFace does not know is an install job in `error` (real: 500), a
relationship between unknown model keys is a 400 (real: 500, a foreign-key failure), deleting a
model image that does not exist is a 404 (real: 500), and scanning without `scan_path` is the 400
every other bad path gets (real: 500). Setting the image of an unknown model is a 404 too (the real
server stores it under any key), and the image (WebP) is labelled `image/png`, as the real server
labels it.
"""

from __future__ import annotations

import html
import typing as t
from urllib.parse import urlsplit

from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.engine.threads import off_loop
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.model_manager import ModelError, ModelManager
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


class _Session:
    """`with _Session(request) as models:` — the store locked, the jobs moved on to now, the
    state file told when anything changed, and ModelErrors turned into API errors."""

    def __init__(self, request: Request[InvokeStore]) -> None:
        self.store = request.state

    def __enter__(self) -> ModelManager:
        self.store.lock.acquire()
        try:
            self.models = self.store.models
            self.moves = self.models.jobs.moves
            self.models.jobs.advance(self.store.runtime.clock.now())
        except BaseException:
            self.store.lock.release()
            raise
        return self.models

    def __exit__(self, kind: t.Any, error: t.Any, trace: t.Any) -> None:
        try:
            if self.models.jobs.moves != self.moves or kind is None and self.write:
                self.store.changed()
        finally:
            self.store.lock.release()
        if isinstance(error, ModelError):
            raise ApiError(error.status, error.detail) from None

    write = False


class _Write(_Session):
    write = True


# -- records -----------------------------------------------------------------------------------

@handlers("list_model_records")
def list_model_records(request: Request[InvokeStore]) -> dict:
    params = request.params
    with _Session(request) as models:
        return {"models": models.list_records(params.get("base_models"), params.get("model_type"),
                                              params.get("model_name"), params.get("model_format"))}


@handlers("get_model_records_by_attrs")
def get_model_records_by_attrs(request: Request[InvokeStore]) -> dict:
    params = request.params
    with _Session(request) as models:
        return models.find_record(params["name"], params["type"], params["base"])


@handlers("get_model_record")
def get_model_record(request: Request[InvokeStore]) -> dict:
    with _Session(request) as models:
        return models.record(request.params["key"])


@handlers("update_model_record")
def update_model_record(request: Request[InvokeStore]) -> dict:
    with _Write(request) as models:
        return models.update_record(request.params["key"], request.body or {})


@handlers("delete_model")
def delete_model(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.delete_record(request.params["key"])
    return Response.empty(204)


@handlers("scan_for_models")
def scan_for_models(request: Request[InvokeStore]) -> list:
    with _Session(request) as models:
        return models.scan_folder(request.params.get("scan_path"))


@handlers("get_hugging_face_models")
def get_hugging_face_models(request: Request[InvokeStore]) -> dict:
    with _Session(request) as models:
        return models.hugging_face_models(request.params.get("hugging_face_repo"))


@handlers("convert_model")
def convert_model(request: Request[InvokeStore]) -> dict:
    with _Write(request) as models:
        return models.convert(request.params["key"])


# -- model images ------------------------------------------------------------------------------

@handlers("get_model_image")
def get_model_image(request: Request[InvokeStore]) -> Response:
    key = request.params["key"]
    with _Session(request) as models:
        data = models.image(key)
    if data is None:
        raise ApiError(404, "Not Found")
    return imaging.preview_response(data, key)


@handlers("update_model_image")
async def update_model_image(request: Request[InvokeStore]) -> None:
    upload = imaging.check_image_upload((request.body or {}).get("image"))
    # Stored as InvokeAI stores it: a WebP thumbnail no larger than 256×256, made off the event
    # loop (a small file may hold a huge picture; the pixel limit refuses it before decoding).
    # The real route saves an image under any key; the mock wants the model to exist (404
    # `model not found`).
    webp = await off_loop(_model_image, upload)
    with _Write(request) as models:
        models.record(request.params["key"])
        models.set_image(request.params["key"], webp)
    return None


def _model_image(upload: UploadedFile) -> bytes:
    return imaging.thumbnail_of(imaging.read_image(upload))


@handlers("delete_model_image")
def delete_model_image(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        deleted = models.delete_image(request.params["key"])
    if not deleted:
        raise ApiError(404, "Not Found")
    return Response.empty(204)


# -- installs ----------------------------------------------------------------------------------

@handlers("install_model")
def install_model(request: Request[InvokeStore]) -> Response:
    params = request.params
    body = request.body if isinstance(request.body, dict) else {}
    with _Write(request) as models:
        job = models.jobs.install(params["source"], body, inplace=bool(params.get("inplace")),
                             access_token=params.get("access_token"))
    return Response.json(job, 201)


@handlers("list_model_installs")
def list_model_installs(request: Request[InvokeStore]) -> list:
    with _Session(request) as models:
        return models.jobs.installs.install_jobs()


@handlers("prune_model_install_jobs")
def prune_model_install_jobs(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.jobs.installs.prune_installs()
    return Response.empty(204)


@handlers("get_model_install_job")
def get_model_install_job(request: Request[InvokeStore]) -> dict:
    with _Session(request) as models:
        return models.jobs.installs.install_job(request.params["id"])


@handlers("cancel_model_install_job")
def cancel_model_install_job(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.jobs.cancel_install(request.params["id"])  # unknown id: 415, as upstream
    return Response.json(None, 201)


@handlers("install_hugging_face_model")
def install_hugging_face_model(request: Request[InvokeStore]) -> Response:
    """The page a HuggingFace "Use this model" link opens: HTML, not JSON."""
    source = request.params["source"]
    with _Write(request) as models:
        try:
            found = models.hugging_face_models(source)
        except ModelError:
            return _page(400, "Unable to Install Model", "No HuggingFace repository found with that repo ID.",
                         source, "Ensure the repo ID is correct and try again.", error=True)
        try:
            if found["is_diffusers"]:
                models.jobs.install(source)
            elif found["urls"] is not None and len(found["urls"]) == 1:
                models.jobs.install(found["urls"][0])
            else:
                return _page(200, "Unable to Install Model", "This HuggingFace repo has multiple models.", source,
                             "Please use the Model Manager to install this model.", error=True)
        except ModelError:
            return _page(500, "Unable to Install Model", "There was an problem installing this model.", source,
                         "Please use the Model Manager directly to install this model.", error=True)
    return _page(201, "Model Install Started", "Your HuggingFace model is installing now.", source,
                 "You can close this tab and check the Model Manager for installation progress.", error=False)


def _page(status: int, title: str, heading: str, repo_id: str, message: str, *, error: bool) -> Response:
    heading_class = "error" if error else "success"
    body = (f"<html>\n<head>\n<title>{html.escape(title)}</title>\n</head>\n"
            f'<body style="text-align: center; font-family: Helvetica, sans-serif;">\n'
            f'<h2 class="{heading_class}">{html.escape(heading)}</h2>\n<p>{html.escape(message)}</p>\n'
            f'<p class="repo-id">Repo ID: {html.escape(repo_id)}</p>\n</body>\n</html>\n')
    return Response.text(body, status, media_type="text/html; charset=utf-8")


# -- the rest of the model manager -------------------------------------------------------------

@handlers("get_starter_models")
def get_starter_models(request: Request[InvokeStore]) -> dict:
    with _Session(request) as models:
        return models.starter_models()


@handlers("get_stats")
def get_stats(request: Request[InvokeStore]) -> dict:
    # No model is ever loaded into the mock's RAM cache: the stats the real server reports then.
    return ModelManager.cache_stats()


@handlers("empty_model_cache")
def empty_model_cache(request: Request[InvokeStore]) -> None:
    return None


@handlers("get_hf_login_status")
def get_hf_login_status(request: Request[InvokeStore]) -> str:
    with _Session(request) as models:
        return models.hf_status()


@handlers("do_hf_login")
def do_hf_login(request: Request[InvokeStore]) -> str:
    with _Write(request) as models:
        return models.hf_login(request.body["token"])


@handlers("reset_hf_token")
def reset_hf_token(request: Request[InvokeStore]) -> str:
    with _Write(request) as models:
        return models.hf_logout()


# -- download queue ----------------------------------------------------------------------------

@handlers("list_downloads")
def list_downloads(request: Request[InvokeStore]) -> list:
    with _Session(request) as models:
        return models.jobs.downloads.download_jobs()


@handlers("prune_downloads")
def prune_downloads(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.jobs.downloads.prune_downloads()
    return Response.empty(204)


def _url_problem(value: str) -> dict | None:
    """pydantic's `AnyHttpUrl` check of the body's `source` (the spec's `format: uri` is not
    enforced by the engine): the 422 item the real server answers, or None for a good URL."""
    parts = urlsplit(value)
    if not parts.scheme:
        kind, msg, ctx = "url_parsing", "Input should be a valid URL, relative URL without a base", {
            "error": "relative URL without a base"}
    elif parts.scheme.lower() not in ("http", "https"):
        kind, msg, ctx = "url_scheme", "URL scheme should be 'http' or 'https'", {
            "expected_schemes": "'http' or 'https'"}
    elif not parts.hostname:
        kind, msg, ctx = "url_parsing", "Input should be a valid URL, empty host", {"error": "empty host"}
    else:
        return None
    return {"type": kind, "loc": ["body", "source"], "msg": msg, "input": value, "ctx": ctx}


@handlers("download")
def download(request: Request[InvokeStore]) -> dict | Response:
    body = request.body
    problem = _url_problem(body["source"])
    if problem is not None:
        return Response.json({"detail": [problem]}, 422)
    with _Write(request) as models:
        return models.jobs.download(body["source"], body["dest"], body.get("priority", 10), body.get("access_token"))


@handlers("get_download_job")
def get_download_job(request: Request[InvokeStore]) -> dict:
    with _Session(request) as models:
        return models.jobs.downloads.download_job(request.params["id"])


@handlers("cancel_download_job")
def cancel_download_job(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.jobs.cancel_download(request.params["id"])
    return Response.empty(204)


@handlers("cancel_all_download_jobs")
def cancel_all_download_jobs(request: Request[InvokeStore]) -> Response:
    with _Write(request) as models:
        models.jobs.cancel_all_downloads()
    return Response.empty(204)


# -- model relationships -----------------------------------------------------------------------

@handlers("get_related_models")
def get_related_models(request: Request[InvokeStore]) -> list:
    with _Session(request) as models:
        return models.relationships.related(request.params["model_key"])


@handlers("add_model_relationship_api_v1_model_relationships__post")
def add_model_relationship(request: Request[InvokeStore]) -> Response:
    body = request.body
    with _Write(request) as models:
        models.relationships.relate(body["model_key_1"], body["model_key_2"], models.records)
    return Response.empty(204)


@handlers("remove_model_relationship_api_v1_model_relationships__delete")
def remove_model_relationship(request: Request[InvokeStore]) -> Response:
    body = request.body
    with _Write(request) as models:
        models.relationships.unrelate(body["model_key_1"], body["model_key_2"])
    return Response.empty(204)


@handlers("get_related_models_batch")
def get_related_models_batch(request: Request[InvokeStore]) -> list:
    with _Session(request) as models:
        return models.relationships.related_batch(request.body["model_keys"])
