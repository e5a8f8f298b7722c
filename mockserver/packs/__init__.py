"""The emulated APIs. Each pack is a package whose `__init__` is cheap to import: it declares the
pack's `OPTIONS` (its extra `mockserver serve` options) and a `build_pack()` returning its
`mockserver.engine.pack.Pack`, which imports the handler modules and registers them. So
`mockserver serve --api openai_usage` (and the CLI's help, which lists every pack's options)
never imports the InvokeAI pack's image and queue machinery."""

from __future__ import annotations

import functools
import importlib
import types
import typing as t

from mockserver.engine.pack import Pack, PackOption

AVAILABLE = ("openai_usage", "chutes", "invokeai")


@functools.cache
def load_pack(name: str) -> Pack[t.Any]:
    """The pack, built on first use (one per process: its handler registry is shared)."""
    return _package(name).build_pack()


def pack_options(name: str) -> tuple[PackOption, ...]:
    """The pack's extra `mockserver serve` options, without building the pack."""
    return tuple(_package(name).OPTIONS)


def _package(name: str) -> types.ModuleType:
    if name not in AVAILABLE:
        raise KeyError(f"unknown API pack {name!r}; available: {', '.join(AVAILABLE)}")
    return importlib.import_module(f"mockserver.packs.{name}")
