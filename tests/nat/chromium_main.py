"""A Chromium answerer in a home namespace: ``python -m tests.nat.chromium_main``.

Debian's headless Chromium, driven by Playwright over a pipe (no port), speaking the JSON
lines of :mod:`tests.nat.peer_main` (``answer``, ``connect``, ``close``). Its
``iceServers`` are only those the test passes (our coturn). No camera permission: like a
page that never asked for one, Chromium hides its host addresses behind mDNS names.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from playwright.async_api import async_playwright

from tests.browser.pagetools import CHROMIUM, CHROMIUM_ARGS
from tests.nat.lines import serve_lines
from tests.nat.page_peer import PagePeer


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="chromium %(message)s")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context()).new_page()
            page.on("console", lambda m: print(f"console.{m.type}: {m.text}", file=sys.stderr))
            await serve_lines(PagePeer(page.evaluate).handle)
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
