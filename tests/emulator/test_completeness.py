"""What issue 13 added to the emulator, found by running AWS CLI v1 against it.

IAM: SetDefaultPolicyVersion, UpdateAssumeRolePolicy, UpdateRole, role tags, account
aliases, GetAccountAuthorizationDetails, RoleLastUsed and attachable AWS managed policies;
STS: GetSessionToken; Connect: user updates, hierarchy groups (listed) and authentication
profiles, Connect's own IP restriction. Each call goes through boto3 and Django
(test_iam_service's DjangoAws).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sekisho.emulator import accounts
from sekisho.emulator.models import Account, ConnectUser
from tests.emulator.test_connect_service import (
    create_agent,
    create_saml_instance,
    federation_policy,
    profiles,
    session_connect,
)
from tests.emulator.test_iam_service import (
    ACCOUNT_ID,
    DjangoAws,
    code_of,
    seed_setup,
    session_client,
    trust_policy,
)
from tests.policy.test_seed import IP_RESTRICTED

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


@pytest.fixture
def root_keys() -> tuple[str, str]:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return key_id, secret


@pytest.fixture
def root(aws: DjangoAws, root_keys: tuple[str, str]) -> Any:
    return aws.boto("iam", *root_keys)


# --- IAM ---------------------------------------------------------------------------------------


def test_set_default_policy_version_rolls_back(root: Any) -> None:
    arns = seed_setup(root)
    root.create_policy_version(
        PolicyArn=arns["federation"], PolicyDocument=IP_RESTRICTED, SetAsDefault=True
    )
    assert root.get_policy(PolicyArn=arns["federation"])["Policy"]["DefaultVersionId"] == "v2"
    root.set_default_policy_version(PolicyArn=arns["federation"], VersionId="v1")
    assert root.get_policy(PolicyArn=arns["federation"])["Policy"]["DefaultVersionId"] == "v1"
    versions = root.list_policy_versions(PolicyArn=arns["federation"])["Versions"]
    assert {v["VersionId"]: v["IsDefaultVersion"] for v in versions} == {"v1": True, "v2": False}
    with pytest.raises(ClientError) as missing:
        root.set_default_policy_version(PolicyArn=arns["federation"], VersionId="v9")
    assert code_of(missing) == "NoSuchEntity"


def test_role_updates_tags_and_trust(root: Any) -> None:
    arns = seed_setup(root)
    root.update_role(RoleName="ConnectFederation", Description="agents", MaxSessionDuration=43200)
    role = root.get_role(RoleName="ConnectFederation")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("agents", 43200)
    assert role["RoleLastUsed"] == {}  # never assumed yet
    root.tag_role(RoleName="ConnectFederation", Tags=[{"Key": "team", "Value": "a"}])
    root.tag_role(
        RoleName="ConnectFederation",
        Tags=[{"Key": "Team", "Value": "b"}, {"Key": "cost", "Value": "1"}],
    )
    tags = root.list_role_tags(RoleName="ConnectFederation")["Tags"]
    assert tags == [{"Key": "Team", "Value": "b"}, {"Key": "cost", "Value": "1"}]
    root.untag_role(RoleName="ConnectFederation", TagKeys=["team", "absent"])
    assert root.list_role_tags(RoleName="ConnectFederation")["Tags"] == [
        {"Key": "cost", "Value": "1"}
    ]
    with pytest.raises(ClientError) as too_many:
        root.tag_role(
            RoleName="ConnectFederation",
            Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(50)],
        )
    assert code_of(too_many) == "LimitExceeded"
    regional = json.loads(trust_policy(arns["provider"]))
    regional["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] = [
        "https://signin.aws.amazon.com/saml",
        "https://ap-northeast-1.signin.aws.amazon.com/saml",
    ]
    root.update_assume_role_policy(
        RoleName="ConnectFederation", PolicyDocument=json.dumps(regional)
    )
    stored = root.get_role(RoleName="ConnectFederation")["Role"]["AssumeRolePolicyDocument"]
    assert stored == regional
    with pytest.raises(ClientError) as malformed:
        root.update_assume_role_policy(
            RoleName="ConnectFederation",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "x"}]}),
        )
    assert code_of(malformed) == "MalformedPolicyDocument"


def test_account_aliases(aws: DjangoAws, root: Any) -> None:
    root.create_account_alias(AccountAlias="sekisho-test")
    assert root.list_account_aliases()["AccountAliases"] == ["sekisho-test"]
    root.create_account_alias(AccountAlias="sekisho-other")  # an account has one alias
    assert root.list_account_aliases()["AccountAliases"] == ["sekisho-other"]
    _, key_id, secret = accounts.bootstrap("444455556666")
    with pytest.raises(ClientError) as taken:
        aws.boto("iam", key_id, secret).create_account_alias(AccountAlias="sekisho-other")
    assert code_of(taken) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as absent:
        root.delete_account_alias(AccountAlias="sekisho-test")
    assert code_of(absent) == "NoSuchEntity"
    root.delete_account_alias(AccountAlias="sekisho-other")
    assert root.list_account_aliases()["AccountAliases"] == []
    assert Account.objects.get(account_id=ACCOUNT_ID).alias == ""


def test_get_account_authorization_details(root: Any) -> None:
    arns = seed_setup(root)
    root.put_role_policy(
        RoleName="ConnectFederation", PolicyName="inline", PolicyDocument=IP_RESTRICTED
    )
    root.attach_role_policy(
        RoleName="ConnectFederation", PolicyArn="arn:aws:iam::aws:policy/AmazonConnect_FullAccess"
    )
    details = root.get_account_authorization_details()
    (role,) = details["RoleDetailList"]
    assert role["RoleName"] == "ConnectFederation"
    assert [p["PolicyName"] for p in role["RolePolicyList"]] == ["inline"]
    assert role["RolePolicyList"][0]["PolicyDocument"] == json.loads(IP_RESTRICTED)
    assert {p["PolicyArn"] for p in role["AttachedManagedPolicies"]} == {
        arns["federation"],
        arns["listing"],
        "arn:aws:iam::aws:policy/AmazonConnect_FullAccess",
    }
    policies = {p["Arn"]: p for p in details["Policies"]}
    assert set(policies) == {
        arns["federation"],
        arns["listing"],
        "arn:aws:iam::aws:policy/AmazonConnect_FullAccess",
    }
    assert policies[arns["federation"]]["PolicyVersionList"][0]["IsDefaultVersion"]
    assert details["UserDetailList"] == [] and details["GroupDetailList"] == []
    only_roles = root.get_account_authorization_details(Filter=["Role"])
    assert only_roles["Policies"] == [] and len(only_roles["RoleDetailList"]) == 1
    first = root.get_account_authorization_details(MaxItems=1)
    assert first["IsTruncated"] and first["Marker"]
    rest = root.get_account_authorization_details(Marker=first["Marker"])
    assert len(first["RoleDetailList"]) + len(rest["RoleDetailList"]) == 1
    assert len(first["Policies"]) + len(rest["Policies"]) == 3


def test_aws_managed_policies_are_attachable_and_enforced(
    aws: DjangoAws, root: Any, root_keys: tuple[str, str]
) -> None:
    arns = seed_setup(root)
    read_only = "arn:aws:iam::aws:policy/AmazonConnectReadOnlyAccess"
    for arn in (arns["federation"], arns["listing"]):
        root.detach_role_policy(RoleName="ConnectFederation", PolicyArn=arn)
    root.attach_role_policy(RoleName="ConnectFederation", PolicyArn=read_only)
    policy = root.get_policy(PolicyArn=read_only)["Policy"]
    assert policy["PolicyName"] == "AmazonConnectReadOnlyAccess"
    assert policy["DefaultVersionId"] == "v4"
    assert policy["AttachmentCount"] == 1
    document = root.get_policy_version(PolicyArn=read_only, VersionId="v4")["PolicyVersion"]
    assert document["Document"]["Statement"][1]["Sid"] == "DenyConnectEmergencyAccess"
    # Another account does not see this account's attachments.
    _, key_id, secret = accounts.bootstrap("444455556666")
    other = aws.boto("iam", key_id, secret)
    assert other.get_policy(PolicyArn=read_only)["Policy"]["AttachmentCount"] == 0

    create_saml_instance(aws.boto("connect", *root_keys))
    agent = session_connect(aws, "agent1")
    assert len(agent.list_instances()["InstanceSummaryList"]) == 1
    with pytest.raises(ClientError) as denied:
        agent.create_instance(
            IdentityManagementType="SAML",
            InstanceAlias="nope",
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
        )
    assert code_of(denied) == "AccessDeniedException"
    # AWS managed policies never change.
    with pytest.raises(ClientError) as refused:
        root.create_policy_version(PolicyArn=read_only, PolicyDocument=IP_RESTRICTED)
    assert code_of(refused) == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        root.delete_policy(PolicyArn=read_only)
    assert code_of(refused) == "AccessDenied"
    with pytest.raises(ClientError) as unknown:
        root.attach_role_policy(
            RoleName="ConnectFederation", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy"
        )
    assert code_of(unknown) == "NoSuchEntity"
    root.detach_role_policy(RoleName="ConnectFederation", PolicyArn=read_only)
    assert root.get_policy(PolicyArn=read_only)["Policy"]["AttachmentCount"] == 0


# --- STS ---------------------------------------------------------------------------------------


def test_get_session_token_for_the_root_user(aws: DjangoAws, root_keys: tuple[str, str]) -> None:
    sts = aws.boto("sts", *root_keys)
    credentials = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    temporary = aws.boto(
        "sts",
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )
    assert temporary.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    with pytest.raises(ClientError) as nested:
        temporary.get_session_token()
    assert code_of(nested) == "AccessDenied"
    with pytest.raises(ClientError) as too_long:
        sts.get_session_token(DurationSeconds=7200)
    assert code_of(too_long) == "ValidationError"
    # The temporary root credentials act as the root user.
    iam_client = aws.boto(
        "iam",
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )
    assert iam_client.list_roles()["Roles"] == []


def test_a_role_session_cannot_get_a_session_token(aws: DjangoAws, root: Any) -> None:
    seed_setup(root)
    session = session_client(aws, "ConnectFederation")
    key = session._request_signer._credentials
    sts = aws.boto("sts", key.access_key, key.secret_key, key.token)
    with pytest.raises(ClientError) as refused:
        sts.get_session_token()
    assert code_of(refused) == "AccessDenied"


# --- Connect -----------------------------------------------------------------------------------


@pytest.fixture
def connect(aws: DjangoAws, root_keys: tuple[str, str]) -> Any:
    return aws.boto("connect", *root_keys)


def test_user_updates(connect: Any) -> None:
    instance = create_saml_instance(connect)
    user = create_agent(connect, instance["Id"])
    by_name, routing = profiles(connect, instance["Id"])
    connect.update_user_security_profiles(
        InstanceId=instance["Id"],
        UserId=user["UserId"],
        SecurityProfileIds=[by_name["Agent"], by_name["CallCenterManager"]],
    )
    connect.update_user_identity_info(
        InstanceId=instance["Id"],
        UserId=user["UserId"],
        IdentityInfo={"FirstName": "Ada", "LastName": "Lovelace"},
    )
    connect.update_user_phone_config(
        InstanceId=instance["Id"],
        UserId=user["UserId"],
        PhoneConfig={"PhoneType": "SOFT_PHONE", "AutoAccept": True},
    )
    connect.update_user_routing_profile(
        InstanceId=instance["Id"], UserId=user["UserId"], RoutingProfileId=routing
    )
    described = connect.describe_user(InstanceId=instance["Id"], UserId=user["UserId"])["User"]
    assert sorted(described["SecurityProfileIds"]) == sorted(
        [by_name["Agent"], by_name["CallCenterManager"]]
    )
    assert described["IdentityInfo"] == {"FirstName": "Ada", "LastName": "Lovelace"}
    assert described["PhoneConfig"]["AutoAccept"] is True
    for call, extra, code in (
        (
            connect.update_user_identity_info,
            {"IdentityInfo": {"FirstName": "A", "LastName": "B", "Email": "a@example.com"}},
            "InvalidParameterException",
        ),
        (
            connect.update_user_security_profiles,
            {"SecurityProfileIds": ["00000000-0000-0000-0000-000000000000"]},
            "ResourceNotFoundException",
        ),
        (
            connect.update_user_routing_profile,
            {"RoutingProfileId": "00000000-0000-0000-0000-000000000000"},
            "ResourceNotFoundException",
        ),
    ):
        with pytest.raises(ClientError) as refused:
            call(InstanceId=instance["Id"], UserId=user["UserId"], **extra)
        assert code_of(refused) == code
    assert ConnectUser.objects.get(user_id=user["UserId"]).first_name == "Ada"
    listed = connect.list_user_hierarchy_groups(InstanceId=instance["Id"])
    assert listed["UserHierarchyGroupSummaryList"] == []


def test_authentication_profiles_restrict_federation_by_ip(
    aws: DjangoAws, root_keys: tuple[str, str], connect: Any, root: Any
) -> None:
    instance = create_saml_instance(connect)
    create_agent(connect, instance["Id"])
    seed_setup(root)
    root.put_role_policy(
        RoleName="ConnectFederation",
        PolicyName="connect_federation",
        PolicyDocument=federation_policy(instance["Arn"], "0.0.0.0/0"),
    )
    (summary,) = connect.list_authentication_profiles(InstanceId=instance["Id"])[
        "AuthenticationProfileSummaryList"
    ]
    assert summary["IsDefault"] is True
    profile_id = summary["Id"]
    agent = session_connect(aws, "agent1")
    assert agent.get_federation_token(InstanceId=instance["Id"])["UserId"]

    connect.update_authentication_profile(
        InstanceId=instance["Id"],
        AuthenticationProfileId=profile_id,
        AllowedIps=["127.0.0.0/30"],
        BlockedIps=["127.0.0.2/32"],
    )
    described = connect.describe_authentication_profile(
        InstanceId=instance["Id"], AuthenticationProfileId=profile_id
    )["AuthenticationProfile"]
    assert (described["AllowedIps"], described["BlockedIps"]) == (
        ["127.0.0.0/30"],
        ["127.0.0.2/32"],
    )
    assert agent.get_federation_token(InstanceId=instance["Id"])["UserId"]  # 127.0.0.1
    for address in ("127.0.0.2", "127.0.0.9"):  # blocked, then outside the allowed range
        aws.remote_addr = address
        with pytest.raises(ClientError) as refused:
            agent.get_federation_token(InstanceId=instance["Id"])
        assert code_of(refused) == "AccessDeniedException", address
    with pytest.raises(ClientError) as bad:
        connect.update_authentication_profile(
            InstanceId=instance["Id"], AuthenticationProfileId=profile_id, AllowedIps=["nope"]
        )
    assert code_of(bad) == "InvalidParameterException"
    with pytest.raises(ClientError) as missing:
        connect.describe_authentication_profile(
            InstanceId=instance["Id"], AuthenticationProfileId="no-such-profile"
        )
    assert code_of(missing) == "ResourceNotFoundException"
