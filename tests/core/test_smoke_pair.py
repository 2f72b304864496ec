from tests.helpers import connected_pair


async def test_pair_exchanges_a_message() -> None:
    async with connected_pair() as pair:
        pair.channel.send("ping")
        assert await pair.remote.recv() == "ping"
