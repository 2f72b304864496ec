"""The ``aiogstwebrtc`` command: ``demo``, ``doctor``, ``signalling-server``, ``produce``,
``whep-play``, ``whip-publish``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ._version import __version__
from .memory import limit_arenas

__all__ = ["main"]

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("aiogstwebrtc.demo", "run the demo"),
    "doctor": ("aiogstwebrtc.doctor", "diagnose which promise strategy works on this machine"),
    "signalling-server": (
        "aiogstwebrtc.signalling.cli",
        "run the webrtcsink-compatible signalling server",
    ),
    "produce": ("aiogstwebrtc.signalling.produce", "serve media to consumers via a server"),
    "whep-play": ("aiogstwebrtc.whep.play", "play a WHEP stream, or record it to a file"),
    "whip-publish": ("aiogstwebrtc.whep.publish", "publish media to a WHIP endpoint"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="aiogstwebrtc", description="asyncio WebRTC on GStreamer's webrtcbin"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--trace-threads",
        action="store_true",
        help="log every callback with the thread it ran on (AIOGSTWEBRTC_TRACE_THREADS=1)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        sub = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiogstwebrtc`` command."""
    limit_arenas()  # before any thread allocates: long-running commands stay flat (issue 17)
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.trace_threads:
        from .tracing import enable_thread_tracing

        enable_thread_tracing()
    code: int = args._module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
