"""A UDP server on 127.0.0.1 that answers with bad authenticators: discarded, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.mfa import errors, radius, radius_admin
from sekisho.mfa.models import RadiusAccount
from tests.conftest import password_step
from tests.radius.conftest import ALICE, FreeRadius

SECRET = b"forger-does-not-know-this-secret"


def forged_accept(request: bytes, *, how: str) -> bytes:
    """An Access-Accept to ``request`` that fails one check (RFC 2865 §3, RFC 3579 §3.2)."""
    key = b"a guessed secret" if how == "response" else SECRET
    zeroed = bytes([80, 18]) + bytes(16)
    header = struct.pack("!BBH", radius.ACCESS_ACCEPT, request[1], 20 + len(zeroed))
    mac = hmac.new(key, header + request[4:20] + zeroed, "md5").digest()
    if how == "message":
        mac = bytes(16)  # the Response Authenticator below is right, the HMAC is not
    body = bytes([80, 18]) + mac
    authenticator = hashlib.md5(header + request[4:20] + body + key).digest()
    return header + authenticator + body


class Forger:
    """Answers every datagram at once with a forged Access-Accept."""

    def __init__(self, how: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.how = how
        self.answered = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.sock.sendto(forged_accept(data, how=self.how), peer)
            self.answered += 1

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def config(self, *, timeout: float = 0.3) -> radius.ServerConfig:
        return radius.ServerConfig(
            name=f"forger-{self.how}",
            host="127.0.0.1",
            port=self.port,
            timeout=timeout,
            retries=0,
            secret=SECRET,
        )


@pytest.fixture(params=["response", "message"])
def forger(request: pytest.FixtureRequest) -> Iterator[Forger]:
    server = Forger(request.param)
    yield server
    server.stop()


@pytest.fixture
def radius_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("sekisho.mfa.radius")
    previous = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(previous)


def test_forged_replies_are_discarded_and_reported(
    forger: Forger, radius_log: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(errors.RadiusBadAuthenticator) as caught:
        radius.authenticate([forger.config()], username="alice", password="123456")
    assert forger.answered == 1
    assert caught.value.code == "mfa_radius_bad_authenticator"
    expected = "Response Authenticator" if forger.how == "response" else "Message-Authenticator"
    assert f"bad {expected}" in radius_log.text
    assert SECRET.decode() not in radius_log.text and "123456" not in radius_log.text


def test_failover_past_a_forger_to_freeradius(forger: Forger, freeradius: FreeRadius) -> None:
    outcome = radius.authenticate(
        [forger.config(), freeradius.config("live")], username=ALICE[0], password=ALICE[1]
    )
    assert outcome == radius.Accept(server="live", message="")


@pytest.mark.django_db
def test_the_page_says_unavailable_and_the_audit_names_the_cause(
    forger: Forger, make_user, clock, client: Client, actor
) -> None:
    radius_admin.add_server(
        "forger",
        host="127.0.0.1",
        port=forger.port,
        secret=SECRET,
        timeout=0.3,
        retries=0,
        actor=actor,
    )
    user = make_user(ALICE[0])
    RadiusAccount.objects.create(user=user, confirmed_at=clock.now(), name="token")
    assert password_step(client, ALICE[0]) == "/signin/mfa"
    response = client.post("/signin/mfa/radius", {"code": ALICE[1]})
    assert response.status_code == 503
    assert "answer could not be verified" in response.content.decode()
    [event] = [
        row
        for row in AuditRecord.objects.filter(event_name="CredentialVerification")
        if row.record["additionalEventData"]["CredentialType"] == "RADIUS"
    ]
    assert event.record["additionalEventData"]["FailureReason"] == "mfa_radius_bad_authenticator"
    assert event.record["serviceEventDetails"]["CredentialVerification"] == "Failure"
    assert ALICE[1] not in str(event.record) and SECRET.decode() not in str(event.record)
