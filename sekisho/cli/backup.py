"""`sekisho backup DIR` and `sekisho restore DIR [--force]`: the work is in sekisho.backup."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _size(n: int) -> str:
    value, unit = float(n), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a backup; names and sizes only, never a secret."""
    from sekisho.backup import create_backup
    from sekisho.config import get_config

    target = Path(args.directory).expanduser().absolute()
    manifest = create_backup(target, get_config())
    print(f"backup of the {manifest.database} database and keys written to {target}")
    for entry in manifest.files:
        print(f"  {entry.name:<18} {_size(entry.size):>12}")
    print("it holds master.key: keep it as secret as the data itself")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Verify a backup, restore it into SEKISHO_DATA (and DATABASE_URL), migrate."""
    from sekisho.backup import restore_backup
    from sekisho.config import get_config

    result = restore_backup(
        Path(args.directory).expanduser().absolute(), get_config(), force=args.force
    )
    manifest = result.manifest
    verb = "replaced" if result.replaced else "restored into"
    print(
        f"{verb} {result.data_dir} from the {manifest.database} backup of {manifest.created_at} "
        f"(Sekisho {manifest.sekisho_version})"
    )
    applied = result.migrations_applied
    print(
        f"applied {len(applied)} migration(s) to bring it up to date"
        if applied
        else "its schema is up to date"
    )
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `backup` and `restore` to the `sekisho` parser (no Django set-up before they run)."""
    p = sub.add_parser(
        "backup",
        help="write a consistent backup (database snapshot, keys, manifest) into DIR",
        description="Copies the database while Sekisho keeps serving (SQLite's online backup, "
        "or pg_dump), master.key and the signing key and certificate, with a manifest of "
        "SHA-256 checksums. DIR must be new or empty; it is made owner-only.",
    )
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(func=cmd_backup, needs_database=False)

    p = sub.add_parser(
        "restore",
        help="restore a backup from DIR into SEKISHO_DATA (and DATABASE_URL), then migrate",
        description="Verifies every checksum first. Refuses a non-empty SEKISHO_DATA, and a "
        "PostgreSQL database holding any object, unless --force is given. Stop the server first.",
    )
    p.add_argument("directory", metavar="DIR")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a non-empty SEKISHO_DATA; on PostgreSQL drop and recreate the backup's "
        "objects",
    )
    p.set_defaults(func=cmd_restore, needs_database=False)
