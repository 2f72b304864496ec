"""WHEP and WHIP clients: ``tracks = await WhepClient(url).play()`` and
``await WhipClient(url, token=...).publish(VideoSource())``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import aiohttp

from ..config import Configuration, IceServer
from ..errors import WebRTCError
from ..media import MediaSource, RemoteTrack
from ..peerconnection import PeerConnection
from ..sdp import IceCandidate, SessionDescription
from .links import ice_servers_from_links
from .restart import finish_restart, start_restart
from .sdpfrag import SDPFRAG, parse_fragment, trickle_fragment

__all__ = ["WhepClient", "WhepError", "WhipClient", "fetch_ice_servers"]

log = logging.getLogger(__name__)


class WhepError(WebRTCError):
    """The WHEP server refused a request: ``status`` is its HTTP status, the text its reason."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


async def fetch_ice_servers(
    url: str, *, token: str | None = None, timeout: float = 15.0
) -> list[IceServer]:
    """The STUN/TURN servers a WHIP/WHEP endpoint offers its clients: ``Link`` headers of
    its answer to ``OPTIONS`` (RFC 9725 4.6). Empty when it offers none; a server that
    does not answer ``OPTIONS`` raises :class:`WhepError` (or ``aiohttp``'s error)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as http:
        async with http.options(url, headers=headers) as response:
            if response.status >= 300:
                raise WhepError(f"OPTIONS {url}: {response.status}", status=response.status)
            return ice_servers_from_links(response.headers.getall("Link", []))


#: Redirects followed for one POST.
MAX_REDIRECTS = 5


def may_carry_token(origin: str, target: str) -> bool:
    """Whether a bearer token sent to ``origin`` goes on to the redirect ``target``: to the
    same host, or over HTTPS (never from HTTPS down to HTTP)."""
    source, destination = urlsplit(origin), urlsplit(target)
    if source.scheme == "https" and destination.scheme != "https":
        return False
    return destination.scheme == "https" or destination.hostname == source.hostname


class _HttpSession:
    """One WHIP/WHEP session: POST the offer, keep the resource, DELETE it at the end.

    Before the offer the endpoint is asked for its STUN/TURN servers (``OPTIONS``, see
    :func:`fetch_ice_servers`) unless ``ask_ice_servers`` is False; they are added to
    ``configuration``'s, for a peer connection not used before :meth:`play`/:meth:`publish`.

    With ``trickle`` (the default, as browsers) the offer is posted as soon as it is made,
    with the candidates gathered by then, and later ones follow in ``PATCH`` requests (RFC
    9725 4.3); ``trickle=False`` waits until every candidate is in the offer.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        configuration: Configuration | None,
        timeout: float,
        ask_ice_servers: bool = True,
        trickle: bool = True,
    ) -> None:
        self.url = url
        self.resource: str | None = None
        self.ice_servers_offered: list[IceServer] = []
        self._configuration = configuration or Configuration()
        self._pc: PeerConnection | None = None
        self._ask_ice_servers = ask_ice_servers
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None
        self._etag: str | None = None
        self._trickle = trickle
        self._trickler: asyncio.Future[None] | None = None

    @property
    def pc(self) -> PeerConnection:
        """The peer connection (made on first use, with the endpoint's ICE servers once
        :meth:`play`/:meth:`publish` asked for them)."""
        if self._pc is None:
            self._pc = PeerConnection(self._configuration)
        return self._pc

    async def _ask_for_ice_servers(self) -> None:
        """``OPTIONS`` on the endpoint: its ICE servers join ours (if the pc is not made)."""
        if not self._ask_ice_servers:
            return
        try:
            offered = await fetch_ice_servers(self.url, token=self._token, timeout=self._timeout)
        except (WhepError, aiohttp.ClientError, TimeoutError) as exc:
            log.debug("the endpoint gave no ICE servers: %s", exc)
            return
        self.ice_servers_offered = offered
        if not offered:
            return
        if self._pc is not None:
            log.info("the endpoint offers ICE servers, but the peer connection is made")
            return
        servers = [*self._configuration.ice_servers, *offered]
        self._configuration = replace(self._configuration, ice_servers=servers)
        log.info("using the endpoint's ICE servers: %s", [s.urls for s in offered])

    async def _exchange(self) -> None:
        """Our offer for the server's answer (redirects followed). Trickling, the offer
        goes at once with the candidates gathered so far and the others follow in PATCHes
        (:meth:`_trickle`); otherwise it waits for all of them."""
        found: asyncio.Queue[IceCandidate | None] = asyncio.Queue()
        if self._trickle:
            self.pc.on("icecandidate", found.put_nowait)
        try:
            offer = await self._post_offer()
        except BaseException:
            self.pc.off("icecandidate", found.put_nowait)
            raise
        if self._trickle:
            sent = {line[2:] for line in offer.sdp.splitlines() if line.startswith("a=candidate:")}
            complete = "a=end-of-candidates" in offer.sdp
            self._trickler = asyncio.ensure_future(self._trickle_candidates(found, sent, complete))

    async def _post_offer(self) -> SessionDescription:
        """Make and POST our offer, apply the answer; the offer as it was sent."""
        await self.pc.set_local_description(await self.pc.create_offer())
        if not self._trickle:
            await self.pc.wait_for_ice_gathering_complete(self._timeout)
        offer = self.pc.local_description
        assert offer is not None
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        url, headers = self.url, dict(self._headers, **{"Content-Type": "application/sdp"})
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http.post(
                url, data=offer.sdp, headers=headers, allow_redirects=False
            ) as response:
                text = await response.text()
                target = response.headers.get("Location")
                if response.status in (307, 308) and target:
                    # our own redirects: aiohttp drops the token on one to another origin,
                    # and a cluster sends a viewer to another server (RFC 9725 4.5)
                    target = urljoin(url, target)
                    if not may_carry_token(url, target):
                        headers.pop("Authorization", None)
                    log.debug("POST %s: %d to %s", url, response.status, target)
                    url = target
                    continue
                if response.status != 201:
                    raise WhepError(
                        f"POST {url}: {response.status} {text.strip()}", status=response.status
                    )
                if not target:
                    raise WhepError("the server sent no Location", status=response.status)
                self.resource = urljoin(url, target)
                self._etag = response.headers.get("ETag")
                break
        else:
            raise WhepError(f"POST {self.url}: more than {MAX_REDIRECTS} redirects", status=307)
        await self.pc.set_remote_description({"type": "answer", "sdp": text})
        return offer

    async def _trickle_candidates(
        self, found: asyncio.Queue[IceCandidate | None], sent: set[str], complete: bool
    ) -> None:
        """PATCH the candidates gathered after the offer left (RFC 9725 4.3), those found
        while a PATCH was under way together, ``a=end-of-candidates`` with the last. A
        refused PATCH is logged: the candidates the server has may still do."""
        try:
            while not complete:
                batch = [await found.get()]
                while not found.empty():
                    batch.append(found.get_nowait())
                complete = None in batch
                fresh = [c for c in batch if c is not None and c.candidate not in sent]
                sent.update(c.candidate for c in fresh)
                if fresh or complete:
                    await self._patch_candidates(fresh, complete)
        finally:
            self.pc.off("icecandidate", found.put_nowait)

    async def _patch_candidates(self, candidates: list[IceCandidate], end: bool) -> None:
        local = self.pc.local_description
        if local is None or self.resource is None or self._http is None:
            return
        body = trickle_fragment(local.sdp, candidates, end)
        headers = self._fragment_headers()
        try:
            async with self._http.patch(self.resource, data=body, headers=headers) as reply:
                if reply.status not in (200, 204):
                    text = (await reply.text()).strip()
                    log.warning("trickle PATCH %s: %s %s", self.resource, reply.status, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("trickle PATCH %s failed: %s", self.resource, exc)

    def _fragment_headers(self) -> dict[str, str]:
        """The headers of a PATCH of a trickle-ice-sdpfrag: our token, the session's ETag."""
        return dict(self._headers, **{"Content-Type": SDPFRAG, "If-Match": self._etag or "*"})

    async def _stop_trickling(self) -> None:
        trickler, self._trickler = self._trickler, None
        if trickler is not None and not trickler.done():
            trickler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trickler

    async def restart_ice(self) -> None:
        """Restart ICE in the running session (RFC 9725 4.4): new credentials and our
        candidates PATCHed to the resource, the server's new ones applied from its ``200``.
        After a network change (a new address, a NAT mapping that moved), or when
        :attr:`PeerConnection.ice_connection_state` goes ``disconnected``/``failed``.

        Raises :class:`WhepError` with the status when the server refuses (``405``: it
        does not restart ICE); the session then goes on with the old credentials.
        """
        if self.resource is None or self._http is None:
            raise WhepError("no session to restart: play() or publish() first", status=0)
        await self._stop_trickling()  # its candidates are of the generation that ends
        answer = self.pc.remote_description
        assert answer is not None
        fragment = await start_restart(self.pc)
        headers = self._fragment_headers()
        try:
            async with self._http.patch(self.resource, data=fragment, headers=headers) as reply:
                text = await reply.text()
                if reply.status != 200:
                    raise WhepError(
                        f"ICE restart: PATCH {self.resource}: {reply.status} {text.strip()}",
                        status=reply.status,
                    )
                etag = reply.headers.get("ETag")
            await finish_restart(self.pc, answer, parse_fragment(text))
        except BaseException:
            if self.pc.signaling_state == "have-local-offer":  # back to the old credentials
                await self.pc.set_remote_description(answer)
            raise
        self._etag = etag or self._etag
        log.info("ICE restarted with %s", self.resource)

    async def close(self) -> None:
        """End the session (DELETE) and close the peer connection."""
        await self._stop_trickling()
        resource, self.resource = self.resource, None
        http, self._http = self._http, None
        try:
            if resource is not None and http is not None:
                try:
                    async with http.delete(resource, headers=self._headers) as response:
                        if response.status not in (200, 204, 404):
                            log.warning("DELETE %s: %s", resource, response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("DELETE %s failed: %s", resource, exc)
        finally:
            if http is not None:
                await http.close()
            if self._pc is not None:
                await self._pc.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class WhipClient(_HttpSession):
    """Publish to the WHIP endpoint at ``url`` (RFC 9725), with a bearer ``token``.

    ``await client.publish(VideoSource(), AudioSource())`` sends the sources (the server
    answers with what it takes); ``await client.close()`` ends it with a DELETE (also
    ``async with``).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        configuration: Configuration | None = None,
        timeout: float = 15.0,
        ask_ice_servers: bool = True,
        trickle: bool = True,
    ) -> None:
        super().__init__(url, token, configuration, timeout, ask_ice_servers, trickle)

    async def publish(self, *sources: MediaSource) -> None:
        """Send ``sources`` until :meth:`close`."""
        if not sources:
            raise ValueError("publish what? give a VideoSource and/or an AudioSource")
        await self._ask_for_ice_servers()
        for source in sources:
            await self.pc.add_track(source)
        await self._exchange()


class WhepClient(_HttpSession):
    """Play the WHEP stream at ``url`` (with a bearer ``token`` if the server wants one).

    ``await client.play()`` offers to receive ``kinds``, posts the offer (candidates
    trickled after it; redirects followed) and returns the :class:`RemoteTrack` of each kind the
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
        ask_ice_servers: bool = True,
        trickle: bool = True,
    ) -> None:
        super().__init__(url, token, configuration, timeout, ask_ice_servers, trickle)

    async def play(self, kinds: tuple[str, ...] = ("video", "audio")) -> list[RemoteTrack]:
        """Start playing; the tracks the server sends, once each has arrived."""
        await self._ask_for_ice_servers()
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        self.pc.on("track", tracks.put_nowait)
        for kind in kinds:
            await self.pc.add_transceiver(kind, "recvonly")
        await self._exchange()
        answer = self.pc.remote_description
        assert answer is not None
        sent = sum(1 for section in answer.media if section.sends)
        if sent:  # a connection that fails says why (e.g. ICE: which candidates it had)
            await self.pc.wait_for_connection_state("connected", self._timeout)
        received = []
        async with asyncio.timeout(self._timeout):
            for _ in range(sent):
                received.append(await tracks.get())
        return received
