"""Sign-in throttling: counting, lockout, escalation, and the per-window bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.directory import throttle
from sekisho.directory.throttle import (
    ACCOUNT_POLICY,
    ADDRESS_POLICY,
    DEVICE_POLICY,
    ThrottlePolicy,
    ThrottleState,
    Verdict,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def fail_times(
    state: ThrottleState, times: list[datetime], policy: ThrottlePolicy = ACCOUNT_POLICY
) -> tuple[ThrottleState, list[bool]]:
    locks = []
    for now in times:
        state, locked = throttle.record_failure(state, now=now, policy=policy)
        locks.append(locked)
    return state, locks


def test_defaults_are_five_failures_in_fifteen_minutes_then_fifteen_minutes() -> None:
    assert ACCOUNT_POLICY.max_failures == 5
    assert ACCOUNT_POLICY.window == timedelta(minutes=15)
    assert ACCOUNT_POLICY.lockout == timedelta(minutes=15)
    assert DEVICE_POLICY.max_failures == 5 and DEVICE_POLICY.success_forgets_escalation
    assert ACCOUNT_POLICY.success_forgets_escalation is False
    assert ADDRESS_POLICY.max_failures == 100
    assert ADDRESS_POLICY.window == timedelta(minutes=15)
    assert ADDRESS_POLICY.reset_on_success is False


def test_fresh_state_is_allowed() -> None:
    assert throttle.check(ThrottleState(), now=T0, policy=ACCOUNT_POLICY) == Verdict(True, 0)


def test_fifth_failure_locks_for_fifteen_minutes() -> None:
    state, locks = fail_times(ThrottleState(), [T0 + i * MIN for i in range(5)])
    assert locks == [False, False, False, False, True]
    at = T0 + 4 * MIN
    assert state.locked_until == at + timedelta(minutes=15)
    verdict = throttle.check(state, now=at, policy=ACCOUNT_POLICY)
    assert verdict == Verdict(allowed=False, retry_after_seconds=900)
    assert throttle.check(state, now=at + timedelta(seconds=899.5), policy=ACCOUNT_POLICY) == (
        Verdict(allowed=False, retry_after_seconds=1)
    )
    assert throttle.check(state, now=at + timedelta(minutes=15), policy=ACCOUNT_POLICY).allowed


def test_four_failures_do_not_lock() -> None:
    state, locks = fail_times(ThrottleState(), [T0 + i * MIN for i in range(4)])
    assert not any(locks)
    assert state.failures == 4
    assert throttle.check(state, now=T0 + 4 * MIN, policy=ACCOUNT_POLICY).allowed


def test_failures_during_a_lockout_are_not_counted() -> None:
    state, _ = fail_times(ThrottleState(), [T0] * 5)
    again, locked = throttle.record_failure(state, now=T0 + MIN, policy=ACCOUNT_POLICY)
    assert again == state
    assert locked is False


def test_sliding_window_restarts_at_each_failure() -> None:
    # 14 minutes apart: every failure is within the window of the previous one.
    _, locks = fail_times(ThrottleState(), [T0 + i * 14 * MIN for i in range(5)])
    assert locks[-1] is True


def test_a_quiet_window_forgets_failures() -> None:
    state, locks = fail_times(ThrottleState(), [T0 + i * 15 * MIN for i in range(10)])
    assert not any(locks)
    assert state.failures == 1


def test_fixed_window_forgives_a_slow_trickle() -> None:
    policy = ThrottlePolicy(max_failures=3, sliding=False)
    # Failures 10 minutes apart: each fixed window holds at most two of them.
    _, locks = fail_times(ThrottleState(), [T0 + i * 10 * MIN for i in range(12)], policy)
    assert not any(locks)


def test_address_scope_keeps_counting_for_many_users() -> None:
    state, locks = fail_times(
        ThrottleState(), [T0 + i * timedelta(seconds=5) for i in range(100)], ADDRESS_POLICY
    )
    assert locks[:99] == [False] * 99
    assert locks[99] is True
    assert state.locked_until == T0 + 495 * timedelta(seconds=1) + timedelta(minutes=15)


def test_success_resets_an_account_but_not_an_address() -> None:
    state, _ = fail_times(ThrottleState(), [T0, T0, T0])
    assert throttle.record_success(state) == ThrottleState()
    assert throttle.record_success(state, policy=DEVICE_POLICY) == ThrottleState()
    assert throttle.record_success(state, policy=ACCOUNT_POLICY) == ThrottleState()
    assert throttle.record_success(state, policy=ADDRESS_POLICY) == state


def test_a_success_keeps_an_accounts_escalation_for_unknown_browsers() -> None:
    """The owner's success between two locks must not shorten the attacker's next one."""
    state, _ = fail_times(ThrottleState(), [T0 + i * timedelta(seconds=1) for i in range(5)])
    assert state.lockouts == 1
    after = throttle.record_success(state, policy=ACCOUNT_POLICY)
    assert after.failures == 0 and after.lockouts == 1
    again, _ = fail_times(after, [T0 + 20 * MIN + i * timedelta(seconds=1) for i in range(5)])
    assert again.locked_until == T0 + 20 * MIN + 4 * timedelta(seconds=1) + 30 * MIN
    assert throttle.record_success(state, policy=DEVICE_POLICY) == ThrottleState()


def test_lockouts_escalate_and_cap() -> None:
    policy = ThrottlePolicy(
        max_failures=2, lockout=timedelta(minutes=15), max_lockout=timedelta(hours=1)
    )
    state = ThrottleState()
    now = T0
    lengths = []
    for _ in range(5):
        state, _ = throttle.record_failure(state, now=now, policy=policy)
        state, locked = throttle.record_failure(state, now=now, policy=policy)
        assert locked
        assert state.locked_until is not None
        lengths.append(state.locked_until - now)
        now = state.locked_until
    assert lengths == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_escalation_is_forgotten_after_a_quiet_max_lockout() -> None:
    policy = ThrottlePolicy(max_failures=1, max_lockout=timedelta(hours=1))
    state, _ = throttle.record_failure(ThrottleState(), now=T0, policy=policy)
    assert state.lockouts == 1
    assert state.locked_until is not None
    later = state.locked_until + timedelta(hours=1)
    state, _ = throttle.record_failure(state, now=later, policy=policy)
    assert state.locked_until == later + timedelta(minutes=15)
    assert state.lockouts == 1


def test_success_clears_escalation() -> None:
    state, _ = fail_times(ThrottleState(), [T0] * 5)
    assert state.lockouts == 1
    assert throttle.record_success(state).lockouts == 0


def test_three_field_state_without_lockouts_still_works() -> None:
    # Storage that keeps only failures/window_started/locked_until gets fixed lockouts.
    state, _ = fail_times(ThrottleState(), [T0] * 5)
    stored = ThrottleState(state.failures, state.window_started, state.locked_until)
    assert state.locked_until is not None
    state2, _ = fail_times(stored, [state.locked_until] * 5)
    assert state2.locked_until == state.locked_until + timedelta(minutes=15)


def test_retry_after_never_exceeds_the_policy_even_if_the_clock_went_back() -> None:
    state = ThrottleState(locked_until=T0 + timedelta(days=30))
    verdict = throttle.check(state, now=T0, policy=ACCOUNT_POLICY)
    assert not verdict.allowed
    assert verdict.retry_after_seconds == int(ACCOUNT_POLICY.max_lockout.total_seconds())


def test_lockout_for_does_not_overflow() -> None:
    assert ACCOUNT_POLICY.lockout_for(10_000) == ACCOUNT_POLICY.max_lockout
    assert ACCOUNT_POLICY.lockout_for(0) == ACCOUNT_POLICY.lockout


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failures": 0},
        {"window": timedelta(0)},
        {"lockout": timedelta(seconds=-1)},
        {"lockout": timedelta(hours=2), "max_lockout": timedelta(hours=1)},
    ],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ThrottlePolicy(**kwargs)  # type: ignore[arg-type]


def test_a_hundred_consecutive_failures_take_about_two_weeks() -> None:
    # NIST SP 800-63B-4 §3.2.2 caps consecutive failures at 100; escalation approaches
    # that without a permanent lock.
    state, now, failures = ThrottleState(), T0, 0
    while failures < 100:
        verdict = throttle.check(state, now=now, policy=ACCOUNT_POLICY)
        if not verdict.allowed:
            now += timedelta(seconds=verdict.retry_after_seconds)
            continue
        state, _ = throttle.record_failure(state, now=now, policy=ACCOUNT_POLICY)
        failures += 1
    assert now - T0 > timedelta(days=10)


gaps = st.lists(
    st.integers(min_value=0, max_value=40 * 60).map(lambda s: timedelta(seconds=s)),
    min_size=1,
    max_size=80,
)
policies = st.builds(
    ThrottlePolicy,
    max_failures=st.integers(min_value=1, max_value=8),
    window=st.integers(min_value=60, max_value=3600).map(lambda s: timedelta(seconds=s)),
    sliding=st.booleans(),
).filter(lambda p: p.lockout >= p.window)


def attack(policy: ThrottlePolicy, attempt_gaps: list[timedelta]) -> list[datetime]:
    """An attacker trying at the given gaps; only attempts `check` allows are verified."""
    state, now, counted = ThrottleState(), T0, []
    for gap in attempt_gaps:
        now += gap
        if not throttle.check(state, now=now, policy=policy).allowed:
            continue
        state, _ = throttle.record_failure(state, now=now, policy=policy)
        counted.append(now)
    return counted


def most_in_any_window(times: list[datetime], window: timedelta) -> int:
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t - start < window))
    return best


@settings(max_examples=300)
@given(policy=policies, attempt_gaps=gaps)
def test_never_more_than_max_failures_in_any_window(
    policy: ThrottlePolicy, attempt_gaps: list[timedelta]
) -> None:
    counted = attack(policy, attempt_gaps)
    worst = most_in_any_window(counted, policy.window)
    if policy.sliding:
        assert worst <= policy.max_failures
    else:
        # A fixed window can be straddled: the documented bound.
        assert worst <= 2 * policy.max_failures - 1


@settings(max_examples=200)
@given(policy=policies, attempt_gaps=gaps)
def test_a_lock_happens_exactly_at_max_failures(
    policy: ThrottlePolicy, attempt_gaps: list[timedelta]
) -> None:
    state, now = ThrottleState(), T0
    for gap in attempt_gaps:
        now += gap
        if not throttle.check(state, now=now, policy=policy).allowed:
            continue
        before = state
        state, locked = throttle.record_failure(state, now=now, policy=policy)
        expired = before.window_started is None or now - before.window_started >= policy.window
        run = 1 if expired else before.failures + 1
        assert locked == (run >= policy.max_failures)
        assert 0 <= state.failures < policy.max_failures


# --- attempts in flight: the slow verification holds no lock, the limit still holds ---


def test_attempts_in_flight_count_as_the_failures_they_may_become() -> None:
    state, _ = fail_times(ThrottleState(), [T0, T0, T0])  # 3 of 5
    one = throttle.begin_attempt(state, now=T0)
    assert throttle.check(one, now=T0, policy=ACCOUNT_POLICY).allowed  # 3 + 1 < 5
    two = throttle.begin_attempt(one, now=T0)
    assert throttle.check(two, now=T0, policy=ACCOUNT_POLICY) == Verdict(False, 1)
    back = throttle.end_attempt(two, now=T0)
    assert back.in_flight == 1 and throttle.check(back, now=T0, policy=ACCOUNT_POLICY).allowed
    done = throttle.end_attempt(back, now=T0)
    assert (done.in_flight, done.in_flight_since) == (0, None)


def test_an_attempt_left_in_flight_is_forgotten_after_a_minute() -> None:
    state, _ = fail_times(ThrottleState(), [T0] * 4)
    stuck = throttle.begin_attempt(state, now=T0)  # its worker died mid-hash
    assert not throttle.check(
        stuck, now=T0 + 59 * timedelta(seconds=1), policy=ACCOUNT_POLICY
    ).allowed
    assert throttle.check(stuck, now=T0 + throttle.IN_FLIGHT_TTL, policy=ACCOUNT_POLICY).allowed
    assert throttle.end_attempt(stuck, now=T0 + 2 * MIN).in_flight == 0


def test_outcomes_keep_the_other_attempts_in_flight() -> None:
    state = throttle.begin_attempt(throttle.begin_attempt(ThrottleState(), now=T0), now=T0)
    ended = throttle.end_attempt(state, now=T0)
    failed, _ = throttle.record_failure(ended, now=T0, policy=ACCOUNT_POLICY)
    assert failed.in_flight == 1 and failed.failures == 1
    for policy in (ACCOUNT_POLICY, DEVICE_POLICY, ADDRESS_POLICY, None):
        assert throttle.record_success(failed, policy=policy).in_flight == 1
    locked, just = fail_times(failed, [T0] * 4)
    assert just[-1] and locked.in_flight == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_parallel_guesses_never_overshoot_the_limit(moves: list[bool]) -> None:
    """However admissions and wrong answers interleave, a lock comes at the 5th failure
    and no more than 5 guesses are ever verified before it."""
    state, in_flight, verified = ThrottleState(), 0, 0
    for start in moves:
        if start:
            if throttle.check(state, now=T0, policy=ACCOUNT_POLICY).allowed:
                state, in_flight, verified = (
                    throttle.begin_attempt(state, now=T0),
                    in_flight + 1,
                    verified + 1,
                )
        elif in_flight:
            state = throttle.end_attempt(state, now=T0)
            state, locked = throttle.record_failure(state, now=T0, policy=ACCOUNT_POLICY)
            in_flight -= 1
            if locked:
                assert verified == ACCOUNT_POLICY.max_failures
                return
        assert verified <= ACCOUNT_POLICY.max_failures


def test_lock_end_is_a_lock_in_force_and_nothing_else() -> None:
    locked, _ = fail_times(ThrottleState(), [T0] * 5)
    assert throttle.lock_end(locked, T0) == locked.locked_until
    assert throttle.lock_end(locked, locked.locked_until) is None  # over
    busy = throttle.begin_attempt(fail_times(ThrottleState(), [T0] * 4)[0], now=T0)
    assert not throttle.check(busy, now=T0, policy=ACCOUNT_POLICY).allowed
    assert throttle.lock_end(busy, T0) is None  # refused for a moment, not locked
