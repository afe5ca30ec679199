"""How Sekisho is served: the one command line that `sekisho serve` and the demo both run."""

from __future__ import annotations

import sys


def bind_address(host: str, port: int) -> str:
    """gunicorn's --bind value (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_command(*, host: str, port: int, workers: int) -> list[str]:
    """The server's argv: gunicorn running Sekisho's WSGI application."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind_address(host, port),
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
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
