"""The single-server isolation test (tests/signalling/test_sig_security.py), re-run with
the victims and the intruder spread over three servers of a cluster."""

from __future__ import annotations

import json

import pytest

from tests.signalling.sigtools import raw_peers, received_so_far, start_raw_session
from tests.signalling.test_sig_security import Isolation, attempts, ice, sdp

from .clustertools import cluster, eventually, known_everywhere


@pytest.mark.parametrize("where", [0, 1, 2], ids=["intruder-on-A", "on-B", "on-C"])
@pytest.mark.parametrize("roles", [(), ("producer",), ("consumer",)], ids=["none", "P", "C"])
async def test_no_peer_gets_into_a_foreign_session_on_another_server(
    roles: tuple[str, ...], where: int
) -> None:
    async with cluster(3) as (_, servers):
        a, b, c = (s.url for s in servers)
        async with (
            raw_peers(a, 1) as (prod,),
            raw_peers(b, 1) as (cons,),
            raw_peers(c, 1) as (passive,),
            raw_peers(servers[where].url, 1) as (intruder,),
        ):
            await prod.register("producer")
            await cons.register("listener")
            await passive.register("consumer")
            if roles:
                await intruder.register(*roles)
            await known_everywhere(
                servers,
                {
                    prod.peer_id: ("producer",),
                    cons.peer_id: ("listener",),
                    passive.peer_id: ("consumer",),
                    intruder.peer_id: roles,
                },
            )
            await received_so_far(cons)  # the statuses it heard while we registered
            s1 = await start_raw_session(cons, prod)
            await prod.send({"type": "startSession", "peerId": passive.peer_id})
            s2 = (await passive.recv_json())["sessionId"]
            assert (await prod.recv_json())["sessionId"] == s2
            victims = (prod.peer_id, cons.peer_id, passive.peer_id)
            check = Isolation(intruder.peer_id, victims, (s1, s2))
            sent_texts = [json.dumps(x) for x in attempts((s1, s2), victims, intruder.peer_id)]
            for text in sent_texts:
                await intruder.send(text)
            # a status change of the intruder travels the same ordered path as anything its
            # attempts made its server send to the others: once every server has it, they
            # have handled all of that too
            flush = {"type": "setPeerStatus", "roles": list(roles), "meta": {"flush": 1}}
            await intruder.send(flush)
            await eventually(
                lambda: all(s.router.peers[intruder.peer_id].meta == {"flush": 1} for s in servers)
            )
            everything = "".join(sent_texts) + json.dumps(flush)
            for message in await received_so_far(intruder):
                check.check(everything, intruder.peer_id, message)
            for victim in (prod, cons, passive):
                for message in await received_so_far(victim):
                    check.check(everything, victim.peer_id, message)
            # the sessions still relay across servers, to their members only
            await prod.send(sdp(s1, "offer"))
            assert await cons.recv_json() == sdp(s1, "offer")
            await cons.send(sdp(s1, "answer"))
            assert await prod.recv_json() == sdp(s1, "answer")
            await prod.send(ice(s2, 7))
            assert await passive.recv_json() == ice(s2, 7)
            assert await received_so_far(intruder) == []
            assert {s1, s2} <= set(servers[0].router.sessions)
            assert s1 in servers[1].router.sessions and s2 in servers[2].router.sessions
