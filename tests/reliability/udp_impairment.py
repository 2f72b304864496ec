"""A UDP relay that delays and drops packets: netem's job, in userspace (this kernel has none).

Each peer is told only the relay's addresses instead of the other peer's candidates. A
packet arriving at the relay port that stands for peer X is sent on to X, after ``delay``
seconds and unless dropped, from a relay socket that stands for the sender; replies take the
same path back. ICE learns these addresses as peer-reflexive candidates and is content.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import cast

from aiogstwebrtc import IceCandidate

Address = tuple[str, int]


@dataclass
class Impairment:
    """What happens to each packet: delay in seconds and loss as a fraction."""

    delay: float = 0.0
    loss: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    forwarded: int = 0
    dropped: int = 0


class _Port(asyncio.DatagramProtocol):
    """One relay socket; it stands for one real address (its ``target``)."""

    def __init__(self, relay: UdpRelay, target: Address) -> None:
        self.relay = relay
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, sender: Address) -> None:
        self.relay.forward(data, sender, self.target)


class UdpRelay:
    """Relays between candidates, standing for each real address with a port of its own."""

    def __init__(self, host: str, impairment: Impairment) -> None:
        self.host = host
        self.impairment = impairment
        self._ports: dict[Address, _Port] = {}
        self._in_flight: set[asyncio.Task[None]] = set()

    async def port_for(self, target: Address) -> Address:
        """The relay address that stands for ``target`` (made on first use)."""
        port = self._ports.get(target)
        if port is None:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: _Port(self, target), local_addr=(self.host, 0)
            )
            port = protocol
            self._ports[target] = port
        assert port.transport is not None
        address: Address = port.transport.get_extra_info("sockname")[:2]
        return address

    def forward(self, data: bytes, sender: Address, target: Address) -> None:
        impairment = self.impairment
        if impairment.loss and impairment.rng.random() < impairment.loss:
            impairment.dropped += 1
            return
        task = asyncio.ensure_future(self._send_later(data, sender, target))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_later(self, data: bytes, sender: Address, target: Address) -> None:
        if self.impairment.delay:
            await asyncio.sleep(self.impairment.delay)
        # Send from the port that stands for the sender, so that replies come back through us.
        stand_in = await self.port_for(sender)
        port = self._ports[sender]
        assert port.transport is not None and stand_in
        port.transport.sendto(data, target)
        self.impairment.forwarded += 1

    async def rewrite(self, candidate: IceCandidate) -> IceCandidate | None:
        """The candidate pointing at the relay instead of at the peer (UDP only)."""
        if candidate.protocol != "udp":
            return None
        host, port = await self.port_for((candidate.address, candidate.port))
        fields = candidate.candidate.split(" ")
        fields[4], fields[5] = host, str(port)
        return IceCandidate(" ".join(fields), candidate.sdp_mline_index, candidate.sdp_mid)

    def close(self) -> None:
        for task in self._in_flight:
            task.cancel()
        for port in self._ports.values():
            if port.transport is not None:
                port.transport.close()
        self._ports.clear()
