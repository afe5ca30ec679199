"""A small real RADIUS server for `sekisho demo`: PAP password, then an Access-Challenge.

It stands in for an organisation's OTP server (RSA, privacyIDEA, an SMS gateway): the
first Access-Request must carry the user's password; the server then answers
Access-Challenge with a State and a new random 6-digit code, which it *announces* (the
demo prints it to its console: the stand-in for a token or an SMS). The second request
must echo the State and carry that code. Every request must have a valid
Message-Authenticator (RFC 3579 §3.2) and every reply carries one. Loopback only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyrad import packet as radius_packet  # type: ignore[import-untyped]

from sekisho.mfa import radius

logger = logging.getLogger("sekisho.mfa.radius_demo")

# How long a challenge's code stays valid.
CHALLENGE_SECONDS = 300.0
CHALLENGE_MESSAGE = "Enter the 6-digit code the RADIUS demo server printed in the demo's console."
DEMO_SERVER_NAME = "demo-radius"


@dataclass
class _Pending:
    username: str
    code: str
    expires: float


class DemoRadiusServer:
    """A running demo server: ``port`` to configure, ``stop()`` when the demo ends."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        secret: bytes,
        users: dict[str, str],
        announce: Callable[[str], None],
    ) -> None:
        """Serve on an already bound socket (see start_demo_radius_server)."""
        self._sock = sock
        self._secret = secret
        self._users = dict(users)
        self._announce = announce
        self._pending: dict[bytes, _Pending] = {}
        self._stopping = threading.Event()
        self.host, self.port = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name="radius-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                data, peer = self._sock.recvfrom(radius.MAX_PACKET_BYTES + 1)
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            try:
                answer = self.handle(data)
            except Exception:  # a demo server must survive any datagram
                logger.exception("RADIUS demo server: cannot handle a datagram")
                continue
            if answer is not None:
                try:
                    self._sock.sendto(answer, peer)
                except OSError:
                    continue

    def handle(self, data: bytes) -> bytes | None:
        """The reply to one datagram, or None to drop it (RFC 2865 §3: silently)."""
        try:
            request = radius_packet.AuthPacket(
                secret=self._secret, dict=radius.dictionary(), packet=data
            )
        except (radius_packet.PacketError, ValueError, KeyError):
            return None
        if request.code != radius.ACCESS_REQUEST:
            return None
        # RFC 3579 §3.2 / BlastRADIUS: a request without a valid Message-Authenticator
        # is dropped, as FreeRADIUS does with require_message_authenticator.
        authenticators = request.get(radius.ATTR_MESSAGE_AUTHENTICATOR) or []
        if len(authenticators) != 1 or not request.verify_message_authenticator():
            logger.warning(
                "RADIUS demo server: dropped a request without a valid Message-Authenticator"
            )
            return None
        names = request.get(1) or []
        hidden = request.get(radius.ATTR_USER_PASSWORD) or []
        if len(names) != 1 or len(hidden) != 1:
            return self._reply(request, radius.ACCESS_REJECT, "")
        username = bytes(names[0]).decode("utf-8", errors="replace")
        try:
            password = request.PwDecrypt(bytes(hidden[0]))
        except radius_packet.PacketError:
            return None
        states = request.get(radius.ATTR_STATE) or []
        if states:
            return self._second_step(request, username, password, bytes(states[0]))
        return self._first_step(request, username, password)

    def _first_step(self, request: Any, username: str, password: str) -> bytes:
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        ):
            return self._reply(request, radius.ACCESS_REJECT, "Wrong password.")
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
        code = f"{secrets.randbelow(10**6):06d}"
        state = secrets.token_bytes(16)
        self._pending[state] = _Pending(username, code, now + CHALLENGE_SECONDS)
        self._announce(f"the RADIUS demo server sent {username} code {code}")
        return self._reply(request, radius.ACCESS_CHALLENGE, CHALLENGE_MESSAGE, state=state)

    def _second_step(self, request: Any, username: str, code: str, state: bytes) -> bytes:
        # One answer per challenge: a wrong code needs a new challenge (and a new code).
        pending = self._pending.pop(state, None)
        if (
            pending is None
            or pending.expires <= time.monotonic()
            or pending.username != username
            or not hmac.compare_digest(pending.code.encode(), code.strip().encode("utf-8"))
        ):
            return self._reply(request, radius.ACCESS_REJECT, "Wrong or expired code.")
        return self._reply(request, radius.ACCESS_ACCEPT, "")

    def _reply(self, request: Any, code: int, message: str, *, state: bytes = b"") -> bytes:
        # CreateReply adds a Message-Authenticator to replies to an Access-Request.
        reply = request.CreateReply()
        reply.code = code
        if message:
            reply["Reply-Message"] = message
        if state:
            reply[radius.ATTR_STATE] = [state]
        return bytes(reply.ReplyPacket())


def start_demo_radius_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    secret: bytes,
    users: dict[str, str],
    announce: Callable[[str], None],
) -> DemoRadiusServer:
    """Bind ``host:port`` (0: any free port) and serve in a daemon thread of this process."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return DemoRadiusServer(sock, secret=secret, users=users, announce=announce)


def configure_demo(
    *,
    users: dict[str, str],
    announce: Callable[[str], None],
    actor: Any,
    serve: bool = True,
) -> DemoRadiusServer | None:
    """Start the demo server and make it Sekisho's RADIUS server (replacing an old demo's).

    With ``serve=False`` only the stale row of an earlier demo is removed: a server that
    nobody answers would otherwise be offered at sign-in.
    """
    from sekisho.mfa import radius_admin
    from sekisho.mfa.models import RadiusServer

    if RadiusServer.objects.filter(name=DEMO_SERVER_NAME).exists():
        radius_admin.remove_server(DEMO_SERVER_NAME, actor=actor)
    if not serve:
        return None
    secret = secrets.token_urlsafe(24).encode("ascii")
    server = start_demo_radius_server(secret=secret, users=users, announce=announce)
    try:
        radius_admin.add_server(
            DEMO_SERVER_NAME,
            host=server.host,
            port=server.port,
            secret=secret,
            timeout=3.0,
            retries=1,
            actor=actor,
        )
    except Exception:
        server.stop()
        raise
    return server


def shutdown_demo(server: DemoRadiusServer, *, actor: Any) -> None:
    """Stop the demo server and remove its row, so a later `sekisho serve` does not offer it."""
    from sekisho.mfa import radius_admin
    from sekisho.mfa.models import RadiusServer

    server.stop()
    if RadiusServer.objects.filter(name=DEMO_SERVER_NAME).exists():
        radius_admin.remove_server(DEMO_SERVER_NAME, actor=actor)
