"""``signalling-server --whep NAME=SOURCE`` and ``whep-play``: real processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.roles.proctools import WAIT, command, read_until, stop


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for ``process`` to exit by itself; its code and the rest of its output."""
    out, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_whep_play_records_a_stream_the_server_serves(tmp_path: Path) -> None:
    out = tmp_path / "cam.webm"
    async with command(
        "signalling-server",
        "--port",
        "0",
        "--whep",
        "cam=videotestsrc is-live=true pattern=ball",
        "--whep-token",
        "t0k",
    ) as server:
        url = (await read_until(server, r"WHEP stream:\s+(http://\S+)")).group(1)
        assert url.endswith("/whep/cam")
        async with command(
            "whep-play", url, "--token", "t0k", "--record", str(out), "--duration", "2"
        ) as player:
            await read_until(player, r"playing .*video VP8")
            code, output = await finished(player)
            assert code == 0, output
            assert "recorded" in output and "Traceback" not in output
        assert out.stat().st_size > 10_000  # two seconds of VP8
        async with command("whep-play", url, "--token", "wrong", "--sink", "fakesink") as refused:
            code, output = await finished(refused)
            assert code == 1 and "403" in output, output
        async with command("whep-play", url, "--token", "t0k", "--sink", "fakesink") as viewer:
            await read_until(viewer, r"playing")
            code, output = await stop(viewer, signal.SIGINT)  # the DELETE goes, then it exits
            assert code == 0, output
        code, output = await stop(server, signal.SIGINT)
        assert code == 0, output
        assert "Traceback" not in output


async def test_whip_publish_to_the_server_and_whep_play_it(tmp_path: Path) -> None:
    out = tmp_path / "show.webm"
    async with command("signalling-server", "--port", "0", "--whip-token", "pub") as server:
        base = (await read_until(server, r"WHIP ingest:\s+(http://\S+)/whip/NAME")).group(1)
        async with command(
            "whip-publish", f"{base}/whip/show", "--token", "pub", "--audio", "none"
        ) as publisher:
            await read_until(publisher, r"publishing to")
            code = 1
            for _ in range(25):  # the stream is live once the publisher's media flows
                async with command(
                    "whep-play", f"{base}/whep/show", "--record", str(out), "--duration", "2"
                ) as player:
                    code, output = await finished(player)
                if code == 0:
                    break
                assert "404" in output, output
                await asyncio.sleep(0.2)
            assert code == 0, output
            assert out.stat().st_size > 10_000
            code, output = await stop(publisher, signal.SIGTERM)
            assert code == 0, output
        code, output = await stop(server, signal.SIGINT)
        assert code == 0 and "Traceback" not in output, output


async def test_the_server_gives_its_ice_servers_to_clients_holding_the_token() -> None:
    import aiohttp

    from aiogstwebrtc.whep import ice_servers_from_links

    turn = "turn:turn.example.net:3478?transport=tcp"
    async with command(
        "signalling-server", "--port", "0", "--whep", "cam=videotestsrc is-live=true",
        "--whep-token", "t0k", "--whep-ice-server", "stun:stun.example.net",
        "--whep-ice-server", turn, "--whep-ice-username", "u", "--whep-ice-credential", "p w",
    ) as server:  # fmt: skip
        url = (await read_until(server, r"WHEP stream:\s+(http://\S+)")).group(1)
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": "Bearer t0k"}
            async with http.options(url, headers=headers) as response:
                servers = ice_servers_from_links(response.headers.getall("Link", []))
        assert [(s.urls, s.username, s.credential) for s in servers] == [
            ("stun:stun.example.net", None, None),
            (turn, "u", "p w"),
        ]
        code, output = await stop(server, signal.SIGINT)
        assert code == 0, output
    # A TURN URL without credentials is refused at once, naming it.
    async with command(
        "signalling-server", "--port", "0", "--whep-ice-server", "turn:turn.example.net"
    ) as refused:
        code, output = await finished(refused)
        assert code == 2 and "turn:turn.example.net" in output, output
        assert "Traceback" not in output
