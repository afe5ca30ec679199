"""The password sign-in decision: throttling, constant-time checks, one generic failure, audit."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from sekisho.audit import records
from sekisho.audit.records import LockScope
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import throttle
from sekisho.directory.known_devices import KnownBrowser
from sekisho.directory.models import SignInThrottle, User
from sekisho.directory.rules import normalize_password, username_key

# Compared against when the username is unknown, so both paths cost one argon2 verify.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password("sekisho-timing-equaliser")
    return _DUMMY_HASH


def _rehash(user: User) -> Callable[[str], None]:
    """Store the password again when its hash predates the configured parameters."""

    def setter(raw_password: str) -> None:
        user.set_password(raw_password)
        user.save(update_fields=["password"])

    return setter


@dataclass(frozen=True)
class PasswordDecision:
    """The outcome of a password check: the user on success, else why (never shown verbatim)."""

    ok: bool
    user: User | None
    reason: str  # "ok" | "invalid" | "locked"
    retry_after_seconds: int = 0
    # When locked: which scope refused ("browser", "account" or "ip"), for the audit.
    locked_scope: str | None = None


def normalize_username(raw: str) -> str:
    """The username as typed, NFC-normalised and stripped of surrounding spaces."""
    return unicodedata.normalize("NFC", raw).strip()


def account_scope(username: str) -> str:
    """Throttle scope of a typed username: hashed, so a mistyped password is never stored."""
    digest = hashlib.sha256(username.casefold().encode("utf-8")).hexdigest()
    return "account:" + digest


def address_scope(source_ip: str) -> str:
    """Throttle scope of a source address (unknown browsers only)."""
    return "address:" + source_ip


def browser_scope(user_uid: str, nonce: str, *, prefix: str = "browser") -> str:
    """Throttle scope of one known browser of one user (its known-browser cookie's nonce)."""
    # Hashed: the table never holds a cookie's nonce, which would let a reader of the
    # database borrow a victim's browser budget.
    return f"{prefix}:{user_uid}:{hashlib.sha256(nonce.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Scope:
    """One throttle scope a password attempt counts against, and its policy."""

    key: str
    policy: throttle.ThrottlePolicy
    kind: LockScope


def password_scopes(
    *, username: str, user: User | None, known: KnownBrowser, source_ip: str
) -> tuple[Scope, ...]:
    """Where a password attempt counts (OWASP's device cookies, see throttle.py).

    A browser known for this user counts on its own; any other browser counts against
    the account's unknown-browser budget and its address's budget.
    """
    nonce = known.nonce_for(str(user.uid)) if user is not None else None
    if nonce is not None and user is not None:
        return (Scope(browser_scope(str(user.uid), nonce), throttle.DEVICE_POLICY, "browser"),)
    return (
        Scope(account_scope(username), throttle.ACCOUNT_POLICY, "account"),
        Scope(address_scope(source_ip), throttle.ADDRESS_POLICY, "ip"),
    )


def _state(row: SignInThrottle) -> throttle.ThrottleState:
    return throttle.ThrottleState(
        failures=row.failures,
        window_started=row.window_started,
        locked_until=row.locked_until,
        lockouts=row.lockouts,
        in_flight=row.in_flight,
        in_flight_since=row.in_flight_since,
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


_THROTTLE_FIELDS = (
    "failures",
    "window_started",
    "locked_until",
    "lockouts",
    "in_flight",
    "in_flight_since",
)


def store_throttle(row: SignInThrottle, state: throttle.ThrottleState) -> None:
    """Write one scope's counters back (no write when they did not change)."""
    if _state(row) == state:
        # The usual successful sign-in of someone with no failures: nothing to forget.
        return
    row.failures = state.failures
    row.window_started = state.window_started
    row.locked_until = state.locked_until
    row.lockouts = state.lockouts
    row.in_flight = state.in_flight
    row.in_flight_since = state.in_flight_since
    row.save(update_fields=[*_THROTTLE_FIELDS])


def _failure_reason(user: User | None, password_ok: bool) -> str:
    # For the audit trail and metrics only: the person always sees one generic message.
    # (A throttled attempt is refused before this, as throttled_<scope>.)
    if user is None:
        return "unknown_user"
    if not password_ok:
        return "invalid_password"
    return "user_disabled"


def check_password_sign_in(
    *,
    username: str,
    password: str,
    context: RequestContext,
    workflow_id: str,
    known: KnownBrowser | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> PasswordDecision:
    """Decide a password sign-in and write its audit events.

    Failures are indistinguishable to the caller whether the user is unknown, disabled,
    or the password is wrong (no enumeration); both paths run one argon2 verification so
    their timing matches. Throttling (NIST SP 800-63B-4 §3.2.2) counts failures where
    they come from: a browser that completed a sign-in for this user (``known``) on its
    own, any other browser against the account's unknown-browser budget and the address's
    (see password_scopes), so guessing never locks the owner's known browsers.
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
        scopes = password_scopes(
            username=username, user=user, known=known or KnownBrowser(), source_ip=context.source_ip
        )
        loaded = [(scope, *load_throttle(scope.key)) for scope in scopes]
        locked = [
            (scope, verdict)
            for scope, _row, state in loaded
            if not (verdict := throttle.check(state, now=now, policy=scope.policy)).allowed
        ]
        if locked:
            # While locked the password is not even checked: a correct guess teaches nothing.
            scope, _verdict = locked[0]
            emit(
                records.credential_verification(
                    credential_type="PASSWORD",
                    success=False,
                    workflow_id=workflow_id,
                    user_uid=str(user.uid) if user is not None else None,
                    identity_store_arn=identity_store_arn(),
                    failure_reason=f"throttled_{scope.kind}",
                    source_ip=context.source_ip,
                    user_agent=context.user_agent,
                    now=now,
                )
            )
            return PasswordDecision(
                ok=False,
                user=None,
                reason="locked",
                retry_after_seconds=max(v.retry_after_seconds for _s, v in locked),
                locked_scope=scope.kind,
            )
        for _scope, row, state in loaded:
            store_throttle(row, throttle.begin_attempt(state, now=now))
    # argon2id runs outside any transaction: held through it, the throttle rows' locks (on
    # SQLite, the database's one write lock) made every other sign-in, and on SQLite every
    # launch, wait for it. The attempt is counted in flight instead, so parallel guesses
    # still never overshoot a scope's limit (throttle.check).
    try:
        if user is not None and user.has_usable_password():
            password_ok = check_password(
                normalize_password(password), user.password, setter=_rehash(user)
            )
        else:
            check_password(password, _dummy_hash())
            password_ok = False
    except Exception:
        _end_attempts(scopes, now=now)
        raise
    success = password_ok and user is not None and user.is_active
    with transaction.atomic():
        emit(
            records.credential_verification(
                credential_type="PASSWORD",
                success=success,
                workflow_id=workflow_id,
                user_uid=str(user.uid) if user is not None else None,
                identity_store_arn=identity_store_arn(),
                failure_reason=None if success else _failure_reason(user, password_ok),
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=now,
            )
        )
        if success:
            for scope in scopes:
                row, ended = _taken_back(scope, now=now)
                store_throttle(row, throttle.record_success(ended, policy=scope.policy))
            return PasswordDecision(ok=True, user=user, reason="ok")
        for scope in scopes:
            row, ended = _taken_back(scope, now=now)
            new_state, just_locked = throttle.record_failure(ended, now=now, policy=scope.policy)
            store_throttle(row, new_state)
            if just_locked:
                emit(
                    records.account_locked(
                        scope=scope.kind,
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


def _taken_back(scope: Scope, *, now: datetime) -> tuple[SignInThrottle, throttle.ThrottleState]:
    """Lock one scope's row and take this attempt out of flight (its outcome comes next)."""
    row, state = load_throttle(scope.key)
    return row, throttle.end_attempt(state, now=now)


def _end_attempts(scopes: tuple[Scope, ...], *, now: datetime) -> None:
    """Take back attempts whose verification failed to run (counted, not decided)."""
    with transaction.atomic():
        for scope in scopes:
            store_throttle(*_taken_back(scope, now=now))
