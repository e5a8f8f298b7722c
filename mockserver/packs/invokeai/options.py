"""The pack's `mockserver serve` options, apart from the web UI's code so that listing them (the
CLI does, for every pack) imports nothing heavy."""

from __future__ import annotations

from pathlib import Path

from mockserver.engine.pack import PackOption


def bundle_folder(text: str) -> Path:
    """The `--invokeai-ui` value: a folder holding the built UI's `index.html`."""
    folder = Path(text).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{text}: no such folder")
    if not (folder / "index.html").is_file():
        raise ValueError(f"{text}: not an InvokeAI UI bundle (no index.html); "
                         "give the invokeai wheel's invokeai/frontend/web/dist folder")
    return folder


UI_OPTION = PackOption(
    flag="--invokeai-ui", metavar="DIR", parse=bundle_folder,
    help="serve InvokeAI's web UI from this folder at / as invokeai-web does: the wheel's "
         "invokeai/frontend/web/dist (pip download --no-deps invokeai==6.8.1, then unzip)")
