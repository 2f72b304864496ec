"""The DTLS certificate: its validity is configurable and new connections get a fresh one."""

from __future__ import annotations

import asyncio
import datetime
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from aiogstwebrtc import Configuration, PeerConnection
from tests.helpers import Pair, connected_pair

VALIDITY = 6.0  # seconds: new connections get a new certificate after 3 s


def _fingerprint(pc: PeerConnection) -> str:
    assert pc.local_description is not None
    match = re.search(r"^a=fingerprint:sha-256 (\S+)", pc.local_description.sdp, re.MULTILINE)
    assert match is not None
    return match.group(1)


async def _round_trip(pair: Pair) -> None:
    pair.channel.send("ping")
    assert await asyncio.wait_for(pair.remote.recv(), 10) == "ping"


async def test_a_short_lived_certificate_is_replaced_for_new_connections() -> None:
    config = Configuration(certificate_validity=VALIDITY)
    async with connected_pair(config, config) as first:
        started = datetime.datetime.now(datetime.UTC)
        old = _fingerprint(first.offerer)
        assert _fingerprint(first.answerer) == old  # shared while young
        certificate = first.offerer._pipeline.certificate
        assert certificate is not None and certificate.fingerprint == old
        parsed = x509.load_pem_x509_certificate(certificate.pem.encode())
        assert parsed.fingerprint(hashes.SHA256()).hex().upper() == old.replace(":", "")
        lifetime = parsed.not_valid_after_utc - started
        assert datetime.timedelta(seconds=VALIDITY - 2) < lifetime
        assert lifetime <= datetime.timedelta(seconds=VALIDITY + 1)

        await asyncio.sleep(VALIDITY / 2 + 0.2)  # past the renewal point, before the expiry
        async with connected_pair(config, config) as second:
            new = _fingerprint(second.offerer)
            assert new != old
            assert _fingerprint(second.answerer) == new
            await _round_trip(second)  # DTLS accepted the new certificate and its fingerprint
            await _round_trip(first)  # the older connection keeps its certificate and works
            assert first.offerer._pipeline.certificate is certificate


async def test_the_default_validity_is_thirty_days_and_is_kept() -> None:
    async with connected_pair() as pair:
        certificate = pair.offerer._pipeline.certificate
        assert certificate is not None
        parsed = x509.load_pem_x509_certificate(certificate.pem.encode())
        lifetime = parsed.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30, seconds=1)
        await _round_trip(pair)
    async with connected_pair() as later:
        assert later.offerer._pipeline.certificate is certificate  # not renewed within 15 days


@pytest.mark.parametrize("validity", [0, -1.0])
def test_a_validity_that_is_not_positive_is_refused(validity: float) -> None:
    with pytest.raises(ValueError, match="certificate_validity"):
        Configuration(certificate_validity=validity)
