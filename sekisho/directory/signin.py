"""The password sign-in decision: throttling, constant-time checks, one generic failure, audit."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from sekisho.audit import records
from sekisho.audit.records import LockScope
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import throttle
from sekisho.directory.models import SignInThrottle, User
from sekisho.directory.rules import normalize_password, username_key

ACCOUNT_POLICY = throttle.ACCOUNT_POLICY
ADDRESS_POLICY = throttle.ADDRESS_POLICY

# Compared against when the username is unknown, so both paths cost one argon2 verify.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password("sekisho-timing-equaliser")
    return _DUMMY_HASH


@dataclass(frozen=True)
class PasswordDecision:
    """The outcome of a password check: the user on success, else why (never shown verbatim)."""

    ok: bool
    user: User | None
    reason: str  # "ok" | "invalid" | "locked"
    retry_after_seconds: int = 0


def normalize_username(raw: str) -> str:
    """The username as typed, NFC-normalised and stripped of surrounding spaces."""
    return unicodedata.normalize("NFC", raw).strip()


def account_scope(username: str) -> str:
    """Throttle scope of a typed username: hashed, so a mistyped password is never stored."""
    digest = hashlib.sha256(username.casefold().encode("utf-8")).hexdigest()
    return "account:" + digest


def address_scope(source_ip: str) -> str:
    """Throttle scope of a source address."""
    return "address:" + source_ip


def _state(row: SignInThrottle) -> throttle.ThrottleState:
    return throttle.ThrottleState(
        failures=row.failures,
        window_started=row.window_started,
        locked_until=row.locked_until,
        lockouts=row.lockouts,
    )


def load_throttle(scope: str) -> tuple[SignInThrottle, throttle.ThrottleState]:
    """Lock and read one scope's counters, to update them (inside ``transaction.atomic``).

    Raises:
        TransactionManagementError: outside a transaction (PostgreSQL refuses a row lock
            there; SQLite would silently not lock).
    """
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError(
            "load_throttle locks a row: call it inside transaction.atomic()"
        )
    row, _ = SignInThrottle.objects.select_for_update().get_or_create(scope=scope)
    return row, _state(row)


def peek_throttle(scope: str) -> throttle.ThrottleState:
    """Read one scope's counters without locking or creating them (to check, not update)."""
    row = SignInThrottle.objects.filter(scope=scope).first()
    return throttle.ThrottleState() if row is None else _state(row)


def store_throttle(row: SignInThrottle, state: throttle.ThrottleState) -> None:
    """Write one scope's counters back."""
    row.failures = state.failures
    row.window_started = state.window_started
    row.locked_until = state.locked_until
    row.lockouts = state.lockouts
    row.save(update_fields=["failures", "window_started", "locked_until", "lockouts"])


def check_password_sign_in(
    *,
    username: str,
    password: str,
    context: RequestContext,
    workflow_id: str,
    clock: Clock = SYSTEM_CLOCK,
) -> PasswordDecision:
    """Decide a password sign-in and write its audit events.

    Failures are indistinguishable to the caller whether the user is unknown, disabled,
    or the password is wrong (no enumeration); both paths run one argon2 verification so
    their timing matches. Counters per account and per source address lock further
    attempts for a while (NIST SP 800-63B §5.2.2).
    """
    now: datetime = clock.now()
    username = normalize_username(username)
    with transaction.atomic():
        user = User.objects.filter(username_key=username_key(username)).first()
        emit(
            records.credential_challenge(
                credential_type="PASSWORD",
                workflow_id=workflow_id,
                user_name=username if user is not None else None,
                user_uid=str(user.uid) if user is not None else None,
                identity_store_arn=identity_store_arn(),
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=now,
            )
        )
        account_row, account_state = load_throttle(account_scope(username))
        address_row, address_state = load_throttle(address_scope(context.source_ip))
        verdicts = (
            throttle.check(account_state, now=now, policy=ACCOUNT_POLICY),
            throttle.check(address_state, now=now, policy=ADDRESS_POLICY),
        )
        if user is not None and user.has_usable_password():
            password_ok = check_password(normalize_password(password), user.password)
        else:
            check_password(password, _dummy_hash())
            password_ok = False
        locked = [v for v in verdicts if not v.allowed]
        success = password_ok and not locked and user is not None and user.is_active
        emit(
            records.credential_verification(
                credential_type="PASSWORD",
                success=success,
                workflow_id=workflow_id,
                user_uid=str(user.uid) if user is not None else None,
                identity_store_arn=identity_store_arn(),
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=now,
            )
        )
        if locked:
            return PasswordDecision(
                ok=False,
                user=None,
                reason="locked",
                retry_after_seconds=max(v.retry_after_seconds for v in locked),
            )
        if success:
            store_throttle(
                account_row, throttle.record_success(account_state, policy=ACCOUNT_POLICY)
            )
            return PasswordDecision(ok=True, user=user, reason="ok")
        scopes: tuple[
            tuple[SignInThrottle, throttle.ThrottleState, throttle.ThrottlePolicy, LockScope], ...
        ] = (
            (account_row, account_state, ACCOUNT_POLICY, "account"),
            (address_row, address_state, ADDRESS_POLICY, "ip"),
        )
        for row, state, policy, scope_kind in scopes:
            new_state, just_locked = throttle.record_failure(state, now=now, policy=policy)
            store_throttle(row, new_state)
            if just_locked:
                emit(
                    records.account_locked(
                        scope=scope_kind,
                        user_uid=str(user.uid) if user is not None else None,
                        identity_store_arn=identity_store_arn(),
                        source_ip=context.source_ip,
                        user_agent=context.user_agent,
                        workflow_id=workflow_id,
                        locked_until=new_state.locked_until or now,
                        now=now,
                    )
                )
        return PasswordDecision(ok=False, user=None, reason="invalid")
