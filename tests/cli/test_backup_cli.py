"""`sekisho backup` and `sekisho restore` refusals, in one line, leaving nothing half done.

Each test runs `sekisho` as a new process on SQLite data directories of its own (the live
round trip on SQLite and PostgreSQL is tests/e2e/test_backup.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sekisho.backup import require_pg_tool
from sekisho.errors import BackupError
from tests.servers import run_sekisho as sekisho
from tests.servers import sekisho_env


def ok(env: dict[str, str], *args: str) -> str:
    done = sekisho(env, *args)
    assert done.returncode == 0, f"sekisho {' '.join(args)}: {done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], start: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"sekisho: error: {start}"), done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of a fresh SQLite instance (shared, never modified: tests copy it)."""
    root = tmp_path_factory.mktemp("backup-source")
    env = sekisho_env(root / "data")
    ok(env, "init", "--quiet")
    ok(env, "backup", str(root / "backup"))
    return root / "backup"


def copy_of(backup: Path, where: Path) -> Path:
    where.mkdir(mode=0o700)
    for path in backup.iterdir():
        (where / path.name).write_bytes(path.read_bytes())
    return where


def rewrite_manifest(backup: Path, change: dict[str, object]) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest.update(change)
    (backup / "manifest.json").write_text(json.dumps(manifest))


def leftovers(parent: Path) -> list[str]:
    """Staging or moved-aside directories a restore would leave beside its target."""
    return sorted(
        p.name for p in parent.iterdir() if ".restoring-" in p.name or ".replaced-" in p.name
    )


def test_a_damaged_backup_is_refused_before_anything_is_touched(
    backup: Path, tmp_path: Path
) -> None:
    damaged = copy_of(backup, tmp_path / "damaged")
    raw = bytearray((damaged / "sekisho.sqlite3").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (damaged / "sekisho.sqlite3").write_bytes(bytes(raw))
    env = sekisho_env(tmp_path / "restored")
    one_line_error(
        sekisho(env, "restore", str(damaged)),
        "the backup is damaged: sekisho.sqlite3 does not match its SHA-256 in the manifest",
    )
    (damaged / "master.key").unlink()
    one_line_error(sekisho(env, "restore", str(damaged)), "the backup is damaged: master.key")
    (damaged / "manifest.json").write_text("{not json")
    one_line_error(sekisho(env, "restore", str(damaged)), "the backup is damaged")
    (damaged / "manifest.json").unlink()
    one_line_error(sekisho(env, "restore", str(damaged)), f"{damaged} holds no manifest.json")
    assert not (tmp_path / "restored").exists() and leftovers(tmp_path) == []


def test_a_manifest_naming_files_outside_the_backup_is_refused(
    backup: Path, tmp_path: Path
) -> None:
    tampered = copy_of(backup, tmp_path / "tampered")
    manifest = json.loads((tampered / "manifest.json").read_text())
    manifest["files"]["../elsewhere"] = {"sha256": "0" * 64, "bytes": 1}
    (tampered / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(
        sekisho(sekisho_env(tmp_path / "restored"), "restore", str(tampered)),
        "the backup's manifest names an unexpected file '../elsewhere'",
    )


def test_a_non_empty_data_directory_is_replaced_only_with_force(
    backup: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    env = sekisho_env(data)
    one_line_error(sekisho(env, "restore", str(backup)), f"SEKISHO_DATA {data} is not empty")
    assert os.listdir(data) == ["notes.txt"]
    out = ok(env, "restore", "--force", str(backup))
    assert out.startswith(f"replaced {data} from the sqlite backup of ")
    assert sorted(os.listdir(data)) == [
        "idp-signing.crt",
        "idp-signing.key",
        "master.key",
        "sekisho.sqlite3",
    ]
    assert leftovers(tmp_path) == []
    ok(env, "audit", "tail")  # the restored instance is initialised and up to date


def test_a_restore_that_fails_leaves_the_data_directory_as_it_was(
    backup: Path, tmp_path: Path
) -> None:
    """A backup whose checksums are right but whose database is not one: migrating fails."""
    broken = copy_of(backup, tmp_path / "broken")
    garbage = b"not a database" * 100
    (broken / "sekisho.sqlite3").write_bytes(garbage)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["files"]["sekisho.sqlite3"] = {
        "sha256": hashlib.sha256(garbage).hexdigest(),
        "bytes": len(garbage),
    }
    (broken / "manifest.json").write_text(json.dumps(manifest))
    fresh = sekisho_env(tmp_path / "fresh")
    one_line_error(sekisho(fresh, "restore", str(broken)), "migrating the restored database failed")
    assert not (tmp_path / "fresh").exists()
    existing = tmp_path / "existing"
    env = sekisho_env(existing)
    ok(env, "restore", str(backup))
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    one_line_error(
        sekisho(env, "restore", "--force", str(broken)), "migrating the restored database failed"
    )
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_an_older_backup_is_migrated_when_restored(tmp_path: Path) -> None:
    old = sekisho_env(tmp_path / "old")
    ok(old, "init", "--quiet")
    # The instance as it was before the audit table became append-only (audit 0002).
    done = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "audit", "0001", "--noinput", "-v", "0"],
        env={**old, "DJANGO_SETTINGS_MODULE": "sekisho.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ok(old, "backup", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["migrations"]["audit"] == ["0001_initial"]
    restored = sekisho_env(tmp_path / "restored")
    out = ok(restored, "restore", str(tmp_path / "backup"))
    assert "applied 1 migration(s) to bring it up to date" in out
    ok(restored, "audit", "tail")  # refused with "out of date" unless migrated


def test_backup_refusals(backup: Path, tmp_path: Path) -> None:
    nothing = sekisho_env(tmp_path / "nothing")
    one_line_error(sekisho(nothing, "backup", str(tmp_path / "b1")), "nothing to back up")
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "b1").exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("x")
    instance = sekisho_env(tmp_path / "instance")
    ok(instance, "restore", str(backup))
    one_line_error(
        sekisho(instance, "backup", str(occupied)),
        f"refusing to write a backup into {occupied}: it is not empty",
    )
    kind = sekisho_env(tmp_path / "pg", DATABASE_URL="postgresql://sekisho@127.0.0.1:1/none")
    one_line_error(
        sekisho(kind, "restore", str(backup)),
        "this backup holds a sqlite database and Sekisho is configured for postgresql",
    )


def test_pg_dump_missing_is_one_line(backup: Path, tmp_path: Path) -> None:
    """PATH without pg_dump: said plainly, before any connection is tried."""
    data = tmp_path / "data"
    ok(sekisho_env(data), "restore", str(backup))  # keys in place
    env = sekisho_env(
        data, DATABASE_URL="postgresql://sekisho@127.0.0.1:1/none", PATH=str(tmp_path / "empty")
    )
    err = one_line_error(sekisho(env, "backup", str(tmp_path / "b")), "pg_dump is not installed")
    assert "postgresql-client" in err
    assert not (tmp_path / "b").exists()
    with pytest.raises(BackupError, match="pg_restore is not installed"):
        require_pg_tool("pg_restore", path=str(tmp_path / "empty"))


def test_a_rotation_under_way_is_backed_up_and_can_be_finished_after_restore(
    tmp_path: Path,
) -> None:
    """The staged next key (perhaps already in IAM's SAML providers) survives a restore."""
    live = sekisho_env(tmp_path / "live")
    ok(live, "init", "--quiet")
    ok(live, "keys", "rotate")
    before = ok(live, "keys", "show")
    ok(live, "backup", str(tmp_path / "backup"))
    files = json.loads((tmp_path / "backup" / "manifest.json").read_text())["files"]
    assert {"idp-signing-next.key", "idp-signing-next.crt"} <= set(files)
    assert not any(name.startswith("idp-signing-previous") for name in files)

    restored = sekisho_env(tmp_path / "restored")
    ok(restored, "restore", str(tmp_path / "backup"))
    assert ok(restored, "keys", "show") == before
    next_fingerprint = before.split("next", 1)[1].split()[1]
    ok(restored, "keys", "rotate", "--finish")
    current = ok(restored, "keys", "show").split("current", 1)[1].split()[1]
    assert current == next_fingerprint

    # After the switch the previous pair is kept, and backed up too.
    ok(restored, "backup", str(tmp_path / "again"))
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())["files"]
    assert {"idp-signing-previous.key", "idp-signing-previous.crt"} <= set(again)
