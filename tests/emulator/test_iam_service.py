"""IAM, emulated, driven by boto3 as the real client through Django's test client.

A botocore ``before-send`` hook turns each prepared (serialized and signed) request into a
``django.test.Client`` call to ``/aws`` and hands botocore Django's response, so each test
is a full round trip: botocore's serializer and signer, Sekisho's URL routing, view,
SigV4 check, IAM handlers and serializer, and botocore's parser.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.test import Client

from sekisho.cli.aws import cmd_aws_bootstrap, register
from sekisho.emulator import accounts, iam, views
from sekisho.emulator.errors import EmulatorError
from sekisho.emulator.models import AccessKey, Account, Role
from sekisho.saml import services as saml
from tests.policy.test_seed import FEDERATION, IP_RESTRICTED, LIST_ROLES

pytestmark = pytest.mark.django_db

ENDPOINT = "http://localhost:8000/aws"
ACCOUNT_ID = "123123123123"
_BOTOCORE = botocore.session.get_session()


class _Raw(io.BytesIO):
    """The urllib3-like ``raw`` body AWSResponse reads."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class DjangoAws:
    """Sends botocore's prepared requests to Sekisho's ``/aws`` through the test client."""

    def __init__(self) -> None:
        self.client = Client()
        self.remote_addr = "127.0.0.1"
        self.last_status = 0

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> AWSResponse:
        """One HTTP exchange through Django; the response as botocore would receive it."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {
            k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
        }
        extra.setdefault("Host", parts.netloc)
        response = self.client.generic(
            method,
            target,
            data=body,
            content_type=headers.get("Content-Type", ""),
            headers=extra,
            REMOTE_ADDR=self.remote_addr,
        )
        self.last_status = response.status_code
        return AWSResponse(
            url, response.status_code, dict(response.headers), _Raw(response.content)
        )

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """The botocore ``before-send`` hook."""
        headers = {
            name: value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        return self.send(request.method, request.url, headers, body)

    def boto(
        self,
        service: str,
        key_id: str,
        secret: str,
        token: str | None = None,
        *,
        validate: bool = True,
        region: str = "us-east-1",
    ) -> Any:
        """A real boto3 client whose requests Sekisho answers (signed for ``region``)."""
        client = boto3.session.Session(botocore_session=_BOTOCORE).client(
            service,
            endpoint_url=ENDPOINT,
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate),
        )
        client.meta.events.register("before-send.*", self.before_send)
        return client


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


@pytest.fixture
def root(aws: DjangoAws) -> Any:
    """An IAM client signed with the account root's key from ``bootstrap``."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return aws.boto("iam", key_id, secret)


def trust_policy(provider_arn: str) -> str:
    """The standard trust policy of a SAML role (aws-semantics §1)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {
                        "StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}
                    },
                }
            ],
        }
    )


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def seed_setup(iam_client: Any) -> dict[str, str]:
    """Section 5 of the seed in IAM: two policies, the SAML provider, the role."""
    federation = iam_client.create_policy(
        PolicyName="identitycenter_federation_policy", PolicyDocument=FEDERATION
    )["Policy"]
    listing = iam_client.create_policy(
        PolicyName="identitycenter_listroles_policy", PolicyDocument=LIST_ROLES
    )["Policy"]
    provider = iam_client.create_saml_provider(
        SAMLMetadataDocument=saml.metadata_xml().decode("utf-8"), Name="Sekisho"
    )["SAMLProviderArn"]
    role = iam_client.create_role(
        RoleName="ConnectFederation", AssumeRolePolicyDocument=trust_policy(provider)
    )["Role"]
    for policy in (federation, listing):
        iam_client.attach_role_policy(RoleName="ConnectFederation", PolicyArn=policy["Arn"])
    return {
        "federation": federation["Arn"],
        "listing": listing["Arn"],
        "provider": provider,
        "role": role["Arn"],
    }


def session_client(aws: DjangoAws, role_name: str, session_name: str = "agent01") -> Any:
    """An IAM client with a role session's temporary (ASIA) credentials."""
    role = Role.objects.get(name=role_name)
    token = "FwoGZXIvYXdzEXAMPLETOKEN" + session_name
    key, secret = accounts.create_access_key(
        role.account,
        prefix=accounts.SESSION_KEY_PREFIX,
        role=role,
        session_name=session_name,
        session_token_sha256=accounts.token_sha256(token),
        expiration=iam.now() + timedelta(hours=1),
    )
    return aws.boto("iam", key.access_key_id, secret, token)


# --- the seed's IAM steps ---------------------------------------------------------------------


def test_seed_iam_steps(root: Any) -> None:
    arns = seed_setup(root)
    assert arns["provider"] == f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/Sekisho"
    assert arns["role"] == f"arn:aws:iam::{ACCOUNT_ID}:role/ConnectFederation"

    attached = root.list_attached_role_policies(RoleName="ConnectFederation")["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == {arns["federation"], arns["listing"]}

    policy = root.get_policy(PolicyArn=arns["federation"])["Policy"]
    assert policy["AttachmentCount"] == 1 and policy["DefaultVersionId"] == "v1"
    assert policy["PolicyId"].startswith("ANPA") and len(policy["PolicyId"]) == 21

    role = root.get_role(RoleName="ConnectFederation")["Role"]
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["MaxSessionDuration"] == 3600
    # botocore URL-decodes and parses the trust policy document.
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": arns["provider"]}

    provider = root.get_saml_provider(SAMLProviderArn=arns["provider"])
    assert provider["SAMLMetadataDocument"] == saml.metadata_xml().decode("utf-8")
    listed = root.list_saml_providers()["SAMLProviderList"]
    assert [p["Arn"] for p in listed] == [arns["provider"]]

    # Section 8: the IP condition goes in as a new default version.
    version = root.create_policy_version(
        PolicyArn=arns["federation"], PolicyDocument=IP_RESTRICTED, SetAsDefault=True
    )["PolicyVersion"]
    assert version["VersionId"] == "v2" and version["IsDefaultVersion"] is True
    fetched = root.get_policy_version(PolicyArn=arns["federation"], VersionId="v2")
    document = fetched["PolicyVersion"]["Document"]
    assert document == json.loads(IP_RESTRICTED)
    assert root.get_policy(PolicyArn=arns["federation"])["Policy"]["DefaultVersionId"] == "v2"
    old = root.get_policy_version(PolicyArn=arns["federation"], VersionId="v1")["PolicyVersion"]
    assert old["IsDefaultVersion"] is False

    names = [
        p["PolicyName"] for p in root.list_policies(Scope="Local", OnlyAttached=True)["Policies"]
    ]
    assert names == ["identitycenter_federation_policy", "identitycenter_listroles_policy"]
    aws_managed = [p["PolicyName"] for p in root.list_policies(Scope="AWS")["Policies"]]
    assert "AmazonConnect_FullAccess" in aws_managed
    assert [r["RoleName"] for r in root.list_roles()["Roles"]] == ["ConnectFederation"]
    assert root.list_account_aliases()["AccountAliases"] == []


def test_inline_policies_and_deletes(root: Any) -> None:
    arns = seed_setup(root)
    root.put_role_policy(
        RoleName="ConnectFederation", PolicyName="extra", PolicyDocument=LIST_ROLES
    )
    assert root.list_role_policies(RoleName="ConnectFederation")["PolicyNames"] == ["extra"]
    got = root.get_role_policy(RoleName="ConnectFederation", PolicyName="extra")
    assert got["PolicyDocument"] == json.loads(LIST_ROLES)

    with pytest.raises(ClientError) as info:
        root.delete_role(RoleName="ConnectFederation")
    assert code_of(info) == "DeleteConflict"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as info:
        root.delete_policy(PolicyArn=arns["listing"])
    assert code_of(info) == "DeleteConflict"

    for arn in (arns["federation"], arns["listing"]):
        root.detach_role_policy(RoleName="ConnectFederation", PolicyArn=arn)
    root.delete_role_policy(RoleName="ConnectFederation", PolicyName="extra")
    root.delete_role(RoleName="ConnectFederation")
    root.delete_policy(PolicyArn=arns["listing"])
    root.delete_saml_provider(SAMLProviderArn=arns["provider"])
    assert root.list_roles()["Roles"] == []
    assert root.list_saml_providers()["SAMLProviderList"] == []


# --- IAM's errors -------------------------------------------------------------------------------


def test_missing_role_is_no_such_entity(root: Any) -> None:
    with pytest.raises(ClientError) as info:
        root.get_role(RoleName="Nobody")
    assert code_of(info) == "NoSuchEntity"
    assert info.value.response["Error"]["Message"] == "The role with name Nobody cannot be found."
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_duplicates_are_entity_already_exists(root: Any) -> None:
    seed_setup(root)
    with pytest.raises(ClientError) as info:
        root.create_role(
            RoleName="connectfederation",
            AssumeRolePolicyDocument=trust_policy(
                f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/Sekisho"
            ),
        )
    assert code_of(info) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as info:
        root.create_policy(PolicyName="identitycenter_federation_policy", PolicyDocument=FEDERATION)
    assert code_of(info) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(
            SAMLMetadataDocument=saml.metadata_xml().decode("utf-8"), Name="Sekisho"
        )
    assert code_of(info) == "EntityAlreadyExists"


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}],
            }
        ),
        # A Principal has no place in an identity-based policy.
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}
                ],
            }
        ),
    ],
)
def test_bad_documents_are_malformed_policy_document(root: Any, document: str) -> None:
    with pytest.raises(ClientError) as info:
        root.create_policy(PolicyName="bad", PolicyDocument=document)
    assert code_of(info) == "MalformedPolicyDocument"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_trust_policy_without_principal_is_malformed(root: Any) -> None:
    with pytest.raises(ClientError) as info:
        root.create_role(RoleName="r", AssumeRolePolicyDocument=LIST_ROLES)
    assert code_of(info) == "MalformedPolicyDocument"


def test_sixth_policy_version_is_limit_exceeded(root: Any) -> None:
    arn = root.create_policy(PolicyName="p", PolicyDocument=LIST_ROLES)["Policy"]["Arn"]
    for _ in range(4):
        root.create_policy_version(PolicyArn=arn, PolicyDocument=LIST_ROLES)
    with pytest.raises(ClientError) as info:
        root.create_policy_version(PolicyArn=arn, PolicyDocument=LIST_ROLES)
    assert code_of(info) == "LimitExceeded"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as info:
        root.delete_policy_version(PolicyArn=arn, VersionId="v1")
    assert code_of(info) == "DeleteConflict"
    root.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert (
        root.create_policy_version(PolicyArn=arn, PolicyDocument=LIST_ROLES)["PolicyVersion"][
            "VersionId"
        ]
        == "v6"
    )  # IAM never reuses a version id


def test_model_constraints_are_validation_errors(aws: DjangoAws) -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    unchecked = aws.boto("iam", key_id, secret, validate=False)
    with pytest.raises(ClientError) as info:
        unchecked.create_role(
            RoleName="r",
            AssumeRolePolicyDocument=trust_policy("arn:aws:iam::123123123123:saml-provider/x"),
            MaxSessionDuration=60,
        )
    assert code_of(info) == "ValidationError"


def test_attaching_a_missing_policy(root: Any) -> None:
    seed_setup(root)
    missing = f"arn:aws:iam::{ACCOUNT_ID}:policy/nope"
    with pytest.raises(ClientError) as info:
        root.attach_role_policy(RoleName="ConnectFederation", PolicyArn=missing)
    assert code_of(info) == "NoSuchEntity"
    assert "does not exist or is not attachable" in info.value.response["Error"]["Message"]


def test_metadata_checks(root: Any) -> None:
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(SAMLMetadataDocument="<x/>" * 300, Name="bad")
    assert code_of(info) == "InvalidInput"
    bom = "\ufeff" + saml.metadata_xml().decode("utf-8")
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(SAMLMetadataDocument=bom, Name="bom")
    assert code_of(info) == "InvalidInput"
    # An SP's metadata is not an IdP's.
    sp = saml.metadata_xml().decode("utf-8").replace("IDPSSODescriptor", "SPSSODescriptor")
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(SAMLMetadataDocument=sp, Name="sp")
    assert code_of(info) == "InvalidInput"


def test_create_access_key_for_root(root: Any, aws: DjangoAws) -> None:
    key = root.create_access_key()["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40
    stored = AccessKey.objects.get(access_key_id=key["AccessKeyId"])
    assert key["SecretAccessKey"] not in stored.sealed_secret
    fresh = aws.boto("iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert fresh.list_roles()["Roles"] == []
    with pytest.raises(ClientError) as info:
        root.create_access_key()
    assert code_of(info) == "LimitExceeded"


# --- authorization ------------------------------------------------------------------------------


def test_role_session_is_authorized_by_its_policies(root: Any, aws: DjangoAws) -> None:
    seed_setup(root)
    agent = session_client(aws, "ConnectFederation")
    assert [r["RoleName"] for r in agent.list_roles()["Roles"]] == ["ConnectFederation"]
    assert agent.list_account_aliases()["AccountAliases"] == []
    with pytest.raises(ClientError) as info:
        agent.get_role(RoleName="ConnectFederation")
    assert code_of(info) == "AccessDenied"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/ConnectFederation/agent01 is not "
        "authorized to perform: iam:GetRole on resource: "
        f"arn:aws:iam::{ACCOUNT_ID}:role/ConnectFederation because no identity-based policy "
        "allows the iam:GetRole action"
    )


def test_source_ip_and_userid_reach_the_policies(root: Any, aws: DjangoAws) -> None:
    seed_setup(root)
    role = Role.objects.get(name="ConnectFederation")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetRole",
                "Resource": "*",
                "Condition": {
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                    "StringEquals": {"aws:userid": f"{role.role_id}:agent01"},
                },
            }
        ],
    }
    root.put_role_policy(
        RoleName="ConnectFederation", PolicyName="office", PolicyDocument=json.dumps(policy)
    )
    agent = session_client(aws, "ConnectFederation")
    aws.remote_addr = "10.1.2.3"
    assert agent.get_role(RoleName="ConnectFederation")["Role"]["RoleId"] == role.role_id
    aws.remote_addr = "192.0.2.10"
    with pytest.raises(ClientError) as info:
        agent.get_role(RoleName="ConnectFederation")
    assert code_of(info) == "AccessDenied"
    aws.remote_addr = "10.1.2.3"
    other = session_client(aws, "ConnectFederation", session_name="agent02")
    with pytest.raises(ClientError) as info:
        other.get_role(RoleName="ConnectFederation")
    assert code_of(info) == "AccessDenied"


def test_session_key_needs_its_token_and_expires(root: Any, aws: DjangoAws) -> None:
    seed_setup(root)
    agent = session_client(aws, "ConnectFederation")
    key = AccessKey.objects.get(role__isnull=False)
    secret = accounts.secret_of(key)
    wrong_token = aws.boto("iam", key.access_key_id, secret, "not-the-token")
    with pytest.raises(ClientError) as info:
        wrong_token.list_roles()
    assert code_of(info) == "InvalidClientTokenId"
    no_token = aws.boto("iam", key.access_key_id, secret)
    with pytest.raises(ClientError) as info:
        no_token.list_roles()
    assert code_of(info) == "InvalidClientTokenId"
    key.expiration = iam.now() - timedelta(seconds=1)
    key.save()
    with pytest.raises(ClientError) as info:
        agent.list_roles()
    assert code_of(info) == "ExpiredToken"


def test_session_cannot_create_root_keys(root: Any, aws: DjangoAws) -> None:
    seed_setup(root)
    role_arn = Role.objects.get(name="ConnectFederation").arn
    everything = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
        }
    )
    root.put_role_policy(RoleName="ConnectFederation", PolicyName="all", PolicyDocument=everything)
    agent = session_client(aws, "ConnectFederation")
    with pytest.raises(ClientError) as info:
        agent.create_access_key()
    assert code_of(info) == "ValidationError"
    assert agent.get_role(RoleName="ConnectFederation")["Role"]["Arn"] == role_arn


# --- SigV4 and hostile input --------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match(root: Any, aws: DjangoAws) -> None:
    key = AccessKey.objects.get()
    client = aws.boto("iam", key.access_key_id, "x" * 40)
    with pytest.raises(ClientError) as info:
        client.list_roles()
    assert code_of(info) == "SignatureDoesNotMatch"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_invalid_client_token_id(aws: DjangoAws) -> None:
    client = aws.boto("iam", "AKIAUNKNOWNKEY000000", "x" * 40)
    with pytest.raises(ClientError) as info:
        client.list_roles()
    assert code_of(info) == "InvalidClientTokenId"


def test_unsigned_iam_call_is_missing_authentication_token(aws: DjangoAws) -> None:
    response = aws.client.post(
        "/aws",
        "Action=ListRoles&Version=2010-05-08",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in response.content


def _signed(
    body: bytes, key_id: str, secret: str, service: str = "iam", method: str = "POST"
) -> tuple[dict[str, str], bytes]:
    request = AWSRequest(
        method=method,
        url=ENDPOINT,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}, body


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b"Action=ListRoles",
        b"Action=Nope&Version=2010-05-08",
        b"Action=ListRoles&Version=2010-05-08&MaxItems=many",
        b"%%%=&&&",
    ],
)
def test_garbage_bodies_get_aws_shaped_400(aws: DjangoAws, body: bytes) -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    headers, data = _signed(body, key_id, secret)
    response = aws.send("POST", ENDPOINT, headers, data)
    assert response.status_code == 400
    assert response.content.startswith(b"<?xml") or b"<ErrorResponse" in response.content


def test_garbage_authorization_and_methods(aws: DjangoAws) -> None:
    response = aws.client.post(
        "/aws",
        b"\x00\x01",
        content_type="application/octet-stream",
        headers={"Authorization": "AWS4-HMAC-SHA256 garbage"},
    )
    assert response.status_code == 400
    assert b"<Code>IncompleteSignature</Code>" in response.content
    assert aws.client.get("/aws/").status_code == 403


def test_unexpected_failure_is_an_aws_shaped_500(
    root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(account: Account, params: Any) -> dict[str, Any]:
        raise RuntimeError("bug")

    monkeypatch.setitem(iam.OPERATIONS, "ListRoles", iam.Operation(boom, lambda a, p: "*"))
    with pytest.raises(ClientError) as info:
        root.list_roles()
    assert code_of(info) == "InternalFailure"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_services_not_emulated_yet_answer_as_aws(
    aws: DjangoAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # STS and Connect are emulated now: take them out of the service table to see the refusal.
    monkeypatch.delitem(views.SERVICES, "sts")
    monkeypatch.delitem(views.SERVICES, "connect")
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    with pytest.raises(ClientError) as info:
        aws.boto("sts", key_id, secret).get_caller_identity()
    assert code_of(info) == "NotImplemented"
    # Connect's rest-json paths live under /aws/…, which its own slice routes; a
    # Connect-scoped request to /aws itself gets Connect's JSON error shape.
    headers, data = _signed(b"", key_id, secret, service="connect", method="GET")
    response = aws.send("GET", ENDPOINT, headers, data)
    assert response.status_code == 501
    assert response.headers["x-amzn-ErrorType"].startswith("NotImplemented")
    assert json.loads(response.content)["message"].startswith("The connect service")


# --- bootstrap and the CLI command --------------------------------------------------------------


def test_bootstrap_reuses_the_account_and_seals_the_secret() -> None:
    account, key_id, secret = accounts.bootstrap()
    again, second_id, _ = accounts.bootstrap()
    assert again == account and second_id != key_id
    assert len(account.account_id) == 12 and account.account_id.isdigit()
    stored = AccessKey.objects.get(access_key_id=key_id)
    assert stored.sealed_secret.startswith("v1.") and secret not in stored.sealed_secret
    assert accounts.secret_of(stored) == secret
    with pytest.raises(EmulatorError, match="12-digit"):
        accounts.bootstrap("12345")


def test_cli_bootstrap_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"), argparse.ArgumentParser)
    args = parser.parse_args(["aws", "bootstrap", "--account-id", ACCOUNT_ID])
    assert args.func is cmd_aws_bootstrap
    assert cmd_aws_bootstrap(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["AccountId"] == ACCOUNT_ID
    assert Account.objects.get().access_keys.get().access_key_id == printed["AccessKeyId"]
    assert len(printed["SecretAccessKey"]) == 40


def _certificate_b64() -> str:
    """A fresh self-signed 1024-bit RSA certificate, as ds:X509Certificate text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "extra")])
    start = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def _with_key_descriptors(certificates: list[str]) -> str:
    extra = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{text}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for text in certificates
    )
    document = saml.metadata_xml().decode("utf-8")
    marker = 'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
    return document.replace(marker, marker + extra, 1)


def test_metadata_key_limits(root: Any) -> None:
    # The IdP's own key plus nine more is the most IAM takes; one more is refused.
    extra = [_certificate_b64() for _ in range(10)]
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(SAMLMetadataDocument=_with_key_descriptors(extra), Name="many")
    assert code_of(info) == "InvalidInput"
    assert "at most 10 signing keys" in info.value.response["Error"]["Message"]
    root.create_saml_provider(SAMLMetadataDocument=_with_key_descriptors(extra[:9]), Name="ten")
    with pytest.raises(ClientError) as info:
        root.create_saml_provider(
            SAMLMetadataDocument=_with_key_descriptors(["bm90IGEgY2VydGlmaWNhdGU="]), Name="bad"
        )
    assert code_of(info) == "MalformedCertificate"
