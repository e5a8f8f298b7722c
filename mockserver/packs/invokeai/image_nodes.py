"""Image and mask nodes (written by the exec-images work; this placeholder keeps the registry's import)."""

from __future__ import annotations

IMAGE_NODES: dict = {}
