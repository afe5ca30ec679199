"""Managing RADIUS servers and per-user RADIUS usernames (audited administrative changes)."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Max

from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory.models import User
from sekisho.errors import ConfigError
from sekisho.memo import forget
from sekisho.mfa import errors, radius
from sekisho.mfa.backends.common import box
from sekisho.mfa.models import SERVERS_MEMO, RadiusAccount, RadiusServer

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HOST_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,255}")
DEFAULT_PORT = 1812
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 1
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 60.0
MAX_RETRIES = 10
MAX_SECRET_BYTES = 128
# RFC 2865 §3 recommends a secret of at least 16 octets; shorter ones still work.
RECOMMENDED_SECRET_BYTES = 16


def secret_context(name: str) -> str:
    """Binds a sealed shared secret to its server row: a copied token will not open."""
    return f"radius-secret:{name}"


def add_server(
    name: str,
    *,
    host: str,
    secret: bytes,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> RadiusServer:
    """Add a server after the existing ones (failover order); the secret is sealed."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"a RADIUS server name is 1-64 letters, digits, '.', '_' or '-', got {name!r}"
        )
    if not HOST_PATTERN.fullmatch(host):
        raise ConfigError(f"--host must be a host name or IP address, got {host!r}")
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be 1..65535, got {port}")
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ConfigError(f"--timeout must be {MIN_TIMEOUT}..{MAX_TIMEOUT} seconds, got {timeout}")
    if not 0 <= retries <= MAX_RETRIES:
        raise ConfigError(f"--retries must be 0..{MAX_RETRIES}, got {retries}")
    if not secret:
        raise ConfigError("the shared secret is empty")
    if len(secret) > MAX_SECRET_BYTES:
        raise ConfigError(f"the shared secret is longer than {MAX_SECRET_BYTES} bytes")
    with transaction.atomic():
        if RadiusServer.objects.filter(name=name).exists():
            raise ConfigError(f"a RADIUS server named {name!r} already exists")
        last = RadiusServer.objects.aggregate(last=Max("position"))["last"]
        forget(SERVERS_MEMO)
        server = RadiusServer.objects.create(
            name=name,
            host=host,
            port=port,
            timeout=timeout,
            retries=retries,
            sealed_secret=box().seal(secret, context=secret_context(name)),
            position=0 if last is None else last + 1,
            created_at=clock.now(),
        )
    admin_audit(
        actor,
        "UpdateMfaSettings",
        {
            "radiusServerAdded": {
                "name": name,
                "host": host,
                "port": port,
                "timeout": timeout,
                "retries": retries,
                "position": server.position,
            }
        },
        clock,
    )
    return server


def list_servers() -> list[RadiusServer]:
    """The configured servers in failover order."""
    return list(RadiusServer.objects.order_by("position", "name"))


def remove_server(name: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Remove a server; returns how many users have RADIUS registered (for a warning)."""
    deleted, _ = RadiusServer.objects.filter(name=name).delete()
    forget(SERVERS_MEMO)
    if not deleted:
        raise ConfigError(f"no RADIUS server named {name!r}")
    admin_audit(actor, "UpdateMfaSettings", {"radiusServerRemoved": {"name": name}}, clock)
    return RadiusAccount.objects.filter(confirmed_at__isnull=False).count()


def server_configs() -> list[radius.ServerConfig]:
    """The servers with their secrets opened, in failover order, for the RADIUS client."""
    sealer = box()
    return [
        radius.ServerConfig(
            name=row.name,
            host=row.host,
            port=row.port,
            timeout=row.timeout,
            retries=row.retries,
            secret=sealer.open(row.sealed_secret, context=secret_context(row.name)),
        )
        for row in list_servers()
    ]


def radius_username(user: User) -> str:
    """The User-Name sent for this user: the admin's mapping, else the Sekisho username."""
    account = RadiusAccount.objects.filter(user=user).first()
    return (account.radius_username if account is not None else "") or user.username


def set_radius_username(
    user: User, radius_name: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> str:
    """Map a user to another RADIUS username ('' goes back to the Sekisho username)."""
    if radius_name:
        try:
            radius.clean_username(radius_name)
        except errors.RadiusInvalidInput as exc:
            raise ConfigError(str(exc)) from None
    with transaction.atomic():
        account, _ = RadiusAccount.objects.select_for_update().get_or_create(user=user)
        account.radius_username = radius_name
        account.save(update_fields=["radius_username"])
    admin_audit(
        actor,
        "UpdateUser",
        {"userName": user.username, "radiusUsername": radius_name or None},
        clock,
    )
    return radius_name or user.username
