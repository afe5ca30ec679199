"""This IdP instance's key material under SEKISHO_DATA: the master secret and the signing key."""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from sekisho.config import Config, get_config
from sekisho.errors import ConfigError

MASTER_KEY_FILE = "master.key"
SIGNING_KEY_FILE = "idp-signing.key"
SIGNING_CERT_FILE = "idp-signing.crt"
# During a rotation: the next key, published in the metadata before it signs anything.
NEXT_SIGNING_KEY_FILE = "idp-signing-next.key"
NEXT_SIGNING_CERT_FILE = "idp-signing-next.crt"
# After a rotation: the key that signed before, kept (never published) for a rollback.
PREVIOUS_SIGNING_KEY_FILE = "idp-signing-previous.key"
PREVIOUS_SIGNING_CERT_FILE = "idp-signing-previous.crt"


def write_private(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only, refusing to overwrite one that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_data_dir(config: Config) -> Path:
    """Create the data directory (owner-only) if it does not exist yet."""
    try:
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create SEKISHO_DATA {config.data_dir}: {exc.strerror}") from None
    return config.data_dir


def master_key(config: Config | None = None) -> bytes:
    """The 64-byte master secret every other secret is derived from; created on first use."""
    cfg = config or get_config()
    path = ensure_data_dir(cfg) / MASTER_KEY_FILE
    if not path.exists():
        # Another worker may create it first; then read theirs.
        with contextlib.suppress(FileExistsError):
            write_private(path, secrets.token_bytes(64).hex().encode())
    try:
        raw = path.read_text().strip()
        key = bytes.fromhex(raw)
    except (OSError, ValueError):
        raise ConfigError(f"{path} is unreadable or not a hex master key") from None
    if len(key) < 32:
        raise ConfigError(f"{path} holds {len(key)} bytes, expected at least 32")
    return key


@lru_cache(maxsize=1)
def cached_master_key() -> bytes:
    """The master key of the process-wide configuration."""
    return master_key()
