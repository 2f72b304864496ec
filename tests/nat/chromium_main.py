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
from typing import Any

from playwright.async_api import Page, async_playwright

from tests.browser.pagetools import CHROMIUM, CHROMIUM_ARGS
from tests.nat.lines import serve_lines

ANSWER = """async ({sdp, iceServers}) => {
  const pc = new RTCPeerConnection({iceServers});
  window.pc = pc;
  window.started = performance.now();
  window.hello = new Promise((resolve) => {
    pc.ondatachannel = (event) => {
      window.channel = event.channel;
      event.channel.onmessage = (message) => resolve(message.data);
    };
  });
  await pc.setRemoteDescription({type: 'offer', sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((done) => {
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
      setTimeout(done, 10000);
    });
  }
  return pc.localDescription.sdp;
}"""

CONNECT = """async (timeoutMs) => {
  const pc = window.pc;
  const result = {connected: false};
  const late = new Promise((_, fail) => setTimeout(() => fail(new Error('timed out')), timeoutMs));
  try {
    const hello = await Promise.race([window.hello, late]);
    if (hello !== 'hello') throw new Error(`got ${hello}`);
    window.channel.send('echo');
    result.connected = true;
  } catch (error) {
    result.error = String(error);
  }
  result.seconds = (performance.now() - window.started) / 1000;
  result.ice_connection_state = pc.iceConnectionState;
  const report = await pc.getStats();
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = report.get(s.selectedCandidatePairId);
    }
  });
  if (pair) {
    const side = (c) => ({
      type: c.candidateType, protocol: c.protocol, relay: c.relayProtocol || null,
    });
    result.pair = {local: side(report.get(pair.localCandidateId)),
                   remote: side(report.get(pair.remoteCandidateId))};
  }
  return result;
}"""


class ChromiumPeer:
    def __init__(self, page: Page) -> None:
        self.page = page

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "answer":
            arg = {"sdp": command["sdp"], "iceServers": command["ice_servers"]}
            return {"type": "answer", "sdp": await self.page.evaluate(ANSWER, arg)}
        if cmd == "connect":
            timeout_ms = int(float(command["timeout"]) * 1000)
            result: dict[str, Any] = await self.page.evaluate(CONNECT, timeout_ms)
            return result
        if cmd == "close":
            await self.page.evaluate("() => window.pc && window.pc.close()")
            return {"closed": True}
        raise ValueError(f"unknown command {cmd!r}")


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="chromium %(message)s")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context()).new_page()
            page.on("console", lambda m: print(f"console.{m.type}: {m.text}", file=sys.stderr))
            await serve_lines(ChromiumPeer(page).handle)
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
