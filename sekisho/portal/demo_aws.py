"""The AWS half of `sekisho demo`: the seed's account, Connect instance, policies and role.

Provisioned through the emulator's own IAM and Connect operations (the same code boto3
reaches under /aws), so the demo is exactly what an administrator would build by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sekisho.config import get_config
from sekisho.emulator import accounts, connect, iam
from sekisho.emulator.models import ConnectInstance, ConnectUser, ManagedPolicy, Role, SamlProvider
from sekisho.saml import services as saml

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


def provision() -> AwsSide:
    """Create (or find) the seed's AWS side; returns the keys and ids to print."""
    account, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    root = iam.Caller(account)
    ctx = connect.Ctx(caller=root, region=REGION, source_ip="127.0.0.1")
    instance = ConnectInstance.objects.filter(account=account, alias=INSTANCE_ALIAS).first()
    if instance is None:
        created = connect.call(
            ctx,
            "CreateInstance",
            {
                "IdentityManagementType": "SAML",
                "InstanceAlias": INSTANCE_ALIAS,
                "InboundCallsEnabled": True,
                "OutboundCallsEnabled": True,
            },
        )
        instance_id = str(created["Id"])
    else:
        instance_id = str(instance.instance_id)
    instance_arn = f"arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{instance_id}"

    def policy_arn(name: str, document: dict[str, Any]) -> str:
        existing = ManagedPolicy.objects.filter(account=account, name=name).first()
        if existing is not None:
            return str(existing.arn)
        result = iam.call(
            root,
            "CreatePolicy",
            {"PolicyName": name, "PolicyDocument": json.dumps(document)},
            source_ip="127.0.0.1",
        )
        return str(result["Policy"]["Arn"])

    federation_arn = policy_arn(FEDERATION_POLICY, federation_policy(instance_arn, ADMITTED))
    iam_arn = policy_arn(IAM_POLICY, IAM_POLICY_DOCUMENT)
    metadata = saml.metadata_xml().decode()
    provider = SamlProvider.objects.filter(account=account, name=PROVIDER_NAME).first()
    if provider is None:
        provider_arn = str(
            iam.call(
                root,
                "CreateSAMLProvider",
                {"Name": PROVIDER_NAME, "SAMLMetadataDocument": metadata},
                source_ip="127.0.0.1",
            )["SAMLProviderArn"]
        )
    else:
        provider_arn = str(provider.arn)
        # The IdP's key may be new (a fresh data directory): keep AWS's copy current.
        iam.call(
            root,
            "UpdateSAMLProvider",
            {"SAMLProviderArn": provider_arn, "SAMLMetadataDocument": metadata},
            source_ip="127.0.0.1",
        )
    if not Role.objects.filter(account=account, name=ROLE_NAME).exists():
        iam.call(
            root,
            "CreateRole",
            {
                "RoleName": ROLE_NAME,
                "AssumeRolePolicyDocument": json.dumps(trust_policy(provider_arn)),
                "MaxSessionDuration": 43200,
            },
            source_ip="127.0.0.1",
        )
        for arn in (federation_arn, iam_arn):
            iam.call(
                root,
                "AttachRolePolicy",
                {"RoleName": ROLE_NAME, "PolicyArn": arn},
                source_ip="127.0.0.1",
            )
    return AwsSide(
        account_id=ACCOUNT_ID,
        instance_id=instance_id,
        access_key_id=key_id,
        secret_access_key=secret,
        endpoint_url=get_config().url("/aws"),
        federation_policy_arn=federation_arn,
    )


def ensure_connect_user(side: AwsSide, username: str, first: str, last: str) -> None:
    """Create the Amazon Connect user whose username equals the IdP's (seed step 6)."""
    if ConnectUser.objects.filter(instance__instance_id=side.instance_id, username=username):
        return
    account, _key, _secret = accounts.bootstrap(side.account_id)
    ctx = connect.Ctx(caller=iam.Caller(account), region=REGION, source_ip="127.0.0.1")
    profiles = connect.call(ctx, "ListSecurityProfiles", {"InstanceId": side.instance_id})
    routing = connect.call(ctx, "ListRoutingProfiles", {"InstanceId": side.instance_id})
    agent = next(p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent")
    connect.call(
        ctx,
        "CreateUser",
        {
            "InstanceId": side.instance_id,
            "Username": username,
            "IdentityInfo": {"FirstName": first, "LastName": last},
            "PhoneConfig": {"PhoneType": "SOFT_PHONE"},
            "SecurityProfileIds": [agent],
            "RoutingProfileId": routing["RoutingProfileSummaryList"][0]["Id"],
        },
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
    folder.mkdir(parents=True, exist_ok=True)
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
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connect-user.py"
    path.write_text(CONNECT_USER_SCRIPT.format(side_json=json.dumps(side.__dict__), region=REGION))
    path.chmod(0o600)  # it holds the demo account's root key
    return path
