"""AWS semantics the emulator must reproduce exactly (issue 13, findings 3-5).

Each test drives the emulator with boto3 through Django (test_iam_service's DjangoAws) and
checks the answer AWS gives: the SigV4 credential scope's region, a Connect InstanceId
given as another account's or region's ARN, and the credentials of a deleted role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sekisho.emulator import accounts
from tests.emulator.test_connect_service import create_saml_instance
from tests.emulator.test_iam_service import ACCOUNT_ID, DjangoAws, code_of, seed_setup

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


@pytest.fixture
def root_keys() -> tuple[str, str]:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return key_id, secret


# --- finding 3: the credential scope names the region the service answers for -------------


def test_iam_must_be_signed_for_us_east_1(aws: DjangoAws, root_keys: tuple[str, str]) -> None:
    assert aws.boto("iam", *root_keys).list_roles()["Roles"] == []
    for region in ("ap-northeast-1", "eu-west-1"):
        with pytest.raises(ClientError) as refused:
            aws.boto("iam", *root_keys, region=region).list_roles()
        assert code_of(refused) == "SignatureDoesNotMatch"
        assert "Credential should be scoped to a valid region" in str(refused.value)


def test_connect_and_sts_answer_only_for_their_regions(
    aws: DjangoAws, root_keys: tuple[str, str]
) -> None:
    # Amazon Connect exists in ap-northeast-1, not in us-west-1 (botocore's endpoint data).
    assert (
        "InstanceSummaryList"
        in aws.boto("connect", *root_keys, region="ap-northeast-1").list_instances()
    )
    with pytest.raises(ClientError) as refused:
        aws.boto("connect", *root_keys, region="us-west-1").list_instances()
    assert code_of(refused) == "InvalidSignatureException"
    # STS has regional endpoints everywhere, but not in a region that does not exist.
    identity = aws.boto("sts", *root_keys, region="ap-northeast-1").get_caller_identity()
    assert identity["Account"] == ACCOUNT_ID
    with pytest.raises(ClientError) as refused:
        aws.boto("sts", *root_keys, region="eu-fake-1").get_caller_identity()
    assert code_of(refused) == "SignatureDoesNotMatch"


# --- finding 4: an instance ARN of another account or region is not the caller's ----------


def _ctx(account: Any, region: str, caller: Any = None) -> Any:
    from sekisho.emulator import connect as connect_service
    from sekisho.emulator import iam

    return connect_service.Ctx(caller=caller or iam.Caller(account), region=region, source_ip="")


@pytest.mark.parametrize("operation", ["DescribeInstance", "ListUsers", "GetFederationToken"])
def test_an_instance_arn_of_another_account_is_denied(
    aws: DjangoAws, root_keys: tuple[str, str], operation: str
) -> None:
    # Called directly (as test_connect_service does for ARNs): Django's test client would
    # decode the %2F of an ARN in the path.
    from sekisho.emulator import connect as connect_service
    from sekisho.emulator.errors import AwsError
    from sekisho.emulator.models import Account

    connect = aws.boto("connect", *root_keys)
    instance = create_saml_instance(connect)
    account = Account.objects.get(account_id=ACCOUNT_ID)
    ctx = _ctx(account, "us-east-1")
    own = connect_service.call(ctx, "DescribeInstance", {"InstanceId": instance["Arn"]})
    assert own["Instance"]["Id"] == instance["Id"]
    foreign = instance["Arn"].replace(f":{ACCOUNT_ID}:", ":999988887777:")
    with pytest.raises(AwsError) as denied:
        connect_service.call(ctx, operation, {"InstanceId": foreign})
    assert denied.value.code == "AccessDeniedException"
    assert denied.value.http_status == 403
    assert f"on resource: {foreign} because no resource-based policy allows" in str(denied.value)


def test_an_instance_arn_of_another_region_is_not_found(
    aws: DjangoAws, root_keys: tuple[str, str]
) -> None:
    from sekisho.emulator import connect as connect_service
    from sekisho.emulator.errors import AwsError
    from sekisho.emulator.models import Account

    instance = create_saml_instance(aws.boto("connect", *root_keys))
    account = Account.objects.get(account_id=ACCOUNT_ID)
    elsewhere = instance["Arn"].replace(":us-east-1:", ":ap-northeast-1:")
    for ctx, value in (
        # The ARN names another region than the endpoint's ...
        (_ctx(account, "us-east-1"), elsewhere),
        # ... or the right instance, asked at another region's endpoint.
        (_ctx(account, "ap-northeast-1"), instance["Arn"]),
        # Not an instance ARN at all.
        (_ctx(account, "us-east-1"), f"arn:aws:iam::{ACCOUNT_ID}:role/instance/x"),
    ):
        with pytest.raises(AwsError) as missing:
            connect_service.call(ctx, "DescribeInstance", {"InstanceId": value})
        assert missing.value.code == "ResourceNotFoundException", value


# --- finding 5: the credentials of a deleted role ------------------------------------------


def _role_session(aws: DjangoAws, service: str, role_name: str, name: str) -> Any:
    from datetime import timedelta

    from sekisho.emulator import iam
    from sekisho.emulator.models import Role

    role = Role.objects.get(name=role_name)
    token = "FwoGZXIvYXdzEXAMPLETOKEN" + name
    key, secret = accounts.create_access_key(
        role.account,
        prefix=accounts.SESSION_KEY_PREFIX,
        role=role,
        session_name=name,
        session_token_sha256=accounts.token_sha256(token),
        expiration=iam.now() + timedelta(hours=1),
    )
    return lambda svc: aws.boto(svc, key.access_key_id, secret, token)


def test_credentials_of_a_deleted_role_are_denied_as_aws_denies_them(
    aws: DjangoAws, root_keys: tuple[str, str]
) -> None:
    root = aws.boto("iam", *root_keys)
    arns = seed_setup(root)
    session = _role_session(aws, "iam", "ConnectFederation", "agent01")
    assert session("iam").list_roles()["Roles"]  # the seed's iam:ListRoles policy
    for policy in (arns["federation"], arns["listing"]):
        root.detach_role_policy(RoleName="ConnectFederation", PolicyArn=policy)
    root.delete_role(RoleName="ConnectFederation")

    # The session is still who it was: GetCallerIdentity needs no permission ...
    identity = session("sts").get_caller_identity()
    arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/ConnectFederation/agent01"
    assert identity["Arn"] == arn
    assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":agent01")
    # ... and every permission went with the role: AccessDenied, not a token error.
    with pytest.raises(ClientError) as denied:
        session("iam").list_roles()
    assert code_of(denied) == "AccessDenied"
    assert str(denied.value).endswith(
        f"User: {arn} is not authorized to perform: iam:ListRoles on resource: * because "
        "no identity-based policy allows the iam:ListRoles action"
    )
    with pytest.raises(ClientError) as denied:
        session("connect").list_instances()
    assert code_of(denied) == "AccessDeniedException"

    # A new role of the same name is another role (another unique id): the old session
    # does not get its permissions, a new session does.
    root.create_role(
        RoleName="ConnectFederation",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": arns["provider"]},
                        "Action": "sts:AssumeRoleWithSAML",
                    }
                ],
            }
        ),
    )
    root.attach_role_policy(RoleName="ConnectFederation", PolicyArn=arns["listing"])
    with pytest.raises(ClientError) as denied:
        session("iam").list_roles()
    assert code_of(denied) == "AccessDenied"
    fresh = _role_session(aws, "iam", "ConnectFederation", "agent01")
    assert fresh("iam").list_roles()["Roles"]
    assert fresh("sts").get_caller_identity()["UserId"] != identity["UserId"]
