"""Security keys and passkeys through the test client, with a software authenticator."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.directory.models import SignInThrottle, User
from sekisho.mfa import services as mfa
from sekisho.mfa.models import WebAuthnCredential
from tests.conftest import PASSWORD, password_step
from tests.webauthn_authenticator import SoftAuthenticator, as_form, b64url

pytestmark = pytest.mark.django_db

OPTIONS = re.compile(r'<script id="webauthn-options" type="application/json">(.*?)</script>', re.S)
REGISTER = "/signin/mfa/register/webauthn"
VERIFY = "/signin/mfa/webauthn"
CLONED = b"it may have been copied"


def options_from(page: HttpResponse) -> dict[str, Any]:
    match = OPTIONS.search(page.content.decode())
    assert match, page.content[:800]
    options: dict[str, Any] = json.loads(match.group(1))
    return options


def register_at_first_sign_in(
    client: Client, key: SoftAuthenticator, username: str = "alice", name: str = "YubiKey"
) -> dict[str, Any]:
    """Password, then a security key registered as the first device; returns the options."""
    assert password_step(client, username) == "/signin/mfa/register"
    page = client.get(REGISTER)
    assert page.status_code == 200
    options = options_from(page)
    shown = client.post(REGISTER, {**as_form(key.register(options, rk=True)), "device_name": name})
    assert shown.status_code == 200 and b"recovery-codes" in shown.content, shown.content[:800]
    done = client.post("/signin/continue")
    assert done.status_code == 302 and done["Location"] == "/apps"
    return options


def sign_in_with_key(client: Client, key: SoftAuthenticator, **answer: Any) -> HttpResponse:
    """Password, then the key; returns the response to the key's answer."""
    assert password_step(client) == "/signin/mfa"
    assert client.get("/signin/mfa")["Location"] == VERIFY
    options = options_from(client.get(VERIFY))
    response: HttpResponse = client.post(VERIFY, as_form(key.assert_(options, **answer)))
    return response


def passkey_options(client: Client) -> dict[str, Any]:
    response = client.get("/signin/passkey/options")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    options: dict[str, Any] = response.json()["options"]
    return options


def last(event: str) -> AuditRecord:
    record = AuditRecord.objects.filter(event_name=event).last()
    assert record is not None
    return record


def test_first_sign_in_registers_a_security_key(client: Client, make_user, clock) -> None:
    user = make_user()
    key = SoftAuthenticator(transports=["usb", "nfc"])
    options = register_at_first_sign_in(client, key)
    assert options["user"]["id"] == b64url(user.uid.bytes)
    assert options["user"]["name"] == "alice" and options["rp"]["id"] == "localhost"
    assert options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    row = WebAuthnCredential.objects.get(user=user)
    assert row.name == "YubiKey" and row.credential_id == key.id
    assert row.sign_count == 0 and row.transports == ["usb", "nfc"]
    assert row.discoverable and not row.backed_up
    assert row.aaguid == "00000000-0000-0000-0000-000000000000"
    auth = last("UserAuthentication").record["additionalEventData"]
    assert auth["CredentialType"] == "PASSWORD,WEBAUTHN"
    assert auth["DeviceEnrollmentRequired"] == "true"
    assert client.get("/apps").status_code == 200
    devices = mfa.devices(user)
    assert [(d.method, d.name, d.detail) for d in devices] == [
        ("webauthn", "YubiKey", "passkey (usb, nfc)")
    ]


def test_sign_in_with_the_key_after_the_password(client: Client, make_user, clock) -> None:
    user = make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    clock.advance(60)
    assert password_step(client) == "/signin/mfa"
    page = client.get(VERIFY)
    assert b'data-webauthn="get"' in page.content and b"webauthn.js" in page.content
    options = options_from(page)
    assert [c["id"] for c in options["allowCredentials"]] == [key.id]
    assert options["allowCredentials"][0]["transports"] == ["usb"]
    assert options["userVerification"] == "preferred"
    done = client.post(VERIFY, as_form(key.assert_(options)))
    assert done.status_code == 302 and done["Location"] == "/apps"
    row = WebAuthnCredential.objects.get(user=user)
    assert row.sign_count == 1 and row.last_used_at == clock.now()
    assert last("CredentialVerification").outcome == "Success"
    assert last("UserAuthentication").record["additionalEventData"]["CredentialType"] == (
        "PASSWORD,WEBAUTHN"
    )


def test_a_replayed_assertion_is_refused(client: Client, make_user, clock) -> None:
    make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"
    options = options_from(client.get(VERIFY))
    answer = as_form(key.assert_(options))
    assert client.post(VERIFY, answer).status_code == 302
    client.post("/signout")
    # The same answer again: its challenge was used up, whether or not a new one was issued.
    assert password_step(client) == "/signin/mfa"
    replayed = client.post(VERIFY, answer)
    assert replayed.status_code == 401 and b"could not be verified" in replayed.content
    client.get(VERIFY)
    replayed = client.post(VERIFY, answer)
    assert replayed.status_code == 401 and b"could not be verified" in replayed.content
    assert last("CredentialVerification").record["additionalEventData"]["FailureReason"] == (
        "mfa_webauthn_invalid"
    )
    assert client.get("/apps").status_code == 302


def test_a_cloned_key_is_refused_and_audited(client: Client, make_user, clock) -> None:
    user = make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    assert sign_in_with_key(client, key).status_code == 302  # counter now 1
    client.post("/signout")
    clone = SoftAuthenticator(key=key.key, credential_id=key.credential_id)
    refused = sign_in_with_key(client, clone, sign_count=1)
    assert refused.status_code == 401 and CLONED in refused.content
    failure = last("CredentialVerification")
    assert failure.outcome == "Failure" and failure.user_uid == str(user.uid)
    assert failure.record["additionalEventData"]["FailureReason"] == "mfa_webauthn_sign_count"
    assert failure.record["additionalEventData"]["CredentialType"] == "WEBAUTHN"
    # The counter was not moved on by the clone: the genuine key still works.
    assert WebAuthnCredential.objects.get(user=user).sign_count == 1
    options = options_from(refused)
    assert client.post(VERIFY, as_form(key.assert_(options))).status_code == 302


def test_passkey_sign_in_without_a_username(client: Client, make_user, clock) -> None:
    user = make_user()
    key = SoftAuthenticator(transports=["internal"], attachment="platform", counter=False)
    register_at_first_sign_in(client, key, name="Touch ID")
    client.post("/signout")
    options = passkey_options(client)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    done = client.post("/signin/passkey", {**as_form(key.assert_(options)), "next": "/apps"})
    assert done.status_code == 302 and done["Location"] == "/apps"
    assert client.get("/apps").status_code == 200
    success = last("CredentialVerification")
    assert success.outcome == "Success" and success.user_uid == str(user.uid)
    auth = last("UserAuthentication").record["additionalEventData"]
    assert auth["CredentialType"] == "WEBAUTHN"
    assert client.session["auth"]["mfa"] is True
    row = WebAuthnCredential.objects.get(user=user)
    assert row.sign_count == 0 and row.last_used_at == clock.now()


def test_passkey_answers_that_are_refused(client: Client, make_user, clock) -> None:
    user = make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    # No options asked for: no challenge is pending.
    stale = client.post("/signin/passkey", as_form(key.assert_(passkey_options(Client()))))
    assert stale.status_code == 400 and b"could not be verified" in stale.content
    assert b'name="username"' in stale.content  # back on the sign-in page
    # A key that is not registered.
    stranger = SoftAuthenticator()
    unknown = client.post("/signin/passkey", as_form(stranger.assert_(passkey_options(client))))
    assert unknown.status_code == 401 and b"is not registered" in unknown.content
    assert last("CredentialVerification").user_uid == ""
    # A security key that returns no user handle cannot name the account.
    answer = key.assert_(passkey_options(client), user_handle=False)
    no_handle = client.post("/signin/passkey", as_form(answer))
    assert no_handle.status_code == 400
    failure = last("CredentialVerification")
    assert failure.user_uid == str(user.uid) and failure.outcome == "Failure"
    # Another account's user handle.
    key.user_handle = b"\x00" * 16
    wrong = client.post("/signin/passkey", as_form(key.assert_(passkey_options(client))))
    assert wrong.status_code == 400
    # Without user verification a passkey is one factor only: refused.
    key.user_handle = user.uid.bytes
    no_uv = client.post("/signin/passkey", as_form(key.assert_(passkey_options(client), uv=False)))
    assert no_uv.status_code == 400
    assert client.get("/apps").status_code == 302
    # Five refusals locked this (known) browser; forget them to try one more kind.
    SignInThrottle.objects.filter(scope__startswith="passkey").delete()
    # A disabled account's passkey is not accepted.
    user.status = User.STATUS_DISABLED
    user.save()
    disabled = client.post("/signin/passkey", as_form(key.assert_(passkey_options(client))))
    assert disabled.status_code == 401
    assert client.get("/apps").status_code == 302


def test_a_replayed_passkey_answer_is_refused(client: Client, make_user, clock) -> None:
    make_user()
    key = SoftAuthenticator(counter=False)
    register_at_first_sign_in(client, key)
    client.post("/signout")
    answer = as_form(key.assert_(passkey_options(client)))
    assert client.post("/signin/passkey", answer).status_code == 302
    client.post("/signout")
    assert client.post("/signin/passkey", answer).status_code == 400
    passkey_options(client)
    assert client.post("/signin/passkey", answer).status_code == 400


def test_passkey_failures_lock_a_known_browser(client: Client, make_user, clock) -> None:
    make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    # Another browser at the same address is not locked by this one's failures.
    elsewhere = Client()
    for _ in range(5):
        refused = client.post("/signin/passkey", {"credential": "{}"})
        assert refused.status_code == 400
    options = client.get("/signin/passkey/options")
    assert options.status_code == 429 and "Too many failed attempts" in options.json()["error"]
    locked = client.post("/signin/passkey", as_form(key.assert_({"challenge": "AAAA"})))
    assert locked.status_code == 429 and b"Too many failed attempts" in locked.content
    assert last("CredentialVerification").record["additionalEventData"]["FailureReason"] == (
        "mfa_locked"
    )
    assert elsewhere.get("/signin/passkey/options").status_code == 200
    clock.advance(16 * 60)
    good = client.post("/signin/passkey", as_form(key.assert_(passkey_options(client))))
    assert good.status_code == 302


def test_passkey_failures_of_unknown_browsers_lock_the_address_only_late(make_user, clock) -> None:
    """A whole office's mistakes never come near the address budget; a flood does."""
    make_user()
    known = Client()
    key = SoftAuthenticator()
    register_at_first_sign_in(known, key)
    known.post("/signout")
    stranger = Client()
    for _ in range(99):
        assert stranger.post("/signin/passkey", {"credential": "{}"}).status_code == 400
    assert stranger.get("/signin/passkey/options").status_code == 200
    assert stranger.post("/signin/passkey", {"credential": "{}"}).status_code == 400
    assert stranger.get("/signin/passkey/options").status_code == 429
    assert Client().get("/signin/passkey/options").status_code == 429
    # The browser that signed in before keeps its own budget, and gets in.
    good = known.post("/signin/passkey", as_form(key.assert_(passkey_options(known))))
    assert good.status_code == 302


def test_wrong_keys_count_towards_the_mfa_lockout(client: Client, make_user, clock) -> None:
    make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"
    options = options_from(client.get(VERIFY))
    for attempt in range(5):
        wrong = client.post(VERIFY, as_form(SoftAuthenticator().assert_(options)))
        assert wrong.status_code == 401 and b"is not registered" in wrong.content
        if attempt < 4:
            options = options_from(wrong)
    # Locked: no new challenge is offered, and even the genuine key is not checked.
    assert b"webauthn-options" not in wrong.content
    assert client.get(VERIFY).status_code == 429
    locked = client.post(VERIFY, as_form(key.assert_(options)))
    assert locked.status_code == 429 and b"Too many wrong" in locked.content


def test_at_most_six_credentials(client: Client, make_user, clock) -> None:
    user = make_user()
    register_at_first_sign_in(client, SoftAuthenticator())
    client.post("/account/verify", {"password": PASSWORD})
    add = "/account/security/add/webauthn"
    for n in range(2, 7):
        options = options_from(client.get(add))
        assert len(options["excludeCredentials"]) == n - 1
        added = client.post(
            add, {**as_form(SoftAuthenticator().register(options)), "device_name": f"key {n}"}
        )
        assert added.status_code == 302 and added["Location"] == "/account", added.content[:500]
    assert WebAuthnCredential.objects.filter(user=user).count() == 6
    seventh = client.get(add)
    assert seventh.status_code == 400 and b"maximum number" in seventh.content
    assert b"webauthn-options" not in seventh.content
    assert b'id="add-webauthn"' not in client.get("/account").content


def test_a_key_registered_twice_is_refused(client: Client, make_user, clock) -> None:
    make_user()
    key = SoftAuthenticator()
    register_at_first_sign_in(client, key)
    client.post("/account/verify", {"password": PASSWORD})
    add = "/account/security/add/webauthn"
    options = options_from(client.get(add))
    assert options["excludeCredentials"][0]["id"] == key.id
    again = client.post(add, as_form(key.register(options)))
    assert again.status_code == 400 and b"could not be verified" in again.content
    assert WebAuthnCredential.objects.count() == 1


def test_a_key_is_removed_from_my_security(client: Client, make_user, clock) -> None:
    user = make_user()
    register_at_first_sign_in(client, SoftAuthenticator())
    client.post("/account/verify", {"password": PASSWORD})
    add = "/account/security/add/webauthn"
    options = options_from(client.get(add))
    client.post(add, {**as_form(SoftAuthenticator().register(options)), "device_name": "spare"})
    spare = WebAuthnCredential.objects.get(user=user, name="spare")
    page = client.post(
        "/account", {"action": "remove", "method": "webauthn", "device": str(spare.pk)}
    )
    assert page.status_code == 200 and b"The device was removed." in page.content
    assert list(WebAuthnCredential.objects.filter(user=user).values_list("name", flat=True)) == [
        "YubiKey"
    ]
    assert last("DeleteMfaDeviceForUser").user_uid == str(user.uid)


def test_the_aaguid_allow_list_and_required_user_verification(
    client: Client, make_user, clock
) -> None:
    make_user()
    yubikey = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
    mfa.configure(aaguids=(yubikey,), user_verification="required")
    assert password_step(client) == "/signin/mfa/register"
    options = options_from(client.get(REGISTER))
    assert options["attestation"] == "direct"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    other = SoftAuthenticator()
    refused = client.post(REGISTER, as_form(other.register(options, fmt="packed")))
    assert refused.status_code == 400
    assert b"does not allow this kind of security key" in refused.content
    options = options_from(refused)
    allowed = SoftAuthenticator(aaguid=bytes.fromhex(yubikey.replace("-", "")))
    no_uv = client.post(REGISTER, as_form(allowed.register(options, fmt="packed", uv=False)))
    assert no_uv.status_code == 400
    options = options_from(no_uv)
    shown = client.post(REGISTER, as_form(allowed.register(options, fmt="packed")))
    assert shown.status_code == 200 and b"recovery-codes" in shown.content


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "null",
        "{",
        "[]",
        '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}',
        '{"id": "%%", "rawId": "%%"}',
        "x" * (70 * 1024),
        json.dumps({"id": "A" * 5000}),
    ],
)
def test_malformed_answers_get_a_clear_refusal_never_a_500(
    client: Client, make_user, clock, credential: str
) -> None:
    make_user()
    assert password_step(client) == "/signin/mfa/register"
    client.get(REGISTER)
    enrolled = client.post(REGISTER, {"credential": credential})
    assert enrolled.status_code == 400 and b"could not be verified" in enrolled.content
    passkey_options(client)
    signed = client.post("/signin/passkey", {"credential": credential})
    assert signed.status_code == 400 and b"could not be verified" in signed.content


def test_malformed_assertions_at_the_mfa_step(client: Client, make_user, clock) -> None:
    make_user()
    register_at_first_sign_in(client, SoftAuthenticator())
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"
    for credential in ("", "{}", '{"rawId": []}', "\x00" * 100):
        client.get(VERIFY)
        response = client.post(VERIFY, {"credential": credential})
        assert response.status_code == 401 and b"could not be verified" in response.content


INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


def assert_csp_clean(html: str) -> None:
    """script-src 'self': only external scripts and JSON data blocks, no inline handlers."""
    for attributes in SCRIPT_TAG.findall(html):
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
    assert not INLINE_HANDLER.search(html)


def test_pages_run_no_inline_script(client: Client, make_user, clock) -> None:
    make_user()
    assert password_step(client) == "/signin/mfa/register"
    enroll = client.get(REGISTER).content.decode()
    assert_csp_clean(enroll)
    assert '<script src="/static/sekisho/webauthn.js" defer>' in enroll
    assert 'name="device_name"' in enroll and 'name="credential"' in enroll
    key = SoftAuthenticator()
    options = options_from(client.get(REGISTER))
    client.post(REGISTER, as_form(key.register(options)))
    client.post("/signin/continue")
    client.post("/signout")
    password_step(client)
    verify = client.get(VERIFY).content.decode()
    assert_csp_clean(verify)
    assert 'data-autostart="true"' in verify and 'data-webauthn="get"' in verify


def test_the_passkey_button_posts_to_the_passkey_sign_in(rf, db) -> None:
    request = rf.get("/signin")
    html = render_to_string("sekisho/mfa/passkey_button.html", {"next": "/apps/x"}, request=request)
    assert_csp_clean(html)
    assert 'action="/signin/passkey"' in html
    assert 'data-options-url="/signin/passkey/options"' in html
    assert 'name="csrfmiddlewaretoken"' in html and 'value="/apps/x"' in html
    assert 'id="passkey-signin"' in html
