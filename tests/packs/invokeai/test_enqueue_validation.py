"""Enqueue checks every node field against its type's schema in the catalogue, as the real server's
pydantic models do: the real 422s (types, messages, ctx, locations with the union tag), pydantic's
lax coercions, and nodes echoed as the real server keeps them."""

from __future__ import annotations

import math
import typing as t

import pytest
from invokeai_support import QUEUE, edge, enqueue, enqueue_raw, graph, node, ok, queue_item, recorded

from mockserver.packs.invokeai.catalogue import SCHEMA_REF, Catalogue, load_catalogue
from mockserver.packs.invokeai.field_validation import FieldValidator, Invalid

NODES = ["body", "batch", "graph", "nodes"]


def refused(client: t.Any, graph_: dict, **batch: t.Any) -> list[dict]:
    response = enqueue_raw(client, graph_, **batch)
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def echoed(client: t.Any, graph_: dict, **batch: t.Any) -> dict:
    return enqueue(client, graph_, **batch)["batch"]["graph"]["nodes"]


@pytest.fixture
def paused(client: t.Any) -> t.Any:
    ok(client.put(f"{QUEUE}/processor/pause"))
    return client


# -- the recorded refusals ----------------------------------------------------------------------

@pytest.mark.parametrize("seq", [189, 192])
def test_the_recorded_graph_refusals(client: t.Any, seq: int) -> None:
    exchange = recorded(seq)
    response = client.post(exchange["request"]["path"], json=exchange["request"]["json"])
    assert response.status_code == exchange["response"]["status"]
    assert response.json() == exchange["response"]["json"]


# -- the node union ----------------------------------------------------------------------------

def test_a_node_without_a_type(client: t.Any) -> None:
    assert refused(client, graph({"id": "n"})) == [
        {"type": "union_tag_not_found", "loc": [*NODES, "n"], "msg": "Unable to extract tag using discriminator 'type'",
         "input": {"id": "n"}, "ctx": {"discriminator": "'type'"}}]


def test_nodes_must_be_an_object(client: t.Any) -> None:
    assert refused(client, {"id": "g", "nodes": [], "edges": []}) == [
        {"type": "dict_type", "loc": NODES, "msg": "Input should be a valid dictionary", "input": []}]


def test_every_node_is_reported(client: t.Any) -> None:
    detail = refused(client, graph(node("a", "nope"), {"id": "b"}, node("c", "integer", value="x")))
    assert [(issue["type"], issue["loc"]) for issue in detail] == [
        ("union_tag_invalid", [*NODES, "a"]), ("union_tag_not_found", [*NODES, "b"]),
        ("int_parsing", [*NODES, "c", "integer", "value"])]


# -- field by field ----------------------------------------------------------------------------

def test_an_integer_field_given_text(client: t.Any) -> None:
    assert refused(client, graph(node("n", "integer", value="abc"))) == [
        {"type": "int_parsing", "loc": [*NODES, "n", "integer", "value"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]


@pytest.mark.parametrize("value, kind, msg", [
    (1.5, "int_from_float", "Input should be a valid integer, got a number with a fractional part"),
    (None, "int_type", "Input should be a valid integer"),
    ([1], "int_type", "Input should be a valid integer"),
])
def test_integer_fields_refuse_what_pydantic_refuses(client: t.Any, value: t.Any, kind: str, msg: str) -> None:
    [issue] = refused(client, graph(node("n", "add", a=value)))
    assert (issue["type"], issue["loc"][-3:], issue["msg"], issue["input"]) == (kind, ["n", "add", "a"], msg, value)


def test_a_float_field_given_text(client: t.Any) -> None:
    [issue] = refused(client, graph(node("n", "float", value="many")))
    assert issue == {"type": "float_parsing", "loc": [*NODES, "n", "float", "value"],
                     "msg": "Input should be a valid number, unable to parse string as a number", "input": "many"}


def test_a_boolean_field_given_a_word_it_does_not_know(client: t.Any) -> None:
    [issue] = refused(client, graph(node("n", "boolean", value="maybe")))
    assert issue == {"type": "bool_parsing", "loc": [*NODES, "n", "boolean", "value"],
                     "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}


def test_a_string_field_given_a_number(client: t.Any) -> None:
    [issue] = refused(client, graph(node("n", "string", value=5)))
    assert issue == {"type": "string_type", "loc": [*NODES, "n", "string", "value"],
                     "msg": "Input should be a valid string", "input": 5}


def test_a_choice_not_in_the_list(client: t.Any) -> None:
    expected = "'nearest', 'box', 'bilinear', 'hamming', 'bicubic' or 'lanczos'"
    [issue] = refused(client, graph(node("n", "img_resize", resample_mode="sharpest")))
    assert issue == {"type": "literal_error", "loc": [*NODES, "n", "img_resize", "resample_mode"],
                     "msg": f"Input should be {expected}", "input": "sharpest", "ctx": {"expected": expected}}


def test_a_model_base_not_in_its_enum(client: t.Any) -> None:
    model = {"key": "k", "hash": "h", "name": "n", "base": "sd-9", "type": "main"}
    [issue] = refused(client, graph(node("n", "main_model_loader", model=model)))
    assert (issue["type"], issue["loc"][-4:]) == ("enum", ["n", "main_model_loader", "model", "base"])
    assert issue["msg"].startswith("Input should be 'any', 'sd-1', 'sd-2'")
    assert issue["ctx"]["expected"] == issue["msg"].removeprefix("Input should be ")


def test_a_nested_model_missing_a_key(client: t.Any) -> None:
    [issue] = refused(client, graph(node("n", "img_resize", image={"name": "x.png"})))
    assert issue == {"type": "missing", "loc": [*NODES, "n", "img_resize", "image", "image_name"],
                     "msg": "Field required", "input": {"name": "x.png"}}
    [issue] = refused(client, graph(node("n", "img_resize", image="x.png")))
    assert issue == {"type": "model_type", "loc": [*NODES, "n", "img_resize", "image"],
                     "msg": "Input should be a valid dictionary or instance of ImageField", "input": "x.png",
                     "ctx": {"class_name": "ImageField"}}


@pytest.mark.parametrize("fields, kind, ctx, msg", [
    ({"width": 0}, "greater_than", {"gt": 0}, "Input should be greater than 0"),
    ({"width": 100}, "multiple_of", {"multiple_of": 8}, "Input should be a multiple of 8"),
    ({"seed": -1}, "greater_than_equal", {"ge": 0}, "Input should be greater than or equal to 0"),
    ({"seed": 4294967296}, "less_than_equal", {"le": 4294967295},
     "Input should be less than or equal to 4294967295"),
])
def test_bounds(client: t.Any, fields: dict, kind: str, ctx: dict, msg: str) -> None:
    [issue] = refused(client, graph(node("n", "noise", **fields)))
    name = next(iter(fields))
    assert issue == {"type": kind, "loc": [*NODES, "n", "noise", name], "msg": msg, "input": fields[name], "ctx": ctx}


def test_a_required_direct_input_left_out(client: t.Any) -> None:
    detail = refused(client, graph(node("n", "sd3_model_loader")))
    assert detail == [{"type": "missing", "loc": [*NODES, "n", "sd3_model_loader", "model"], "msg": "Field required",
                       "input": {"id": "n", "type": "sd3_model_loader"}}]


def test_node_attributes_are_checked_too(client: t.Any) -> None:
    [issue] = refused(client, graph(node("n", "integer", value=1, use_cache="sometimes")))
    assert (issue["type"], issue["loc"][-1]) == ("bool_parsing", "use_cache")


def test_all_of_a_nodes_errors_in_field_order(client: t.Any) -> None:
    detail = refused(client, graph(node("n", "img_resize", width="w", height=0, resample_mode=1)))
    assert [(issue["type"], issue["loc"][-1]) for issue in detail] == [
        ("int_parsing", "width"), ("greater_than", "height"), ("literal_error", "resample_mode")]


def test_a_union_field_reports_each_member(client: t.Any) -> None:
    detail = refused(client, graph(node("n", "ip_adapter", weight="heavy")))
    assert [(issue["type"], issue["loc"][-2:]) for issue in detail] == [
        ("float_parsing", ["weight", "float"]), ("list_type", ["weight", "list[float]"])]


# -- what the real server accepts --------------------------------------------------------------

def test_lax_values_are_coerced_as_pydantic_coerces_them(client: t.Any) -> None:
    nodes = echoed(client, graph(node("i", "integer", value="30"), node("j", "integer", value=2.0),
                                 node("b", "boolean", value=0), node("c", "boolean", value="yes"),
                                 node("f", "float", value=1), node("s", "add", a="-4", b=" 7 ", use_cache=0)))
    assert nodes["i"]["value"] == 30 and nodes["j"]["value"] == 2 and isinstance(nodes["j"]["value"], int)
    assert nodes["b"]["value"] is False and nodes["c"]["value"] is True
    assert nodes["f"]["value"] == 1.0 and isinstance(nodes["f"]["value"], float)
    assert (nodes["s"]["a"], nodes["s"]["b"], nodes["s"]["use_cache"]) == (-4, 7, False)


def test_floats_stay_floats_on_the_wire(client: t.Any) -> None:
    response = enqueue_raw(client, graph(node("f", "float", value=1.0), node("g", "float", value=2)))
    assert response.status_code == 200
    assert '"value":1.0' in response.text.replace(" ", "") and '"value":2.0' in response.text.replace(" ", "")


def test_unknown_keys_are_dropped_and_defaults_filled(client: t.Any) -> None:
    nodes = echoed(client, graph(node("n", "img_resize", bogus=1, width=64)))
    assert nodes["n"] == {"board": None, "metadata": None, "id": "n", "is_intermediate": False, "use_cache": True,
                          "image": None, "width": 64, "height": 512, "resample_mode": "bicubic",
                          "type": "img_resize"}


def test_nested_models_get_their_defaults(client: t.Any) -> None:
    model = {"key": "k", "hash": "h", "name": "n", "base": "sd-1", "type": "main"}
    nodes = echoed(client, graph(node("n", "main_model_loader", model=model)))
    assert nodes["n"]["model"] == {**model, "submodel_type": None}


def test_a_connection_only_field_may_be_given_a_value(client: t.Any) -> None:
    """No validator looks at how a field is meant to be fed: pydantic takes the value."""
    assert client_catalogue().node("l2i").inputs["latents"].input == "connection"  # type: ignore[union-attr]
    nodes = echoed(client, graph(node("n", "l2i", latents={"latents_name": "x"})))
    assert nodes["n"]["latents"] == {"latents_name": "x", "seed": None}


def test_a_required_input_fed_by_an_edge_needs_no_value(paused: t.Any) -> None:
    model = {"key": "k", "hash": "h", "name": "n", "base": "sd-3", "type": "main"}
    fed = graph(node("m", "model_identifier", model=model), node("n", "sd3_model_loader"),
                edges=[edge("m", "model", "n", "model")])
    assert "model" not in echoed(paused, fed)["n"]


# -- batch data --------------------------------------------------------------------------------

def test_batch_data_naming_an_unknown_field_shows_the_batch(client: t.Any) -> None:
    data = [[{"node_path": "n", "field_name": "nope", "items": [1, 2]}]]
    detail = refused(client, graph(node("n", "integer", value=1)), data=data)
    assert detail == [{"type": "value_error", "loc": ["body", "batch"], "msg": "Value error, Field nope not found in node n",
                       "input": {"graph": graph(node("n", "integer", value=1)), "data": data}, "ctx": {"error": {}}}]


def test_batch_numbers_may_be_mixed_and_float_fields_keep_floats(paused: t.Any) -> None:
    data = [[{"node_path": "f", "field_name": "value", "items": [1, 2.5]}]]
    result = enqueue(paused, graph(node("f", "float", value=0.0)), data=data)
    values = sorted(queue_item(paused, item_id)["session"]["graph"]["nodes"]["f"]["value"]
                    for item_id in result["item_ids"])
    assert values == [1.0, 2.5] and all(isinstance(v, float) for v in values)


def test_batch_items_of_different_types(client: t.Any) -> None:
    data = [[{"node_path": "s", "field_name": "value", "items": ["a", 1]}]]
    [issue] = refused(client, graph(node("s", "string", value="x")), data=data)
    assert (issue["type"], issue["loc"], issue["msg"]) == (
        "value_error", ["body", "batch", "data"], "Value error, All items in a batch must have the same type")


def test_image_batches_take_image_fields(paused: t.Any) -> None:
    data = [[{"node_path": "i", "field_name": "image", "items": [{"image_name": "a.png"}, {"image_name": "b.png"}]}]]
    assert enqueue(paused, graph(node("i", "image", image={"image_name": "x.png"})), data=data)["enqueued"] == 2


# -- a valid value of every field of every node ------------------------------------------------

def client_catalogue() -> Catalogue:
    """The catalogue the served pack reads."""
    return load_catalogue()


def valid_value(schema: t.Mapping[str, t.Any], types: t.Mapping[str, dict]) -> t.Any:
    """A value the field takes (never None: the check must have something to check)."""
    if "anyOf" in schema:
        return valid_value(next(o for o in schema["anyOf"] if o.get("type") != "null"), types)
    if "$ref" in schema:
        target = types[schema["$ref"].removeprefix(SCHEMA_REF)]
        if "enum" in target:
            return target["enum"][0]
        if "properties" not in target:
            return valid_value(target, types)
        return {key: valid_value(prop, types) for key, prop in target["properties"].items()}
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return _number_within(schema, kind == "integer")
    if kind == "string":
        return "x" * max(schema.get("minLength", 1), 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [valid_value(schema.get("items") or {}, types)] * max(schema.get("minItems", 1), 1)
    if kind == "object":
        return {"anything": 1}
    return "anything"


def _number_within(schema: t.Mapping[str, t.Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    step = schema.get("multipleOf") or (1 if integer else 0.5)
    value = math.ceil(low / step) * step
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value += step
    return int(value) if integer else float(value)


def test_a_valid_value_of_every_field_of_every_node_is_taken(paused: t.Any) -> None:
    catalogue = client_catalogue()
    nodes = []
    for kind in catalogue.node_types():
        spec = catalogue.node(kind)
        assert spec is not None
        nodes.append(node(f"n-{kind}", kind, **{name: valid_value(field.schema, catalogue.types)
                                                 for name, field in spec.inputs.items()}))
    echo = echoed(paused, graph(*nodes))
    assert len(echo) == 211
    for kind in catalogue.node_types():
        assert list(echo[f"n-{kind}"]) == list(catalogue.node(kind).field_order), kind  # type: ignore[union-attr]


def test_the_validator_on_its_own() -> None:
    validator = FieldValidator(client_catalogue().types)
    assert validator.validate("1.00", {"type": "integer"}, ()) == 1
    assert validator.validate(" 1_000 ", {"type": "integer"}, ()) == 1000
    assert validator.validate(True, {"type": "integer"}, ()) == 1
    assert validator.validate(0.0, {"type": "boolean"}, ()) is False
    for text in ("5.", "1e3", "1.5"):
        with pytest.raises(Invalid):
            validator.validate(text, {"type": "integer"}, ())
    with pytest.raises(Invalid):
        validator.validate("true ", {"type": "boolean"}, ())  # booleans are not stripped
    assert validator.validate("1e3", {"type": "number"}, ()) == 1000.0
    assert validator.validate("OFF", {"type": "boolean"}, ()) is False
    assert validator.validate(None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}, ()) is None
    assert validator.validate([1, "2"], {"type": "array", "items": {"type": "integer"}}, ()) == [1, 2]
    with pytest.raises(Invalid) as failure:
        validator.validate(2, {"type": "boolean"}, ("x",))
    assert [(i.kind, i.loc) for i in failure.value.issues] == [("bool_parsing", ("x",))]
    with pytest.raises(Invalid) as failure:
        validator.validate(["a", None], {"type": "array", "items": {"type": "string"}}, ("x",))
    assert [(i.kind, i.loc) for i in failure.value.issues] == [("string_type", ("x", 1))]


def test_core_metadata_keeps_keys_it_does_not_declare(client: t.Any) -> None:
    """CoreMetadataInvocation allows extra fields (its schema says `additionalProperties: true`):
    the web UI puts whatever it wants recorded there."""
    nodes = echoed(client, graph(node("m", "core_metadata", positive_prompt="a cat", app_version="6.8.1",
                                      seed="5"), node("n", "integer", value=1, app_version="x")))
    assert nodes["m"]["app_version"] == "6.8.1" and nodes["m"]["seed"] == 5
    assert list(nodes["m"])[-1] == "app_version"
    assert "app_version" not in nodes["n"]
