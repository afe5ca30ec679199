"""Debian's nginx, unprivileged, on loopback, running docs/deploy/nginx.conf as documented.

Everything nginx needs lives in one throwaway directory: a CA and a server certificate made
with openssl, the documented server blocks with only ports and paths substituted, and the
pid file, logs and temporary paths (``nginx -p DIR -c DIR/nginx.conf -e DIR/error.log``,
``daemon off``). As root, nginx itself runs as ``nobody``, so the test never runs a
privileged server; the directory then belongs to ``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import REPO, free_port, stop_process_group

DOCUMENTED = REPO / "docs" / "deploy" / "nginx.conf"
_SBIN = os.pathsep.join(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
STARTUP_TIMEOUT = 20.0


def executable(name: str) -> str:
    """The path of a Debian program (nginx lives in /usr/sbin, off many users' PATH)."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + _SBIN)
    if found is None:
        pytest.skip(f"{name} is not installed (make test installs Debian's {name} package)")
    return found


@dataclass(frozen=True)
class Front:
    """nginx running in front of Sekisho."""

    https_port: int
    http_port: int
    directory: Path
    cafile: Path

    @property
    def public_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def error_log(self) -> str:
        return (self.directory / "error.log").read_text(errors="replace")


def make_certificates(directory: Path, openssl: str) -> None:
    """A throwaway CA (ca.pem) and a certificate for localhost it signed (server.pem/.key)."""

    def run(*args: str) -> None:
        done = subprocess.run(
            [openssl, *args], cwd=directory, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Sekisho test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    run("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
        "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip


def render_documented(*, https_port: int, http_port: int, upstream_port: int, d: Path) -> str:
    """docs/deploy/nginx.conf with loopback ports and throwaway paths; nothing else changed."""
    text = DOCUMENTED.read_text()
    substitutions = [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server_name idp.example.com;", "server_name localhost;"),
        ("https://idp.example.com$request_uri", f"https://localhost:{https_port}$request_uri"),
        ("/etc/ssl/sekisho/fullchain.pem", str(d / "server.pem")),
        ("/etc/ssl/sekisho/privkey.pem", str(d / "server.key")),
    ]
    for old, new in substitutions:
        assert old in text, f"docs/deploy/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    # Loopback IPv4 only: the IPv6 listeners are the documented ones' twins.
    return "\n".join(line for line in text.splitlines() if "listen [::]:" not in line) + "\n"


def main_config(d: Path) -> str:
    """What /etc/nginx/nginx.conf provides, with every path inside d."""
    return f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{
    worker_connections 64;
}}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/temp/client_body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    include {d}/sekisho.conf;
}}
"""


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, front: Front) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited ({proc.returncode}):\n{front.error_log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    pytest.fail(f"nginx did not listen on {port} in time:\n{front.error_log}")


@contextmanager
def run_nginx(*, https_port: int, upstream_port: int) -> Iterator[Front]:
    """nginx on 127.0.0.1:https_port (and a free port for plain HTTP) in front of upstream."""
    nginx = executable("nginx")
    openssl = executable("openssl")
    # Not under pytest's tmp_path: as root, nginx runs as nobody, who cannot enter it.
    directory = Path(tempfile.mkdtemp(prefix="sekisho-nginx-"))
    try:
        (directory / "temp").mkdir()
        make_certificates(directory, openssl)
        http_port = free_port()
        (directory / "sekisho.conf").write_text(
            render_documented(
                https_port=https_port, http_port=http_port, upstream_port=upstream_port, d=directory
            )
        )
        (directory / "nginx.conf").write_text(main_config(directory))
        front = Front(https_port, http_port, directory, directory / "ca.pem")
        (directory / "error.log").touch()
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        argv = [nginx, "-p", f"{directory}/", "-c", f"{directory}/nginx.conf"]
        argv += ["-e", f"{directory}/error.log"]
        check = subprocess.run(
            [*argv, "-t"], capture_output=True, text=True, check=False, **as_user
        )
        assert check.returncode == 0, f"nginx -t:\n{check.stderr}"
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **as_user,
        )
        try:
            _wait_for_port(proc, https_port, front)
            yield front
        finally:
            stop_process_group(proc)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
