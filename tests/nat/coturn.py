"""coturn started by the test in the public namespace, and what its log says.

It listens only on :data:`tests.nat.topology.PUBLIC_ADDRESS` inside the test's public
namespace: UDP and TCP on 3478, TLS on 5349 with a self-signed certificate made for the run,
long-term credentials, its own config, log and user database in a temporary directory.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .topology import PUBLIC_ADDRESS, netns_argv

USER = "alice"
PASSWORD = "p@ss w/rd%"  # characters that must be percent-encoded for webrtcbin
REALM = "aiogst.test"
PORT = 3478
TLS_PORT = 5349


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=turn.aiogst.test",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


@dataclass
class Coturn:
    """One turnserver process; :meth:`stop` ends it (by its own pid)."""

    namespace: str | None  # None: the test's own namespace (e.g. tests/whep)
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    address: str = PUBLIC_ADDRESS

    @property
    def log_path(self) -> Path:
        return self.directory / "turn.log"

    def start(self) -> Coturn:
        cert, key = _self_signed(self.directory)
        config = self.directory / "turnserver.conf"
        config.write_text(
            "\n".join(
                [
                    f"listening-ip={self.address}",
                    f"relay-ip={self.address}",
                    f"listening-port={PORT}",
                    f"tls-listening-port={TLS_PORT}",
                    "lt-cred-mech",
                    f"user={USER}:{PASSWORD}",
                    f"realm={REALM}",
                    f"cert={cert}",
                    f"pkey={key}",
                    f"userdb={self.directory / 'turndb'}",
                    f"pidfile={self.directory / 'turn.pid'}",
                    f"log-file={self.log_path}",
                    "simple-log",
                    "verbose",
                    "no-cli",
                    "no-dtls",
                    "no-multicast-peers",
                    "fingerprint",
                    "min-port=40000",
                    "max-port=40999",
                    "",
                ]
            )
        )
        argv = ["turnserver", "-c", str(config)]
        self.process = subprocess.Popen(
            netns_argv(self.namespace, argv) if self.namespace else argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.log()
            if f"{self.address}:{TLS_PORT}" in text and f"{self.address}:{PORT}" in text:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"coturn did not start:\n{self.log()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """Where the log ends now: pass it to :meth:`since` to read one test's lines."""
        return len(self.log())

    def since(self, mark: int) -> str:
        return self.log()[mark:]

    def wait_for(self, pattern: str, count: int, mark: int, timeout: float = 5) -> int:
        """Until ``pattern`` occurs ``count`` times in the log after ``mark`` (bounded); how
        many times it did. A pattern with a group counts the distinct values of the group
        (``RELEASED``: allocations released, however often each one's release is logged).
        coturn is another process: its log file is all we can watch."""
        deadline = time.monotonic() + timeout
        while True:
            matches = re.findall(pattern, self.since(mark))
            found = len(set(matches)) if re.compile(pattern).groups else len(matches)
            if found >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


#: coturn's line for a successful allocation; the group is its session (one allocation).
ALLOCATED = r"session (\d+): .*ALLOCATE processed, success"

#: coturn's line for an allocation its client releases (a refresh with lifetime 0); the
#: group is its session, so a release logged twice is counted once.
RELEASED = r"session (\d+): refreshed, realm=<[^>]*>, username=<[^>]*>, lifetime=0"


@dataclass(frozen=True)
class TurnActivity:
    """What coturn's log says happened in a stretch of the log."""

    allocations: int  # allocations made (sessions with a successful ALLOCATE)
    unauthorized: int  # requests answered with 401
    stream_connections: int  # TCP or TLS connections from clients
    closed_on: set[str]  # "address:port" of the listener of each session closed
    released: int  # of those, released by their client (refreshed with lifetime 0)
    unreleased: set[str]  # sessions allocated and not released

    def summary(self) -> str:
        return (
            f"{self.allocations} allocations, {self.unauthorized} 401s, "
            f"{self.stream_connections} TCP/TLS connections, {self.released} released, "
            f"sessions closed on {self.closed_on}"
        )


def activity(text: str) -> TurnActivity:
    """Count what coturn did in ``text`` (a stretch of its log)."""
    allocated = set(re.findall(ALLOCATED, text))
    released = set(re.findall(RELEASED, text))
    return TurnActivity(
        allocations=len(allocated),
        unauthorized=len(re.findall(r"processed, error 401", text)),
        stream_connections=len(re.findall(r"tcp or tls connected to", text)),
        released=len(allocated & released),
        unreleased=allocated - released,
        closed_on=set(re.findall(r"closed \(2nd stage\).*, local ([0-9.]+:\d+),", text)),
    )
