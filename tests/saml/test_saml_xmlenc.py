"""Encrypted assertions (saml-core §2.3.4, xmlenc-core1), decrypted by python-xmlsec."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from sekisho.saml.core import xmlenc as enc
from sekisho.saml.core.dsig import verify_element
from sekisho.saml.core.keys import SigningKey, generate_signing_key
from sekisho.saml.core.response import build_response
from sekisho.saml.errors import EncryptionUnavailable
from tests.saml import factory

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC = enc.XENC


@pytest.fixture(scope="module")
def sp_key() -> SigningKey:
    """The SP's encryption key pair."""
    return generate_signing_key(common_name="sp.example.test", now=factory.NOW)


def _decrypt(xml: bytes, key: SigningKey) -> etree._Element:
    """What an SP does: decrypt EncryptedData in place with its private key (xmlsec)."""
    root = etree.fromstring(xml)
    data = root.find(f"{{{SAML}}}EncryptedAssertion/{{{XENC}}}EncryptedData")
    assert data is not None
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_memory(key.private_key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    )
    assertion = xmlsec.EncryptionContext(manager).decrypt(data)
    encrypted = assertion.getparent()
    root.replace(encrypted, assertion)
    # Re-parse, as SPs do with the decrypted octets, so nothing depends on lxml's tree.
    return etree.fromstring(etree.tostring(root))


@pytest.mark.parametrize(
    "algorithm", [enc.AES256_GCM, enc.AES128_GCM, enc.AES256_CBC, enc.AES128_CBC]
)
def test_encrypted_assertion_decrypts_and_its_signature_verifies(
    sp_key: SigningKey, algorithm: str
) -> None:
    target = enc.EncryptionTarget(
        sp_key.certificate_pem, data_algorithm=algorithm, recipient=factory.SP_ENTITY_ID
    )
    xml = build_response(
        factory.spec(encrypt_for=target),
        key=factory.idp_key(),
        now=factory.NOW,
        new_id=factory.id_source(),
        random_bytes=os.urandom,
    )
    assert b"alice@example.test" not in xml
    encrypted = etree.fromstring(xml).find(f"{{{SAML}}}EncryptedAssertion")
    assert encrypted is not None
    data = encrypted[0]
    assert data.get("Type") == "http://www.w3.org/2001/04/xmlenc#Element"
    assert data.find(f"{{{XENC}}}EncryptionMethod").get("Algorithm") == algorithm  # type: ignore[union-attr]
    key = data.find(f".//{{{XENC}}}EncryptedKey")
    assert key is not None and key.get("Recipient") == factory.SP_ENTITY_ID
    assert key.find(f"{{{XENC}}}EncryptionMethod").get("Algorithm") == enc.RSA_OAEP_MGF1P  # type: ignore[union-attr]

    root = _decrypt(xml, sp_key)
    assertion = root.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    verified = verify_element(assertion, trusted_certificates=[factory.idp_key().certificate_pem])
    assert verified.element_id == "_id0002"
    assert assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") == "alice@example.test"


def test_response_signature_covers_the_encrypted_form(sp_key: SigningKey) -> None:
    xml = build_response(
        factory.spec(encrypt_for=enc.EncryptionTarget(sp_key.certificate_pem), sign_response=True),
        key=factory.idp_key(),
        now=factory.NOW,
        new_id=factory.id_source(),
        random_bytes=os.urandom,
    )
    root = etree.fromstring(xml)
    verify_element(root, trusted_certificates=[factory.idp_key().certificate_pem])


def test_fresh_key_and_iv_every_time(sp_key: SigningKey) -> None:
    def build() -> bytes:
        return build_response(
            factory.spec(encrypt_for=enc.EncryptionTarget(sp_key.certificate_pem)),
            key=factory.idp_key(),
            now=factory.NOW,
            new_id=factory.id_source(),
            random_bytes=os.urandom,
        )

    assert build() != build()


def test_randomness_is_required(sp_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="random_bytes"):
        build_response(
            factory.spec(encrypt_for=enc.EncryptionTarget(sp_key.certificate_pem)),
            key=factory.idp_key(),
            now=factory.NOW,
            new_id=factory.id_source(),
        )


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ((), (enc.AES256_GCM, enc.RSA_OAEP_MGF1P)),
        # Shibboleth SP 3's list: 128-bit GCM first, Sekisho still takes 256-bit GCM.
        (
            (enc.AES128_GCM, enc.XENC11 + "aes192-gcm", enc.AES256_GCM, enc.AES128_CBC,
             enc.AES256_CBC, enc.XENC + "tripledes-cbc", enc.RSA_OAEP, enc.RSA_OAEP_MGF1P),
            (enc.AES256_GCM, enc.RSA_OAEP_MGF1P),
        ),
        ((enc.AES128_GCM,), (enc.AES128_GCM, enc.RSA_OAEP_MGF1P)),
        ((enc.AES128_CBC, enc.AES256_CBC), (enc.AES256_CBC, enc.RSA_OAEP_MGF1P)),
        ((enc.AES128_CBC,), (enc.AES128_CBC, enc.RSA_OAEP_MGF1P)),
        ((enc.RSA_OAEP,), (enc.AES256_GCM, enc.RSA_OAEP)),
    ],
)  # fmt: skip
def test_algorithm_choice(listed: tuple[str, ...], expected: tuple[str, str]) -> None:
    assert enc.choose_algorithms(listed) == expected


def test_override_wins() -> None:
    assert enc.choose_algorithms((enc.AES256_GCM,), override=enc.AES128_CBC)[0] == enc.AES128_CBC
    with pytest.raises(EncryptionUnavailable, match="expected an encryption algorithm"):
        enc.choose_algorithms((), override="urn:nope")


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ((enc.XENC + "tripledes-cbc",), "no data encryption algorithm"),
        ((enc.XENC + "rsa-1_5",), "no key transport"),
    ],
)
def test_nothing_in_common(listed: tuple[str, ...], message: str) -> None:
    with pytest.raises(EncryptionUnavailable, match=message):
        enc.choose_algorithms(listed)


def _certificate(public_key: object, private_key: object) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(private_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def test_unusable_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(EncryptionUnavailable, match="at least 2048 bits, got 1024"):
        enc.check_encryption_certificate(_certificate(small.public_key(), small))
    curve = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(EncryptionUnavailable, match="expected an RSA encryption key"):
        enc.check_encryption_certificate(_certificate(curve.public_key(), curve))
    with pytest.raises(EncryptionUnavailable, match="unreadable"):
        enc.check_encryption_certificate("not a certificate")
