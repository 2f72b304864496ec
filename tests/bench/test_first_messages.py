"""What a remote sends the moment its channel opens reaches the application, all and in order.

A remote's first messages can arrive in the same packets as the DCEP OPEN that announces
its channel, before the answerer's application has a ``"message"`` handler on it: the
library must hold them for the handler its ``"datachannel"`` handler attaches. The sender
is bare webrtcbin sending from its ``on-open`` handler on GStreamer's thread, the earliest
any peer can send (``bench.first_messages``; docs/performance.md measures the same check
against a webrtcbin built to emit messages on the receiving thread, which loses them).
"""

from __future__ import annotations

from bench.first_messages import one_round

COUNT = 20


async def test_messages_sent_at_open_all_reach_the_application_in_order() -> None:
    for _ in range(5):
        received = await one_round(COUNT)
        assert received == [str(i) for i in range(COUNT)]
