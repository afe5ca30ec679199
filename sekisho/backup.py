"""Backups of an instance: a consistent database snapshot, the keys and a verifiable manifest."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.config import Config, DatabaseSettings
from sekisho.errors import BackupError
from sekisho.instance import (
    MASTER_KEY_FILE,
    NEXT_SIGNING_CERT_FILE,
    NEXT_SIGNING_KEY_FILE,
    PREVIOUS_SIGNING_CERT_FILE,
    PREVIOUS_SIGNING_KEY_FILE,
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
)

if TYPE_CHECKING:
    import psycopg

MANIFEST_FILE = "manifest.json"
FORMAT = "sekisho-backup/1"
SQLITE_FILE = "sekisho.sqlite3"
PG_DUMP_FILE = "sekisho.pgdump"
KEY_FILES = (MASTER_KEY_FILE, SIGNING_KEY_FILE, SIGNING_CERT_FILE)
# A rotation in progress (`keys rotate`: the next key is published, perhaps already in
# IAM's SAML providers, before it signs) and the key it replaced: backed up when present,
# as pairs, so a restore can finish the rotation that was under way.
ROTATION_KEY_PAIRS = (
    (NEXT_SIGNING_KEY_FILE, NEXT_SIGNING_CERT_FILE),
    (PREVIOUS_SIGNING_KEY_FILE, PREVIOUS_SIGNING_CERT_FILE),
)
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DATABASE_FILES = {SQLITE: SQLITE_FILE, POSTGRESQL: PG_DUMP_FILE}
# Debian keeps each PostgreSQL major version's client tools apart (postgresql-client-N).
DEBIAN_PG_BIN = "/usr/lib/postgresql/{major}/bin"
_CHUNK = 1024 * 1024
_TOOL_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True)
class BackupFile:
    """One file of a backup and the SHA-256 that proves it undamaged."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: manifest.json, written last, read first."""

    sekisho_version: str
    created_at: str
    database: str
    migrations: dict[str, list[str]]
    files: tuple[BackupFile, ...]
    server_version: str = ""
    format: str = FORMAT

    def to_json(self) -> str:
        """The manifest as the JSON document stored beside the files."""
        data: dict[str, Any] = {
            "format": self.format,
            "sekisho_version": self.sekisho_version,
            "created_at": self.created_at,
            "database": self.database,
            "migrations": self.migrations,
            "files": {f.name: {"sha256": f.sha256, "bytes": f.size} for f in self.files},
        }
        if self.server_version:
            data["postgresql_server_version"] = self.server_version
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did."""

    manifest: Manifest
    data_dir: Path
    replaced: bool
    migrations_applied: list[str] = field(default_factory=list)


def database_kind(config: Config) -> str:
    """'sqlite' or 'postgresql': which database this configuration uses."""
    return SQLITE if config.database.engine.endswith("sqlite3") else POSTGRESQL


def sekisho_version() -> str:
    """The installed Sekisho's version."""
    try:
        return metadata.version("sekisho")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "unknown"


# ------------------------------------------------------------------ files


def _copy_private(source: Path, dest: Path) -> BackupFile:
    """Copy source to a new owner-only file dest, hashing the bytes as they are written."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return BackupFile(name=dest.name, sha256=digest.hexdigest(), size=size)


def _describe(path: Path) -> BackupFile:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return BackupFile(name=path.name, sha256=digest.hexdigest(), size=size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _empty_private_dir(target: Path) -> bool:
    """Make target an empty owner-only directory; True when it was created here."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise BackupError(f"refusing to write a backup into {target}: it is not a directory")
    if target.exists():
        if any(target.iterdir()):
            raise BackupError(
                f"refusing to write a backup into {target}: it is not empty "
                "(give a new or empty directory)"
            )
        try:
            target.chmod(PRIVATE_DIR_MODE)
        except OSError as exc:
            raise BackupError(f"cannot make {target} owner-only: {exc.strerror}") from None
        return False
    try:
        target.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
    except OSError as exc:
        raise BackupError(f"cannot create {target}: {exc.strerror}") from None
    return True


def _one_line(text: str, secret: str = "") -> str:
    """The line of a tool's stderr that says what went wrong (a traceback's last line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()] or ["no message"]
    if any(line.startswith("Traceback") for line in lines):
        line = lines[-1]
    else:
        line = next((x for x in lines if "error" in x.lower()), lines[0])
    return line.replace(secret, "***") if secret else line


def _os_error(action: str, exc: OSError) -> BackupError:
    where = f" ({exc.filename})" if exc.filename else ""
    return BackupError(f"cannot {action}: {exc.strerror or exc}{where}")


# ------------------------------------------------------------------ SQLite


def _sqlite_uri(path: Path) -> str:
    # mode=rw: a missing file is an error, never a new empty database.
    return f"file:{quote(str(path))}?mode=rw"


def _sqlite_migrations(conn: sqlite3.Connection) -> dict[str, list[str]]:
    try:
        rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY app, id").fetchall()
    except sqlite3.OperationalError:
        raise BackupError("the database has no schema yet: run 'sekisho init' first") from None
    return _group(rows)


def _group(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    state: dict[str, list[str]] = {}
    for app, name in rows:
        state.setdefault(app, []).append(name)
    return state


def _backup_sqlite(source: Path, dest: Path) -> dict[str, list[str]]:
    """A consistent copy of the live database through SQLite's online backup API."""
    if not source.is_file():
        raise BackupError(f"no database at {source}: run 'sekisho init' first")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    os.close(fd)
    try:
        live = sqlite3.connect(_sqlite_uri(source), uri=True, timeout=20)
        try:
            copy = sqlite3.connect(_sqlite_uri(dest), uri=True)
            try:
                # pages=-1 copies everything in one step under one read transaction: with WAL
                # the writers (the running server) carry on and the copy is one snapshot.
                live.backup(copy, pages=-1)
                # One self-contained file: no -wal to carry beside it.
                copy.execute("PRAGMA journal_mode=DELETE")
                check = copy.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the copied database fails SQLite's check: {check}")
                return _sqlite_migrations(copy)
            finally:
                copy.close()
        finally:
            live.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the SQLite database {source}: {exc}") from None


# ------------------------------------------------------------------ PostgreSQL


def _connect_kwargs(db: DatabaseSettings) -> dict[str, str]:
    kwargs = db.libpq_options()
    kwargs["dbname"] = db.name
    for key, value in (("host", db.host), ("port", db.port), ("user", db.user)):
        if value:
            kwargs[key] = value
    return kwargs


def _conninfo(db: DatabaseSettings) -> str:
    """A libpq connection string without the password (argv is visible to every user)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**_connect_kwargs(db))


def _tool_env(db: DatabaseSettings) -> dict[str, str]:
    env = dict(os.environ)
    if db.password:
        env["PGPASSWORD"] = db.password
    return env


@contextlib.contextmanager
def _pg_connection(db: DatabaseSettings) -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    try:
        conn = psycopg.connect(_conninfo(db), password=db.password or None, connect_timeout=10)
    except psycopg.Error as exc:
        reason = _one_line(str(exc), db.password)
        raise BackupError(f"cannot connect to the database {db.name!r}: {reason}") from None
    try:
        yield conn
    finally:
        conn.close()


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def _server_version(conn: psycopg.Connection[Any]) -> str:
    number = int(conn.info.server_version)
    return f"{number // 10000}.{number % 10000}"


def require_pg_tool(name: str, *, path: str | None = None) -> str:
    """pg_dump or pg_restore on PATH, or a one-line error saying it is not installed."""
    found = shutil.which(name, path=path)
    if found is None:
        raise BackupError(
            f"{name} is not installed (not found on PATH): install the PostgreSQL client "
            "tools of the server's version (Debian: postgresql-client)"
        )
    return found


def pg_tool_for(name: str, server_major: int, *, path: str | None = None) -> str:
    """The tool of the server's own major version when installed, else the one on PATH.

    A client older than the server cannot read it, so that is refused; a newer one can.
    """
    found = require_pg_tool(name, path=path)
    same = Path(DEBIAN_PG_BIN.format(major=server_major)) / name
    if same.is_file() and os.access(same, os.X_OK):
        return str(same)
    done = subprocess.run(  # noqa: S603 - a fixed argv of a tool found on PATH
        [found, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = _TOOL_VERSION.search(done.stdout)
    if match is None:
        raise BackupError(f"cannot tell which version {found} is: {_one_line(done.stderr)}")
    if int(match.group(1)) < server_major:
        raise BackupError(
            f"{found} is version {match.group(1)}, older than the PostgreSQL {server_major} "
            f"server: install postgresql-client-{server_major}"
        )
    return found


def _backup_postgresql(db: DatabaseSettings, dest: Path) -> tuple[dict[str, list[str]], str]:
    """pg_dump (custom format) of one snapshot; the manifest's migrations come from it too."""
    import psycopg

    require_pg_tool("pg_dump")  # before anything else: say so plainly when it is missing
    with _pg_connection(db) as conn:
        pg_dump = pg_tool_for("pg_dump", _server_major(conn))
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
            rows = conn.execute(
                "SELECT app, name FROM django_migrations ORDER BY app, id"
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            raise BackupError("the database has no schema yet: run 'sekisho init' first") from None
        assert snapshot is not None
        # The exported snapshot lives as long as this transaction: pg_dump sees exactly
        # what the migration query above saw, while the server keeps writing.
        argv = [
            pg_dump,
            "--format=custom",
            "--no-password",
            f"--snapshot={snapshot[0]}",
            f"--file={dest}",
            f"--dbname={_conninfo(db)}",
        ]
        done = subprocess.run(  # noqa: S603 - a fixed argv; the password goes by environment
            argv, env=_tool_env(db), capture_output=True, text=True, check=False
        )
        conn.rollback()
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {_one_line(done.stderr, db.password)}")
        dest.chmod(PRIVATE_FILE_MODE)
        return _group([(str(a), str(n)) for a, n in rows]), _server_version(conn)


def _pg_objects(conn: psycopg.Connection[Any]) -> int:
    """How many tables, sequences, views and functions the database holds outside pg_*."""
    row = conn.execute(
        """
        SELECT (SELECT count(*) FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
             + (SELECT count(*) FROM pg_catalog.pg_proc p
                JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
        """
    ).fetchone()
    conn.rollback()
    return int(row[0]) if row else 0


def _pg_default_privileges(conn: psycopg.Connection[Any]) -> int:
    """How many ALTER DEFAULT PRIVILEGES entries the database holds."""
    row = conn.execute("SELECT count(*) FROM pg_catalog.pg_default_acl").fetchone()
    conn.rollback()
    return int(row[0]) if row else 0


def _restore_postgresql(db: DatabaseSettings, dump: Path, pg_restore: str, *, clean: bool) -> None:
    argv = [
        pg_restore,
        "--no-password",
        # Objects belong to the role of DATABASE_URL (the schema's owner), whoever owned
        # them before. Privileges are restored as they were: dropping them would hand the
        # app role UPDATE/DELETE on the audit table again (docs/deploy/postgresql.md).
        "--no-owner",
        # All or nothing: a failed restore leaves the database as it was.
        "--single-transaction",
        "--exit-on-error",
        *(["--clean", "--if-exists"] if clean else []),
        f"--dbname={_conninfo(db)}",
        str(dump),
    ]
    done = subprocess.run(  # noqa: S603 - a fixed argv; the password goes by environment
        argv, env=_tool_env(db), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(
            f"pg_restore failed, the database is unchanged: {_one_line(done.stderr, db.password)}"
        )


# ------------------------------------------------------------------ backup


def create_backup(target: Path, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> Manifest:
    """Write a consistent backup of this instance into target (a new or empty directory).

    The database is copied while the server keeps running (SQLite's online backup API, or
    pg_dump of one snapshot); master.key, the signing key and certificate (and a rotation's
    next and previous pairs, when present) are copied as they are. The manifest, written
    last, makes the backup verifiable; a failure removes what was written.
    """
    kind = database_kind(config)
    for name in KEY_FILES:
        if not (config.data_dir / name).is_file():
            raise BackupError(
                f"nothing to back up: {config.data_dir / name} is missing (run 'sekisho init')"
            )
    created_dir = _empty_private_dir(target)
    written: list[Path] = []
    try:
        database = target / DATABASE_FILES[kind]
        # SQLite may leave a journal beside an unfinished copy: take that back too.
        written += [database, *(Path(f"{database}{end}") for end in ("-journal", "-wal", "-shm"))]
        server_version = ""
        if kind == SQLITE:
            migrations = _backup_sqlite(Path(config.database.name), database)
        else:
            migrations, server_version = _backup_postgresql(config.database, database)
        files = [_describe(database)]
        for name in (*KEY_FILES, *_rotation_files(lambda name: (config.data_dir / name).is_file())):
            written.append(target / name)
            files.append(_copy_private(config.data_dir / name, target / name))
        manifest = Manifest(
            sekisho_version=sekisho_version(),
            created_at=clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            database=kind,
            migrations=migrations,
            files=tuple(files),
            server_version=server_version,
        )
        written.append(target / MANIFEST_FILE)
        _write_manifest(target / MANIFEST_FILE, manifest)
        _fsync_dir(target)
    except OSError as exc:
        _remove(written, target if created_dir else None)
        raise _os_error("write the backup", exc) from None
    except BaseException:
        _remove(written, target if created_dir else None)
        raise
    return manifest


def _rotation_files(present: Callable[[str], bool]) -> list[str]:
    """The rotation key pairs whose both halves are ``present`` (a lone half is no key)."""
    return [name for pair in ROTATION_KEY_PAIRS if all(map(present, pair)) for name in pair]


def _remove(written: list[Path], directory: Path | None) -> None:
    """Take back what an unfinished backup wrote."""
    for path in written:
        with contextlib.suppress(OSError):
            path.unlink()
    if directory is not None:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _write_manifest(path: Path, manifest: Manifest) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())


# ------------------------------------------------------------------ verify


def _plain_name(name: object) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise BackupError(f"the backup's manifest names an unexpected file {name!r}")
    return name


def _parse_manifest(path: Path) -> Manifest:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BackupError(
            f"{path.parent} holds no {MANIFEST_FILE}: not a Sekisho backup, or an unfinished one"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise BackupError(
                f"{path} is format {data.get('format')!r}; this Sekisho reads {FORMAT!r}"
            )
        files = tuple(
            BackupFile(
                name=_plain_name(name), sha256=str(entry["sha256"]), size=int(entry["bytes"])
            )
            for name, entry in data["files"].items()
        )
        migrations = {
            str(app): [str(n) for n in names] for app, names in data["migrations"].items()
        }
        manifest = Manifest(
            sekisho_version=str(data["sekisho_version"]),
            created_at=str(data["created_at"]),
            database=str(data["database"]),
            migrations=migrations,
            files=files,
            server_version=str(data.get("postgresql_server_version", "")),
        )
    except BackupError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupError(f"the backup is damaged: {path} is not a valid manifest") from None
    if manifest.database not in DATABASE_FILES:
        raise BackupError(f"the backup is damaged: unknown database kind {manifest.database!r}")
    return manifest


def verify_backup(source: Path) -> Manifest:
    """Read the manifest and check every file's SHA-256; a damaged backup is refused whole."""
    if not source.is_dir():
        raise BackupError(f"no backup at {source}: not a directory")
    manifest = _parse_manifest(source / MANIFEST_FILE)
    listed = {f.name for f in manifest.files}
    required = {*KEY_FILES, DATABASE_FILES[manifest.database]}
    if missing := sorted(required - listed):
        raise BackupError(f"the backup is damaged: its manifest lacks {', '.join(missing)}")
    for entry in manifest.files:
        path = source / entry.name
        if path.is_symlink() or not path.is_file():
            raise BackupError(f"the backup is damaged: {entry.name} is missing")
        found = _describe(path)
        if (found.sha256, found.size) != (entry.sha256, entry.size):
            raise BackupError(
                f"the backup is damaged: {entry.name} does not match its SHA-256 in the manifest"
            )
    return manifest


# ------------------------------------------------------------------ restore


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _migrate(data_dir: Path, kind: str) -> list[str]:
    """Bring a restored database up to this Sekisho's schema; the migrations applied.

    In a process of its own: Django's settings are read once per process, from the
    environment, and must name the restored directory (its master.key, its SQLite file).
    """
    env = dict(os.environ)
    env.update(SEKISHO_DATA=str(data_dir), DJANGO_SETTINGS_MODULE="sekisho.settings")
    if kind == SQLITE:
        env.pop("DATABASE_URL", None)
    done = subprocess.run(  # this interpreter running Django's migrate
        [sys.executable, "-m", "django", "migrate", "--noinput", "--verbosity", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"migrating the restored database failed: {_one_line(done.stderr)}")
    return [
        line.strip().removeprefix("Applying ").split("...")[0].strip()
        for line in done.stdout.splitlines()
        if line.strip().startswith("Applying ")
    ]


def _swap_in(staging: Path, target: Path) -> bool:
    """Put the staged directory at target in one rename; True when a directory was replaced."""
    aside: Path | None = None
    try:
        if target.exists() and any(target.iterdir()):
            # rename(2) cannot replace a non-empty directory: move it aside, then in, then drop.
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
            os.rename(target, aside)
        try:
            os.rename(staging, target)  # an empty (or moved-aside) directory is replaced at once
        except OSError:
            if aside is not None:
                os.rename(aside, target)
            raise
    except OSError as exc:
        raise BackupError(
            f"cannot put the restored files in place at {target}: {exc.strerror}"
        ) from None
    _fsync_dir(target.parent)
    if aside is None:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    return True


def restore_backup(source: Path, config: Config, *, force: bool = False) -> RestoreResult:
    """Restore a verified backup into SEKISHO_DATA (and DATABASE_URL's database), then migrate.

    Refuses a non-empty data directory, and a PostgreSQL database that holds any object,
    unless force is given; then the directory is replaced and pg_restore drops and
    recreates the objects the backup holds. Files are staged in a directory beside the
    target and renamed into place, so a failure never leaves a half-restored directory;
    pg_restore runs in one transaction.
    """
    manifest = verify_backup(source)
    kind = database_kind(config)
    if manifest.database != kind:
        wanted = "set DATABASE_URL" if manifest.database == POSTGRESQL else "unset DATABASE_URL"
        raise BackupError(
            f"this backup holds a {manifest.database} database and Sekisho is configured for "
            f"{kind}: {wanted} to restore it"
        )
    target = Path(os.path.realpath(config.data_dir))
    if _is_within(Path(os.path.realpath(source)), target):
        raise BackupError(
            f"the backup {source} is inside SEKISHO_DATA, which a restore replaces: move it out"
        )
    if target.exists() and not target.is_dir():
        raise BackupError(f"SEKISHO_DATA {target} is not a directory")
    if target.exists() and any(target.iterdir()) and not force:
        raise BackupError(
            f"SEKISHO_DATA {target} is not empty: restore into a new or empty directory, "
            "or give --force to replace it"
        )
    pg_restore = ""
    if kind == POSTGRESQL:
        require_pg_tool("pg_restore")
        with _pg_connection(config.database) as conn:
            pg_restore = pg_tool_for("pg_restore", _server_major(conn))
            if _pg_objects(conn) and not force:
                raise BackupError(
                    f"the database {config.database.name!r} is not empty: restore into an empty "
                    "database, or give --force to drop and recreate the objects the backup holds"
                )
            if _pg_default_privileges(conn):
                # A dump states privileges as grants only: tables created under default
                # privileges would keep every default grant, e.g. UPDATE on the audit trail
                # that was revoked. The backup brings its default privileges along, last.
                raise BackupError(
                    f"the database {config.database.name!r} has default privileges (ALTER "
                    "DEFAULT PRIVILEGES) that would widen the backup's own: restore into a "
                    "database created without them (docs/deploy/postgresql.md, Backups)"
                )
    try:
        target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    except OSError as exc:
        raise BackupError(f"cannot stage the restore beside {target}: {exc.strerror}") from None
    try:
        expected = {f.name: f for f in manifest.files}
        # The bytes restored are the bytes checked: each file is hashed again as it is copied.
        rotation = _rotation_files(expected.__contains__)
        for name in (*KEY_FILES, *rotation, DATABASE_FILES[kind]):
            copied = _copy_private(source / name, staging / name)
            if (copied.sha256, copied.size) != (expected[name].sha256, expected[name].size):
                raise BackupError(f"the backup is damaged: {name} changed while it was restored")
        applied: list[str] = []
        if kind == SQLITE:
            # Migrated before it is renamed into place: the directory appears complete or not.
            applied = _migrate(staging, kind)
            replaced = _swap_in(staging, target)
        else:
            dump = staging / PG_DUMP_FILE
            _restore_postgresql(config.database, dump, pg_restore, clean=force)
            dump.unlink()  # the database holds it now; the data directory holds keys only
            replaced = _swap_in(staging, target)
            try:
                applied = _migrate(target, kind)
            except BackupError as exc:
                raise BackupError(
                    f"{exc.message}; the backup is restored: run 'sekisho init' to migrate again"
                ) from None
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _os_error("restore the backup", exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreResult(
        manifest=manifest, data_dir=target, replaced=replaced, migrations_applied=applied
    )
