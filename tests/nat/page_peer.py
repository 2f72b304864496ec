"""The answering page of the browser peers in a NAT test (Chromium, Firefox): one
``RTCPeerConnection`` that answers an offer with a data channel and reports how it connected.

``ANSWER({sdp, iceServers})`` returns the answer once gathering is complete (no trickle);
``CONNECT(timeoutMs)`` waits for the offerer's ``hello``, echoes, and returns
``{connected, seconds, ice_connection_state, pair}`` with the selected pair from ``getStats``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ANSWER", "CLOSE", "CONNECT", "PagePeer"]

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

CLOSE = "() => window.pc && window.pc.close()"


Evaluate = Callable[[str, Any], Awaitable[Any]]


class PagePeer:
    """The JSON-lines commands (``answer``, ``connect``, ``close``) run in one browser page.

    ``evaluate(function, arg)`` is the browser driver's "await this function in the page".
    """

    def __init__(self, evaluate: Evaluate) -> None:
        self.evaluate = evaluate

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "answer":
            arg = {"sdp": command["sdp"], "iceServers": command["ice_servers"]}
            return {"type": "answer", "sdp": await self.evaluate(ANSWER, arg)}
        if cmd == "connect":
            timeout_ms = int(float(command["timeout"]) * 1000)
            result: dict[str, Any] = await self.evaluate(CONNECT, timeout_ms)
            return result
        if cmd == "close":
            await self.evaluate(CLOSE, None)
            return {"closed": True}
        raise ValueError(f"unknown command {cmd!r}")
