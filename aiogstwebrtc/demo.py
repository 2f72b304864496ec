"""Run the demo: a page in your browser watches and chats with a Python WebRTC peer.

Starts the signalling server (with the demo page) and a producer that sends a VP8 test
pattern with a ticking clock and an Opus tone, and answers chat over a data channel.
Open the printed URL in a browser, click the producer, and say hello. Ctrl-C stops it.

``--two-peers`` runs the older console demo instead: two local peers chatting over a
data channel, each step printed with the thread it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys

__all__ = ["add_arguments", "run", "run_browser_demo"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc demo``."""
    from .signalling.server import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address the server listens on (default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the page and websocket (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--name", default="aiogstwebrtc demo", help="the producer's name on the page"
    )
    parser.add_argument(
        "--open", action="store_true", help="open the page in the default web browser"
    )
    two = parser.add_argument_group("the console demo (--two-peers)")
    two.add_argument(
        "--two-peers",
        action="store_true",
        help="run the console demo: two local peers chat over a data channel",
    )
    two.add_argument("--messages", type=int, default=3, help="messages each way")
    two.add_argument("--strategy", default="asyncio", help="promise strategy to use")
    two.add_argument(
        "--quiet-threads",
        action="store_true",
        help="do not show the GStreamer-side callbacks and their threads",
    )


def run(args: argparse.Namespace) -> int:
    """Run the browser demo, or the two-peer console demo with ``--two-peers``."""
    if args.two_peers:
        return _run_two_peers(args)
    try:
        return asyncio.run(run_browser_demo(args.host, args.port, args.name, args.open))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1


async def run_browser_demo(
    host: str, port: int, name: str = "aiogstwebrtc demo", open_browser: bool = False
) -> int:
    """Serve the page and a test-pattern producer until SIGINT/SIGTERM."""
    from .config import Configuration
    from .signalling import Producer, SignallingServer
    from .signalling._shutdown import say, stop_on_signals, wait_first
    from .signalling.cli import WEB_DIR
    from .signalling.produce import DEMO_AUDIO, DEMO_VIDEO, demo_chat, make_sources

    sources = make_sources(DEMO_VIDEO, DEMO_AUDIO, video_codec="vp8")
    # Loopback as an extra ICE address: the page on this machine can connect even without
    # any network interface up (browsers use it only when allowed to).
    loopback = _is_loopback(host)
    config = Configuration(local_addresses=["127.0.0.1"] if loopback else None)
    server = SignallingServer(host, port)
    server.add_static(WEB_DIR)
    with stop_on_signals() as stop:
        async with server:
            producer = Producer(
                server.url,
                meta={"name": name},
                sources=sources,
                chat_handler=demo_chat,
                configuration=config,
            )
            producer.on("session", lambda s: say(f"a viewer joined (session {s.session_id})"))
            producer.on("session_ended", lambda s: say(f"a viewer left ({s.end_reason})"))
            async with producer:
                page = _page_url(host, server.port)
                say(f"aiogstwebrtc demo: open {page} in a browser")
                say(f"(signalling websocket {server.url}; Ctrl-C to stop)")
                if open_browser:
                    import webbrowser

                    webbrowser.open(page)
                await wait_first(stop.wait(), producer.wait_closed())
    say("demo stopped")
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _page_url(host: str, port: int) -> str:
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = "127.0.0.1"  # reachable from this machine; use the host's address elsewhere
    elif ":" in host:
        shown = f"[{host}]"
    return f"http://{shown}:{port}/"


def _run_two_peers(args: argparse.Namespace) -> int:
    """Run the two-peer demo and print each step with its thread."""
    from .demo_local import run_two_peers

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("aiogstwebrtc.demo", "aiogstwebrtc.threads"):
        demo_log = logging.getLogger(name)
        demo_log.addHandler(handler)
        demo_log.setLevel(logging.INFO)
        demo_log.propagate = False
    if not args.quiet_threads:
        from .tracing import enable_thread_tracing

        enable_thread_tracing()
    asyncio.run(run_two_peers(args.messages, args.strategy))
    return 0
