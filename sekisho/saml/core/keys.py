"""IdP signing keys and X.509 certificates (self-signed, as SAML metadata trust works)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from xmlsec import constants as xc

_PEM_BODY = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class SigningKey:
    """An RSA private key and its certificate, both PEM; loaded forms are cached per object.

    Keep one instance per key for the life of the process: the xmlsec key and the
    parsed certificate are loaded once and reused by every signature.
    """

    private_key_pem: str
    certificate_pem: str

    def __repr__(self) -> str:
        # Never let the private key reach a log line or a traceback.
        return f"SigningKey(certificate_sha256={self.certificate_sha256!r})"

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return load_certificate(self.certificate_pem)

    @cached_property
    def certificate_b64(self) -> str:
        """The certificate as base64 DER, the form KeyInfo and metadata carry."""
        return certificate_b64(self.certificate_pem)

    @cached_property
    def certificate_sha256(self) -> str:
        """Hex SHA-256 fingerprint of the certificate's DER, for display and audit."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The private key loaded once into cryptography (the fast signing path)."""
        loaded = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(
                f"expected an RSA private key, got {type(loaded).__name__.lstrip('_')}"
            )
        return loaded

    @cached_property
    def xmlsec_key(self) -> xmlsec.Key:
        """The private key loaded into xmlsec with its certificate (for X509Data)."""
        key = xmlsec.Key.from_memory(self.private_key_pem.encode(), xc.KeyDataFormatPem)
        key.load_cert_from_memory(self.certificate_pem.encode(), xc.KeyDataFormatCertPem)
        return key


def generate_signing_key(
    *, common_name: str, now: datetime, days: int = 3650, key_size: int = 2048
) -> SigningKey:
    """Create an RSA key and a self-signed X.509 certificate valid from ``now`` for ``days``.

    SAML trust is anchored in metadata, not in a CA (saml-metadata-2.0-os §2.4.1.1), so a
    self-signed certificate is what IdPs conventionally publish.
    """
    if now.tzinfo is None:
        raise ValueError("expected an aware datetime for now, got a naive one")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return SigningKey(
        private_key_pem=private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def certificate_b64(cert_pem: str) -> str:
    """Return the DER of a PEM (or base64) certificate as one base64 line."""
    return base64.b64encode(_certificate_der(cert_pem)).decode("ascii")


def load_certificate(pem_or_b64: str | bytes) -> x509.Certificate:
    """Load a certificate given as PEM or as the bare base64 DER found in ds:X509Certificate.

    Raises:
        ValueError: when the text is neither.
    """
    text = pem_or_b64.decode("ascii", "replace") if isinstance(pem_or_b64, bytes) else pem_or_b64
    return _load_der(_certificate_der(text))


def certificate_pem(pem_or_b64: str | bytes) -> str:
    """Normalise a PEM or bare-base64 certificate to canonical PEM text."""
    return load_certificate(pem_or_b64).public_bytes(serialization.Encoding.PEM).decode("ascii")


@lru_cache(maxsize=256)
def _load_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ValueError(f"expected an X.509 certificate, got undecodable DER: {exc}") from exc


def _certificate_der(text: str) -> bytes:
    match = _PEM_BODY.search(text)
    body = match.group(1) if match else text
    compact = "".join(body.split())
    if not compact:
        raise ValueError("expected a certificate (PEM or base64 DER), got empty text")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("expected a certificate as PEM or base64 DER, got invalid base64") from exc
