"""Run the signalling server: GStreamer's webrtcsink/webrtcsrc protocol over a websocket.

Peers connect to ws://HOST:PORT/ (webrtcsink, webrtcsrc, gstwebrtc-api pages, the
``aiogstwebrtc produce`` command, aiogstwebrtc's SignallingClient); a browser opening
http://HOST:PORT/ gets the demo page, which lists the producers and plays them.
Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from .admission import DEFAULT_ADMISSION, AdmissionLimits
from .cluster.errors import ClusterUnavailableError
from .limits import DEFAULT_RATE_LIMIT, RateLimit
from .server import DEFAULT_HOST, DEFAULT_PORT, SignallingServer

if TYPE_CHECKING:
    from ..whep.quota import SessionLimits

__all__ = ["WEB_DIR", "add_arguments", "run", "serve", "serve_until_stopped", "tls_context"]

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The demo page shipped with the package."""

TOKEN_ENV = "AIOGSTWEBRTC_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc signalling-server``."""
    from ..whep import streams

    streams.add_arguments(parser)
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"shared secret peers must present as ?token=... or 'Authorization: Bearer' "
        f"(default: ${TOKEN_ENV}, else no authentication)",
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="browser origin whose pages may connect, e.g. https://example.org (repeatable; "
        "'*' for any); pages of other origins are refused, this server's own page and "
        "non-browser peers are always allowed",
    )
    parser.add_argument(
        "--max-peers",
        type=int,
        default=1000,
        help="connections at once, beyond which HTTP 503 (default 1000)",
    )
    parser.add_argument(
        "--max-sessions-per-peer",
        type=int,
        default=64,
        help="sessions one peer may be in at once (default 64)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=DEFAULT_RATE_LIMIT.rate,
        metavar="PER_SECOND",
        help=f"messages per second each connection may send on average "
        f"(default {DEFAULT_RATE_LIMIT.rate:g}; 0 for no limit)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=DEFAULT_RATE_LIMIT.burst,
        metavar="MESSAGES",
        help=f"messages a connection may send at once (default {DEFAULT_RATE_LIMIT.burst})",
    )
    parser.add_argument(
        "--max-sessions-per-pair",
        type=int,
        default=2,
        help="sessions one consumer may have with one producer (default 2)",
    )
    _add_admission_arguments(parser)
    parser.add_argument(
        "--websocket-compression",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="accept permessage-deflate (default: no; it costs about 150 KiB per connection)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve wss:// and https:// with this certificate chain (needs --tls-key); "
        "or keep ws:// behind a TLS-terminating reverse proxy (docs/security.md)",
    )
    parser.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="redis://HOST:PORT/DB: run as one server of a cluster sharing that Redis "
        "database (needs aiogstwebrtc[cluster]; docs/cluster.md)",
    )
    parser.add_argument(
        "--server-id",
        metavar="ID",
        help="this server's name in the cluster (default: random; with --redis)",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="how viewers reach this server, e.g. https://sig-a.example.org (with --redis): "
        "WHEP viewers of its streams who ask another server are redirected here (307)",
    )
    parser.add_argument(
        "--web",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the demo page at http://HOST:PORT/ (default: yes)",
    )


def _add_admission_arguments(parser: argparse.ArgumentParser) -> None:
    d = DEFAULT_ADMISSION
    parser.add_argument(
        "--max-per-address",
        type=int,
        default=d.max_per_address,
        metavar="N",
        help=f"connections at once from one client address (default {d.max_per_address})",
    )
    parser.add_argument(
        "--connection-rate",
        type=float,
        default=d.attempts_per_second,
        metavar="PER_SECOND",
        help=f"new connections per second from one address, in bursts of "
        f"{d.attempts_burst} (default {d.attempts_per_second:g})",
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=d.max_pending,
        metavar="N",
        help=f"connections not yet upgraded to a websocket, in all (default {d.max_pending}; "
        f"{d.max_pending_per_address} per address)",
    )
    parser.add_argument(
        "--http-timeout",
        type=float,
        default=d.http_timeout,
        metavar="SECONDS",
        help=f"time to send a complete HTTP request, and for an idle HTTP connection "
        f"(default {d.http_timeout:g})",
    )
    parser.add_argument(
        "--unregistered-timeout",
        type=float,
        default=d.unregistered_timeout,
        metavar="SECONDS",
        help=f"a websocket sending no valid message within this is closed "
        f"(default {d.unregistered_timeout:g})",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="ADDRESS",
        help="reverse proxy address or network whose X-Forwarded-For/Forwarded headers "
        "name the client (repeatable; default: none, the headers are ignored)",
    )


def admission_limits(args: argparse.Namespace) -> AdmissionLimits:
    """The per-address limits the command line asks for."""
    return AdmissionLimits(
        max_per_address=args.max_per_address,
        attempts_per_second=args.connection_rate,
        attempts_burst=DEFAULT_ADMISSION.attempts_burst,
        max_pending=args.max_pending,
        max_pending_per_address=min(DEFAULT_ADMISSION.max_pending_per_address, args.max_pending),
        http_timeout=args.http_timeout,
        unregistered_timeout=args.unregistered_timeout,
        trusted_proxies=tuple(args.trusted_proxies or ()),
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    try:
        rate_limit = (
            None
            if args.rate_limit <= 0
            else RateLimit(
                rate=args.rate_limit,
                burst=args.rate_burst,
                max_dropped=DEFAULT_RATE_LIMIT.max_dropped,
            )
        )
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert or args.tls_key else None
        server = SignallingServer(
            args.host,
            args.port,
            token=args.token or None,
            allowed_origins=args.allowed_origins or (),
            rate_limit=rate_limit,
            max_peers=args.max_peers,
            max_sessions_per_peer=args.max_sessions_per_peer,
            max_sessions_per_pair=args.max_sessions_per_pair,
            admission=admission_limits(args),
            websocket_compression=args.websocket_compression,
            ssl_context=tls,
            redis_url=args.redis,
            server_id=args.server_id,
        )
    except ImportError as exc:
        log.error("--redis needs the redis package: pip install 'aiogstwebrtc[cluster]' (%s)", exc)
        return 1
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    from ..whep.quota import SessionLimits
    from ..whep.streams import ice_servers_from_options, parse_streams

    try:
        whep = parse_streams(args.whep)
        ice_servers = ice_servers_from_options(
            args.whep_ice_server, args.whep_ice_username, args.whep_ice_credential
        )
        whep_limits = SessionLimits(
            max_per_address=args.whep_sessions_per_address,
            trusted_proxies=tuple(args.trusted_proxies or ()),
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    try:
        asyncio.run(
            serve_until_stopped(
                server,
                web=args.web,
                token=bool(args.token),
                whep=whep,
                whep_token=args.whep_token,
                whip=(args.whip_token, args.whip_open),
                public_url=args.public_url,
                ice_servers=ice_servers,
                whep_limits=whep_limits,
                peer_token=args.token,
            )
        )
    except ClusterUnavailableError as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0


def tls_context(certificate: str | None, key: str | None) -> ssl.SSLContext:
    """A server TLS context from PEM files (TLS 1.2 at least, as browsers want)."""
    if not certificate or not key:
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except ssl.SSLError as exc:
        raise ValueError(f"cannot use {certificate} and {key}: {exc.reason or exc}") from None
    return context


async def serve(
    host: str,
    port: int,
    *,
    token: str | None = None,
    allowed_origins: list[str] | None = None,
    web: bool = True,
) -> None:
    """Run a :class:`SignallingServer` until SIGINT or SIGTERM.

    ``allowed_origins`` as for the server; None admits only its own pages.
    """
    server = SignallingServer(host, port, token=token, allowed_origins=allowed_origins or ())
    await serve_until_stopped(server, web=web, token=token is not None)


async def serve_until_stopped(
    server: SignallingServer,
    *,
    web: bool = True,
    token: bool = False,
    whep: dict[str, str] | None = None,
    whep_token: str | None = None,
    whip: tuple[str | None, bool] = (None, False),
    public_url: str | None = None,
    ice_servers: list[dict[str, object]] | None = None,
    whep_limits: SessionLimits | None = None,
    peer_token: str | None = None,
) -> None:
    """Start ``server`` (with the demo page when ``web``, WHEP streams from ``whep``) and
    run it until SIGINT/SIGTERM. In a cluster, ``public_url`` is where the other servers
    redirect viewers of this server's WHEP streams."""
    from ..whep.announce import StreamAnnouncer
    from ..whep.streams import serving
    from ._shutdown import say, stop_on_signals

    if web:
        server.add_static(WEB_DIR)
    with stop_on_signals() as stop:
        async with (
            serving(
                server.app,
                whep or {},
                whep_token,
                *whip,
                ice_servers,
                whep_limits,
                server.token_failures,
            ) as endpoint,
            server,
        ):
            if server.cluster is not None and public_url:
                server.cluster.advertise_whep(endpoint, public_url)
            if whep or whip[0] or whip[1]:  # WHEP streams are producers here as well
                await endpoint.announce(StreamAnnouncer(server.url, token=peer_token))
            if whip[0] or whip[1]:
                say(f"WHIP ingest:       {server.url.replace('ws', 'http', 1)}whip/NAME")
            for name in whep or {}:
                say(f"WHEP stream:       {server.url.replace('ws', 'http', 1)}whep/{name}")
            say(f"signalling server: {server.url}")
            if web:
                say(f"demo page:         {server.url.replace('ws', 'http', 1)}")
            if token:
                say("peers must present the token (pages: add ?token=... to the URL)")
            say("Ctrl-C to stop")
            await stop.wait()
    say("signalling server stopped")
