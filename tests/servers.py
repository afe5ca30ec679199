"""Helpers for tests that run real `sekisho serve` processes on loopback."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's main process and workers (one process group), then reap it."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # The master is gone; make sure no worker of its group outlived it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        break
    if proc.poll() is None:
        proc.wait(timeout=5)


# ---------------------------------------------------------------- served instances

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0  # seconds: migrations, key generation and server boot
CLI_TIMEOUT = 120.0
# urllib's default opener honours HTTP_PROXY; this one always connects directly.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def suite_database_url() -> str | None:
    """The PostgreSQL server this test run uses (the suite's DATABASE_URL), else None."""
    return os.environ.get("DATABASE_URL") or None


@contextlib.contextmanager
def served_database() -> Iterator[str | None]:
    """A fresh, empty database for a served instance: on PostgreSQL when the suite runs on
    PostgreSQL (a new database on the same cluster, dropped afterwards), else None (SQLite
    in the instance's data directory). Never the pytest-django database."""
    base = suite_database_url()
    if base is None:
        yield None
        return
    import psycopg

    name = f"served_{secrets.token_hex(6)}"
    parts = urlsplit(base)
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sekisho_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a `sekisho` process on ``data`` alone: SQLite unless ``extra``
    names a DATABASE_URL, never the suite's database, never through a proxy."""
    env = _environment(data, "http://localhost:8000", None)
    env.update(extra)
    return env


def run_sekisho(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `sekisho ARGS` as a new process, as its administrator would; never raises on
    failure, so refusals (exit status, one line on stderr) can be looked at."""
    return subprocess.run(
        [sys.executable, "-m", "sekisho.cli.main", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def _environment(data: Path, base_url: str, database_url: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SEKISHO_BASE_URL")
        and not key.lower().endswith("_proxy")  # loopback only: never through a proxy
    }
    env.update(SEKISHO_DATA=str(data), SEKISHO_BASE_URL=base_url, PYTHONUNBUFFERED="1")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


@dataclass
class Node:
    """One `sekisho serve` process."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Where a client reaches this node (the address it is bound to)."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server and its workers."""
        stop_process_group(self.proc)


@dataclass
class Instance:
    """A Sekisho installation as an operator has it: a data directory, perhaps PostgreSQL,
    the `sekisho` CLI, and any number of served nodes sharing the database."""

    root: Path
    port: int  # the first node's, and the base URL's unless public_url says otherwise
    database_url: str | None
    nodes: list[Node] = field(default_factory=list)
    public_url: str | None = None  # SEKISHO_BASE_URL when a proxy answers elsewhere

    @property
    def base_url(self) -> str:
        """SEKISHO_BASE_URL: what a load balancer in front of every node would answer at."""
        return self.public_url or f"http://localhost:{self.port}"

    @property
    def data(self) -> Path:
        """The first node's data directory (the CLI's)."""
        return self.root / "data"

    def env(self, data: Path | None = None) -> dict[str, str]:
        """The environment of a Sekisho process of this instance."""
        return _environment(data or self.data, self.base_url, self.database_url)

    def cli(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        """Run `sekisho ARGS` as the operator would; its stdout."""
        return self.run_cli(*args, stdin=stdin, check=check, extra_env=extra_env).stdout

    def run_cli(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `sekisho ARGS` (with ``extra_env`` added); the finished process."""
        done = subprocess.run(
            [sys.executable, "-m", "sekisho.cli.main", *args],
            cwd=REPO,
            env=self.env() | (extra_env or {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"sekisho {' '.join(args)}: {done.stderr}{done.stdout}"
        return done

    def node_data(self, name: str) -> Path:
        """Another node's data directory, holding copies of the first node's keys.

        That is how a second host is set up: master.key and the signing key copied over,
        the database (PostgreSQL) shared. On SQLite the database is a file in the data
        directory, so nodes sharing it are processes of one machine sharing that directory.
        """
        if self.database_url is None:
            return self.data
        target = self.root / name
        if not target.exists():
            target.mkdir(mode=0o700)
            for key in ("master.key", "idp-signing.key", "idp-signing.crt"):
                shutil.copy2(self.data / key, target / key)
        return target

    def start(
        self,
        *,
        port: int | None = None,
        workers: int = 2,
        data: Path | None = None,
        environ: dict[str, str] | None = None,
    ) -> Node:
        """Start a node (`sekisho serve`, with extra ``environ``) and wait until it answers."""
        port = port or (free_port() if self.nodes else self.port)
        log = self.root / f"serve-{port}.log"
        runtime = self.root / f"run-{port}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env = self.env(data)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        env.update(environ or {})
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
                    str(workers),
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = Node(proc=proc, port=port, log=log)
        self.nodes.append(node)
        wait_for_http(proc, f"{node.url}/saml/metadata", log)
        return node

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def wait_for_http(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait until ``url`` answers 200, failing the test if the server exits or never does."""
    import pytest

    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}) early:\n{log.read_text()}")
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in time ({last_error}):\n{log.read_text()}")


@contextlib.contextmanager
def served_instance(root: Path, *, public_url: str | None = None) -> Iterator[Instance]:
    """A fresh installation in ``root`` (initialised; no node started yet)."""
    port = free_port()
    with served_database() as database_url:
        instance = Instance(root=root, port=port, database_url=database_url, public_url=public_url)
        instance.cli("init", "--quiet")
        try:
            yield instance
        finally:
            instance.stop()
