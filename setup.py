"""The project is configured in pyproject.toml; this file adds one build step to it.

The specs and fixtures live at the top of the checkout (specs/, fixtures/), where they are edited and
read as plain files. Every built package carries a copy of both inside the `mockserver` package
(mockserver/specs/, mockserver/fixtures/), so an installed mockserver finds them beside its code in
every install layout (venv, --user, --prefix, --target); `mockserver.engine.resources` looks there.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("specs", "fixtures")


class BuildWithData(build_py):
    """setuptools' build_py, then the data folders copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout's own folders
            return
        root = Path(__file__).resolve().parent
        for folder in DATA_FOLDERS:
            self.copy_tree(str(root / folder), str(Path(self.build_lib) / "mockserver" / folder))


setup(cmdclass={"build_py": BuildWithData})
