"""RADIUS servers for administrators: add, list, remove, and a test Access-Request."""

from __future__ import annotations

from dataclasses import dataclass

from sekisho.admin.errors import InvalidInput, NotFound
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.mfa import errors as mfa_errors
from sekisho.mfa import radius, radius_admin
from sekisho.mfa.models import RadiusServer


def get_server(name: str) -> RadiusServer:
    """The server with this name, or NotFound."""
    server = RadiusServer.objects.filter(name=name).first()
    if server is None:
        raise NotFound(f"no RADIUS server named {name[:70]!r}")
    return server


@dataclass(frozen=True)
class TestOutcome:
    """What a test Access-Request came back with; never a secret, a code or a State."""

    result: str  # accept | reject | challenge | no_answer | bad_authenticator | invalid_input
    server: str
    message: str
    seconds: float


def test_server(
    *,
    username: str,
    password: str,
    server: str | None = None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
    transport: radius.Transport = radius.udp_transport,
) -> TestOutcome:
    """Send one Access-Request for ``username`` (one server, or all in failover order).

    The outcome shows the answering server and its Reply-Message; the shared secret, the
    password typed and any State never leave this function. Audited (without them).
    """
    import time

    for check, value, field in (
        (radius.clean_username, username, "username"),
        (radius.clean_code, password, "password"),
    ):
        try:
            check(value)
        except mfa_errors.RadiusInvalidInput as exc:
            raise InvalidInput(str(exc), field=field) from None
    configs = radius_admin.server_configs()
    if server:
        get_server(server)
        configs = [c for c in configs if c.name == server]
    if not configs:
        raise NotFound("no RADIUS server is configured")
    started = time.monotonic()
    try:
        answer = radius.authenticate(
            configs, username=username, password=password, transport=transport
        )
    except mfa_errors.RadiusBadAuthenticator:
        outcome = TestOutcome("bad_authenticator", "", "", time.monotonic() - started)
    except mfa_errors.RadiusUnavailable:
        outcome = TestOutcome("no_answer", "", "", time.monotonic() - started)
    else:
        kind = {radius.Accept: "accept", radius.Reject: "reject", radius.Challenge: "challenge"}[
            type(answer)
        ]
        outcome = TestOutcome(kind, answer.server, answer.message, time.monotonic() - started)
    admin_audit(
        actor,
        "TestRadiusServer",
        {
            "userName": username[:128],
            "servers": [c.name for c in configs],
            "result": outcome.result,
            "answeredBy": outcome.server or None,
        },
        clock,
    )
    return outcome


def describe(server: RadiusServer, order: int) -> dict[str, object]:
    """A server as an administrator reads it (never the secret)."""
    return {
        "order": order,
        "name": server.name,
        "host": server.host,
        "port": server.port,
        "timeout": server.timeout,
        "retries": server.retries,
        "created_at": server.created_at,
    }


def list_servers() -> list[dict[str, object]]:
    """Every server in failover order."""
    return [describe(s, i) for i, s in enumerate(radius_admin.list_servers(), start=1)]
