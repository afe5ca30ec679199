"""How Sekisho is served: the one command line that `sekisho serve` and the demo both run.

gunicorn also reads this module as its configuration (``-c python:sekisho.serving``): of
its top-level names, exactly those that are gunicorn settings take effect, namely the
server hooks ``on_starting`` and ``child_exit`` and ``logconfig_dict``
(``GUNICORN_SETTINGS`` lists them; a test keeps that list honest). The hooks give every
worker of a server one metrics directory, emptied at start, so a scrape answered by any
worker sums them all.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sekisho.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = "metrics"
GUNICORN_SETTINGS = ("on_starting", "child_exit", "logconfig_dict")
# gunicorn's default access line, without the query string and the Referer: both can carry
# a SAMLRequest, a RelayState or a federation token (`?token=`), which are never logged.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


def bind_address(host: str, port: int) -> str:
    """gunicorn's --bind value (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_command(
    *, host: str, port: int, workers: int, log_format: str | None = None
) -> list[str]:
    """The server's argv: gunicorn running Sekisho's WSGI application.

    With ``log_format`` ``json`` (default: SEKISHO_LOG_FORMAT) gunicorn writes no access
    log: Sekisho's request middleware logs each request as JSON, with its route.
    """
    if log_format is None:
        from sekisho.config import get_config

        log_format = get_config().log_format
    access_log = [] if log_format == "json" else ["--access-logfile", "-"]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:sekisho.serving",
        "--bind",
        bind_address(host, port),
        "--workers",
        str(workers),
        *access_log,
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        # Sekisho reads forwarded headers itself, and only from SEKISHO_TRUSTED_PROXIES.
        "--forwarded-allow-ips",
        "",
        # gunicorn's shared $HOME control socket would make two instances collide.
        "--no-control-socket",
        "sekisho.wsgi:application",
    ]


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


def forget_worker(pid: int) -> None:
    """A worker exited: drop its live-gauge files (its counters stay in the sums)."""
    if MULTIPROC_ENV not in os.environ:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# ------------------------------------------------- gunicorn settings (see the module doc)


def on_starting(server: Any) -> None:
    """gunicorn hook, in the master before any worker exists: one metrics dir for all."""
    from sekisho.config import get_config

    try:
        use_metrics_dir(metrics_dir(get_config().data_dir, list(server.cfg.bind)))
    except ConfigError as exc:
        raise RuntimeError(exc.message) from None  # gunicorn prints it as one line, exit 1


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the master when a worker has exited."""
    forget_worker(int(worker.pid))


def gunicorn_logging() -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its own lines as JSON when SEKISHO_LOG_FORMAT=json.

    Read from the environment directly: the master has no Django settings.
    """
    if os.environ.get("SEKISHO_LOG_FORMAT", "").strip().lower() != "json":
        return {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": {"()": "sekisho.logs.JsonFormatter"}},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            # Sekisho's middleware writes the access log (with routes) in JSON mode.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
    }


logconfig_dict = gunicorn_logging()
