"""Sign-in through the test client: passwords, TOTP registration and challenge, lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.mfa import totp
from sekisho.mfa.models import MfaSettings, TotpDevice
from tests.conftest import PASSWORD, password_step, sign_in_registering

pytestmark = pytest.mark.django_db

GENERIC = b"The username or password is incorrect."


def test_signin_page_has_security_headers_and_cookies(client: Client) -> None:
    response = client.get("/signin")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    csrf = response.cookies["sekisho_csrf"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"


def test_csrf_is_enforced(make_user) -> None:
    make_user()
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/signin", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert b"Your form expired" in response.content


def test_a_session_key_brought_before_sign_in_never_becomes_signed_in(
    client: Client, make_user, clock: FrozenClock
) -> None:
    """Session fixation: a key planted in the browser is replaced, and ends, at sign-in."""
    from importlib import import_module

    from django.conf import settings

    engine = import_module(settings.SESSION_ENGINE)
    planted = engine.SessionStore()
    planted["lang"] = "ja"
    planted.create()
    key = planted.session_key
    make_user()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    sign_in_registering(client, clock)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != key
    assert not engine.SessionStore().exists(key)
    assert client.get("/apps").status_code == 200
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = key
    assert attacker.get("/apps").status_code == 302


def test_wrong_password_and_unknown_user_look_the_same(client: Client, make_user, clock) -> None:
    make_user()
    wrong = client.post("/signin", {"username": "alice", "password": "nope nope nope"})
    unknown = client.post("/signin", {"username": "mallory", "password": "nope nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC in wrong.content and GENERIC in unknown.content
    challenges = [r.record for r in AuditRecord.objects.filter(event_name="CredentialChallenge")]
    names = [c["additionalEventData"].get("UserName") for c in challenges]
    assert names == ["alice", "HIDDEN_DUE_TO_SECURITY_REASONS"]
    for row in AuditRecord.objects.all():
        assert "nope nope nope" not in str(row.record)


def test_empty_and_oversized_fields_get_the_generic_error(client: Client, db) -> None:
    assert client.post("/signin", {"username": "", "password": ""}).status_code == 400
    response = client.post("/signin", {"username": "a" * 500, "password": "x"})
    assert response.status_code == 400 and GENERIC in response.content


def test_lockout_after_repeated_failures(client: Client, make_user, clock: FrozenClock) -> None:
    make_user()
    for _ in range(5):
        assert (
            client.post("/signin", {"username": "alice", "password": "wrong wrong"}).status_code
            == 401
        )
    locked = client.post("/signin", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert AuditRecord.objects.filter(event_name="AccountLocked").exists()
    clock.advance(16 * 60)
    assert password_step(client) == "/signin/mfa/register"


def test_unknown_usernames_lock_too(client: Client, db, clock: FrozenClock) -> None:
    for _ in range(5):
        client.post("/signin", {"username": "ghost", "password": "wrong wrong"})
    assert client.post("/signin", {"username": "ghost", "password": "x"}).status_code == 429


def test_first_sign_in_registers_totp(client: Client, make_user, clock: FrozenClock) -> None:
    user = make_user()
    before = client.cookies.get("sekisho_session")
    secret = sign_in_registering(client, clock)
    assert client.cookies["sekisho_session"].value != (before.value if before else None)
    device = TotpDevice.objects.get(user=user)
    assert device.confirmed and device.name == "phone"
    assert secret not in device.sealed_secret
    apps = client.get("/apps")
    assert apps.status_code == 200 and b"My applications" in apps.content
    auth = AuditRecord.objects.get(event_name="UserAuthentication").record
    assert auth["additionalEventData"]["CredentialType"] == "PASSWORD,TOTP"
    assert auth["additionalEventData"]["DeviceEnrollmentRequired"] == "true"
    cookie = client.cookies["sekisho_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_registration_page_shows_qr_and_secret(client: Client, make_user, clock) -> None:
    make_user()
    password_step(client)
    page = client.get("/signin/mfa/register/totp").content.decode()
    assert "<svg" in page and 'id="totp-secret"' in page
    assert "Google Authenticator" in page


def test_registration_rejects_a_wrong_code(client: Client, make_user, clock) -> None:
    make_user()
    password_step(client)
    client.get("/signin/mfa/register/totp")
    response = client.post("/signin/mfa/register/totp", {"code": "000000"})
    assert response.status_code == 400
    assert b"The code is incorrect" in response.content
    assert not TotpDevice.objects.filter(confirmed=True).exists()
    failed = AuditRecord.objects.filter(event_name__startswith="Complete").last()
    assert failed is not None and failed.outcome == "Failure"
    for _ in range(4):
        client.post("/signin/mfa/register/totp", {"code": "000000"})
    locked = client.post("/signin/mfa/register/totp", {"code": "000000"})
    assert b"Too many wrong codes" in locked.content


def test_totp_challenge_refuses_reused_and_accepts_fresh_code(
    client: Client, make_user, clock: FrozenClock
) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    # Same 30-second step as registration: RFC 6238 §5.2 forbids accepting it again.
    assert password_step(client) == "/signin/mfa"
    reused = client.post("/signin/mfa/totp", {"code": totp.code_at(secret=secret, now=clock.now())})
    assert reused.status_code == 401 and b"already used" in reused.content
    clock.advance(30)
    fresh = client.post("/signin/mfa/totp", {"code": totp.code_at(secret=secret, now=clock.now())})
    assert fresh.status_code == 302 and fresh["Location"] == "/apps"


def test_totp_accepts_one_step_of_drift_and_full_width_digits(
    client: Client, make_user, clock: FrozenClock
) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    clock.advance(120)
    password_step(client)
    previous = totp.code_at(secret=secret, now=clock.now() - timedelta(seconds=30))
    wide = previous.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = client.post("/signin/mfa/totp", {"code": wide[:3] + " " + wide[3:]})
    assert response.status_code == 302


def test_expired_totp_code_is_refused(client: Client, make_user, clock: FrozenClock) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    clock.advance(300)
    password_step(client)
    old = totp.code_at(secret=secret, now=clock.now() - timedelta(seconds=90))
    response = client.post("/signin/mfa/totp", {"code": old})
    assert response.status_code == 401 and b"The code is incorrect" in response.content
    failure = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert failure is not None and failure.outcome == "Failure"
    assert old not in str(failure.record)


def test_malformed_code_gets_a_clear_message(client: Client, make_user, clock) -> None:
    make_user()
    sign_in_registering(client, clock)
    client.post("/signout")
    clock.advance(60)
    password_step(client)
    response = client.post("/signin/mfa/totp", {"code": "12ab"})
    assert response.status_code == 401 and b"Enter the 6 digits" in response.content


def test_wrong_codes_lock_the_second_factor(client: Client, make_user, clock: FrozenClock) -> None:
    make_user()
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    clock.advance(60)
    password_step(client)
    for _ in range(5):
        client.post("/signin/mfa/totp", {"code": "000000"})
    good = totp.code_at(secret=secret, now=clock.now())
    response = client.post("/signin/mfa/totp", {"code": good})
    assert response.status_code == 429 and b"Too many wrong codes" in response.content


def test_mfa_disabled_goes_straight_to_the_portal(client: Client, make_user, clock) -> None:
    make_user()
    settings_row = MfaSettings.current()
    settings_row.mode = "disabled"
    settings_row.save()
    assert password_step(client) == "/apps"
    assert client.get("/apps").status_code == 200


def test_portal_pages_need_a_complete_sign_in(client: Client, make_user, clock) -> None:
    make_user()
    assert client.get("/apps")["Location"].startswith("/signin?next=")
    password_step(client)  # password only: MFA still missing
    assert client.get("/apps")["Location"].startswith("/signin?next=")


def test_open_redirects_are_refused(client: Client, make_user, clock) -> None:
    make_user()
    settings_row = MfaSettings.current()
    settings_row.mode = "disabled"
    settings_row.save()
    response = client.post(
        "/signin", {"username": "alice", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response["Location"] == "/apps"


def test_idle_timeout_ends_the_session(client: Client, make_user, clock) -> None:
    make_user()
    sign_in_registering(client, clock)
    session = client.session
    session["last_seen"] = session["last_seen"] - 31 * 60
    session.save()
    response = client.get("/apps")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert b"Your session has ended" in page.content


def test_absolute_timeout_ends_the_session(client: Client, make_user, clock) -> None:
    make_user()
    sign_in_registering(client, clock)
    session = client.session
    auth = session["auth"]
    auth["auth_time"] -= 13 * 3600
    session["auth"] = auth
    session.save()
    assert client.get("/apps").status_code == 302


def test_disabled_user_cannot_sign_in_or_keep_a_session(
    client: Client, make_user, clock, actor
) -> None:
    from sekisho.directory import services

    user = make_user()
    sign_in_registering(client, clock)
    services.set_status(user, active=False, actor=actor)
    assert client.get("/apps").status_code == 302
    response = Client().post("/signin", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 401 and GENERIC in response.content


def test_second_authenticator_and_limit_of_two(
    client: Client, make_user, clock: FrozenClock
) -> None:
    from tests.conftest import secret_from_page

    user = make_user()
    sign_in_registering(client, clock)
    # Changing devices needs the password again (re-authentication first).
    assert client.get("/account/security/add/totp")["Location"].startswith("/account/verify")
    confirmed = client.post("/account/verify", {"password": PASSWORD, "next": "/account"})
    assert confirmed["Location"] == "/account"
    page = client.get("/account/security/add/totp")
    secret = secret_from_page(page.content.decode())
    response = client.post(
        "/account/security/add/totp",
        {"code": totp.code_at(secret=secret, now=clock.now()), "device_name": "tablet"},
    )
    assert response.status_code == 302 and response["Location"] == "/account"
    assert TotpDevice.objects.filter(user=user, confirmed=True).count() == 2
    third = client.get("/account/security/add/totp")
    assert third.status_code == 400 and b"maximum number" in third.content
    assert b'id="add-totp"' not in client.get("/account").content


def test_signout_is_audited(client: Client, make_user, clock) -> None:
    make_user()
    sign_in_registering(client, clock)
    assert client.post("/signout")["Location"] == "/signin?signed_out=1"
    assert AuditRecord.objects.filter(event_name="Logout").exists()
    assert client.get("/apps").status_code == 302


def test_unknown_and_known_users_cost_one_password_hash_each(
    client: Client, make_user, clock, monkeypatch
) -> None:
    """No timing oracle: both paths run exactly one argon2 verification."""
    from sekisho.directory import signin

    calls: list[str] = []
    real = signin.check_password

    def counting(password: str, encoded: str, setter=None) -> bool:  # type: ignore[no-untyped-def]
        calls.append(encoded.split("$", 1)[0])
        return real(password, encoded, setter)

    monkeypatch.setattr(signin, "check_password", counting)
    make_user()
    client.post("/signin", {"username": "alice", "password": "wrong wrong"})
    client.post("/signin", {"username": "nobody", "password": "wrong wrong"})
    assert calls == ["argon2", "argon2"]


def test_head_requests_are_answered_without_side_effects(client: Client, make_user) -> None:
    make_user()
    assert client.head("/signin").status_code == 200
    assert client.head("/saml/metadata").status_code == 200
    assert not AuditRecord.objects.filter(event_name="CredentialChallenge").exists()


def test_passwords_need_fifteen_characters_when_mfa_is_disabled(db, actor) -> None:
    from sekisho.directory import services
    from sekisho.directory.errors import WeakPassword
    from sekisho.mfa.services import password_is_only_factor

    assert password_is_only_factor() is False
    settings_row = MfaSettings.current()
    settings_row.mode = "disabled"
    settings_row.save()
    assert password_is_only_factor() is True
    with pytest.raises(WeakPassword, match="15"):
        services.create_user(
            username="bob",
            email="bob@example.com",
            display_name=None,
            password="thirteen char",
            password_only_factor=password_is_only_factor(),
            actor=actor,
        )


def test_the_cli_asks_for_fifteen_characters_when_mfa_is_disabled(db, capsys, monkeypatch) -> None:
    import io

    from sekisho.cli.main import main

    settings_row = MfaSettings.current()
    settings_row.mode = "disabled"
    settings_row.save()
    monkeypatch.setattr("sys.stdin", io.StringIO("thirteen char\n"))
    code = main(["user", "create", "bob", "--email", "bob@example.com", "--password-stdin"])
    assert code == 1 and "15" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("fifteen chars!!\n"))
    assert main(["user", "create", "bob", "--email", "bob@example.com", "--password-stdin"]) == 0


@pytest.mark.parametrize("path", ["/admin/users/a%00b", "/apps/a%01b/launch", "/signin%7F"])
def test_a_control_character_in_a_page_path_is_the_ordinary_404(path: str) -> None:
    """The 404 page in the person's language, never a 500 from a lookup."""
    answer = Client(HTTP_ACCEPT_LANGUAGE="ja").get(path)
    assert answer.status_code == 404
    assert "text/html" in answer["Content-Type"]
    assert 'lang="ja"' in answer.content.decode()
