"""What a chute's cords answer: deterministic stand-ins, the same for the same input.

LLM text in vllm's OpenAI-compatible shapes (whole answers and SSE chunks), embedding vectors,
real images for diffusion, and for custom cords a value shaped by the cord's output schema and
content type. Token counts come from one small rule (`count_tokens`), so prompt and completion
usage agree with what the mock bills.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import struct
import typing as t

from PIL import Image, ImageDraw

_WORDS = ("the", "a", "model", "answer", "is", "simple", "mock", "chute", "result", "tokens", "stream",
          "request", "server", "quiet", "river", "light", "stone", "signal", "garden", "number", "blue",
          "clear", "fast", "small", "world", "idea", "here", "again", "every", "kind", "of", "and")
_TOKEN = re.compile(r"\w+|[^\w\s]")
EMBEDDING_DIMENSIONS = 384
MAX_MODEL_LEN = 32768


def digest(*parts: t.Any) -> int:
    """A stable integer for the given values (JSON-encoded), the seed of every stand-in."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _content_text(content: t.Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content)


def prompt_tokens(body: dict) -> int:
    """Chat messages cost their text plus 3 tokens each for the template, and 3 to prime the reply."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return 3 + sum(3 + count_tokens(_content_text(m.get("content")) if isinstance(m, dict) else str(m))
                       for m in messages)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return sum(count_tokens(_content_text(p)) if not isinstance(p, int) else 1 for p in prompt)
    return count_tokens(_content_text(prompt))


# -- LLM ----------------------------------------------------------------------------------------

def llm_input_problem(body: dict, chat: bool) -> str | None:
    """What vllm would refuse in a request (the mock checks only the shape it needs)."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return "messages must be a non-empty list of message objects"
        return None
    prompt = body.get("prompt")
    if not isinstance(prompt, (str, list)) or not prompt:
        return "prompt must be a non-empty string or list"
    return None


def completion_pieces(model: str, body: dict) -> tuple[list[str], str]:
    """The reply as the pieces it streams in (one token each), and its finish reason."""
    seed = digest(model, body.get("messages"), body.get("prompt"), body.get("seed"))
    rng = random.Random(seed)
    wanted = 8 + seed % 25
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    count = min(wanted, limit) if isinstance(limit, int) and limit > 0 else wanted
    words = [rng.choice(_WORDS) for _ in range(count)]
    pieces = [words[0].capitalize()] + [f" {w}" for w in words[1:]]
    if count == wanted:
        pieces[-1] += "."
    return pieces, "stop" if count == wanted else "length"


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion,
            "prompt_tokens_details": None}


def chat_completion(ident: str, created: int, model: str, pieces: list[str], finish: str, use: dict) -> dict:
    return {"id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "reasoning_content": None,
                                                 "content": "".join(pieces), "tool_calls": []},
                         "logprobs": None, "finish_reason": finish, "stop_reason": None}],
            "usage": use, "prompt_logprobs": None}


def text_completion(ident: str, created: int, model: str, pieces: list[str], finish: str, use: dict) -> dict:
    return {"id": ident, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": "".join(pieces), "logprobs": None, "finish_reason": finish,
                         "stop_reason": None, "prompt_logprobs": None}],
            "usage": use}


def chat_chunks(ident: str, created: int, model: str, pieces: list[str], finish: str, use: dict,
                include_usage: bool) -> t.Iterator[bytes]:
    """vllm's chat stream: a role chunk, one chunk per token (the last with its finish reason),
    the usage chunk (no choices) when asked for, then `[DONE]`."""
    def chunk(delta: dict, reason: str | None = None) -> bytes:
        return _sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]})
    yield chunk({"role": "assistant", "content": ""})
    for index, piece in enumerate(pieces):
        yield chunk({"content": piece}, finish if index == len(pieces) - 1 else None)
    if include_usage:
        yield _sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": use})
    yield b"data: [DONE]\n\n"


def completion_chunks(ident: str, created: int, model: str, pieces: list[str], finish: str, use: dict,
                      include_usage: bool) -> t.Iterator[bytes]:
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        yield _sse({"id": ident, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": piece, "logprobs": None,
                                 "finish_reason": finish if last else None, "stop_reason": None}]})
    if include_usage:
        yield _sse({"id": ident, "object": "text_completion", "created": created, "model": model,
                    "choices": [], "usage": use})
    yield b"data: [DONE]\n\n"


def _sse(value: dict) -> bytes:
    return b"data: " + json.dumps(value, separators=(",", ":")).encode() + b"\n\n"


def model_card(chute: dict, created: int, price: dict | None = None) -> dict:
    card: dict[str, t.Any] = {"id": chute["name"], "object": "model", "created": created, "owned_by": "vllm",
                              "root": chute["name"], "parent": None, "max_model_len": MAX_MODEL_LEN}
    if price is not None:
        card["price"] = price
        card["pricing"] = {"prompt": price["input"]["usd"], "completion": price["output"]["usd"]}
    return card


def tokenize(body: dict) -> dict:
    messages: t.Any = body.get("messages") if isinstance(body.get("messages"), list) else []
    text = _content_text(body.get("prompt")) or " ".join(
        _content_text(m.get("content")) for m in messages if isinstance(m, dict))
    ids = [digest(piece) % 150000 for piece in _TOKEN.findall(text)]
    return {"count": len(ids), "max_model_len": MAX_MODEL_LEN, "tokens": ids, "token_strs": None}


def detokenize(body: dict) -> dict:
    tokens: t.Any = body.get("tokens") if isinstance(body.get("tokens"), list) else []
    return {"prompt": " ".join(_WORDS[int(x) % len(_WORDS)] for x in tokens if isinstance(x, int))}


# -- embeddings -----------------------------------------------------------------------------------

def embeddings(model: str, body: dict) -> tuple[dict, int]:
    """OpenAI's embedding list for each input (floats, or base64 float32 as the SDK asks by default)."""
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) and not all(isinstance(x, int) for x in inputs) else [inputs]
    size: t.Any = body.get("dimensions") if isinstance(body.get("dimensions"), int) and body["dimensions"] > 0 \
        else EMBEDDING_DIMENSIONS
    data, tokens = [], 0
    for index, item in enumerate(items):
        text = _content_text(item) if not isinstance(item, list) else " ".join(map(str, item))
        tokens += count_tokens(text) if not isinstance(item, list) else len(item)
        vector = _unit_vector(digest(model, text), min(size, 8192))
        encoded: t.Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"index": index, "object": "embedding", "embedding": encoded})
    return {"id": f"embd-{digest(model, inputs):016x}", "object": "list", "created": 0, "model": model,
            "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens,
                                    "completion_tokens": 0, "prompt_tokens_details": None}}, tokens


def _unit_vector(seed: int, size: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [round(x / norm, 7) for x in raw]


# -- images ---------------------------------------------------------------------------------------

def image(body: dict, content_type: str) -> bytes:
    """A soft picture of the requested size, the same for the same prompt and seed."""
    width, height = int(body.get("width") or 1024), int(body.get("height") or 1024)
    rng = random.Random(digest(body.get("prompt"), body.get("negative_prompt"), body.get("seed"), width, height))
    top, bottom = [rng.randrange(256) for _ in range(3)], [rng.randrange(256) for _ in range(3)]
    picture = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    for y in range(height):
        mix = y / max(height - 1, 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)))
    for _ in range(rng.randint(3, 7)):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randint(min(width, height) // 12,
                                                                             min(width, height) // 4)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    if content_type == "image/png":
        picture.save(out, format="PNG")
    elif content_type == "image/webp":
        picture.save(out, format="WEBP")
    else:
        picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


# -- custom cords ---------------------------------------------------------------------------------

def custom_json(cord: dict, body: t.Any) -> t.Any:
    """A value valid against the cord's output schema, seeded by the input."""
    schema = cord.get("output_schema")
    key = str(digest(cord.get("function"), body))
    if isinstance(schema, dict) and schema and "$ref" not in json.dumps(schema):
        from mockserver.engine.examples import ExampleGenerator  # ~80 ms to import; few chutes need it

        try:
            return ExampleGenerator(0).from_schema(schema, key=key)
        except Exception:  # a schema the generator can't read (it came from a deploy): fall back
            pass
    return {"result": f"{cord.get('function')}:{key[:12]}"}


def custom_text(cord: dict, body: t.Any) -> str:
    return f"{cord.get('function')} output {digest(cord.get('function'), body):016x}\n"
