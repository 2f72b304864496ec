"""STUN/TURN servers in ``Link`` headers (RFC 9725, section 4.6), both ways.

A WHIP or WHEP endpoint tells its clients which ICE servers to use with one header per URL:

    Link: <stun:stun.example.net>; rel="ice-server"
    Link: <turn:turn.example.net?transport=udp>; rel="ice-server"; username="user";
          credential="secret"; credential-type="password"

Our endpoints send them with the ``201`` of a POST and with the answer to ``OPTIONS`` on
the endpoint's URL (clients need them *before* they make their offer, so our clients ask
with ``OPTIONS`` first: :func:`fetch_ice_servers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from multidict import CIMultiDict

from ..config import Configuration, IceServer

__all__ = ["ice_servers_from_links", "link_headers"]

_LINK = re.compile(
    r'\s*<(?P<url>[^>]*)>(?P<params>(?:\s*;\s*[A-Za-z0-9_*-]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)\s*(?:,|$)'
)
_PARAM = re.compile(
    r'\s*;\s*(?P<name>[A-Za-z0-9_*-]+)\s*(?:=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^;,\s]*)))?'
)


def _quote(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(
            f"an ICE server's username or credential has a control character: {value!r}"
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_headers(ice_servers: Sequence[IceServer | Any]) -> list[str]:
    """One ``Link`` header value per URL of ``ice_servers`` (checked as a
    :class:`~aiogstwebrtc.Configuration` checks them: a bad entry raises ``ValueError``)."""
    servers = Configuration(ice_servers=list(ice_servers)).servers()
    values = []
    for server in servers:
        for url in server.url_list():
            if any(c in url for c in "<>\r\n"):
                raise ValueError(f"not a URL for a Link header: {url!r}")
            value = f'<{url}>; rel="ice-server"'
            if server.username is not None and server.credential is not None:
                value += (
                    f"; username={_quote(server.username)}; "
                    f'credential={_quote(server.credential)}; credential-type="password"'
                )
            values.append(value)
    return values


def add_links(headers: CIMultiDict[str], values: Iterable[str]) -> None:
    """Add each ``Link`` value as a header of its own."""
    for value in values:
        headers.add("Link", value)


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def ice_servers_from_links(values: Iterable[str]) -> list[IceServer]:
    """The ICE servers in ``Link`` header values (``rel="ice-server"`` only; others and
    malformed ones are skipped). A value may hold several comma-separated links."""
    servers: list[IceServer] = []
    for value in values:
        position = 0
        while position < len(value):
            match = _LINK.match(value, position)
            if match is None or match.end() == position:
                break
            position = match.end()
            params: dict[str, str] = {}
            for param in _PARAM.finditer(match.group("params")):
                quoted, token = param.group("quoted"), param.group("token")
                text = _unquote(quoted) if quoted is not None else (token or "")
                params[param.group("name").lower()] = text
            if "ice-server" not in params.get("rel", "").split():
                continue
            url = match.group("url").strip()
            if not re.match(r"(?i)^(stun|stuns|turn|turns):", url):
                continue
            servers.append(IceServer(url, params.get("username"), params.get("credential")))
    return servers
