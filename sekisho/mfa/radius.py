"""A RADIUS client for MFA: PAP Access-Requests with failover (RFC 2865, RFC 3579 §3.2).

Pure protocol logic, no Django: the servers come in as plain values with their shared
secrets already opened, and the network is an injectable ``Transport`` so tests can feed
crafted replies. The shared secret, the person's code and the State never appear in a
log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pyrad import packet as radius_packet  # type: ignore[import-untyped]
from pyrad.dictionary import Dictionary  # type: ignore[import-untyped]

from sekisho.mfa import errors

logger = logging.getLogger("sekisho.mfa.radius")

DICTIONARY_PATH = Path(__file__).with_name("radius_dictionary")
NAS_IDENTIFIER = "sekisho"

# RFC 2865 §5.2: User-Password carries at most 128 octets.
MAX_PASSWORD_BYTES = 128
# RFC 2865 §5: an attribute value is at most 253 octets (User-Name, State).
MAX_ATTRIBUTE_BYTES = 253
# RFC 2865 §3: a packet is 20 to 4096 octets.
MIN_PACKET_BYTES = 20
MAX_PACKET_BYTES = 4096
# What a page shows of the server's Reply-Message: enough for any prompt, not a flood.
MAX_MESSAGE_CHARS = 500

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCESS_CHALLENGE = 11

ATTR_USER_PASSWORD = 2
ATTR_REPLY_MESSAGE = 18
ATTR_STATE = 24
ATTR_PROXY_STATE = 33
ATTR_MESSAGE_AUTHENTICATOR = 80


@dataclass(frozen=True)
class ServerConfig:
    """One RADIUS server as the client needs it; ``repr`` leaves the secret out."""

    name: str
    host: str
    port: int
    timeout: float
    retries: int
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Accept:
    """Access-Accept: the code (or password and code) is right."""

    server: str
    message: str = ""


@dataclass(frozen=True)
class Reject:
    """Access-Reject, with the server's Reply-Message (possibly empty)."""

    server: str
    message: str = ""


@dataclass(frozen=True)
class Challenge:
    """Access-Challenge: ask the person again, then echo ``state`` to the same server."""

    server: str
    message: str
    state: bytes = field(repr=False)


Outcome = Accept | Reject | Challenge


class Channel(Protocol):
    """One conversation with one server: datagrams out, datagrams in."""

    def send(self, data: bytes) -> None:
        """Send one datagram (raises OSError when the network refuses)."""
        ...

    def receive(self, timeout: float) -> bytes | None:
        """The next datagram within ``timeout`` seconds; None when none will come now."""
        ...

    def close(self) -> None:
        """Release the socket."""
        ...


class Transport(Protocol):
    """Opens a channel to ``host:port``; raises OSError when it cannot (unknown host)."""

    def __call__(self, host: str, port: int) -> Channel:
        """Open a channel."""
        ...


class UdpChannel:
    """A connected UDP socket: the kernel drops datagrams from any other address."""

    def __init__(self, host: str, port: int) -> None:
        """Resolve ``host`` and connect a UDP socket to the first address found."""
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM
        )[0]
        self._sock = socket.socket(family, kind, proto)
        try:
            self._sock.connect(address)
        except OSError:
            self._sock.close()
            raise

    def send(self, data: bytes) -> None:
        """Send one datagram."""
        self._sock.send(data)

    def receive(self, timeout: float) -> bytes | None:
        """One datagram, or None on timeout or an ICMP port unreachable (nobody listens)."""
        self._sock.settimeout(max(timeout, 0.001))
        try:
            return self._sock.recv(MAX_PACKET_BYTES + 1)
        except (TimeoutError, ConnectionRefusedError):
            return None

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


def udp_transport(host: str, port: int) -> Channel:
    """The real network: a connected UDP socket per server."""
    return UdpChannel(host, port)


@lru_cache(maxsize=1)
def dictionary() -> Any:
    """The packaged RADIUS dictionary (read once)."""
    return Dictionary(str(DICTIONARY_PATH))


def clean_code(text: str) -> bytes:
    """What the person typed as User-Password bytes, or RadiusInvalidInput (never sent).

    Surrounding whitespace (a pasted code) is dropped; control characters and other
    unprintable input are refused rather than sent, and so is anything over RFC 2865
    §5.2's 128 octets, which the server could only truncate or reject.
    """
    if not isinstance(text, str):
        raise errors.RadiusInvalidInput("the answer must be text")
    code = text.strip()
    if not code:
        raise errors.RadiusInvalidInput("enter the code")
    if not code.isprintable():
        raise errors.RadiusInvalidInput("the answer contains unprintable characters")
    encoded = code.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise errors.RadiusInvalidInput(
            f"the answer is longer than {MAX_PASSWORD_BYTES} bytes of UTF-8"
        )
    return encoded


def clean_username(text: str) -> str:
    """A User-Name that fits one attribute and is printable, or RadiusInvalidInput."""
    if not text or text != text.strip() or not text.isprintable():
        raise errors.RadiusInvalidInput(
            "a RADIUS username must be printable, without surrounding spaces"
        )
    if len(text.encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
        raise errors.RadiusInvalidInput(
            f"a RADIUS username is at most {MAX_ATTRIBUTE_BYTES} bytes of UTF-8"
        )
    return text


def build_request(
    secret: bytes, *, username: str, password: bytes, state: bytes | None = None
) -> Any:
    """An Access-Request (RFC 2865 §4.1) with a PAP password and a Message-Authenticator.

    The identifier and the Request Authenticator are random (§3: the authenticator must
    be unpredictable, it is what replies are bound to). NAS-Identifier satisfies §4.1's
    "NAS-IP-Address or NAS-Identifier". The Message-Authenticator (RFC 3579 §3.2) goes
    first, as the BlastRADIUS (CVE-2024-3596) advice asks, and FreeRADIUS 3.2 with
    ``require_message_authenticator`` drops requests without one.
    """
    request = radius_packet.AuthPacket(
        code=ACCESS_REQUEST,
        id=secrets.randbelow(256),
        secret=secret,
        authenticator=secrets.token_bytes(16),
        dict=dictionary(),
    )
    request["User-Name"] = username
    # §5.2: the password hidden with MD5(secret + Request Authenticator), 16-octet blocks.
    request[ATTR_USER_PASSWORD] = [request.PwCrypt(password)]
    request["NAS-Identifier"] = NAS_IDENTIFIER
    if state:
        # §5.24: State from an Access-Challenge goes back unmodified; it is at least one
        # octet, so a challenge that had none is answered without one.
        request[ATTR_STATE] = [state]
    request.add_message_authenticator()
    return request


class Discarded(Exception):
    """A datagram that is not a valid reply to our request; the reason is safe to log."""

    def __init__(self, reason: str, *, forged: bool = False) -> None:
        super().__init__(reason)
        # A reply that failed an authenticator check: forged, or the shared secret differs.
        self.forged = forged


def response_authenticator(raw: bytes, request_authenticator: bytes, secret: bytes) -> bytes:
    """RFC 2865 §3: MD5(Code, Identifier, Length, Request Authenticator, Attributes, Secret)."""
    # MD5 is what the protocol specifies; RADIUS/TLS (RFC 6614) is the way past it.
    return hashlib.md5(raw[:4] + request_authenticator + raw[20:] + secret).digest()  # noqa: S324


def parse_reply(request: Any, data: bytes) -> Outcome:
    """Validate a datagram as the reply to ``request``, or raise Discarded (RFC 2865 §3).

    Checks, in order: size and Length field, Identifier, code, the Response
    Authenticator, the Message-Authenticator when present (RFC 3579 §3.2; the
    Request Authenticator stands in for the Response Authenticator in its HMAC), and no
    Proxy-State, which we never send (a BlastRADIUS signature).
    """
    if len(data) < MIN_PACKET_BYTES or len(data) > MAX_PACKET_BYTES:
        raise Discarded(f"a datagram of {len(data)} bytes is not a RADIUS packet")
    code, identifier, length = struct.unpack("!BBH", data[:4])
    if length < MIN_PACKET_BYTES or length > len(data):
        raise Discarded(f"the Length field ({length}) does not match the datagram")
    # §3: octets past Length are padding and ignored.
    raw = data[:length]
    if identifier != request.id:
        # A late answer to an earlier request, or noise: not necessarily an attack.
        raise Discarded(f"identifier {identifier} does not match the request's")
    if code not in (ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE):
        raise Discarded(f"code {code} is not an answer to an Access-Request")
    expected = response_authenticator(raw, request.authenticator, request.secret)
    if not hmac.compare_digest(expected, raw[4:20]):
        raise Discarded("bad Response Authenticator", forged=True)
    # Past this point the server holds the secret: a malformed packet is its bug, not a forgery.
    if not _attributes_fit(raw):
        # §5: an attribute with an invalid length makes the packet silently discarded
        # (pyrad would truncate the value instead).
        raise Discarded("an attribute length does not fit the packet")
    try:
        reply = request.CreateReply(packet=raw)
    except (radius_packet.PacketError, ValueError, KeyError, struct.error):
        raise Discarded("the attributes cannot be decoded") from None
    authenticators = reply.get(ATTR_MESSAGE_AUTHENTICATOR) or []
    if len(authenticators) > 1:
        raise Discarded("more than one Message-Authenticator", forged=True)
    if authenticators and not reply.verify_message_authenticator(
        secret=request.secret,
        original_authenticator=request.authenticator,
        original_code=request.code,
    ):
        raise Discarded("bad Message-Authenticator", forged=True)
    if reply.get(ATTR_PROXY_STATE):
        raise Discarded("a Proxy-State we did not send", forged=True)
    message = reply_message(reply.get(ATTR_REPLY_MESSAGE) or [])
    return _outcome(code, message, reply.get(ATTR_STATE) or [])


def _attributes_fit(raw: bytes) -> bool:
    """Whether the attributes after the header tile the packet exactly (RFC 2865 §5)."""
    offset = MIN_PACKET_BYTES
    while offset < len(raw):
        if offset + 2 > len(raw):
            return False
        length = raw[offset + 1]
        if length < 2 or offset + length > len(raw):
            return False
        offset += length
    return True


def _outcome(code: int, message: str, states: Sequence[bytes]) -> Outcome:
    if code == ACCESS_ACCEPT:
        return Accept(server="", message=message)
    if code == ACCESS_REJECT:
        return Reject(server="", message=message)
    # §4.4: State is optional in a challenge; without one the answer goes back bare.
    return Challenge(server="", message=message, state=bytes(states[0]) if states else b"")


def reply_message(values: Sequence[bytes]) -> str:
    """Reply-Message attributes as one printable text (§5.18: shown in their order)."""
    text = "\n".join(bytes(v).decode("utf-8", errors="replace") for v in values)
    # Control characters and undecodable bytes (U+FFFD) never reach the page.
    kept = "".join(ch for ch in text if ch == "\n" or (ch.isprintable() and ch != "\ufffd"))
    return kept.strip()[:MAX_MESSAGE_CHARS]


def _ask(server: ServerConfig, request: Any, transport: Transport) -> Outcome | None:
    """Send one request to one server with its retries; the outcome, or None if no answer.

    Raises Discarded(forged=True) only when no valid reply came but a forged one did, so
    the caller can tell "down" from "answering with the wrong secret".
    """
    raw = request.RequestPacket()
    try:
        channel = transport(server.host, server.port)
    except OSError as exc:
        logger.warning(
            "RADIUS server %s (%s:%d) cannot be reached: %s",
            server.name,
            server.host,
            server.port,
            exc.strerror or type(exc).__name__,
        )
        return None
    forged: Discarded | None = None
    try:
        for attempt in range(1, server.retries + 2):
            # RFC 5080 §2.2.1: a retransmission repeats the same Identifier and
            # Request Authenticator, so a late reply to any attempt still matches.
            try:
                channel.send(raw)
            except OSError as exc:
                logger.warning(
                    "RADIUS server %s (%s:%d): sending failed: %s",
                    server.name,
                    server.host,
                    server.port,
                    exc.strerror or type(exc).__name__,
                )
                return None
            deadline = time.monotonic() + server.timeout
            while (remaining := deadline - time.monotonic()) > 0:
                data = channel.receive(remaining)
                if data is None:
                    break
                try:
                    outcome = parse_reply(request, data)
                except Discarded as exc:
                    # §3: an invalid reply is silently discarded; we keep waiting for a
                    # valid one, so a forged datagram cannot pre-empt the real answer.
                    logger.warning(
                        "discarded a reply from RADIUS server %s (%s:%d): %s",
                        server.name,
                        server.host,
                        server.port,
                        exc,
                    )
                    if exc.forged:
                        forged = exc
                    continue
                return replace(outcome, server=server.name)
            logger.info(
                "RADIUS server %s (%s:%d) did not answer attempt %d of %d within %gs",
                server.name,
                server.host,
                server.port,
                attempt,
                server.retries + 1,
                server.timeout,
            )
    finally:
        channel.close()
    if forged is not None:
        raise forged
    return None


def authenticate(
    servers: Sequence[ServerConfig],
    *,
    username: str,
    password: str,
    state: bytes | None = None,
    transport: Transport = udp_transport,
) -> Outcome:
    """Ask the servers in order until one answers (failover on silence, not on Reject).

    ``password`` is what the person typed: a one-time code, or a password and code in
    one field; with ``state`` it answers an Access-Challenge, so pass only the server
    that sent it. Raises RadiusInvalidInput before anything is sent, RadiusBadAuthenticator
    when only forged (or wrongly keyed) replies came, RadiusUnavailable when none came.
    """
    secret_code = clean_code(password)
    name = clean_username(username)
    if state is not None and len(state) > MAX_ATTRIBUTE_BYTES:
        raise errors.RadiusInvalidInput("the server's State is too long to send back")
    if not servers:
        raise errors.RadiusUnavailable("no RADIUS server is configured")
    forged = False
    for position, server in enumerate(servers):
        # A fresh request per server: the Request Authenticator (and so the hidden
        # password) depends on that server's secret.
        request = build_request(server.secret, username=name, password=secret_code, state=state)
        try:
            outcome = _ask(server, request, transport)
        except Discarded:
            forged = True
            outcome = None
        if outcome is not None:
            if position:
                logger.info("RADIUS server %s answered after failover", server.name)
            return outcome
        if position + 1 < len(servers):
            logger.warning(
                "RADIUS server %s did not answer; trying %s",
                server.name,
                servers[position + 1].name,
            )
    names = ", ".join(server.name for server in servers)
    if forged:
        logger.error(
            "RADIUS: only replies with a bad authenticator came (servers: %s); "
            "check the shared secrets, or look for forged packets",
            names,
        )
        raise errors.RadiusBadAuthenticator(
            f"replies from the RADIUS servers ({names}) failed their authenticator check"
        )
    raise errors.RadiusUnavailable(f"no RADIUS server answered ({names})")


def encode_state(state: bytes) -> str:
    """State bytes as text for the session-kept prompt state."""
    return base64.b64encode(state).decode("ascii")


def decode_state(text: object) -> bytes | None:
    """The State kept by ``encode_state``, or None when it is missing or malformed."""
    if not isinstance(text, str) or len(text) > 4 * MAX_ATTRIBUTE_BYTES:
        return None
    try:
        state = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return state if len(state) <= MAX_ATTRIBUTE_BYTES else None
