"""Signing-key rotation in two steps: publish the next certificate first, switch later.

A service provider trusts the certificates in the IdP's metadata (saml-metadata §2.4.1.1:
``KeyDescriptor use="signing"``). Replacing the key at once would break every SP until it
re-reads the metadata, so a rotation first *stages* a new key, whose certificate the
metadata publishes beside the current one (``services.idp_identity``) while the current
key keeps signing; once every SP has the new metadata (for AWS, ``UpdateSAMLProvider``),
*switching* makes the staged key sign, and the old one is kept (unpublished) as the
previous key for a rollback by hand.

Keys are files in SEKISHO_DATA, like the current one: every node needs the same files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.config import get_config
from sekisho.errors import ConfigError
from sekisho.instance import (
    NEXT_SIGNING_CERT_FILE,
    NEXT_SIGNING_KEY_FILE,
    PREVIOUS_SIGNING_CERT_FILE,
    PREVIOUS_SIGNING_KEY_FILE,
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
    write_private,
)
from sekisho.saml import errors
from sekisho.saml.core.keys import SigningKey, generate_signing_key

_FILES = {
    "current": (SIGNING_KEY_FILE, SIGNING_CERT_FILE),
    "next": (NEXT_SIGNING_KEY_FILE, NEXT_SIGNING_CERT_FILE),
    "previous": (PREVIOUS_SIGNING_KEY_FILE, PREVIOUS_SIGNING_CERT_FILE),
}


def key_paths(kind: str = "current") -> tuple[Path, Path]:
    """The key and certificate files of the ``current``, ``next`` or ``previous`` key."""
    key_file, cert_file = _FILES[kind]
    data = get_config().data_dir
    return data / key_file, data / cert_file


# A rotation replaces the certificate, then the key: a read in between (another node, or a
# worker of this one) sees a pair that does not belong together, so it reads again rather
# than keep that pair.
_PAIR_RETRIES = 20


@lru_cache(maxsize=8)
def _load(key_path: str, cert_path: str, key_mtime: float, cert_mtime: float) -> SigningKey:
    for _ in range(_PAIR_RETRIES):
        try:
            key = SigningKey(
                private_key_pem=Path(key_path).read_text(),
                certificate_pem=Path(cert_path).read_text(),
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot read the signing key: {exc.strerror}: {exc.filename}"
            ) from None
        if _pair_matches(key):
            return key
        time.sleep(0.05)
    raise ConfigError(f"{key_path} and {cert_path} hold a key and a certificate that differ")


def _pair_matches(key: SigningKey) -> bool:
    public = key.certificate.public_key()
    return isinstance(public, rsa.RSAPublicKey) and (
        public.public_numbers() == key.private_key.public_key().public_numbers()
    )


def stored_key(kind: str) -> SigningKey | None:
    """The ``current``, ``next`` (staged) or ``previous`` key, when its files exist."""
    key_path, cert_path = key_paths(kind)
    try:
        mtimes = (key_path.stat().st_mtime, cert_path.stat().st_mtime)
    except FileNotFoundError:
        return None
    return _load(str(key_path), str(cert_path), *mtimes)


def signing_key() -> SigningKey:
    """The IdP's signing key and certificate from SEKISHO_DATA (reloaded when they change)."""
    key = stored_key("current")
    if key is None:
        key_path, _ = key_paths()
        raise ConfigError(f"no signing key in {key_path.parent}: run 'sekisho init' first")
    return key


def next_signing_key() -> SigningKey | None:
    """The key a rotation has staged (published in the metadata, not yet signing), if any."""
    return stored_key("next")


def _write_pair(kind: str, key: SigningKey) -> None:
    """Write a certificate, then its key, each owner-only by an atomic rename.

    Owner-only like every file in SEKISHO_DATA: the certificate is public through the
    metadata, so nobody needs the file, and one rule without exceptions is one rule to check.
    """
    key_path, cert_path = key_paths(kind)
    for path, text in ((cert_path, key.certificate_pem), (key_path, key.private_key_pem)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        write_private(tmp, text.encode())
        tmp.replace(path)


@dataclass(frozen=True)
class KeyInfo:
    """What an administrator sees of one key: never the private key."""

    role: str  # current | next | previous
    sha256: str
    subject: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str


def describe() -> list[KeyInfo]:
    """The current, staged and previous keys that exist, in that order."""
    found = []
    for kind in ("current", "next", "previous"):
        key = stored_key(kind)
        if key is None:
            continue
        cert = key.certificate
        found.append(
            KeyInfo(
                role=kind,
                sha256=key.certificate_sha256,
                subject=cert.subject.rfc4514_string(),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                certificate_pem=key.certificate_pem,
            )
        )
    return found


def stage_signing_key(*, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> tuple[SigningKey, bool]:
    """Step 1 of a rotation: make the next key and publish its certificate in the metadata.

    The current key keeps signing. Returns (the next key, whether it was made now).
    """
    staged = next_signing_key()
    if staged is not None:
        return staged, False
    key = generate_signing_key(common_name=get_config().host, now=clock.now())
    _write_pair("next", key)
    admin_audit(actor, "StageSigningKey", {"certificateSha256": key.certificate_sha256}, clock)
    return key, True


def switch_signing_key(
    *, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> tuple[SigningKey, SigningKey]:
    """Step 2 of a rotation: the staged key signs from now on; returns (old, new).

    Raises:
        SamlError: no key is staged (stage one first), or the current key is missing.
    """
    staged = next_signing_key()
    if staged is None:
        raise errors.SamlError(
            "no next signing key is staged: stage one first and let the SPs read the metadata",
            code="no_staged_key",
        )
    old = stored_key("current")
    if old is None:
        raise ConfigError("no current signing key: run 'sekisho init' first")
    _write_pair("previous", old)
    _write_pair("current", staged)
    for path in key_paths("next"):
        path.unlink(missing_ok=True)
    admin_audit(
        actor,
        "SwitchSigningKey",
        {"previousSha256": old.certificate_sha256, "certificateSha256": staged.certificate_sha256},
        clock,
    )
    return old, staged
