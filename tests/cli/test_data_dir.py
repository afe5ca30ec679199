"""SEKISHO_DATA is owner-only: directory 0700, every file 0600, refusals in one line (issue 9).

A security review found the SQLite database created 0644 when SEKISHO_DATA already existed
with loose modes, while it holds live session keys. These tests run `sekisho` as a new
process, as an administrator does, on SQLite data directories of their own.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sekisho.config import load_config
from sekisho.errors import ConfigError
from sekisho.instance import secure_data_dir
from tests.served.client import Browser
from tests.servers import Instance, free_port, sekisho_env
from tests.servers import run_sekisho as sekisho

PASSWORD = "correct horse battery staple"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes(root: Path) -> dict[str, int]:
    """Every path under root (root itself as '.') with its permission bits."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    for name, bits in modes(root).items():
        path = root / name
        wanted = 0o700 if path.is_dir() else 0o600
        assert bits == wanted, f"{name} is {bits:o}, expected {wanted:o}"


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sekisho: error: "), done.stderr
    return done.stderr


def test_init_in_a_loose_existing_directory_creates_a_private_database(tmp_path: Path) -> None:
    """The review's finding: SEKISHO_DATA exists 0755 (umask 022), `init` creates the rest."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.umask(0o022); sys.argv[0] = 'sekisho';"
            "from sekisho.cli.main import main; sys.exit(main(['init', '--quiet']))",
        ],
        env=sekisho_env(data),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {"sekisho.sqlite3", "master.key", "idp-signing.key", "idp-signing.crt"} <= set(
        os.listdir(data)
    )
    assert_private(data)


def test_init_tightens_what_was_left_loose(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = sekisho_env(data)
    assert sekisho(env, "init", "--quiet").returncode == 0
    (data / "demo-policies").mkdir()
    (data / "demo-policies" / "office-only.json").write_text("{}")
    data.chmod(0o755)
    (data / "demo-policies").chmod(0o755)
    for path in data.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    done = sekisho(env, "init")
    assert done.returncode == 0, done.stderr
    assert "path(s) owner-only (directories 0700, files 0600)" in done.stdout
    assert_private(data)
    again = sekisho(env, "init")
    assert "owner-only" not in again.stdout  # nothing left to tighten


@as_root
def test_a_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = sekisho_env(data)
    assert sekisho(env, "init", "--quiet").returncode == 0
    os.chown(data / "idp-signing.crt", NOBODY, NOBODY)
    (data / "idp-signing.crt").chmod(0o644)
    for command in (["init"], ["serve", "--port", "1"]):
        err = one_line_error(sekisho(env, *command))
        assert f"idp-signing.crt belongs to uid {NOBODY}, not to uid 0" in err
    assert mode(data / "idp-signing.crt") == 0o644  # refused, not silently changed


@as_root
def test_a_data_directory_owned_by_someone_else_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chown(data, NOBODY, NOBODY)
    err = one_line_error(sekisho(sekisho_env(data), "init"))
    assert f"SEKISHO_DATA {data} belongs to uid {NOBODY}" in err
    assert os.listdir(data) == []


def test_a_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = sekisho_env(data)
    assert sekisho(env, "init", "--quiet").returncode == 0
    outside = tmp_path / "elsewhere.key"
    (data / "master.key").rename(outside)
    (data / "master.key").symlink_to(outside)
    err = one_line_error(sekisho(env, "init"))
    assert "master.key in SEKISHO_DATA is a symbolic link to" in err and "outside" in err
    outside.chmod(0o644)
    one_line_error(sekisho(env, "serve", "--port", "1"))
    assert mode(outside) == 0o644


def test_links_inside_are_allowed_and_dangling_ones_refused(tmp_path: Path) -> None:
    config = load_config({"SEKISHO_DATA": str(tmp_path / "data")})
    secure_data_dir(config)
    (config.data_dir / "notes.txt").write_text("x")
    (config.data_dir / "notes.txt").chmod(0o640)
    (config.data_dir / "latest").symlink_to(config.data_dir / "notes.txt")
    assert secure_data_dir(config) == [config.data_dir / "notes.txt"]
    assert mode(config.data_dir / "notes.txt") == 0o600
    (config.data_dir / "gone").symlink_to(tmp_path / "nothing-here")
    with pytest.raises(ConfigError, match="which does not exist"):
        secure_data_dir(config)


def test_served_sign_ins_keep_the_database_and_its_wal_and_shm_private(tmp_path: Path) -> None:
    """The server's SQLite -wal and -shm exist only while a request has the database open:
    watch for them while sign-ins run, never opening the database from here."""
    instance = Instance(root=tmp_path, port=free_port(), database_url=None)
    data = instance.data
    data.mkdir(mode=0o755)
    instance.cli("init", "--quiet")
    instance.cli("mfa", "configure", "--mode", "disabled")
    instance.cli(
        "user", "create", "alice", "--email", "alice@example.com", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert not {"sekisho.sqlite3-wal", "sekisho.sqlite3-shm"} & set(os.listdir(data))
    seen: dict[str, set[int]] = {"sekisho.sqlite3-wal": set(), "sekisho.sqlite3-shm": set()}
    try:
        node = instance.start(workers=2)
        stop = threading.Event()
        results: list[str] = []

        def sign_ins() -> None:
            for _ in range(200):
                if stop.is_set():
                    return
                browser = Browser(node.url, origin=instance.base_url)
                results.append(browser.password("alice", PASSWORD))

        worker = threading.Thread(target=sign_ins, daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        try:
            while not all(seen.values()) and time.monotonic() < deadline and worker.is_alive():
                for name, bits in seen.items():
                    with contextlib.suppress(FileNotFoundError):  # gone between requests
                        bits.add(mode(data / name))
                time.sleep(0.002)
        finally:
            stop.set()
            worker.join(timeout=60)
        assert results and set(results) == {"/apps"}, results[:3]
        assert seen == {"sekisho.sqlite3-wal": {0o600}, "sekisho.sqlite3-shm": {0o600}}
        assert mode(data / "sekisho.sqlite3") == 0o600
    finally:
        instance.stop()
    assert_private(data)


def test_files_vanishing_during_the_walk_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server already running on the directory drops -wal/-shm between requests."""
    config = load_config({"SEKISHO_DATA": str(tmp_path / "data")})
    secure_data_dir(config)
    wal = config.data_dir / "sekisho.sqlite3-wal"
    wal.write_text("x")
    real_lstat = os.lstat

    def vanishing(path: os.PathLike[str] | str, *args: object, **kwargs: object) -> os.stat_result:
        if Path(path) == wal:
            raise FileNotFoundError(path)
        return real_lstat(path)

    monkeypatch.setattr("sekisho.instance.os.lstat", vanishing)
    assert secure_data_dir(config) == []
