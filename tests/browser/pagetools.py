"""Headless Debian Chromium for the page tests, with the flags the network rules allow."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ..roles.proctools import command, read_until

__all__ = [
    "CHROMIUM",
    "WAIT_MS",
    "browser_page",
    "browser_pages",
    "command",
    "demo_state",
    "read_until",
    "require_chromium",
]

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 20_000  # any single page condition

# Only these flags: no network beyond the test namespace, no background services.
# Fake media devices (and the permission granted below) make Chromium gather its own host
# candidates in a namespace without a default route, and let the page share a camera.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # No host name resolves but localhost: every test URL is at 127.0.0.1, ICE uses addresses
    # (mDNS candidate names go through WebRTC's own resolver), and without it Chromium still
    # asked the DNS server for update.googleapis.com from a namespace with a default route.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def in_ci() -> bool:
    """True under ``CI=true`` (GitHub Actions, GitLab CI and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_browser(path: str, package: str) -> None:
    """Skip the test when the browser at ``path`` is missing, with the reason; under
    ``CI=true`` fail it: a CI run must not pass with its browser tests silently skipped."""
    if os.path.exists(path):
        return
    reason = f"{path} is missing (make test-setup installs Debian's {package})"
    if in_ci():
        pytest.fail(f"{reason}; under CI=true the browser tests must run", pytrace=False)
    pytest.skip(reason)


def require_chromium(path: str = CHROMIUM) -> None:
    """:func:`require_browser` for Debian's Chromium."""
    require_browser(path, "chromium")


@asynccontextmanager
async def browser_page(
    *, permissions: bool = True, log: list[str] | None = None
) -> AsyncIterator[Any]:
    """A fresh Chromium page (1280x900); console lines and page errors go to ``log``."""
    async with browser_pages(1, permissions=permissions, log=log) as pages:
        yield pages[0]


@asynccontextmanager
async def browser_pages(
    count: int, *, permissions: bool = True, log: list[str] | None = None
) -> AsyncIterator[list[Any]]:
    """``count`` pages of one headless Chromium, each in a context of its own."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(count):
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 900},
                    permissions=["camera", "microphone"] if permissions else [],
                )
                page = await context.new_page()
                page.set_default_timeout(WAIT_MS)
                if log is not None:
                    page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
                    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
                pages.append(page)
            yield pages
        finally:
            await browser.close()


async def demo_state(page: Any) -> dict[str, Any]:
    """The page's ``window.demo`` state."""
    state: dict[str, Any] = await page.evaluate("JSON.parse(JSON.stringify(window.demo))")
    return state
