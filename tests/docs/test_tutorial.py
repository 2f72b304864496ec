"""docs/tutorial.md, executed: every command and listing in it runs here, as a reader would.

The listings are written to a fresh directory (with the repository's ``.venv`` linked in,
so ``.venv/bin/...`` works as in the repository), the commands are started there in the
test's network namespace, the output the page promises is awaited, and headless Chromium
does what the reader does in the browser: open the page, click the producer, watch, chat.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pagetools import WAIT_MS, browser_page, demo_state, require_chromium

from .markdown_blocks import Block, UnmarkedBlockError, read_blocks

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
WAIT = 30.0


def _prose(pattern: str) -> str:
    """What the tutorial's text tells the reader (a regex group), or fail naming it."""
    prose = re.sub(r"\s+", " ", TUTORIAL.read_text(encoding="utf-8"))  # lines joined
    match = re.search(pattern, prose)
    assert match, f"docs/tutorial.md no longer says {pattern!r}: update this test with it"
    return match.group(1)


def _of(blocks: Sequence[Block], kind: str, name: str | None = None) -> list[Block]:
    return [b for b in blocks if b.kind == kind and (name is None or b.name == name)]


def test_every_fenced_block_of_the_tutorial_is_marked_for_this_test() -> None:
    blocks = read_blocks(TUTORIAL)  # raises on a block nothing would run
    assert {b.kind for b in blocks} <= {"install", "file", "run", "output"}
    runs = {b.name for b in _of(blocks, "run")}
    assert runs == {"server", "producer"}
    assert {b.name for b in _of(blocks, "output")} <= runs
    assert [b.name for b in _of(blocks, "file")] == ["producer.py"]


def test_an_unmarked_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text.\n\n```sh\nrm -rf /\n```\n", encoding="utf-8")
    with pytest.raises(UnmarkedBlockError, match=r"page\.md:3"):
        read_blocks(page)


def test_the_install_commands_exist_and_make_demo_bootstraps() -> None:
    (install,) = _of(read_blocks(TUTORIAL), "install")
    checked = []
    for line in install.text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[:2] == ["apt-get", "install"]:
            for package in words[2:]:
                status = subprocess.run(
                    ["dpkg-query", "-W", "-f=${Status}", package],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert "install ok installed" in status.stdout, f"{package} is not installed"
        elif words[0] == "make":
            dry = subprocess.run(
                ["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, check=False
            )
            assert dry.returncode == 0, dry.stderr
            assert "scripts/bootstrap.sh" in dry.stdout  # installs what is missing
            assert "-m aiogstwebrtc demo" in dry.stdout  # then starts the demo
        else:
            pytest.fail(f"an install command this test does not know: {line}")
        checked.append(words[0])
    assert checked == ["apt-get", "make"]


def test_the_tutorials_listing_is_lint_clean(tmp_path: Path) -> None:
    # A reader copies it: the repository's ruff rules, print allowed as in examples/.
    (listing,) = _of(read_blocks(TUTORIAL), "file")
    path = tmp_path / "producer.py"
    path.write_text(listing.text, encoding="utf-8")
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--ignore", "T201",
         "--config", str(ROOT / "pyproject.toml"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@asynccontextmanager
async def _started(block: Block, cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    (line,) = [x for x in block.text.splitlines() if x.strip()]  # one command per block
    env = {
        **os.environ,
        # This checkout's package, whatever the venv's editable install points at.
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        *shlex.split(line),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _expect(process: asyncio.subprocess.Process, block: Block, seen: list[str]) -> None:
    """Read until the block's lines have been printed, in order."""
    assert process.stdout is not None
    wanted = [x for x in block.text.splitlines() if x.strip()]
    try:
        async with asyncio.timeout(WAIT):
            while wanted:
                raw = await process.stdout.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\n")
                seen.append(line)
                if line.strip() == wanted[0].strip():
                    wanted.pop(0)
    except TimeoutError:
        pass
    assert not wanted, (
        f"docs/tutorial.md:{block.line}: {block.name} did not print {wanted!r}; it printed:\n"
        + "\n".join(seen)
    )


async def _until(page: Any, condition: str, log: list[str]) -> None:
    """Wait for ``condition`` on the page; if it never holds, say what the page saw."""
    from playwright.async_api import TimeoutError as PageTimeout

    try:
        await page.wait_for_function(condition)
    except PageTimeout:
        state = await demo_state(page)
        raise AssertionError(
            f"{condition} did not hold in {WAIT_MS} ms; the page's state: {state}; "
            f"its console: {log}"
        ) from None


async def test_the_tutorial_streams_python_video_to_a_browser_that_chats_back(
    tmp_path: Path,
) -> None:
    require_chromium()
    blocks = read_blocks(TUTORIAL)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    for block in _of(blocks, "file"):
        assert block.name is not None
        (tmp_path / block.name).write_text(block.text, encoding="utf-8")
    (server_run,) = _of(blocks, "run", "server")
    (producer_run,) = _of(blocks, "run", "producer")
    (server_says,) = _of(blocks, "output", "server")
    producer_starts, producer_hears, producer_stops = _of(blocks, "output", "producer")

    url = _prose(r"Open <(http://[^>]+)> in a browser")
    name = _prose(r"click \*\*([^*]+)\*\*\. Within")
    message = _prose(r"Type `([^`]+)` in the chat box")
    reply = _prose(r"the page shows `producer: ([^`]+)`")
    width = int(_prose(r"WIDTH, HEIGHT, FPS = (\d+),"))
    server_out: list[str] = []
    producer_out: list[str] = []

    async with _started(server_run, tmp_path) as server:
        await _expect(server, server_says, server_out)
        async with _started(producer_run, tmp_path) as producer:
            await _expect(producer, producer_starts, producer_out)
            log: list[str] = []
            async with browser_page(log=log) as page:
                await page.goto(url)
                await page.get_by_role("button", name=name).click()

                # The video plays, and keeps playing, at the script's size.
                await _until(page, "window.demo.framesDecoded > 30", log)
                first = (await demo_state(page))["framesDecoded"]
                await _until(page, f"window.demo.framesDecoded > {first + 30}", log)
                await _until(page, f"document.getElementById('remote').videoWidth === {width}", log)
                # The picture is the one Python drew: green is 128 outside the white bar.
                greens = await page.evaluate(_MIDDLE_ROW_GREENS)
                near = sum(1 for g in greens if abs(g - 128) <= 30)
                assert near > 0.8 * len(greens), greens

                # A chat message reaches the script, and its answer reaches the page.
                await page.wait_for_function("window.demo.channel === 'open'")
                await page.fill("#chat-input", message)
                await page.press("#chat-input", "Enter")
                await _expect(producer, producer_hears, producer_out)
                await page.wait_for_function("window.demo.chat.some(m => m.kind === 'them')")
                chat = (await demo_state(page))["chat"]
                assert [m["text"] for m in chat if m["kind"] == "them"] == [reply]
                assert not (await demo_state(page))["errors"], log

                # Ctrl-C: the script stops cleanly and the page sees the producer go.
                producer.send_signal(signal.SIGINT)
                await _expect(producer, producer_stops, producer_out)
                assert await asyncio.wait_for(producer.wait(), WAIT) == 0, producer_out
                await page.wait_for_function("window.demo.session === 'closed'")
                assert f"{name} left" in (await page.locator("#error").text_content() or "")
                errors = (await demo_state(page))["errors"]
                assert all(name in e and ("left" in e or "ended" in e) for e in errors), errors
        server.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(server.wait(), WAIT) == 0, server_out
    for line in server_out + producer_out:
        assert "Traceback" not in line, "\n".join(server_out + producer_out)


# The green channel of the middle row of the playing video, drawn onto a canvas.
_MIDDLE_ROW_GREENS = """() => {
  const video = document.getElementById('remote');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const context = canvas.getContext('2d');
  context.drawImage(video, 0, 0);
  const row = context.getImageData(0, Math.floor(canvas.height / 2), canvas.width, 1).data;
  const greens = [];
  for (let i = 1; i < row.length; i += 4) greens.push(row[i]);
  return greens;
}"""
