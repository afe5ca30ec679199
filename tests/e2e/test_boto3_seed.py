"""The seed walkthrough end to end with boto3 as the real client (issue 4, "Tests").

A real `sekisho serve` (temp SQLite or PostgreSQL database) answers on a free loopback
port. boto3 provisions the whole AWS side from nothing through ``/aws``, the Sekisho side is
set up with the CLI, and the SAMLResponse of `sekisho saml preview` is exchanged with STS for
credentials that GetFederationToken authorizes against the seed's IP condition. Nothing here
talks to the pytest-django database or to any non-loopback address.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.policy.test_seed import IP_RESTRICTED, LIST_ROLES
from tests.servers import free_port, served_database, stop_process_group

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
ACCOUNT_ID = "111122223333"
ROLE_NAME = "ConnectFederationRole"
PROVIDER_NAME = "Sekisho"
ADMITTED = "127.0.0.1"
OTHER = "127.0.0.2"  # another loopback address: same machine, different aws:SourceIp
STARTUP_TIMEOUT = 60.0  # seconds: migrations, key generation and server boot
CLI_TIMEOUT = 60.0
# The seed's section 8 policy names a sample instance and 0.0.0.0/32; both are filled in.
SEED_INSTANCE = (
    "arn:aws:connect:ap-northeast-1:123123123:instance/45c5d029-7d66-446b-aa8c-307af0656177"
)


class Server(NamedTuple):
    port: int
    env: dict[str, str]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"{self.base_url}/aws"


def _cli(server: Server, *args: str, stdin: str | None = None) -> str:
    """Run `sekisho ARGS` against the server's data directory; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "sekisho.cli.main", *args],
        cwd=REPO,
        env=server.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"sekisho {' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout


# urllib's default opener honours HTTP_PROXY; this one always connects directly.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_for_http(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`sekisho serve` exited ({proc.returncode}) early:\n{log.read_text()}")
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in time ({last_error}):\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`sekisho init` then `sekisho serve --workers 1` on a free loopback port.

    On a fresh PostgreSQL database when the suite runs on PostgreSQL, else SQLite.
    """
    with served_database() as database_url:
        yield from _server(tmp_path_factory, database_url)


def _server(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("sekisho-e2e")
    runtime_dir = root / "run"
    runtime_dir.mkdir(mode=0o700)
    log = root / "serve.log"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
        and not key.lower().endswith("_proxy")  # loopback only: never through a proxy
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(
        SEKISHO_DATA=str(root / "data"),
        SEKISHO_BASE_URL=f"http://127.0.0.1:{port}",
        XDG_RUNTIME_DIR=str(runtime_dir),
        PYTHONUNBUFFERED="1",
    )
    srv = Server(port=port, env=env, log=log)
    _cli(srv, "init", "--quiet")
    # Output goes to a file, not a pipe: the access log would fill an undrained pipe.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sekisho.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_http(proc, f"{srv.base_url}/saml/metadata", log)
        yield srv
    finally:
        stop_process_group(proc)


# ---------------------------------------------------------------- boto3 clients


def _config() -> Any:
    # No retries: a refusal must surface as the first ClientError, not after backoff.
    # proxies={} (not None) stops botocore from taking HTTP(S)_PROXY from the environment:
    # every request goes straight to the loopback server.
    return botocore_config.Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        proxies={},
    )


def _client(server: Server, service: str, creds: dict[str, str], *, source: str = ADMITTED) -> Any:
    client = boto3.session.Session().client(
        service,
        endpoint_url=server.endpoint_url,
        # IAM is global: AWS (and the emulator) want it signed for us-east-1.
        region_name="us-east-1" if service == "iam" else REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=_config(),
    )
    # botocore's Config has no source-address option. Its URLLib3Session keeps one urllib3
    # PoolManager (``_manager``) whose ``connection_pool_kw`` is passed to every connection
    # pool it creates, and urllib3's HTTPConnection accepts ``source_address`` (it becomes
    # socket.create_connection's bind address). Pools are created lazily per host, so setting
    # the key before the first request (and clearing any pool, to be sure) makes every
    # connection of this client bind to ``source`` — a loopback address, so the server still
    # sees a local peer, only with another REMOTE_ADDR (Linux routes all of 127.0.0.0/8 to lo).
    http_session = client._endpoint.http_session
    assert http_session._proxy_config.proxy_url_for(server.endpoint_url) is None
    manager = http_session._manager
    manager.connection_pool_kw["source_address"] = (source, 0)
    manager.clear()
    return client


def _error_code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _federation_document(instance_arn: str, cidr: str) -> str:
    """Section 8's policy verbatim, with the instance and the admitted range filled in."""
    assert SEED_INSTANCE in IP_RESTRICTED and "0.0.0.0/32" in IP_RESTRICTED
    return IP_RESTRICTED.replace(SEED_INSTANCE, instance_arn).replace("0.0.0.0/32", cidr)


def _trust_policy(server: Server, provider_arn: str) -> str:
    return json.dumps(
        {
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
                                f"{server.base_url}/aws/saml",
                            ]
                        }
                    },
                }
            ],
        }
    )


# ---------------------------------------------------------------- the walkthrough


def test_seed_walkthrough_with_boto3(server: Server) -> None:
    admin = json.loads(_cli(server, "aws", "bootstrap", "--account-id", ACCOUNT_ID))
    assert admin["AccountId"] == ACCOUNT_ID
    connect = _client(server, "connect", admin)
    iam = _client(server, "iam", admin)
    sts = _client(server, "sts", admin)

    # 1. The AWS side from nothing.
    instance = connect.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias="sekisho-e2e",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    instance_id = instance["Id"]
    instance_arn = f"arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{instance_id}"
    assert instance["Arn"] == instance_arn
    assert (
        connect.describe_instance(InstanceId=instance_id)["Instance"]["IdentityManagementType"]
        == "SAML"
    )

    federation_arn = iam.create_policy(
        PolicyName="identitycenter_federation_policy",
        PolicyDocument=_federation_document(instance_arn, f"{ADMITTED}/32"),
    )["Policy"]["Arn"]
    listing_arn = iam.create_policy(
        PolicyName="identitycenter_iam_policy", PolicyDocument=LIST_ROLES
    )["Policy"]["Arn"]

    metadata = _cli(server, "metadata")
    provider_arn = iam.create_saml_provider(Name=PROVIDER_NAME, SAMLMetadataDocument=metadata)[
        "SAMLProviderArn"
    ]
    assert provider_arn == f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/{PROVIDER_NAME}"

    role_arn = iam.create_role(
        RoleName=ROLE_NAME, AssumeRolePolicyDocument=_trust_policy(server, provider_arn)
    )["Role"]["Arn"]
    for arn in (federation_arn, listing_arn):
        iam.attach_role_policy(RoleName=ROLE_NAME, PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == {federation_arn, listing_arn}

    profiles = connect.list_security_profiles(InstanceId=instance_id)
    agent_profile = next(
        p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent"
    )
    routing = connect.list_routing_profiles(InstanceId=instance_id)
    basic = next(
        p["Id"]
        for p in routing["RoutingProfileSummaryList"]
        if p["Name"] == "Basic Routing Profile"
    )
    connect.create_user(
        InstanceId=instance_id,
        Username="agent1",
        IdentityInfo={"FirstName": "Agent", "LastName": "One"},
        PhoneConfig={"PhoneType": "SOFT_PHONE"},
        SecurityProfileIds=[agent_profile],
        RoutingProfileId=basic,
    )

    # 2. The Sekisho side by CLI.
    _cli(
        server,
        "user",
        "create",
        "agent1",
        "--email",
        "agent1@example.com",
        "--password-stdin",
        stdin="correct horse battery staple e2e\n",
    )
    _cli(
        server,
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
        ROLE_NAME,
        "--provider-name",
        PROVIDER_NAME,
        "--signin-url",
        f"{server.base_url}/aws/saml",
    )
    _cli(server, "app", "assign", "connect", "--user", "agent1")

    def preview() -> str:
        return _cli(server, "saml", "preview", "--app", "connect", "--user", "agent1").strip()

    # 3. STS, then GetFederationToken from an admitted and a refused source address.
    assumed = sts.assume_role_with_saml(
        RoleArn=role_arn, PrincipalArn=provider_arn, SAMLAssertion=preview()
    )
    session = assumed["Credentials"]
    assert assumed["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE_NAME}/agent1"
    )
    from_admitted = _client(server, "connect", session, source=ADMITTED)
    from_other = _client(server, "connect", session, source=OTHER)

    token = from_admitted.get_federation_token(InstanceId=instance_id)
    assert token["Credentials"]["AccessToken"]
    with pytest.raises(botocore_exceptions.ClientError) as refused:
        from_other.get_federation_token(InstanceId=instance_id)
    assert _error_code(refused) == "AccessDeniedException"

    # Move the range to the other address: the allowed and the refused swap.
    iam.create_policy_version(
        PolicyArn=federation_arn,
        PolicyDocument=_federation_document(instance_arn, f"{OTHER}/32"),
        SetAsDefault=True,
    )
    assert from_other.get_federation_token(InstanceId=instance_id)["Credentials"]["AccessToken"]
    with pytest.raises(botocore_exceptions.ClientError) as refused:
        from_admitted.get_federation_token(InstanceId=instance_id)
    assert _error_code(refused) == "AccessDeniedException"

    # 4. One assertion, twice: the replay is refused.
    assertion = preview()
    sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=provider_arn, SAMLAssertion=assertion)
    with pytest.raises(botocore_exceptions.ClientError) as replayed:
        sts.assume_role_with_saml(
            RoleArn=role_arn, PrincipalArn=provider_arn, SAMLAssertion=assertion
        )
    assert _error_code(replayed) == "InvalidIdentityToken"
