"""Every invocation type of InvokeAI 6.8.1 runs: for each type of the catalogue, a graph with valid
inputs completes, and its result is the declared output type with the declared fields, valid against
that output's schema in the served /openapi.json. Batch and generator nodes are the exception the
real server makes: the UI turns them into batch data, and run as nodes they refuse."""

from __future__ import annotations

import typing as t

import jsonschema_rs
import pytest
from invokeai_support import make_server, ok, reset
from node_graphs import graph_for, install_models, result_of, run_graph, upload_image
from starlette.testclient import TestClient

from mockserver.packs.invokeai.catalogue import load_catalogue

NOT_EXECUTABLE = {"integer_batch", "float_batch", "string_batch", "image_batch", "integer_generator",
                  "float_generator", "string_generator", "image_generator"}
IMAGE_METADATA = {"positive_prompt": "a cat", "seed": 3, "cfg": 7.5, "hrf": True, "tags": ["x"], "sizes": [1],
                  "weights": [0.5], "flags": [True]}
ALL_TYPES = sorted(load_catalogue().node_types())


class World(t.NamedTuple):
    client: TestClient
    models: dict[str, dict]
    image: str
    validator: t.Any


@pytest.fixture(scope="module")
def world() -> t.Iterator[World]:
    """One server for the module: every model the graphs name installed, one image with metadata, and
    a validator for every output schema of the served document."""
    with TestClient(make_server(), base_url="http://mock") as client:
        reset(client)
        models = install_models(client)
        image = upload_image(client, metadata=IMAGE_METADATA)
        document = ok(client.get("/openapi.json"))
        catalogue = load_catalogue()
        names = {catalogue.output_schema_name(o) for o in catalogue.output_types()}
        schema = {"components": document["components"], "type": "object",
                  "properties": {name: {"$ref": f"#/components/schemas/{name}"} for name in names}}
        yield World(client, models, image, jsonschema_rs.validator_for(schema))


def test_the_catalogue_lists_every_type_of_invokeai_6_8_1() -> None:
    assert len(ALL_TYPES) == 211


@pytest.mark.parametrize("node_type", [name for name in ALL_TYPES if name not in NOT_EXECUTABLE])
def test_every_node_type_runs_and_gives_its_declared_output(world: World, node_type: str) -> None:
    item = run_graph(world.client, graph_for(node_type, world.models, world.image))
    assert item["status"] == "completed", (item.get("error_type"), item.get("error_message"))
    result = result_of(item, "under_test")
    catalogue = load_catalogue()
    declared = catalogue.output_for(node_type)
    assert result["type"] == declared.type
    assert set(declared.fields) <= set(result), set(declared.fields) - set(result)
    errors = [error.message for error in world.validator.iter_errors({declared.schema_name: result})]
    assert errors == [], errors


@pytest.mark.parametrize("node_type", sorted(NOT_EXECUTABLE))
def test_batch_and_generator_nodes_refuse_to_run_as_the_real_ones_do(world: World, node_type: str) -> None:
    item = run_graph(world.client, graph_for(node_type, world.models, world.image))
    assert item["status"] == "failed"
    assert item["error_type"] == "NotExecutableNodeError"
    assert item["error_message"] == "This class should never be executed or instantiated directly."
