"""A Firefox answerer in a home namespace: ``python -m tests.nat.firefox_main [PREFS_JSON]``.

Debian's Firefox ESR, headless, driven over WebDriver BiDi (:mod:`tests.browser.firefox`),
speaking the JSON lines of :mod:`tests.nat.peer_main` (``answer``, ``connect``, ``close``).
As installed, Firefox hides its host addresses behind mDNS names; ``PREFS_JSON`` (an object
of prefs) can change that, e.g. ``{"media.peerconnection.ice.obfuscate_host_addresses": false}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from tests.browser.firefox import firefox_page
from tests.nat.lines import serve_lines
from tests.nat.page_peer import PagePeer


async def main(prefs: dict[str, object]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="firefox %(message)s")
    async with firefox_page(prefs) as page:
        await serve_lines(PagePeer(page.call).handle)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
