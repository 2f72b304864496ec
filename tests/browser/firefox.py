"""Headless Debian Firefox ESR, driven over WebDriver BiDi (its built-in remote protocol).

Playwright's own Firefox needs a patched build, and its BiDi mode asks ESR for commands ESR
does not have; the few BiDi commands these tests need are spoken here directly: start a
session, find the page, run a function in it. Firefox runs with a fresh profile whose prefs
switch off every background service (updates, telemetry, safe browsing, plugin downloads,
captive-portal and connectivity checks); it is started inside the test's namespace anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .pagetools import require_browser

__all__ = ["FIREFOX", "FirefoxPage", "firefox_page", "require_firefox"]

log = logging.getLogger(__name__)

FIREFOX = "/usr/bin/firefox-esr"

# No background traffic; WebRTC as a default install has it (mDNS host names included)
# unless the caller overrides a pref.
PREFS: dict[str, object] = {
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-gmpopenh264.autoupdate": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    # still looked up at start whatever the pref above says: answered here, no DNS query
    "network.dns.localDomains": "firefox.settings.services.mozilla.com",
    "remote.prefs.recommended": True,
}

_LISTENING = re.compile(rb"WebDriver BiDi listening on (ws://\S+)")


def require_firefox(path: str = FIREFOX) -> None:
    """:func:`~tests.browser.pagetools.require_browser` for Debian's Firefox ESR."""
    require_browser(path, "firefox-esr")


class BiDiError(RuntimeError):
    """Firefox answered a command with an error, or a page function threw."""


class FirefoxPage:
    """One browsing context of a Firefox session: run functions in it."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._context = ""

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        await self._socket.send_json({"id": number, "method": method, "params": params})
        while True:  # events (none subscribed) and replies arrive in order on one socket
            message = await self._socket.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise BiDiError(f"Firefox closed the BiDi socket ({message.type.name})")
            reply = json.loads(message.data)
            if reply.get("id") != number:
                continue
            if reply.get("type") == "error":
                raise BiDiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
            result: dict[str, Any] = reply["result"]
            return result

    async def _open(self) -> None:
        await self._send("session.new", {"capabilities": {}})
        tree = await self._send("browsingContext.getTree", {})
        self._context = tree["contexts"][0]["context"]

    async def call(self, function: str, arg: Any = None) -> Any:
        """``await (function)(arg)`` in the page; arguments and result travel as JSON."""
        declaration = (
            f"async (argJson) => JSON.stringify(await ({function})(JSON.parse(argJson)) ?? null)"
        )
        result = await self._send(
            "script.callFunction",
            {
                "functionDeclaration": declaration,
                "arguments": [{"type": "string", "value": json.dumps(arg)}],
                "target": {"context": self._context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"page function threw: {details.get('text')}")
        return json.loads(result["result"]["value"])

    async def evaluate(self, function: str, arg: Any = None) -> Any:
        """Playwright's name for :meth:`call` (``function`` is a function, not an expression)."""
        return await self.call(function, arg)

    async def wait_for_function(self, expression: str, timeout: float = 20_000) -> None:
        """Poll until ``expression`` is truthy in the page; ``timeout`` in ms, as Playwright."""
        async with asyncio.timeout(timeout / 1000):
            while not await self.call(f"() => Boolean({expression})"):
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def firefox_page(prefs: dict[str, object] | None = None) -> AsyncIterator[FirefoxPage]:
    """A headless Firefox ESR with a fresh profile (``PREFS`` updated with ``prefs``)."""
    profile = tempfile.mkdtemp(prefix="aiogst-firefox-")
    with open(os.path.join(profile, "user.js"), "w", encoding="utf-8") as user_js:
        for name, value in {**PREFS, **(prefs or {})}.items():
            user_js.write(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n")
    env = {**os.environ, "MOZ_HEADLESS": "1", "HOME": os.environ.get("HOME", "/root")}
    process = await asyncio.create_subprocess_exec(
        FIREFOX,
        "--headless",
        "--no-remote",
        "--profile",
        profile,
        "--remote-debugging-port",
        "0",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        address = await asyncio.wait_for(_bidi_address(process.stderr), 30)
        # keep draining its stderr so Firefox never blocks on a full pipe
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{address}/session", max_msg_size=0) as socket:
                page = FirefoxPage(socket)
                await page._open()
                yield page
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:  # it ends at Firefox's EOF (its children may hold the pipe)
            if not (await asyncio.wait({drain}, timeout=5))[0]:
                drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
        shutil.rmtree(profile, ignore_errors=True)


async def _bidi_address(stderr: asyncio.StreamReader) -> str:
    """Read Firefox's stderr until it says where its BiDi server listens."""
    seen: list[bytes] = []
    while line := await stderr.readline():
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            return match[1].decode()
    said = b"".join(seen[-20:]).decode(errors="replace")
    raise BiDiError(f"Firefox ended before listening: {said}")


async def _drain(stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        log.debug("firefox: %s", line.decode(errors="replace").rstrip())
