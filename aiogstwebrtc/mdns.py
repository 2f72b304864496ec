"""Resolving the ``*.local`` names browsers give their host ICE candidates (mDNS, RFC 6762).

Chromium and Firefox hide a page's host addresses behind random ``UUID.local`` names
unless it may use the camera (draft-ietf-mmusic-mdns-ice-candidates). libnice cannot
resolve them, so without help a peer on the same LAN is found only through peer-reflexive
candidates, and the controlling side waits for other pairs to fail before it nominates
one (measured with Firefox watching the demo: first picture after 5-6 s instead of 0.4 s).

:func:`resolve_local_name` asks the local links once (a multicast query for the name's A
and AAAA records from the mDNS port, shared, so that answers multicast to the group reach
it) and takes the first usable answer, within a short timeout. It runs on the asyncio
thread and never blocks: the candidate waits, nothing else does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import struct

__all__ = ["MDNS_TIMEOUT", "is_local_name", "resolve_local_name"]

log = logging.getLogger(__name__)

MDNS_TIMEOUT = 1.0
"""Seconds to wait for an answer (a responder on the link answers in milliseconds)."""

_GROUP = ("224.0.0.251", 5353)
_TYPE_A, _TYPE_AAAA = 1, 28
_QU = 0x8000  # "unicast response requested" (the top bit of the question's class)
_CLASS_IN = 1
# What browsers write (draft-ietf-mmusic-mdns-ice-candidates: a UUID, then .local). Only
# these are resolved: a remote peer cannot make us look up the LAN's named hosts.
_NAME = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.local\.?$", re.I
)


def is_local_name(address: str) -> bool:
    """True for a browser's mDNS candidate name, ``UUID.local``."""
    return bool(_NAME.match(address))


def _query(name: str, ident: int, unicast: bool) -> bytes:
    header = struct.pack("!HHHHHH", ident, 0, 2, 0, 0, 0)
    qname = b"".join(
        bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split(".")
    )
    qname += b"\0"
    questions = b"".join(
        qname + struct.pack("!HH", qtype, _CLASS_IN | (_QU if unicast else 0))
        for qtype in (_TYPE_A, _TYPE_AAAA)
    )
    return header + questions


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name at ``offset``."""
    while True:
        if offset >= len(data):
            raise ValueError("truncated name")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + length


def _read_name(data: bytes, offset: int, depth: int = 0) -> str:
    labels: list[str] = []
    while depth < 16:
        length = data[offset]
        if length == 0:
            break
        if length & 0xC0 == 0xC0:
            pointer = struct.unpack_from("!H", data, offset)[0] & 0x3FFF
            labels.append(_read_name(data, pointer, depth + 1))
            break
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    return ".".join(label for label in labels if label)


def parse_answer(data: bytes, name: str) -> str | None:
    """The first A/AAAA address for ``name`` in an mDNS message, or None (never raises on
    junk: a malformed packet from the link is ignored)."""
    try:
        _ident, flags, questions, answers, authority, extra = struct.unpack_from("!HHHHHH", data)
        if not flags & 0x8000:  # a query, not a response
            return None
        offset = 12
        for _ in range(questions):
            offset = _skip_name(data, offset) + 4
        wanted = name.rstrip(".").lower()
        for _ in range(answers + authority + extra):
            owner = _read_name(data, offset).lower()
            offset = _skip_name(data, offset)
            rtype, _rclass, _ttl, length = struct.unpack_from("!HHIH", data, offset)
            offset += 10
            rdata = data[offset : offset + length]
            offset += length
            if owner != wanted:
                continue
            found: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
            if rtype == _TYPE_A and length == 4:
                found = ipaddress.IPv4Address(rdata)
            elif rtype == _TYPE_AAAA and length == 16:
                found = ipaddress.IPv6Address(rdata)
            if found is not None and not found.is_unspecified:  # Chromium answers AAAA ::
                return str(found)
    except (ValueError, struct.error, IndexError):
        return None
    return None


class _Answers(asyncio.DatagramProtocol):
    def __init__(self, name: str, found: asyncio.Future[str]) -> None:
        self._name = name
        self._found = found

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        address = parse_answer(data, self._name)
        if address is not None and not self._found.done():
            self._found.set_result(address)

    def error_received(self, exc: Exception) -> None:
        log.debug("mDNS socket error: %s", exc)


def _socket() -> tuple[socket.socket, bool]:
    """A UDP socket on the mDNS port, in the group on every interface that has it (answers
    are multicast to the group, as Chromium's responder does); where the port cannot be
    shared, an ephemeral one (then the query asks for unicast answers). And whether it is
    the mDNS port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("0.0.0.0", _GROUP[1]))
        on_port = True
    except OSError:
        sock.bind(("0.0.0.0", 0))
        on_port = False
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setblocking(False)
    return sock, on_port


def _send_everywhere(sock: socket.socket, query: bytes, on_port: bool) -> int:
    """Send ``query`` on each interface that can multicast (joining the group there when
    on the mDNS port); how many took it."""
    group = socket.inet_aton(_GROUP[0])
    sent = 0
    for index, _name in socket.if_nameindex():
        try:
            if on_port:
                mreqn = struct.pack("=4s4si", group, b"\0" * 4, index)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            interface = struct.pack("=4s4si", b"\0" * 4, b"\0" * 4, index)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, interface)
            sock.sendto(query, _GROUP)
            sent += 1
        except OSError as exc:  # no multicast there
            log.debug("mDNS query not sent on interface %s: %s", _name, exc)
    return sent


async def resolve_local_name(name: str, timeout: float = MDNS_TIMEOUT) -> str | None:
    """The address ``name`` (``*.local``) stands for on the local links, or None when no
    responder answers within ``timeout`` seconds."""
    if not is_local_name(name):
        raise ValueError(f"not an mDNS name: {name!r}")
    loop = asyncio.get_running_loop()
    found: asyncio.Future[str] = loop.create_future()
    sock, on_port = _socket()
    transport: asyncio.DatagramTransport | None = None
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: _Answers(name, found), sock=sock)
        if not _send_everywhere(sock, _query(name, 0, unicast=not on_port), on_port):
            log.info("mDNS: no interface to ask for %s on", name)
            return None
        try:
            async with asyncio.timeout(timeout):
                return await found
        except TimeoutError:
            log.info("mDNS: no answer for %s within %.1f s", name, timeout)
            return None
    finally:
        if transport is not None:
            transport.close()
        else:
            sock.close()
        if not found.done():
            found.cancel()
