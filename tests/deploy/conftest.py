"""One deployment as the docs describe it: `sekisho serve` behind nginx on loopback.

Sekisho's public URL is nginx's (``https://localhost:<port>``) and its only trusted proxy is
nginx's address, 127.0.0.1. Browsers connect from 127.0.0.2, so the address nginx forwards
is distinguishable from the proxy's own. The IdP policy admits sign-in and launches over
secure transport only, and launches only from 127.0.0.2: both decisions depend on what
Sekisho resolved from the forwarded headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.deploy.nginx import Front, run_nginx
from tests.deploy.sekisho_server import SekishoServer, run_sekisho
from tests.servers import free_port

BROWSER_ADDRESS = "127.0.0.2"
PROXY_ADDRESS = "127.0.0.1"
SPOOFED_ADDRESS = "203.0.113.9"
USERS = ("alice", "bob", "carol", "dave")
SECURE_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sekisho:SignIn",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "sekisho:LaunchApplication",
            "Resource": "*",
            "Condition": {
                "Bool": {"aws:SecureTransport": "true"},
                "IpAddress": {"aws:SourceIp": f"{BROWSER_ADDRESS}/32"},
            },
        },
    ],
}


@dataclass(frozen=True)
class Deployment:
    """The Sekisho server and the public port nginx listens on (if it is started)."""

    server: SekishoServer
    public_port: int
    root: Path

    @property
    def public_url(self) -> str:
        return f"https://localhost:{self.public_port}"


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`sekisho serve` configured for nginx on ``public_port``, with users, an app, a policy."""
    root = tmp_path_factory.mktemp("sekisho-deploy")
    public_port = free_port()
    with run_sekisho(
        root,
        base_url=f"https://localhost:{public_port}",
        trusted_proxies=f"{PROXY_ADDRESS}/32",
    ) as server:
        for name in USERS:
            server.cli(
                "user", "create", name, "--email", f"{name}@example.com", "--password-stdin",
                stdin=PASSWORD + "\n",
            )
        server.cli(
            "app", "create-amazon-connect", "connect",
            "--region", "ap-northeast-1",
            "--instance-id", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "--account-id", "111122223333",
            "--role-name", "ConnectFederationRole",
            "--provider-name", "Sekisho",
            "--signin-url", f"https://localhost:{public_port}/saml/inspector",
        )
        server.cli("app", "assign", "connect", "--user", "alice")
        policy = root / "secure-only.json"
        policy.write_text(json.dumps(SECURE_ONLY))
        server.cli("policy", "put", "SecureOnly", str(policy))
        server.cli("policy", "attach", "SecureOnly", "--idp")
        server.cli("policy", "detach", "AllowAll", "--idp")
        yield Deployment(server=server, public_port=public_port, root=root)


@pytest.fixture(scope="session")
def front(deployment: Deployment) -> Iterator[Front]:
    """nginx with docs/deploy/nginx.conf on the deployment's public port."""
    with run_nginx(https_port=deployment.public_port, upstream_port=deployment.server.port) as f:
        yield f
