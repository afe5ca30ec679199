"""The AWS half of `sekisho demo`: the seed's account, Connect instance, policies and role.

Provisioned through boto3 against the emulator's /aws endpoint with the account's root
key from `sekisho aws bootstrap`'s service, exactly as an administrator's script would do
it against AWS, and idempotent: a second demo finds what the first one made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sekisho.config import get_config
from sekisho.demo.transport import Credentials, InProcess, client
from sekisho.emulator.services import bootstrap_account

ACCOUNT_ID = "111122223333"
REGION = "ap-northeast-1"
INSTANCE_ALIAS = "sekisho-demo"
ROLE_NAME = "ConnectFederationRole"
PROVIDER_NAME = "Sekisho"
FEDERATION_POLICY = "identitycenter_federation_policy"
IAM_POLICY = "identitycenter_iam_policy"
# The browser on this machine comes from loopback; the seed's condition admits it.
ADMITTED = ["127.0.0.1/32", "::1/128"]


@dataclass(frozen=True)
class AwsSide:
    """What the demo prints about the emulated account."""

    account_id: str
    instance_id: str
    access_key_id: str
    secret_access_key: str
    endpoint_url: str
    federation_policy_arn: str


def federation_policy(instance_arn: str, cidrs: list[str]) -> dict[str, Any]:
    """The seed's federation policy (5-1) with the IP condition of step 8."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Statement1",
                "Effect": "Allow",
                "Action": "connect:GetFederationToken",
                "Resource": [f"{instance_arn}/user/${{aws:userid}}"],
                "Condition": {"IpAddress": {"aws:SourceIp": cidrs}},
            }
        ],
    }


IAM_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["iam:ListRoles", "iam:ListAccountAliases"],
            "Resource": "*",
        }
    ],
}


def trust_policy(provider_arn: str) -> dict[str, Any]:
    """The standard SAML 2.0 trust policy, also admitting the emulator's sign-in URL."""
    return {
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


@dataclass(frozen=True)
class Clients:
    """boto3 clients of the emulated account: IAM (global) and Connect (the demo's region)."""

    iam: Any
    connect: Any


def clients(credentials: Credentials, *, in_process: InProcess | None = None) -> Clients:
    """boto3 clients signing with the root key, over HTTP or in this process."""
    return Clients(
        iam=client("iam", credentials, region="us-east-1", in_process=in_process),
        connect=client("connect", credentials, region=REGION, in_process=in_process),
    )


def _instance_id(connect: Any) -> str:
    """The demo's SAML instance, created unless an earlier demo made it."""
    for page in connect.get_paginator("list_instances").paginate():
        for summary in page["InstanceSummaryList"]:
            if summary.get("InstanceAlias") == INSTANCE_ALIAS:
                return str(summary["Id"])
    created = connect.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias=INSTANCE_ALIAS,
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    return str(created["Id"])


def _policy_arn(iam: Any, name: str, document: dict[str, Any]) -> str:
    """The customer managed policy called ``name``, created unless it exists."""
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if policy["PolicyName"] == name:
                return str(policy["Arn"])
    return str(
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    )


def _provider_arn(iam: Any, metadata: str) -> str:
    """The SAML provider for Sekisho, its metadata brought up to date (the key may be new)."""
    for provider in iam.list_saml_providers()["SAMLProviderList"]:
        arn = str(provider["Arn"])
        if arn.endswith(f":saml-provider/{PROVIDER_NAME}"):
            iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=metadata)
            return arn
    created = iam.create_saml_provider(Name=PROVIDER_NAME, SAMLMetadataDocument=metadata)
    return str(created["SAMLProviderArn"])


def _ensure_role(iam: Any, provider_arn: str, policy_arns: list[str]) -> None:
    """The federation role with the SAML trust policy and the seed's two policies."""
    try:
        iam.get_role(RoleName=ROLE_NAME)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
    iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(trust_policy(provider_arn)),
        MaxSessionDuration=43200,
    )
    for arn in policy_arns:
        iam.attach_role_policy(RoleName=ROLE_NAME, PolicyArn=arn)


def provision(
    *, metadata: str, endpoint_url: str, in_process: InProcess | None = None
) -> tuple[AwsSide, Clients]:
    """Create (or find) the seed's AWS side; returns the keys and ids to print, and clients."""
    key = bootstrap_account(ACCOUNT_ID)
    aws = clients(
        Credentials(endpoint_url, key.access_key_id, key.secret_access_key),
        in_process=in_process,
    )
    instance_id = _instance_id(aws.connect)
    instance_arn = f"arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{instance_id}"
    federation_arn = _policy_arn(
        aws.iam, FEDERATION_POLICY, federation_policy(instance_arn, ADMITTED)
    )
    iam_arn = _policy_arn(aws.iam, IAM_POLICY, IAM_POLICY_DOCUMENT)
    provider_arn = _provider_arn(aws.iam, metadata)
    _ensure_role(aws.iam, provider_arn, [federation_arn, iam_arn])
    side = AwsSide(
        account_id=ACCOUNT_ID,
        instance_id=instance_id,
        access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key,
        endpoint_url=get_config().url("/aws"),
        federation_policy_arn=federation_arn,
    )
    return side, aws


def ensure_connect_user(aws: Clients, side: AwsSide, username: str, first: str, last: str) -> None:
    """Create the Amazon Connect user whose username equals the IdP's (seed step 6)."""
    instance = side.instance_id
    for page in aws.connect.get_paginator("list_users").paginate(InstanceId=instance):
        if any(u["Username"] == username for u in page["UserSummaryList"]):
            return
    profiles = aws.connect.list_security_profiles(InstanceId=instance)
    routing = aws.connect.list_routing_profiles(InstanceId=instance)
    agent = next(p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent")
    aws.connect.create_user(
        InstanceId=instance,
        Username=username,
        IdentityInfo={"FirstName": first, "LastName": last},
        PhoneConfig={"PhoneType": "SOFT_PHONE"},
        SecurityProfileIds=[agent],
        RoutingProfileId=routing["RoutingProfileSummaryList"][0]["Id"],
    )


MOVE_RANGE_SCRIPT = '''"""Move the seed's IP condition with boto3 (CreatePolicyVersion)."""

import json
import sys

import boto3

side = json.loads({side_json!r})
cidrs = sys.argv[1:] or ["203.0.113.0/24"]
iam = boto3.client(
    "iam",
    endpoint_url=side["endpoint_url"],
    region_name="us-east-1",
    aws_access_key_id=side["access_key_id"],
    aws_secret_access_key=side["secret_access_key"],
)
arn = side["federation_policy_arn"]
versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
for old in [v for v in versions if not v["IsDefaultVersion"]][: max(0, len(versions) - 4)]:
    iam.delete_policy_version(PolicyArn=arn, VersionId=old["VersionId"])
document = json.loads({document_json!r})
document["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"] = cidrs
iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
print("aws:SourceIp now admits", ", ".join(cidrs))
'''


def write_move_range_script(side: AwsSide) -> Path:
    """A small boto3 script that moves the federation policy's IP range; returns its path."""
    folder = get_config().data_dir / "demo-aws"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "move-ip-range.py"
    instance_arn = f"arn:aws:connect:{REGION}:{side.account_id}:instance/{side.instance_id}"
    path.write_text(
        MOVE_RANGE_SCRIPT.format(
            side_json=json.dumps(side.__dict__),
            document_json=json.dumps(federation_policy(instance_arn, ADMITTED)),
        )
    )
    path.chmod(0o600)  # it holds the demo account's root key
    return path


CONNECT_USER_SCRIPT = '''"""Delete or re-create the demo's Amazon Connect user with boto3."""

import json
import sys

import boto3

side = json.loads({side_json!r})
if len(sys.argv) != 3 or sys.argv[1] not in ("delete", "create"):
    sys.exit("usage: connect-user.py delete|create USERNAME")
action, username = sys.argv[1], sys.argv[2]
connect = boto3.client(
    "connect",
    endpoint_url=side["endpoint_url"],
    region_name={region!r},
    aws_access_key_id=side["access_key_id"],
    aws_secret_access_key=side["secret_access_key"],
)
instance = side["instance_id"]
users = connect.list_users(InstanceId=instance)["UserSummaryList"]
if action == "delete":
    for user in users:
        if user["Username"] == username:
            connect.delete_user(InstanceId=instance, UserId=user["Id"])
            print("deleted Connect user", username)
            break
    else:
        print("no Connect user named", username)
else:
    profiles = connect.list_security_profiles(InstanceId=instance)["SecurityProfileSummaryList"]
    routing = connect.list_routing_profiles(InstanceId=instance)["RoutingProfileSummaryList"]
    connect.create_user(
        InstanceId=instance,
        Username=username,
        IdentityInfo={{"FirstName": "Agent", "LastName": "One"}},
        PhoneConfig={{"PhoneType": "SOFT_PHONE"}},
        SecurityProfileIds=[next(p["Id"] for p in profiles if p["Name"] == "Agent")],
        RoutingProfileId=routing[0]["Id"],
    )
    print("created Connect user", username)
'''


def write_connect_user_script(side: AwsSide) -> Path:
    """A small boto3 script that deletes or re-creates a Connect user; returns its path."""
    folder = get_config().data_dir / "demo-aws"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "connect-user.py"
    path.write_text(CONNECT_USER_SCRIPT.format(side_json=json.dumps(side.__dict__), region=REGION))
    path.chmod(0o600)  # it holds the demo account's root key
    return path
