"""Prompt nodes: `dynamic_prompt` expands a template with the `dynamicprompts` library the real
server uses; `prompt_from_file` reads prompt lines from a text file. The mock never reads the host's
disk for a graph: prompt files live in the pack's fixtures (`fixtures/invokeai/prompts/`), seen by
the graph under the server's root as `/invokeai/prompts/<name>`; any other path does not exist, and
fails as a missing file fails on the real server."""

from __future__ import annotations

from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
from pyparsing import ParseException

from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, Runner

INT32_MAX = 2**31 - 1


def _dynamic_prompt(ctx: RunContext, node: dict) -> dict:
    prompt, limit = node.get("prompt") or "", int(node["max_prompts"])
    try:
        if node.get("combinatorial"):
            prompts = CombinatorialPromptGenerator().generate(prompt, max_prompts=limit)
        else:  # the real node draws unseeded; the mock draws from its own seed so runs repeat
            prompts = RandomPromptGenerator(seed=ctx.rng.getrandbits(32)).generate(prompt, num_images=limit)
    except ParseException as error:
        raise NodeFailed("ParseException", str(error), "invocations/prompt.py") from None
    return {"collection": [str(p) for p in prompts], "type": "string_collection_output"}


def _prompt_from_file(ctx: RunContext, node: dict) -> dict:
    text = ctx.read_prompt_file(str(node.get("file_path") or ""))
    if text is None:  # the registry's validator check refuses this before the node runs
        raise NodeFailed("FileNotFoundError", f"No such file or directory: '{node.get('file_path')}'",
                         "invocations/prompt.py")
    start = int(node["start_line"]) - 1
    count = int(node["max_prompts"])
    end = start + count if count > 0 else INT32_MAX
    before, after = node.get("pre_prompt") or "", node.get("post_prompt") or ""
    lines = text.splitlines()
    prompts = [before + line.strip() + after for index, line in enumerate(lines) if start <= index < end]
    return {"collection": prompts, "type": "string_collection_output"}


RUNNERS: dict[str, Runner] = {
    "dynamic_prompt": _dynamic_prompt,
    "prompt_from_file": _prompt_from_file,
}
