"""The RADIUS client without a network: packets, reply checks, failover, bad input, no leaks.

Replies are built here independently of pyrad (struct, MD5, HMAC-MD5 straight from
RFC 2865 §3 and RFC 3579 §3.2), so the client is not only checked against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from sekisho.mfa import errors, radius

SECRET = b"unit-test-shared-secret-7d1e"
CODE = "open sesame 424242"

Answer = Callable[[bytes], bytes | None]


# ---------------------------------------------------------------- RFC helpers (independent)


def attributes(raw: bytes) -> list[tuple[int, bytes]]:
    """The (type, value) pairs of a packet, in order."""
    found, body = [], raw[20 : struct.unpack("!H", raw[2:4])[0]]
    while body:
        kind, length = body[0], body[1]
        found.append((kind, body[2:length]))
        body = body[length:]
    return found


def unhide(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2 in reverse: c(i) XOR MD5(S + c(i-1)), c(0) the Request Authenticator."""
    out, last = b"", authenticator
    for i in range(0, len(hidden), 16):
        block = hidden[i : i + 16]
        pad = hashlib.md5(secret + last).digest()
        out += bytes(a ^ b for a, b in zip(block, pad, strict=True))
        last = block
    return out.rstrip(b"\x00")


def reply(
    request: bytes,
    code: int,
    attrs: list[tuple[int, bytes]] = (),  # type: ignore[assignment]
    *,
    secret: bytes = SECRET,
    message_authenticator: bool = True,
    identifier: int | None = None,
    bad_response_authenticator: bool = False,
    bad_message_authenticator: bool = False,
    padding: bytes = b"",
) -> bytes:
    """A reply as a server computes it (RFC 2865 §3, RFC 3579 §3.2)."""
    ident = request[1] if identifier is None else identifier
    request_authenticator = request[4:20]
    body = b"".join(bytes([kind, len(value) + 2]) + value for kind, value in attrs)
    if message_authenticator:
        zeroed = bytes([80, 18]) + bytes(16) + body
        header = struct.pack("!BBH", code, ident, 20 + len(zeroed))
        mac = hmac.new(secret, header + request_authenticator + zeroed, "md5").digest()
        if bad_message_authenticator:
            mac = bytes([mac[0] ^ 1]) + mac[1:]
        body = bytes([80, 18]) + mac + body
    header = struct.pack("!BBH", code, ident, 20 + len(body))
    authenticator = hashlib.md5(header + request_authenticator + body + secret).digest()
    if bad_response_authenticator:
        authenticator = bytes([authenticator[0] ^ 1]) + authenticator[1:]
    return header + authenticator + body + padding


def accept(**kwargs: object) -> Answer:
    return lambda request: reply(request, radius.ACCESS_ACCEPT, **kwargs)  # type: ignore[arg-type]


def reject(message: bytes = b"") -> Answer:
    attrs = [(18, message)] if message else []
    return lambda request: reply(request, radius.ACCESS_REJECT, attrs)


def silence(request: bytes) -> None:
    return None


# ---------------------------------------------------------------- an injected transport


@dataclass
class FakeChannel:
    """Answers each receive() with the next scripted answer to the last datagram sent."""

    answers: list[Answer]
    sent: list[bytes] = field(default_factory=list)
    closed: bool = False

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def receive(self, timeout: float) -> bytes | None:
        assert timeout > 0
        if not self.answers:
            return None
        return self.answers.pop(0)(self.sent[-1])

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTransport:
    """A FakeChannel per host; records which hosts were contacted, in order."""

    channels: dict[str, FakeChannel]
    opened: list[str] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)

    def __call__(self, host: str, port: int) -> FakeChannel:
        self.opened.append(host)
        if host in self.unreachable:
            raise OSError(113, "No route to host")
        return self.channels[host]


def server(name: str, *, retries: int = 0, secret: bytes = SECRET) -> radius.ServerConfig:
    return radius.ServerConfig(
        name=name, host=name, port=1812, timeout=0.5, retries=retries, secret=secret
    )


@pytest.fixture
def radius_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the client's log ("sekisho" does not propagate to the root logger)."""
    logger = logging.getLogger("sekisho.mfa.radius")
    previous = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(previous)


# ---------------------------------------------------------------- packets


@pytest.mark.parametrize(
    "password",
    [
        b"1",
        b"123456",
        b"sixteen-octets!!",
        b"seventeen octets!",
        "秘密 271828".encode(),
        b"x" * 128,
    ],
)
def test_pap_hiding_round_trips_in_16_octet_blocks(password: bytes) -> None:
    request = radius.build_request(SECRET, username="alice", password=password)
    raw = request.RequestPacket()
    hidden = dict(attributes(raw))[2]
    assert len(hidden) % 16 == 0 and 16 <= len(hidden) <= 128
    if len(password) >= 6:  # a shorter one may occur in random bytes by chance
        assert password not in raw
    assert unhide(hidden, SECRET, raw[4:20]) == password
    # pyrad's own decoder agrees.
    assert (
        radius.radius_packet.AuthPacket(
            secret=SECRET, dict=radius.dictionary(), packet=raw
        ).PwDecrypt(hidden)
        == password.decode()
    )


def test_request_carries_a_valid_message_authenticator_first() -> None:
    raw = radius.build_request(SECRET, username="alice", password=b"123456").RequestPacket()
    assert raw[0] == radius.ACCESS_REQUEST
    assert struct.unpack("!H", raw[2:4])[0] == len(raw)
    assert raw[20:22] == bytes([80, 18])  # first attribute (BlastRADIUS advice)
    zeroed = raw[:22] + bytes(16) + raw[38:]
    assert hmac.new(SECRET, zeroed, "md5").digest() == raw[22:38]


def test_request_attributes_and_state_are_sent_unmodified() -> None:
    # An octets value starting with "0x" and hex digits must not be read as hex.
    state = b"0x41424344" + bytes(range(6))
    raw = radius.build_request(
        SECRET, username="山田", password=b"123456", state=state
    ).RequestPacket()
    found = dict(attributes(raw))
    assert found[1] == "山田".encode()
    assert found[32] == b"sekisho"
    assert found[24] == state


def test_identifiers_and_authenticators_are_random() -> None:
    requests = [radius.build_request(SECRET, username="a", password=b"1") for _ in range(50)]
    assert len({r.authenticator for r in requests}) == 50
    assert len({r.id for r in requests}) > 1


# ---------------------------------------------------------------- reply validation


def request_and_raw() -> tuple[object, bytes]:
    request = radius.build_request(SECRET, username="alice", password=b"123456")
    return request, request.RequestPacket()


def test_a_good_accept_with_message_authenticator() -> None:
    request, raw = request_and_raw()
    outcome = radius.parse_reply(request, reply(raw, radius.ACCESS_ACCEPT, [(18, b"Welcome")]))
    assert outcome == radius.Accept(server="", message="Welcome")


def test_a_good_reject_without_message_authenticator() -> None:
    # FreeRADIUS 3.2.1 sends none; it is verified when present, not required.
    request, raw = request_and_raw()
    data = reply(raw, radius.ACCESS_REJECT, [(18, b"Locked")], message_authenticator=False)
    assert radius.parse_reply(request, data) == radius.Reject(server="", message="Locked")


def test_a_challenge_keeps_state_and_joins_reply_messages() -> None:
    request, raw = request_and_raw()
    state = bytes(range(20))
    data = reply(
        raw,
        radius.ACCESS_CHALLENGE,
        [(18, b"Enter the code"), (24, state), (18, b"from your token \x07\xff")],
    )
    outcome = radius.parse_reply(request, data)
    assert isinstance(outcome, radius.Challenge)
    assert outcome.state == state
    # Shown in order; control characters and undecodable bytes do not reach the page.
    assert outcome.message == "Enter the code\nfrom your token"
    assert repr(state) not in repr(outcome)


def test_padding_after_the_length_field_is_ignored() -> None:
    request, raw = request_and_raw()
    data = reply(raw, radius.ACCESS_ACCEPT, padding=b"\x00" * 7)
    assert isinstance(radius.parse_reply(request, data), radius.Accept)


@pytest.mark.parametrize(
    ("tamper", "reason", "forged"),
    [
        ({"bad_response_authenticator": True}, "bad Response Authenticator", True),
        ({"bad_message_authenticator": True}, "bad Message-Authenticator", True),
        ({"secret": b"another secret"}, "bad Response Authenticator", True),
        ({"identifier": "other"}, "identifier", False),
    ],
)
def test_bad_replies_are_discarded(tamper: dict[str, object], reason: str, forged: bool) -> None:
    request, raw = request_and_raw()
    if tamper.get("identifier") == "other":
        tamper = {"identifier": (raw[1] + 1) % 256}
    data = reply(raw, radius.ACCESS_ACCEPT, **tamper)  # type: ignore[arg-type]
    with pytest.raises(radius.Discarded, match=reason) as caught:
        radius.parse_reply(request, data)
    assert caught.value.forged is forged


def test_proxy_state_we_did_not_send_is_discarded() -> None:
    request, raw = request_and_raw()
    data = reply(raw, radius.ACCESS_ACCEPT, [(33, b"injected")])
    with pytest.raises(radius.Discarded, match="Proxy-State"):
        radius.parse_reply(request, data)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: data[:19],  # shorter than a header
        lambda data: data[:2] + struct.pack("!H", len(data) + 10) + data[4:],  # Length too big
        lambda data: data[:2] + struct.pack("!H", 12) + data[4:],  # Length below 20
        lambda data: data + b"\x00" * 5000,  # over 4096 octets
        lambda data: bytes([radius.ACCESS_REQUEST]) + data[1:],  # not an answer
    ],
)
def test_malformed_datagrams_are_discarded(mangle: Callable[[bytes], bytes]) -> None:
    request, raw = request_and_raw()
    with pytest.raises(radius.Discarded):
        radius.parse_reply(request, mangle(reply(raw, radius.ACCESS_ACCEPT)))


@pytest.mark.parametrize("length", [0, 1, 40])
def test_an_attribute_with_an_impossible_length_is_discarded(length: int) -> None:
    # RFC 2865 §5; pyrad alone would truncate an overrunning value and accept the packet.
    request, raw = request_and_raw()
    data = reply(raw, radius.ACCESS_ACCEPT, [(18, b"hello")], message_authenticator=False)
    broken = data[:20] + bytes([18, length]) + data[22:]
    # Recompute the Response Authenticator so only the attribute layout is wrong.
    fixed = broken[:4] + hashlib.md5(broken[:4] + raw[4:20] + broken[20:] + SECRET).digest()
    with pytest.raises(radius.Discarded, match="attribute length") as caught:
        radius.parse_reply(request, fixed + broken[20:])
    # Signed with the secret: the server's bug, not a forgery.
    assert caught.value.forged is False


# ---------------------------------------------------------------- retries and failover


def test_silent_server_is_retried_then_the_next_one_answers(
    radius_log: pytest.LogCaptureFixture,
) -> None:
    first = FakeChannel([silence, silence, silence])
    second = FakeChannel([accept()])
    transport = FakeTransport({"a": first, "b": second})
    outcome = radius.authenticate(
        [server("a", retries=2), server("b")],
        username="alice",
        password=CODE,
        transport=transport,
    )
    assert outcome == radius.Accept(server="b", message="")
    assert transport.opened == ["a", "b"]
    # RFC 5080 §2.2.1: retransmissions are the same packet.
    assert len(first.sent) == 3 and len(set(first.sent)) == 1
    # The next server gets its own request (its own secret and authenticator).
    assert second.sent[0][4:20] != first.sent[0][4:20]
    assert first.closed and second.closed
    assert "did not answer; trying b" in radius_log.text


def test_a_reject_is_an_answer_not_a_reason_to_fail_over() -> None:
    transport = FakeTransport({"a": FakeChannel([reject(b"No")]), "b": FakeChannel([accept()])})
    outcome = radius.authenticate(
        [server("a"), server("b")], username="alice", password=CODE, transport=transport
    )
    assert outcome == radius.Reject(server="a", message="No")
    assert transport.opened == ["a"]


def test_a_forged_reply_does_not_pre_empt_the_real_one(
    radius_log: pytest.LogCaptureFixture,
) -> None:
    channel = FakeChannel([accept(bad_response_authenticator=True), reject()])
    outcome = radius.authenticate(
        [server("a")], username="alice", password=CODE, transport=FakeTransport({"a": channel})
    )
    assert outcome == radius.Reject(server="a", message="")
    assert "discarded a reply from RADIUS server a" in radius_log.text


def test_only_forged_replies_fail_over_then_raise_a_distinct_error(
    radius_log: pytest.LogCaptureFixture,
) -> None:
    transport = FakeTransport(
        {
            "a": FakeChannel([accept(bad_message_authenticator=True)]),
            "b": FakeChannel([accept(secret=b"not the secret")]),
        }
    )
    with pytest.raises(errors.RadiusBadAuthenticator) as caught:
        radius.authenticate(
            [server("a"), server("b")], username="alice", password=CODE, transport=transport
        )
    assert transport.opened == ["a", "b"]
    assert caught.value.code == "mfa_radius_bad_authenticator"
    assert caught.value.counts_as_failure is False
    assert isinstance(caught.value, errors.RadiusUnavailable)
    assert "bad Message-Authenticator" in radius_log.text
    assert "bad Response Authenticator" in radius_log.text


def test_a_forged_reply_then_a_good_server_is_a_normal_answer() -> None:
    transport = FakeTransport(
        {"a": FakeChannel([accept(bad_response_authenticator=True)]), "b": FakeChannel([accept()])}
    )
    outcome = radius.authenticate(
        [server("a"), server("b")], username="alice", password=CODE, transport=transport
    )
    assert outcome == radius.Accept(server="b", message="")


def test_unreachable_and_failing_servers_fail_over() -> None:
    class Refusing(FakeChannel):
        def send(self, data: bytes) -> None:
            raise OSError(101, "Network is unreachable")

    transport = FakeTransport({"b": Refusing([]), "c": FakeChannel([accept()])}, unreachable={"a"})
    outcome = radius.authenticate(
        [server("a"), server("b"), server("c")],
        username="alice",
        password=CODE,
        transport=transport,
    )
    assert outcome.server == "c"
    assert transport.opened == ["a", "b", "c"]


def test_no_answer_anywhere_is_unavailable_and_does_not_count() -> None:
    transport = FakeTransport({"a": FakeChannel([]), "b": FakeChannel([])})
    with pytest.raises(errors.RadiusUnavailable, match=r"no RADIUS server answered \(a, b\)") as e:
        radius.authenticate(
            [server("a", retries=1), server("b")],
            username="alice",
            password=CODE,
            transport=transport,
        )
    assert type(e.value) is errors.RadiusUnavailable
    assert e.value.counts_as_failure is False
    assert len(transport.channels["a"].sent) == 2


def test_no_server_configured_is_unavailable() -> None:
    with pytest.raises(errors.RadiusUnavailable, match="no RADIUS server is configured"):
        radius.authenticate([], username="alice", password=CODE)


def test_answering_a_challenge_echoes_the_state() -> None:
    state = b"\x00\x01state\xff"
    channel = FakeChannel([accept()])
    radius.authenticate(
        [server("a")],
        username="alice",
        password="123456",
        state=state,
        transport=FakeTransport({"a": channel}),
    )
    assert dict(attributes(channel.sent[0]))[24] == state


def test_a_challenge_without_state_is_answered_without_state() -> None:
    request, raw = request_and_raw()
    outcome = radius.parse_reply(request, reply(raw, radius.ACCESS_CHALLENGE, [(18, b"Code?")]))
    assert outcome == radius.Challenge(server="", message="Code?", state=b"")
    channel = FakeChannel([accept()])
    radius.authenticate(
        [server("a")],
        username="alice",
        password="123456",
        state=outcome.state,
        transport=FakeTransport({"a": channel}),
    )
    assert 24 not in dict(attributes(channel.sent[0]))


def test_the_real_udp_transport_times_out_on_a_silent_socket() -> None:
    import socket
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))
        silent = radius.ServerConfig(
            name="hole",
            host="127.0.0.1",
            port=hole.getsockname()[1],
            timeout=0.2,
            retries=1,
            secret=SECRET,
        )
        started = time.monotonic()
        with pytest.raises(errors.RadiusUnavailable):
            radius.authenticate([silent], username="alice", password=CODE)
        elapsed = time.monotonic() - started
        # Two attempts of 0.2 s each, and both datagrams arrived.
        assert 0.35 < elapsed < 2.0
        hole.settimeout(1)
        assert hole.recv(4096) == hole.recv(4096)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "12\x0034",
        "1234\n56",
        "\x1b[31m123456",
        "123\u202e456",  # right-to-left override (format character)
        "あ" * 43,  # 129 bytes of UTF-8
        "x" * 129,
    ],
)
def test_unsendable_answers_are_refused_before_any_packet(typed: str) -> None:
    transport = FakeTransport({"a": FakeChannel([accept()])})
    with pytest.raises(errors.RadiusInvalidInput) as caught:
        radius.authenticate([server("a")], username="alice", password=typed, transport=transport)
    assert transport.opened == []
    assert caught.value.counts_as_failure is False
    if typed.strip():
        assert typed.strip() not in str(caught.value)


def test_128_bytes_and_surrounding_spaces_are_fine() -> None:
    assert radius.clean_code(" " + "あ" * 42 + "12 ") == ("あ" * 42 + "12").encode()
    assert len(radius.clean_code("y" * 128)) == 128


@pytest.mark.parametrize("name", ["", " alice", "al\tice", "a" * 254, "ü" * 127])
def test_bad_usernames_are_refused(name: str) -> None:
    with pytest.raises(errors.RadiusInvalidInput):
        radius.clean_username(name)


def test_state_survives_the_session_and_garbage_is_ignored() -> None:
    state = bytes(range(256))[:253]
    assert radius.decode_state(radius.encode_state(state)) == state
    for garbage in (None, 7, "not base64!", "A" * 2000, radius.encode_state(b"x" * 254)):
        assert radius.decode_state(garbage) is None


# ---------------------------------------------------------------- nothing leaks


def test_secret_and_code_never_in_logs_errors_or_reprs(
    radius_log: pytest.LogCaptureFixture,
) -> None:
    config = server("a", retries=1)
    assert SECRET.decode() not in repr(config)
    scenarios: list[dict[str, FakeChannel]] = [
        {"a": FakeChannel([accept(bad_response_authenticator=True)])},
        {"a": FakeChannel([])},
        {"a": FakeChannel([accept(bad_message_authenticator=True), accept(secret=b"x")])},
    ]
    texts = []
    for channels in scenarios:
        with pytest.raises(errors.MfaError) as caught:
            radius.authenticate(
                [config], username="alice", password=CODE, transport=FakeTransport(channels)
            )
        texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(errors.RadiusInvalidInput) as caught:
        radius.authenticate([config], username="alice", password=CODE + "\x00")
    texts.append(str(caught.value))
    challenge = radius.Challenge(server="a", message="", state=b"state-secret")
    texts.append(repr(challenge))
    texts.append(radius_log.text)
    assert radius_log.records, "the scenarios should have logged"
    for text in texts:
        assert SECRET.decode() not in text
        assert CODE not in text and "424242" not in text
        assert "state-secret" not in text
