"""Fixtures of the drift tests: the synthetic 3.0 / 3.1 pair, fresh for every test."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

from mockserver.contract.drift import load_document

DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def _load(name: str) -> dict:
    return load_document(DATA / name)


@pytest.fixture
def ours() -> dict:
    """`synthetic-3.0.yaml`: plays our hand-written spec."""
    return copy.deepcopy(_load("synthetic-3.0.yaml"))


@pytest.fixture
def upstream() -> dict:
    """`synthetic-3.1.json`: the same API in 3.1 spelling; plays the upstream document."""
    return copy.deepcopy(_load("synthetic-3.1.json"))
