"""Where the specs and fixtures live: beside the package in a checkout, or installed as data files."""

from __future__ import annotations

import os
import sys
import typing as t
from pathlib import Path

import yaml

# libyaml's parser reads the fixtures ~10x faster than PyYAML's pure-Python one (the same safe
# constructor makes the values); the pure one is the fallback where PyYAML was built without it.
_SAFE_LOADER: t.Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CHECKOUT = Path(__file__).resolve().parents[2]


def _data_root() -> Path:
    override = os.environ.get("MOCKSERVER_HOME")
    if override:
        return Path(override)
    if (_CHECKOUT / "specs").is_dir():
        return _CHECKOUT
    return Path(sys.prefix) / "share" / "mockserver"


def specs_dir() -> Path:
    return _data_root() / "specs"


def fixtures_dir() -> Path:
    return _data_root() / "fixtures"


def read_yaml(path: Path | str) -> t.Any:
    """A data file (a fixture) parsed with YAML's safe loader."""
    with open(path, "rb") as handle:
        return yaml.load(handle, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
