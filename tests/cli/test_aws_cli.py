"""`sekisho aws …` in process against the emulator: every option of the issue-13 commands and
every link `doctor` checks, each broken on purpose and explained.

The CLI runs through ``main()``; its boto3 clients (``open_aws``) are the real ones, sent
to ``/aws`` through Django's test client (test_iam_service's DjangoAws), signed for the
region ``--region`` or the application names. The same commands run against a real
`sekisho serve` in tests/e2e/test_aws_commands.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sekisho.cli import aws as cli_aws
from sekisho.cli import keys as cli_keys
from sekisho.cli.main import main
from sekisho.config import get_config
from sekisho.emulator import accounts
from sekisho.provisioning.aws import Aws, AwsTarget
from sekisho.provisioning.errors import AwsCallFailed
from sekisho.provisioning.services import connect_app
from sekisho.saml import keyring
from sekisho.saml import services as saml
from sekisho.saml.core import attributes as mapping
from sekisho.saml.core.keys import generate_signing_key
from sekisho.saml.core.presets import AWS_ROLE as ROLE
from sekisho.saml.core.presets import AWS_ROLE_SESSION_NAME as ROLE_SESSION_NAME
from tests.emulator.test_iam_service import ENDPOINT, DjangoAws

pytestmark = pytest.mark.django_db

ACCOUNT = "111122223333"
REGION = "ap-northeast-1"
REGIONAL_ACS = f"https://{REGION}.signin.aws.amazon.com/saml"
PLACEHOLDER = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


class Cli:
    """`sekisho …` in process, and the emulated account as boto3 sees it."""

    def __init__(self, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch
        self.django = DjangoAws()
        _, self.key_id, self.secret = accounts.bootstrap(ACCOUNT)
        monkeypatch.setattr(cli_aws, "open_aws", self.open_aws)
        monkeypatch.setattr(cli_keys, "open_aws", self.open_aws)

    def client(self, service: str, region: str = REGION) -> Any:
        region = "us-east-1" if service == "iam" else region
        return self.django.boto(service, self.key_id, self.secret, region=region)

    def open_aws(self, args: argparse.Namespace, app: str) -> Aws:
        region = args.region or connect_app(app)[1].region
        return Aws(
            iam=self.client("iam"),
            sts=self.client("sts", region),
            connect=self.client("connect", region),
            region=region,
        )

    def __call__(self, *argv: str, code: int = 0, stdin: str | None = None) -> str:
        self.capsys.readouterr()
        if stdin is not None:
            self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        done = main(list(argv))
        out, err = self.capsys.readouterr()
        assert done == code, out + err
        return out if code == 0 or out else err

    def saml_instance(self, alias: str, region: str = REGION, kind: str = "SAML") -> str:
        return str(
            self.client("connect", region).create_instance(
                IdentityManagementType=kind,
                InstanceAlias=alias,
                InboundCallsEnabled=True,
                OutboundCallsEnabled=True,
            )["Id"]
        )

    def app(self, name: str, instance_id: str, *extra: str, account: str = ACCOUNT) -> None:
        self(
            "app", "create-amazon-connect", name, "--region", REGION,
            "--instance-id", instance_id, "--account-id", account,
            "--role-name", f"{name}-role", "--provider-name", f"{name}-idp", *extra,
        )  # fmt: skip

    def user(self, username: str, display: str) -> None:
        self(
            "user", "create", username, "--email", f"{username}@example.com",
            "--display-name", display, "--password-stdin",
            stdin="correct horse battery staple\n",
        )  # fmt: skip


@pytest.fixture
def cli(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch)


def _fails(report: str) -> list[str]:
    return [line.strip()[6:] for line in report.splitlines() if line.strip().startswith("FAIL")]


def test_doctor_explains_each_broken_link(cli: Cli) -> None:
    instance_id = cli.saml_instance("doctor-floor")
    cli.app("connect", instance_id, "--acs", "regional")
    cli.user("agent1", "Agent One")
    cli("app", "assign", "connect", "--user", "agent1")
    cli("aws", "setup-connect", "connect", "--allowed-ips", "127.0.0.1/32")
    report = cli("aws", "doctor", "connect", code=1)
    (missing,) = _fails(report)
    assert "no Connect user is named 'agent1' (sekisho aws sync-users connect creates it)" in (
        missing
    )
    cli("aws", "sync-users", "connect")
    healthy = cli("aws", "doctor", "connect")
    assert "Every link of the chain holds." in healthy
    assert "carries the current signing certificate" in healthy
    assert f"trusts connect-idp for SAML:aud {REGIONAL_ACS}" in healthy
    iam, connect = cli.client("iam"), cli.client("connect")

    # The provider's metadata carries another certificate: setup-connect updates it.
    provider_arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/connect-idp"
    current = saml.signing_key()
    born = current.certificate.not_valid_before_utc
    stranger = generate_signing_key(common_name="elsewhere", now=born)
    metadata = (
        saml.metadata_xml().decode().replace(current.certificate_b64, stranger.certificate_b64)
    )
    iam.update_saml_provider(SAMLProviderArn=provider_arn, SAMLMetadataDocument=metadata)
    (signature,) = _fails(cli("aws", "doctor", "connect", code=1))
    assert signature.startswith(
        "Response signature invalid: SAML provider connect-idp does not carry this IdP's "
        "current signing certificate"
    )
    repaired = cli("aws", "setup-connect", "connect", "--allowed-ips", "127.0.0.1/32")
    assert "~ update SAML provider connect-idp" in repaired
    assert "Every link of the chain holds." in cli("aws", "doctor", "connect")

    # The trust policy's SAML:aud lacks the app's (regional) ACS.
    role = iam.get_role(RoleName="connect-role")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] = [
        "https://signin.aws.amazon.com/saml"
    ]
    iam.update_assume_role_policy(RoleName="connect-role", PolicyDocument=json.dumps(trust))
    (audience,) = _fails(cli("aws", "doctor", "connect", code=1))
    assert audience.startswith(
        "Not authorized to perform sts:AssumeRoleWithSAML: the trust policy of role "
        f"connect-role does not let connect-idp in with SAML:aud {REGIONAL_ACS}"
    )
    cli("aws", "setup-connect", "connect", "--allowed-ips", "127.0.0.1/32")
    assert "Every link of the chain holds." in cli("aws", "doctor", "connect")

    # The Connect user differs in case from the RoleSessionName.
    (agent,) = connect.list_users(InstanceId=instance_id)["UserSummaryList"]
    described = connect.describe_user(InstanceId=instance_id, UserId=agent["Id"])["User"]
    connect.delete_user(InstanceId=instance_id, UserId=agent["Id"])
    connect.create_user(
        InstanceId=instance_id,
        Username="Agent1",
        IdentityInfo={"FirstName": "Agent", "LastName": "One"},
        PhoneConfig={"PhoneType": "SOFT_PHONE"},
        SecurityProfileIds=described["SecurityProfileIds"],
        RoutingProfileId=described["RoutingProfileId"],
    )
    (case,) = _fails(cli("aws", "doctor", "connect", code=1))
    assert "no Connect user is named 'agent1'; 'Agent1' differs in case" in case
    assert "Connect has 'Agent1', which federation does not match" in cli(
        "aws", "sync-users", "connect"
    )
    assert "Every link of the chain holds." in cli("aws", "doctor", "connect")

    # The relay state opens the console of another region.
    cli.app("westward", instance_id, "--console-url", "https://us-west-2.console.aws.amazon.com")
    relay = _fails(cli("aws", "doctor", "westward", code=1))
    assert (
        f"Session Expired: the relay state opens instance {instance_id} in us-west-2, the "
        f"instance is in {REGION}" in relay
    )

    # An instance without SAML identity management.
    managed = cli.saml_instance("managed-floor", kind="CONNECT_MANAGED")
    cli.app("managed", managed)
    refused = _fails(cli("aws", "doctor", "managed", code=1))
    assert (
        f"instance {managed} uses CONNECT_MANAGED identity management: federation through "
        "SAML is refused (the type never changes)" in refused
    )


def test_every_option_of_the_commands(cli: Cli) -> None:
    # The instance is found by its alias in the region given; the app follows it there.
    west = "us-west-2"
    instance_id = cli.saml_instance("west-floor", region=west)
    cli.app("connect", PLACEHOLDER, account="000000000000")
    cli.user("agent1", "Agent One")
    cli("app", "assign", "connect", "--user", "agent1")
    setup = cli(
        "aws", "setup-connect", "connect", "--allowed-ips", "127.0.0.1",
        "--instance-alias", "west-floor", "--region", west, "--policy-name", "FloorFederation",
    )  # fmt: skip
    assert "+ create policy FloorFederation: connect:GetFederationToken on " in setup
    assert f"~ update application connect: instance_id {instance_id} (was {PLACEHOLDER})" in setup
    assert f"~ update application connect: region {west} (was {REGION})" in setup
    shown = json.loads(cli("app", "show", "connect"))
    assert shown["preset"]["region"] == west and shown["preset"]["instance_id"] == instance_id
    assert connect_app("connect")[1].relay_state == (
        f"https://{west}.console.aws.amazon.com/connect/federate/{instance_id}"
    )
    iam = cli.client("iam")
    federation = f"arn:aws:iam::{ACCOUNT}:policy/FloorFederation"
    assert [
        p["PolicyArn"]
        for p in iam.list_attached_role_policies(RoleName="connect-role")["AttachedPolicies"]
    ] == [federation]
    assert "Nothing to change" in cli(
        "aws", "setup-connect", "connect", "--allowed-ips", "127.0.0.1/32",
        "--instance-id", instance_id, "--policy-name", "FloorFederation",
    )  # fmt: skip

    # sync-users: the profiles asked for; a dry run changes nothing; a new name follows.
    connect = cli.client("connect", west)
    assert "Dry run: nothing was changed." in cli("aws", "sync-users", "connect", "--dry-run")
    assert connect.list_users(InstanceId=instance_id)["UserSummaryList"] == []
    cli(
        "aws", "sync-users", "connect", "--security-profile", "Agent",
        "--security-profile", "QualityAnalyst", "--routing-profile", "Basic Routing Profile",
    )  # fmt: skip
    (agent,) = connect.list_users(InstanceId=instance_id)["UserSummaryList"]
    user = connect.describe_user(InstanceId=instance_id, UserId=agent["Id"])["User"]
    profiles = {
        p["Id"]: p["Name"]
        for p in connect.list_security_profiles(InstanceId=instance_id)[
            "SecurityProfileSummaryList"
        ]
    }
    assert sorted(profiles[i] for i in user["SecurityProfileIds"]) == ["Agent", "QualityAnalyst"]
    (routing,) = connect.list_routing_profiles(InstanceId=instance_id)["RoutingProfileSummaryList"]
    assert user["RoutingProfileId"] == routing["Id"]
    assert "has no routing profile 'Night Shift'" in cli(
        "aws", "sync-users", "connect", "--routing-profile", "Night Shift", code=1
    )
    cli("user", "update", "agent1", "--display-name", "Agent Uno")
    renamed = cli("aws", "sync-users", "connect")
    assert "~ update user agent1: Agent Uno (was Agent One)" in renamed
    user = connect.describe_user(InstanceId=instance_id, UserId=agent["Id"])["User"]
    assert user["IdentityInfo"]["FirstName"] == "Agent"
    assert user["IdentityInfo"]["LastName"] == "Uno"

    # The doctor finds the ranges in the policy setup-connect named, told or not.
    assert "from 127.0.0.1/32" in cli("aws", "doctor", "connect")
    assert "Every link of the chain holds." in cli(
        "aws", "doctor", "connect", "--policy-name", "FloorFederation"
    )

    # set-allowed-ips: a dry run changes nothing; the named policy moves.
    versions = iam.list_policy_versions(PolicyArn=federation)["Versions"]
    dry = cli(
        "aws", "set-allowed-ips", "connect", "10.0.0.0/8",
        "--policy-name", "FloorFederation", "--dry-run",
    )  # fmt: skip
    assert "aws:SourceIp 10.0.0.0/8 (was 127.0.0.1/32)" in dry
    assert "Dry run: nothing was changed." in dry
    assert iam.list_policy_versions(PolicyArn=federation)["Versions"] == versions
    cli("aws", "set-allowed-ips", "connect", "10.0.0.0/8", "--policy-name", "FloorFederation")
    assert "from 10.0.0.0/8" in cli("aws", "doctor", "connect")
    rolled = cli(
        "aws", "set-allowed-ips", "connect", "--rollback", "--policy-name", "FloorFederation",
        "--dry-run",
    )  # fmt: skip
    assert "make version v1 of policy FloorFederation the default again" in rolled
    assert "from 10.0.0.0/8" in cli("aws", "doctor", "connect")


@pytest.mark.parametrize(
    "name",
    [
        "AdministratorAccess",
        "AmazonConnect_FullAccess",
        "AmazonConnectReadOnlyAccess",
        "IAMReadOnlyAccess",
    ],
)
def test_the_managed_policies_a_connect_administrator_attaches(cli: Cli, name: str) -> None:
    iam = cli.client("iam")
    arn = f"arn:aws:iam::aws:policy/{name}"
    iam.create_role(
        RoleName="Administrators",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.attach_role_policy(RoleName="Administrators", PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName="Administrators")["AttachedPolicies"]
    assert attached == [{"PolicyName": name, "PolicyArn": arn}]
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["AttachmentCount"] == 1 and policy["Path"] == "/"
    document = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    assert document["PolicyVersion"]["Document"]["Statement"]


def test_connect_users_are_named_as_the_assertion_names_them(cli: Cli, actor: Any) -> None:
    # An administrator may map RoleSessionName to something else than the username (the
    # console's and the API's attribute-mapping editor): Connect matches the session by the
    # value the assertion carries, so that is the name sync-users makes and doctor checks.
    instance_id = cli.saml_instance("mapped-floor")
    cli.app("mapped", PLACEHOLDER, "--signin-url", "http://localhost:8000/aws/saml",
            account="000000000000")  # fmt: skip
    cli.user("agent1", "Agent One")
    cli("app", "assign", "mapped", "--user", "agent1")
    app = saml.get_app("mapped")
    edited = [
        mapping.AttributeMapping(
            m["name"],
            "${user:email}" if m["name"] == ROLE_SESSION_NAME else m["value"],
            m["name_format"],
        )
        for m in app.attribute_mappings
    ]
    edited.append(mapping.AttributeMapping("Department", "floor-1"))
    saml.update_app(app, attribute_mappings=edited, actor=actor)
    cli(
        "aws", "setup-connect", "mapped", "--allowed-ips", "127.0.0.1/32",
        "--instance-id", instance_id,
    )  # fmt: skip
    # Pointing the app at the real account changed its Role attribute, nothing else.
    mappings = {m["name"]: m["value"] for m in saml.get_app("mapped").attribute_mappings}
    assert mappings[ROLE_SESSION_NAME] == "${user:email}"
    assert mappings["Department"] == "floor-1"
    assert mappings[ROLE].startswith(f"arn:aws:iam::{ACCOUNT}:role/mapped-role,")

    synced = cli("aws", "sync-users", "mapped")
    assert "+ create user agent1@example.com (Agent One)" in synced
    assert "Every link of the chain holds." in cli("aws", "doctor", "mapped")
    # The session the assertion opens is that Connect user's.
    assertion = cli("saml", "preview", "--app", "mapped", "--user", "agent1").strip()
    credentials = cli.client("sts").assume_role_with_saml(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/mapped-role",
        PrincipalArn=f"arn:aws:iam::{ACCOUNT}:saml-provider/mapped-idp",
        SAMLAssertion=assertion,
    )["Credentials"]
    agent = cli.django.boto(
        "connect",
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
        region=REGION,
    )
    assert agent.get_federation_token(InstanceId=instance_id)["UserId"]
    # A user the mapping gives no value (no family name) cannot be a Connect user: said.
    cli.user("cher", "Cher")
    cli("app", "assign", "mapped", "--user", "cher")
    app = saml.get_app("mapped")
    family = [
        mapping.AttributeMapping(
            m["name"],
            "${user:familyName}" if m["name"] == ROLE_SESSION_NAME else m["value"],
            m["name_format"],
        )
        for m in app.attribute_mappings
    ]
    saml.update_app(app, attribute_mappings=family, actor=actor)
    report = cli("aws", "sync-users", "mapped")
    assert "+ create user One (Agent One)" in report
    assert "the application asserts no RoleSessionName for user cher" in report
    assert "not assigned, kept (--delete-missing deletes them): agent1@example.com" in report


@pytest.fixture
def own_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Signing keys of this test's own (the session's stay untouched)."""
    config = dataclasses.replace(get_config(), data_dir=tmp_path)
    monkeypatch.setattr(keyring, "get_config", lambda: config)
    monkeypatch.setattr(saml, "get_config", lambda: config)
    saml.ensure_signing_key()
    return tmp_path


def test_keys_rotate_finish_gives_iam_the_next_key_before_it_signs(
    cli: Cli, own_keys: Path
) -> None:
    instance_id = cli.saml_instance("rotating-floor")
    cli.app("rotating", instance_id)
    cli.app("orphan", instance_id)
    cli("aws", "setup-connect", "rotating", "--allowed-ips", "127.0.0.1/32")
    first = saml.signing_key()
    # The first step without --app: IAM's provider still knows only the current key.
    assert "Give every service provider the new metadata first" in cli("keys", "rotate")
    staged = saml.next_signing_key()
    assert staged is not None
    provider_arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/rotating-idp"
    iam = cli.client("iam")

    def published() -> str:
        return str(iam.get_saml_provider(SAMLProviderArn=provider_arn)["SAMLMetadataDocument"])

    assert staged.certificate_b64 not in published()
    # A provider that cannot be updated stops the switch: the current key keeps signing.
    refused = cli("keys", "rotate", "--finish", "--app", "orphan", code=1)
    assert "IAM has no SAML provider" in refused
    assert saml.signing_key() == first and saml.next_signing_key() == staged
    # Finishing with --app gives IAM both certificates first, then only the new one.
    finished = cli("keys", "rotate", "--finish", "--app", "rotating")
    assert finished.count("~ update SAML provider rotating-idp (rotating)") == 2
    assert finished.index("~ update SAML provider") < finished.index("signs from now on")
    assert saml.signing_key() == staged
    assert staged.certificate_b64 in published()
    assert first.certificate_b64 not in published()
    assert "Every link of the chain holds." in cli("aws", "doctor", "rotating")


def test_profile_comes_from_boto3s_credential_chain(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --profile: the named profile of the shared credentials file, nothing of Sekisho's.
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[admin]\naws_access_key_id = {cli.key_id}\naws_secret_access_key = {cli.secret}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    aws = Aws.open(AwsTarget(region=REGION, profile="admin", endpoint_url=ENDPOINT))
    for client in (aws.iam, aws.sts, aws.connect):
        client.meta.events.register("before-send.*", cli.django.before_send)
    assert aws.account_id() == ACCOUNT
    assert aws.iam.meta.region_name == "us-east-1" and aws.connect.meta.region_name == REGION
    with pytest.raises(AwsCallFailed, match="nobody"):
        Aws.open(AwsTarget(region=REGION, profile="nobody", endpoint_url=ENDPOINT))
