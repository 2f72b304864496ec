"""Run a command inside a fresh network namespace with no route out of this machine.

Used by ``aiogstwebrtc doctor`` for peers that cannot work on loopback alone (aiortc's ICE
does not gather loopback addresses). The namespace has ``lo`` and two linked interfaces,
``wrtc0`` (10.213.0.1) and ``wrtc1`` (10.213.0.2), like ``scripts/in-netns.sh``; they are not
called ``veth*`` because libnice ignores interfaces with that prefix. Nothing sent there can
leave the machine.

::

    argv = namespace_command([sys.executable, "-c", "..."])   # None if not possible here
    python -m aiogstwebrtc.netns -- CMD [ARGS...]              # inside: set up, then exec CMD
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "MARKER",
    "has_default_route",
    "in_isolated_namespace",
    "namespace_command",
    "namespace_unavailable_reason",
    "setup_namespace",
]

log = logging.getLogger(__name__)

#: Environment variable set to ``1`` inside a namespace made by this module or the test suite.
MARKER = "AIOGST_NETNS"
INTERFACES = (("wrtc0", "10.213.0.1/24"), ("wrtc1", "10.213.0.2/24"))


_RTF_UP = 0x0001
_RTF_REJECT = 0x0200


def _usable(flags: str) -> bool:
    value = int(flags, 16)
    return bool(value & _RTF_UP) and not value & _RTF_REJECT


def has_default_route() -> bool:
    """True when this network namespace has a usable IPv4 or IPv6 default route."""
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
                if _usable(fields[3]):
                    return True
    except (OSError, ValueError):
        return True  # cannot tell: assume the worst
    try:
        for line in Path("/proc/net/ipv6_route").read_text().splitlines():
            fields = line.split()
            if len(fields) > 8 and fields[0] == "0" * 32 and fields[1] == "00":
                if _usable(fields[8]):
                    return True
    except OSError:
        pass  # no IPv6 in this kernel
    except ValueError:
        return True
    return False


def in_isolated_namespace() -> bool:
    """True inside a namespace made for us (marker set) that has no route out."""
    return os.environ.get(MARKER) == "1" and not has_default_route()


def _unshare_prefix() -> list[str]:
    if os.geteuid() == 0:
        return ["unshare", "--net", "--"]
    return ["unshare", "--map-root-user", "--net", "--"]


@functools.lru_cache(maxsize=1)
def namespace_unavailable_reason() -> str | None:
    """Why a fresh network namespace cannot be made here, or None when it can."""
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"the {tool!r} command is missing (Debian package {package})"
    try:
        probe = subprocess.run(
            [*_unshare_prefix(), "true"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if probe.returncode != 0:
        detail = probe.stderr.strip() or f"exit status {probe.returncode}"
        return f"creating a network namespace is not permitted here ({detail})"
    return None


def namespace_command(argv: Sequence[str]) -> list[str] | None:
    """``argv`` wrapped to run in a fresh, set-up namespace; None when that is impossible."""
    if namespace_unavailable_reason() is not None:
        return None
    return [*_unshare_prefix(), sys.executable, "-m", "aiogstwebrtc.netns", "--", *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _interfaces() -> list[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def setup_namespace() -> None:
    """Inside a fresh namespace: ``lo`` up, IPv6 off, the ``wrtc0``/``wrtc1`` pair up.

    Refuses to touch a namespace that is not fresh (any interface but ``lo``, or a route out).
    """
    interfaces = _interfaces()
    if interfaces != ["lo"] or has_default_route():
        raise RuntimeError(
            "refusing to set up a network namespace that is not fresh "
            f"(interfaces: {', '.join(interfaces)})"
        )
    _ip("link", "set", "lo", "up")
    try:
        Path("/proc/sys/net/ipv6/conf/all/disable_ipv6").write_text("1")
    except OSError:
        log.debug("could not disable IPv6 in the namespace")
    (first, first_address), (second, second_address) = INTERFACES
    _ip("link", "add", first, "type", "veth", "peer", "name", second)
    _ip("addr", "add", first_address, "dev", first)
    _ip("addr", "add", second_address, "dev", second)
    _ip("link", "set", first, "up")
    _ip("link", "set", second, "up")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiogstwebrtc.netns -- CMD ...``: set up this namespace, then exec CMD."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.stderr.write("usage: python -m aiogstwebrtc.netns -- CMD [ARGS...]\n")
        return 2
    try:
        setup_namespace()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        sys.stderr.write(f"aiogstwebrtc.netns: {exc}\n")
        return 3
    os.environ[MARKER] = "1"
    os.execvp(args[0], args)


if __name__ == "__main__":
    sys.exit(main())
