"""What the nodes compute: real results for the nodes that need no model (math, strings, prompts,
metadata, collections), the real errors, and deterministic stand-ins of the right shape for the
model nodes (loaders' submodels, conditioning names, latents sizes, image-to-image)."""

from __future__ import annotations

import io
import re
import typing as t

import numpy as np
import pytest
from invokeai_support import make_server, reset
from node_graphs import PROMPT_FILE, edge, install_models, node, result_of, run_graph, upload_image
from PIL import Image, ImageChops
from starlette.testclient import TestClient

NAME = re.compile(r"^(Tensor|ConditioningFieldData)_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def world() -> t.Iterator[tuple[TestClient, dict[str, dict]]]:
    with TestClient(make_server(), base_url="http://mock") as client:
        reset(client)
        yield client, install_models(client)


def one(client: TestClient, node_type: str, **fields: t.Any) -> dict:
    """The output of a lone node, or the failed item."""
    item = run_graph(client, {"id": "g", "nodes": {"n": node("n", node_type, **fields)}, "edges": []})
    return result_of(item, "n") if item["status"] == "completed" else item


def value(client: TestClient, node_type: str, field: str = "value", **fields: t.Any) -> t.Any:
    found = one(client, node_type, **fields)
    assert "status" not in found, (found.get("error_type"), found.get("error_message"))
    return found[field]


@pytest.mark.parametrize(("node_type", "fields", "expected"), [
    ("integer_math", {"operation": "DIV", "a": -7, "b": 2}, -3),  # int(a / b): towards zero
    ("integer_math", {"operation": "MOD", "a": -7, "b": 3}, 2),
    ("integer_math", {"operation": "EXP", "a": 3, "b": 4}, 81),
    ("float_math", {"operation": "SQRT", "a": 2.25, "b": 0}, 1.5),
    ("float_math", {"operation": "DIV", "a": 1, "b": 4}, 0.25),
    ("float_to_int", {"value": 37.0, "multiple": 8, "method": "Nearest"}, 40),
    ("float_to_int", {"value": 37.0, "multiple": 8, "method": "Floor"}, 32),
    ("float_to_int", {"value": -3.7, "multiple": 1, "method": "Truncate"}, -3),
    ("round_float", {"value": 2.675, "decimals": 2}, 2.67),  # Python's round, as the real node
    ("string_join_three", {"string_left": "a", "string_middle": "b", "string_right": "c"}, "abc"),
    ("string_replace", {"string": "A cat and a CAT", "search_string": "cat", "replace_string": "dog"},
     "A dog and a dog"),
    ("string_replace", {"string": "x1y22", "search_string": r"\d+", "replace_string": "#", "use_regex": True},
     "x#y#"),
])
def test_pure_nodes_compute_what_the_real_ones_compute(world: t.Any, node_type: str, fields: dict,
                                                       expected: t.Any) -> None:
    client, _ = world
    assert value(client, node_type, **fields) == expected


def test_strings_split_as_the_real_nodes_split(world: t.Any) -> None:
    client, _ = world
    split = one(client, "string_split", string="key=value=more", delimiter="=")
    assert (split["string_1"], split["string_2"]) == ("key", "value=more")
    negative = one(client, "string_split_neg", string="a castle [fog, blur] at dawn")
    assert negative["positive_string"] == "a castle  at dawn"
    assert negative["negative_string"] == " fog, blur"


def test_collections_and_ranges(world: t.Any) -> None:
    client, _ = world
    assert value(client, "range_of_size", "collection", start=5, size=3, step=-2) == [5, 3, 1]
    assert value(client, "float_range", "collection", start=0, stop=1, steps=5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    expected = [int(v) for v in np.random.default_rng(42).integers(low=0, high=100, size=4)]
    assert value(client, "random_range", "collection", low=0, high=100, size=4, seed=42) == expected


def test_integer_math_refuses_what_its_validator_refuses(world: t.Any) -> None:
    client, _ = world
    g = {"id": "g", "nodes": {"zero": node("zero", "integer", value=0), "m": node("m", "integer_math", operation="DIV")},
         "edges": [edge("zero", "value", "m", "b")]}
    item = run_graph(client, g)
    assert item["status"] == "failed" and item["error_type"] == "NodeInputError"
    assert re.fullmatch(r"Node [0-9a-f-]{36} has invalid incoming input for b", item["error_message"])


def test_prompts_from_a_file_in_the_prompt_folder(world: t.Any) -> None:
    client, _ = world
    prompts = value(client, "prompt_from_file", "collection", file_path=PROMPT_FILE, start_line=2, max_prompts=2,
                    pre_prompt="photo of ", post_prompt=", 35mm")
    assert prompts == ["photo of a lighthouse on a rocky coast at dusk, 35mm",
                       "photo of a desert canyon under a starry sky, 35mm"]
    assert len(value(client, "prompt_from_file", "collection", file_path=PROMPT_FILE, max_prompts=0)) == 5


@pytest.mark.parametrize("path", ["/etc/passwd", "/invokeai/prompts/../../etc/hostname", "prompts.txt"])
def test_a_prompt_file_outside_the_prompt_folder_does_not_exist_for_a_graph(world: t.Any, path: str) -> None:
    client, _ = world
    failed = one(client, "prompt_from_file", file_path=path)
    assert failed["status"] == "failed" and failed["error_type"] == "NodeInputError"
    assert failed["error_message"].endswith("has invalid incoming input for file_path")


def test_dynamic_prompts_expand_templates(world: t.Any) -> None:
    client, _ = world
    prompts = value(client, "dynamic_prompt", "collection", prompt="a {red|blue} {cat|dog}", combinatorial=True,
                    max_prompts=10)
    assert sorted(prompts) == ["a blue cat", "a blue dog", "a red cat", "a red dog"]


def test_core_metadata_keeps_what_was_given_and_adds_the_app_version(world: t.Any) -> None:
    client, models = world
    metadata = value(client, "core_metadata", "metadata", positive_prompt="a fox", seed=3, steps=None,
                     model=models["sd1"])
    assert metadata == {"positive_prompt": "a fox", "seed": 3, "model": models["sd1"], "app_version": "6.8.1"}


def test_metadata_round_trips_through_an_image(world: t.Any) -> None:
    client, _ = world
    image = upload_image(client, metadata={"positive_prompt": "a harbour", "steps": 30})
    assert value(client, "metadata_from_image", "metadata", image={"image_name": image}) == \
        {"positive_prompt": "a harbour", "steps": 30}
    assert value(client, "metadata_field_extractor", image={"image_name": image}, key="positive_prompt") == "a harbour"
    failed = one(client, "metadata_field_extractor", image={"image_name": image}, key="steps")
    assert failed["error_message"] == "Metadata at key 'steps' must be a string"


def test_metadata_to_model_finds_an_installed_model_by_name(world: t.Any) -> None:
    client, models = world
    sd1 = models["sd1"]
    found = one(client, "metadata_to_model", metadata={"model": {"key": "gone", "name": sd1["name"]}},
                default_value=models["sdxl"])
    assert found["model"]["key"] == sd1["key"] and found["name"] == f"sd-1: {sd1['name']}"
    assert found["unet"]["unet"]["submodel_type"] == "unet" and found["vae"]["vae"]["submodel_type"] == "vae"


@pytest.mark.parametrize(("node_type", "field", "error_type", "message"), [
    ("main_model_loader", "model", "Exception", "Unknown model gone"),
    ("sdxl_model_loader", "model", "Exception", "Unknown model: gone"),
    ("vae_loader", "vae_model", "Exception", "Unknown vae: gone!"),
])
def test_loaders_refuse_a_model_that_is_not_installed(world: t.Any, node_type: str, field: str, error_type: str,
                                                      message: str) -> None:
    client, models = world
    missing = {**models["sd1"], "key": "gone"}
    failed = one(client, node_type, **{field: missing})
    assert (failed["status"], failed["error_type"], failed["error_message"]) == ("failed", error_type, message)


def test_the_flux_loader_names_each_submodel_as_the_real_one(world: t.Any) -> None:
    client, models = world
    loaded = one(client, "flux_model_loader", model=models["flux"], t5_encoder_model=models["t5"],
                 clip_embed_model=models["clip_embed"], vae_model=models["flux_vae"])
    assert loaded["transformer"]["transformer"] == {**models["flux"], "submodel_type": "transformer"}
    assert loaded["t5_encoder"]["tokenizer"]["submodel_type"] == "tokenizer_2"
    assert loaded["t5_encoder"]["text_encoder"] == {**models["t5"], "submodel_type": "text_encoder_2"}
    assert loaded["clip"]["text_encoder"] == {**models["clip_embed"], "submodel_type": "text_encoder"}
    assert loaded["vae"]["vae"]["key"] == models["flux_vae"]["key"] and loaded["max_seq_len"] == 256  # schnell


def test_a_lora_applies_once(world: t.Any) -> None:
    client, models = world
    g = {"id": "g", "nodes": {"l": node("l", "main_model_loader", model=models["sd1"]),
                              "a": node("a", "lora_loader", lora=models["lora"], weight=0.5),
                              "b": node("b", "lora_loader", lora=models["lora"], weight=0.5)},
         "edges": [edge("l", "unet", "a", "unet"), edge("l", "clip", "a", "clip"), edge("a", "unet", "b", "unet")]}
    item = run_graph(client, g)
    assert result_of(item, "a")["unet"]["loras"] == [{"lora": {**models["lora"], "submodel_type": None}, "weight": 0.5}]
    assert item["status"] == "failed" and item["error_message"] == f'LoRA "{models["lora"]["key"]}" already applied to unet'


def encode_prompt(client: TestClient, models: dict, prompt: str) -> str:
    g = {"id": "g", "nodes": {"l": node("l", "main_model_loader", model=models["sd1"]),
                              "c": node("c", "compel", prompt=prompt, use_cache=False)},
         "edges": [edge("l", "clip", "c", "clip")]}
    return result_of(run_graph(client, g), "c")["conditioning"]["conditioning_name"]


def test_conditioning_names_are_stable_for_the_same_prompt(world: t.Any) -> None:
    client, models = world
    first = encode_prompt(client, models, "a quiet lake")
    assert NAME.match(first) and first.startswith("ConditioningFieldData_")
    assert encode_prompt(client, models, "a quiet lake") == first
    assert encode_prompt(client, models, "a loud lake") != first


def test_image_to_latents_and_back_gives_the_image_at_the_latent_grid(world: t.Any) -> None:
    client, models = world
    image = upload_image(client, 100, 60)
    g = {"id": "g", "nodes": {"l": node("l", "main_model_loader", model=models["sd1"]),
                              "e": node("e", "i2l", image={"image_name": image}), "d": node("d", "l2i")},
         "edges": [edge("l", "vae", "e", "vae"), edge("l", "vae", "d", "vae"), edge("e", "latents", "d", "latents")]}
    item = run_graph(client, g)
    latents = result_of(item, "e")
    assert (latents["width"], latents["height"]) == (96, 56) and NAME.match(latents["latents"]["latents_name"])
    name = result_of(item, "d")["image"]["image_name"]
    decoded = Image.open(io.BytesIO(client.get(f"/api/v1/images/i/{name}/full").content)).convert("RGB")
    original = Image.open(io.BytesIO(client.get(f"/api/v1/images/i/{image}/full").content)).convert("RGB")
    assert decoded.size == (96, 56)
    assert max(ImageChops.difference(decoded, original.resize((96, 56))).convert("L").getdata()) <= 2


def test_latent_sizes_follow_the_real_rounding(world: t.Any) -> None:
    client, models = world
    g = {"id": "g", "nodes": {"n": node("n", "noise", width=296, height=200, seed=1),
                              "s": node("s", "lscale", scale_factor=1.5), "r": node("r", "lresize", width=96, height=88),
                              "c": node("c", "crop_latents", x=8, y=8, width=64, height=40)},
         "edges": [edge("n", "noise", "s", "latents"), edge("n", "noise", "r", "latents"),
                   edge("n", "noise", "c", "latents")]}
    item = run_graph(client, g)
    sizes = {key: (result_of(item, key)["width"], result_of(item, key)["height"]) for key in "nsrc"}
    assert sizes == {"n": (296, 200), "s": (440, 296), "r": (96, 88), "c": (64, 40)}
    assert result_of(item, "n")["noise"]["seed"] == 1 and result_of(item, "s")["latents"]["seed"] == 1


def test_ideal_size_for_an_sd1_model(world: t.Any) -> None:
    client, models = world
    g = {"id": "g", "nodes": {"l": node("l", "main_model_loader", model=models["sd1"]),
                              "i": node("i", "ideal_size", width=1920, height=1080)},
         "edges": [edge("l", "unet", "i", "unet")]}
    sized = result_of(run_graph(client, g), "i")
    assert (sized["width"], sized["height"]) == (680, 384)


def test_the_sd3_loader_checks_nothing_and_the_encoder_fails_on_a_missing_model(world: t.Any) -> None:
    client, models = world
    missing = {**models["sd3"], "key": "gone"}
    g = {"id": "g", "nodes": {"l": node("l", "sd3_model_loader", model=missing),
                              "e": node("e", "sd3_text_encoder", prompt="a fox")},
         "edges": [edge("l", "clip_l", "e", "clip_l"), edge("l", "clip_g", "e", "clip_g"),
                   edge("l", "t5_encoder", "e", "t5_encoder")]}
    item = run_graph(client, g)
    assert result_of(item, "l")["t5_encoder"]["text_encoder"]["submodel_type"] == "text_encoder_3"
    assert (item["status"], item["error_type"], item["error_message"]) == \
        ("failed", "UnknownModelException", "model not found")
