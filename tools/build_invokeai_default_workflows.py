"""Maintainer tool: write `fixtures/invokeai/default_workflows/*.json` from the compact descriptions in
`tools/invokeai_default_workflows/*.yaml` and an InvokeAI 6.8 OpenAPI document.

Each node gets every input its invocation template declares, the way the web UI builds a fresh node
(name, label, description, the default value), then the description's own values and labels; node
versions and `nodePack` come from the document; edges, `exposedFields` and the builder `form` are
written as the editor saves them. Node ids and form element ids are derived from the workflow id
and the node's key, so a rebuild changes only what the descriptions or the document changed.

    python tools/build_invokeai_default_workflows.py --openapi openapi.json

`openapi.json` is any InvokeAI 6.8.1 document: the one a real server serves, or the mock's own
(`curl http://127.0.0.1:8000/openapi.json`). The committed JSON files are the data; this tool is
only how they were made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import typing as t
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockserver.packs.invokeai.ui_templates import NodeTemplate, fresh_input, node_templates  # noqa: E402

DESCRIPTIONS = ROOT / "tools" / "invokeai_default_workflows"
OUTPUT = ROOT / "fixtures" / "invokeai" / "default_workflows"
_EDGE = re.compile(r"^\s*(\w+)\.(\w+)\s*->\s*(\w+)\.(\w+)\s*$")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_COLUMN, _ROW, _INPUT_ROW = 400, 120, 44  # layout: column width, node padding, height per input


def _node_id(workflow_id: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"invokeai-default-workflow/{workflow_id}/{key}"))


def _element_id(prefix: str, *parts: str) -> str:
    """`<prefix>-` and 10 characters, the shape of the editor's nanoid element ids."""
    digest = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return f"{prefix}-{''.join(chars)}"


def _parse_edges(lines: list[str]) -> list[tuple[str, str, str, str]]:
    edges = []
    for line in lines:
        match = _EDGE.match(line)
        if not match:
            raise SystemExit(f"bad edge {line!r}: write it as 'source.output -> target.input'")
        edges.append(match.groups())
    return edges


def _layout(keys: list[str], edges: list[tuple[str, str, str, str]],
            templates: dict[str, NodeTemplate], types: dict[str, str]) -> dict[str, dict]:
    """Columns by longest path from a source node, nodes stacked by their height in each column."""
    depth = {key: 0 for key in keys}
    for _ in keys:  # relax until stable; descriptions are acyclic graphs
        for source, _out, target, _in in edges:
            depth[target] = max(depth[target], depth[source] + 1)
    heights: dict[int, float] = {}
    positions = {}
    for key in keys:
        column = depth[key]
        y = heights.get(column, 0)
        positions[key] = {"x": column * _COLUMN, "y": y}
        heights[column] = y + _ROW + _INPUT_ROW * len(templates[types[key]].inputs)
    return positions


def _check(description: dict, templates: dict[str, NodeTemplate], edges: list) -> None:
    nodes = description["nodes"]
    for key, node in nodes.items():
        template = templates.get(node["type"])
        if template is None:
            raise SystemExit(f"{description['file']}: node {key}: no invocation type {node['type']!r}")
        for field in [*node.get("values", {}), *node.get("input_labels", {})]:
            if field not in template.inputs:
                raise SystemExit(f"{description['file']}: {key}.{field} is not an input of {node['type']}")
    for source, output, target, field in edges:
        if output not in templates[nodes[source]["type"]].outputs:
            raise SystemExit(f"{description['file']}: {source} has no output {output!r}")
        if field not in templates[nodes[target]["type"]].inputs:
            raise SystemExit(f"{description['file']}: {target} has no input {field!r}")


def _node(workflow_id: str, key: str, spec: dict, template: NodeTemplate, position: dict) -> dict:
    node_id = _node_id(workflow_id, key)
    values, labels = spec.get("values", {}), spec.get("input_labels", {})
    inputs = {}
    for name, field in template.inputs.items():
        extra = {"value": values[name]} if name in values else {}
        inputs[name] = fresh_input(field, label=labels.get(name, ""), **extra)
    data = {"id": node_id, "type": spec["type"], "version": template.version, "label": spec.get("label", ""),
            "notes": "", "isOpen": True, "isIntermediate": spec.get("intermediate", spec["type"] != "save_image"),
            "useCache": spec.get("use_cache", template.use_cache), "nodePack": template.node_pack,
            "inputs": inputs}
    return {"id": node_id, "type": "invocation", "data": data, "position": position}


def _edge(workflow_id: str, source: str, output: str, target: str, field: str) -> dict:
    source_id, target_id = _node_id(workflow_id, source), _node_id(workflow_id, target)
    return {"id": f"reactflow__edge-{source_id}{output}-{target_id}{field}", "type": "default",
            "source": source_id, "target": target_id, "sourceHandle": output, "targetHandle": field}


def _field_settings(template: NodeTemplate, field: str) -> dict | None:
    """The settings the form builder gives a new field element of this type."""
    field_type = template.inputs[field].type
    if field_type.cardinality != "SINGLE":
        return None
    if field_type.name == "IntegerField":
        return {"type": "integer-field-config", "showShuffle": False, "component": "number-input"}
    if field_type.name == "FloatField":
        return {"type": "float-field-config", "showShuffle": False, "component": "number-input"}
    if field_type.name == "StringField":
        return {"type": "string-field-config", "component": "textarea" if field == "prompt" else "input"}
    return None


def _form(workflow_id: str, exposed: list[tuple[str, str]], description: dict,
          templates: dict[str, NodeTemplate]) -> dict:
    """The builder form the editor makes from `exposedFields`: one column of field elements under `root`."""
    elements: dict[str, dict] = {}
    children = []
    for key, field in exposed:
        element_id = _element_id("node-field", workflow_id, key, field)
        data: dict[str, t.Any] = {"fieldIdentifier": {"nodeId": _node_id(workflow_id, key), "fieldName": field}}
        settings = _field_settings(templates[description["nodes"][key]["type"]], field)
        if settings:
            data["settings"] = settings
        data["showDescription"] = False
        elements[element_id] = {"id": element_id, "type": "node-field", "parentId": "root", "data": data}
        children.append(element_id)
    root = {"id": "root", "type": "container", "data": {"layout": "column", "children": children}}
    return {"elements": {"root": root, **elements}, "rootElementId": "root"}


def build_workflow(description: dict, templates: dict[str, NodeTemplate]) -> dict:
    workflow_id = description["id"]
    edges = _parse_edges(description.get("edges", []))
    _check(description, templates, edges)
    nodes = description["nodes"]
    types = {key: node["type"] for key, node in nodes.items()}
    positions = _layout(list(nodes), edges, templates, types)
    exposed = [tuple(item.split(".", 1)) for item in description.get("exposed", [])]
    workflow = {name: description[name] for name in ("name", "author", "description", "version", "contact",
                                                     "tags", "notes")}
    workflow["exposedFields"] = [{"nodeId": _node_id(workflow_id, key), "fieldName": field}
                                 for key, field in exposed]
    workflow["meta"] = {"version": "3.0.0", "category": "default"}
    workflow["id"] = workflow_id
    workflow["form"] = _form(workflow_id, exposed, description, templates)
    workflow["nodes"] = [_node(workflow_id, key, spec, templates[spec["type"]], positions[key])
                         for key, spec in nodes.items()]
    workflow["edges"] = [_edge(workflow_id, *edge) for edge in edges]
    return workflow


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openapi", type=Path, required=True, help="an InvokeAI 6.8.1 OpenAPI document")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    templates = node_templates(json.loads(args.openapi.read_text(encoding="utf-8")))
    for path in sorted(DESCRIPTIONS.glob("*.yaml")):
        description = yaml.safe_load(path.read_text(encoding="utf-8"))
        workflow = build_workflow(description, templates)
        target = args.output / description["file"]
        target.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: "
              f"{len(workflow['nodes'])} nodes, {len(workflow['edges'])} edges")


if __name__ == "__main__":
    main()
