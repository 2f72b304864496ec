"""The heap of one pair, by the library that allocated it: ``python -m bench.heap_by_library``.

Runs a child (``bench.child hold_pairs``: N connected idle pairs of ours opened one after
the other, held, then closed) under ``heaptrack`` twice, with a small and a large N, and
reads each run's peak (when all N pairs are open) with ``heaptrack_print``. The child lets
the library's warm-up thread (plugins, classes, the DTLS default key) finish before any
pair: heaptrack's lock and the dynamic loader's can deadlock when that thread allocates
while another thread loads a plugin. Every allocation live at the peak is
charged to the first library on its call stack that is not a general one (libc, GLib,
GObject, the GStreamer core, the dynamic loader, libstdc++, libffi): ``libnice`` for the ICE
agent's buffers even though ``g_malloc`` made them. The difference between the two runs,
divided by the difference in N, is what one more pair costs per library, free of the
process's fixed cost (plugins, registry, interpreter).

These are bytes allocated, not resident: a buffer malloc'd and never written counts in full
here (``python -m bench.memory`` gives the resident side). Needs Debian's ``heaptrack``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import ROOT, ensure_namespace

__all__ = ["charge", "child_hold_pairs", "main", "parse_peaks"]

#: Libraries that allocate on behalf of whoever called them: look further up the stack.
GENERAL = (
    "libc.so",
    "libglib-2.0",
    "libgobject-2.0",
    "libgio-2.0",
    "libgstreamer-1.0",
    "libgstbase-1.0",
    "ld-linux",
    "libstdc++",
    "libffi",
    "libheaptrack",
    "??",
)

#: What each library is, in a pair of ours.
OWNERS = {
    "libnice.so": "libnice: the ICE agent, its streams and components",
    "libgstsctp.so": "sctpenc/sctpdec and the usrsctp stack inside them",
    "libgstwebrtc.so": "webrtcbin itself: transports, transceivers, data channels, SDP state",
    "libgstdtls.so": "dtlssrtpenc/dtlssrtpdec (GStreamer's DTLS connection)",
    "libssl.so": "OpenSSL's SSL objects under the DTLS elements",
    "libcrypto.so": "OpenSSL's crypto under the DTLS elements",
    "libgstrtpmanager.so": "rtpbin and its session elements (built even for data only)",
    "libgstcoreelements.so": "queue, funnel, capsfilter, clocksync",
    "libgstnice.so": "nicesrc/nicesink",
    "libgstwebrtcnice-1.0.so": "webrtcbin's ICE glue to libnice",
    "libgstsrtp.so": "srtpenc/srtpdec",
    "libgstapp-1.0.so": "the data channels' appsrc/appsink",
    "libgstsdp-1.0.so": "SDP messages",
    "libgstwebrtc-1.0.so": "the WebRTC library objects (ICE/DTLS transports, data channels)",
    "libpython3": "Python objects (the library's and the bench's)",
    "python3": "Python objects (an interpreter linked statically)",
    "libgstrtp.so": "rtpfunnel (gst-plugins-good's rtp plugin)",
    "(general": "only libc/GLib on the stack (new threads' TLS and the like)",
    "_gi.": "PyGObject wrappers and closures",
    "libgirepository": "GObject introspection (PyGObject's calls)",
}

_PEAK = re.compile(r"^(\S+) peak memory consumed over \d+ calls from")
_SUB = re.compile(r"^(\S+) consumed over \d+ calls from:")
_LIBRARY = re.compile(r"^\s+in (\S+)")
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}


def _bytes(text: str) -> float:
    match = re.match(r"([\d.]+)([KMG]?)", text)
    if match is None:
        raise ValueError(f"not a heaptrack size: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_peaks(text: str) -> list[tuple[float, list[str]]]:
    """``heaptrack_print --print-peaks`` output as (bytes, libraries innermost first).

    A peak entry with sub-entries (its distinct call stacks) is replaced by them, so every
    byte is listed once with its whole stack.
    """
    entries: list[tuple[float, list[str]]] = []
    top: tuple[float, list[str]] | None = None
    current: list[str] | None = None
    had_subs = False
    for line in text.splitlines():
        if match := _PEAK.match(line):
            if top is not None and not had_subs:
                entries.append(top)
            top, had_subs = (_bytes(match.group(1)), []), False
            current = top[1]
        elif match := _SUB.match(line):
            had_subs = True
            sub: tuple[float, list[str]] = (_bytes(match.group(1)), [])
            entries.append(sub)
            current = sub[1]
        elif (match := _LIBRARY.match(line)) and current is not None:
            current.append(match.group(1).rsplit("/", 1)[-1])
    if top is not None and not had_subs:
        entries.append(top)
    return entries


def charge(entries: list[tuple[float, list[str]]]) -> Counter[str]:
    """Bytes per library: the first non-general library on each stack."""
    charged: Counter[str] = Counter()
    for size, libraries in entries:
        owner = next((lib for lib in libraries if not lib.startswith(GENERAL)), None)
        if owner is None:
            general = [lib for lib in libraries if lib != "??"]
            owner = f"(general: {general[-1] if general else 'unknown'})"
        charged[owner] += size
    return charged


def _recorded(output: Path) -> Path:
    """The file heaptrack wrote for ``-o output`` (its suffix differs between releases)."""
    found = sorted(output.parent.glob(output.name + "*"))
    if not found:
        raise RuntimeError(f"heaptrack wrote nothing at {output}")
    return found[0]


def _profile(pairs: int, directory: Path) -> Counter[str]:
    output = directory / f"pairs{pairs}"
    command = ["heaptrack", "-o", str(output), sys.executable, "-m", "bench.child"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(
        [*command, "hold_pairs", "ours", json.dumps({"pairs": pairs})],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    printed = subprocess.run(
        [
            "heaptrack_print",
            "-f",
            str(_recorded(output)),
            "--print-peaks=1",
            "--print-allocators=0",
            "--print-temporary=0",
            "--print-leaks=0",
            "--peak-limit=100000",
            "--sub-peak-limit=100000",
        ],
        capture_output=True,
        text=True,
    )
    if printed.returncode != 0:
        raise RuntimeError(f"heaptrack_print failed: {printed.stderr.strip()[-500:]}")
    return charge(parse_peaks(printed.stdout))


async def child_hold_pairs(options: dict[str, Any]) -> dict[str, Any]:
    """In the process heaptrack watches (``bench.child hold_pairs``): the library's warm-up
    done alone first, then ``options["pairs"]`` pairs opened, held, closed."""
    import aiogstwebrtc
    from aiogstwebrtc.gst import join_warm_up

    from .pairs import open_ours

    aiogstwebrtc.prewarm()
    join_warm_up(60)
    opened = [await open_ours() for _ in range(int(options["pairs"]))]
    await asyncio.sleep(0.5)
    for pair in opened:
        await pair.close()
    return {"pairs": len(opened)}


def _owner(library: str) -> str:
    return next((text for key, text in OWNERS.items() if library.startswith(key)), "")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.heap_by_library", description=__doc__)
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--large", type=int, default=35)
    args = parser.parse_args(args_list)
    if shutil.which("heaptrack") is None or shutil.which("heaptrack_print") is None:
        print("needs heaptrack (Debian package heaptrack)", file=sys.stderr)
        return 2
    ensure_namespace(args_list, module="bench.heap_by_library")
    with tempfile.TemporaryDirectory(prefix="heap-by-library-") as directory:
        small = _profile(args.small, Path(directory))
        large = _profile(args.large, Path(directory))
    n = args.large - args.small
    per_pair = {lib: (large[lib] - small[lib]) / n for lib in set(small) | set(large)}
    total = sum(per_pair.values())
    print(f"heap allocated per pair at the peak, {args.small} vs {args.large} pairs:")
    print("| library | KiB per pair | share | what it is in a pair |")
    print("| --- | ---: | ---: | --- |")
    for library, size in sorted(per_pair.items(), key=lambda item: -item[1]):
        if size >= 1024:
            print(f"| {library} | {size / 1024:.0f} | {size / total:.0%} | {_owner(library)} |")
    print(f"| all | {total / 1024:.0f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
