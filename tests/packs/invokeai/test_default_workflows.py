"""The 14 default workflows, as the mock serves them, pass the checks InvokeAI 6.8.1's web UI makes
when it loads a workflow (`validateWorkflow.ts`, the zod schema in `types/workflow.ts`) against the
node templates it builds from the upstream OpenAPI document: every node type is known and at its
template's version (no "update node"), every input the template declares is in the node (no
"Missing field"), no input the template lacks (no "Unexpected field"), every edge leaves from an
output and lands on an input both the template and the node have (no deleted edge, every wire
drawn), and `exposedFields` and the builder form name existing inputs in a valid form tree.

Facts: the ids are the real server's (its `default_workflows/*.json`, 6.8.1 wheel); the templates
come from `tests/drift/data/invokeai.upstream.json`, the real 6.8.1 `/openapi.json`, and from the
mock's own `/openapi.json`, which the UI reads.
"""

from __future__ import annotations

import functools
import json
import re
import typing as t
from pathlib import Path

import pytest

from mockserver.packs.invokeai.ui_templates import STATEFUL_TYPES, NodeTemplate, node_templates

UPSTREAM = Path(__file__).resolve().parents[2] / "drift" / "data" / "invokeai.upstream.json"
WF = "/api/v1/workflows/"
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")

# The real server's default workflow ids, by name (6.8.1 wheel, default_workflows/*.json).
REAL_IDS = {
    "Face Detailer - SD1.5": "default_dec5a2e9-f59c-40d9-8869-a056751d79b8",
    "Image to Image - FLUX": "default_cbf0e034-7b54-4b2c-b670-3b1e2e4b4a88",
    "Text to Image -  SD1.5, Control": "default_2d05e719-a6b9-4e64-9310-b875d3b2f9d2",
    "Text to Image - CogView4": "default_0e405a8e-ab5e-4e6c-bd99-b59deabd5591",
    "Text to Image - FLUX": "default_444fe292-896b-44fd-bfc6-c0b5d220fffc",
    "Text to Image - SD1.5": "default_7dde3e36-d78f-4152-9eea-00ef9c8124ed",
    "Text to Image - SD1.5, LoRA": "default_e71d153c-2089-43c7-bd2c-f61f37d4c1c1",
    "Text to Image - SD1.5, Prompt from File": "default_d7a1c60f-ca2f-4f90-9e33-75a826ca6d8f",
    "Text to Image - SD3.5": "default_dbe46d95-22aa-43fb-9c16-94400d0ce2fd",
    "Text to Image - SDXL": "default_5e8b008d-c697-45d0-8883-085a954c6ace",
    "Upscaler - SD1.5, ESRGAN": "default_686bb1d0-d086-4c70-9fa3-2f600b922023",
    "Upscaler - SD1.5, MultiDiffusion": "default_f96e794f-eb3e-4d01-a960-9b4e43402bcf",
    "Upscaler - SD1.5, Tiled": "default_43b0d7f7-6a12-4dcf-a5a4-50c940cbee29",
    "Upscaler - SDXL, MultiDiffusion": "default_35658541-6d41-4a20-8ec5-4bf2561faed0",
}
NODE_DATA_KEYS = {"id", "type", "version", "label", "notes", "isOpen", "isIntermediate", "useCache", "nodePack",
                  "inputs"}


@functools.cache
def templates() -> dict[str, NodeTemplate]:
    return node_templates(json.loads(UPSTREAM.read_text(encoding="utf-8")))


@pytest.fixture(scope="module", params=["upstream", "served"])
def source_templates(request: pytest.FixtureRequest, module_client: t.Any) -> dict[str, NodeTemplate]:
    """The templates from the upstream document, and from the mock's own `/openapi.json`, which is
    what the web UI reads."""
    if request.param == "upstream":
        return templates()
    response = module_client.get("/openapi.json")
    assert response.status_code == 200
    return node_templates(response.json())


@pytest.fixture(scope="module")
def served(module_client: t.Any) -> dict[str, dict]:
    """Every default workflow document, fetched the way the UI opens one."""
    items = module_client.get(WF, params={"categories": ["default"]}).json()["items"]
    return {item["name"]: module_client.get(f"{WF}i/{item['workflow_id']}").json()["workflow"]
            for item in items}


def test_the_ids_are_the_real_servers(served: dict[str, dict]) -> None:
    assert {name: workflow["id"] for name, workflow in served.items()} == REAL_IDS


def test_the_flux_text_to_image_workflow_opens_under_its_real_id(client: t.Any) -> None:
    response = client.get(f"{WF}i/default_444fe292-896b-44fd-bfc6-c0b5d220fffc")
    assert response.status_code == 200
    assert response.json()["name"] == "Text to Image - FLUX"
    assert client.get(f"{WF}i/default_e43383ab-63bf-46dd-a62d-51399685ba34").status_code == 404


def _shape_issues(workflow: dict) -> list[str]:
    """What the UI's zod schema (WorkflowV3) would reject."""
    issues = []
    for key in ("name", "author", "description", "version", "contact", "tags", "notes"):
        if not isinstance(workflow.get(key), str):
            issues.append(f"{key} is not a string")
    if workflow.get("meta") != {"version": "3.0.0", "category": "default"}:
        issues.append(f"meta is {workflow.get('meta')}")
    for node in workflow["nodes"]:
        data = node.get("data", {})
        if node.get("type") != "invocation" or node.get("id") != data.get("id") or set(data) != NODE_DATA_KEYS:
            issues.append(f"node {node.get('id')} is not an invocation node as the editor saves it")
        if not isinstance(node.get("position", {}).get("x"), (int, float)):
            issues.append(f"node {node.get('id')} has no position")
    for edge in workflow["edges"]:
        if edge.get("type") != "default" or not edge.get("sourceHandle") or not edge.get("targetHandle"):
            issues.append(f"edge {edge.get('id')} has no handles")
        expected = f"reactflow__edge-{edge['source']}{edge['sourceHandle']}-{edge['target']}{edge['targetHandle']}"
        if edge.get("id") != expected:
            issues.append(f"edge id {edge.get('id')} is not the editor's")
    return issues


def _node_issues(node: dict, known: dict[str, NodeTemplate]) -> list[str]:
    """validateWorkflow's node checks plus what the node renders: template, version, every field."""
    data = node["data"]
    template = known.get(data["type"])
    if template is None:
        return [f"{node['id']}: no template for {data['type']}"]
    issues = []
    if data["version"] != template.version:
        issues.append(f"{data['type']} {node['id']}: version {data['version']}, template {template.version}")
    if data["nodePack"] != template.node_pack:
        issues.append(f"{data['type']} {node['id']}: nodePack {data['nodePack']}")
    for name in template.inputs.keys() - data["inputs"].keys():
        issues.append(f"{data['type']}.{name}: Missing field")
    for name in data["inputs"].keys() - template.inputs.keys():
        issues.append(f"{data['type']}.{name}: Unexpected field")
    for name, field in data["inputs"].items():
        if field.get("name") != name or not isinstance(field.get("label"), str):
            issues.append(f"{data['type']}.{name}: not a field input instance")
        field_template = template.inputs.get(name)
        if field_template and field_template.type.name in STATEFUL_TYPES and field_template.has_value \
                and "value" not in field:
            issues.append(f"{data['type']}.{name}: no value")
    return issues


def _edge_issues(workflow: dict, known: dict[str, NodeTemplate]) -> list[str]:
    """validateWorkflow's edge checks (an edge failing one is deleted), and that the input is there to wire."""
    nodes = {node["id"]: node["data"] for node in workflow["nodes"]}
    issues = []
    for edge in workflow["edges"]:
        source, target = nodes.get(edge["source"]), nodes.get(edge["target"])
        if source is None or target is None:
            issues.append(f"edge {edge['id']}: a node is missing")
            continue
        source_template, target_template = known.get(source["type"]), known.get(target["type"])
        if source_template is None or edge["sourceHandle"] not in source_template.outputs:
            issues.append(f"edge {edge['id']}: {source['type']} has no output {edge['sourceHandle']}")
        if target_template is None or edge["targetHandle"] not in target_template.inputs:
            issues.append(f"edge {edge['id']}: {target['type']} has no input {edge['targetHandle']}")
        if edge["targetHandle"] not in target["inputs"]:
            issues.append(f"edge {edge['id']}: {target['type']} node lacks input {edge['targetHandle']}")
    return issues


def _form_issues(workflow: dict) -> list[str]:
    """The form tree `validateFormStructure` accepts, naming only inputs the nodes have, and the same
    fields as `exposedFields`."""
    nodes = {node["id"]: node["data"] for node in workflow["nodes"]}
    form = workflow["form"]
    elements, root = form["elements"], form["rootElementId"]
    issues = []
    if elements.get(root, {}).get("type") != "container" or "parentId" in elements[root]:
        return ["the root element is not a parentless container"]
    reached, fields = set(), []

    def walk(element_id: str) -> None:
        element = elements.get(element_id)
        if element is None:
            issues.append(f"form: no element {element_id}")
            return
        reached.add(element_id)
        if element_id != root:
            parent = elements.get(element.get("parentId"), {})
            if parent.get("type") != "container" or element_id not in parent["data"]["children"]:
                issues.append(f"form: {element_id} is not its parent's child")
        if element["type"] == "container":
            for child in element["data"]["children"]:
                walk(child)
        elif element["type"] == "node-field":
            fields.append(element["data"]["fieldIdentifier"])

    walk(root)
    if reached != set(elements):
        issues.append("form: unreachable elements")
    for identifier in fields:
        if identifier["fieldName"] not in nodes.get(identifier["nodeId"], {}).get("inputs", {}):
            issues.append(f"form: {identifier} names no input")
    if fields != workflow["exposedFields"]:
        issues.append("form fields differ from exposedFields")
    return issues


@pytest.mark.parametrize("name", sorted(REAL_IDS))
def test_the_editor_loads_the_default_workflow_cleanly(served: dict[str, dict], name: str,
                                                      source_templates: dict[str, NodeTemplate]) -> None:
    workflow = served[name]
    issues = _shape_issues(workflow) + _edge_issues(workflow, source_templates) + _form_issues(workflow)
    for node in workflow["nodes"]:
        issues += _node_issues(node, source_templates)
    assert issues == []
    assert workflow["nodes"] and workflow["edges"]


def test_every_declared_input_is_present_across_the_fourteen(served: dict[str, dict]) -> None:
    """The figure the issue measured: 342 declared inputs were left out over the 14 workflows."""
    declared = present = 0
    for workflow in served.values():
        for node in workflow["nodes"]:
            template_inputs = templates()[node["data"]["type"]].inputs
            declared += len(template_inputs)
            present += len(template_inputs.keys() & node["data"]["inputs"].keys())
    assert declared == present and declared > 800


def test_inputs_fed_by_an_edge_stay_in_the_node(served: dict[str, dict]) -> None:
    """The editor anchors a wire on the target node's input; an input left out draws no wire."""
    wired = 0
    for workflow in served.values():
        nodes = {node["id"]: node["data"] for node in workflow["nodes"]}
        for edge in workflow["edges"]:
            assert edge["targetHandle"] in nodes[edge["target"]]["inputs"], edge["id"]
            wired += 1
    assert wired == sum(len(workflow["edges"]) for workflow in served.values()) > 250


def test_an_integer_input_keeps_its_value_and_a_wire_only_input_none(served: dict[str, dict]) -> None:
    workflow = served["Text to Image - SD1.5"]
    noise = next(node["data"] for node in workflow["nodes"] if node["data"]["type"] == "noise")
    assert noise["inputs"]["width"] == {"name": "width", "label": "", "description": "", "value": 512}
    l2i = next(node["data"] for node in workflow["nodes"] if node["data"]["type"] == "l2i")
    assert l2i["inputs"]["latents"] == {"name": "latents", "label": "", "description": ""}
    assert l2i["inputs"]["board"]["value"] == "auto"  # what a fresh node's board field holds
    assert l2i["isIntermediate"] is False
