"""What the InvokeAI web UI browser test needs: the real 6.8.1 UI bundle, a headless Chromium, and
a record of everything that went wrong in the page.

The bundle is InvokeAI's own built frontend, taken from the `invokeai` wheel on PyPI at test time
(`pip download --no-deps invokeai==6.8.1`) and kept in `.cache/invokeai-ui/` (git-ignored); the
repository never holds it. Chromium is the system's headless shell
(`/usr/bin/chromium-headless-shell`, Debian's package; `make test` installs it when missing),
driven by the `playwright` package: playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing as t
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

INVOKEAI_VERSION = "6.8.1"
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "invokeai-ui" / INVOKEAI_VERSION
BUNDLE_PREFIX = "invokeai/frontend/web/dist/"
# The headless shell: Chromium's engine without the browser's windowing layers, which is what
# playwright runs headless tests in by default. It draws the same pages as `chromium --headless`
# for less CPU (a tenth less over the two browser modules here).
CHROMIUM = Path(shutil.which("chromium-headless-shell") or "/usr/bin/chromium-headless-shell")
# No sandbox (CI runs as root), and nothing that would reach out to Google's services.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# Set to N to run the page's scripts N times slower (Chromium's CPU throttling): races the UI loses
# only on a slow machine, like CI's, then show here too (at 6, the gallery menu left behind after Star).
THROTTLE_VARIABLE = "MOCKSERVER_UI_CPU_THROTTLE"


def ui_bundle() -> Path:
    """The 6.8.1 UI bundle folder (`.../invokeai/frontend/web/dist`), fetched and unpacked once."""
    dist = CACHE / BUNDLE_PREFIX
    if (dist / "index.html").is_file():
        return dist
    wheel = _downloaded_wheel()
    staging = CACHE.with_name(CACHE.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith(BUNDLE_PREFIX)]
        archive.extractall(staging, members)  # zipfile keeps every member inside `staging`
    shutil.rmtree(CACHE, ignore_errors=True)  # an earlier, interrupted unpack
    staging.rename(CACHE)
    return dist


def _downloaded_wheel() -> Path:
    wheels = CACHE.parent / "wheel"
    found = sorted(wheels.glob(f"invokeai-{INVOKEAI_VERSION}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                        f"invokeai=={INVOKEAI_VERSION}", "-d", str(wheels)], check=True)
        found = sorted(wheels.glob(f"invokeai-{INVOKEAI_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download left no invokeai-{INVOKEAI_VERSION} wheel in {wheels}")
    return found[0]


def launch_chromium(playwright: t.Any) -> t.Any:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium-headless-shell (make test does, as root)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def throttle_when_asked(context: t.Any, page: t.Any) -> None:
    """Slow the page's CPU by the factor in MOCKSERVER_UI_CPU_THROTTLE, if it is set."""
    rate = os.environ.get(THROTTLE_VARIABLE)
    if rate:
        context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": float(rate)})


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions, failed requests and 4xx/5xx answers the page saw."""

    base: str
    # (method, path) pairs the real 6.8.1 server fails too, each with its reason; nothing else may fail.
    allowed: dict[tuple[str, str], str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def watch(self, page: t.Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught exception: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: t.Any) -> None:
        if message.type != "error":
            return
        # The browser logs every 4xx/5xx as "Failed to load resource"; allowed requests are allowed there too.
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and self._allowed("GET", url):
            return
        self.seen.append(f"console error: {message.text} ({url})")

    def _request_failed(self, request: t.Any) -> None:
        # ERR_ABORTED is the page cancelling its own request (a reload, a query superseded by a newer
        # one), not the server failing it.
        if request.failure != "net::ERR_ABORTED" and not self._allowed(request.method, request.url):
            self.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: t.Any) -> None:
        if response.status >= 400 and not self._allowed(response.request.method, response.url):
            self.seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _allowed(self, method: str, url: str) -> bool:
        path = url.removeprefix(self.base).split("?")[0]
        return (method, path) in self.allowed
