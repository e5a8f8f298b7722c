"""Where the specs and fixtures live: beside the package in a checkout, or installed as data files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
