"""Running invocation (node) types: the code lives in `runners/` (one module per family, gathered
by `runners/registry.py`). These names stay importable from here for the modules that used them;
`catalogue.py` and `graph_validation.py` hold the node types and the enqueue checks."""

from __future__ import annotations

from mockserver.packs.invokeai.runners.context import (
    NodeFailed, RunContext, plausible_image, traceback_for,
)
from mockserver.packs.invokeai.runners.context import image_output as _image_output
from mockserver.packs.invokeai.runners.context import load as _load

__all__ = ["NodeFailed", "RunContext", "plausible_image", "traceback_for", "_image_output", "_load"]
