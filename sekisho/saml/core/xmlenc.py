"""XML Encryption of assertions for an SP's key (saml-core §2.3.4, §6; xmlenc-core1).

An ``EncryptedAssertion`` holds one ``xenc:EncryptedData`` (Type Element) whose content
key travels RSA-OAEP-wrapped in an ``xenc:EncryptedKey`` inside its ``ds:KeyInfo``
(xmlenc-core1 §3.5.1, §5.5.2). Data encryption is AES-256-GCM (xmlenc-core1 §5.2.4) unless
the SP's metadata lists only AES-CBC (§5.2.2), which it then gets: CBC without
authentication is open to padding-oracle attacks, so it is used only when asked for.
Everything is computed with ``cryptography``; randomness is injected.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from sekisho.saml.core.keys import load_certificate
from sekisho.saml.core.xml import DS, Element, qn
from sekisho.saml.errors import EncryptionUnavailable

XENC: Final = "http://www.w3.org/2001/04/xmlenc#"
XENC11: Final = "http://www.w3.org/2009/xmlenc11#"
TYPE_ELEMENT: Final = XENC + "Element"

AES128_GCM: Final = XENC11 + "aes128-gcm"
AES192_GCM: Final = XENC11 + "aes192-gcm"
AES256_GCM: Final = XENC11 + "aes256-gcm"
AES128_CBC: Final = XENC + "aes128-cbc"
AES192_CBC: Final = XENC + "aes192-cbc"
AES256_CBC: Final = XENC + "aes256-cbc"
RSA_OAEP_MGF1P: Final = XENC + "rsa-oaep-mgf1p"
RSA_OAEP: Final = XENC11 + "rsa-oaep"
DIGEST_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"

# Key sizes in bytes; the order is Sekisho's preference when the SP lists several.
DATA_ALGORITHMS: Final = {
    AES256_GCM: 32,
    AES192_GCM: 24,
    AES128_GCM: 16,
    AES256_CBC: 32,
    AES192_CBC: 24,
    AES128_CBC: 16,
}
GCM_ALGORITHMS: Final = frozenset({AES128_GCM, AES192_GCM, AES256_GCM})
# RSA-OAEP with SHA-1 and MGF1-SHA-1: the one every SAML stack decrypts (xmlseclibs, the
# SimpleSAMLphp library, supports no other digest); OAEP's security does not rest on
# SHA-1's collision resistance.
KEY_TRANSPORTS: Final = (RSA_OAEP_MGF1P, RSA_OAEP)
MIN_RSA_BITS: Final = 2048
_GCM_IV_BYTES: Final = 12  # xmlenc-core1 §5.2.4: a 96-bit IV precedes the ciphertext
_CBC_IV_BYTES: Final = 16  # xmlenc-core1 §5.2.1


@dataclass(frozen=True)
class EncryptionTarget:
    """Whom to encrypt for, and how (chosen with ``choose_algorithms``)."""

    certificate_pem: str
    data_algorithm: str = AES256_GCM
    key_transport: str = RSA_OAEP_MGF1P
    # The SP's entity ID, so an SP with several keys can find its EncryptedKey (§3.5.1).
    recipient: str | None = None


def choose_algorithms(sp_methods: Sequence[str], *, override: str | None = None) -> tuple[str, str]:
    """Pick (data algorithm, key transport) from the SP's md:EncryptionMethod list.

    No data algorithm listed: AES-256-GCM. Listed: the first of Sekisho's preference
    (GCM before CBC, longer keys first) that the SP lists, so CBC only when the SP lists no
    GCM. ``override`` (an application setting) wins when given. Key transport: RSA-OAEP
    MGF1P unless the SP lists only xmlenc 1.1 RSA-OAEP.

    Raises:
        EncryptionUnavailable: the SP lists data or key-transport algorithms and none that
            Sekisho implements, or ``override`` is not an algorithm Sekisho implements.
    """
    if override is not None:
        if override not in DATA_ALGORITHMS:
            raise EncryptionUnavailable(
                f"expected an encryption algorithm of {', '.join(DATA_ALGORITHMS)}, "
                f"got {override[:100]!r}"
            )
        data = override
    else:
        listed = [m for m in sp_methods if m in DATA_ALGORITHMS]
        data_listed = [m for m in sp_methods if not _is_key_algorithm(m)]
        if data_listed and not listed:
            raise EncryptionUnavailable(
                "the SP's metadata lists no data encryption algorithm Sekisho implements "
                f"(AES-GCM or AES-CBC), got {data_listed[:5]}"
            )
        data = next((m for m in DATA_ALGORITHMS if m in listed), AES256_GCM)
    transports = [m for m in sp_methods if m in KEY_TRANSPORTS]
    key_listed = [m for m in sp_methods if _is_key_algorithm(m)]
    if key_listed and not transports:
        raise EncryptionUnavailable(
            "the SP's metadata lists no key transport Sekisho implements (RSA-OAEP), "
            f"got {key_listed[:5]}"
        )
    transport = RSA_OAEP if transports == [RSA_OAEP] else RSA_OAEP_MGF1P
    return data, transport


def _is_key_algorithm(uri: str) -> bool:
    # Key transport (rsa-*) and key wrap (kw-*) URIs, as opposed to data algorithms.
    tail = uri.rsplit("#", 1)[-1].lower()
    return tail.startswith(("rsa-", "kw-"))


def check_encryption_certificate(certificate_pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of an SP encryption certificate.

    Raises:
        EncryptionUnavailable: not RSA, or shorter than 2048 bits.
    """
    try:
        key = load_certificate(certificate_pem).public_key()
    except ValueError as exc:
        raise EncryptionUnavailable(f"unreadable encryption certificate: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise EncryptionUnavailable(
            f"expected an RSA encryption key (RSA-OAEP), got {type(key).__name__.lstrip('_')}"
        )
    if key.key_size < MIN_RSA_BITS:
        raise EncryptionUnavailable(
            f"expected an RSA encryption key of at least {MIN_RSA_BITS} bits, got {key.key_size}"
        )
    return key


def encrypt_element(
    element: Element, target: EncryptionTarget, *, random_bytes: Callable[[int], bytes]
) -> Element:
    """Encrypt ``element`` (its serialization, signature included) into xenc:EncryptedData.

    The element is serialized on its own with every namespace it uses declared, so the
    SP can parse the decrypted octets as a standalone fragment (xmlenc-core1 §4.1).

    Raises:
        EncryptionUnavailable: an unusable certificate or algorithm.
    """
    public_key = check_encryption_certificate(target.certificate_pem)
    key_bytes = DATA_ALGORITHMS.get(target.data_algorithm)
    if key_bytes is None:
        raise EncryptionUnavailable(f"unsupported data algorithm {target.data_algorithm!r}")
    if target.key_transport not in KEY_TRANSPORTS:
        raise EncryptionUnavailable(f"unsupported key transport {target.key_transport!r}")
    plaintext = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    content_key = random_bytes(key_bytes)
    cipher_value = _encrypt_data(target.data_algorithm, content_key, plaintext, random_bytes)
    wrapped = public_key.encrypt(
        content_key,
        asym_padding.OAEP(
            mgf=asym_padding.MGF1(algorithm=hashes.SHA1()),  # noqa: S303 - see KEY_TRANSPORTS
            algorithm=hashes.SHA1(),  # noqa: S303
            label=None,
        ),
    )
    return _encrypted_data(target, cipher_value, wrapped)


def _encrypt_data(
    algorithm: str, key: bytes, plaintext: bytes, random_bytes: Callable[[int], bytes]
) -> bytes:
    if algorithm in GCM_ALGORITHMS:
        iv = random_bytes(_GCM_IV_BYTES)
        return iv + AESGCM(key).encrypt(iv, plaintext, None)
    iv = random_bytes(_CBC_IV_BYTES)
    # PKCS#7 padding is one of the paddings xmlenc-core1 §5.2 allows (last byte = count).
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def _encrypted_data(target: EncryptionTarget, cipher_value: bytes, wrapped_key: bytes) -> Element:
    data = etree.Element(qn(XENC, "EncryptedData"), nsmap={"xenc": XENC, "ds": DS})
    data.set("Type", TYPE_ELEMENT)
    etree.SubElement(data, qn(XENC, "EncryptionMethod")).set("Algorithm", target.data_algorithm)
    key_info = etree.SubElement(data, qn(DS, "KeyInfo"))
    encrypted_key = etree.SubElement(key_info, qn(XENC, "EncryptedKey"))
    if target.recipient:
        encrypted_key.set("Recipient", target.recipient)
    method = etree.SubElement(encrypted_key, qn(XENC, "EncryptionMethod"))
    method.set("Algorithm", target.key_transport)
    etree.SubElement(method, qn(DS, "DigestMethod")).set("Algorithm", DIGEST_SHA1)
    key_data = etree.SubElement(encrypted_key, qn(XENC, "CipherData"))
    etree.SubElement(key_data, qn(XENC, "CipherValue")).text = _b64(wrapped_key)
    cipher_data = etree.SubElement(data, qn(XENC, "CipherData"))
    etree.SubElement(cipher_data, qn(XENC, "CipherValue")).text = _b64(cipher_value)
    return data


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
