"""The emulated AWS behind a proxy: aws:SourceIp, aws:SecureTransport and SigV4's Host follow
the same trusted resolution as the IdP (issue 9, "Proxies").

A real boto3 client's requests reach ``/aws`` through Django's test client, either straight
from an untrusted peer or through a trusted proxy that forwards the client's address,
scheme and Host (and rewrites Host to its upstream's name, as proxies may).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from sekisho.config import get_config
from sekisho.emulator import accounts
from sekisho.emulator.models import Role
from sekisho.web import middleware
from tests.emulator.test_iam_service import DjangoAws, code_of, seed_setup, session_client

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "123123123123"
PROXY = "192.0.2.10"
CLIENT = "198.51.100.7"


class ProxiedAws(DjangoAws):
    """DjangoAws whose requests carry extra headers and a rewritten Host, as a proxy's do."""

    def __init__(self) -> None:
        super().__init__()
        self.extra: dict[str, str] = {}
        self.upstream_host: str | None = None

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> AWSResponse:
        sent = {**headers, **self.extra}
        if self.upstream_host is not None:
            sent = {k: v for k, v in sent.items() if k.lower() != "host"}
            sent["Host"] = self.upstream_host
        return super().send(method, url, sent, body)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> ProxiedAws:
    trusted = dataclasses.replace(
        get_config(), trusted_proxies=(ipaddress.ip_network("192.0.2.0/24"),)
    )
    monkeypatch.setattr(middleware, "get_config", lambda: trusted)
    return ProxiedAws()


@pytest.fixture
def agent(aws: ProxiedAws) -> Any:
    """A role session whose GetRole needs TLS and the client's address."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    seed_setup(aws.boto("iam", key_id, secret))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetRole",
                "Resource": "*",
                "Condition": {
                    "Bool": {"aws:SecureTransport": "true"},
                    "IpAddress": {"aws:SourceIp": f"{CLIENT}/32"},
                },
            }
        ],
    }
    aws.boto("iam", key_id, secret).put_role_policy(
        RoleName="ConnectFederation", PolicyName="tls", PolicyDocument=json.dumps(policy)
    )
    return session_client(aws, "ConnectFederation")


def test_through_a_trusted_proxy_the_clients_address_and_tls_count(
    aws: ProxiedAws, agent: Any
) -> None:
    aws.remote_addr = PROXY
    aws.extra = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
    role = agent.get_role(RoleName="ConnectFederation")["Role"]
    assert role["RoleId"] == Role.objects.get(name="ConnectFederation").role_id


def test_a_proxy_that_rewrites_host_still_verifies_sigv4_with_the_clients_host(
    aws: ProxiedAws, agent: Any
) -> None:
    aws.remote_addr = PROXY
    aws.upstream_host = "127.0.0.1:9000"
    aws.extra = {
        "Forwarded": f'for={CLIENT};proto=https;host="localhost:8000"',
    }
    assert agent.get_role(RoleName="ConnectFederation")["Role"]["RoleName"] == "ConnectFederation"
    aws.extra = {}  # without the forwarded Host the signature covers a host it never reached
    with pytest.raises(ClientError) as info:
        agent.get_role(RoleName="ConnectFederation")
    assert code_of(info) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "spoof",
    [
        {"X-Forwarded-Proto": "https"},
        {"Forwarded": "proto=https"},
        {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"},
    ],
)
def test_an_untrusted_peer_claiming_tls_is_denied(
    aws: ProxiedAws, agent: Any, spoof: dict[str, str]
) -> None:
    aws.remote_addr = CLIENT  # the right address, but no TLS and no proxy to vouch for it
    aws.extra = spoof
    with pytest.raises(ClientError) as info:
        agent.get_role(RoleName="ConnectFederation")
    assert code_of(info) == "AccessDenied"
