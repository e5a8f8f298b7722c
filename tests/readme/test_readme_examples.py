"""Every example in README.md runs, as written, against a real `mockserver serve`.

Each fenced code block of the README is one of:
- `sh`: run by bash with `set -e`, `curl` failing on any HTTP error status (`--fail-with-body`);
- `python`: run by this test's Python;
- `python` marked `<!-- example: pytest -->`: written to a test file and run by pytest with the plugin;
- marked `<!-- example: skip: <why> -->` on the line before: not run, for the reason given (output
  samples, usage synopses, commands that need the network or another program).
A block of any other kind without a skip mark fails the test: nothing is skipped silently.

More marks, each an HTML comment on the lines right before the block:
- `<!-- example: expect: <regex> -->`: the block's standard output must match the regular expression;
- `<!-- example: files: NAME.png -->`: the block runs in a folder holding a small PNG image of that name.

The only change made to a block is the address: `127.0.0.1:8000` and `localhost:8000` become the
test server's. The server serves every pack, and is reset before each block.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import typing as t
import urllib.request
from pathlib import Path

import pytest
from live import serve

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUNNABLE = ("sh", "python")

pytestmark = pytest.mark.live


@dataclasses.dataclass
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marks: dict[str, str]

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.language or 'no language'})"


_MARK = re.compile(r"^<!-- example: (\w+)(?::\s*(.*?))?\s*-->$")


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, with the example marks right above each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\S*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        blocks.append(Block(index + 1, fence.group(1), "\n".join(lines[index + 1:end]) + "\n",
                            _marks_above(lines, index)))
        index = end + 1
    return blocks


def _marks_above(lines: list[str], index: int) -> dict[str, str]:
    marks: dict[str, str] = {}
    above = index - 1
    while above >= 0 and (mark := _MARK.match(lines[above].strip())):
        marks[mark.group(1)] = mark.group(2) or ""
        above -= 1
    return marks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_extractor_reads_marks_and_blocks() -> None:
    text = ("x\n<!-- example: skip: an output sample -->\n```\nout\n```\n\n"
            "<!-- example: files: cat.png -->\n<!-- example: expect: ^ok$ -->\n```sh\necho ok\n```\n")
    first, second = readme_blocks(text)
    assert (first.line, first.language, first.code, first.marks) == (3, "", "out\n", {"skip": "an output sample"})
    assert (second.language, second.code, second.marks) == ("sh", "echo ok\n", {"files": "cat.png", "expect": "^ok$"})


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_every_block_is_run_or_skipped_for_a_stated_reason(block: Block) -> None:
    unknown = set(block.marks) - {"skip", "expect", "files", "pytest"}
    assert not unknown, f"{block.name}: unknown example marks {unknown}"
    if "skip" in block.marks:
        assert len(block.marks["skip"]) > 10, f"{block.name}: say why it is not run"
    else:
        assert block.language in RUNNABLE, (f"{block.name}: not a runnable language; make it one or mark it "
                                            "<!-- example: skip: <why> -->")


@pytest.fixture(scope="module")
def server() -> t.Iterator[str]:
    with serve("--seed", "1", "--quiet") as base:
        yield base


RUN = [block for block in BLOCKS if "skip" not in block.marks and block.language in RUNNABLE]


@pytest.mark.parametrize("block", RUN, ids=lambda block: block.name)
def test_the_example_runs(block: Block, server: str, tmp_path: Path) -> None:
    _control(server, "POST", "reset")
    _control(server, "DELETE", "clock")
    code = _pointed_at(block.code, server)
    for name in filter(None, (n.strip() for n in block.marks.get("files", "").split(","))):
        _write_png(tmp_path / name)
    if "pytest" in block.marks:
        result = _run_pytest(code, server, tmp_path)
    elif block.language == "python":
        result = _run([sys.executable, "-c", code], tmp_path)
    else:
        result = _run(["bash", "-c", "set -eo pipefail\n" + code], tmp_path, curl_fails=True)
    assert result.returncode == 0, f"{block.name} failed:\n{code}\n--- stdout\n{result.stdout}\n--- stderr\n" \
                                   f"{result.stderr}"
    if "expect" in block.marks:
        assert re.search(block.marks["expect"], result.stdout, re.M), \
            f"{block.name}: output does not match {block.marks['expect']!r}:\n{result.stdout}"


def _pointed_at(code: str, base: str) -> str:
    port = base.rsplit(":", 1)[1]
    return code.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("localhost:8000", f"localhost:{port}")


def _run(command: list[str], cwd: Path, *, curl_fails: bool = False) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "MOCKSERVER_CONTROL_TOKEN"}
    if curl_fails:
        shims = cwd / ".shims"
        shims.mkdir()
        curl = shims / "curl"
        curl.write_text('#!/bin/sh\nexec /usr/bin/env -u PATH PATH="$REAL_PATH" curl --fail-with-body "$@"\n')
        curl.chmod(0o755)
        environment.update(REAL_PATH=environment.get("PATH", ""), PATH=f"{shims}{os.pathsep}{environment['PATH']}")
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _run_pytest(code: str, base: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """The example as a user's test file, run by pytest with the plugin (in-process server)."""
    (folder / "test_readme_example.py").write_text(code)
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mockserver.pytest_plugin",
                   "--disable-plugin-autoload", "test_readme_example.py"], folder)
    if result.returncode == 0:
        assert re.search(r"\b[1-9]\d* passed", result.stdout) and "failed" not in result.stdout, result.stdout
    return result


def _control(base: str, method: str, path: str) -> None:
    request = urllib.request.Request(f"{base}/__mock__/{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        json.loads(response.read() or b"null")


def _write_png(path: Path) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
