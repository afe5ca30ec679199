"""Every sign-in and SSO flow against a real `sekisho serve`, on SQLite and on PostgreSQL.

Transaction-wrapped test cases hid a 500 on every MFA step of a served PostgreSQL
(issue 9): here each request is its own transaction in a real worker process, as in
production, and the instance is set up with the CLI.
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from lxml import etree

from sekisho.saml.core.inspector import inspect_response
from tests.radius.conftest import ALICE, SECRET, FreeRadius
from tests.served.conftest import PASSWORD, browser, make_user
from tests.servers import Instance
from tests.web.saml_helpers import SP_ACS, SP_ENTITY, authn_request, sp_metadata
from tests.webauthn_authenticator import SoftAuthenticator


def _metadata_certificate(instance: Instance) -> str:
    root = etree.fromstring(instance.cli("metadata").encode())
    cert = root.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    assert cert is not None and cert.text
    body = "".join(cert.text.split())
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def test_password_then_totp_registration_then_verification(instance: Instance) -> None:
    make_user(instance, "tanaka")
    first = browser(instance)
    assert first.password("tanaka", PASSWORD) == "/signin/mfa/register"
    registered_at = datetime.now(UTC)
    secret, codes = first.register_totp(now=registered_at)
    assert len(codes) == 10
    assert first.get("/apps").status_code == 200
    assert first.post("/signout", page="/apps").status_code == 302

    again = browser(instance)
    assert again.password("tanaka", PASSWORD) == "/signin/mfa"
    # The code of the registration step cannot be used twice: the next step's can.
    reused = again.totp(secret, at=registered_at)
    assert reused.status_code == 401, reused.text[:300]
    done = again.totp(secret, at=registered_at + timedelta(seconds=30))
    assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:500]
    wrong = browser(instance)
    wrong.password("tanaka", PASSWORD)
    assert wrong.post(
        "/signin/mfa/totp", {"code": "000000"}, page="/signin/mfa/totp"
    ).status_code in (
        401,
        429,
    )


def test_a_recovery_code_signs_in_once(instance: Instance) -> None:
    make_user(instance, "suzuki")
    first = browser(instance)
    first.password("suzuki", PASSWORD)
    _secret, codes = first.register_totp()
    second = browser(instance)
    assert second.password("suzuki", PASSWORD) == "/signin/mfa"
    done = second.post("/signin/mfa/recovery", {"code": codes[0]}, page="/signin/mfa/recovery")
    assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:500]
    third = browser(instance)
    third.password("suzuki", PASSWORD)
    again = third.post("/signin/mfa/recovery", {"code": codes[0]}, page="/signin/mfa/recovery")
    assert again.status_code == 401


def test_security_key_registration_and_passkey_sign_in(instance: Instance) -> None:
    make_user(instance, "sato")
    key = SoftAuthenticator(origin=instance.base_url)
    first = browser(instance)
    assert first.password("sato", PASSWORD) == "/signin/mfa/register"
    first.register_key(key)
    # With the password, then the key.
    second = browser(instance)
    assert second.password("sato", PASSWORD) == "/signin/mfa"
    assert second.get("/signin/mfa").headers["Location"] == "/signin/mfa/webauthn"
    options = second.webauthn_options("/signin/mfa/webauthn")
    from tests.webauthn_authenticator import as_form

    done = second.post("/signin/mfa/webauthn", as_form(key.assert_(options)))
    assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:500]
    # And without a username: a passkey with user verification is both factors.
    third = browser(instance)
    signed_in = third.passkey(key)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/apps"
    assert third.get("/apps").status_code == 200


def test_radius_one_time_password(instance: Instance, freeradius: FreeRadius) -> None:
    name = f"radius-{instance.port}"
    instance.cli(
        "radius",
        "add",
        name,
        "--host",
        freeradius.host,
        "--port",
        str(freeradius.port),
        stdin=SECRET.decode() + "\n",
    )
    instance.cli("mfa", "configure", "--methods", "radius,totp")
    try:
        make_user(instance, "alice")
        first = browser(instance)
        assert first.password("alice", PASSWORD) == "/signin/mfa/register"
        first.get("/signin/mfa/register/radius")
        shown = first.post("/signin/mfa/register/radius", {"code": ALICE[1], "device_name": "Fob"})
        assert shown.status_code == 200 and "recovery-codes" in shown.text, shown.text[:800]
        first.finish()
        second = browser(instance)
        assert second.password("alice", PASSWORD) == "/signin/mfa"
        done = second.post("/signin/mfa/radius", {"code": ALICE[1]}, page="/signin/mfa/radius")
        assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:500]
    finally:
        instance.cli("mfa", "configure", "--methods", "webauthn,totp,radius")
        instance.cli("radius", "remove", name)


def _sp_app(instance: Instance, name: str, tmp_dir: str, entity_id: str = SP_ENTITY) -> None:
    path = f"{tmp_dir}/{name}-metadata.xml"
    with open(path, "wb") as handle:
        handle.write(sp_metadata().replace(SP_ENTITY.encode(), entity_id.encode()))
    instance.cli("app", "create-saml", name, "--metadata", path)


def test_step_up_when_an_application_requires_mfa(instance: Instance, tmp_path) -> None:
    make_user(instance, "kato")
    _sp_app(instance, "stepup", str(tmp_path), "https://stepup.example.test/metadata")
    instance.cli("app", "assign", "stepup", "--user", "kato")
    instance.cli("mfa", "configure", "--mode", "context-aware", "--known-networks", "127.0.0.0/8")
    try:
        first = browser(instance)
        first.password("kato", PASSWORD)
        page = first.get("/signin/mfa/register/totp").text
        assert 'name="trust_device"' in page
        from sekisho.mfa import totp
        from tests.served.client import _TOTP_SECRET

        match = _TOTP_SECRET.search(page)
        assert match
        secret = match.group(1).replace(" ", "")
        code = totp.code_at(secret=secret, now=datetime.now(UTC))
        shown = first.post(
            "/signin/mfa/register/totp",
            {"code": code, "device_name": "phone", "trust_device": "on"},
        )
        assert shown.status_code == 200, shown.text[:500]
        first.finish()
        first.post("/signout", page="/apps")
        # The trusted browser skips MFA at sign-in…
        assert first.password("kato", PASSWORD) == "/apps"
        instance.cli("app", "require-mfa", "stepup")
        # …and an application that requires MFA asks for it now.
        launch = first.launch("stepup")
        assert launch.status_code == 302, launch.text[:500]
        assert launch.headers["Location"].startswith("/signin/mfa?")
        asked = first.get(launch.headers["Location"])
        assert asked.status_code == 302 and asked.headers["Location"] == "/signin/mfa/totp"
        later = datetime.now(UTC) + timedelta(seconds=30)
        done = first.post(
            "/signin/mfa/totp",
            {"code": totp.code_at(secret=secret, now=later)},
            page="/signin/mfa/totp",
        )
        assert done.status_code == 302, done.text[:500]
        assert done.headers["Location"] == "/apps/stepup/launch"
        issued = first.post("/apps/stepup/launch", page="/apps/stepup/launch")
        acs, fields = first.saml_post(issued.text)
        assert acs == SP_ACS and "SAMLResponse" in fields
    finally:
        instance.cli("mfa", "configure", "--mode", "always")


def test_sp_initiated_sso_answers_at_the_registered_acs(instance: Instance, tmp_path) -> None:
    make_user(instance, "ito")
    _sp_app(instance, "sp", str(tmp_path))
    instance.cli("app", "assign", "sp", "--user", "ito")
    client = browser(instance)
    client.password("ito", PASSWORD)
    client.register_totp()
    request_xml = authn_request(
        destination=f"{instance.base_url}/saml/sso",
        request_id="_served-request-1",
        now=datetime.now(UTC),
    )
    deflated = zlib.compress(request_xml)[2:-4]
    query = urlencode({"SAMLRequest": base64.b64encode(deflated).decode(), "RelayState": "rs"})
    # Signed in, by HTTP-Redirect: answered in the same response, no continuation.
    answered = client.get(f"/saml/sso?{query}")
    assert answered.status_code == 200, answered.text[:500]
    acs, fields = client.saml_post(answered.text)
    assert acs == SP_ACS and fields["RelayState"] == "rs"
    inspection = inspect_response(
        fields["SAMLResponse"],
        trusted_certificates=(_metadata_certificate(instance),),
        expected_issuer=f"{instance.base_url}/saml/metadata",
        expected_audience=SP_ENTITY,
        expected_recipient=acs,
        now=datetime.now(UTC),
        expected_in_response_to="_served-request-1",
    )
    assert inspection.valid, inspection.problems
    # The same AuthnRequest again: refused, whichever node it reaches.
    replayed = client.get(f"/saml/sso?{query}")
    assert replayed.status_code == 400


def test_launch_through_the_emulated_aws_side(instance: Instance) -> None:
    out = instance.cli("demo", "--no-serve")
    password = next(
        line.split()[1] for line in out.splitlines() if line.strip().startswith("password")
    )
    client = browser(instance)
    assert client.password("agent1", password) == "/signin/mfa/register"
    client.register_totp(new_password="agent one's own passphrase")
    launched = client.launch("amazon-connect")
    assert launched.status_code == 200, launched.text[:500]
    acs, fields = client.saml_post(launched.text)
    assert acs == f"{instance.base_url}/aws/saml"
    # The browser posts to AWS's sign-in (emulated at /aws/saml on this node).
    signed_in = client.submit("/aws/saml", fields)
    assert signed_in.status_code == 303, signed_in.text[:500]
    target = signed_in.headers["Location"].replace(instance.base_url, "")
    console = client.get(target)
    assert console.status_code == 200 and 'id="connect-user">agent1<' in console.text, console.text[
        :800
    ]
    # The same assertion posted again: STS's replay guard refuses it.
    again = client.submit("/aws/saml", fields)
    assert again.status_code in (400, 403), again.text[:300]
