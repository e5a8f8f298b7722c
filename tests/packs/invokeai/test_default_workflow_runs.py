"""Each of the 14 default workflows, turned into a graph as the workflow editor turns one
(`buildNodesGraph`: every input's value, edges, fed inputs left out) and with the inputs a user
picks before pressing Invoke (models, images, the prompt file), runs to completion on the mock."""

from __future__ import annotations

import json
import typing as t
import uuid

import pytest
from invokeai_support import make_server, ok, reset, run_until_idle
from node_graphs import MODEL_ROLES, PROMPT_FILE, install_models, upload_image
from starlette.testclient import TestClient

from mockserver.engine.resources import fixtures_dir
from mockserver.packs.invokeai.catalogue import load_catalogue

FOLDER = fixtures_dir() / "invokeai" / "default_workflows"
WORKFLOWS = sorted(path.name for path in FOLDER.glob("*.json"))
BATCH_TYPES = {"integer_batch", "float_batch", "string_batch", "image_batch", "integer_generator",
               "float_generator", "string_generator", "image_generator"}


@pytest.fixture(scope="module")
def world() -> t.Iterator[tuple[TestClient, dict[str, dict], str]]:
    with TestClient(make_server(), base_url="http://mock") as client:
        reset(client)
        models = install_models(client)
        yield client, models, upload_image(client, 256, 256)


def user_value(node_type: str, name: str, models: dict[str, dict], image: str) -> t.Any:
    """What a user sets in an input the workflow leaves empty, by the field's template."""
    field = load_catalogue().node(node_type).inputs[name]
    if field.type_name == "ModelIdentifierField":
        kinds = field.schema.get("ui_model_type") or [None]
        bases = field.schema.get("ui_model_base") or [None]
        if kinds[0] == "spandrel_image_to_image":
            return models["spandrel"]
        return models[MODEL_ROLES.get((kinds[0], bases[0]), MODEL_ROLES.get((kinds[0], None), "sd1"))]
    if field.type_name in ("ImageField", "ImageField | list[ImageField]"):
        return {"image_name": image}
    return None


def build_graph(workflow: dict, models: dict[str, dict], image: str) -> dict:
    nodes: dict[str, dict] = {}
    for entry in workflow["nodes"]:
        if entry.get("type") != "invocation" or entry["data"]["type"] in BATCH_TYPES:
            continue
        data = entry["data"]
        node: dict[str, t.Any] = {"type": data["type"], "id": entry["id"]}
        for name, field in data["inputs"].items():
            value = field.get("value")
            if name == "board" and value in ("auto", "none", None):
                continue  # no auto-add board: the UI leaves the board out
            if name == "file_path":
                value = PROMPT_FILE  # the workflow's example path is on the author's machine: the user picks one
            if value is None or value == "":
                value = user_value(data["type"], name, models, image) if value is None else value
                if value is None:
                    continue
            node[name] = value
        node.update(use_cache=data.get("useCache", True), is_intermediate=data.get("isIntermediate", False))
        nodes[entry["id"]] = node
    edges = [{"source": {"node_id": e["source"], "field": e["sourceHandle"]},
              "destination": {"node_id": e["target"], "field": e["targetHandle"]}}
             for e in workflow["edges"] if e.get("type") != "collapsed" and e["source"] in nodes and e["target"] in nodes]
    for edge in edges:
        nodes[edge["destination"]["node_id"]].pop(edge["destination"]["field"], None)
    return {"id": str(uuid.uuid4()), "nodes": nodes, "edges": edges}


@pytest.mark.parametrize("file_name", WORKFLOWS)
def test_each_default_workflow_runs_from_the_workflow_editor(world: t.Any, file_name: str) -> None:
    client, models, image = world
    workflow = json.loads((FOLDER / file_name).read_text(encoding="utf-8"))
    graph = build_graph(workflow, models, image)
    batch = {"graph": graph, "runs": 1, "origin": "workflows", "destination": "gallery",
             "workflow": {key: value for key, value in workflow.items() if key != "id"}}
    response = client.post("/api/v1/queue/default/enqueue_batch", json={"batch": batch})
    assert response.status_code == 200, response.text
    run_until_idle(client)
    item = ok(client.post("/api/v1/queue/default/items_by_ids", json={"item_ids": response.json()["item_ids"]}))[0]
    assert item["status"] == "completed", (item["error_type"], item["error_message"])
    outputs = [result for result in item["session"]["results"].values() if result["type"] == "image_output"]
    assert outputs, "the workflow made no image"


def test_all_fourteen_default_workflows_are_covered() -> None:
    assert len(WORKFLOWS) == 14
