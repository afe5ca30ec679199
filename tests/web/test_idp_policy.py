"""IdP policies through the web and the CLI: sign-in and launch by source address."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json

import pytest
from django.test import Client

from sekisho.access import policies
from sekisho.access.models import PolicyAttachment, StoredPolicy
from sekisho.access.policies import Target
from sekisho.audit.models import AuditRecord
from sekisho.cli.main import main
from sekisho.config import get_config
from sekisho.directory import services as directory
from sekisho.mfa.models import MfaSettings, TotpDevice
from sekisho.saml import assignments
from sekisho.web import middleware
from tests.conftest import PASSWORD, sign_in_registering

pytestmark = pytest.mark.django_db

OFFICE = "203.0.113.0/24"
INSIDE = "203.0.113.5"
OUTSIDE = "198.51.100.7"

# The seed's federation statement, moved to the IdP: Connect only from the office.
CONNECT_FROM_OFFICE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "SignInFromAnywhere",
            "Effect": "Allow",
            "Action": "sekisho:SignIn",
            "Resource": "*",
        },
        {
            "Sid": "ConnectFromOffice",
            "Effect": "Allow",
            "Action": "sekisho:LaunchApplication",
            "Resource": "arn:sekisho:::application/connect",
            "Condition": {"IpAddress": {"aws:SourceIp": OFFICE}},
        },
    ],
}
SIGN_IN_FROM_OFFICE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sekisho:*",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": [OFFICE, "127.0.0.1/32"]}},
        },
    ],
}


def replace_allow_all(actor, document: dict, name: str = "Office") -> None:
    policies.put_policy(name, json.dumps(document), actor=actor)
    policies.attach(name, Target.idp(), actor=actor)
    policies.detach(policies.ALLOW_ALL_NAME, Target.idp(), actor=actor)


@pytest.fixture
def agent(make_user, connect_app, actor):
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    return user


def test_fresh_install_allows_everything(db) -> None:
    stored = StoredPolicy.objects.get(name=policies.ALLOW_ALL_NAME)
    assert PolicyAttachment.objects.filter(policy=stored, target="idp").exists()


def test_launch_allowed_inside_and_refused_outside(agent, actor, clock) -> None:
    replace_allow_all(actor, CONNECT_FROM_OFFICE)
    inside = Client(REMOTE_ADDR=INSIDE)
    sign_in_registering(inside, clock, "agent1")
    assert b"SAMLResponse" in inside.post("/apps/connect/launch").content

    outside = Client(REMOTE_ADDR=OUTSIDE)
    clock.advance(60)
    outside.post("/signin", {"username": "agent1", "password": PASSWORD})
    secret_device = TotpDevice.objects.get(user=agent)
    assert secret_device.confirmed
    from sekisho.crypto import SecretBox
    from sekisho.instance import cached_master_key
    from sekisho.mfa import totp

    secret = (
        SecretBox.from_master_key(cached_master_key())
        .open(secret_device.sealed_secret, context=f"totp-secret:{agent.uid}")
        .decode()
    )
    outside.post("/signin/mfa/totp", {"code": totp.code_at(secret=secret, now=clock.now())})
    refused = outside.post("/apps/connect/launch")
    assert refused.status_code == 403
    assert b"SAMLResponse" not in refused.content
    assert OUTSIDE.encode() in refused.content
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and record.outcome == "Failure"
    assert record.record["errorCode"] == "AccessDenied"
    assert "aws:SourceIp" in record.record["errorMessage"]
    assert OUTSIDE in record.record["errorMessage"]


def test_sign_in_refused_before_any_mfa_registration(agent, actor, clock) -> None:
    replace_allow_all(actor, SIGN_IN_FROM_OFFICE)
    outside = Client(REMOTE_ADDR=OUTSIDE)
    response = outside.post("/signin", {"username": "agent1", "password": PASSWORD})
    assert response.status_code == 403
    assert b"Sign-in not allowed" in response.content
    assert not TotpDevice.objects.filter(user=agent).exists()
    denied = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert denied is not None and denied.outcome == "Failure"
    assert denied.record["additionalEventData"]["Action"] == "sekisho:SignIn"
    # A wrong password from outside still gets the generic answer: nothing is revealed.
    wrong = outside.post("/signin", {"username": "agent1", "password": "nope nope nope"})
    assert wrong.status_code == 401
    inside = Client(REMOTE_ADDR=INSIDE)
    sign_in_registering(inside, clock, "agent1")


def test_trusted_proxy_forwarded_for_counts_and_spoofing_does_not(
    agent, actor, clock, monkeypatch
) -> None:
    replace_allow_all(actor, SIGN_IN_FROM_OFFICE)
    trusted = dataclasses.replace(
        get_config(), trusted_proxies=(ipaddress.ip_network("192.0.2.0/24"),)
    )
    monkeypatch.setattr(middleware, "get_config", lambda: trusted)
    via_proxy = Client(REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=INSIDE)
    sign_in_registering(via_proxy, clock, "agent1")
    spoofed = Client(REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR=INSIDE)
    response = spoofed.post("/signin", {"username": "agent1", "password": PASSWORD})
    assert response.status_code == 403


def test_launch_needs_mfa_when_the_policy_says_so(agent, actor, clock) -> None:
    settings_row = MfaSettings.current()
    settings_row.mode = "disabled"
    settings_row.save()
    replace_allow_all(
        actor,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sekisho:SignIn", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "sekisho:LaunchApplication",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                },
            ],
        },
    )
    client = Client()
    client.post("/signin", {"username": "agent1", "password": PASSWORD})
    assert client.post("/apps/connect/launch").status_code == 403


def test_group_policy_denies_its_members(agent, actor, clock) -> None:
    group = directory.create_group("contractors", actor=actor)
    directory.add_member(group, agent, actor=actor)
    policies.put_policy(
        "NoConnectForContractors",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "sekisho:LaunchApplication",
                        "Resource": "arn:sekisho:::application/connect",
                    }
                ],
            }
        ),
        actor=actor,
    )
    policies.attach("NoConnectForContractors", Target.for_group(group), actor=actor)
    client = Client()
    sign_in_registering(client, clock, "agent1")
    assert client.post("/apps/connect/launch").status_code == 403
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and record.record["additionalEventData"]["PolicyDecision"] == (
        "ExplicitDeny"
    )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_manages_and_simulates_idp_policies(agent, capsys, tmp_path) -> None:
    path = tmp_path / "office.json"
    path.write_text(json.dumps(CONNECT_FROM_OFFICE))
    assert run(capsys, "policy", "put", "Office", str(path))[1] == "created policy Office\n"
    assert run(capsys, "policy", "attach", "Office", "--idp")[0] == 0
    assert run(capsys, "policy", "detach", policies.ALLOW_ALL_NAME, "--idp")[0] == 0
    code, out, _ = run(capsys, "policy", "list")
    assert "Office: the identity provider" in out and "AllowAll: (not attached)" in out
    code, out, _ = run(capsys, "policy", "get", "Office")
    assert json.loads(out)["attached_to"] == ["the identity provider"]
    code, out, _ = run(
        capsys,
        "policy",
        "simulate",
        "--idp",
        "--user",
        "agent1",
        "--app",
        "connect",
        "--source-ip",
        OUTSIDE,
        "--mfa",
    )
    assert code == 0 and "Decision: ImplicitDeny" in out and OUTSIDE in out
    code, out, _ = run(
        capsys,
        "policy",
        "simulate",
        "--idp",
        "--user",
        "agent1",
        "--app",
        "connect",
        "--source-ip",
        INSIDE,
        "--mfa",
        "--json",
    )
    assert json.loads(out)["decision"] == "Allow"
    code, _, err = run(capsys, "policy", "delete", "Office")
    assert code == 1 and "detach it first" in err
    assert run(capsys, "policy", "delete", policies.ALLOW_ALL_NAME)[0] == 0
    code, _, err = run(
        capsys, "policy", "simulate", "--idp", "--user", "agent1", "--source-ip", "not-an-ip"
    )
    assert code == 1 and err.count("\n") == 1


def test_an_application_policy_applies_to_its_launches_and_goes_with_the_app(
    agent, capsys, tmp_path
) -> None:
    path = tmp_path / "office.json"
    path.write_text(json.dumps(CONNECT_FROM_OFFICE))
    assert run(capsys, "policy", "put", "Office", str(path))[0] == 0
    assert run(capsys, "policy", "detach", policies.ALLOW_ALL_NAME, "--idp")[0] == 0
    signin_only = tmp_path / "signin.json"
    signin_only.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sekisho:SignIn", "Resource": "*"}],
            }
        )
    )
    assert run(capsys, "policy", "put", "SignIn", str(signin_only))[0] == 0
    assert run(capsys, "policy", "attach", "SignIn", "--idp")[0] == 0
    code, out, _ = run(capsys, "policy", "attach", "Office", "--app", "connect")
    assert code == 0 and out == "attached Office to application connect\n"
    simulate = ("policy", "simulate", "--idp", "--user", "agent1", "--app", "connect")
    code, out, _ = run(capsys, *simulate, "--source-ip", INSIDE, "--mfa", "--json")
    assert json.loads(out)["decision"] == "Allow"
    code, _, err = run(capsys, "policy", "attach", "Office", "--app", "no-such-app")
    assert code == 1 and "no-such-app" in err
    assert run(capsys, "app", "delete", "connect")[0] == 0
    assert not PolicyAttachment.objects.filter(target="application").exists()
    code, out, _ = run(capsys, "policy", "get", "Office")
    assert json.loads(out)["attached_to"] == []
    assert run(capsys, "policy", "delete", "Office")[0] == 0


def test_cli_refuses_an_invalid_policy_in_one_line(db, capsys, tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}')
    code, _, err = run(capsys, "policy", "put", "Bad", str(path))
    assert code == 1 and err.count("\n") == 1 and "Effect" in err
    assert not StoredPolicy.objects.filter(name="Bad").exists()


def test_validate_and_simulate_files_need_no_installation(capsys, tmp_path, monkeypatch) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SIGN_IN_FROM_OFFICE))
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*", '
        '"Condition": {"IpAddress": {"aws:SourceIp": "300.1.2.3/8"}}}]}'
    )
    code, out, _ = run(capsys, "policy", "validate", str(good), str(bad))
    assert code == 1
    assert f"{good}: valid" in out
    assert out.count(str(bad)) >= 2  # NotAction with Action, and the malformed CIDR
    code, out, _ = run(
        capsys,
        "policy",
        "simulate",
        "--policy",
        str(good),
        "--action",
        "sekisho:SignIn",
        "--resource",
        "arn:sekisho:::user/agent1",
        "--context",
        f"aws:SourceIp={OUTSIDE}",
    )
    assert code == 0 and "ImplicitDeny" in out and "aws:SourceIp" in out
    batch = (
        "\n".join(
            [
                json.dumps(
                    {
                        "identity_policies": [SIGN_IN_FROM_OFFICE],
                        "action": "sekisho:SignIn",
                        "resource": "*",
                        "context": {"aws:SourceIp": INSIDE},
                    }
                ),
                "{not json",
                json.dumps(
                    {"identity_policies": [{"Statement": "nope"}], "action": "a:b", "resource": "*"}
                ),
                json.dumps(
                    {
                        "identity_policies": [SIGN_IN_FROM_OFFICE],
                        "action": "sekisho:SignIn",
                        "resource": "*",
                        "context": {"aws:SourceIp": OUTSIDE},
                    }
                ),
            ]
        )
        + "\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(batch))
    code, out, _ = run(capsys, "policy", "simulate", "--batch", "-")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("decision", "error") for line in lines] == [
        "Allow",
        "error",
        "error",
        "ImplicitDeny",
    ]
    assert "error" in lines[1] and "error" in lines[2]
