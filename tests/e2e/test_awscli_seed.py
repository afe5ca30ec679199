"""The seed walkthrough with AWS CLI v1 as the client, against a real `sekisho serve`.

AWS CLI v1 pins its own botocore (older than Sekisho's), so it lives in its own virtualenv
(`make awscli`, part of `make test`'s installs: .venv-awscli). Every AWS step of the seed
runs as an administrator types it, `--endpoint-url` pointing at ``/aws``; the Sekisho side
is the `sekisho` CLI; the assertion of `sekisho saml preview` is redeemed by
`aws sts assume-role-with-saml`, and `aws connect get-federation-token` is admitted or
refused by the seed's IP condition. Then the operations AWS CLI v1 found missing (issue 13).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.policy.test_seed import IP_RESTRICTED, LIST_ROLES
from tests.servers import REPO, Instance, served_instance

AWS_CLI = REPO / ".venv-awscli" / "bin" / "aws"
ACCOUNT_ID = "111122223333"
REGION = "ap-northeast-1"
SEED_INSTANCE = (
    "arn:aws:connect:ap-northeast-1:123123123:instance/45c5d029-7d66-446b-aa8c-307af0656177"
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not AWS_CLI.exists(),
        reason=f"AWS CLI v1 is not installed in {AWS_CLI.parent.parent} (make awscli; "
        "make test installs it)",
    ),
]


class AwsCli:
    """`aws …` (CLI v1) against the served emulator, as one set of credentials."""

    def __init__(self, endpoint: str, work: Path, creds: dict[str, str]) -> None:
        self.endpoint, self.work = endpoint, work
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AWS_") and not key.lower().endswith("_proxy")
        }
        self.env.update(
            AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(work / "no-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(work / "no-credentials"),
        )
        if "SessionToken" in creds:
            self.env["AWS_SESSION_TOKEN"] = creds["SessionToken"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # IAM is global: the CLI signs for the region it is given, and IAM wants us-east-1.
        region = ["--region", "us-east-1"] if args[0] == "iam" else []
        done = subprocess.run(
            [str(AWS_CLI), *args, *region, "--endpoint-url", self.endpoint, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}{done.stdout}"
        return done

    def __call__(self, *args: str) -> Any:
        out = self.run(*args).stdout
        return json.loads(out) if out.strip() else {}

    def file(self, name: str, text: str) -> str:
        path = self.work / name
        path.write_text(text)
        return f"file://{path}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with served_instance(Path(tmp_path_factory.mktemp("awscli"))) as instance:
        instance.start(workers=1)
        yield instance


def test_the_seed_walkthrough_with_aws_cli_v1(served: Instance, tmp_path: Path) -> None:
    instance = served
    version = subprocess.run(
        [str(AWS_CLI), "--version"], capture_output=True, text=True, check=True
    )
    assert "aws-cli/1." in version.stdout + version.stderr
    admin = json.loads(instance.cli("aws", "bootstrap", "--account-id", ACCOUNT_ID))
    aws = AwsCli(f"{instance.nodes[0].url}/aws", tmp_path, admin)

    # 1. The AWS side from nothing, as the seed does it.
    created = aws(
        "connect",
        "create-instance",
        "--identity-management-type",
        "SAML",
        "--instance-alias",
        "sekisho-awscli",
        "--inbound-calls-enabled",
        "--outbound-calls-enabled",
    )
    instance_id, instance_arn = created["Id"], created["Arn"]
    described = aws("connect", "describe-instance", "--instance-id", instance_id)
    assert described["Instance"]["IdentityManagementType"] == "SAML"

    def federation(cidr: str) -> str:
        return aws.file(
            f"federation-{cidr.replace('/', '_')}.json",
            IP_RESTRICTED.replace(SEED_INSTANCE, instance_arn).replace("0.0.0.0/32", cidr),
        )

    federation_arn = aws(
        "iam",
        "create-policy",
        "--policy-name",
        "identitycenter_federation_policy",
        "--policy-document",
        federation("127.0.0.1/32"),
    )["Policy"]["Arn"]
    listing_arn = aws(
        "iam",
        "create-policy",
        "--policy-name",
        "identitycenter_iam_policy",
        "--policy-document",
        aws.file("listing.json", LIST_ROLES),
    )["Policy"]["Arn"]
    metadata = aws.file("metadata.xml", instance.cli("metadata"))
    provider_arn = aws(
        "iam", "create-saml-provider", "--name", "Sekisho", "--saml-metadata-document", metadata
    )["SAMLProviderArn"]
    trust = {
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
                            f"{instance.base_url}/aws/saml",
                        ]
                    }
                },
            }
        ],
    }
    role_arn = aws(
        "iam",
        "create-role",
        "--role-name",
        "ConnectFederationRole",
        "--assume-role-policy-document",
        aws.file("trust.json", json.dumps(trust)),
    )["Role"]["Arn"]
    for arn in (federation_arn, listing_arn):
        aws(
            "iam", "attach-role-policy", "--role-name", "ConnectFederationRole", "--policy-arn", arn
        )
    attached = aws("iam", "list-attached-role-policies", "--role-name", "ConnectFederationRole")
    assert {p["PolicyArn"] for p in attached["AttachedPolicies"]} == {federation_arn, listing_arn}
    profiles = aws("connect", "list-security-profiles", "--instance-id", instance_id)
    agent = next(p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent")
    routing = aws("connect", "list-routing-profiles", "--instance-id", instance_id)
    basic = routing["RoutingProfileSummaryList"][0]["Id"]
    user = aws(
        "connect",
        "create-user",
        "--instance-id",
        instance_id,
        "--username",
        "agent1",
        "--identity-info",
        "FirstName=Agent,LastName=One",
        "--phone-config",
        "PhoneType=SOFT_PHONE",
        "--security-profile-ids",
        agent,
        "--routing-profile-id",
        basic,
    )

    # 2. The Sekisho side by its own CLI.
    instance.cli(
        "user",
        "create",
        "agent1",
        "--email",
        "agent1@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )
    instance.cli(
        "app",
        "create-amazon-connect",
        "connect",
        "--region",
        REGION,
        "--instance-id",
        instance_id,
        "--account-id",
        ACCOUNT_ID,
        "--role-name",
        "ConnectFederationRole",
        "--provider-name",
        "Sekisho",
        "--signin-url",
        f"{instance.base_url}/aws/saml",
    )
    instance.cli("app", "assign", "connect", "--user", "agent1")

    # 3. STS with the assertion, then Connect federation admitted, then refused.
    def session() -> AwsCli:
        assertion = instance.cli("saml", "preview", "--app", "connect", "--user", "agent1")
        assumed = aws(
            "sts",
            "assume-role-with-saml",
            "--role-arn",
            role_arn,
            "--principal-arn",
            provider_arn,
            "--saml-assertion",
            assertion.strip(),
        )
        arn = assumed["AssumedRoleUser"]["Arn"]
        assert arn.endswith("assumed-role/ConnectFederationRole/agent1")
        return AwsCli(aws.endpoint, tmp_path, assumed["Credentials"])

    agent1 = session()
    token = agent1("connect", "get-federation-token", "--instance-id", instance_id)
    assert token["UserId"] == user["UserId"]
    caller = agent1("sts", "get-caller-identity")
    assert caller["Arn"].endswith(":assumed-role/ConnectFederationRole/agent1")
    aws(
        "iam",
        "create-policy-version",
        "--policy-arn",
        federation_arn,
        "--policy-document",
        federation("203.0.113.0/24"),
        "--set-as-default",
    )
    refused = agent1.run(
        "connect", "get-federation-token", "--instance-id", instance_id, check=False
    )
    assert refused.returncode != 0 and "AccessDeniedException" in refused.stderr
    # ... and back, with the version that was the default before.
    aws("iam", "set-default-policy-version", "--policy-arn", federation_arn, "--version-id", "v1")
    assert agent1("connect", "get-federation-token", "--instance-id", instance_id)["UserId"]

    # 4. What AWS CLI v1 found missing (issue 13).
    role = aws("iam", "get-role", "--role-name", "ConnectFederationRole")["Role"]
    assert role["RoleLastUsed"]["Region"] == "us-east-1"
    aws(
        "iam",
        "update-role",
        "--role-name",
        "ConnectFederationRole",
        "--max-session-duration",
        "43200",
    )
    aws(
        "iam",
        "update-assume-role-policy",
        "--role-name",
        "ConnectFederationRole",
        "--policy-document",
        aws.file("trust2.json", json.dumps(trust)),
    )
    aws("iam", "tag-role", "--role-name", "ConnectFederationRole", "--tags", "Key=team,Value=cc")
    tags = aws("iam", "list-role-tags", "--role-name", "ConnectFederationRole")["Tags"]
    assert tags == [{"Key": "team", "Value": "cc"}]
    aws("iam", "untag-role", "--role-name", "ConnectFederationRole", "--tag-keys", "team")
    aws("iam", "create-account-alias", "--account-alias", "sekisho-awscli")
    assert aws("iam", "list-account-aliases")["AccountAliases"] == ["sekisho-awscli"]
    aws("iam", "delete-account-alias", "--account-alias", "sekisho-awscli")
    aws(
        "iam",
        "attach-role-policy",
        "--role-name",
        "ConnectFederationRole",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AmazonConnectReadOnlyAccess",
    )
    details = aws("iam", "get-account-authorization-details")
    assert details["RoleDetailList"][0]["RoleName"] == "ConnectFederationRole"
    aws(
        "iam",
        "update-saml-provider",
        "--saml-provider-arn",
        provider_arn,
        "--saml-metadata-document",
        metadata,
    )
    temporary = aws("sts", "get-session-token", "--duration-seconds", "900")["Credentials"]
    assert temporary["AccessKeyId"].startswith("ASIA")
    aws(
        "connect",
        "update-user-identity-info",
        "--instance-id",
        instance_id,
        "--user-id",
        user["UserId"],
        "--identity-info",
        "FirstName=Ada,LastName=One",
    )
    aws(
        "connect",
        "update-user-security-profiles",
        "--instance-id",
        instance_id,
        "--user-id",
        user["UserId"],
        "--security-profile-ids",
        agent,
    )
    aws(
        "connect",
        "update-user-routing-profile",
        "--instance-id",
        instance_id,
        "--user-id",
        user["UserId"],
        "--routing-profile-id",
        basic,
    )
    aws(
        "connect",
        "update-user-phone-config",
        "--instance-id",
        instance_id,
        "--user-id",
        user["UserId"],
        "--phone-config",
        "PhoneType=SOFT_PHONE,AutoAccept=true",
    )
    groups = aws("connect", "list-user-hierarchy-groups", "--instance-id", instance_id)
    assert groups["UserHierarchyGroupSummaryList"] == []
    described_user = aws(
        "connect", "describe-user", "--instance-id", instance_id, "--user-id", user["UserId"]
    )["User"]
    assert described_user["IdentityInfo"]["FirstName"] == "Ada"
    # The agent's read-only Connect access (AWS managed policy) lists, never creates.
    listed = session()("connect", "list-instances")["InstanceSummaryList"]
    assert [i["Id"] for i in listed] == [instance_id]
