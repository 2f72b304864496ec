"""``signalling-server --whep NAME=SOURCE`` and ``--whip-token``: WHEP streams, WHIP ingest.

SOURCE is an RTSP camera URL (its H.264 passed through) or a GStreamer source description
of raw video (encoded once in VP8 for every player). The stream is at
``http://HOST:PORT/whep/NAME``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..signalling.token_failures import TokenFailures
from .endpoint import WhepEndpoint
from .quota import SessionLimits

__all__ = ["add_arguments", "ice_servers_from_options", "parse_streams", "serving"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The WHEP options of ``aiogstwebrtc signalling-server``."""
    parser.add_argument(
        "--whep",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="serve a stream to WHEP players at /whep/NAME: SOURCE is rtsp://... (passed "
        "through) or a GStreamer raw video source, e.g. 'videotestsrc is-live=true' "
        "(repeatable)",
    )
    parser.add_argument(
        "--whep-token", help="bearer token WHEP players must send (default: open playback)"
    )
    parser.add_argument(
        "--whip-token",
        help="take WHIP publishers at /whip/NAME with this bearer token; each stream is "
        "played at /whep/NAME, passed through",
    )
    parser.add_argument(
        "--whip-open",
        action="store_true",
        help="take WHIP publishers without a token (local testing only)",
    )
    parser.add_argument(
        "--whep-ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a stun:/turn:/turns: URL given to WHIP/WHEP clients in Link headers "
        "(repeatable; TURN URLs take --whep-ice-username and --whep-ice-credential)",
    )
    parser.add_argument(
        "--whep-sessions-per-address",
        type=int,
        default=16,
        metavar="N",
        help="WHIP/WHEP sessions one client address may hold (default 16; offers are also "
        "limited to 2/s in bursts of 10 per address; --trusted-proxy names proxies)",
    )
    parser.add_argument("--whep-ice-username", help="the TURN username for clients")
    parser.add_argument("--whep-ice-credential", help="the TURN credential for clients")


def ice_servers_from_options(
    urls: list[str], username: str | None, credential: str | None
) -> list[dict[str, object]]:
    """``--whep-ice-server`` URLs as ICE servers (ValueError names a bad one)."""
    from .links import link_headers

    servers: list[dict[str, object]] = []
    for url in urls:
        server: dict[str, object] = {"urls": url}
        if url.lower().startswith("turn"):
            server.update(username=username, credential=credential)
        servers.append(server)
    link_headers(servers)  # checks them: the error names the bad entry
    return servers


def parse_streams(specs: list[str]) -> dict[str, str]:
    """``{name: source}`` from ``NAME=SOURCE`` options (ValueError names a bad one)."""
    streams: dict[str, str] = {}
    for spec in specs:
        name, separator, source = spec.partition("=")
        if not separator or not name or "/" in name or not source.strip():
            raise ValueError(f"--whep takes NAME=SOURCE, not {spec!r}")
        if name in streams:
            raise ValueError(f"--whep: stream {name!r} given twice")
        streams[name] = source.strip()
    return streams


@contextlib.asynccontextmanager
async def serving(
    app: web.Application,
    streams: dict[str, str],
    token: str | None,
    whip_token: str | None = None,
    whip_open: bool = False,
    ice_servers: list[dict[str, object]] | None = None,
    limits: SessionLimits | None = None,
    token_failures: TokenFailures | None = None,
) -> AsyncIterator[WhepEndpoint]:
    """Start a broadcast per stream and install a WHEP endpoint for them in ``app``; with
    ``whip_token`` (or ``whip_open``) a WHIP endpoint too. ``ice_servers`` go to clients in
    ``Link`` headers; ``token_failures``: the signalling server's, counted into by both."""
    from ..media import Broadcast, VideoSource
    from .ingest import WhipEndpoint

    links = ice_servers or []
    quota = limits or SessionLimits()
    endpoint = WhepEndpoint(token=token, ice_servers=links, limits=quota)
    whip = (
        WhipEndpoint(endpoint, token=whip_token, open=whip_open, ice_servers=links, limits=quota)
        if whip_token or whip_open
        else None
    )
    if token_failures is not None:
        for each in (endpoint, whip):
            if each is not None:
                each.share_token_failures(token_failures)
    async with contextlib.AsyncExitStack() as stack:
        for name, source in streams.items():
            video = (
                VideoSource.from_rtsp(source)
                if source.startswith(("rtsp://", "rtsps://"))
                else VideoSource(source)
            )
            broadcast = await stack.enter_async_context(Broadcast(video=video))
            endpoint.add_stream(name, broadcast)
        endpoint.install(app)
        stack.push_async_callback(endpoint.close)
        if whip is not None:
            whip.install(app)
            stack.push_async_callback(whip.close)
        yield endpoint
