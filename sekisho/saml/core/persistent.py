"""Persistent and transient NameID values (saml-core-2.0-os §8.3.7, §8.3.8), SessionIndex."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from sekisho.crypto import b64url


def persistent_name_id(*, key: bytes, sp_entity_id: str, user_uid: str) -> str:
    """Return an opaque, stable, per-SP identifier for a user (saml-core §8.3.7).

    HMAC-SHA256 keyed with an IdP secret over the SP entity ID and the user's immutable
    uid: the same user gets the same value at one SP, unrelated values at two SPs, and
    nothing about the user (username, email) can be read or guessed from it. The inputs
    are length-prefixed so no two (SP, uid) pairs share an HMAC input.
    """
    if len(key) < 16:
        raise ValueError(f"expected a secret key of at least 16 bytes, got {len(key)}")
    if not user_uid:
        raise ValueError("expected a non-empty user uid, got an empty one")
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (b"sekisho-persistent-v1", sp_entity_id.encode(), user_uid.encode())
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return b64url(digest)


def transient_name_id(new_id: Callable[[], str]) -> str:
    """Return a fresh one-time identifier (saml-core §8.3.8)."""
    return new_id()


def session_bound_id(*, key: bytes, purpose: str, session_id: str, sp_entity_id: str) -> str:
    """An xs:ID-safe value fixed for one (portal session, SP) pair and opaque outside it.

    Used for the SessionIndex (saml-core §2.7.2) and the transient NameID (§8.3.8) an SP
    gets: the same within one sign-in at that SP (its later LogoutRequest names them
    back), unrelated across SPs and sessions, and unguessable without the IdP's key even
    to someone who knows the session's public id. 160 bits, like SystemRandom.new_id.
    """
    if len(key) < 16:
        raise ValueError(f"expected a secret key of at least 16 bytes, got {len(key)}")
    if not session_id:
        raise ValueError("expected a session id, got an empty one")
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (
            b"sekisho-session-v1",
            purpose.encode(),
            session_id.encode(),
            sp_entity_id.encode(),
        )
    )
    return "_" + hmac.new(key, message, hashlib.sha256).hexdigest()[:40]
