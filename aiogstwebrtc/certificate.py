"""The DTLS certificate: one ECDSA P-256 certificate per process, as browsers use.

webrtcbin 1.22 makes an RSA certificate, which peers that only accept ECDHE-ECDSA cipher
suites (aiortc) refuse whenever webrtcbin is the DTLS server. We generate an ECDSA one with
``cryptography``, hand it to every ``dtlssrtpdec`` before it starts, and put its SHA-256
fingerprint into our SDP ourselves: 1.22 would advertise a hash of the whole PEM, private
key included, which no peer accepts.
"""

from __future__ import annotations

import datetime
import re
import threading
from dataclasses import dataclass

__all__ = ["Certificate", "process_certificate", "with_fingerprint"]

_lock = threading.Lock()
_certificate: Certificate | None = None
_FINGERPRINT_LINE = re.compile(r"^a=fingerprint:\S+ \S+$", re.MULTILINE)


@dataclass(frozen=True)
class Certificate:
    """A certificate and key as one PEM text, and the certificate's SHA-256 fingerprint."""

    pem: str
    fingerprint: str

    @property
    def sdp_attribute(self) -> str:
        """The SDP ``a=fingerprint`` line for this certificate."""
        return f"a=fingerprint:sha-256 {self.fingerprint}"


def _generate() -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiogstwebrtc")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
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
    return Certificate(certificate_pem + key_pem, fingerprint)


def process_certificate() -> Certificate:
    """This process's ECDSA certificate, generated on first use."""
    global _certificate
    with _lock:
        if _certificate is None:
            _certificate = _generate()
        return _certificate


def with_fingerprint(sdp: str, certificate: Certificate) -> str:
    """``sdp`` with every ``a=fingerprint`` line naming ``certificate``."""
    return _FINGERPRINT_LINE.sub(certificate.sdp_attribute, sdp.replace("\r\n", "\n")).replace(
        "\n", "\r\n"
    )
