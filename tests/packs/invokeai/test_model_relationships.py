"""Model relationships (`/api/v1/model_relationships`): pairs of installed models, related both ways.

Facts: transcript seq 151 (an unknown key has no related models: 200 `[]`) and upstream's router and
SQLite store: the pair is stored once (`INSERT OR IGNORE`, so relating twice is no error), removing a
pair that does not exist is no error either, a model cannot be related to itself (400 `Cannot relate
a model to itself.` / `Cannot unlink a model from itself.`), the batch lookup answers the distinct
related keys, and the rows go with their model (`ON DELETE CASCADE`). Keys that are no installed
model are a 400 in the mock (the real server fails on the foreign key with a 500).
"""

from __future__ import annotations

import typing as t

import pytest
from invokeai_support import CONTROL, ok, recorded

MR = "/api/v1/model_relationships"
MODELS = "/api/v2/models"
SOURCES = ("/invokeai/import/checkpoints/juggernautXL_v9Rdphoto2Lightning.safetensors",
           "/invokeai/import/loras/pixel-art-xl.safetensors",
           "/invokeai/import/diffusers/sdxl-vae-fp16-fix",
           "/invokeai/import/embeddings/easynegative.safetensors")



@pytest.fixture
def keys(client: t.Any) -> dict[str, str]:
    """Four installed models, by name: checkpoint, lora, vae, embedding."""
    client.get(f"{MODELS}/").raise_for_status()
    ok(client.put(f"{CONTROL}/settings", json={"model_speed": "instant"}))
    for source in SOURCES:
        ok(client.post(f"{MODELS}/install", params={"source": source}, json={}), 201)
    found = {m["type"]: m["key"] for m in ok(client.get(f"{MODELS}/"))["models"]}
    return {"checkpoint": found["main"], "lora": found["lora"], "vae": found["vae"], "embedding": found["embedding"]}


def relate(client: t.Any, a: str, b: str) -> t.Any:
    return client.post(f"{MR}/", json={"model_key_1": a, "model_key_2": b})


def unrelate(client: t.Any, a: str, b: str) -> t.Any:
    return client.request("DELETE", f"{MR}/", json={"model_key_1": a, "model_key_2": b})


def related(client: t.Any, key: str) -> list[str]:
    return ok(client.get(f"{MR}/i/{key}"))


def test_unknown_key_has_none(client: t.Any) -> None:
    response = client.get(recorded(151)["request"]["path"])
    assert response.status_code == 200 and response.json() == recorded(151)["response"]["json"] == []


def test_relationships_go_both_ways(client: t.Any, keys: dict[str, str]) -> None:
    checkpoint, lora, vae = keys["checkpoint"], keys["lora"], keys["vae"]
    response = relate(client, lora, checkpoint)
    assert response.status_code == 204 and response.content == b""
    ok(relate(client, checkpoint, vae), 204)
    assert sorted(related(client, checkpoint)) == sorted([lora, vae])
    assert related(client, lora) == [checkpoint]
    assert related(client, vae) == [checkpoint]
    assert related(client, keys["embedding"]) == []

    ok(relate(client, checkpoint, lora), 204)  # the same pair again, the other way round: nothing new
    assert sorted(related(client, checkpoint)) == sorted([lora, vae])

    ok(unrelate(client, checkpoint, lora), 204)
    assert related(client, checkpoint) == [vae]
    assert related(client, lora) == []
    ok(unrelate(client, checkpoint, lora), 204)  # not related any more: still 204


def test_batch_is_the_distinct_union(client: t.Any, keys: dict[str, str]) -> None:
    checkpoint, lora, vae, embedding = keys["checkpoint"], keys["lora"], keys["vae"], keys["embedding"]
    ok(relate(client, checkpoint, lora), 204)
    ok(relate(client, checkpoint, vae), 204)
    ok(relate(client, lora, embedding), 204)
    batch = ok(client.post(f"{MR}/batch", json={"model_keys": [lora, vae, "unknown-key"]}))
    assert sorted(batch) == sorted([checkpoint, embedding])
    assert len(batch) == len(set(batch))  # the checkpoint is related to both, listed once
    assert ok(client.post(f"{MR}/batch", json={"model_keys": []})) == []
    assert client.post(f"{MR}/batch", json={}).status_code == 422


def test_refusals(client: t.Any, keys: dict[str, str]) -> None:
    checkpoint = keys["checkpoint"]
    itself = relate(client, checkpoint, checkpoint)
    assert itself.status_code == 400 and itself.json() == {"detail": "Cannot relate a model to itself."}
    unlink = unrelate(client, checkpoint, checkpoint)
    assert unlink.status_code == 400 and unlink.json() == {"detail": "Cannot unlink a model from itself."}
    unknown = relate(client, checkpoint, "no-such-model")
    assert unknown.status_code == 400
    assert related(client, checkpoint) == []
    missing_field = client.post(f"{MR}/", json={"model_key_1": checkpoint})
    assert missing_field.status_code == 422
    assert missing_field.json()["detail"][0]["loc"] == ["body", "model_key_2"]


def test_deleting_a_model_drops_its_relationships(client: t.Any, keys: dict[str, str]) -> None:
    checkpoint, lora, vae = keys["checkpoint"], keys["lora"], keys["vae"]
    ok(relate(client, checkpoint, lora), 204)
    ok(relate(client, lora, vae), 204)
    ok(client.delete(f"{MODELS}/i/{lora}"), 204)
    assert related(client, checkpoint) == []
    assert related(client, vae) == []
    assert related(client, lora) == []
