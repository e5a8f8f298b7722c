"""`/api/v1/utilities/dynamicprompts`: prompt templates expanded by the `dynamicprompts` library,
the one the real server uses, so `{a|b}`, nesting, `{2$$a|b|c}` and ranges behave the same."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()
MAX_PROMPTS = 10000  # the real server's cap on max_prompts


@handlers("parse_dynamicprompts")
def parse_dynamicprompts(request: Request[InvokeStore]) -> dict:
    # dynamicprompts and pyparsing take ~35 ms to import: on first use, not at start-up.
    from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
    from pyparsing import ParseException

    body = request.body
    prompt, limit = body["prompt"], min(body.get("max_prompts", 1000), MAX_PROMPTS)
    error = None
    try:
        if body.get("combinatorial", True):
            prompts = CombinatorialPromptGenerator().generate(prompt, max_prompts=limit)
        else:
            # Without a seed the real server draws at random; the mock draws from its own seed so a
            # run can be repeated.
            seed = body.get("seed")
            if seed is None:
                seed = request.state.runtime.prompt_rng.getrandbits(32)
            prompts = RandomPromptGenerator(seed=seed).generate(prompt, num_images=limit)
    except ParseException as exc:
        prompts, error = [prompt], str(exc)
    return {"prompts": list(prompts) or [""], "error": error}
