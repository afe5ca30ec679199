"""Throttling that stops guessing without locking people out (issue 9, finding 3).

OWASP's device cookies: a browser that completed a sign-in for a user is throttled on
its own; every other browser shares the account's unknown-browser budget and its
address's budget. These tests play a contact centre's morning behind one NAT address,
an attacker on that address and on others, and the victim in their own browser.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client, override_settings

from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import RequestContext
from sekisho.clock import FrozenClock
from sekisho.directory import known_devices
from sekisho.directory.known_devices import KnownBrowser
from sekisho.directory.models import User
from sekisho.directory.signin import PasswordDecision, check_password_sign_in
from sekisho.mfa import totp
from tests.conftest import PASSWORD, password_step, sign_in_registering

NAT = "198.51.100.7"
WRONG = "not the password at all"


def attempt(
    username: str,
    password: str,
    *,
    address: str,
    known: KnownBrowser | None = None,
    clock: FrozenClock,
) -> PasswordDecision:
    return check_password_sign_in(
        username=username,
        password=password,
        context=RequestContext(source_ip=address, user_agent="test"),
        workflow_id="w",
        known=known,
        clock=clock,
    )


def _nonce_source() -> Iterator[str]:
    counter = 0
    while True:
        counter += 1
        yield f"nonce-{counter}"


@pytest.fixture
def fast_hashes() -> Iterator[None]:
    # Hundreds of people sign in here: the password hash's cost is not what is tested.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def _agents(count: int) -> list[User]:
    hashed = make_password(PASSWORD)
    users = [
        User(
            username=f"agent{n:03d}",
            username_key=f"agent{n:03d}",
            email=f"agent{n:03d}@example.com",
            display_name=f"Agent {n}",
            password=hashed,
        )
        for n in range(count)
    ]
    User.objects.bulk_create(users)
    return list(User.objects.filter(username__startswith="agent").order_by("username"))


@pytest.mark.django_db
def test_five_hundred_agents_behind_one_address_all_get_in(fast_hashes, clock) -> None:
    rng = random.Random(20261203)
    agents = _agents(500)
    nonces = _nonce_source()
    browsers: dict[str, KnownBrowser] = {}
    # Day one: everyone signs in for the first time (unknown browsers) within an hour,
    # and one in ten mistypes first.
    for agent in agents:
        clock.advance(7)
        if rng.random() < 0.10:
            assert attempt(agent.username, WRONG, address=NAT, clock=clock).reason == "invalid"
        done = attempt(agent.username, PASSWORD, address=NAT, clock=clock)
        assert done.ok, (agent.username, done)
        browsers[agent.username] = KnownBrowser().remember(str(agent.uid), lambda: next(nonces))
    # Day two, 8:50 to 9:00: the whole floor at once, one in five mistyping (some twice),
    # while someone on the same network sprays a password at every account.
    clock.advance(23 * 3600)
    order = list(agents)
    rng.shuffle(order)
    refused = []
    for agent in order:
        clock.advance(1)
        attacker = rng.choice(agents).username
        attempt(attacker, "Summer2026!", address=NAT, clock=clock)
        for _ in range(rng.choice([0, 0, 0, 0, 1, 2])):
            attempt(agent.username, WRONG, address=NAT, known=browsers[agent.username], clock=clock)
        done = attempt(
            agent.username, PASSWORD, address=NAT, known=browsers[agent.username], clock=clock
        )
        if not done.ok:
            refused.append((agent.username, done.reason, done.locked_scope))
    assert refused == []
    # The spraying did lock the address for unknown browsers, as it should.
    stranger = attempt(agents[0].username, PASSWORD, address=NAT, clock=clock)
    assert stranger.reason == "locked" and stranger.locked_scope == "ip"


@pytest.mark.django_db
def test_an_attacker_gets_a_bounded_number_of_guesses_a_day(fast_hashes, clock) -> None:
    (victim,) = _agents(1)
    known = KnownBrowser().remember(str(victim.uid), lambda: "victims-browser")
    addresses = [NAT] + [f"203.0.113.{n}" for n in range(1, 60)]
    end = clock.now() + timedelta(days=1)
    guesses = locks = 0
    victim_refused = 0
    while clock.now() < end:
        address = addresses[(guesses + locks) % len(addresses)]
        decision = attempt(victim.username, WRONG, address=address, clock=clock)
        if decision.reason == "locked":
            locks += 1
            # The best an attacker can do: come back exactly when the lock ends.
            clock.advance(decision.retry_after_seconds)
        else:
            guesses += 1
            clock.advance(1)
        # The victim, in their own browser and on the shared address, is never refused.
        if (guesses + locks) % 7 == 0:
            mine = attempt(victim.username, PASSWORD, address=NAT, known=known, clock=clock)
            victim_refused += not mine.ok
    assert guesses <= 40, guesses
    assert victim_refused == 0


@pytest.mark.django_db
def test_a_known_browser_gets_in_while_unknown_ones_are_locked(
    client: Client, make_user, clock
) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    cookie = client.cookies[known_devices.COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert known_devices.read(cookie.value).entries[0][0] == str(
        User.objects.get(username="alice").uid
    )
    client.post("/signout")
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(5):
        assert attacker.post("/signin", {"username": "alice", "password": WRONG}).status_code == 401
    locked = attacker.post("/signin", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert Client().post("/signin", {"username": "alice", "password": PASSWORD}).status_code == 429
    # The owner's browser: its own budget, untouched.
    assert password_step(client) == "/signin/mfa"
    clock.advance(30)
    done = client.post("/signin/mfa/totp", {"code": totp.code_at(secret=secret, now=clock.now())})
    assert done.status_code == 302 and done["Location"] == "/apps"
    reasons = [
        r.record["additionalEventData"].get("FailureReason")
        for r in AuditRecord.objects.filter(event_name="CredentialVerification")
    ]
    assert "throttled_account" in reasons
    locked_event = AuditRecord.objects.filter(event_name="AccountLocked").last()
    assert locked_event is not None
    assert locked_event.record["additionalEventData"]["Scope"] == "account"


@pytest.mark.django_db
def test_a_known_browser_locks_only_itself(client: Client, make_user, clock) -> None:
    make_user()
    sign_in_registering(client, clock)
    client.post("/signout")
    for _ in range(5):
        assert client.post("/signin", {"username": "alice", "password": WRONG}).status_code == 401
    assert client.post("/signin", {"username": "alice", "password": PASSWORD}).status_code == 429
    other = Client()
    assert password_step(other) == "/signin/mfa"
    event = AuditRecord.objects.filter(event_name="AccountLocked").last()
    assert event is not None and event.record["additionalEventData"]["Scope"] == "browser"


@pytest.mark.django_db
def test_wrong_mfa_answers_from_elsewhere_do_not_lock_the_owners_browser(
    client: Client, make_user, clock
) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    # Someone who has the password guesses codes from an unknown browser…
    thief = Client(REMOTE_ADDR="203.0.113.66")
    assert password_step(thief) == "/signin/mfa"
    for _ in range(5):
        thief.post("/signin/mfa/totp", {"code": "000000"})
    clock.advance(30)
    code = totp.code_at(secret=secret, now=clock.now())
    assert thief.post("/signin/mfa/totp", {"code": code}).status_code == 429
    # …and the owner, in the browser they signed in with before, still gets in.
    assert password_step(client) == "/signin/mfa"
    done = client.post("/signin/mfa/totp", {"code": code})
    assert done.status_code == 302 and done["Location"] == "/apps"


def test_a_forged_or_malformed_known_browser_cookie_is_ignored() -> None:
    genuine = KnownBrowser().remember("uid-1", lambda: "n1")
    assert known_devices.read(genuine.cookie_value()) == genuine
    for bad in ("", "x" * 5000, "garbage", genuine.cookie_value() + "x", "e30:bad:sig"):
        assert known_devices.read(bad) == KnownBrowser()
    many = KnownBrowser()
    for n in range(20):
        many = many.remember(f"uid-{n}", lambda n=n: f"n{n}")  # type: ignore[misc]
    assert len(many.entries) == known_devices.MAX_USERS
    assert many.entries[0] == ("uid-19", "n19")
    assert many.remember("uid-19", lambda: "other").entries[0] == ("uid-19", "n19")


# --- argon2id runs outside the throttle's locks ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_password_hash_holds_no_lock_and_counts_in_flight(
    make_user, clock, monkeypatch
) -> None:
    """Held through argon2id, the throttle rows' locks (on SQLite, the one write lock of
    the database) made every other sign-in and launch wait for each hash."""
    from django.db import connection

    from sekisho.directory import signin
    from sekisho.directory.models import SignInThrottle

    make_user("alice")
    seen: list[tuple[bool, list[int]]] = []
    real = signin.check_password

    def observed(*args, **kwargs):  # type: ignore[no-untyped-def]
        rows = SignInThrottle.objects.filter(
            scope__in=[signin.account_scope("alice"), signin.address_scope(NAT)]
        )
        seen.append((connection.in_atomic_block, sorted(r.in_flight for r in rows)))
        return real(*args, **kwargs)

    monkeypatch.setattr(signin, "check_password", observed)
    assert attempt("alice", PASSWORD, address=NAT, clock=clock).ok
    assert attempt("alice", WRONG, address=NAT, clock=clock).reason == "invalid"
    assert seen == [(False, [1, 1]), (False, [1, 1])]
    assert all(r.in_flight == 0 for r in SignInThrottle.objects.all())
    account = SignInThrottle.objects.get(scope=signin.account_scope("alice"))
    assert account.failures == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_never_overshoot_the_limit(make_user, clock, monkeypatch) -> None:
    """The 5th guess is being verified: a 6th, from anywhere, is refused unverified."""
    from sekisho.directory import signin

    make_user("alice")
    for n in range(4):
        assert attempt("alice", WRONG, address=f"203.0.113.{n}", clock=clock).reason == "invalid"
    verified: list[str] = []
    during: list[PasswordDecision] = []
    real = signin.check_password

    def slow(password, *args, **kwargs):  # type: ignore[no-untyped-def]
        verified.append(password)
        if len(verified) == 1:  # while the 5th is in flight, a 6th arrives
            during.append(attempt("alice", PASSWORD, address="192.0.2.99", clock=clock))
        return real(password, *args, **kwargs)

    monkeypatch.setattr(signin, "check_password", slow)
    fifth = attempt("alice", WRONG, address="203.0.113.9", clock=clock)
    assert fifth.reason == "invalid"
    assert [d.reason for d in during] == ["locked"] and during[0].locked_scope == "account"
    assert verified == [WRONG]  # the 6th was never checked
    # The 5th failure locked the account's unknown browsers, as it would have in sequence.
    assert attempt("alice", PASSWORD, address="192.0.2.99", clock=clock).reason == "locked"
    assert AuditRecord.objects.filter(event_name="AccountLocked").count() == 1


@pytest.mark.django_db
def test_attempts_in_flight_are_not_shown_as_a_lock(make_user, clock) -> None:
    """Administrators see locks; a moment's refusal while guesses are verified is none."""
    from sekisho.directory import services as directory_services
    from sekisho.directory import signin
    from sekisho.directory.models import SignInThrottle

    user = make_user("alice")
    SignInThrottle.objects.create(
        scope=signin.account_scope("alice"),
        failures=4,
        window_started=clock.now(),
        in_flight=1,
        in_flight_since=clock.now(),
        locked_until=clock.now() - timedelta(hours=1),  # an earlier lock, over
    )
    assert attempt("alice", PASSWORD, address=NAT, clock=clock).reason == "locked"
    assert directory_services.locked_until(user, now=clock.now()) is None
    clock.advance(61)  # the attempt left in flight is forgotten
    assert attempt("alice", PASSWORD, address=NAT, clock=clock).ok


# --- MFA answers are counted in flight too ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_mfa_answers_stop_at_the_limit(clock) -> None:
    """Checked before and counted after, parallel wrong answers each passed the check; now
    the 5th wrong answer being judged refuses a 6th unjudged, and nothing holds a lock."""
    from django.db import connection

    from sekisho.directory import throttle
    from sekisho.directory.models import SignInThrottle
    from sekisho.mfa import errors as mfa_errors
    from sekisho.mfa.services import ThrottleScope, throttled_answer

    scope = ThrottleScope("mfa:test-user", throttle.ACCOUNT_POLICY)
    now = clock.now()

    def wrong() -> None:
        raise mfa_errors.InvalidCode("wrong code")

    for _ in range(4):
        with pytest.raises(mfa_errors.InvalidCode):
            throttled_answer(scope, now=now, judge=wrong)
    judged: list[str] = []
    seen: list[tuple[bool, int]] = []
    during: list[mfa_errors.MfaLocked] = []

    def fifth() -> None:
        judged.append("5th")
        row = SignInThrottle.objects.get(scope=scope.key)
        seen.append((connection.in_atomic_block, row.in_flight))
        try:  # while the 5th is judged, a 6th (a right one) arrives
            throttled_answer(scope, now=now, judge=lambda: judged.append("6th"))
        except mfa_errors.MfaLocked as exc:
            during.append(exc)
        wrong()

    with pytest.raises(mfa_errors.InvalidCode):
        throttled_answer(scope, now=now, judge=fifth)
    assert judged == ["5th"] and seen == [(False, 1)]
    assert len(during) == 1 and during[0].retry_after_seconds > 0
    row = SignInThrottle.objects.get(scope=scope.key)
    assert (row.lockouts, row.in_flight) == (1, 0) and row.locked_until is not None
    with pytest.raises(mfa_errors.MfaLocked):  # locked now, as it would be in sequence
        throttled_answer(scope, now=now, judge=lambda: judged.append("7th"))
    assert judged == ["5th"]


@pytest.mark.django_db(transaction=True)
def test_an_mfa_answer_that_is_no_failure_only_leaves_flight(clock) -> None:
    """A right answer, an expired challenge or a crash end the attempt without counting."""
    from sekisho.directory import throttle
    from sekisho.directory.models import SignInThrottle
    from sekisho.mfa import errors as mfa_errors
    from sekisho.mfa.services import ThrottleScope, throttled_answer

    scope = ThrottleScope("mfa:test-user", throttle.ACCOUNT_POLICY)
    now = clock.now()
    assert throttled_answer(scope, now=now, judge=lambda: "verified") == "verified"

    def expired() -> None:
        raise mfa_errors.EnrollmentExpired("start again")

    def crashed() -> None:
        raise RuntimeError("the method broke")

    with pytest.raises(mfa_errors.EnrollmentExpired):
        throttled_answer(scope, now=now, judge=expired)
    with pytest.raises(RuntimeError):
        throttled_answer(scope, now=now, judge=crashed)
    row = SignInThrottle.objects.get(scope=scope.key)
    assert (row.failures, row.in_flight) == (0, 0)


def test_a_wrong_totp_code_during_another_is_refused_unchecked(make_user, clock, monkeypatch):
    """Through the TOTP step: the 6th code, sent while the 5th is checked, is not checked."""
    from sekisho.mfa.backends import totp as totp_backend

    make_user("alice")
    secret = sign_in_registering(Client(), clock, "alice")
    clients = [Client() for _ in range(6)]
    for browser in clients:
        password_step(browser, "alice")
    checked: list[str] = []
    real = totp_backend.totp.verify

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append("code")
        if len(checked) == 5:
            answer = clients[5].post("/signin/mfa/totp", {"code": "000000"})
            assert answer.status_code == 429
        return real(*args, **kwargs)

    monkeypatch.setattr(totp_backend.totp, "verify", slow)
    wrong = f"{(int(totp.code_at(secret=secret, now=clock.now())) + 1) % 1000000:06d}"
    for browser in clients[:5]:
        assert browser.post("/signin/mfa/totp", {"code": wrong}).status_code == 401
    assert len(checked) == 5
