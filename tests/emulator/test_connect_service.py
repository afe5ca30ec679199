"""Amazon Connect, emulated, driven by boto3 through Django's test client (rest-json).

Reuses the IAM tests' bridge (``DjangoAws``): every call is a full round trip through
botocore's serializer and signer, Sekisho's ``/aws`` view, SigV4, the Connect handlers and
botocore's parser. Behaviour follows the Amazon Connect API Reference and aws-semantics §2.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from sekisho.emulator import accounts, iam
from sekisho.emulator import connect as connect_service
from sekisho.emulator.models import Account, ConnectInstance, Role
from tests.emulator.test_iam_service import (
    ACCOUNT_ID,
    ENDPOINT,
    FEDERATION,
    DjangoAws,
    code_of,
    seed_setup,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_keys() -> tuple[str, str]:
    """The account root's access key from ``bootstrap``."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return key_id, secret


@pytest.fixture
def connect(aws: DjangoAws, root_keys: tuple[str, str]) -> Any:
    """A Connect client signed with the account root's key."""
    return aws.boto("connect", *root_keys)


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


def create_saml_instance(connect: Any, alias: str = "sekisho-test") -> dict[str, str]:
    """A SAML instance, as the seed creates it."""
    out = connect.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias=alias,
        InboundCallsEnabled=True,
        OutboundCallsEnabled=False,
    )
    return {"Id": out["Id"], "Arn": out["Arn"]}


def profiles(connect: Any, instance_id: str) -> tuple[dict[str, str], str]:
    """The instance's security profile ids by name and its routing profile id."""
    security = connect.list_security_profiles(InstanceId=instance_id)
    by_name = {p["Name"]: p["Id"] for p in security["SecurityProfileSummaryList"]}
    routing = connect.list_routing_profiles(InstanceId=instance_id)["RoutingProfileSummaryList"]
    return by_name, routing[0]["Id"]


def create_agent(connect: Any, instance_id: str, username: str = "agent1", **extra: Any) -> Any:
    """CreateUser with the Agent profile and the Basic Routing Profile."""
    by_name, routing = profiles(connect, instance_id)
    identity = extra.pop("IdentityInfo", {"FirstName": "Agent", "LastName": "One"})
    return connect.create_user(
        InstanceId=instance_id,
        Username=username,
        IdentityInfo=identity,
        PhoneConfig={"PhoneType": "SOFT_PHONE"},
        SecurityProfileIds=[by_name["Agent"]],
        RoutingProfileId=routing,
        **extra,
    )


# --- instances and their defaults ------------------------------------------------------------


def test_create_and_describe_saml_instance(connect: Any) -> None:
    created = create_saml_instance(connect)
    assert created["Arn"] == (f"arn:aws:connect:us-east-1:{ACCOUNT_ID}:instance/{created['Id']}")
    instance = connect.describe_instance(InstanceId=created["Id"])["Instance"]
    assert instance["IdentityManagementType"] == "SAML"
    assert instance["InstanceAlias"] == "sekisho-test"
    assert instance["InstanceStatus"] == "ACTIVE"
    assert instance["InboundCallsEnabled"] is True and instance["OutboundCallsEnabled"] is False
    listed = connect.list_instances()["InstanceSummaryList"]
    assert [i["Id"] for i in listed] == [created["Id"]]


def test_default_profiles(connect: Any) -> None:
    instance = create_saml_instance(connect)
    by_name, routing = profiles(connect, instance["Id"])
    assert sorted(by_name) == ["Admin", "Agent", "CallCenterManager", "QualityAnalyst"]
    summary = connect.list_routing_profiles(InstanceId=instance["Id"])
    assert [p["Name"] for p in summary["RoutingProfileSummaryList"]] == ["Basic Routing Profile"]
    assert summary["RoutingProfileSummaryList"][0]["Arn"].startswith(instance["Arn"] + "/")
    assert routing


def test_create_instance_requires_alias_and_valid_alias(aws: DjangoAws, root_keys: Any) -> None:
    # Client-side validation off: the emulator itself must refuse.
    loose = aws.boto("connect", *root_keys, validate=False)
    for alias in ("d-abc", "bad_alias", "-x", "a" * 46):
        with pytest.raises(ClientError) as info:
            create_saml_instance(loose, alias)
        # CreateInstance declares InvalidRequestException as its input error.
        assert code_of(info) == "InvalidRequestException", alias
        assert aws.last_status == 400
    with pytest.raises(ClientError) as info:
        loose.create_instance(
            IdentityManagementType="SAML", InboundCallsEnabled=True, OutboundCallsEnabled=True
        )
    assert code_of(info) == "InvalidRequestException"
    with pytest.raises(ClientError) as info:
        loose.create_instance(IdentityManagementType="SAML", InstanceAlias="nocalls")
    assert code_of(info) == "InvalidRequestException"
    assert ConnectInstance.objects.count() == 0


def test_duplicate_alias_is_refused(connect: Any) -> None:
    create_saml_instance(connect, "dup")
    with pytest.raises(ClientError) as info:
        create_saml_instance(connect, "DUP")
    assert code_of(info) == "InvalidRequestException"


def test_unknown_instance(connect: Any, aws: DjangoAws) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for call in (
        lambda: connect.describe_instance(InstanceId=missing),
        lambda: connect.list_security_profiles(InstanceId=missing),
        lambda: connect.list_users(InstanceId=missing),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert code_of(info) == "ResourceNotFoundException"
        assert aws.last_status == 404


# --- users -------------------------------------------------------------------------------------


def test_user_lifecycle(connect: Any) -> None:
    instance = create_saml_instance(connect)
    created = create_agent(connect, instance["Id"])
    assert created["UserArn"] == f"{instance['Arn']}/agent/{created['UserId']}"
    user = connect.describe_user(InstanceId=instance["Id"], UserId=created["UserId"])["User"]
    by_name, routing = profiles(connect, instance["Id"])
    assert user["Username"] == "agent1"
    assert user["IdentityInfo"] == {"FirstName": "Agent", "LastName": "One"}
    assert user["SecurityProfileIds"] == [by_name["Agent"]]
    assert user["RoutingProfileId"] == routing
    summary = connect.list_users(InstanceId=instance["Id"])["UserSummaryList"]
    assert [(u["Id"], u["Username"]) for u in summary] == [(created["UserId"], "agent1")]
    connect.delete_user(InstanceId=instance["Id"], UserId=created["UserId"])
    assert connect.list_users(InstanceId=instance["Id"])["UserSummaryList"] == []
    with pytest.raises(ClientError) as info:
        connect.describe_user(InstanceId=instance["Id"], UserId=created["UserId"])
    assert code_of(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        connect.delete_user(InstanceId=instance["Id"], UserId=created["UserId"])
    assert code_of(info) == "ResourceNotFoundException"


def test_duplicate_user(connect: Any, aws: DjangoAws) -> None:
    instance = create_saml_instance(connect)
    create_agent(connect, instance["Id"])
    with pytest.raises(ClientError) as info:
        create_agent(connect, instance["Id"])
    assert code_of(info) == "DuplicateResourceException"
    assert aws.last_status == 409


def test_saml_user_rules(connect: Any, aws: DjangoAws) -> None:
    instance = create_saml_instance(connect)
    email = {"FirstName": "A", "LastName": "B", "Email": "a@example.com"}
    for kwargs in (
        {"IdentityInfo": email},
        {"IdentityInfo": {"FirstName": "A"}},
        {"IdentityInfo": {"FirstName": "A", "LastName": "B"}, "Password": "Passw0rd!"},
    ):
        with pytest.raises(ClientError) as info:
            create_agent(connect, instance["Id"], **kwargs)
        assert code_of(info) == "InvalidParameterException", kwargs
        assert aws.last_status == 400
    for username in ("has space", "a" * 65, "é"):
        with pytest.raises(ClientError) as info:
            create_agent(connect, instance["Id"], username)
        assert code_of(info) == "InvalidParameterException", username
    assert create_agent(connect, instance["Id"], "agent.one-2_x@example.com")["UserId"]


def test_create_user_unknown_profile(connect: Any) -> None:
    instance = create_saml_instance(connect)
    _, routing = profiles(connect, instance["Id"])
    with pytest.raises(ClientError) as info:
        connect.create_user(
            InstanceId=instance["Id"],
            Username="agent1",
            IdentityInfo={"FirstName": "A", "LastName": "B"},
            PhoneConfig={"PhoneType": "SOFT_PHONE"},
            SecurityProfileIds=["00000000-0000-4000-8000-000000000000"],
            RoutingProfileId=routing,
        )
    assert code_of(info) == "ResourceNotFoundException"


# --- GetFederationToken --------------------------------------------------------------------------


def federation_policy(instance_arn: str, cidr: str) -> str:
    """The seed's federation statement for this instance, restricted to ``cidr``."""
    document = json.loads(FEDERATION)
    statement = document["Statement"][0]
    statement["Resource"] = [instance_arn + "/user/${aws:userid}"]
    statement["Condition"] = {"IpAddress": {"aws:SourceIp": cidr}}
    return json.dumps(document)


def session_connect(aws: DjangoAws, session_name: str) -> Any:
    """A Connect client with a ConnectFederation role session's temporary credentials."""
    role = Role.objects.get(name="ConnectFederation")
    token = "FwoGZXIvYXdzEXAMPLETOKEN" + session_name
    key, secret = accounts.create_access_key(
        role.account,
        prefix=accounts.SESSION_KEY_PREFIX,
        role=role,
        session_name=session_name,
        session_token_sha256=accounts.token_sha256(token),
        expiration=iam.now() + timedelta(hours=1),
    )
    return aws.boto("connect", key.access_key_id, secret, token)


@pytest.fixture
def federated(aws: DjangoAws, root_keys: tuple[str, str], connect: Any) -> dict[str, str]:
    """A SAML instance with agent1, and the seed's role allowed to federate from 127.0.0.1."""
    instance = create_saml_instance(connect)
    user = create_agent(connect, instance["Id"])
    iam_root = aws.boto("iam", *root_keys)
    seed_setup(iam_root)
    iam_root.put_role_policy(
        RoleName="ConnectFederation",
        PolicyName="connect_federation",
        PolicyDocument=federation_policy(instance["Arn"], "127.0.0.1/32"),
    )
    return {**instance, "UserId": user["UserId"], "UserArn": user["UserArn"]}


def test_get_federation_token(aws: DjangoAws, federated: dict[str, str]) -> None:
    agent = session_connect(aws, "agent1")
    out = agent.get_federation_token(InstanceId=federated["Id"])
    assert out["UserId"] == federated["UserId"]
    assert out["UserArn"] == federated["UserArn"]
    credentials = out["Credentials"]
    assert credentials["AccessToken"] and credentials["RefreshToken"]
    assert credentials["AccessToken"] != credentials["RefreshToken"]
    lifetime = credentials["RefreshTokenExpiration"] - iam.now()
    assert timedelta(hours=11, minutes=59) < lifetime <= timedelta(hours=12)
    assert f"/aws/connect/federate/{federated['Id']}?token=" in out["SignInUrl"]


def test_get_federation_token_from_outside_the_range(
    aws: DjangoAws, federated: dict[str, str]
) -> None:
    agent = session_connect(aws, "agent1")
    aws.remote_addr = "127.0.0.2"
    with pytest.raises(ClientError) as info:
        agent.get_federation_token(InstanceId=federated["Id"])
    assert code_of(info) == "AccessDeniedException"
    assert aws.last_status == 403
    message = info.value.response["Error"]["Message"]
    role_id = Role.objects.get(name="ConnectFederation").role_id
    assert message.startswith(
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/ConnectFederation/agent1 is not "
        f"authorized to perform: connect:GetFederationToken on resource: "
        f"{federated['Arn']}/user/{role_id}:agent1"
    )


def test_get_federation_token_without_connect_user(
    aws: DjangoAws, federated: dict[str, str]
) -> None:
    # Usernames match the RoleSessionName exactly, case included.
    for session in ("agent2", "Agent1"):
        with pytest.raises(ClientError) as info:
            session_connect(aws, session).get_federation_token(InstanceId=federated["Id"])
        assert code_of(info) == "UserNotFoundException", session
        assert aws.last_status == 404


def test_get_federation_token_refuses_root(connect: Any) -> None:
    instance = create_saml_instance(connect)
    with pytest.raises(ClientError) as info:
        connect.get_federation_token(InstanceId=instance["Id"])
    assert code_of(info) == "InvalidRequestException"


def test_role_session_needs_connect_permissions(aws: DjangoAws, federated: dict[str, str]) -> None:
    agent = session_connect(aws, "agent1")
    with pytest.raises(ClientError) as info:
        agent.list_users(InstanceId=federated["Id"])
    assert code_of(info) == "AccessDeniedException"
    assert "connect:ListUsers" in info.value.response["Error"]["Message"]


def test_unknown_connect_path(aws: DjangoAws, root_keys: tuple[str, str]) -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/no-such-operation")
    SigV4Auth(Credentials(*root_keys), "connect", "us-east-1").add_auth(request)
    headers = {k: str(v) for k, v in request.headers.items()}
    response = aws.send("GET", request.url, headers, b"")
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    message = json.loads(response.content)["message"]
    assert message == "No operation matches GET /aws/no-such-operation"


def test_instance_arn_as_instance_id_and_paging(connect: Any) -> None:
    # Called directly: Django's test client decodes %2F in the path, so an ARN label does
    # not survive the HTTP bridge (views.to_aws_request falls back to get_full_path()).
    for alias in ("one", "two", "three"):
        create_saml_instance(connect, alias)
    account = Account.objects.get(account_id=ACCOUNT_ID)
    ctx = connect_service.Ctx(caller=iam.Caller(account), region="us-east-1", source_ip="")
    first = connect_service.call(ctx, "ListInstances", {"MaxResults": 2})
    assert len(first["InstanceSummaryList"]) == 2 and first["NextToken"]
    rest = connect_service.call(ctx, "ListInstances", {"NextToken": first["NextToken"]})
    assert [i["InstanceAlias"] for i in rest["InstanceSummaryList"]] == ["three"]
    assert "NextToken" not in rest
    arn = first["InstanceSummaryList"][0]["Arn"]
    described = connect_service.call(ctx, "DescribeInstance", {"InstanceId": arn})
    assert described["Instance"]["Arn"] == arn
    other_region = connect_service.Ctx(caller=ctx.caller, region="eu-west-1", source_ip="")
    assert connect_service.call(other_region, "ListInstances", {})["InstanceSummaryList"] == []
