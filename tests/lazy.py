"""A module imported when a test first uses it, not when pytest collects the test module.

Every pytest-xdist worker collects every test module, so an import at the top of one costs every
worker, even the one that never runs its tests. The `openai` SDK is ~0.6 s of imports (its types
package alone is hundreds of modules); three test modules use it. `lazy_module` is the standard
library's `importlib.util.LazyLoader`: the module object exists at once and runs on first attribute
access.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def lazy_module(name: str) -> types.ModuleType:
    """`name`, imported on first use (at once if it is imported already)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
