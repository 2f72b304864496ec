"""A simulated internet of network namespaces: a public side, homes behind NATs.

::

    home-f1 192.168.1.2 ─ nat-f1 (masquerade, endpoint-independent) 10.19.1.2 ─┐
    home-f2 192.168.2.2 ─ nat-f2 (masquerade, endpoint-independent) 10.19.2.2 ─┤ pub: routes,
    home-s1 192.168.3.2 ─ nat-s1 (masquerade random: symmetric)     10.19.3.2 ─┤ coturn on
    home-s2 192.168.4.2 ─ nat-s2 (masquerade random: symmetric)     10.19.4.2 ─┘ 10.19.0.1

Every address is private and every namespace is made (and deleted) by the test run; a home
has only its NAT as a route out, and the public namespace routes the home LANs' addresses to
a "void" namespace that drops them, so host candidates never reach each other. Linux's
masquerade keeps an inside socket's source port for every destination when it can (endpoint-
independent mapping: server-reflexive candidates work); ``masquerade random`` draws a new
port for each destination (symmetric: the server-reflexive port is useless to the other
peer). Both filter inbound packets on the exact remote address and port (conntrack), so hole
punching needs both peers' checks.

The interfaces are not called ``veth*``: libnice ignores interfaces with that prefix.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PUBLIC_ADDRESS = (
    "10.19.0.1"  # coturn's address, on the public namespace's lo (no dummy module here)
)


@dataclass(frozen=True)
class Home:
    """A home network: its namespace, its peer's address, its NAT."""

    name: str
    namespace: str
    nat_namespace: str
    address: str  # the peer's private address
    wan_address: str  # the NAT's public-side address
    symmetric: bool


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def netns_exec(namespace: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``namespace`` (a ``/proc/PID/ns/net`` path) and wait for it."""
    return _run(*netns_argv(namespace, argv), check=check)


def netns_argv(namespace: str, argv: Sequence[str]) -> list[str]:
    """The command line running ``argv`` inside ``namespace`` (its network namespace only)."""
    return ["nsenter", f"--net={namespace}", *argv]


@dataclass
class Topology:
    """The namespaces of one test module, deleted by :meth:`destroy` (even half-built).

    Each namespace is held by a ``sleep`` process of ours made with ``unshare --net``: no
    name under ``/run/netns`` (nothing shared with other test runs, nothing to remount, so it
    works in a chroot and as an unprivileged user namespace's root), and it vanishes with
    its holder even if the test run is killed.
    """

    public: str = ""
    homes: dict[str, Home] = field(default_factory=dict)
    _holders: list[subprocess.Popen[str]] = field(default_factory=list)

    def _namespace(self, name: str) -> str:
        holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep infinity"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._holders.append(holder)
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError(f"could not make the network namespace {name!r}")
        namespace = f"/proc/{holder.pid}/ns/net"
        netns_exec(namespace, "ip", "link", "set", "lo", "up")
        netns_exec(namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        log.debug("namespace %s is %s", name, namespace)
        return namespace

    def _link(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
        tmp_a, tmp_b = f"h19a{len(self._holders)}", f"h19b{len(self._holders)}"
        _run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        _run("ip", "link", "set", tmp_a, "netns", _pid(a), "name", a_if)
        _run("ip", "link", "set", tmp_b, "netns", _pid(b), "name", b_if)
        for namespace, interface, address in ((a, a_if, a_addr), (b, b_if, b_addr)):
            netns_exec(namespace, "ip", "addr", "add", address, "dev", interface)
            netns_exec(namespace, "ip", "link", "set", interface, "up")

    def build(self, homes: Sequence[tuple[str, bool]]) -> Topology:
        """Make the public namespace and one NATed home per ``(name, symmetric)``."""
        self.public = self._namespace("pub")
        netns_exec(self.public, "ip", "addr", "add", f"{PUBLIC_ADDRESS}/32", "dev", "lo")
        netns_exec(self.public, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # The internet's default route: a namespace that silently drops what it gets (the
        # private addresses of host candidates). Without it coturn's sends to them fail
        # with "network unreachable" and coturn 4.6.1 closes the allocation ("general").
        void = self._namespace("void")
        self._link(self.public, "void0", "10.19.255.1/24", void, "sink0", "10.19.255.2/24")
        netns_exec(self.public, "ip", "route", "add", "default", "via", "10.19.255.2")
        for index, (name, symmetric) in enumerate(homes, start=1):
            nat = self._namespace(f"nat-{name}")
            home = self._namespace(f"home-{name}")
            wan = f"10.19.{index}.2"
            self._link(self.public, f"isp{index}", f"10.19.{index}.1/24", nat, "wan0", f"{wan}/24")
            lan = f"192.168.{index}"
            self._link(nat, "lan0", f"{lan}.1/24", home, "eth1", f"{lan}.2/24")
            netns_exec(nat, "ip", "route", "add", "default", "via", f"10.19.{index}.1")
            netns_exec(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            netns_exec(home, "ip", "route", "add", "default", "via", f"{lan}.1")
            masquerade = "masquerade random" if symmetric else "masquerade"
            netns_exec(
                nat, "nft",
                f"add table ip nat; "
                f"add chain ip nat out {{ type nat hook postrouting priority srcnat; }}; "
                f'add rule ip nat out oifname "wan0" {masquerade}; '
                f"add table ip filter; "
                "add chain ip filter through "
                "{ type filter hook forward priority 0; policy drop; }; "
                f'add rule ip filter through iifname "lan0" accept; '
                "add rule ip filter through ct state established,related accept; "
                # an unsolicited packet to the NAT itself is dropped before conntrack
                # confirms it: else its entry takes the port of a mapping about to be made
                "add chain ip filter inbound { type filter hook input priority 0; }; "
                'add rule ip filter inbound iifname "wan0" ct state new drop',
            )  # fmt: skip
            self.homes[name] = Home(name, home, nat, f"{lan}.2", wan, symmetric)
        return self

    def destroy(self) -> None:
        """End every holder (its namespace, interfaces and NAT state go with it)."""
        for holder in reversed(self._holders):
            if holder.poll() is None:
                holder.terminate()
            try:
                holder.wait(5)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait(5)
            if holder.stdout is not None:
                holder.stdout.close()
        self._holders.clear()


def _pid(namespace: str) -> str:
    """The holder's pid in ``/proc/PID/ns/net``: ``ip link set ... netns`` takes a pid."""
    return namespace.split("/")[2]
