"""Key pairs: check a public key and compute its fingerprint, or generate a pair (before 2.92).

Parsing is the `cryptography` library's, which knows every key type OpenSSH writes (ssh-rsa,
ecdsa-sha2-nistp256/384/521, ssh-ed25519) and PEM x509 certificates. Fingerprints are Nova's:
the MD5 of the key blob for SSH keys (what `ssh-keygen -l -E md5` prints), the SHA-1 of the DER
certificate for x509, both as colon-separated hex.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SSH = "ssh"
X509 = "x509"
TYPES = (SSH, X509)
RSA_BITS = 2048  # what Nova generates
CERT_DAYS = 3650


class InvalidKey(ValueError):
    """Nova's words: the key could not be read."""

    def __init__(self):
        super().__init__("Keypair data is invalid: failed to generate fingerprint")


def _colons(digest: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in digest)


def fingerprint(public_key: str, key_type: str = SSH) -> str:
    """The fingerprint of a public key or certificate; InvalidKey if it is neither."""
    try:
        if key_type == X509:
            certificate = x509.load_pem_x509_certificate(public_key.strip().encode())
            return _colons(certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - Nova's fingerprint
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (ValueError, IndexError, TypeError, UnicodeEncodeError):
        raise InvalidKey() from None
    return _colons(hashlib.md5(blob, usedforsecurity=False).digest())


def generate(key_type: str, user_id: str) -> tuple[str, str]:
    """A new (private key PEM, public key) pair: an OpenSSH RSA key, or a self-signed client
    certificate (as Nova makes for WinRM) whose subject is the user."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    if key_type == SSH:
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        return private, public + " Generated-by-ncloud"
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256()))
    return private, certificate.public_bytes(serialization.Encoding.PEM).decode()

