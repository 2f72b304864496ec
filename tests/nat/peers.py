"""Two peers in two home namespaces, negotiated by the test over their stdin/stdout."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .topology import Home, netns_argv

ROOT = Path(__file__).resolve().parents[2]


class PeerProcess:
    """``tests/nat/peer_main.py`` in a home namespace; ended by :meth:`stop` (its own pid)."""

    def __init__(self, home: Home, process: asyncio.subprocess.Process) -> None:
        self.home = home
        self.process = process

    @classmethod
    async def start(
        cls, home: Home, module: str = "tests.nat.peer_main", *args: str
    ) -> PeerProcess:
        argv = netns_argv(home.namespace, [sys.executable, "-m", module, *args])
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(home, process)

    async def ask(self, wait: float = 30, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), wait)
        if not line:
            raise RuntimeError(f"peer in {self.home.name} ended: {await self.stderr()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply and "connected" not in reply:
            raise RuntimeError(f"peer in {self.home.name}: {reply['error']}")
        return reply

    async def stderr(self) -> str:
        if self.process.returncode is None or self.process.stderr is None:
            return ""
        return (await self.process.stderr.read()).decode(errors="replace")[-3000:]

    async def stop(self) -> str:
        """Close the peer (its TURN allocations go) and end the process; its stderr."""
        if self.process.returncode is None:
            try:
                await self.ask(wait=10, cmd="close")
            except (RuntimeError, TimeoutError, BrokenPipeError, ConnectionResetError):
                pass
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")


@dataclass
class Outcome:
    """Both sides' ``connect`` replies."""

    offerer: dict[str, Any]
    answerer: dict[str, Any]
    stderr: str = ""  # both peers' logs, filled once they have ended
    offer_sdp: str = ""  # as sent, every candidate gathered
    answer_sdp: str = ""


ANSWERERS = {
    "ours": "tests.nat.peer_main",
    "aiortc": "tests.nat.aiortc_main",
    "chromium": "tests.nat.chromium_main",
    "firefox": "tests.nat.firefox_main",
}


async def call(
    offer_home: Home,
    answer_home: Home,
    offer_config: dict[str, Any],
    answer_config: dict[str, Any] | None = None,
    *,
    timeout: float = 20,
    answerer_stack: str = "ours",
    their_ice_servers: list[dict[str, Any]] | None = None,
) -> Outcome:
    """Negotiate a data channel between the two homes and try to exchange a message.

    ``answerer_stack``: ``"ours"``, ``"aiortc"`` (:mod:`tests.nat.aiortc_main`) or
    ``"chromium"`` (:mod:`tests.nat.chromium_main`); the last two take
    ``their_ice_servers`` (browser-shaped ``iceServers``).
    """
    offerer = await PeerProcess.start(offer_home)
    answerer = await PeerProcess.start(answer_home, ANSWERERS[answerer_stack])
    outcome = Outcome({}, {})
    try:
        offer = await offerer.ask(cmd="offer", config=offer_config)
        if answerer_stack == "ours":
            answer = await answerer.ask(
                cmd="answer", config=answer_config or offer_config, sdp=offer["sdp"]
            )
        else:
            answer = await answerer.ask(
                cmd="answer", ice_servers=their_ice_servers or [], sdp=offer["sdp"]
            )
        outcome.offer_sdp, outcome.answer_sdp = offer["sdp"], answer["sdp"]
        await offerer.ask(cmd="remote", sdp=answer["sdp"])
        outcome.offerer, outcome.answerer = await asyncio.gather(
            offerer.ask(wait=timeout + 10, cmd="connect", timeout=timeout),
            answerer.ask(wait=timeout + 10, cmd="connect", timeout=timeout),
        )
    finally:
        for peer in (offerer, answerer):
            outcome.stderr += await peer.stop()
    return outcome


def selected_pair(stats: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The local and remote candidate of the one selected candidate pair in ``stats``."""
    pairs = [s for s in stats.values() if s.get("type") == "candidate-pair" and s.get("selected")]
    assert len(pairs) == 1, f"expected one selected candidate pair in {stats}"
    pair = pairs[0]
    return stats[pair["local-candidate-id"]], stats[pair["remote-candidate-id"]]
