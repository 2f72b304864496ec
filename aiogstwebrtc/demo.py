"""Run the demo: two local peers chatting over a data channel (``--two-peers``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc demo``."""
    parser.add_argument("--messages", type=int, default=3, help="messages each way")
    parser.add_argument("--strategy", default="asyncio", help="promise strategy to use")
    parser.add_argument(
        "--quiet-threads",
        action="store_true",
        help="do not show the GStreamer-side callbacks and their threads",
    )


def run(args: argparse.Namespace) -> int:
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
