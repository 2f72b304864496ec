"""A WHEP player: ``tracks = await WhepClient(url).play()``."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from urllib.parse import urljoin

import aiohttp

from ..config import Configuration
from ..errors import WebRTCError
from ..media import RemoteTrack
from ..peerconnection import PeerConnection

__all__ = ["WhepClient", "WhepError"]

log = logging.getLogger(__name__)


class WhepError(WebRTCError):
    """The WHEP server refused a request: ``status`` is its HTTP status, the text its reason."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class WhepClient:
    """Play the WHEP stream at ``url`` (with a bearer ``token`` if the server wants one).

    ``await client.play()`` offers to receive ``kinds``, posts the offer (every candidate
    gathered in it; redirects followed) and returns the :class:`RemoteTrack` of each kind the
    server sends, so ``recv()``, ``record()`` and ``connect()`` work on them. ``await
    client.close()`` ends the session with a DELETE (also ``async with``).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        configuration: Configuration | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.url = url
        self.resource: str | None = None
        self.pc = PeerConnection(configuration)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    async def play(self, kinds: tuple[str, ...] = ("video", "audio")) -> list[RemoteTrack]:
        """Start playing; the tracks the server sends, once each has arrived."""
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        self.pc.on("track", tracks.put_nowait)
        for kind in kinds:
            await self.pc.add_transceiver(kind, "recvonly")
        await self.pc.set_local_description(await self.pc.create_offer())
        await self.pc.wait_for_ice_gathering_complete(self._timeout)
        offer = self.pc.local_description
        assert offer is not None
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        headers = dict(self._headers, **{"Content-Type": "application/sdp"})
        async with self._http.post(self.url, data=offer.sdp, headers=headers) as response:
            text = await response.text()
            if response.status != 201:
                raise WhepError(
                    f"WHEP POST {self.url}: {response.status} {text.strip()}",
                    status=response.status,
                )
            location = response.headers.get("Location")
            if not location:
                raise WhepError("the WHEP server sent no Location", status=response.status)
            self.resource = urljoin(str(response.url), location)
        await self.pc.set_remote_description({"type": "answer", "sdp": text})
        answer = self.pc.remote_description
        assert answer is not None
        sent = sum(1 for section in answer.media if section.sends)
        received = []
        async with asyncio.timeout(self._timeout):
            for _ in range(sent):
                received.append(await tracks.get())
        return received

    async def close(self) -> None:
        """End the session (DELETE) and close the peer connection."""
        resource, self.resource = self.resource, None
        http, self._http = self._http, None
        try:
            if resource is not None and http is not None:
                try:
                    async with http.delete(resource, headers=self._headers) as response:
                        if response.status not in (200, 204, 404):
                            log.warning("WHEP DELETE %s: %s", resource, response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("WHEP DELETE %s failed: %s", resource, exc)
        finally:
            if http is not None:
                await http.close()
            await self.pc.close()

    async def __aenter__(self) -> WhepClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
