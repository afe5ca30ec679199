"""The data directory (owner-only) and its keys: the master secret and the signing key."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
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

# Everything under SEKISHO_DATA is the owner's alone: the database holds live session keys,
# the key files are the IdP. Files Sekisho (or SQLite, for -wal/-shm) creates get 0600 from
# the umask; existing ones are tightened by secure_data_dir.
PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def restrict_umask() -> int:
    """Make every file this process creates owner-only (umask 077); returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_owner(path: Path, st: os.stat_result, what: str) -> None:
    uid = os.geteuid()
    if st.st_uid != uid:
        raise ConfigError(
            f"{what} {path} belongs to uid {st.st_uid}, not to uid {uid} that runs Sekisho: "
            "run Sekisho as its owner or chown it"
        )


def _tighten(path: Path, st: os.stat_result, mode: int) -> bool:
    current = stat.S_IMODE(st.st_mode)
    wanted = current & mode
    if current == wanted:
        return False
    try:
        os.chmod(path, wanted)
    except FileNotFoundError:
        return False  # gone meanwhile (see secure_data_dir)
    except OSError as exc:
        raise ConfigError(f"cannot make {path} private (mode {wanted:o}): {exc.strerror}") from None
    return True


def _check_link(path: Path, root: Path) -> None:
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise ConfigError(
            f"{path} in SEKISHO_DATA is a symbolic link to {target}, which does not exist: "
            "remove it"
        )
    if not _is_within(target, root):
        raise ConfigError(
            f"{path} in SEKISHO_DATA is a symbolic link to {target}, outside SEKISHO_DATA: "
            "Sekisho keeps its secrets in its own directory only; put the file itself there"
        )


def secure_data_dir(config: Config) -> list[Path]:
    """Create SEKISHO_DATA 0700, or tighten it to 0700 and everything in it to 0600/0700.

    Refuses with a one-line ConfigError what Sekisho cannot own: a directory or file
    belonging to another user (even root would only make a mess of someone else's data),
    a symbolic link leading out of the directory or nowhere, a mode it cannot change.
    Returns the paths whose modes were tightened.
    """
    root = ensure_data_dir(config)
    root_real = Path(os.path.realpath(root))
    st = os.stat(root_real)
    _check_owner(root, st, "SEKISHO_DATA")
    tightened = [root] if _tighten(root_real, st, PRIVATE_DIR_MODE) else []
    # Top-down: a directory is closed to others before anything inside it is looked at.
    for current, dirnames, filenames in os.walk(root_real):
        base = Path(current)
        for name in sorted(dirnames) + sorted(filenames):
            path = base / name
            try:
                entry = os.lstat(path)
            except FileNotFoundError:
                # Another server on this directory may drop SQLite's -wal/-shm or its
                # metrics files at any moment: what is gone needs no tightening.
                continue
            if stat.S_ISLNK(entry.st_mode):
                _check_link(path, root_real)  # its target inside is checked on its own
                continue
            _check_owner(path, entry, "the file" if name in filenames else "the directory")
            mode = PRIVATE_DIR_MODE if stat.S_ISDIR(entry.st_mode) else PRIVATE_FILE_MODE
            if _tighten(path, entry, mode):
                tightened.append(path)
    return tightened


def write_private(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only, refusing to overwrite one that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_data_dir(config: Config) -> Path:
    """Create the data directory (owner-only) if it does not exist yet."""
    try:
        config.data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
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
