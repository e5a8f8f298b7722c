"""GitHub's REST description (npm `@octokit/openapi`), fetched from the npm registry at test time
and kept in a cache directory (never committed): `$MOCKSERVER_TEST_DOWNLOADS`, else
`~/.cache/mockserver-tests`. Its 3.1 form is made here from the 3.0 one (the package publishes 3.0
only): `nullable` becomes a `null` type, `example` `examples`, boolean exclusive bounds numbers.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import typing as t
import urllib.request
from pathlib import Path

from mockserver.specworld.schema31 import document_schemas

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
DOCUMENT = "package/generated/api.github.com.json"


def downloads() -> Path:
    explicit = os.environ.get("MOCKSERVER_TEST_DOWNLOADS")
    return Path(explicit) if explicit else Path.home() / ".cache" / "mockserver-tests"


def github_description() -> Path:
    """The 3.0.3 document, downloaded once."""
    target = downloads() / f"octokit-openapi-{VERSION}" / "api.github.com.json"
    if not target.exists():
        url = f"https://registry.npmjs.org/{PACKAGE}/-/openapi-{VERSION}.tgz"
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - a fixed https URL
            data = response.read()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.extractfile(DOCUMENT)
            assert member is not None, f"{DOCUMENT} is not in {url}"
            content = member.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(target)
    return target


def github_description_31() -> Path:
    target = downloads() / f"octokit-openapi-{VERSION}" / "api.github.com.3.1.json"
    if not target.exists():
        document = json.loads(github_description().read_bytes())
        document["openapi"] = "3.1.0"
        _upgrade(document)
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(document))
        partial.replace(target)
    return target


_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_ONE = ("items", "not", "additionalProperties")
_SCHEMA_LISTS = ("allOf", "oneOf", "anyOf")


def _upgrade(root: dict[str, t.Any]) -> None:
    for schema in document_schemas(root):
        _upgrade_schema(schema)


def _upgrade_schema(schema: dict[str, t.Any]) -> None:
    if schema.pop("nullable", False):
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
            if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
                schema["enum"].append(None)
        elif "$ref" not in schema:
            branches = [dict(schema)]
            schema.clear()
            schema["anyOf"] = [*branches, {"type": "null"}]
    if "example" in schema:
        schema["examples"] = [schema.pop("example")]
    for keyword, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if schema.get(keyword) is True and bound in schema:
            schema[keyword] = schema.pop(bound)
        elif schema.get(keyword) is False:
            del schema[keyword]
    for key in _SCHEMA_MAPS:
        for sub in (schema.get(key) or {}).values():
            if isinstance(sub, dict):
                _upgrade_schema(sub)
    for key in _SCHEMA_ONE:
        if isinstance(schema.get(key), dict):
            _upgrade_schema(schema[key])
    for key in _SCHEMA_LISTS:
        for sub in schema.get(key) or []:
            if isinstance(sub, dict):
                _upgrade_schema(sub)
