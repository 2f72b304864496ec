"""Remote ICE candidates that name an mDNS host (``UUID.local``), resolved in the background.

Browsers name their host candidates with mDNS (see :mod:`.mdns`). Such a candidate is kept
from webrtcbin (:func:`without_local_names` for a description's; the negotiator for a
trickled one): webrtcbin would hand the name to the system resolver, which asks the
configured unicast DNS server for ``UUID.local`` (RFC 6762 keeps ``.local`` off unicast DNS;
a test saw the query leave its namespace). Once the name resolves on the local link the
candidate is applied with the address in place of the name: a peer on the same LAN is then
reached through its host candidate, not only through peer-reflexive ones. Resolving never
holds up other candidates or the negotiation; a name that does not resolve (a peer on
another network) costs one short timeout, in the background. asyncio thread only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from .errors import InvalidSDPError, WebRTCError
from .mdns import is_local_name, resolve_local_name
from .sdp import IceCandidate, SessionDescription

__all__ = ["LocalNames", "candidates_in", "with_address", "without_local_names"]

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^(candidate:\S+ \d+ \S+ \d+ )(\S+)( .*)$")

MAX_NAMES = 16
"""Distinct names resolved per peer connection (a browser uses one per interface): a peer
sending thousands of names does not make us flood the link with queries."""


def with_address(candidate: IceCandidate, address: str) -> IceCandidate:
    """``candidate`` with ``address`` in place of its host name."""
    match = _ADDRESS.match(candidate.candidate)
    if match is None:
        raise InvalidSDPError(f"malformed ICE candidate: {candidate.candidate!r:.120}")
    return IceCandidate(
        f"{match[1]}{address}{match[3]}",
        candidate.sdp_mline_index,
        candidate.sdp_mid,
        candidate.username_fragment,
    )


def without_local_names(sdp: str) -> str:
    """``sdp`` without the ``a=candidate`` lines whose address is an mDNS name."""
    if ".local" not in sdp:
        return sdp
    return "".join(line for line in sdp.splitlines(keepends=True) if not _names_local_host(line))


def _names_local_host(line: str) -> bool:
    if not line.startswith("a=candidate:"):
        return False
    match = _ADDRESS.match(line[2:].rstrip("\r\n"))
    return match is not None and is_local_name(match[2])


def candidates_in(description: SessionDescription) -> list[IceCandidate]:
    """The ``a=candidate`` lines of each m-section, as candidates of that m-line."""
    found: list[IceCandidate] = []
    sections = description.media
    index = -1
    for line in description.sdp.splitlines():
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=candidate:") and 0 <= index < len(sections):
            try:
                found.append(IceCandidate(line, index, sections[index].mid))
            except InvalidSDPError:
                continue
    return found


async def _nothing(_candidate: IceCandidate) -> None:
    """``apply`` of a closed :class:`LocalNames`."""


class LocalNames:
    """Resolves the mDNS names of remote candidates; ``apply`` takes each resolved one."""

    def __init__(
        self, apply: Callable[[IceCandidate], Awaitable[None]], enabled: bool = True
    ) -> None:
        self._apply = apply
        self.enabled = enabled
        self._names: dict[str, asyncio.Future[str | None]] = {}  # name -> its resolution
        self._tasks: set[asyncio.Task[None]] = set()

    def take(self, candidate: IceCandidate) -> None:
        """Resolve ``candidate``'s host name in the background, if it is an mDNS name."""
        if not self.enabled or candidate.is_end_of_candidates:
            return
        name = candidate.address
        if not is_local_name(name):
            return
        if name not in self._names and len(self._names) >= MAX_NAMES:
            log.debug("not resolving %s: %d names resolved already", name, MAX_NAMES)
            return
        if name not in self._names:
            self._names[name] = asyncio.ensure_future(resolve_local_name(name))
        task = asyncio.get_running_loop().create_task(self._resolve_and_apply(name, candidate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def take_description(self, description: SessionDescription) -> None:
        """Resolve the mDNS names of the candidates written in ``description``."""
        for candidate in candidates_in(description):
            self.take(candidate)

    async def _resolve_and_apply(self, name: str, candidate: IceCandidate) -> None:
        address = await asyncio.shield(self._names[name])
        if address is None:
            return
        log.debug("remote candidate host %s is %s", name, address)
        try:
            await self._apply(with_address(candidate, address))
        except WebRTCError as exc:  # closed meanwhile, or its m-line is gone
            log.debug("a resolved mDNS candidate was not applied: %s", exc)

    async def close(self) -> None:
        """Stop resolving (the peer connection closes) and let go of ``apply`` (a bound
        method of the negotiator that holds this: kept, the two would wait for the cyclic
        garbage collector, and a closed session must be freed by reference counting)."""
        self.enabled = False
        self._apply = _nothing
        tasks = list(self._tasks)
        names = [future for future in self._names.values() if not future.done()]
        for task in tasks:
            task.cancel()
        for name in names:
            name.cancel()
        await asyncio.gather(*tasks, *names, return_exceptions=True)
        self._names.clear()
