"""Secrets at rest: HKDF-derived subkeys and AES-256-GCM sealed tokens (RFC 5869, SP 800-38D)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sekisho.clock import SYSTEM_RANDOM, Random
from sekisho.errors import SekishoError

MIN_MASTER_KEY_BYTES = 32
FORMAT_VERSION = "v1"
NONCE_BYTES = 12  # 96 bits: the GCM nonce length NIST SP 800-38D §8.2 recommends
KEY_ID_HEX = 8
MIN_DERIVED_BYTES = 16
MAX_DERIVED_BYTES = 255 * 32  # RFC 5869 §2.3: L <= 255*HashLen
MAX_TOKEN_CHARS = 1 << 20

# Distinct HKDF "info" namespaces (RFC 5869 §3.2), so no caller-chosen purpose passed to
# derive() can ever produce the sealing key.
_PURPOSE_INFO = b"sekisho/purpose/"
_SEAL_INFO = b"sekisho/internal/secretbox/aes-256-gcm/v1"

_TOKEN = re.compile(r"^v1\.(?P<kid>[0-9a-f]{8})\.(?P<body>[A-Za-z0-9_-]+)$")


class CryptoError(SekishoError):
    """A sealed token could not be opened, or a key is unusable."""

    code = "crypto_error"


def _hkdf(master: bytes, info: bytes, length: int) -> bytes:
    # No salt: the master key is already uniformly random (RFC 5869 §3.1 allows this).
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master)


def _key_id(subkey: bytes) -> str:
    return hashlib.sha256(subkey).hexdigest()[:KEY_ID_HEX]


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5): tokens, cookies, WebAuthn's JSON forms."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(key_id: str, context: str) -> bytes:
    # Binding version and key id as well as the context means no part of the token's
    # header can be altered without the tag failing.
    return f"{FORMAT_VERSION}.{key_id}.{context}".encode()


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens small secrets (TOTP seeds, tokens) under keys derived from one master key."""

    _master: bytes = field(repr=False)
    _seal_key: bytes = field(repr=False)
    key_id: str
    _random: Random = field(repr=False, compare=False)

    @classmethod
    def from_master_key(cls, master: bytes, *, random: Random = SYSTEM_RANDOM) -> SecretBox:
        """Build a box from a master key of at least 32 random bytes.

        Raises:
            CryptoError: the key is not bytes or is shorter than 32 bytes.
        """
        if not isinstance(master, bytes | bytearray):
            raise CryptoError(
                f"master key must be bytes, got {type(master).__name__}", code="crypto_bad_key"
            )
        if len(master) < MIN_MASTER_KEY_BYTES:
            raise CryptoError(
                f"master key must be at least {MIN_MASTER_KEY_BYTES} bytes, got {len(master)}",
                code="crypto_bad_key",
            )
        master = bytes(master)
        seal_key = _hkdf(master, _SEAL_INFO, 32)
        return cls(_master=master, _seal_key=seal_key, key_id=_key_id(seal_key), _random=random)

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """Derive a purpose-specific subkey with HKDF-SHA256 (RFC 5869); same purpose, same key.

        Used for Django's SECRET_KEY, persistent NameIDs and the like: distinct purposes
        give independent keys, so one leaking does not expose the others.
        """
        if not purpose:
            raise ValueError("purpose must be a non-empty string")
        if not MIN_DERIVED_BYTES <= length <= MAX_DERIVED_BYTES:
            raise ValueError(
                f"length must be between {MIN_DERIVED_BYTES} and {MAX_DERIVED_BYTES}, got {length}"
            )
        return _hkdf(self._master, _PURPOSE_INFO + purpose.encode(), length)

    def seal(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt with AES-256-GCM under a fresh random 96-bit nonce; return ``v1.<kid>.<b64url>``.

        ``context`` (e.g. ``"totp-secret:<user uid>"``) is authenticated but not stored: the
        token only opens with the same context, so a sealed value cannot be moved to
        another row or purpose. Random nonces are safe far beyond our volumes (SP 800-38D
        §8.3 caps one key at 2**32 random-nonce messages).
        """
        nonce = self._random.token_bytes(NONCE_BYTES)
        if len(nonce) != NONCE_BYTES:
            raise CryptoError("random source returned a short nonce", code="crypto_bad_nonce")
        sealed = AESGCM(self._seal_key).encrypt(nonce, plaintext, _aad(self.key_id, context))
        return f"{FORMAT_VERSION}.{self.key_id}.{b64url(nonce + sealed)}"

    def open(self, token: str, *, context: str) -> bytes:
        """Decrypt and authenticate a token made by ``seal`` with the same context.

        Raises:
            CryptoError: malformed token (``crypto_malformed``), sealed under another key
                (``crypto_unknown_key``), or tampered / wrong context (``crypto_open_failed``).
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise CryptoError("sealed token is not a string of sane size", code="crypto_malformed")
        match = _TOKEN.match(token)
        if match is None:
            raise CryptoError(
                "sealed token is malformed, expected v1.<8 hex key id>.<base64url>",
                code="crypto_malformed",
            )
        kid = match["kid"]
        if not hmac.compare_digest(kid, self.key_id):
            # A later issue adds a keyring here: look the id up among retired keys.
            raise CryptoError(
                f"sealed token uses key id {kid}, expected {self.key_id}",
                code="crypto_unknown_key",
            )
        try:
            raw = _unb64url(match["body"])
        except (binascii.Error, ValueError):
            raise CryptoError(
                "sealed token body is not base64url", code="crypto_malformed"
            ) from None
        if len(raw) < NONCE_BYTES + 16:
            raise CryptoError("sealed token is too short", code="crypto_malformed")
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            return AESGCM(self._seal_key).decrypt(nonce, sealed, _aad(kid, context))
        except InvalidTag:
            # One message for tampering and wrong context: GCM cannot tell them apart.
            raise CryptoError(
                "sealed token failed authentication (tampered, or opened with another context)",
                code="crypto_open_failed",
            ) from None


def new_master_key(random: Random = SYSTEM_RANDOM) -> bytes:
    """Return 64 fresh random bytes suitable for ``SecretBox.from_master_key``."""
    return random.token_bytes(64)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets without leaking where they differ (str is compared as UTF-8)."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
