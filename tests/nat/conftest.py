"""One NAT topology and one coturn for the whole ``tests/nat`` package, removed at its end."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .coturn import Coturn
from .topology import Topology


@pytest.fixture(scope="package")
def topology() -> Iterator[Topology]:
    built = Topology()
    try:
        yield built.build([("f1", False), ("f2", False), ("s1", True), ("s2", True)])
    finally:
        built.destroy()


@pytest.fixture(scope="package")
def coturn(topology: Topology) -> Iterator[Coturn]:
    with tempfile.TemporaryDirectory(prefix="aiogst-coturn-") as directory:
        server = Coturn(topology.public, Path(directory))
        try:
            yield server.start()
        finally:
            server.stop()
