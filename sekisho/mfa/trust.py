"""Context-aware MFA: trusted browsers (signed, revocable device cookies) and known addresses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing

from sekisho.crypto import b64url, constant_time_equals
from sekisho.directory.models import User
from sekisho.mfa.methods import MfaContext, MfaMode, MfaPolicy, SignInContext, address_in
from sekisho.mfa.models import KnownAddress, TrustedDevice

COOKIE_NAME = "sekisho_device"
_SALT = "sekisho.mfa.trusted-device"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCookie:
    """A new trusted-device cookie: its value and how long the browser keeps it."""

    value: str
    max_age: int
    device: TrustedDevice


def issue(user: User, ctx: MfaContext, *, days: int) -> IssuedCookie:
    """Trust this browser for ``days``: a database row plus a signed cookie naming it.

    The cookie carries the owner's uid, the row's public id and a random secret whose hash
    the row keeps: it is useless for another user, after revocation, after expiry, or if
    forged from a database dump.
    """
    now = ctx.clock.now()
    public_id = b64url(ctx.random.token_bytes(12))
    secret = b64url(ctx.random.token_bytes(32))
    device = TrustedDevice.objects.create(
        user=user,
        public_id=public_id,
        token_digest=_digest(secret),
        user_agent=ctx.request.user_agent[:512],
        created_ip=ctx.request.source_ip,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    value = signing.dumps([str(user.uid), public_id, secret], salt=_SALT, compress=False)
    return IssuedCookie(value=value, max_age=days * 86400, device=device)


def trust_if_asked(
    user: User, ctx: MfaContext, *, asked: bool, mfa_passed: bool, policy: MfaPolicy
) -> IssuedCookie | None:
    """The decision to trust a browser: only when asked, after MFA, in context-aware mode."""
    if not (asked and mfa_passed and policy.mode is MfaMode.CONTEXT_AWARE):
        return None
    return issue(user, ctx, days=policy.trust_days)


def find(user: User, cookie: str | None, *, now: datetime) -> TrustedDevice | None:
    """The user's live trusted device this cookie names, or None (any doubt means None)."""
    if not cookie or len(cookie) > 1024:
        return None
    try:
        uid, public_id, secret = signing.loads(cookie, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not all(isinstance(part, str) for part in (uid, public_id, secret)):
        return None
    if not constant_time_equals(uid, str(user.uid)):
        return None
    device = TrustedDevice.objects.filter(user=user, public_id=public_id).first()
    if device is None or device.revoked_at is not None or device.expires_at <= now:
        return None
    if not constant_time_equals(device.token_digest, _digest(secret)):
        return None
    return device


def address_known(user: User, address: str, policy: MfaPolicy) -> bool:
    """Whether the address is in the known networks or one where the user passed MFA."""
    if address_in(address, policy.known_networks):
        return True
    return KnownAddress.objects.filter(user=user, address=address).exists()


def sign_in_context(
    user: User, *, cookie: str | None, address: str, policy: MfaPolicy, now: datetime
) -> tuple[SignInContext, TrustedDevice | None]:
    """What context-aware mode decides on, and the trusted device found (to mark it used)."""
    device = find(user, cookie, now=now)
    return (
        SignInContext(
            device_trusted=device is not None,
            address_known=address_known(user, address, policy),
        ),
        device,
    )


def mark_used(device: TrustedDevice, *, now: datetime) -> None:
    """Remember when a trusted device last skipped MFA."""
    device.last_used_at = now
    device.save(update_fields=["last_used_at"])


def remember_address(user: User, address: str, *, now: datetime) -> None:
    """Record an address where the user just passed MFA."""
    updated = KnownAddress.objects.filter(user=user, address=address).update(last_seen=now)
    if not updated:
        KnownAddress.objects.get_or_create(
            user=user, address=address, defaults={"first_seen": now, "last_seen": now}
        )


def devices(user: User, *, now: datetime) -> list[TrustedDevice]:
    """The user's trusted browsers that are neither revoked nor expired, newest first."""
    return list(
        TrustedDevice.objects.filter(
            user=user, revoked_at__isnull=True, expires_at__gt=now
        ).order_by("-created_at")
    )


def revoke(user: User, public_id: str, *, now: datetime) -> bool:
    """Stop trusting one of the user's browsers; its cookie no longer skips MFA."""
    updated = TrustedDevice.objects.filter(
        user=user, public_id=public_id, revoked_at__isnull=True
    ).update(revoked_at=now)
    return updated > 0


def revoke_all(user: User, *, now: datetime) -> int:
    """Stop trusting every browser of the user (after removing a device, an admin reset)."""
    return TrustedDevice.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
