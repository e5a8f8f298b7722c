"""`POST /api/v1/utilities/dynamicprompts`: prompt templates expanded for real.

Facts: transcript seq 13, openapi-v6.8.json (Body_parse_dynamicprompts: max_prompts 1-10000,
default 1000; combinatorial default true; optional seed), and InvokeAI's `parse_dynamicprompts`:
CombinatorialPromptGenerator(...).generate(prompt, max_prompts=...) or
RandomPromptGenerator(seed=seed).generate(prompt, num_images=max_prompts), both from dynamicprompts
0.31.0; on a pyparsing ParseException the answer is `prompts=[prompt], error=str(e)`; an empty
result is `[""]`.
"""

from __future__ import annotations

import itertools
import typing as t

import pytest
from invokeai_support import recorded

URL = "/api/v1/utilities/dynamicprompts"


def parse(client: t.Any, prompt: str, **options: t.Any) -> dict:
    response = client.post(URL, json={"prompt": prompt, **options})
    assert response.status_code == 200, response.text
    return response.json()


def prompts(client: t.Any, prompt: str, **options: t.Any) -> list[str]:
    answer = parse(client, prompt, **options)
    assert answer["error"] is None, answer
    return answer["prompts"]


# -- combinatorial ---------------------------------------------------------------------------------


def test_the_recorded_template(client: t.Any) -> None:
    real = recorded(13)
    response = client.post(URL, json=real["request"]["json"])
    assert response.status_code == 200
    assert response.json() == {"prompts": ["a red cat", "a blue cat"], "error": None}  # seq 13


def test_combinatorial_is_the_default(client: t.Any) -> None:
    assert prompts(client, "a {red|blue} cat") == ["a red cat", "a blue cat"]


def test_nested_variants(client: t.Any) -> None:
    assert prompts(client, "a {red|{light|dark} blue} cat") == ["a red cat", "a light blue cat", "a dark blue cat"]


def test_several_groups_give_the_cartesian_product_in_order(client: t.Any) -> None:
    expected = [f"{a} {b}" for a, b in itertools.product(["a", "b"], ["x", "y", "z"])]
    assert prompts(client, "{a|b} {x|y|z}") == expected == ["a x", "a y", "a z", "b x", "b y", "b z"]


def test_max_prompts_caps_the_result(client: t.Any) -> None:
    assert prompts(client, "{a|b} {x|y|z}", max_prompts=4) == ["a x", "a y", "a z", "b x"]
    assert prompts(client, "{a|b} {x|y|z}", max_prompts=1) == ["a x"]
    assert len(prompts(client, "{a|b|c|d|e} {1|2|3|4|5} {p|q|r|s}", max_prompts=10000)) == 100


def test_the_default_cap_is_1000(client: t.Any) -> None:
    template = " ".join("{0|1|2|3|4|5|6|7|8|9}" for _ in range(4))  # 10,000 combinations
    result = prompts(client, template)
    assert len(result) == 1000 and len(set(result)) == 1000
    assert result[:3] == ["0 0 0 0", "0 0 0 1", "0 0 0 2"]


def test_multi_select_picks_combinations(client: t.Any) -> None:
    assert prompts(client, "{2$$a|b|c}") == ["a,b", "a,c", "b,a", "b,c", "c,a", "c,b"]
    assert prompts(client, "{2$$ and $$a|b|c}") == [
        "a and b", "a and c", "b and a", "b and c", "c and a", "c and b"]


def test_a_range_of_counts(client: t.Any) -> None:
    assert prompts(client, "{1-2$$a|b|c}") == ["a", "b", "c", "a,b", "a,c", "b,a", "b,c", "c,a", "c,b"]


def test_a_plain_prompt_comes_back_alone(client: t.Any) -> None:
    assert prompts(client, "a photo of a cat") == ["a photo of a cat"]
    assert prompts(client, "a | b") == ["a | b"]


def test_an_empty_prompt_gives_one_empty_prompt(client: t.Any) -> None:
    assert parse(client, "") == {"prompts": [""], "error": None}


# -- random ---------------------------------------------------------------------------------------------


def test_random_gives_max_prompts_drawn_from_the_variants(client: t.Any) -> None:
    result = prompts(client, "a {red|blue|green} cat", combinatorial=False, max_prompts=25)
    assert len(result) == 25
    assert set(result) <= {"a red cat", "a blue cat", "a green cat"}
    assert len(set(result)) > 1  # drawn, not one variant repeated


def test_random_with_several_groups(client: t.Any) -> None:
    result = prompts(client, "{a|b} {x|y|z}", combinatorial=False, max_prompts=8)
    allowed = {f"{a} {b}" for a, b in itertools.product("ab", "xyz")}
    assert len(result) == 8 and set(result) <= allowed


def test_random_with_a_seed_is_what_dynamicprompts_draws(client: t.Any) -> None:
    from dynamicprompts.generators import RandomPromptGenerator

    template = "a {red|blue|green|gold} {cat|dog}"
    expected = RandomPromptGenerator(seed=42).generate(template, num_images=6)
    assert prompts(client, template, combinatorial=False, max_prompts=6, seed=42) == expected
    assert prompts(client, template, combinatorial=False, max_prompts=6, seed=42) == expected  # repeatable


def test_random_ignores_the_seed_when_combinatorial(client: t.Any) -> None:
    assert prompts(client, "a {red|blue} cat", seed=7) == ["a red cat", "a blue cat"]


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["{a|b", "a {red|blue cat"])
@pytest.mark.parametrize("combinatorial", [True, False])
def test_a_malformed_template_comes_back_with_the_error(client: t.Any, template: str, combinatorial: bool) -> None:
    answer = parse(client, template, combinatorial=combinatorial)
    assert answer["prompts"] == [template]
    assert isinstance(answer["error"], str) and answer["error"]
    assert "Expected" in answer["error"]


@pytest.mark.parametrize(("value", "kind"), [(0, "greater_than_equal"), (10001, "less_than_equal"),
                                             (-5, "greater_than_equal")])
def test_max_prompts_out_of_range_is_422(client: t.Any, value: int, kind: str) -> None:
    response = client.post(URL, json={"prompt": "a {b|c}", "max_prompts": value})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == kind and error["loc"] == ["body", "max_prompts"] and error["input"] == value


def test_a_missing_prompt_is_422(client: t.Any) -> None:
    response = client.post(URL, json={"max_prompts": 5})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["body", "prompt"]


def test_a_prompt_that_is_not_a_string_is_422(client: t.Any) -> None:
    response = client.post(URL, json={"prompt": 5})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "string_type" and error["loc"] == ["body", "prompt"]
