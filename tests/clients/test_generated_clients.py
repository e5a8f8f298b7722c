"""Clients generated from our specs by openapi-python-client, against a live mock of each API.

Each spec is turned into a Python client at test time (into tmp_path, with no formatter hooks, so
nothing is fetched), the generator must keep every model (it drops a model whose schema it cannot
build, as it did with the Chutes `Cord`), and several operations are called through the client:
the answers must parse into the generated models, nested models included.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import time
import types
import typing as t
from pathlib import Path

import pytest
import yaml
from live import serve

from mockserver.engine.resources import fixtures_dir, specs_dir

pytestmark = pytest.mark.live

# What the generator says when it leaves a schema (and every model using it) out of the client.
DROPPED = ("Unable to process schema", "Failure to process schema")
OPENAI_KEY = "sk-admin-mockserver"


def chutes_admin_key() -> str:
    users = yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
    return next(k["value"] for u in users if u["username"] == "chutes" for k in u["api_keys"] if k.get("admin"))


@contextlib.contextmanager
def generated_client(api: str, tmp_path: Path) -> t.Iterator[types.ModuleType]:
    """Generate `<api>_client` from specs/<api>.yaml into tmp_path and import it (removed from
    sys.modules and sys.path afterwards)."""
    package = f"{api}_client"
    config = tmp_path / "generator.yaml"
    # No post hooks: the default ones run ruff/black, which a test must not depend on.
    config.write_text(yaml.safe_dump({"post_hooks": [], "package_name_override": package}), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(specs_dir() / f"{api}.yaml"),
         "--config", str(config), "--output-path", str(tmp_path / package), "--meta", "none"],
        capture_output=True, text=True, check=False)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    assert not any(text in said for text in DROPPED), said
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            del sys.modules[name]


def module(client: types.ModuleType, name: str) -> types.ModuleType:
    return importlib.import_module(f"{client.__name__}.{name}")


# -- OpenAI Usage -----------------------------------------------------------------------------------

def test_openai_usage_client(tmp_path: Path) -> None:
    with serve("--api", "openai_usage", "--seed", "3", "--validate-responses") as base, \
            generated_client("openai_usage", tmp_path) as generated:
        models = module(generated, "models")
        client = generated.AuthenticatedClient(base_url=f"{base}/v1", token=OPENAI_KEY)
        start = int(time.time()) - 7 * 86400

        completions = module(generated, "api.usage.usage_completions").sync(
            client=client, start_time=start, limit=7, group_by=[models.UsageCompletionsGroupByItem.MODEL])
        assert isinstance(completions, models.UsageCompletionsPage), completions
        assert len(completions.data) == 7
        results = [result for bucket in completions.data for result in bucket.results]
        assert results and all(isinstance(result.input_tokens, int) and result.model for result in results)

        costs = module(generated, "api.usage.usage_costs").sync(client=client, start_time=start, limit=7)
        assert isinstance(costs, models.CostsPage), costs
        amounts = [result.amount for bucket in costs.data for result in bucket.results]
        assert amounts and all(isinstance(amount.value, float) and amount.currency == "usd" for amount in amounts)

        embeddings = module(generated, "api.usage.usage_embeddings").sync_detailed(
            client=client, start_time=start, bucket_width=models.UsageEmbeddingsBucketWidth.VALUE_1,
            limit=5)
        assert embeddings.status_code == 200 and isinstance(embeddings.parsed, models.UsageEmbeddingsPage)
        assert len(embeddings.parsed.data) == 5

        # A refusal parses too: the error model, naming the parameter.
        refused = module(generated, "api.usage.usage_completions").sync(
            client=client, start_time=start, bucket_width=models.UsageCompletionsBucketWidth.VALUE_2, limit=32)
        assert isinstance(refused, models.ErrorResponse) and refused.error.param == "limit"


# -- Chutes -----------------------------------------------------------------------------------------

CORD = {"method": "POST", "path": "/echo", "function": "echo", "stream": False}


def test_chutes_client(tmp_path: Path) -> None:
    with serve("--api", "chutes", "--seed", "3", "--validate-responses") as base, \
            generated_client("chutes", tmp_path) as generated:
        models = module(generated, "models")
        client = generated.AuthenticatedClient(base_url=base, token=chutes_admin_key(), prefix="")

        me = module(generated, "api.users.me_users_me_get").sync(client=client)
        assert me.username == "chutes"

        listed = module(generated, "api.chutes.list_chutes_chutes_get").sync(
            client=client, include_public=True, include_schemas=True, limit=5)
        assert isinstance(listed, models.ChuteList), listed
        assert listed.items and all(isinstance(item, models.ChuteResponse) for item in listed.items)
        cords = [cord for refs in listed.cord_refs.additional_properties.values() for cord in refs]
        assert cords and all(isinstance(cord, models.Cord) for cord in cords)

        chute = module(generated, "api.chutes.get_chute_chutes_chute_id_or_name_get").sync(
            listed.items[0].chute_id, client=client)
        assert isinstance(chute, models.ChuteResponse) and chute.chute_id == listed.items[0].chute_id
        assert chute.cords and all(isinstance(cord, models.Cord) for cord in chute.cords)

        images = module(generated, "api.images.list_images_images_get").sync(client=client, include_public=True)
        assert images.items and images.items[0].image_id

        # A deploy through the generated models: a cord without schemas comes back with `{}`.
        body = models.ChuteArgs.from_dict({
            "name": "generated-client", "image": "chutes/sglang:0.4.9", "public": False, "code": "chute = 1\n",
            "filename": "my_chute.py", "ref_str": "my_chute:chute",
            "node_selector": {"gpu_count": 1, "min_vram_gb_per_gpu": 24}, "cords": [CORD]})
        deployed = module(generated, "api.chutes.deploy_chute_chutes_post").sync(
            client=client, body=body, accept_fee=True)
        assert isinstance(deployed, models.ChuteResponse), deployed
        cord = deployed.cords[0]
        assert isinstance(cord, models.Cord) and cord.function == "echo"
        assert cord.to_dict()["input_schema"] == {} and cord.to_dict()["minimal_input_schema"] == {}

        missing = module(generated, "api.chutes.get_chute_chutes_chute_id_or_name_get").sync(
            "no-such-chute", client=client)
        assert isinstance(missing, models.HTTPError) and missing.detail == "Chute not found, or does not belong to you"


# -- InvokeAI ---------------------------------------------------------------------------------------

def test_invokeai_client(tmp_path: Path) -> None:
    with serve("--api", "invokeai", "--seed", "3", "--validate-responses") as base, \
            generated_client("invokeai", tmp_path) as generated:
        models = module(generated, "models")
        client = generated.Client(base_url=base)

        version = module(generated, "api.app.app_version").sync(client=client)
        assert isinstance(version, models.AppVersion) and version.version == "6.8.1"

        config = module(generated, "api.app.get_runtime_config").sync(client=client)
        assert isinstance(config, models.InvokeAIAppConfigWithSetFields), config
        assert config.config.attention_slice_size == "auto"

        created = module(generated, "api.boards.create_board").sync(client=client, board_name="generated")
        assert isinstance(created, models.BoardDTO) and created.board_name == "generated"
        fetched = module(generated, "api.boards.get_board").sync(created.board_id, client=client)
        assert isinstance(fetched, models.BoardDTO) and fetched.board_id == created.board_id
        listed = module(generated, "api.boards.list_boards").sync(client=client, all_=True)
        assert isinstance(listed, list) and created.board_id in {board.board_id for board in listed}

        presets = module(generated, "api.style_presets.list_style_presets").sync(client=client)
        assert presets and all(isinstance(preset, models.StylePresetRecordWithImage) for preset in presets)

        workflows = module(generated, "api.workflows.list_workflows").sync(client=client)
        assert workflows.items and workflows.items[0].workflow_id

        # A refusal the spec documents for the operation (404) comes back as the answer it is.
        missing = module(generated, "api.boards.get_board").sync_detailed("no-such-board", client=client)
        assert missing.status_code == 404 and json.loads(missing.content) == {"detail": "Board not found"}
