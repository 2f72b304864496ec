"""Diagnose which way of driving webrtcbin's promises works on this machine, and why others fail.

Without options, a menu (like the seed's test runner): 1-4 run one of the seed's solutions,
5 runs every approach - the four, asyncio on the GLib loop (gi-events), and the broken ways
(naive-set-result, wait-in-handler, idle-without-loop, before-playing) - and q quits.

Each approach runs end to end in its own child process under a watchdog: a second peer
(webrtcbin on 127.0.0.1, and aiortc in a network namespace of its own) offers - a
data-channel-only offer and an audio+video+data offer - the approach answers, the connection
must reach "connected" and a message must make a round trip on the data channel. The report
gives, per approach, whether it worked and why not (deadlock, timeout or lost wake-up in which
step, or the error), the time of each step, the signaling states seen, the thread of every
callback, whether every promise reply was verified, then a verdict. Exit status 0 when the
recommended approach works. --json prints the report as JSON (schema
aiogstwebrtc-doctor/1, described in aiogstwebrtc.doctor.report).

No packet leaves the machine: webrtcbin peers use loopback only, aiortc runs only inside a
network namespace with no route out, and no STUN server is ever contacted.
"""

from __future__ import annotations

from .command import add_arguments, run

__all__ = ["add_arguments", "run"]
