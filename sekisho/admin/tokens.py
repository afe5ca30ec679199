"""API tokens: created once (the secret is shown then and never again), stored hashed.

A token reads ``sek_<key id>_<secret>``. The key id finds the row; the secret is kept only
as HMAC-SHA-256 under a key derived from master.key, compared in constant time, so a
copy of the database yields no usable token. Requests are counted per token in the
database (fixed one-minute windows shared by every worker and node).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from sekisho.admin.errors import Conflict, InvalidToken, NotFound, RateLimited, TokenError
from sekisho.admin.models import ApiToken, RequestWindow
from sekisho.admin.roles import Role
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.crypto import SecretBox, b64url
from sekisho.instance import cached_master_key

PREFIX = "sek_"
_TOKEN = re.compile(r"^sek_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_EXPIRES_DAYS = 3650
# Requests per token per minute unless settings.SEKISHO_API_RATE_LIMIT says otherwise.
DEFAULT_RATE_LIMIT = 600
WINDOW = timedelta(minutes=1)


def _digest(secret: str) -> str:
    key = SecretBox.from_master_key(cached_master_key()).derive("admin/api-token")
    return hmac.new(key, secret.encode("ascii"), hashlib.sha256).hexdigest()


def _key_id(random: Random) -> str:
    import base64

    return base64.b32encode(random.token_bytes(10)).decode("ascii").lower()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the only moment its full value exists."""

    name: str
    role: Role
    value: str
    expires_at: datetime | None


def create(
    name: str,
    role: Role,
    *,
    expires_days: int | None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
    random: Random = SYSTEM_RANDOM,
) -> IssuedToken:
    """Create a token for ``role``; its value is returned here once and never stored."""
    if not _NAME.match(name):
        raise TokenError(
            f"a token name is 1-64 letters, digits, '.', '_' or '-', got {name[:70]!r}"
        )
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise TokenError(f"--expires-days must be 1..{MAX_EXPIRES_DAYS}, got {expires_days}")
    now = clock.now()
    key_id = _key_id(random)
    secret = b64url(random.token_bytes(32))
    expires = now + timedelta(days=expires_days) if expires_days is not None else None
    try:
        with transaction.atomic():
            ApiToken.objects.create(
                name=name,
                role=role.value,
                key_id=key_id,
                digest=_digest(secret),
                created_at=now,
                created_by=actor.name[:200],
                expires_at=expires,
            )
    except IntegrityError:
        raise Conflict(f"a token named {name!r} already exists") from None
    admin_audit(
        actor,
        "CreateApiToken",
        {"name": name, "role": role.value, "expiresAt": expires},
        clock,
    )
    return IssuedToken(name=name, role=role, value=f"{PREFIX}{key_id}_{secret}", expires_at=expires)


def list_tokens() -> list[ApiToken]:
    """Every token (revoked ones too), by name; never a secret."""
    return list(ApiToken.objects.order_by("name"))


def revoke(name: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Revoke a token at once (its row stays, for the record)."""
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise NotFound(f"no API token named {name[:70]!r}")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        admin_audit(actor, "RevokeApiToken", {"name": name, "role": token.role}, clock)


def authenticate(value: str, *, clock: Clock = SYSTEM_CLOCK) -> ApiToken:
    """The live token this bearer value is, or InvalidToken (one answer for every failure)."""
    match = _TOKEN.match(value)
    if match is None:
        raise InvalidToken("the bearer token is malformed")
    key_id, secret = match.groups()
    token = ApiToken.objects.filter(key_id=key_id).first()
    # Compare against something even for an unknown id, so timing tells nothing.
    expected = token.digest if token is not None else "0" * 64
    if not hmac.compare_digest(expected, _digest(secret)) or token is None:
        raise InvalidToken("the bearer token is not valid")
    now = clock.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise InvalidToken("the bearer token is revoked or expired")
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        # At most one write a minute per token for this: the audit trail has every use.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def rate_limit() -> int:
    """Requests allowed per token (and per address without a valid token) per minute."""
    return int(getattr(settings, "SEKISHO_API_RATE_LIMIT", DEFAULT_RATE_LIMIT))


def count_request(scope: str, *, clock: Clock = SYSTEM_CLOCK, limit: int | None = None) -> None:
    """Count one request in ``scope``'s current minute; RateLimited once over the limit."""
    allowed = rate_limit() if limit is None else limit
    now = clock.now()
    with transaction.atomic():
        row, _ = RequestWindow.objects.select_for_update().get_or_create(
            scope=scope[:128], defaults={"window_start": now, "count": 0}
        )
        if now - row.window_start >= WINDOW:
            row.window_start, row.count = now, 0
        row.count += 1
        row.save(update_fields=["window_start", "count"])
    if row.count > allowed:
        retry = WINDOW - (now - row.window_start)
        raise RateLimited(
            f"more than {allowed} requests in a minute",
            retry_after_seconds=max(1, int(retry.total_seconds()) + 1),
        )
