"""`sekisho aws setup-connect | set-allowed-ips | sync-users | doctor` and `sekisho keys
rotate`, run as an administrator runs them against AWS, here against the emulator of a
real `sekisho serve` over HTTP (boto3's standard credential chain from the environment,
``AWS_ENDPOINT_URL`` pointing at ``/aws``).

On SQLite, and on a fresh PostgreSQL database when the suite runs on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Instance, served_instance

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

pytestmark = pytest.mark.interop

ACCOUNT_ID = "111122223333"
REGION = "ap-northeast-1"
ROLE = "ConnectFederationRole"
PROVIDER = "Sekisho"
PLACEHOLDER_ACCOUNT = "000000000000"


class Aws:
    """The emulated account as boto3 sees it, and the environment the CLI gets."""

    def __init__(self, instance: Instance, key: dict[str, str]) -> None:
        self.endpoint = f"{instance.nodes[0].url}/aws"
        self.key = key
        self.env = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }

    def client(self, service: str, creds: dict[str, str] | None = None) -> Any:
        creds = creds or self.key
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1" if service == "iam" else REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
            config=botocore_config.Config(retries={"max_attempts": 1}, proxies={}),
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Aws]]:
    with served_instance(Path(tmp_path_factory.mktemp("aws-commands"))) as instance:
        instance.start(workers=1)
        key = json.loads(instance.cli("aws", "bootstrap", "--account-id", ACCOUNT_ID))
        yield instance, Aws(instance, key)


def _saml_instance(aws: Aws, alias: str) -> dict[str, str]:
    created = aws.client("connect").create_instance(
        IdentityManagementType="SAML",
        InstanceAlias=alias,
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    return {"Id": created["Id"], "Arn": created["Arn"]}


def _app(instance: Instance, name: str, instance_id: str, account: str = ACCOUNT_ID) -> None:
    instance.cli(
        "app",
        "create-amazon-connect",
        name,
        "--region",
        REGION,
        "--instance-id",
        instance_id,
        "--account-id",
        account,
        "--role-name",
        f"{name}-role",
        "--provider-name",
        f"{name}-idp",
        "--signin-url",
        f"{instance.base_url}/aws/saml",
        "--session-duration",
        "7200",
    )


def _user(instance: Instance, username: str, display: str) -> None:
    instance.cli(
        "user",
        "create",
        username,
        "--email",
        f"{username}@example.com",
        "--display-name",
        display,
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )


def _federate(instance: Instance, aws: Aws, app: str, user: str, instance_id: str) -> str:
    """The seed's path by API: preview → AssumeRoleWithSAML → GetFederationToken."""
    assertion = instance.cli("saml", "preview", "--app", app, "--user", user).strip()
    credentials = aws.client("sts").assume_role_with_saml(
        RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{app}-role",
        PrincipalArn=f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/{app}-idp",
        SAMLAssertion=assertion,
    )["Credentials"]
    token = aws.client("connect", credentials).get_federation_token(InstanceId=instance_id)
    return str(token["UserId"])


def test_the_seed_setup_from_nothing_with_the_commands(served: tuple[Instance, Aws]) -> None:
    instance, aws = served
    connect = _saml_instance(aws, "sekisho-commands")
    # The app still names a placeholder account: setup-connect points it at the real one.
    _app(instance, "connect", connect["Id"], account=PLACEHOLDER_ACCOUNT)
    _user(instance, "agent1", "Agent One")
    instance.cli("group", "create", "agents")
    _user(instance, "agent2", "Agent Two")
    instance.cli("group", "add-member", "agents", "agent2")
    instance.cli("app", "assign", "connect", "--user", "agent1")
    instance.cli("app", "assign", "connect", "--group", "agents")

    def aws_cli(*args: str, check: bool = True) -> Any:
        return instance.run_cli("aws", *args, extra_env=aws.env, check=check)

    # setup-connect: the plan, then nothing changed with --dry-run.
    dry = aws_cli("setup-connect", "connect", "--allowed-ips", "127.0.0.1/32", "--dry-run")
    assert "+ create SAML provider connect-idp from this IdP's metadata" in dry.stdout
    assert "+ create role connect-role" in dry.stdout
    assert "+ create policy sekisho-connect-federation: connect:GetFederationToken on " in (
        dry.stdout
    )
    assert f"~ update application connect: account_id {ACCOUNT_ID} (was {PLACEHOLDER_ACCOUNT})" in (
        dry.stdout
    )
    assert "Dry run: nothing was changed." in dry.stdout
    assert aws.client("iam").list_roles()["Roles"] == []

    applied = aws_cli("setup-connect", "connect", "--allowed-ips", "127.0.0.1/32")
    assert "done: create role connect-role" in applied.stdout
    assert re.search(r"Done: \d+ changes\.", applied.stdout), applied.stdout
    role = aws.client("iam").get_role(RoleName="connect-role")["Role"]
    assert role["MaxSessionDuration"] == 7200  # the app's SessionDuration
    audiences = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    assert f"{instance.base_url}/aws/saml" in audiences["SAML:aud"]
    shown = json.loads(instance.cli("app", "show", "connect"))
    assert shown["preset"]["account_id"] == ACCOUNT_ID

    again = aws_cli("setup-connect", "connect", "--allowed-ips", "127.0.0.1/32")
    assert "Nothing to change" in again.stdout
    assert not re.search(r"^  [+~-] ", again.stdout, re.MULTILINE), again.stdout

    # sync-users: both assigned users (one through the group), names from the directory.
    aws_cli("sync-users", "connect", "--dry-run")
    synced = aws_cli("sync-users", "connect")
    assert "+ create user agent1 (Agent One)" in synced.stdout
    assert "+ create user agent2 (Agent Two)" in synced.stdout
    assert "Nothing to change" in aws_cli("sync-users", "connect").stdout

    # The whole chain works: from the admitted address, as agent1.
    assert _federate(instance, aws, "connect", "agent1", connect["Id"])
    doctor = aws_cli("doctor", "connect")
    assert "Every link of the chain holds." in doctor.stdout, doctor.stdout
    assert "FAIL" not in doctor.stdout

    # A renamed user is renamed in Connect; a user no longer assigned is kept unless told.
    instance.cli("group", "remove-member", "agents", "agent2")
    renamed = aws_cli("sync-users", "connect")
    assert "not assigned, kept (--delete-missing deletes them): agent2" in renamed.stdout
    deleted = aws_cli("sync-users", "connect", "--delete-missing")
    assert "- delete user agent2 (not assigned to the application)" in deleted.stdout
    users = aws.client("connect").list_users(InstanceId=connect["Id"])["UserSummaryList"]
    assert [u["Username"] for u in users] == ["agent1"]

    # set-allowed-ips: a new default version; the doctor sees the address refused; rollback.
    moved = aws_cli("set-allowed-ips", "connect", "203.0.113.0/24")
    assert "aws:SourceIp 203.0.113.0/24 (was 127.0.0.1/32)" in moved.stdout
    assert "Nothing to change" in aws_cli("set-allowed-ips", "connect", "203.0.113.0/24").stdout
    refused = aws_cli("doctor", "connect", "--allowed-ips", "127.0.0.1/32", check=False)
    assert refused.returncode == 1
    assert "FAIL  Access denied (Amazon Connect): role connect-role may not call" in (
        refused.stdout
    )
    with pytest.raises(botocore_exceptions.ClientError):
        _federate(instance, aws, "connect", "agent1", connect["Id"])
    back = aws_cli("set-allowed-ips", "connect", "--rollback")
    assert "make version v1 of policy sekisho-connect-federation the default again" in (back.stdout)
    assert _federate(instance, aws, "connect", "agent1", connect["Id"])
    # Five versions at most: the oldest non-default one makes room.
    for index in range(6):
        aws_cli("set-allowed-ips", "connect", f"198.51.100.{index}/32")
    policy_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/sekisho-connect-federation"
    versions = aws.client("iam").list_policy_versions(PolicyArn=policy_arn)["Versions"]
    assert len(versions) == 5
    aws_cli("set-allowed-ips", "connect", "127.0.0.1/32")

    # Connect's own IP restriction as an extra layer.
    layered = aws_cli(
        "setup-connect", "connect", "--allowed-ips", "127.0.0.1/32", "--connect-ip-restriction"
    )
    assert "allow only 127.0.0.1/32 (was any address)" in layered.stdout
    (profile,) = aws.client("connect").list_authentication_profiles(InstanceId=connect["Id"])[
        "AuthenticationProfileSummaryList"
    ]
    described = aws.client("connect").describe_authentication_profile(
        InstanceId=connect["Id"], AuthenticationProfileId=profile["Id"]
    )["AuthenticationProfile"]
    assert described["AllowedIps"] == ["127.0.0.1/32"]
    assert _federate(instance, aws, "connect", "agent1", connect["Id"])

    # Key rotation: the next certificate is published and given to IAM first, then it signs;
    # federation works at every step.
    staged = instance.cli("keys", "rotate", "--app", "connect", extra_env=aws.env)
    assert "is now published in the metadata" in staged
    assert "~ update SAML provider connect-idp (connect)" in staged
    metadata = instance.cli("metadata")
    assert metadata.count("<ds:X509Certificate>") == 2
    assert _federate(instance, aws, "connect", "agent1", connect["Id"])
    finished = instance.cli("keys", "rotate", "--finish", "--app", "connect", extra_env=aws.env)
    assert "signs from now on" in finished
    assert instance.cli("metadata").count("<ds:X509Certificate>") == 1
    assert _federate(instance, aws, "connect", "agent1", connect["Id"])
    assert "Every link of the chain holds." in aws_cli("doctor", "connect").stdout


def test_each_aws_error_is_one_line(served: tuple[Instance, Aws]) -> None:
    instance, aws = served
    connect = _saml_instance(aws, "sekisho-errors")
    _app(instance, "errors", connect["Id"])

    def fails(*args: str, env: dict[str, str] | None = None) -> str:
        done = instance.run_cli("aws", *args, extra_env={**aws.env, **(env or {})}, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sekisho: error: "), done.stderr
        assert "Traceback" not in done.stderr
        return lines[0]

    wrong_secret = fails("doctor", "errors", env={"AWS_SECRET_ACCESS_KEY": "x" * 40})
    assert "GetCallerIdentity failed: AWS refused the signature" in wrong_secret
    assert "x" * 40 not in wrong_secret  # never a secret
    unknown_key = fails("doctor", "errors", env={"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"})
    assert "AWS does not know this access key" in unknown_key
    no_credentials = fails(
        "sync-users",
        "errors",
        env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    )
    assert "no AWS credentials found" in no_credentials
    missing = fails(
        "setup-connect",
        "errors",
        "--allowed-ips",
        "127.0.0.1/32",
        "--instance-id",
        "00000000-0000-0000-0000-000000000000",
    )
    assert "Amazon Connect has no instance 00000000-0000-0000-0000-000000000000" in missing
    bad_range = fails("setup-connect", "errors", "--allowed-ips", "not-an-ip")
    assert "expected an IP address or CIDR block" in bad_range
    assert "run 'sekisho aws setup-connect errors' first" in fails(
        "set-allowed-ips", "errors", "10.0.0.0/8"
    )
    unknown_profile = fails("sync-users", "errors", "--security-profile", "NoSuchProfile")
    assert "has no security profile 'NoSuchProfile'" in unknown_profile
    not_connect = fails("doctor", "no-such-app")
    assert "no application named 'no-such-app'" in not_connect
    bad_endpoint = fails("doctor", "errors", "--endpoint-url", "not a url")
    assert "opening the AWS session failed: Invalid endpoint" in bad_endpoint
    usage = instance.run_cli("aws", "set-allowed-ips", "errors", extra_env=aws.env, check=False)
    assert usage.returncode == 2
    # A CONNECT_MANAGED instance cannot federate with SAML: said before anything changes.
    managed = aws.client("connect").create_instance(
        IdentityManagementType="CONNECT_MANAGED",
        InstanceAlias="sekisho-managed",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    not_saml = fails(
        "setup-connect", "errors", "--allowed-ips", "127.0.0.1", "--instance-id", managed["Id"]
    )
    assert "uses CONNECT_MANAGED identity management" in not_saml
    assert all(r["RoleName"] != "errors-role" for r in aws.client("iam").list_roles()["Roles"])
