"""Wide fan-outs are written a slice per loop iteration, each peer's messages in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiogstwebrtc.signalling.pacing import FanoutPacer


class Peer:
    def __init__(self) -> None:
        self.paced = 0
        self.got: list[str] = []

    def send(self, text: str, frame: Callable[[], bytes] | None = None) -> None:
        self.got.append(text)


def frame() -> bytes:
    return b""


async def test_a_fanout_past_its_first_slice_lets_the_loop_run_in_between() -> None:
    pacer = FanoutPacer(slice_size=4)
    peers = [Peer() for _ in range(10)]
    for i, peer in enumerate(peers):
        pacer.send(peer, "status", frame, defer=i >= 4)
    assert [len(p.got) for p in peers] == [1] * 4 + [0] * 6  # the first slice at once
    assert pacer.waiting == 6
    await asyncio.sleep(0)  # one loop iteration: one more slice
    assert [len(p.got) for p in peers] == [1] * 8 + [0] * 2
    await asyncio.sleep(0)
    assert all(p.got == ["status"] for p in peers) and pacer.waiting == 0
    assert all(p.paced == 0 for p in peers)


async def test_a_peers_later_message_waits_behind_its_paced_one() -> None:
    pacer = FanoutPacer(slice_size=1)
    first, second = Peer(), Peer()
    pacer.send(first, "a", frame, defer=True)
    pacer.send(second, "a", frame, defer=True)
    pacer.send(second, "reply", frame, defer=False)  # not deferred, but "a" is ahead of it
    pacer.send(first, "b", frame, defer=False)
    assert first.got == second.got == []
    for _ in range(4):
        await asyncio.sleep(0)
    assert first.got == ["a", "b"] and second.got == ["a", "reply"]


async def test_closing_forgets_what_waits() -> None:
    pacer = FanoutPacer(slice_size=1)
    peer = Peer()
    pacer.send(peer, "a", frame, defer=True)
    pacer.close()
    await asyncio.sleep(0)
    assert peer.got == [] and peer.paced == 0 and pacer.waiting == 0
