"""A real `sekisho serve` (gunicorn) on loopback, configured as an operator would configure it.

The server gets its own SQLite data directory, its environment (``SEKISHO_BASE_URL``,
``SEKISHO_TRUSTED_PROXIES``) and is administered through the `sekisho` command, never
through the pytest-django database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, stop_process_group

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0  # seconds: migrations, key generation and gunicorn boot
CLI_TIMEOUT = 60.0
# urllib's default opener honours HTTP_PROXY; this one always connects directly.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class SekishoServer:
    """A running `sekisho serve`: where it listens and how to administer it."""

    port: int
    env: dict[str, str]
    log: Path

    @property
    def direct_url(self) -> str:
        """gunicorn itself, without any proxy in front."""
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `sekisho ARGS` against this server's data directory; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "sekisho.cli.main", *args],
            cwd=REPO,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"sekisho {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    def audit(self) -> list[dict[str, Any]]:
        """Every audit record so far (CloudTrail's shape), oldest first."""
        lines = self.cli("audit", "tail", "-n", "100000").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def _wait_for_http(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`sekisho serve` exited ({proc.returncode}) early:\n{log.read_text()}")
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in time ({last_error}):\n{log.read_text()}")


@contextmanager
def run_sekisho(
    root: Path, *, base_url: str, trusted_proxies: str = "", database_url: str | None = None
) -> Iterator[SekishoServer]:
    """`sekisho init` then `sekisho serve --workers 1` on a free port of 127.0.0.1.

    The database is a fresh SQLite file in root unless ``database_url`` names another.
    """
    root.mkdir(parents=True, exist_ok=True)
    runtime_dir = root / "run"  # gunicorn's control socket goes here, not in $HOME
    runtime_dir.mkdir(mode=0o700)
    log = root / "serve.log"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
        and not key.startswith("SEKISHO_")
        and not key.lower().endswith("_proxy")  # loopback only: never through a proxy
    }
    env.update(
        SEKISHO_DATA=str(root / "data"),
        SEKISHO_BASE_URL=base_url,
        SEKISHO_TRUSTED_PROXIES=trusted_proxies,
        XDG_RUNTIME_DIR=str(runtime_dir),
        PYTHONUNBUFFERED="1",
    )
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    server = SekishoServer(port=port, env=env, log=log)
    server.cli("init", "--quiet")
    # Output goes to a file, not a pipe: gunicorn's access log would fill an undrained pipe.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sekisho.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_http(proc, f"{server.direct_url}/saml/metadata", log)
        yield server
    finally:
        stop_process_group(proc)
