"""Maintainer tool: rebuild `fixtures/invokeai/catalogue/` from an InvokeAI OpenAPI document.

    python tools/invokeai_catalogue.py path/to/openapi.json [--out fixtures/invokeai/catalogue]

Run it by hand when moving to a new InvokeAI version (fetch the document from a real
`invokeai-web` at `/openapi.json`), then review the diff. Nothing runs it at start-up or in
tests: the committed files are the source of truth, and may be edited by hand.

What it writes (JSON, one field per line so diffs stay readable):
- `nodes.json`: every invocation type, keyed by its `type` tag, in the document's order. Class
  keys as the document has them (`title`, `tags`, `category`, `version`, `node_pack`,
  `classification`, `description`, ...), `schema` (the component name), `output` (the output's
  component name), `use_cache` (the default of the node attribute), and `fields`: every property
  in the document's order, each the field's JSON schema verbatim. The four node attributes
  (`id`, `is_intermediate`, `use_cache`, `type`) are identical boilerplate in every invocation and
  are written as the marker "@node_attribute"; `mockserver.packs.invokeai.catalogue` rebuilds them.
- `outputs.json`: every invocation output, keyed by its `type` tag, the same way.
- `types.json`: every other component schema the nodes and outputs refer to (ImageField,
  UNetField, ...), verbatim, so the served document resolves every `$ref`.
- `extras.json`: the schemas the real document adds beside its operations (the socket.io event
  models, the UI's field-extra models and enums), with each union of every invocation written as
  "@invocations" and of every output as "@outputs"; `InvocationOutputMap` is left out (the served
  document builds it from the nodes).
"""

from __future__ import annotations

import argparse
import json
import re
import typing as t
from pathlib import Path

NODE_ATTRIBUTES = ("id", "is_intermediate", "use_cache", "type")
MARKER = "@node_attribute"


def node_entry(name: str, schema: dict) -> tuple[str, dict]:
    properties = schema["properties"]
    entry: dict[str, t.Any] = {"schema": name}
    for key, value in schema.items():
        if key in ("properties", "class", "type", "output", "required"):
            continue
        entry[key] = value
    entry["output"] = schema["output"]["$ref"].rsplit("/", 1)[-1]
    entry["use_cache"] = properties["use_cache"]["default"]
    if schema["required"] != ["type", "id"]:
        entry["required"] = schema["required"]
    entry["fields"] = {key: MARKER if key in NODE_ATTRIBUTES else value for key, value in properties.items()}
    return properties["type"]["const"], entry


def output_entry(name: str, schema: dict) -> tuple[str, dict]:
    properties = schema["properties"]
    entry: dict[str, t.Any] = {"schema": name}
    for key, value in schema.items():
        if key in ("properties", "class", "type"):
            continue
        entry[key] = value
    entry["fields"] = {key: MARKER if key == "type" else value for key, value in properties.items()}
    return properties["type"]["const"], entry


def referenced(schemas: dict, roots: t.Iterable[dict]) -> list[str]:
    """Names of the component schemas reachable from `roots`, in the document's order."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for ref in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(todo.pop())):
            if ref not in seen:
                seen.add(ref)
                todo.append(schemas[ref])
    return [name for name in schemas if name in seen]


def extras(schemas: dict, paths: dict, skip: set[str]) -> dict:
    """Schemas no operation reaches, the node unions in them replaced by markers."""
    reachable = set(referenced(schemas, [paths]))
    invocations = sorted(n for n, s in schemas.items() if s.get("class") == "invocation")
    outputs = sorted(n for n, s in schemas.items() if s.get("class") == "output")
    names = [n for n in schemas if n not in reachable and n not in skip and n != "InvocationOutputMap"]
    return {name: _marked(schemas[name], invocations, outputs) for name in names}


def _marked(value: t.Any, invocations: list[str], outputs: list[str]) -> t.Any:
    if isinstance(value, dict):
        one_of = value.get("oneOf")
        if isinstance(one_of, list):
            names = sorted(item.get("$ref", "").rsplit("/", 1)[-1] for item in one_of)
            marker = "@invocations" if names == invocations else "@outputs" if names == outputs else None
            if marker:
                return {**value, "oneOf": marker}
        return {key: _marked(item, invocations, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item, invocations, outputs) for item in value]
    return value


def dump(data: dict, path: Path) -> None:
    """Two levels of indentation, then one line per field: readable, and diffs stay small."""
    lines = ["{"]
    for i, (key, entry) in enumerate(data.items()):
        lines.append(f"  {json.dumps(key)}: {{")
        items = list(entry.items())
        for j, (name, value) in enumerate(items):
            if name == "fields":
                body = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
                text = f"    \"fields\": {{\n{body}\n    }}"
            else:
                text = f"    {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}"
            lines.append(text + ("," if j < len(items) - 1 else ""))
        lines.append("  }" + ("," if i < len(data) - 1 else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dump_types(data: dict, path: Path) -> None:
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    path.write_text("{\n" + body + "\n}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("document", type=Path, help="an InvokeAI /openapi.json")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures/invokeai/catalogue")
    args = parser.parse_args(argv)
    document = json.loads(args.document.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    nodes = dict(node_entry(n, s) for n, s in schemas.items() if s.get("class") == "invocation")
    outputs = dict(output_entry(n, s) for n, s in schemas.items() if s.get("class") == "output")
    roots = [s for s in schemas.values() if s.get("class") in ("invocation", "output")]
    types = {name: schemas[name] for name in referenced(schemas, roots)
             if schemas[name].get("class") not in ("invocation", "output")}
    args.out.mkdir(parents=True, exist_ok=True)
    dump(nodes, args.out / "nodes.json")
    dump(outputs, args.out / "outputs.json")
    dump_types(types, args.out / "types.json")
    skip = {n for n, s in schemas.items() if s.get("class") in ("invocation", "output")} | set(types)
    more = extras(schemas, document["paths"], skip)
    dump_types(more, args.out / "extras.json")
    print(f"{len(nodes)} nodes, {len(outputs)} outputs, {len(types)} field types, {len(more)} extras -> {args.out}")


if __name__ == "__main__":
    main()
