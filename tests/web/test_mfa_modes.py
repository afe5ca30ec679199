"""The three MFA modes as Identity Center describes them, trusted browsers, step-up."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from django.test import Client
from lxml import etree

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.mfa import services as mfa
from sekisho.mfa import totp, trust
from sekisho.mfa.methods import MfaMode, WithoutDevice
from sekisho.mfa.models import KnownAddress, TrustedDevice
from sekisho.saml import assignments
from sekisho.saml import services as saml
from tests.conftest import PASSWORD, password_step, sign_in_registering

pytestmark = pytest.mark.django_db

OFFICE = "192.0.2.10"
ELSEWHERE = "198.51.100.20"
MFA_CLASS = "https://refeds.org/profile/mfa"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def context_aware(**extra: object) -> None:
    mfa.configure(mode=MfaMode.CONTEXT_AWARE, **extra)  # type: ignore[arg-type]


def code(secret: str, clock: FrozenClock) -> dict[str, str]:
    clock.advance(30)
    return {"code": totp.code_at(secret=secret, now=clock.now())}


def trust_this_browser(client: Client, secret: str, clock: FrozenClock) -> None:
    """Password, then TOTP with "Trust this browser" ticked."""
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"
    done = client.post("/signin/mfa/totp", {**code(secret, clock), "trust_device": "on"})
    assert done.status_code == 302 and done["Location"] == "/apps"
    assert trust.COOKIE_NAME in done.cookies
    cookie = done.cookies[trust.COOKIE_NAME]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 30 * 86400


def response_xml(page: bytes) -> bytes:
    """The SAMLResponse a POST-binding page carries, decoded."""
    text = page.decode()
    start = text.index('name="SAMLResponse" value="') + len('name="SAMLResponse" value="')
    return base64.b64decode(text[start : text.index('"', start)])


def asserted_context(client: Client) -> tuple[str, str]:
    """Launch the Connect app; the AuthnContextClassRef asserted, and the whole XML."""
    xml = response_xml(client.post("/apps/connect/launch").content)
    root = etree.fromstring(xml)
    ns = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
    ref = root.findtext(".//saml:AuthnContextClassRef", namespaces=ns)
    return ref or "", xml.decode()


def test_fresh_browser_is_prompted_and_a_trusted_one_is_not(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    context_aware()
    first = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(first, clock)
    # A fresh browser: prompted even though the address passed MFA before.
    assert KnownAddress.objects.filter(user=user, address=OFFICE).exists()
    fresh = Client(REMOTE_ADDR=OFFICE)
    assert password_step(fresh) == "/signin/mfa"
    # Trust the first browser; next time it goes straight in, without MFA claimed.
    trust_this_browser(first, secret, clock)
    first.post("/signout")
    assert password_step(first) == "/apps"
    ref, _xml = asserted_context(first)
    assert ref == PASSWORD_CLASS  # MFA was skipped: the assertion must not claim it
    device = TrustedDevice.objects.get(user=user)
    assert device.last_used_at is not None
    events = list(AuditRecord.objects.filter(event_name="UserAuthentication"))
    assert events[-1].record["additionalEventData"]["CredentialType"] == "PASSWORD"
    assert events[-1].record["additionalEventData"]["MfaSkipped"] == "TrustedDevice"
    # A sign-in that passed MFA says nothing was skipped.
    assert "MfaSkipped" not in events[-2].record["additionalEventData"]


def test_trusted_cookie_from_an_address_outside_known_networks_is_prompted(
    make_user, clock: FrozenClock
) -> None:
    make_user()
    context_aware(known_networks=mfa.parse_networks("192.0.2.0/24"))
    office = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(office, clock)
    trust_this_browser(office, secret, clock)
    cookie = office.cookies[trust.COOKIE_NAME].value
    office.post("/signout")
    assert password_step(office) == "/apps"
    travelling = Client(REMOTE_ADDR=ELSEWHERE)
    travelling.cookies[trust.COOKIE_NAME] = cookie
    assert password_step(travelling) == "/signin/mfa"
    # After MFA from there, that address is known too.
    assert travelling.post("/signin/mfa/totp", code(secret, clock)).status_code == 302
    travelling.post("/signout")
    assert password_step(travelling) == "/apps"


def test_known_networks_alone_do_not_skip_without_a_trusted_browser(
    make_user, clock: FrozenClock
) -> None:
    make_user()
    context_aware(known_networks=mfa.parse_networks("192.0.2.0/24"))
    sign_in_registering(Client(REMOTE_ADDR=OFFICE), clock)
    assert password_step(Client(REMOTE_ADDR=OFFICE)) == "/signin/mfa"


def test_a_revoked_browser_is_prompted(make_user, clock: FrozenClock) -> None:
    make_user()
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    client.post("/account/verify", {"password": PASSWORD})
    device = TrustedDevice.objects.get()
    page = client.get("/account").content.decode()
    assert "this browser" in page
    revoked = client.post("/account", {"action": "revoke", "device": device.public_id})
    assert revoked.status_code == 200 and b"no longer trusted" in revoked.content
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"


def test_an_expired_trust_is_prompted(make_user, clock: FrozenClock) -> None:
    make_user()
    context_aware(trust_days=1)
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    password_step(client)
    client.post("/signin/mfa/totp", {**code(secret, clock), "trust_device": "on"})
    client.post("/signout")
    assert password_step(client) == "/apps"
    client.post("/signout")
    clock.advance(86400 + 1)
    assert password_step(client) == "/signin/mfa"


def test_a_cookie_copied_to_another_user_is_useless(make_user, clock: FrozenClock) -> None:
    make_user("alice")
    make_user("bob")
    context_aware()
    alice = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(alice, clock, "alice")
    trust_this_browser(alice, secret, clock)
    bob = Client(REMOTE_ADDR=OFFICE)
    sign_in_registering(bob, clock, "bob")
    bob.post("/signout")
    bob.cookies[trust.COOKIE_NAME] = alice.cookies[trust.COOKIE_NAME].value
    assert password_step(bob, "bob") == "/signin/mfa"


@pytest.mark.parametrize(
    "cookie",
    ["", "garbage", "a:b:c", "x" * 5000, "W10:1tampered:signature"],
)
def test_malformed_device_cookies_only_mean_not_trusted(
    make_user, clock: FrozenClock, cookie: str
) -> None:
    make_user()
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    sign_in_registering(client, clock)
    client.post("/signout")
    client.cookies[trust.COOKIE_NAME] = cookie
    assert password_step(client) == "/signin/mfa"


def test_a_forged_cookie_from_a_database_dump_is_useless(make_user, clock: FrozenClock) -> None:
    from django.core import signing

    user = make_user()
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    device = TrustedDevice.objects.get()
    # Someone who read the row (public id and digest) and even holds the signing key
    # still lacks the secret whose hash the row keeps.
    forged = signing.dumps(
        [str(user.uid), device.public_id, "guess"], salt="sekisho.mfa.trusted-device"
    )
    other = Client(REMOTE_ADDR=OFFICE)
    other.cookies[trust.COOKIE_NAME] = forged
    assert password_step(other) == "/signin/mfa"


def test_trust_is_only_offered_in_context_aware_mode(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    client.post("/signout")
    password_step(client)
    assert b'name="trust_device"' not in client.get("/signin/mfa/totp").content
    done = client.post("/signin/mfa/totp", {**code(secret, clock), "trust_device": "on"})
    assert done.status_code == 302 and trust.COOKIE_NAME not in done.cookies
    mfa.configure(mode=MfaMode.CONTEXT_AWARE)
    client.post("/signout")
    password_step(client)
    assert b'name="trust_device"' in client.get("/signin/mfa/totp").content


def test_removing_a_device_revokes_trusted_browsers(make_user, clock: FrozenClock) -> None:
    make_user()
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    client.post("/account/verify", {"password": PASSWORD})
    # A second device, so the first can be removed.
    from tests.conftest import secret_from_page

    page = client.get("/account/security/add/totp").content.decode()
    other = secret_from_page(page)
    client.post("/account/security/add/totp", {**code(other, clock), "device_name": "tablet"})
    first = mfa.devices(TrustedDevice.objects.get().user)[0]
    removed = client.post("/account", {"action": "remove", "method": "totp", "device": first.id})
    assert removed.status_code == 200 and b"was removed" in removed.content
    assert TrustedDevice.objects.get().revoked_at is not None


def test_always_mode_ignores_trust(make_user, clock: FrozenClock) -> None:
    make_user()
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    mfa.configure(mode=MfaMode.ALWAYS)
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"


def test_disabled_mode_never_asks(make_user, clock: FrozenClock) -> None:
    make_user()
    mfa.configure(mode=MfaMode.DISABLED)
    assert password_step(Client()) == "/apps"
    last = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert last is not None and last.record["additionalEventData"]["MfaSkipped"] == "MfaDisabled"


def test_without_device_block_refuses_sign_in(make_user, clock: FrozenClock) -> None:
    make_user()
    mfa.configure(without_device=WithoutDevice.BLOCK)
    client = Client()
    response = client.post("/signin", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert b"no device is registered" in response.content
    assert client.get("/apps").status_code == 302
    assert client.get("/signin/mfa/register").status_code == 302


def test_without_device_allow_signs_in_without_mfa(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    mfa.configure(without_device=WithoutDevice.ALLOW)
    client = Client()
    assert password_step(client) == "/apps"
    ref, _xml = asserted_context(client)
    assert ref == PASSWORD_CLASS
    last = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert last is not None
    assert last.record["additionalEventData"]["MfaSkipped"] == "NoDeviceAllowed"


def test_block_still_challenges_users_who_have_a_device(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    sign_in_registering(client, clock)
    mfa.configure(without_device=WithoutDevice.BLOCK)
    client.post("/signout")
    assert password_step(client) == "/signin/mfa"


def test_allowed_methods_restrict_registration_and_use(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    sign_in_registering(client, clock)
    mfa.configure(methods=("webauthn",))
    client.post("/signout")
    # The app is no longer allowed: the person must register an allowed method.
    assert password_step(client) == "/signin/mfa/register"
    assert client.get("/signin/mfa/register")["Location"] == "/signin/mfa/register/webauthn"
    assert client.get("/signin/mfa/totp")["Location"] == "/signin/mfa"
    assert client.get("/signin/mfa/register/totp")["Location"] == "/signin/mfa/register"


def test_registration_chooser_offers_every_allowed_method(make_user, clock: FrozenClock) -> None:
    make_user()
    client = Client()
    assert password_step(client) == "/signin/mfa/register"
    page = client.get("/signin/mfa/register").content.decode()
    assert 'id="choose-webauthn"' in page and 'id="choose-totp"' in page
    # RADIUS is offered only once a server is configured.
    assert 'id="choose-radius"' not in page


def test_mfa_used_is_what_the_assertion_and_policy_keys_say(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    client = Client()
    sign_in_registering(client, clock)
    ref, _xml = asserted_context(client)
    assert ref == MFA_CLASS
    facts = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert facts is not None
    assert facts.record["additionalEventData"]["CredentialType"] == "PASSWORD,TOTP"


def test_application_requiring_mfa_steps_up_a_session_without_it(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    client.post("/signout")
    assert password_step(client) == "/apps"  # context-aware skipped MFA
    saml.set_require_mfa(connect_app, True, actor=actor)
    stepped = client.post("/apps/connect/launch")
    assert stepped.status_code == 302
    assert stepped["Location"] == "/signin/mfa?" + urlencode({"next": "/apps/connect/launch"})
    assert client.get(stepped["Location"])["Location"] == "/signin/mfa/totp"
    done = client.post("/signin/mfa/totp", code(secret, clock))
    assert done["Location"] == "/apps/connect/launch"
    # Back at the launch: a page that posts the launch form, then the assertion with MFA.
    assert b'data-autosubmit="true"' in client.get("/apps/connect/launch").content
    ref, _xml = asserted_context(client)
    assert ref == MFA_CLASS


def test_the_launch_decision_itself_refuses_without_mfa(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    from sekisho.audit.writer import RequestContext
    from sekisho.web.session import AuthState

    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    saml.set_require_mfa(connect_app, True, actor=actor)
    auth = AuthState(
        user_id=user.pk,
        auth_time=0,
        methods=["PASSWORD"],
        mfa=False,
        session_id="s",
        session_index="_i",
    )
    outcome = saml.launch(
        app=connect_app,
        user=user,
        auth=auth,
        context=RequestContext(source_ip="127.0.0.1", user_agent="t"),
        in_response_to=None,
    )
    assert not outcome.allowed and outcome.refusal == "mfa_required"
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and record.outcome == "Failure"


def test_mfa_configure_is_audited_without_secrets(actor) -> None:
    mfa.configure(mode=MfaMode.CONTEXT_AWARE, trust_days=7, actor=actor)
    record = AuditRecord.objects.filter(event_name="UpdateMfaSettings").last()
    assert record is not None
    assert record.record["requestParameters"] == {"mode": "context-aware", "trustDays": 7}


@pytest.mark.parametrize("by", ["application", "requested-authn-context"])
def test_sp_initiated_sign_in_steps_up_when_mfa_was_skipped(
    make_user, clock: FrozenClock, sp_app, actor, by: str
) -> None:
    from tests.web.saml_helpers import authn_request, redirect_query

    user = make_user()
    assignments.assign(sp_app, user=user, actor=actor)
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    trust_this_browser(client, secret, clock)
    client.post("/signout")
    assert password_step(client) == "/apps"
    requested = None
    if by == "application":
        saml.set_require_mfa(sp_app, True, actor=actor)
    else:
        requested = MFA_CLASS
    query = redirect_query(authn_request(now=clock.now(), requested_context=requested))
    continue_url = client.get("/saml/sso?" + query)["Location"]
    stepped = client.get(continue_url)
    assert stepped["Location"] == "/signin/mfa?" + urlencode({"next": continue_url})
    client.get(stepped["Location"])
    done = client.post("/signin/mfa/totp", code(secret, clock))
    assert done["Location"] == continue_url
    xml = response_xml(client.get(continue_url).content)
    assert MFA_CLASS.encode() in xml
    assert b"urn:oasis:names:tc:SAML:2.0:status:Success" in xml


def test_policy_keys_see_the_method_actually_used(
    make_user, clock: FrozenClock, connect_app, actor
) -> None:
    from tests.web.test_idp_policy import replace_allow_all

    user = make_user()
    assignments.assign(connect_app, user=user, actor=actor)
    # Connect only after MFA, and not with a recovery code.
    replace_allow_all(
        actor,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sekisho:SignIn", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "sekisho:LaunchApplication",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                },
                {
                    "Effect": "Deny",
                    "Action": "sekisho:LaunchApplication",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"sekisho:MfaMethod": "RECOVERY_CODE"}},
                },
            ],
        },
    )
    context_aware()
    client = Client(REMOTE_ADDR=OFFICE)
    secret = sign_in_registering(client, clock)
    assert b"SAMLResponse" in client.post("/apps/connect/launch").content
    # A trusted browser skipped MFA: aws:MultiFactorAuthPresent is false, no launch.
    trust_this_browser(client, secret, clock)
    client.post("/signout")
    assert password_step(client) == "/apps"
    assert client.post("/apps/connect/launch").status_code == 403
    # MFA with a recovery code: present, but the method is named and denied.
    from tests.web.test_mfa_security import CODE

    client.post("/account/verify", {"password": PASSWORD})
    codes = CODE.findall(client.post("/account", {"action": "recovery"}).content.decode())
    client.post("/signout")
    client.cookies.pop(trust.COOKIE_NAME)
    assert password_step(client) == "/signin/mfa"
    assert client.post("/signin/mfa/recovery", {"code": codes[0]}).status_code == 302
    refused = client.post("/apps/connect/launch")
    assert refused.status_code == 403
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and "sekisho:MfaMethod" in record.record["errorMessage"]


def test_webauthn_is_not_offered_when_the_base_url_is_an_ip_address(
    make_user, clock: FrozenClock, monkeypatch
) -> None:
    from dataclasses import replace

    from sekisho.config import get_config
    from sekisho.mfa.backends import webauthn as backend

    for base_url in ("http://127.0.0.1:8000", "http://[::1]:8000"):
        monkeypatch.setattr(
            backend, "get_config", lambda b=base_url: replace(get_config(), base_url=b)
        )
        assert not backend.METHOD.available()
    make_user()
    client = Client()
    assert password_step(client) == "/signin/mfa/register"
    # Browsers refuse WebAuthn for an IP address RP ID: only the app is left to offer.
    assert client.get("/signin/mfa/register")["Location"] == "/signin/mfa/register/totp"


def test_the_passkey_button_follows_the_allowed_methods(db: None) -> None:
    assert b'id="passkey-signin"' in Client().get("/signin").content
    mfa.configure(methods=("totp",))
    assert b'id="passkey-signin"' not in Client().get("/signin").content
