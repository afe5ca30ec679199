"""The browser side of the emulated AWS: SAML sign-in at /aws/saml and Connect federation.

The AWS side is set up with the emulator's own functions (IAM and Connect handlers called
as the account root); the Response is Sekisho's own (``saml.preview``), posted by Django's
test client with REMOTE_ADDR as the browser's address.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.clock import SYSTEM_CLOCK, FrozenClock
from sekisho.config import get_config
from sekisho.directory.models import User
from sekisho.emulator import accounts, iam
from sekisho.emulator import connect as connect_service
from sekisho.emulator.console import COOKIE, emulated_target
from sekisho.emulator.models import ConnectUser, ConsoleSession
from sekisho.saml import services as saml
from sekisho.saml.models import Application
from sekisho.web import middleware

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "123123123123"
REGION = "ap-northeast-1"
ROLE = "ConnectFederationRole"
PROVIDER = "Sekisho"


@dataclass
class Seed:
    """The seed's AWS side, the Sekisho app that signs into it and its user."""

    instance_id: str
    app: Application
    user: User
    root: iam.Caller

    def response(self) -> str:
        """A fresh SAMLResponse (base64) for agent1, as a launch would post it."""
        xml = saml.preview(app=self.app, user=self.user, mfa_used=True)
        return base64.b64encode(xml).decode("ascii")


@pytest.fixture
def frozen(clock: FrozenClock) -> Iterator[FrozenClock]:
    """One frozen clock for the IdP and the emulator."""
    iam.set_clock(clock)
    yield clock
    iam.set_clock(SYSTEM_CLOCK)


def _trust(provider_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {
                        "StringEquals": {
                            "SAML:aud": [
                                "https://signin.aws.amazon.com/saml",
                                get_config().url("/aws/saml"),
                            ]
                        }
                    },
                }
            ],
        }
    )


def _federation_policy(instance_arn: str, cidr: str) -> str:
    """The seed's federation policy with its IP condition (section 8)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Statement1",
                    "Effect": "Allow",
                    "Action": "connect:GetFederationToken",
                    "Resource": [f"{instance_arn}/user/${{aws:userid}}"],
                    "Condition": {"IpAddress": {"aws:SourceIp": [cidr]}},
                }
            ],
        }
    )


def _iam(root: iam.Caller, operation: str, **params: Any) -> dict[str, Any]:
    return iam.call(root, operation, params, source_ip="127.0.0.1")


@pytest.fixture
def seed(frozen: FrozenClock, make_user: Callable[..., User], actor: Actor) -> Seed:
    account, _, _ = accounts.bootstrap(ACCOUNT_ID)
    root = iam.Caller(account)
    ctx = connect_service.Ctx(caller=root, region=REGION, source_ip="127.0.0.1")
    instance = connect_service.call(
        ctx,
        "CreateInstance",
        {
            "IdentityManagementType": "SAML",
            "InstanceAlias": "sekisho-test",
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": False,
        },
    )
    provider = _iam(
        root,
        "CreateSAMLProvider",
        SAMLMetadataDocument=saml.metadata_xml().decode("utf-8"),
        Name=PROVIDER,
    )["SAMLProviderArn"]
    _iam(root, "CreateRole", RoleName=ROLE, AssumeRolePolicyDocument=_trust(provider))
    policy = _iam(
        root,
        "CreatePolicy",
        PolicyName="identitycenter_federation_policy",
        PolicyDocument=_federation_policy(instance["Arn"], "127.0.0.1/32"),
    )["Policy"]["Arn"]
    _iam(root, "AttachRolePolicy", RoleName=ROLE, PolicyArn=policy)
    on_instance = {"InstanceId": instance["Id"]}
    profiles = connect_service.call(ctx, "ListSecurityProfiles", on_instance)
    routing = connect_service.call(ctx, "ListRoutingProfiles", on_instance)
    agent = next(p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent")
    connect_service.call(
        ctx,
        "CreateUser",
        {
            "InstanceId": instance["Id"],
            "Username": "agent1",
            "IdentityInfo": {"FirstName": "Agent", "LastName": "One"},
            "PhoneConfig": {"PhoneType": "SOFT_PHONE"},
            "SecurityProfileIds": [agent],
            "RoutingProfileId": routing["RoutingProfileSummaryList"][0]["Id"],
        },
    )
    app = saml.create_amazon_connect_app(
        name="connect",
        display_name="Amazon Connect",
        region=REGION,
        instance_id=instance["Id"],
        account_id=ACCOUNT_ID,
        role_name=ROLE,
        provider_name=PROVIDER,
        destination="ccp",
        acs="global",
        session_duration=None,
        signin_url=get_config().url("/aws/saml"),
        console_url=None,
        actor=actor,
    )
    return Seed(instance["Id"], app, make_user("agent1"), root)


def _browser(address: str = "127.0.0.1") -> Client:
    return Client(REMOTE_ADDR=address)


def _sign_in(seed: Seed, browser: Client, response: str | None = None) -> Any:
    return browser.post(
        "/aws/saml",
        {"SAMLResponse": response or seed.response(), "RelayState": seed.app.relay_state},
    )


def _federate(seed: Seed, browser: Client) -> Any:
    signed_in = _sign_in(seed, browser)
    assert signed_in.status_code == 303
    return browser.get(signed_in["Location"])


def _text(response: Any) -> str:
    return str(response.content.decode("utf-8"))


def test_sign_in_follows_the_relay_state_to_the_agent_console(seed: Seed) -> None:
    browser = _browser()
    signed_in = _sign_in(seed, browser)
    assert signed_in.status_code == 303
    assert signed_in["Location"] == (
        f"/aws/connect/federate/{seed.instance_id}?destination=%2Fccp-v2%2F"
    )
    cookie = signed_in.cookies[COOKIE]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"] == "Lax" and cookie["path"] == "/aws"
    session = ConsoleSession.objects.get()
    assert session.session_name == "agent1"
    assert session.access_key.access_key_id.startswith("ASIA")
    assert session.expires == session.access_key.expiration
    console = browser.get(signed_in["Location"])
    assert console.status_code == 200
    page = _text(console)
    assert "agent1" in page and "sekisho-test" in page
    assert "Contact Control Panel" in page and "/ccp-v2/" in page
    assert "AWS (Sekisho local emulator)" in page
    login = AuditRecord.objects.get(event_name="ConsoleLogin").record
    assert login["eventSource"] == "signin.amazonaws.com"
    assert login["eventType"] == "AwsConsoleSignIn"
    assert login["responseElements"] == {"ConsoleLogin": "Success"}
    assert login["userIdentity"]["type"] == "AssumedRole"
    assert login["additionalEventData"]["SamlProviderArn"].endswith(f":saml-provider/{PROVIDER}")
    assert AuditRecord.objects.filter(event_name="AssumeRoleWithSAML", outcome="Success").exists()
    federation = AuditRecord.objects.get(event_name="GetFederationToken").record
    assert federation["eventSource"] == "connect.amazonaws.com"
    assert federation["requestParameters"] == {"InstanceId": seed.instance_id}
    assert federation["responseElements"] is None and "errorCode" not in federation


def test_an_address_outside_the_condition_is_denied(seed: Seed) -> None:
    denied = _federate(seed, _browser("127.0.0.2"))
    assert denied.status_code == 403
    assert "Access denied" in _text(denied)
    assert "SourceIp" not in _text(denied)  # AWS's page is plain; the audit says why
    record = AuditRecord.objects.get(event_name="GetFederationToken").record
    assert record["errorCode"] == "AccessDenied"
    assert "connect:GetFederationToken" in record["errorMessage"]
    assert record["sourceIPAddress"] == "127.0.0.2"


def test_the_denial_names_the_source_ip_condition_in_the_audit(seed: Seed) -> None:
    _federate(seed, _browser("127.0.0.2"))
    record = AuditRecord.objects.get(event_name="GetFederationToken").record
    why = record["additionalEventData"]["policyExplanation"]
    assert "aws:SourceIp 127.0.0.2 is not in 127.0.0.1/32" in why
    assert record["sourceIPAddress"] == "127.0.0.2"
    assert record["userIdentity"]["arn"].endswith(f"assumed-role/{ROLE}/agent1")


def test_no_connect_user_is_denied(seed: Seed) -> None:
    ConnectUser.objects.all().delete()
    denied = _federate(seed, _browser())
    assert denied.status_code == 403
    assert "Access denied" in _text(denied)
    record = AuditRecord.objects.get(event_name="GetFederationToken").record
    assert record["errorCode"] == "UserNotFoundException"


def test_no_cookie_is_session_expired(seed: Seed) -> None:
    browser = _browser()
    expired = browser.get(f"/aws/connect/federate/{seed.instance_id}?destination=%2Fccp-v2%2F")
    assert expired.status_code == 401
    assert "Session Expired" in _text(expired)


def test_an_expired_console_session_is_session_expired(seed: Seed, frozen: FrozenClock) -> None:
    browser = _browser()
    signed_in = _sign_in(seed, browser)
    frozen.advance(seconds=3601)
    expired = browser.get(signed_in["Location"])
    assert expired.status_code == 401 and "Session Expired" in _text(expired)


def test_the_instance_logout_ends_the_agent_session(seed: Seed) -> None:
    """``<instance>/connect/logout``, which Sekisho's sign-out requests (issue 11)."""
    browser = _browser()
    signed_in = _sign_in(seed, browser)
    assert browser.get(signed_in["Location"]).status_code == 200
    out = browser.get("/aws/connect/sekisho-test/connect/logout")
    assert out.status_code == 204
    assert out.cookies[COOKIE].value == "" and out.cookies[COOKIE]["path"] == "/aws"
    assert not ConsoleSession.objects.exists()
    browser.cookies[COOKIE] = signed_in.cookies[COOKIE].value  # a kept cookie is no good
    expired = browser.get(signed_in["Location"])
    assert expired.status_code == 401 and "Session Expired" in _text(expired)
    assert _browser().get("/aws/connect/sekisho-test/connect/logout").status_code == 204


@pytest.mark.parametrize(
    "path",
    ["/aws/connect/sekisho-test/", "/aws/connect/{id}/", "/aws/connect/instance/{id}"],
)
def test_opening_the_instance_without_federating_is_session_expired(seed: Seed, path: str) -> None:
    opened = _browser().get(path.format(id=seed.instance_id))
    assert opened.status_code == 401
    assert "Session Expired" in _text(opened)


def test_a_replayed_response_is_refused(seed: Seed) -> None:
    response = seed.response()
    assert _sign_in(seed, _browser(), response).status_code == 303
    replayed = _sign_in(seed, _browser(), response)
    assert replayed.status_code == 400
    assert "Your request included an invalid SAML response" in _text(replayed)
    assert COOKIE not in replayed.cookies
    failure = AuditRecord.objects.get(event_name="ConsoleLogin", outcome="Failure").record
    assert failure["errorMessage"] == "Failed authentication"
    assert failure["responseElements"] == {"ConsoleLogin": "Failure"}


def test_a_tampered_response_is_refused(seed: Seed) -> None:
    xml = base64.b64decode(seed.response())
    tampered = xml.replace(b">agent1<", b">admin1<")
    assert tampered != xml
    refused = _sign_in(seed, _browser(), base64.b64encode(tampered).decode("ascii"))
    assert refused.status_code == 400
    assert "Response signature invalid" in _text(refused)
    assert ConsoleSession.objects.count() == 0


def test_garbage_is_a_400_page(seed: Seed) -> None:
    refused = _sign_in(seed, _browser(), "!!!not base64!!!")
    assert refused.status_code == 400
    assert "Your request included an invalid SAML response" in _text(refused)
    missing = _browser().post("/aws/saml", {})
    assert missing.status_code == 400


def test_other_relay_states_show_the_signed_in_page(seed: Seed) -> None:
    signed_in = _browser().post(
        "/aws/saml", {"SAMLResponse": seed.response(), "RelayState": "https://example.com/x"}
    )
    assert signed_in.status_code == 200
    assert f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE}/agent1" in _text(signed_in)


def test_emulated_targets() -> None:
    base = "https://ap-northeast-1.console.aws.amazon.com/connect/federate/abc-1"
    assert emulated_target(base) == "/aws/connect/federate/abc-1"
    assert emulated_target(base + "?destination=%2Fagent-app-v2") == (
        "/aws/connect/federate/abc-1?destination=%2Fagent-app-v2"
    )
    own = get_config().url("/aws/connect/federate/abc-1")
    assert emulated_target(own) == "/aws/connect/federate/abc-1"
    assert emulated_target("https://evil.example/connect/federate/abc-1") is None
    assert emulated_target("https://console.aws.amazon.com.evil/connect/federate/x") is None
    assert emulated_target("") is None


def test_federation_sees_secure_transport_only_through_a_trusted_proxy(
    seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusted = dataclasses.replace(
        get_config(), trusted_proxies=(ipaddress.ip_network("192.0.2.0/24"),)
    )
    monkeypatch.setattr(middleware, "get_config", lambda: trusted)
    tls_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "connect:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    _iam(
        seed.root,
        "PutRolePolicy",
        RoleName=ROLE,
        PolicyName="tls-only",
        PolicyDocument=json.dumps(tls_only),
    )
    via_proxy = Client(
        REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https"
    )
    assert _federate(seed, via_proxy).status_code == 200
    spoofed = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    assert _federate(seed, spoofed).status_code == 403
    denied = AuditRecord.objects.filter(event_name="GetFederationToken").last()
    assert denied is not None and denied.record["errorCode"] == "AccessDenied"
    assert "aws:SecureTransport" in denied.record["additionalEventData"]["policyExplanation"]
