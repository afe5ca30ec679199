"""Readiness of this node: the database answers and the IdP's keys are loaded and readable.

Every check only reads: one cheap query, no transaction, nothing created (a missing
SQLite file is reported, not made). Reasons are short, fixed phrases an operator can act
on; the details (paths, driver messages) go to the log, never into the answer.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from sekisho.config import Config, get_config
from sekisho.instance import (
    MASTER_KEY_FILE,
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
    cached_master_key,
)

log = logging.getLogger("sekisho.ops")

# The table `sekisho init` creates first: reading it proves the schema is there too.
_PROBE_QUERY = "SELECT 1 FROM django_migrations LIMIT 1"

# What this process last logged about the database: probes come every few seconds, so a
# lasting failure is logged once when it starts and once when it ends.
_last_database_error: str | None = None


def _note_database_error(error: str | None) -> None:
    global _last_database_error
    if error != _last_database_error:
        if error is None:
            log.info("readiness: the database answers again")
        else:
            log.warning("readiness: database check failed: %s", error)
        _last_database_error = error


@dataclass(frozen=True)
class Readiness:
    """Whether this node can serve sign-ins now, and if not, why (short phrases)."""

    problems: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """True when no check found a problem."""
        return not self.problems


def _sqlite_file_missing(connection: BaseDatabaseWrapper) -> bool:
    # Opening a missing SQLite file would create an empty database: report it instead.
    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        return False
    return not Path(str(connection.settings_dict["NAME"])).exists()


def check_database(alias: str = "default") -> str | None:
    """None when one cheap read succeeds, else a short reason."""
    connection = connections[alias]
    if _sqlite_file_missing(connection):
        return "database not initialised"
    try:
        with connection.cursor() as cursor:
            cursor.execute(_PROBE_QUERY)
            cursor.fetchone()
    except Exception as exc:  # any driver failure means "not ready", never a 500
        _note_database_error(f"{type(exc).__name__}: {exc}".strip())
        return "database unavailable"
    _note_database_error(None)
    return None


def _read_master_key(path: Path) -> bool:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return False
    return len(key) >= 32


@lru_cache(maxsize=8)
def _signing_files_problem(
    key_path: str, cert_path: str, key_stamp: tuple[int, int], cert_stamp: tuple[int, int]
) -> str | None:
    # Parsing an RSA key costs milliseconds: probes re-parse only when a file changes.
    try:
        load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return "signing key unreadable"
    try:
        x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except (OSError, ValueError):
        return "signing certificate unreadable"
    return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def check_keys(config: Config | None = None) -> list[str]:
    """Problems with the master key (loaded, still readable) and the signing key and certificate."""
    cfg = config or get_config()
    problems: list[str] = []
    # Loaded at start-up (settings derive SECRET_KEY from it); asking the cache never
    # creates a key the way a first load would.
    loaded = cached_master_key.cache_info().currsize > 0
    if not loaded or not _read_master_key(cfg.data_dir / MASTER_KEY_FILE):
        problems.append("master key unreadable")
    key_path = cfg.data_dir / SIGNING_KEY_FILE
    cert_path = cfg.data_dir / SIGNING_CERT_FILE
    key_stamp, cert_stamp = _stamp(key_path), _stamp(cert_path)
    if key_stamp is None:
        problems.append("signing key unreadable")
    elif cert_stamp is None:
        problems.append("signing certificate unreadable")
    else:
        problem = _signing_files_problem(str(key_path), str(cert_path), key_stamp, cert_stamp)
        if problem is not None:
            problems.append(problem)
    return problems


def readiness(config: Config | None = None) -> Readiness:
    """Run every readiness check (the database first; keys are local and cheap)."""
    problems: list[str] = []
    database = check_database()
    if database is not None:
        problems.append(database)
    problems.extend(check_keys(config))
    return Readiness(problems=tuple(problems))
