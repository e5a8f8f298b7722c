"""The node catalogue (`fixtures/invokeai/catalogue/`, read by `catalogue.py`) against the real
6.8.1 OpenAPI document (tests/drift/data/invokeai.upstream.json): every invocation type with the
same fields, schemas, defaults and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver.packs.invokeai.catalogue import MISSING, NODE_ATTRIBUTES, Catalogue, load_catalogue

UPSTREAM = Path(__file__).resolve().parents[2] / "drift" / "data" / "invokeai.upstream.json"


@pytest.fixture(scope="module")
def schemas() -> dict:
    return json.loads(UPSTREAM.read_text(encoding="utf-8"))["components"]["schemas"]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def real_nodes(schemas: dict) -> dict[str, dict]:
    return {s["properties"]["type"]["const"]: s for s in schemas.values() if s.get("class") == "invocation"}


def test_every_invocation_type_of_the_real_server_is_there(catalogue: Catalogue, real_nodes: dict) -> None:
    assert len(real_nodes) == 211
    assert sorted(catalogue.node_types()) == sorted(real_nodes)
    # The recorded union_tag_invalid error lists the same types.
    assert sorted(catalogue.order) == sorted(real_nodes)


def test_every_node_has_the_real_fields_schemas_and_defaults(catalogue: Catalogue, real_nodes: dict,
                                                             schemas: dict) -> None:
    for kind, real in real_nodes.items():
        spec = catalogue.node(kind)
        assert spec is not None
        properties = real["properties"]
        assert list(spec.field_order) == list(properties), kind
        assert list(spec.inputs) == [name for name in properties if name not in NODE_ATTRIBUTES], kind
        for name, field in spec.inputs.items():
            assert field.schema == properties[name], (kind, name)
            assert field.default == properties[name].get("default", MISSING), (kind, name)
            assert field.input == properties[name].get("input", "any"), (kind, name)
            assert field.required == (name in real["required"]), (kind, name)
        assert spec.use_cache == properties["use_cache"]["default"]
        assert (spec.schema_name, spec.title, spec.version, spec.classification) == \
            (next(n for n, s in schemas.items() if s is real), real["title"], real["version"], real["classification"])
        assert spec.tags == tuple(real.get("tags", ()))


def test_each_schema_is_rebuilt_key_for_key(catalogue: Catalogue, schemas: dict) -> None:
    """The served document shows each invocation and output schema exactly as the real one,
    key order included (the UI keeps the property order for its fields)."""
    for kind in catalogue.node_types():
        assert json.dumps(catalogue.node_schema(kind)) == json.dumps(schemas[catalogue.schema_name(kind)]), kind
    for kind in catalogue.output_types():
        assert json.dumps(catalogue.output_schema(kind)) == json.dumps(schemas[catalogue.output_schema_name(kind)])


def test_outputs_are_the_real_ones(catalogue: Catalogue, real_nodes: dict, schemas: dict) -> None:
    for kind, real in real_nodes.items():
        output = schemas[real["output"]["$ref"].rsplit("/", 1)[-1]]
        spec = catalogue.output_for(kind)
        assert spec.type == output["properties"]["type"]["const"]
        assert list(spec.fields) == [name for name in output["properties"] if name != "type"]
        assert {name: f.schema for name, f in spec.fields.items()} == \
            {name: p for name, p in output["properties"].items() if name != "type"}


def test_the_field_types_every_node_refers_to_are_there(catalogue: Catalogue, schemas: dict) -> None:
    text = json.dumps([catalogue.node_schema(k) for k in catalogue.node_types()] +
                      [catalogue.output_schema(k) for k in catalogue.output_types()])
    names = {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}
    nodes_and_outputs = {catalogue.schema_name(k) for k in catalogue.node_types()} | \
        {catalogue.output_schema_name(k) for k in catalogue.output_types()}
    assert names - nodes_and_outputs <= set(catalogue.types)
    assert all(catalogue.types[name] == schemas[name] for name in catalogue.types)


def test_typed_access_reads_as_invokeai_names_things(catalogue: Catalogue) -> None:
    resize = catalogue.node("img_resize")
    assert resize is not None
    assert (resize.schema_name, resize.title, resize.category, resize.output_type) == \
        ("ImageResizeInvocation", "Resize Image", "image", "image_output")
    assert resize.inputs["width"].type_name == "integer" and resize.inputs["width"].default == 512
    assert resize.inputs["image"].type_name == "ImageField" and resize.inputs["image"].orig_required
    assert resize.inputs["resample_mode"].type_name == "enum"
    assert resize.inputs["metadata"].input == "connection" and resize.inputs["board"].input == "direct"
    loader = catalogue.node("flux_model_loader")
    assert loader is not None and loader.inputs["model"].required and loader.inputs["model"].default is MISSING
    assert catalogue.node("ip_adapter").inputs["weight"].type_name == "float | list[float]"  # type: ignore[union-attr]
    assert catalogue.node("no_such_node") is None
    assert catalogue.output("image_output").schema_name == "ImageOutput"
    assert list(catalogue.output_for("collect").fields) == ["collection"]
    uncached = sorted(k for k in catalogue.node_types() if not catalogue.node(k).use_cache)  # type: ignore[union-attr]
    assert "rand_int" in uncached and "integer" not in uncached


def test_loaded_once(catalogue: Catalogue) -> None:
    assert load_catalogue() is catalogue
