"""The DTLS certificate: one ECDSA P-256 certificate per process, as browsers use.

webrtcbin 1.22 makes an RSA certificate, which peers that only accept ECDHE-ECDSA cipher
suites (aiortc) refuse whenever webrtcbin is the DTLS server. We generate an ECDSA one with
``cryptography``, hand it to every ``dtlssrtpdec`` before it starts, and put its SHA-256
fingerprint into our SDP ourselves: 1.22 would advertise a hash of the whole PEM, private
key included, which no peer accepts.

A certificate is valid for ``validity`` seconds (``Configuration(certificate_validity=...)``,
30 days by default) and handed to new connections for the first half of that time only; the
first connection after that gets a fresh one. A connection keeps the certificate it started
with, so every connection's certificate stays valid for at least half the validity.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
from dataclasses import dataclass

__all__ = ["DEFAULT_VALIDITY", "Certificate", "process_certificate", "with_fingerprint"]

log = logging.getLogger(__name__)

#: Seconds a certificate is valid for unless configured otherwise: 30 days.
DEFAULT_VALIDITY = 30 * 24 * 3600.0
#: Backdating of ``not_valid_before``, for peers whose clock is behind ours.
_BACKDATE = datetime.timedelta(days=1)

_lock = threading.Lock()
_current: dict[float, Certificate] = {}  # by validity: a process may use several
_FINGERPRINT_LINE = re.compile(r"^a=fingerprint:\S+ \S+$", re.MULTILINE)


@dataclass(frozen=True)
class Certificate:
    """A certificate and key as one PEM text, and the certificate's SHA-256 fingerprint."""

    pem: str
    fingerprint: str
    #: End of the certificate's validity (UTC).
    not_valid_after: datetime.datetime
    #: From then on new connections get a new certificate (half the validity).
    renew_after: datetime.datetime

    @property
    def sdp_attribute(self) -> str:
        """The SDP ``a=fingerprint`` line for this certificate."""
        return f"a=fingerprint:sha-256 {self.fingerprint}"


def _generate(validity: float, now: datetime.datetime) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiogstwebrtc")])
    lifetime = datetime.timedelta(seconds=validity)
    end = now + lifetime
    # X.509 counts whole seconds: round up, so the certificate lasts at least ``validity``.
    not_valid_after = end.replace(microsecond=0) + datetime.timedelta(seconds=end.microsecond > 0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_valid_after)
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    digest = certificate.fingerprint(hashes.SHA256()).hex().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return Certificate(
        certificate_pem + key_pem,
        fingerprint,
        not_valid_after=not_valid_after,
        renew_after=now + lifetime / 2,
    )


def process_certificate(validity: float = DEFAULT_VALIDITY) -> Certificate:
    """The ECDSA certificate for a new connection, valid for ``validity`` seconds.

    Generated on first use (a few ms) and shared by the connections started during the first
    half of its validity; the first one after that gets a new certificate.
    """
    if not validity > 0:
        raise ValueError("certificate validity must be positive")
    now = datetime.datetime.now(datetime.UTC)
    with _lock:
        current = _current.get(validity)
        if current is None or now >= current.renew_after:
            current = _generate(validity, now)
            _current[validity] = current
            log.debug(
                "new DTLS certificate %s, valid until %s",
                current.fingerprint,
                current.not_valid_after.isoformat(),
            )
        return current


def with_fingerprint(sdp: str, certificate: Certificate) -> str:
    """``sdp`` with every ``a=fingerprint`` line naming ``certificate``."""
    return _FINGERPRINT_LINE.sub(certificate.sdp_attribute, sdp.replace("\r\n", "\n")).replace(
        "\n", "\r\n"
    )
