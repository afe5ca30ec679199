"""Pure sign-in throttling: failure counting and timed lockouts (NIST SP 800-63B-4 §3.2.2).

(§3.2.2 is "Rate Limiting (Throttling)"; it was §5.2.2 in revision 3.) The caller keeps
one ``ThrottleState`` per scope (an account, a source address, an MFA device owner),
checks before verifying a credential, and records the outcome after. Nothing here reads
a clock or a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures a scope may have, over what period, and how long it then locks.

    ``sliding``: each failure restarts the window, so failures are forgotten only after a
    whole ``window`` without any; any span shorter than ``window`` then holds at most
    ``max_failures`` failures (given ``lockout >= window``). With ``sliding=False`` the
    window is fixed from its first failure: more forgiving of a slow trickle of typos,
    but up to ``2 * max_failures - 1`` failures can straddle two windows.

    Each lockout in a row (no success in between) doubles the next one up to
    ``max_lockout``; a quiet ``max_lockout`` after a lock ends forgets the escalation.
    Doubling is how §3.2.2's cap of 100 consecutive failures is approached without a
    permanent lock an attacker could inflict: with the account defaults 100 failures in
    a row take about two weeks. ``reset_on_success``: whether a success clears the scope.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    max_lockout: timedelta = timedelta(hours=24)
    sliding: bool = True
    reset_on_success: bool = True
    # Whether a success also forgets the escalation (how many lockouts in a row): a scope
    # an attacker shares with the victim keeps it, so the victim's own success between
    # two locks does not hand the attacker a fresh, short lockout.
    success_forgets_escalation: bool = True

    def __post_init__(self) -> None:
        """Refuse policies that could never lock or never unlock."""
        if self.max_failures < 1:
            raise ValueError(f"max_failures must be at least 1, got {self.max_failures}")
        if self.window <= timedelta(0) or self.lockout <= timedelta(0):
            raise ValueError("window and lockout must be positive")
        if self.max_lockout < self.lockout:
            raise ValueError("max_lockout must be at least lockout")

    def lockout_for(self, lockouts_so_far: int) -> timedelta:
        """Length of the next lockout after ``lockouts_so_far`` consecutive ones."""
        if lockouts_so_far <= 0:
            return self.lockout
        # Cap the exponent first: 2**lockouts would otherwise overflow timedelta.
        factor = 1 << min(lockouts_so_far, 32)
        return min(self.lockout * factor, self.max_lockout)


# Throttling after OWASP's "Slow Down Online Guessing Attacks with Device Cookies": a
# browser that has completed a sign-in for a user carries a signed device cookie for that
# user (directory/known_devices.py) and is throttled on its own; every other browser
# shares the "unknown browsers" budget of the account. Guessing from anywhere locks only
# unknown browsers, and the victim's known browser keeps signing in.

# One known browser of one account: the NIST-style lockout. 5 wrong answers within 15
# minutes lock that browser for 15 minutes (then 30, 60, ... up to a day while the
# failures continue); its own success clears it.
DEVICE_POLICY = ThrottlePolicy()

# Every unknown browser of one account together: the same numbers, but a success keeps
# the escalation. Whatever an attacker does from however many addresses, an account gets
# at most about 35 guesses a day (15+30+...+480 minutes of lockouts after 30 failures,
# then 16 hours), and its owner's known browsers are untouched.
ACCOUNT_POLICY = ThrottlePolicy(success_forgets_escalation=False)

# One source address, for unknown browsers only: it slows password spraying (one password
# tried against many accounts from one address), which per-account scopes cannot see.
# A contact centre puts hundreds of agents behind one NAT address, so the budget is
# large (100 failures in a fixed 15-minute window: a whole floor's typos never come
# near it), escalation stops at an hour, one success never clears it (an attacker with
# one valid account must not reset it between guesses), and known browsers never count
# against it nor are refused by it.
ADDRESS_POLICY = ThrottlePolicy(
    max_failures=100,
    window=timedelta(minutes=15),
    lockout=timedelta(minutes=15),
    max_lockout=timedelta(hours=1),
    sliding=False,
    reset_on_success=False,
)


@dataclass(frozen=True)
class ThrottleState:
    """The stored counters of one scope.

    ``window_started``: start of the current counting window (with a sliding policy, the
    time of the latest failure). ``locked_until``: end of the current or last lockout.
    ``lockouts``: consecutive lockouts since the last success, for escalation; storing
    it is optional (always 0 means every lockout lasts ``policy.lockout``).
    """

    failures: int = 0
    window_started: datetime | None = None
    locked_until: datetime | None = None
    lockouts: int = 0
    # Attempts admitted and still being verified (see begin_attempt), and when the latest
    # of them began.
    in_flight: int = 0
    in_flight_since: datetime | None = None


# An attempt counted in flight for longer than this is forgotten: a worker that died
# between admitting an attempt and recording its outcome must not hold the budget for good.
IN_FLIGHT_TTL = timedelta(minutes=1)


def _in_flight(state: ThrottleState, now: datetime) -> int:
    if state.in_flight <= 0 or state.in_flight_since is None:
        return 0
    if now - state.in_flight_since >= IN_FLIGHT_TTL:
        # (A start "in the future" still counts: another node's clock may run ahead.)
        return 0
    return state.in_flight


def lock_end(state: ThrottleState, now: datetime) -> datetime | None:
    """When the lock in force at ``now`` ends, or None when the scope is not locked.

    Only a lock: attempts in flight can refuse an attempt for a moment (``check``), but
    lock nothing, and an administrator is shown locks.
    """
    if state.locked_until is not None and now < state.locked_until:
        return state.locked_until
    return None


def _live_failures(state: ThrottleState, now: datetime, policy: ThrottlePolicy) -> int:
    if state.window_started is None or now - state.window_started >= policy.window:
        return 0
    return max(state.failures, 0)


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may proceed now, and if not, how many seconds until it may."""

    allowed: bool
    retry_after_seconds: int = 0


def check(state: ThrottleState, *, now: datetime, policy: ThrottlePolicy) -> Verdict:
    """Decide whether a credential may be verified now for this scope.

    Call before verifying: while locked, the credential must not even be checked, so a
    correct guess during a lockout teaches the attacker nothing. Attempts in flight
    (``begin_attempt``) count as failures they may yet become: while they could lock
    the scope, no other attempt starts, so parallel guesses never overshoot the limit.
    """
    if (end := lock_end(state, now)) is not None:
        # If the clock went backwards, never report a wait longer than the policy allows.
        remaining = min(end - now, policy.max_lockout)
        return Verdict(
            allowed=False, retry_after_seconds=max(1, math.ceil(remaining.total_seconds()))
        )
    if _live_failures(state, now, policy) + _in_flight(state, now) >= policy.max_failures:
        return Verdict(allowed=False, retry_after_seconds=1)
    return Verdict(allowed=True, retry_after_seconds=0)


def begin_attempt(state: ThrottleState, *, now: datetime) -> ThrottleState:
    """Count an admitted attempt as in flight while its credential is verified.

    The caller stores this before verifying and releases its lock, so a slow
    verification (argon2id) holds no lock; ``end_attempt`` takes it back.
    """
    return replace(state, in_flight=_in_flight(state, now) + 1, in_flight_since=now)


def end_attempt(state: ThrottleState, *, now: datetime) -> ThrottleState:
    """The attempt's verification is over: it is no longer in flight (record its outcome)."""
    left = max(_in_flight(state, now) - 1, 0)
    return replace(state, in_flight=left, in_flight_since=state.in_flight_since if left else None)


def record_failure(
    state: ThrottleState, *, now: datetime, policy: ThrottlePolicy
) -> tuple[ThrottleState, bool]:
    """Count one failed attempt; return the new state and whether it just locked the scope."""
    if state.locked_until is not None and now < state.locked_until:
        # Attempts during a lockout are refused before verification and not counted:
        # counting them would let anyone extend a lock forever at no cost.
        return state, False
    lockouts = state.lockouts
    if state.locked_until is not None and now - state.locked_until >= policy.max_lockout:
        lockouts = 0  # the last lockout is long over: start escalation afresh
    expired = state.window_started is None or now - state.window_started >= policy.window
    window_started: datetime | None
    if expired or state.failures <= 0:
        failures, window_started = 1, now
    else:
        failures = state.failures + 1
        window_started = now if policy.sliding else state.window_started
    if failures >= policy.max_failures:
        locked_until = now + policy.lockout_for(lockouts)
        return (
            replace(
                state,
                failures=0,
                window_started=None,
                locked_until=locked_until,
                lockouts=lockouts + 1,
            ),
            True,
        )
    return (
        replace(
            state,
            failures=failures,
            window_started=window_started,
            lockouts=lockouts,
        ),
        False,
    )


def record_success(state: ThrottleState, *, policy: ThrottlePolicy | None = None) -> ThrottleState:
    """Forget the scope's failures after a successful sign-in (unless the policy keeps them).

    Pass the policy for a source-address scope: ADDRESS_POLICY keeps its counters.
    """
    if policy is not None and not policy.reset_on_success:
        return state
    # Other attempts may still be in flight: they stay counted.
    if policy is not None and not policy.success_forgets_escalation:
        return replace(state, failures=0, window_started=None)
    return replace(state, failures=0, window_started=None, locked_until=None, lockouts=0)
