"""Where the specs and fixtures live: inside the installed package, or at the top of a checkout."""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

import yaml

# libyaml's parser reads the fixtures ~10x faster than PyYAML's pure-Python one (the same safe
# constructor makes the values); the pure one is the fallback where PyYAML was built without it.
_SAFE_LOADER: t.Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A built package carries copies of specs/ and fixtures/ inside it (setup.py puts them there), so
# they are found beside the code whatever the install layout (venv, --user, --prefix, --target).
_PACKAGE = Path(__file__).resolve().parents[1]
# A checkout (and an editable install of one) reads the folders at its top, where they are edited.
_CHECKOUT = _PACKAGE.parent


def _data_root() -> Path:
    override = os.environ.get("MOCKSERVER_HOME")
    if override:
        return Path(override)
    if (_PACKAGE / "specs").is_dir():
        return _PACKAGE
    return _CHECKOUT


def specs_dir() -> Path:
    return _data_root() / "specs"


def fixtures_dir() -> Path:
    return _data_root() / "fixtures"


def read_yaml(path: Path | str) -> t.Any:
    """A data file (a fixture) parsed with YAML's safe loader."""
    with open(path, "rb") as handle:
        return yaml.load(handle, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
