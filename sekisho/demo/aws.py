"""The AWS half of `sekisho demo`: the seed's account, Connect instance, policies and role.

Provisioned by the same services as `sekisho aws setup-connect` and `sync-users`
(sekisho.provisioning), through boto3 against the emulator's /aws endpoint with the
account's root key from `sekisho aws bootstrap`'s service, exactly as an administrator
does it against AWS, and idempotent: a second demo finds what the first one made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sekisho.config import get_config
from sekisho.demo.transport import Credentials, InProcess, client
from sekisho.emulator.services import RootKey, bootstrap_account
from sekisho.provisioning import documents
from sekisho.provisioning.aws import Aws

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


def root_key() -> RootKey:
    """The demo account, created unless it exists, and a fresh root key."""
    return bootstrap_account(ACCOUNT_ID)


def open_aws(key: RootKey, *, endpoint_url: str, in_process: InProcess | None = None) -> Aws:
    """The provisioning services' AWS clients for the emulated account (IAM for us-east-1)."""
    credentials = Credentials(endpoint_url, key.access_key_id, key.secret_access_key)
    return Aws(
        iam=client("iam", credentials, region=documents.iam_region(REGION), in_process=in_process),
        sts=client("sts", credentials, region=REGION, in_process=in_process),
        connect=client("connect", credentials, region=REGION, in_process=in_process),
        region=REGION,
    )


def extra_policies() -> list[tuple[str, str]]:
    """The seed's second policy (iam:ListRoles), attached beside the federation policy."""
    return [(IAM_POLICY, documents.dumps(IAM_POLICY_DOCUMENT))]


def side(key: RootKey, instance_id: str) -> AwsSide:
    """What the demo prints and its scripts use."""
    return AwsSide(
        account_id=key.account_id,
        instance_id=instance_id,
        access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key,
        endpoint_url=get_config().url("/aws"),
        federation_policy_arn=f"arn:aws:iam::{key.account_id}:policy/{FEDERATION_POLICY}",
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
    instance_arn = documents.instance_arn(REGION, side.account_id, side.instance_id)
    path.write_text(
        MOVE_RANGE_SCRIPT.format(
            side_json=json.dumps(side.__dict__),
            document_json=json.dumps(documents.federation_policy(instance_arn, ADMITTED)),
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
