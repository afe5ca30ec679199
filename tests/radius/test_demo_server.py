"""The demo's RADIUS server: PAP, Access-Challenge with an announced code, authenticators."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from sekisho.audit.writer import Actor
from sekisho.mfa import errors, radius, radius_demo
from sekisho.mfa.models import RadiusServer
from sekisho.mfa.radius_admin import server_configs

SECRET = b"demo-secret-for-the-test-0001"
USERS = {"agent1": "radius-demo"}


@pytest.fixture
def demo() -> Iterator[tuple[radius_demo.DemoRadiusServer, list[str]]]:
    said: list[str] = []
    server = radius_demo.start_demo_radius_server(secret=SECRET, users=USERS, announce=said.append)
    yield server, said
    server.stop()


def config(server: radius_demo.DemoRadiusServer) -> radius.ServerConfig:
    return radius.ServerConfig(
        name="demo", host=server.host, port=server.port, timeout=1.0, retries=0, secret=SECRET
    )


def announced_code(said: list[str]) -> str:
    match = re.fullmatch(r"the RADIUS demo server sent agent1 code (\d{6})", said[-1])
    assert match, said
    return match.group(1)


def test_password_then_the_announced_code(demo) -> None:
    server, said = demo
    asked = radius.authenticate([config(server)], username="agent1", password="radius-demo")
    assert isinstance(asked, radius.Challenge)
    assert asked.message == radius_demo.CHALLENGE_MESSAGE
    code = announced_code(said)
    done = radius.authenticate(
        [config(server)], username="agent1", password=code, state=asked.state
    )
    assert isinstance(done, radius.Accept)
    # One answer per challenge.
    again = radius.authenticate(
        [config(server)], username="agent1", password=code, state=asked.state
    )
    assert isinstance(again, radius.Reject)


def test_wrong_password_and_wrong_code_are_rejected(demo) -> None:
    server, said = demo
    assert isinstance(
        radius.authenticate([config(server)], username="agent1", password="nope"), radius.Reject
    )
    assert isinstance(
        radius.authenticate([config(server)], username="nobody", password="radius-demo"),
        radius.Reject,
    )
    assert said == []
    asked = radius.authenticate([config(server)], username="agent1", password="radius-demo")
    assert isinstance(asked, radius.Challenge)
    wrong = f"{(int(announced_code(said)) + 1) % 10**6:06d}"
    outcome = radius.authenticate(
        [config(server)], username="agent1", password=wrong, state=asked.state
    )
    assert isinstance(outcome, radius.Reject)


def test_requests_without_a_valid_message_authenticator_are_dropped(demo) -> None:
    server, _said = demo
    request = radius.build_request(SECRET, username="agent1", password=b"radius-demo")
    request.message_authenticator = None
    del request[radius.ATTR_MESSAGE_AUTHENTICATOR]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(request.RequestPacket(), (server.host, server.port))
        with pytest.raises(TimeoutError):
            sock.recv(4096)
    wrong_secret = radius.ServerConfig(
        name="demo", host=server.host, port=server.port, timeout=0.3, retries=0, secret=b"x"
    )
    with pytest.raises(errors.RadiusUnavailable):
        radius.authenticate([wrong_secret], username="agent1", password="radius-demo")


def test_replies_carry_a_message_authenticator(demo) -> None:
    server, _said = demo
    request = radius.build_request(SECRET, username="agent1", password=b"nope")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        sock.sendto(request.RequestPacket(), (server.host, server.port))
        data = sock.recv(4096)
    assert data[20:22] == bytes([80, 18])
    assert isinstance(radius.parse_reply(request, data), radius.Reject)


def test_garbage_does_not_stop_the_server(demo) -> None:
    server, _said = demo
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"\x01", b"\x01\x02\x00\x05" + bytes(16), bytes(4097)):
            sock.sendto(junk, (server.host, server.port))
    asked = radius.authenticate([config(server)], username="agent1", password="radius-demo")
    assert isinstance(asked, radius.Challenge)


@pytest.mark.django_db
def test_configure_demo_registers_replaces_and_removes_its_server(actor: Actor) -> None:
    said: list[str] = []
    first = radius_demo.configure_demo(users=USERS, announce=said.append, actor=actor)
    assert first is not None
    try:
        row = RadiusServer.objects.get(name=radius_demo.DEMO_SERVER_NAME)
        assert row.port == first.port and row.host == "127.0.0.1"
        [configured] = server_configs()
        asked = radius.authenticate([configured], username="agent1", password="radius-demo")
        assert isinstance(asked, radius.Challenge)
    finally:
        first.stop()
    # The next demo replaces the stale row of the last one.
    second = radius_demo.configure_demo(users=USERS, announce=said.append, actor=actor)
    assert second is not None
    assert RadiusServer.objects.get().port == second.port
    radius_demo.shutdown_demo(second, actor=actor)
    assert not RadiusServer.objects.exists()
    # Without serving, a stale row is removed and nothing is added.
    RadiusServer.objects.create(
        name=radius_demo.DEMO_SERVER_NAME,
        host="127.0.0.1",
        port=9,
        sealed_secret="stale",
        created_at=row.created_at,
    )
    serve = False
    assert radius_demo.configure_demo(users=USERS, announce=print, actor=actor, serve=serve) is None
    assert not RadiusServer.objects.exists()
