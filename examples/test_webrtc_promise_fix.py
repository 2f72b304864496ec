#!/usr/bin/env python3
"""The write-up's test runner: ``python test_webrtc_promise_fix.py``.

It opens the menu of ``aiogstwebrtc doctor``: 1-4 run one of the write-up's solutions end to
end (a second peer offers, the solution answers, the peers connect and a message makes a round
trip), 5 runs every approach - the four, asyncio on the GLib loop, and the broken ways - and
shows which work best on this machine; q quits. Each approach runs in a child process with a
watchdog, so a deadlock cannot hang it.

Every doctor option works here too, e.g. ``--approach all --json`` or ``--timeout 10``.
(Despite its name this is a program, not a pytest module: it holds no tests.)
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Start the doctor (its menu unless options say otherwise); return its exit status."""
    try:
        from aiogstwebrtc.cli import main as aiogstwebrtc_main
    except ImportError:  # run from a source checkout without installing
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from aiogstwebrtc.cli import main as aiogstwebrtc_main
    return aiogstwebrtc_main(["doctor", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
