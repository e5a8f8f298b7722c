"""The emulated APIs. Each pack is a package exposing `PACK` (a `mockserver.engine.pack.Pack`)."""

from __future__ import annotations

import importlib

from mockserver.engine.pack import Pack

AVAILABLE = ("openai_usage", "chutes", "invokeai")


def load_pack(name: str) -> Pack:
    if name not in AVAILABLE:
        raise KeyError(f"unknown API pack {name!r}; available: {', '.join(AVAILABLE)}")
    return importlib.import_module(f"mockserver.packs.{name}").PACK
