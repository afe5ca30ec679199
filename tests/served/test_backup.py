"""`sekisho backup` of a LIVE instance while sign-ins run, then `sekisho restore` (issue 9).

A real `sekisho serve` answers password sign-ins from a background thread while the backup
is taken; the restored copy is served again and must hold the users, applications, audit
records up to the backup, the sessions and the IdP's signing key (identical metadata). On
SQLite in the SQLite pass, on PostgreSQL in the PostgreSQL pass: then the restored
instance gets a database of its own on the test cluster, created and dropped here.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.served.client import Browser
from tests.served.conftest import PASSWORD, make_user
from tests.servers import (
    Instance,
    run_sekisho,
    served_database,
    served_instance,
    suite_database_url,
)

CONNECT = [
    "app",
    "create-amazon-connect",
    "connect",
    "--region",
    "ap-northeast-1",
    "--instance-id",
    "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "--account-id",
    "111122223333",
    "--role-name",
    "ConnectRole",
    "--provider-name",
    "Sekisho",
]


# The administrator's own commands, run in one process: each `sekisho` start costs seconds.
_SNAPSHOT = """
import contextlib, io, json
from sekisho.cli.main import main
found = {}
for key, argv in (
    ("users", ["user", "list", "--json"]),
    ("apps", ["app", "list", "--json"]),
    ("audit", ["audit", "tail", "-n", "1000000"]),
):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0, argv
    found[key] = out.getvalue()
print(json.dumps(found))
"""


def snapshot(env: dict[str, str]) -> tuple[list[dict[str, Any]], Any, list[str]]:
    """(users without their last sign-in, applications, audit records as JSON lines)."""
    done = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    users = json.loads(found["users"])
    for user in users:
        user.pop("last_sign_in")  # sign-ins after the backup move it on the source
    return users, json.loads(found["apps"]), found["audit"].splitlines()


class SignIns:
    """Password sign-ins against a served node, one after another, in a thread."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.results: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for _ in range(500):  # bounded: it stops by itself
            if self._stop.is_set():
                return
            try:
                self.results.append(browser(self.instance).password("alice", PASSWORD))
            except Exception as exc:  # reported by the test, never swallowed
                self.errors.append(exc)
                return

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < count and not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.results) >= count, (self.results, self.errors)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self.errors, self.errors
        assert set(self.results) == {"/apps"}, self.results[:5]


def browser(instance: Instance) -> Browser:
    return Browser(instance.nodes[0].url, origin=instance.base_url)


def assert_private(root: Path) -> None:
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for path in root.iterdir():
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600, path


def test_a_live_instance_survives_backup_and_restore(tmp_path: Path) -> None:
    backup_dir = tmp_path / "backup"
    with served_instance(tmp_path / "live") as live:
        live.cli("mfa", "configure", "--mode", "disabled")
        make_user(live, "alice")
        live.cli(*CONNECT)
        live.cli("app", "assign", "connect", "--user", "alice")
        live.start(workers=2)
        metadata = browser(live).get("/saml/metadata").text
        earlier = browser(live)
        assert earlier.password("alice", PASSWORD) == "/apps"
        sign_ins = SignIns(live)
        sign_ins.start()
        sign_ins.wait_for(2)
        before_backup = snapshot(live.env())[2]
        backup = run_sekisho(live.env(), "backup", str(backup_dir))
        during = len(sign_ins.results)
        sign_ins.wait_for(during + 2)  # the server went on while and after the backup ran
        sign_ins.stop()
        live.stop()
        live_users, live_apps, after_backup = snapshot(live.env())
        master_key = (live.data / "master.key").read_text().strip()
        kind = "postgresql" if live.database_url else "sqlite"
        port = live.port  # the restored server answers at the same URL: the same entity ID

    assert backup.returncode == 0, backup.stderr
    assert master_key not in backup.stdout + backup.stderr and PASSWORD not in backup.stdout
    assert_private(backup_dir)
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["database"] == kind
    assert "0002_append_only_triggers" in manifest["migrations"]["audit"]

    with served_database() as database_url:
        restored = Instance(root=tmp_path / "restored", port=port, database_url=database_url)
        done = run_sekisho(restored.env(), "restore", str(backup_dir))
        assert done.returncode == 0, done.stderr
        assert master_key not in done.stdout + done.stderr
        assert_private(restored.data)
        assert (restored.data / "master.key").read_text().strip() == master_key

        # Every record written before the backup began is there; some written after it are not.
        restored_users, restored_apps, restored_audit = snapshot(restored.env())
        assert set(before_backup) <= set(restored_audit) < set(after_backup)
        assert restored_users == live_users and [u["username"] for u in live_users] == ["alice"]
        assert restored_users[0]["applications"] == ["connect"]
        assert restored_apps == live_apps and [a["name"] for a in live_apps] == ["connect"]

        try:
            restored.start(workers=1)
            assert browser(restored).get("/saml/metadata").text == metadata
            # A session from before the backup: the keys and the sessions came along.
            again = earlier.at(restored.nodes[0].url).get("/apps")
            assert again.status_code == 200, again.headers.get("Location")
            assert browser(restored).password("alice", PASSWORD) == "/apps"
        finally:
            restored.stop()


@pytest.mark.skipif(suite_database_url() is None, reason="pg_restore matters to PostgreSQL only")
def test_pg_restore_missing_is_one_line(tmp_path: Path) -> None:
    with served_instance(tmp_path / "live") as live:
        live.cli("backup", str(tmp_path / "backup"))
    with served_database() as database_url:
        restored = Instance(root=tmp_path / "restored", port=live.port, database_url=database_url)
        env = {**restored.env(), "PATH": str(tmp_path / "no-tools")}
        done = run_sekisho(env, "restore", str(tmp_path / "backup"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("sekisho: error: pg_restore is not installed")
    assert not restored.data.exists()
