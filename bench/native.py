"""The native peers beside ours and aiortc: aiolibdatachannel (libdatachannel) and wrtc (libwebrtc).

Each runs in a venv of its own under ``.bench-venvs/`` (gitignored), made with an interpreter
that fits the package (aiolibdatachannel needs Python >= 3.12), and is driven through
``bench/peer_driver.py`` in a child process speaking JSON lines. ``python -m bench
--install-peers`` (``make bench``) creates the venvs from PyPI; without it a missing venv
gives the row "not run: ..." with the reason, never silently nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT

__all__ = ["PEERS", "PeerProcess", "PeerSpec", "prepare", "status"]

VENVS = Path(os.environ.get("AIOGST_BENCH_VENVS", ROOT / ".bench-venvs"))
DRIVER = ROOT / "bench" / "peer_driver.py"
INTERPRETERS = ("python3.14", "python3.13", "python3.12", "python3.11", "python3")


@dataclass(frozen=True)
class PeerSpec:
    """A native peer: its PyPI requirement and the oldest Python it installs on."""

    name: str
    requirement: str
    min_python: tuple[int, int]
    engine: str


PEERS: dict[str, PeerSpec] = {
    "aiolibdatachannel": PeerSpec(
        "aiolibdatachannel", "aiolibdatachannel==2026.10.15", (3, 12), "libdatachannel"
    ),
    "wrtc": PeerSpec("wrtc", "wrtc==0.1.0", (3, 9), "libwebrtc M152"),
}

# what prepare() found, per peer: ("ok", python path) or ("not run", reason)
_STATUS: dict[str, tuple[str, str]] = {}


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _pyenv_interpreters() -> list[str]:
    """pyenv's installed interpreters, newest first: its shims on PATH only run the versions
    made global, so a ``python3.12`` installed beside a 3.11 global is found here."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for python in root.glob("*/bin/python3"):
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", python.parent.parent.name)
        if match is not None and os.access(python, os.X_OK):
            found.append((tuple(int(part) for part in match.groups()), str(python)))
    return [python for _, python in sorted(found, reverse=True)]


def find_interpreter(minimum: tuple[int, int]) -> str | None:
    """The newest interpreter on PATH (else pyenv's, else ours) at least ``minimum``, or None."""
    candidates = [shutil.which(name) for name in INTERPRETERS]
    candidates.extend(_pyenv_interpreters())
    candidates.append(sys.executable)
    for candidate in candidates:
        if candidate is None:
            continue
        version = _version_of(candidate)
        if version is not None and version >= minimum:
            return candidate
    return None


def _venv_python(spec: PeerSpec) -> Path:
    return VENVS / spec.name / "bin" / "python"


def _installed(python: Path, spec: PeerSpec) -> bool:
    if not python.exists():
        return False
    module = "webrtc" if spec.name == "wrtc" else spec.name
    probe = subprocess.run(
        [str(python), "-P", "-c", f"import {module}"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


def _install(spec: PeerSpec, interpreter: str) -> str | None:
    """Create the venv and install the package; an error message or None."""
    target = VENVS / spec.name
    shutil.rmtree(target, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    (VENVS / ".gitignore").write_text("*\n")
    steps = [
        [interpreter, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "-q", spec.requirement],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"{' '.join(step[:3])} failed: " + " | ".join(tail)
    return None


def prepare(install: bool) -> dict[str, tuple[str, str]]:
    """Find (and with ``install``, create) each peer's venv; ``{name: (state, detail)}``."""
    for spec in PEERS.values():
        python = _venv_python(spec)
        if _installed(python, spec):
            _STATUS[spec.name] = ("ok", str(python))
            continue
        minimum = max(spec.min_python, (3, 11))  # the driver runs with -P (Python >= 3.11)
        need = ".".join(map(str, minimum))
        interpreter = find_interpreter(minimum)
        if interpreter is None:
            _STATUS[spec.name] = ("not run", f"needs Python >= {need}, none on this machine")
        elif not install:
            _STATUS[spec.name] = (
                "not run",
                f"no venv at {python.parent.parent} (python -m bench --install-peers makes it)",
            )
        else:
            error = _install(spec, interpreter)
            if error is None and _installed(python, spec):
                _STATUS[spec.name] = ("ok", str(python))
            else:
                _STATUS[spec.name] = ("not run", f"install failed: {error}")
    return dict(_STATUS)


def status() -> dict[str, tuple[str, str]]:
    """What :func:`prepare` found (prepare(install=False) first if it was not called)."""
    if not _STATUS:
        prepare(install=False)
    return dict(_STATUS)


def available() -> list[str]:
    """The peers whose venv is ready."""
    return [name for name, (state, _detail) in status().items() if state == "ok"]


def not_run() -> dict[str, str]:
    """``{peer: "not run: reason"}`` for the peers that cannot run here."""
    return {
        name: f"not run: {detail}" for name, (state, detail) in status().items() if state != "ok"
    }


class PeerProcess:
    """One driver process for ``peer``: send a request, get its JSON answer."""

    def __init__(self, peer: str) -> None:
        state, python = status()[peer]
        if state != "ok":
            raise RuntimeError(f"{peer}: {python}")
        self.peer = peer
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [python, "-P", str(DRIVER), peer],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def request(self, timeout: float = 120.0, **payload: Any) -> dict[str, Any]:
        """Send one request; its answer (``{"ok": False, "error"}`` on any failure)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            return {"ok": False, "error": f"{self.peer} driver gone: {exc}{self._stderr()}"}
        line = _readline(self.process, timeout)
        if line is None:
            self.close(kill=True)
            command = payload.get("cmd")
            return {"ok": False, "error": f"{self.peer} {command} timed out ({timeout} s)"}
        while line and not line.startswith("{"):  # a library's own print
            line = self.process.stdout.readline()
        if not line:
            return {"ok": False, "error": f"{self.peer} driver exited{self._stderr()}"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        tail = self.process.stderr.read().strip().splitlines()[-3:]
        return ": " + " | ".join(tail) if tail else ""

    def close(self, kill: bool = False) -> None:
        """Ask the driver to quit (or kill it) and reap it."""
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                try:
                    assert self.process.stdin is not None
                    self.process.stdin.write('{"cmd": "quit"}\n')
                    self.process.stdin.flush()
                except OSError:
                    pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _readline(process: subprocess.Popen[str], timeout: float) -> str | None:
    """One line of the driver's stdout, or None after ``timeout`` seconds."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return None
    return process.stdout.readline()


def attach(
    result: Any, samples: dict[str, list[float]], errors: dict[str, str], *, scale: float = 1.0
) -> Any:
    """Fill ``result``'s peer fields: per peer "ok" with its median and every sample,
    "not run: <reason>" or "failed: <error>" (a failure leaves the median out)."""
    from .common import median

    skipped = not_run()
    for peer in PEERS:
        if peer in skipped:
            result.peer_status[peer] = skipped[peer]
        elif peer in errors:
            result.peer_status[peer] = f"failed: {errors[peer]}"
        elif samples.get(peer):
            values = [v * scale for v in samples[peer]]
            result.peer_samples[peer] = values
            result.peers[peer] = median(values)
            result.peer_status[peer] = "ok"
        else:
            result.peer_status[peer] = "failed: no samples"
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.native [--install]``: each peer's state (and create the venvs)."""
    args = sys.argv[1:] if argv is None else argv
    for peer, (state, detail) in prepare(install="--install" in args).items():
        print(f"{peer}: {state} ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
