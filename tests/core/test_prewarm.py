"""``prewarm()`` (and the first peer connection's start) set up what the first offer needs.

The first offer of a process used to load the DTLS, SRTP, libnice and SCTP plugins and set
up their classes (OpenSSL, libsrtp, usrsctp, and on GStreamer 1.22 an RSA default key)
inside ``create_offer()``; the warm-up thread does it in the background instead
(``gst.warm_up_elements``). What a user relies on is that after the warm-up, the first
connection finds everything ready: no plugin is left for it to load. Checked in a fresh
interpreter (plugins stay loaded for a process's life), on whatever release this runs on,
so a webrtcbin that starts using another element shows up here.
"""

from __future__ import annotations

import json

from tests.reliability.scripts import run_script


def test_after_prewarm_the_first_connection_loads_no_plugin() -> None:
    result = run_script("warm_up_plugins.py", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for plugin in ("dtls", "srtp", "nice", "sctp", "rtpmanager", "app", "coreelements"):
        assert plugin in report["warmed"], report
    assert report["loaded_by_first_connection"] == [], report
