"""Who may open a websocket on the signalling server: the token and the page's origin.

:class:`Gate` holds the shared token's digest (compared in constant time) and the allowed
browser origins; what each rule protects against is in ``docs/security.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["ANY_ORIGIN", "Gate"]

log = logging.getLogger("aiogstwebrtc.signalling.server")

ANY_ORIGIN = "*"
"""In ``allowed_origins``: admit pages from any origin (only for servers whose producers
are meant to be public: any web page a visitor opens could then watch them)."""

_WARNED_ORIGINS_LIMIT = 64


class Gate:
    """The token and origin checks of one server (see :class:`.server.SignallingServer`)."""

    def __init__(
        self,
        token: str | None,
        allowed_origins: Iterable[str] | None,
        *,
        allow_missing_origin: bool,
        allow_same_origin: bool,
    ) -> None:
        if token is not None and not token:
            raise ValueError("token must not be empty (use None to disable authentication)")
        self._token_digest = None if token is None else _digest(token)
        origins = None if allowed_origins is None else frozenset(allowed_origins)
        self._any_origin = origins is None or ANY_ORIGIN in origins
        self._allowed_origins = frozenset(o.lower().rstrip("/") for o in origins or ())
        self._allow_missing_origin = allow_missing_origin
        self._allow_same_origin = allow_same_origin
        self._own_names = _own_host_names()
        self._warned_origins: set[str] = set()

    @property
    def needs_token(self) -> bool:
        """True when peers must present a token."""
        return self._token_digest is not None

    def token_ok(self, request: web.Request) -> bool:
        """True when ``request`` presents the token (or none is needed)."""
        if self._token_digest is None:
            return True
        supplied: list[str] = request.query.getall("token", [])
        auth = request.headers.get("Authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            supplied.append(credentials.strip())
        ok = False
        for candidate in supplied[:4]:
            ok |= hmac.compare_digest(_digest(candidate), self._token_digest)
        return ok

    def origin_allowed(self, request: web.Request) -> bool:
        """True when the page's ``Origin`` (or its absence) is allowed."""
        origin = request.headers.get("Origin")
        if origin is None:
            return self._allow_missing_origin
        if self._any_origin or origin.lower().rstrip("/") in self._allowed_origins:
            return True
        return self._allow_same_origin and self._same_origin(origin, request.host)

    def _same_origin(self, origin: str, host: str) -> bool:
        """True when ``origin`` is this server's own page, reached by a name no DNS-rebinding
        page can claim (an IP address, ``localhost``, this machine's name)."""
        try:
            parts = urlsplit(origin)
            name = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not name:
            return False
        if parts.netloc.lower() != host.lower():
            return False
        return _is_ip_address(name) or name in self._own_names or name.endswith(".localhost")

    def refuse_origin(self, request: web.Request) -> None:
        """Log a refused origin: a warning the first time for each (up to 64), then info."""
        origin = request.headers.get("Origin", "")[:200]
        if origin in self._warned_origins or len(self._warned_origins) >= _WARNED_ORIGINS_LIMIT:
            log.info("refused a websocket from %s: origin %r not allowed", request.remote, origin)
            return
        self._warned_origins.add(origin)
        log.warning(
            "refused a websocket from %s: origin %r is not allowed "
            "(if that page is yours, allow it with --allowed-origin / allowed_origins)",
            request.remote,
            origin,
        )


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _own_host_names() -> frozenset[str]:
    """Names of this machine a page may be served under: ``localhost`` and its host names."""
    names = {"localhost"}
    try:
        hostname = socket.gethostname().lower()
    except OSError:  # pragma: no cover - no host name at all
        return frozenset(names)
    if hostname:
        short = hostname.split(".")[0]
        names.update({hostname, short, f"{short}.local"})
    return frozenset(names)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
