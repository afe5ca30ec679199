"""How Sekisho is served: the one server command line that `sekisho serve` and the demo run.

The server is granian (a Rust HTTP/1.1 server) in ASGI mode in front of Sekisho's WSGI
application (sekisho/asgi.py): granian's event loop holds connections and drops a client
whose headers take longer than ``HEADER_TIMEOUT_MS``; the ASGI guard reads each body
within its own deadline; complete requests run on one thread per worker process. Why this
and not gunicorn's sync workers is measured in README, "Serving".

Before starting the server, its launcher prepares one metrics directory for all workers
(prometheus_client's multiprocess mode) and, for JSON logs, granian's logging config.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sekisho.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = "metrics"
# A client has this long to send its request line and headers (then the connection ends).
HEADER_TIMEOUT_MS = 10_000
# Requests one worker handles at once, slow ones included (they cost a coroutine each).
BACKPRESSURE = 2048
# How long a stopping worker may finish the requests it has before it is killed.
STOP_TIMEOUT_SECONDS = 30


def bind_address(host: str, port: int) -> str:
    """The listening address as one string (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_command(
    *, host: str, port: int, workers: int, log_config: Path | None = None
) -> list[str]:
    """The server's argv: granian serving sekisho.asgi (see the module docstring).

    granian writes no access log: Sekisho's request middleware logs every request (with
    its route, without its query string), plain or JSON alike.
    """
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        # uvloop, never "auto" (which depends on what happens to be installed): measured in
        # README, Serving.
        "--loop",
        "uvloop",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--http",
        "1",
        "--no-ws",
        "--http1-header-read-timeout",
        str(HEADER_TIMEOUT_MS),
        "--backpressure",
        str(BACKPRESSURE),
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        str(STOP_TIMEOUT_SECONDS),
        "--no-access-log",
    ]
    if log_config is not None:
        argv += ["--log-config", str(log_config)]
    return [*argv, "sekisho.asgi:application"]


def prepare_server(data_dir: Path, *, host: str, port: int, log_format: str) -> Path | None:
    """Ready a server's runtime files and environment; returns granian's log config, if any.

    One metrics directory for all of the server's workers (emptied of a previous run's
    counters) goes into this process's environment, which the server inherits.
    """
    use_metrics_dir(metrics_dir(data_dir, [bind_address(host, port)]))
    if log_format != "json":
        return None
    path = Path(os.environ[MULTIPROC_ENV]).with_suffix(".logging.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(granian_logging(), handle)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return path


def granian_logging() -> dict[str, Any]:
    """granian's own lines (start, workers, errors) as JSON, like Sekisho's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "sekisho.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def loopback_for(host: str) -> str:
    """The address a local client reaches a server bound to ``host`` at."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a comparison, not a bind
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def metrics_dir(data_dir: Path, binds: Sequence[str]) -> Path:
    """``<data>/metrics/<bind>``: one directory per server, named by where it listens.

    Servers on one machine may share a data directory (SQLite); no two listen at the same
    address, so each empties and sums only its own workers' files.
    """
    name = "+".join(re.sub(r"[^A-Za-z0-9.-]", "_", bind) for bind in binds) or "default"
    return data_dir / METRICS_DIR / name[:200]


def prepare_metrics_dir(path: Path) -> Path:
    """Create the directory owner-only and remove the counters of a previous run.

    Each process of a multi-process server writes its counters to files named by its pid
    there (prometheus_client's multiprocess mode); only those ``*.db`` files are removed.
    """
    try:
        for directory in (path.parent, path):
            directory.mkdir(mode=0o700, exist_ok=True)
            if directory.is_symlink() or not directory.is_dir():
                raise ConfigError(f"{directory} must be a directory")
            directory.chmod(0o700)
        for stale in path.glob("*.db"):
            stale.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot prepare the metrics directory {path}: {exc.strerror}") from None
    return path


def use_metrics_dir(path: Path) -> Path:
    """Prepare the metrics directory and point this process and its children at it.

    Must run before prometheus_client is imported: it picks its storage once, at import.
    """
    prepare_metrics_dir(path)
    os.environ[MULTIPROC_ENV] = str(path)
    return path
