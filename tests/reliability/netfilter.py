"""Impairing the test namespace's network with nftables (this kernel has no netem).

All peers of a test talk over local addresses in the namespace the suite made, so rules on
the output hook see every packet in both directions. Only UDP is touched.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

TABLE = "aiogst_impair"


def _nft(*commands: str) -> None:
    subprocess.run(["nft", *commands], check=True, capture_output=True, text=True)


@contextmanager
def impaired() -> Iterator[Impairment]:
    """A table whose rules are removed again on exit."""
    _nft("add", "table", "inet", TABLE)
    _nft("add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0; }")
    try:
        yield Impairment()
    finally:
        _nft("delete", "table", "inet", TABLE)


class Impairment:
    """Change what the namespace's network does to UDP packets."""

    def loss(self, percent: int) -> None:
        """Drop ``percent`` % of UDP packets at random."""
        self.clear()
        _nft(
            "add", "rule", "inet", TABLE, "out", "meta", "l4proto", "udp",
            "numgen", "random", "mod", "100", "<", str(percent), "drop",
        )  # fmt: skip

    def outage(self) -> None:
        """Drop every UDP packet."""
        self.clear()
        _nft("add", "rule", "inet", TABLE, "out", "meta", "l4proto", "udp", "drop")

    def block_udp_ports(self, ports: list[int]) -> None:
        """Drop every UDP packet sent to one of ``ports`` (a peer that stops reading)."""
        self.clear()
        listed = ", ".join(str(port) for port in ports)
        _nft("add", "rule", "inet", TABLE, "out", "udp", "dport", f"{{ {listed} }}", "drop")

    def clear(self) -> None:
        """Let everything through again."""
        _nft("flush", "chain", "inet", TABLE, "out")
