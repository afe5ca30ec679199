"""STS, emulated, end to end: boto3 redeems a Sekisho SAML assertion and uses the session.

The bridge is test_iam_service's ``DjangoAws`` (botocore's prepared requests answered by
Django's test client), so each call runs botocore's serializer and signer (or none, for
the unsigned AssumeRoleWithSAML), Sekisho's view, STS handlers, and botocore's parser.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.clock import SYSTEM_CLOCK, FrozenClock
from sekisho.config import get_config
from sekisho.directory.models import User
from sekisho.emulator import accounts, iam
from sekisho.emulator.models import AccessKey, UsedAssertion
from sekisho.emulator.sts_saml import MSG_DURATION_TOO_LONG, MSG_NOT_AUTHORIZED, MSG_SIGNATURE
from sekisho.saml import services as saml
from tests.emulator.test_iam_service import ACCOUNT_ID, DjangoAws, code_of
from tests.policy.test_seed import FEDERATION, LIST_ROLES

pytestmark = pytest.mark.django_db

ROLE = "ConnectFederationRole"
PROVIDER = "Sekisho"


def saml_trust_policy(provider_arn: str) -> str:
    """The standard SAML trust policy, also accepting the emulator's own sign-in URL."""
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


@dataclass
class Federation:
    """The seed's AWS side plus a Sekisho user and Connect app that sign into it."""

    aws: DjangoAws
    iam_root: Any
    sts: Any
    role_arn: str
    provider_arn: str
    assertion: Callable[[], str]


@pytest.fixture
def frozen(clock: FrozenClock) -> Iterator[FrozenClock]:
    """One frozen clock for the IdP (assertions) and the emulator (validity, expiry)."""
    iam.set_clock(clock)
    yield clock
    iam.set_clock(SYSTEM_CLOCK)


@pytest.fixture
def signin_url() -> str | None:
    """The app's sign-in URL override (None: AWS's global endpoint)."""
    return None


@pytest.fixture
def fed(
    frozen: FrozenClock, make_user: Callable[..., User], actor: Actor, signin_url: str | None
) -> Federation:
    aws = DjangoAws()
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    root = aws.boto("iam", key_id, secret)
    provider = root.create_saml_provider(
        SAMLMetadataDocument=saml.metadata_xml().decode("utf-8"), Name=PROVIDER
    )["SAMLProviderArn"]
    role = root.create_role(RoleName=ROLE, AssumeRolePolicyDocument=saml_trust_policy(provider))[
        "Role"
    ]["Arn"]
    for name, document in (("federation", FEDERATION), ("listroles", LIST_ROLES)):
        arn = root.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
        root.attach_role_policy(RoleName=ROLE, PolicyArn=arn)
    app = saml.create_amazon_connect_app(
        name="connect",
        display_name="Amazon Connect",
        region="ap-northeast-1",
        instance_id="45c5d029-7d66-446b-aa8c-307af0656177",
        account_id=ACCOUNT_ID,
        role_name=ROLE,
        provider_name=PROVIDER,
        destination="ccp",
        acs="global",
        session_duration=None,
        signin_url=signin_url,
        console_url=None,
        actor=actor,
    )
    user = make_user("agent01")

    def assertion() -> str:
        xml = saml.preview(app=app, user=user, mfa_used=True)
        return base64.b64encode(xml).decode("ascii")

    # Unsigned calls need no real credentials; botocore still wants some configured.
    sts = aws.boto("sts", "AKIAUNUSED", "unused")
    return Federation(aws, root, sts, role, provider, assertion)


def redeem(fed: Federation, assertion: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = fed.sts.assume_role_with_saml(
        RoleArn=fed.role_arn,
        PrincipalArn=fed.provider_arn,
        SAMLAssertion=assertion or fed.assertion(),
        **extra,
    )
    return response


def session(fed: Federation, service: str, response: dict[str, Any]) -> Any:
    credentials = response["Credentials"]
    return fed.aws.boto(
        service,
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )


def test_assume_role_with_saml_issues_session_credentials(fed: Federation) -> None:
    response = redeem(fed)
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert len(credentials["SecretAccessKey"]) == 40
    role = fed.iam_root.get_role(RoleName=ROLE)["Role"]
    assumed = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE}/agent01"
    assert response["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:agent01",
        "Arn": assumed,
    }
    assert response["Audience"] == "https://signin.aws.amazon.com/saml"
    assert response["Issuer"] == saml.idp_identity().entity_id
    assert response["Subject"]
    assert response["SubjectType"]
    assert response["NameQualifier"]
    expected_end = iam.now()
    assert credentials["Expiration"].timestamp() == expected_end.timestamp() + 3600
    # The token is stored only as a digest.
    key = AccessKey.objects.get(access_key_id=credentials["AccessKeyId"])
    assert key.session_token_sha256 == accounts.token_sha256(credentials["SessionToken"])
    assert credentials["SessionToken"] not in json.dumps(
        list(AccessKey.objects.values("session_token_sha256", "sealed_secret"))
    )

    identity = session(fed, "sts", response).get_caller_identity()
    assert identity["Arn"] == assumed
    assert identity["Account"] == ACCOUNT_ID
    assert identity["UserId"] == f"{role['RoleId']}:agent01"

    record = AuditRecord.objects.get(event_name="AssumeRoleWithSAML").record
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["userIdentity"]["type"] == "SAMLUser"
    assert record["responseElements"]["credentials"]["accessKeyId"] == credentials["AccessKeyId"]
    assert credentials["SessionToken"] not in json.dumps(record)


def test_get_caller_identity_of_the_root_user(fed: Federation) -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    identity = fed.aws.boto("sts", key_id, secret).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert identity["UserId"] == ACCOUNT_ID


def test_get_caller_identity_with_an_unknown_key_is_refused(fed: Federation) -> None:
    with pytest.raises(ClientError) as info:
        fed.aws.boto("sts", "AKIAUNKNOWNKEY000000", "x" * 40).get_caller_identity()
    assert code_of(info) == "InvalidClientTokenId"


def test_role_last_used_is_the_last_assumption(fed: Federation, frozen: FrozenClock) -> None:
    role = fed.iam_root.get_role(RoleName=ROLE)["Role"]
    assert role["RoleLastUsed"] == {}
    redeem(fed)
    used = fed.iam_root.get_role(RoleName=ROLE)["Role"]["RoleLastUsed"]
    assert used == {"LastUsedDate": frozen.now(), "Region": "us-east-1"}
    # ListRoles leaves RoleLastUsed out, as IAM does.
    assert "RoleLastUsed" not in fed.iam_root.list_roles()["Roles"][0]


def test_a_replayed_assertion_is_refused(fed: Federation) -> None:
    assertion = fed.assertion()
    redeem(fed, assertion)
    with pytest.raises(ClientError) as info:
        redeem(fed, assertion)
    assert code_of(info) == "InvalidIdentityToken"
    assert "already been used" in info.value.response["Error"]["Message"]
    assert UsedAssertion.objects.count() == 1
    failures = AuditRecord.objects.filter(event_name="AssumeRoleWithSAML", outcome="Failure")
    assert failures.get().record["errorCode"] == "InvalidIdentityToken"


def test_expired_used_assertions_are_purged(fed: Federation, frozen: FrozenClock) -> None:
    redeem(fed)
    frozen.advance(seconds=3600)
    redeem(fed)
    assert UsedAssertion.objects.count() == 1


def test_a_tampered_assertion_is_refused(fed: Federation) -> None:
    xml = base64.b64decode(fed.assertion())
    tampered = xml.replace(b">agent01<", b">agent02<")
    assert tampered != xml
    with pytest.raises(ClientError) as info:
        redeem(fed, base64.b64encode(tampered).decode("ascii"))
    assert code_of(info) == "InvalidIdentityToken"
    assert info.value.response["Error"]["Message"] == MSG_SIGNATURE


def test_a_role_the_assertion_does_not_grant_is_rejected(fed: Federation) -> None:
    fed.iam_root.create_role(
        RoleName="Other", AssumeRolePolicyDocument=saml_trust_policy(fed.provider_arn)
    )
    with pytest.raises(ClientError) as info:
        fed.sts.assume_role_with_saml(
            RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/Other",
            PrincipalArn=fed.provider_arn,
            SAMLAssertion=fed.assertion(),
        )
    assert code_of(info) == "IDPRejectedClaim"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unknown_role_is_not_authorized(fed: Federation) -> None:
    with pytest.raises(ClientError) as info:
        fed.sts.assume_role_with_saml(
            RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/Missing",
            PrincipalArn=fed.provider_arn,
            SAMLAssertion=fed.assertion(),
        )
    assert code_of(info) == "AccessDenied"
    assert info.value.response["Error"]["Message"] == MSG_NOT_AUTHORIZED


def test_duration_over_the_role_maximum_is_refused(fed: Federation) -> None:
    with pytest.raises(ClientError) as info:
        redeem(fed, DurationSeconds=7200)
    assert code_of(info) == "ValidationError"
    assert info.value.response["Error"]["Message"] == MSG_DURATION_TOO_LONG


def test_duration_within_the_role_maximum_sets_expiration(fed: Federation) -> None:
    response = redeem(fed, DurationSeconds=900)
    end = response["Credentials"]["Expiration"].timestamp()
    assert end == iam.now().timestamp() + 900


def test_session_credentials_act_only_as_the_role_allows(fed: Federation) -> None:
    client = session(fed, "iam", redeem(fed))
    roles = client.list_roles()["Roles"]
    assert [role["RoleName"] for role in roles] == [ROLE]
    with pytest.raises(ClientError) as info:
        client.create_role(RoleName="Escalate", AssumeRolePolicyDocument="{}")
    assert code_of(info) == "AccessDenied"
    assert "iam:CreateRole" in info.value.response["Error"]["Message"]


def test_session_policy_narrows_the_session(fed: Federation) -> None:
    narrow = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:ListAccountAliases", "Resource": "*"}],
        }
    )
    client = session(fed, "iam", redeem(fed, Policy=narrow))
    assert client.list_account_aliases()["AccountAliases"] == []
    with pytest.raises(ClientError) as info:
        client.list_roles()
    assert code_of(info) == "AccessDenied"
    assert "because no session policy allows the iam:ListRoles action" in str(info.value)


def test_a_malformed_session_policy_is_refused(fed: Federation) -> None:
    with pytest.raises(ClientError) as info:
        redeem(fed, Policy='{"Statement": "nope"}')
    assert code_of(info) == "MalformedPolicyDocument"


def test_policy_arns_narrow_the_session_too(fed: Federation) -> None:
    # "Session policies": the session gets the intersection of the role's policies and the
    # session policies, inline and managed together.
    read_only = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    iam_client = session(fed, "iam", redeem(fed, PolicyArns=[{"arn": read_only}]))
    assert iam_client.list_roles()["Roles"]  # the role allows it, and so does IAMReadOnly
    connect_only = fed.iam_root.create_policy(
        PolicyName="connect-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "connect:*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    narrowed = session(fed, "iam", redeem(fed, PolicyArns=[{"arn": connect_only}]))
    with pytest.raises(ClientError) as info:
        narrowed.list_roles()
    assert code_of(info) == "AccessDenied"
    assert "because no session policy allows the iam:ListRoles action" in str(info.value)
    # Inline and managed session policies are one layer: either allowing is enough.
    both = session(
        fed,
        "iam",
        redeem(fed, PolicyArns=[{"arn": connect_only}], Policy=LIST_ROLES),
    )
    assert both.list_roles()["Roles"]
    with pytest.raises(ClientError) as info:
        redeem(fed, PolicyArns=[{"arn": "arn:aws:iam::aws:policy/NoSuchPolicy"}])
    assert code_of(info) == "ValidationError"


def test_expired_session_credentials_are_refused(fed: Federation, frozen: FrozenClock) -> None:
    client = session(fed, "sts", redeem(fed, DurationSeconds=900))
    frozen.advance(seconds=901)
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    assert code_of(info) == "ExpiredToken"


@pytest.mark.parametrize("signin_url", [get_config().url("/aws/saml")])
def test_the_emulator_sign_in_url_is_an_accepted_recipient(fed: Federation) -> None:
    response = redeem(fed)
    assert response["Audience"] == get_config().url("/aws/saml")
