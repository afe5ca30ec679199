"""Signing keys and certificates."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sekisho.saml.core.keys import (
    SigningKey,
    certificate_b64,
    certificate_pem,
    generate_signing_key,
    load_certificate,
)


def test_generated_key_is_self_signed_rsa_2048(idp_key: SigningKey, now: datetime) -> None:
    cert = idp_key.certificate
    assert cert.subject == cert.issuer
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "idp.sekisho.test"
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now == timedelta(days=3650)
    assert idp_key.private_key.public_key().public_numbers() == public.public_numbers()


def test_generate_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        generate_signing_key(common_name="x", now=datetime(2026, 1, 1))


def test_certificate_b64_is_der(idp_key: SigningKey) -> None:
    der = idp_key.certificate.public_bytes(serialization.Encoding.DER)
    assert certificate_b64(idp_key.certificate_pem) == base64.b64encode(der).decode()
    assert idp_key.certificate_b64 == base64.b64encode(der).decode()


def test_load_certificate_accepts_pem_and_bare_base64(idp_key: SigningKey) -> None:
    b64 = idp_key.certificate_b64
    wrapped = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    for form in (idp_key.certificate_pem, b64, wrapped, idp_key.certificate_pem.encode()):
        assert load_certificate(form) == idp_key.certificate
    assert certificate_pem(b64) == idp_key.certificate_pem


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"not der").decode()])
def test_load_certificate_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="certificate"):
        load_certificate(bad)


def test_repr_never_shows_the_private_key(idp_key: SigningKey) -> None:
    text = repr(idp_key)
    assert "PRIVATE" not in text
    assert idp_key.certificate_sha256 in text


def test_signing_key_is_a_frozen_value(idp_key: SigningKey) -> None:
    copy = SigningKey(
        private_key_pem=idp_key.private_key_pem, certificate_pem=idp_key.certificate_pem
    )
    assert copy == idp_key
    with pytest.raises(AttributeError):
        copy.certificate_pem = "x"  # type: ignore[misc]
    assert isinstance(copy.certificate, x509.Certificate)
