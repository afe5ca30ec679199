"""Recovery codes, My security (re-authentication, rename, remove) and the admin reset."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.mfa import services as mfa
from sekisho.mfa import totp
from sekisho.mfa.methods import MfaMode
from sekisho.mfa.models import RecoveryCode, TotpDevice
from tests.conftest import PASSWORD, password_step, secret_from_page

pytestmark = pytest.mark.django_db

CODE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


def register_keeping_codes(client: Client, clock: FrozenClock, username: str = "alice"):
    """First sign-in with TOTP; returns the secret and the recovery codes shown once."""
    assert password_step(client, username) == "/signin/mfa/register"
    secret = secret_from_page(client.get("/signin/mfa/register/totp").content.decode())
    shown = client.post(
        "/signin/mfa/register/totp",
        {"code": totp.code_at(secret=secret, now=clock.now()), "device_name": "phone"},
    )
    codes = CODE.findall(shown.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    # Not signed in until the person says the codes are saved.
    assert client.get("/apps").status_code == 302
    assert client.post("/signin/continue")["Location"] == "/apps"
    return secret, codes


def test_codes_are_stored_hashed_and_shown_only_once(make_user, clock: FrozenClock) -> None:
    user = make_user()
    client = Client()
    _secret, codes = register_keeping_codes(client, clock)
    stored = list(RecoveryCode.objects.filter(user=user).values_list("digest", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert all(code not in digest and code.replace("-", "") not in digest for digest in stored)
    # A second registration (another app) does not show a new set.
    client.post("/account/verify", {"password": PASSWORD})
    page = client.get("/account/security/add/totp").content.decode()
    other = secret_from_page(page)
    clock.advance(30)
    added = client.post(
        "/account/security/add/totp", {"code": totp.code_at(secret=other, now=clock.now())}
    )
    assert added.status_code == 302 and added["Location"] == "/account"


def test_a_recovery_code_signs_in_once(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    _secret, codes = register_keeping_codes(client, clock)
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"
    page = client.get("/signin/mfa/totp").content.decode()
    assert 'href="/signin/mfa/recovery"' in page
    # Typed in upper case with spaces, or with full-width characters: still the code.
    typed = codes[0].upper().replace("-", " ")
    done = client.post("/signin/mfa/recovery", {"code": typed})
    assert done.status_code == 302 and done["Location"] == "/apps"
    last = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert last is not None
    assert last.record["additionalEventData"]["CredentialType"] == "PASSWORD,RECOVERY_CODE"
    client.post("/signout")
    password_step(client)
    reused = client.post("/signin/mfa/recovery", {"code": codes[0]})
    assert reused.status_code == 401 and b"already used" in reused.content
    client.post("/account/verify", {"password": PASSWORD})
    assert client.get("/apps").status_code == 302
    wide = codes[1].translate(
        str.maketrans(
            "abcdefghijklmnopqrstuvwxyz0123456789-",
            "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９－",
        )
    )
    assert client.post("/signin/mfa/recovery", {"code": wide}).status_code == 302


@pytest.mark.parametrize("typed", ["", "x", "zzzzz-zzzzz", "0" * 500, "<script>", "\x00" * 10])
def test_wrong_recovery_codes_are_refused_and_counted(
    make_user, clock: FrozenClock, typed: str
) -> None:
    make_user()
    client = Client()
    register_keeping_codes(client, clock)
    client.post("/signout")
    password_step(client)
    response = client.post("/signin/mfa/recovery", {"code": typed})
    assert response.status_code == 401
    assert b"not valid or was already used" in response.content
    failure = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert failure is not None and failure.outcome == "Failure"
    assert failure.record["additionalEventData"]["CredentialType"] == "RECOVERY_CODE"
    assert failure.record["additionalEventData"]["FailureReason"] == "mfa_recovery_code_invalid"


def test_recovery_code_guessing_locks_the_second_factor(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    _secret, codes = register_keeping_codes(client, clock)
    client.post("/signout")
    password_step(client)
    for _ in range(5):
        client.post("/signin/mfa/recovery", {"code": "zzzzz-zzzzz"})
    locked = client.post("/signin/mfa/recovery", {"code": codes[0]})
    assert locked.status_code == 429 and b"Too many wrong codes" in locked.content
    # The locked attempt did not use up the good code.
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 10


def test_my_security_needs_the_password_again(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    register_keeping_codes(client, clock)
    assert client.get("/account")["Location"] == "/account/verify?next=%2Faccount"
    wrong = client.post("/account/verify", {"password": "not it at all"})
    assert wrong.status_code == 401 and b"password is incorrect" in wrong.content
    confirmed = client.post("/account/verify", {"password": PASSWORD, "next": "//evil.example"})
    assert confirmed["Location"] == "/account"
    page = client.get("/account").content.decode()
    assert "phone" in page and "10 unused recovery codes left." in page
    clock.advance(11 * 60)  # the confirmation lasts ten minutes of real time, not the clock's
    assert client.get("/account").status_code == 200


def test_my_security_requires_sign_in(db: None) -> None:
    assert Client().get("/account")["Location"].startswith("/signin?next=")
    assert Client().post("/account/verify", {"password": "x"}).status_code == 302


def test_rename_remove_and_the_last_device_rule(make_user, clock: FrozenClock) -> None:
    user = make_user()
    client = Client()
    register_keeping_codes(client, clock)
    client.post("/account/verify", {"password": PASSWORD})
    device = TotpDevice.objects.get(user=user, confirmed=True)
    renamed = client.post(
        "/account",
        {"action": "rename", "method": "totp", "device": str(device.pk), "name": "  work  phone "},
    )
    assert renamed.status_code == 200 and b"was renamed" in renamed.content
    device.refresh_from_db()
    assert device.name == "work phone"
    blank = client.post(
        "/account", {"action": "rename", "method": "totp", "device": str(device.pk), "name": " "}
    )
    assert blank.status_code == 400 and b"Enter a name" in blank.content
    last = client.post("/account", {"action": "remove", "method": "totp", "device": str(device.pk)})
    assert last.status_code == 400 and b"last device" in last.content
    assert TotpDevice.objects.filter(pk=device.pk).exists()
    mfa.configure(mode=MfaMode.DISABLED)
    gone = client.post("/account", {"action": "remove", "method": "totp", "device": str(device.pk)})
    assert gone.status_code == 200 and not TotpDevice.objects.filter(pk=device.pk).exists()
    deleted = AuditRecord.objects.filter(event_name="DeleteMfaDeviceForUser").last()
    assert deleted is not None and deleted.record["requestParameters"] == {
        "deviceName": "work phone"
    }


@pytest.mark.parametrize(
    "form",
    [
        {"action": "remove", "method": "totp", "device": "999"},
        {"action": "remove", "method": "sms", "device": "1"},
        {"action": "rename", "method": "totp", "device": "abc", "name": "x"},
        {"action": "revoke", "device": "nope"},
        {"action": "explode"},
        {},
    ],
)
def test_bad_security_forms_get_clear_errors(make_user, clock: FrozenClock, form) -> None:
    make_user()
    client = Client()
    register_keeping_codes(client, clock)
    mfa.configure(mode=MfaMode.DISABLED)
    client.post("/account/verify", {"password": PASSWORD})
    response = client.post("/account", form)
    assert response.status_code in (400, 404)


def test_another_users_device_cannot_be_touched(make_user, clock: FrozenClock) -> None:
    make_user("alice")
    bob = make_user("bob")
    register_keeping_codes(Client(), clock, "bob")
    client = Client()
    register_keeping_codes(client, clock, "alice")
    mfa.configure(mode=MfaMode.DISABLED)
    client.post("/account/verify", {"password": PASSWORD})
    bobs = str(TotpDevice.objects.get(user=bob).pk)
    assert (
        client.post("/account", {"action": "remove", "method": "totp", "device": bobs}).status_code
        == 404
    )
    assert TotpDevice.objects.filter(user=bob).exists()


def test_new_recovery_codes_replace_the_old_set(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    _secret, old = register_keeping_codes(client, clock)
    client.post("/account/verify", {"password": PASSWORD})
    fresh = CODE.findall(client.post("/account", {"action": "recovery"}).content.decode())
    assert len(fresh) == 10 and not set(fresh) & set(old)
    client.post("/signout")
    password_step(client)
    assert client.post("/signin/mfa/recovery", {"code": old[0]}).status_code == 401
    assert client.post("/signin/mfa/recovery", {"code": fresh[0]}).status_code == 302


def test_reset_mfa_forgets_everything(make_user, clock: FrozenClock, actor) -> None:
    user = make_user()
    client = Client()
    register_keeping_codes(client, clock)
    assert mfa.reset_mfa(user, actor=actor) == 2  # the app and the recovery-code set
    assert not RecoveryCode.objects.filter(user=user).exists()
    client.post("/signout")
    assert password_step(client) == "/signin/mfa/register"
