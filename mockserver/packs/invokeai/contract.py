"""InvokeAI's contract profile: what `mockserver contract --api invokeai` (and
tests/contract/test_schemathesis_invokeai.py) need to know to judge a server by its spec."""

from __future__ import annotations

from mockserver.contract.profile import Case, Profile, Response, detail_text, document_unreadable_json_bodies

# InvokeAI 6.8's community edition answers 501 for these (the spec documents it): a server error by
# schemathesis's reading, and the honest answer here.
NOT_IMPLEMENTED = (
    "create_image_upload_entry", "list_video_dtos", "get_video_dto", "update_video", "get_video_ids",
    "get_videos_by_ids", "delete_videos_from_list", "star_videos_in_list", "unstar_videos_in_list",
    "delete_uncategorized_videos", "add_videos_to_board", "remove_videos_from_board",
)
# The semver grammar the real server checks `meta.version` against (in a validator, not its schema).
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$"


def as_tested(spec: dict) -> dict:
    """Rules the real server checks in pydantic validators, which its schema cannot state, given
    to schemathesis so its positive data is data the server accepts. The spec as served keeps the
    upstream schemas, so each refusal keeps its real 422 shape (`value_error`, `union_tag_invalid`):
    - a workflow's `meta.version` is a semantic version;
    - a graph node's `type` is one of the invocation types (a discriminated union upstream, one
      open `InvocationNode` schema in our spec, which leaves `nodes`, `id` and `type` to the
      mock's own checks so their refusals have pydantic's shapes): here nodes are objects with an
      `id` and a `type`; the fields of each type are not stated, so a refusal inside a node is a
      validator refusal (see `validator_refusal`); batch data items, which the mock also checks
      itself, are strings, numbers or image fields;
    Edges must join existing nodes' fields and batch data must name existing nodes, which no
    schema can say either; those refusals are accepted as validator refusals
    (`VALIDATOR_REFUSALS`), since narrowing the schema would also narrow what the answers echo.
    The 400 for unreadable JSON bodies is documented (`document_unreadable_json_bodies`).
    """
    schemas = spec.get("components", {}).get("schemas", {})
    version = schemas.get("WorkflowMeta", {}).get("properties", {}).get("version")
    if isinstance(version, dict):
        version["pattern"] = SEMVER_PATTERN
    node = schemas.get("InvocationNode", {})
    properties = node.get("properties", {})
    if isinstance(properties.get("type"), dict):
        properties["type"].update(type="string", enum=list(_invocation_types()))
        node["required"] = ["id", "type"]
        for name, kind in (("id", "string"), ("is_intermediate", "boolean"), ("use_cache", "boolean")):
            if isinstance(properties.get(name), dict):
                properties[name]["type"] = kind
    nodes = schemas.get("Graph", {}).get("properties", {}).get("nodes")
    if isinstance(nodes, dict):
        nodes["type"] = "object"
    items = schemas.get("BatchDatum", {}).get("properties", {}).get("items")
    if isinstance(items, dict):
        items["items"] = {"anyOf": [{"type": "string"}, {"type": "number"}, {"$ref": "#/components/schemas/ImageField"}]}
    return document_unreadable_json_bodies(spec)


def _invocation_types() -> list[str]:
    from mockserver.packs.invokeai.catalogue import load_catalogue

    return list(load_catalogue().order)


# What the web UI's StaticFiles mount answers for a method no route of the path takes.
STATIC_FILES_ANSWERS = {"GET": (404, "Not Found"), "HEAD": (404, None)}
OTHER_METHODS_ANSWER = (405, "Method Not Allowed")


def unlisted_method(case: Case, response: Response) -> str | None:
    """A method the path does not list reaches the StaticFiles mount: 404 `Not Found` for GET
    (HEAD: no body), 405 `Method Not Allowed` for any other method, and no `Allow` header (the
    real server sends none)."""
    method = str(response.request.method).upper()
    status, text = STATIC_FILES_ANSWERS.get(method, OTHER_METHODS_ANSWER)
    said = detail_text(response) if text is not None else None
    if response.status_code == status and said == text:
        return None
    expected = f"{status} {{\"detail\": \"{text}\"}}" if text is not None else str(status)
    return f"{method} {case.operation.path} (a method the path does not list) answered " \
           f"{response.status_code} {response.text[:120]!r}; the real server answers {expected}"


def _content_type(response: Response) -> str:
    value = response.headers.get("content-type") or ""
    return (value[0] if isinstance(value, list) and value else str(value)).lower()


def refusal(case: Case, response: Response) -> str | None:
    """InvokeAI refuses schema-valid requests for reasons the schema cannot state (a name that does
    not exist, a file that is not an image, a default workflow that is read-only): any documented
    4xx but 401/422, with FastAPI's `{"detail": "<text>"}` body (none for HEAD)."""
    if case.method.upper() == "HEAD":
        return None
    if _content_type(response).startswith("text/html"):
        return None  # the HuggingFace install page answers its refusals as HTML, as documented
    try:
        body = response.json()
    except ValueError:
        return f"refusal without a JSON body: {response.text[:200]}"
    if not (isinstance(body, dict) and isinstance(body.get("detail"), str)):
        return f'refusal body is not {{"detail": "<text>"}}: {response.text[:200]}'
    return None


def profile() -> Profile:
    return Profile(
        name="invokeai", dialect="fastapi",  # no auth: InvokeAI's API is open on its port
        transform=as_tested, refusal=refusal, validator_refusal=validator_refusal,
        checks={
            # The real app ends with the web UI's StaticFiles mount at `/`, which takes every
            # request no route takes in full: a method the path does not list is a 405 without
            # `Allow` (any method but GET/HEAD) or a 404 (GET/HEAD: no such file), as recorded
            # from a real 6.8.1 server. `unlisted_method` checks that instead.
            "unsupported_method": {"enabled": False},
            "allow_header_conformance": {"enabled": False},
        },
        unlisted_method=unlisted_method,
        operation_checks={
            **{operation_id: {"not_a_server_error": {"enabled": False}}
               for operation_id in NOT_IMPLEMENTED},
            # Every multipart field is text on the wire, so a "schema-violating" upload is one whose
            # file part is not an image; the real server answers that with 415 before anything else.
            **{operation_id: {"negative_data_rejection": {"expected-statuses": ["415", "422"]}}
               for operation_id in ("upload_image", "set_workflow_thumbnail", "import_style_presets")},
            # The same for a preset's `data` field: a mutated value is still text, read as preset
            # JSON first, and refused with the documented 400 `Invalid preset data`.
            **{operation_id: {"negative_data_rejection": {"expected-statuses": ["400", "415", "422"]}}
               for operation_id in ("create_style_preset", "update_style_preset")},
            # `DELETE /api/v2/models/install/huggingface` is the install job route with id
            # "huggingface": a 422 int_parsing on the real server as here, not a 405.
            "install_hugging_face_model": {"unsupported_method": {"enabled": False},
                                           "unlisted_method_as_documented": {"enabled": False}},
            # use_after_free (stateful) expects a 404 from a resource after a DELETE of it. The
            # DELETEs of install and download jobs cancel them: the job stays listed, status
            # `cancelled` (or as it was, when already finished), until a prune, as upstream's
            # `cancel_job` keeps it; so the 200 that follows is the documented answer. Two reads
            # answer for any name, existing or not, as upstream's do (no 404 documented): a
            # board's image names are a query over the images (`[]` for a deleted board), and an
            # image's URLs are built from its name alone.
            **{operation_id: {"use_after_free": {"enabled": False}}
               for operation_id in ("get_model_install_job", "get_download_job", "list_all_board_image_names",
                                    "get_image_urls")},
            # ensure_resource_availability (stateful) reads a 404 from a link target right after a
            # create as "the created resource is gone". These read a part the new resource may not
            # have yet, and answer the documented 404 when it is missing: a preset created without
            # an image (`Style preset image not found`), a workflow before a thumbnail is set
            # (`Workflow thumbnail not found`). A workflow update ignores the path and updates the
            # workflow its body's `id` names, as the real server does: a generated body names none
            # (404 `Workflow not found`; real: 500).
            **{operation_id: {"ensure_resource_availability": {"enabled": False}}
               for operation_id in ("get_style_preset_image", "get_workflow_thumbnail", "update_workflow")},
        },
    )


# Operations whose schema-valid requests the server may still refuse with a 422 made only of
# validator errors (pydantic `value_error` / `union_tag_invalid`): rules no schema states. A graph's
# edges must join fields of nodes in it and batch data must name a node and field of the graph.
VALIDATOR_REFUSALS = frozenset({"enqueue_batch"})
NODE_LOC = ["body", "batch", "graph", "nodes"]


def validator_refusal(case: Case, response: Response) -> bool:
    """A 422 for a schema-valid request of VALIDATOR_REFUSALS made only of validator errors, or of
    errors inside a graph node (`in_node`)."""
    if case.operation.definition.raw.get("operationId") not in VALIDATOR_REFUSALS:
        return False
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return bool(detail) and isinstance(detail, list) and all(
        isinstance(issue, dict) and (issue.get("type") in ("value_error", "union_tag_invalid") or in_node(issue))
        for issue in detail)


def in_node(issue: dict) -> bool:
    """An error about a field of a graph node (`body, batch, graph, nodes, <id>, <type>, <field>`):
    the node's type schema says what its fields take, which the spec's open node cannot."""
    loc = issue.get("loc")
    return isinstance(loc, list) and len(loc) >= 7 and loc[:4] == NODE_LOC
