"""Fixtures for browser tests: `sekisho demo` in a subprocess (Chromium: tests/chromium.py).

These tests never touch the pytest-django database: they talk to the demo server over
HTTP on loopback, exactly as a person who ran `make demo` would. In the suite's
PostgreSQL pass the demo runs on a fresh database of the test cluster (production's
stack), otherwise on SQLite in its data directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 - kept importable from here
from tests.servers import free_port, served_database, stop_process_group

STARTUP_TIMEOUT = 60.0  # seconds: migrations, key generation and server boot
_PASSWORD_LINE = re.compile(r"^\s*password\s+(\S+)", re.MULTILINE)
_OPEN_LINE = re.compile(r"Open\s+(\S+)/signin\s", re.MULTILINE)


class DemoServer(NamedTuple):
    """What a person gets from `make demo`: the URL to open and agent1's one-time password."""

    base_url: str
    password: str


def _demo_command(port: int) -> list[str]:
    args = ["demo", "--host", "127.0.0.1", "--port", str(port)]
    try:
        import sekisho.cli.main  # noqa: F401
    except ImportError:  # pragma: no cover - only when the package is not importable
        script = shutil.which("sekisho", path=str(Path(sys.executable).parent))
        if script is None:
            pytest.fail("neither `python -m sekisho.cli.main` nor a `sekisho` script is available")
        return [script, *args]
    return [sys.executable, "-m", "sekisho.cli.main", *args]


def _wait_for_password(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        match = _PASSWORD_LINE.search(text)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            pytest.fail(f"`sekisho demo` exited ({proc.returncode}) before a password:\n{text}")
        time.sleep(0.1)
    pytest.fail(f"`sekisho demo` printed no password in time:\n{log.read_text()}")


def _wait_for_http(proc: subprocess.Popen[bytes], url: str, log: Path, deadline: float) -> None:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`sekisho demo` exited ({proc.returncode}) early:\n{log.read_text()}")
        try:
            # No proxy: a proxy from the environment must never see loopback test traffic.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in time ({last_error}):\n{log.read_text()}")


@pytest.fixture(scope="session")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo server's stdout and stderr (its printout, audit lines, access log)."""
    return tmp_path_factory.mktemp("sekisho-demo-log") / "demo.log"


_DATABASE_FILE = "database-url"


def demo_env(root: Path) -> dict[str, str]:
    """The environment of a demo whose data lives in root/data (never the tests' database)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SEKISHO_BASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["SEKISHO_DATA"] = str(root / "data")
    database = root / _DATABASE_FILE
    if database.exists():
        env["DATABASE_URL"] = database.read_text()
    return env


def demo_cli(root: Path, *argv: str) -> str:
    """Run `sekisho ARGV…` against the demo in root, as its administrator would; stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "sekisho.cli.main", *argv],
        env=demo_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (argv, done.stderr)
    return done.stdout


# What tests that are not about the first sign-in give agent1 instead of the temporary one.
KNOWN_PASSWORD = "agent one's everyday passphrase"


@contextmanager
def run_demo(root: Path, log: Path, *, known_password: bool = False) -> Iterator[DemoServer]:
    """`sekisho demo` on a free loopback port with a fresh data directory in root.

    On PostgreSQL when the suite runs on PostgreSQL (a fresh database), else SQLite.
    ``known_password``: agent1 gets KNOWN_PASSWORD (not temporary) through the CLI, as an
    administrator would, so the test's sign-ins skip the first sign-in's password change.
    """
    with served_database() as database_url:
        if database_url is not None:
            (root / _DATABASE_FILE).write_text(database_url)
        with _run_demo(root, log) as server:
            if known_password:
                _set_password(root, KNOWN_PASSWORD)
                server = server._replace(password=KNOWN_PASSWORD)
            yield server


def _set_password(root: Path, password: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sekisho.cli.main",
            "user",
            "set-password",
            "agent1",
            "--password-stdin",
        ],
        env=demo_env(root),
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def _run_demo(root: Path, log: Path) -> Iterator[DemoServer]:
    runtime_dir = root / "run"  # the server's runtime files go here, not in $HOME
    runtime_dir.mkdir(mode=0o700)
    port = free_port()
    env = demo_env(root)
    env.update(XDG_RUNTIME_DIR=str(runtime_dir), PYTHONUNBUFFERED="1")
    # Output goes to a file, not a pipe: the access log would fill an undrained pipe.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _demo_command(port),
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        password = _wait_for_password(proc, log, deadline)
        base_url = f"http://localhost:{port}"
        opened = _OPEN_LINE.search(log.read_text())
        assert opened is not None and opened.group(1) == base_url, log.read_text()
        _wait_for_http(proc, f"{base_url}/signin", log, deadline)
        yield DemoServer(base_url=base_url, password=password)
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory, demo_log: Path) -> Iterator[DemoServer]:
    """The shared `sekisho demo` of the browser tests."""
    with run_demo(tmp_path_factory.mktemp("sekisho-demo"), demo_log) as server:
        yield server


@pytest.fixture(scope="session")
def demo_printout(demo_server: DemoServer, demo_log: Path) -> str:
    """Everything `sekisho demo` printed (its instructions, commands, endpoint and keys)."""
    return demo_log.read_text(errors="replace")


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $SEKISHO_SCREENSHOTS for a manual look, else the test's tmp_path."""
    target = Path(os.environ.get("SEKISHO_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
