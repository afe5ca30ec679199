"""A software WebAuthn authenticator for tests: real, signed registration and assertion JSON.

It answers the options Sekisho sends exactly as a browser plus an authenticator would
(PublicKeyCredential.toJSON(), WebAuthn L3 §5.1.8), with an EC P-256 key (COSE ES256),
"none" or "packed" self-attestation (§8.2, §8.7) and a signature counter (§6.1.1), and
lets a test change any part (origin, RP ID, flags, counter) to build a bad answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator; ``origin`` is the page the browser is on."""

    origin: str = "http://localhost:8000"
    rp_id: str = "localhost"
    aaguid: bytes = bytes(16)
    transports: list[str] = field(default_factory=lambda: ["usb"])
    attachment: str | None = "cross-platform"
    # False: a counter that stays 0, like most synced passkeys.
    counter: bool = True
    user_verifying: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    user_handle: bytes | None = None

    @property
    def id(self) -> str:
        """The credential ID as the browser's JSON spells it."""
        return b64url(self.credential_id)

    def cose_key(self) -> bytes:
        """The public key as a COSE_Key (RFC 9053 §7.1.1: EC2, P-256, ES256)."""
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def authenticator_data(
        self,
        *,
        rp_id: str | None = None,
        up: bool = True,
        uv: bool | None = None,
        attested: bool = False,
        sign_count: int | None = None,
    ) -> bytes:
        """authenticatorData (WebAuthn L3 §6.1): RP ID hash, flags, counter, credential."""
        flags = FLAG_UP if up else 0
        if self.user_verifying if uv is None else uv:
            flags |= FLAG_UV
        if self.backup_eligible:
            flags |= FLAG_BE
        if self.backed_up:
            flags |= FLAG_BS
        if attested:
            flags |= FLAG_AT
        count = self.sign_count if sign_count is None else sign_count
        data = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        data += bytes([flags]) + count.to_bytes(4, "big")
        if attested:
            data += self.aaguid + len(self.credential_id).to_bytes(2, "big")
            data += self.credential_id + self.cose_key()
        return data

    def client_data(
        self,
        kind: str,
        challenge: str,
        *,
        origin: str | None = None,
        cross_origin: bool = False,
    ) -> bytes:
        """clientDataJSON (WebAuthn L3 §5.8.1) as a browser serialises it."""
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": cross_origin,
            },
            separators=(",", ":"),
        ).encode()

    def _sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def register(
        self,
        options: dict[str, Any],
        *,
        fmt: str = "none",
        rk: bool | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool | None = None,
        challenge: str | None = None,
        kind: str = "webauthn.create",
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialCreationOptions (navigator.credentials.create())."""
        self.user_handle = from_b64url(options["user"]["id"])
        client_data = self.client_data(kind, challenge or options["challenge"], origin=origin)
        auth_data = self.authenticator_data(rp_id=rp_id, uv=uv, attested=True)
        statement: dict[str, Any] = {}
        if fmt == "packed":
            # Self attestation (§8.2): signed by the credential key itself, no x5c.
            digest = hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": self._sign(auth_data + digest)}
        attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        extensions: dict[str, Any] = {} if rk is None else {"credProps": {"rk": rk}}
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": list(self.transports),
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": extensions,
        }

    def assert_(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool | None = None,
        sign_count: int | None = None,
        user_handle: bool = True,
        challenge: str | None = None,
        kind: str = "webauthn.get",
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialRequestOptions (navigator.credentials.get())."""
        if sign_count is not None:
            self.sign_count = sign_count
        elif self.counter:
            self.sign_count += 1
        client_data = self.client_data(kind, challenge or options["challenge"], origin=origin)
        auth_data = self.authenticator_data(rp_id=rp_id, uv=uv)
        signature = self._sign(auth_data + hashlib.sha256(client_data).digest())
        handle = self.user_handle if user_handle else None
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle) if handle is not None else None,
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
        }


def as_form(credential: dict[str, Any]) -> dict[str, str]:
    """The form field the page's script posts."""
    return {"credential": json.dumps(credential)}
