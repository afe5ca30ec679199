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
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.deploy.nginx import Front, run_nginx
from tests.servers import Instance, Node, free_port, served_instance

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
    """The Sekisho installation, its node, and the public port nginx listens on."""

    instance: Instance
    public_port: int

    @property
    def node(self) -> Node:
        return self.instance.nodes[0]

    @property
    def public_url(self) -> str:
        return f"https://localhost:{self.public_port}"

    def audit(self) -> list[dict[str, Any]]:
        """Every audit record so far (CloudTrail's shape), oldest first."""
        lines = self.instance.cli("audit", "tail", "-n", "100000").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`sekisho serve` configured for nginx on ``public_port``, with users, an app, a policy."""
    root = tmp_path_factory.mktemp("sekisho-deploy")
    public_port = free_port()
    with served_instance(root, public_url=f"https://localhost:{public_port}") as instance:
        for name in USERS:
            instance.cli(
                "user", "create", name, "--email", f"{name}@example.com", "--password-stdin",
                stdin=PASSWORD + "\n",
            )  # fmt: skip
        instance.cli(
            "app", "create-amazon-connect", "connect",
            "--region", "ap-northeast-1",
            "--instance-id", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "--account-id", "111122223333",
            "--role-name", "ConnectFederationRole",
            "--provider-name", "Sekisho",
            "--signin-url", f"https://localhost:{public_port}/saml/inspector",
        )  # fmt: skip
        instance.cli("app", "assign", "connect", "--user", "alice")
        policy = root / "secure-only.json"
        policy.write_text(json.dumps(SECURE_ONLY))
        instance.cli("policy", "put", "SecureOnly", str(policy))
        instance.cli("policy", "attach", "SecureOnly", "--idp")
        instance.cli("policy", "detach", "AllowAll", "--idp")
        # One worker: a request stuck in Sekisho would show (test_nginx's slow upload).
        instance.start(workers=1, environ={"SEKISHO_TRUSTED_PROXIES": f"{PROXY_ADDRESS}/32"})
        yield Deployment(instance=instance, public_port=public_port)


@pytest.fixture(scope="session")
def front(deployment: Deployment) -> Iterator[Front]:
    """nginx with docs/deploy/nginx.conf on the deployment's public port."""
    with run_nginx(https_port=deployment.public_port, upstream_port=deployment.node.port) as f:
        yield f
