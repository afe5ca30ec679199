"""The pure parts of provisioning: documents, plans and the one-line AWS error sentences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sekisho.provisioning import documents as docs
from sekisho.provisioning import plans
from sekisho.provisioning.errors import (
    ProvisioningError,
    explain_botocore_error,
    explain_client_error,
)

INSTANCE = (
    "arn:aws:connect:ap-northeast-1:111122223333:instance/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7"
)
PROVIDER = "arn:aws:iam::111122223333:saml-provider/Sekisho"
ACS = "https://ap-northeast-1.signin.aws.amazon.com/saml"


def test_cidrs_are_normalised_and_checked() -> None:
    assert docs.parse_cidrs(["203.0.113.7,198.51.100.0/24", " 203.0.113.7/32 ", "::1"]) == [
        "203.0.113.7/32",
        "198.51.100.0/24",
        "::1/128",
    ]
    assert docs.parse_cidrs(["10.1.2.3/8"]) == ["10.0.0.0/8"]  # host bits masked, as IAM
    for bad in (["office"], ["10.0.0.0/33"], [""], []):
        with pytest.raises(ProvisioningError):
            docs.parse_cidrs(bad)


def test_federation_policy_ranges_are_read_and_replaced() -> None:
    document = docs.federation_policy(INSTANCE, ["127.0.0.1/32"])
    assert document["Statement"][0]["Resource"] == [f"{INSTANCE}/user/${{aws:userid}}"]
    assert docs.admitted_ranges(docs.dumps(document)) == ["127.0.0.1/32"]
    moved = docs.with_ranges(docs.dumps(document), ["203.0.113.0/24"])
    assert docs.admitted_ranges(moved) == ["203.0.113.0/24"]
    assert not docs.same_document(moved, document)
    assert docs.same_document(docs.dumps(document), json.dumps(document, indent=4))
    with pytest.raises(ProvisioningError, match="not a federation policy"):
        docs.with_ranges({"Version": "2012-10-17", "Statement": []}, ["10.0.0.0/8"])


def test_trust_keeps_other_principals_and_merges_audiences() -> None:
    other = {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    existing = {"Version": "2012-10-17", "Statement": [other]}
    assert not docs.trusts(existing, PROVIDER)
    merged = docs.trust_with(existing, PROVIDER, [docs.AWS_GLOBAL_SIGNIN, ACS])
    assert merged["Statement"][0] == other
    assert docs.trusts(merged, PROVIDER)
    assert docs.audiences_of(merged) == [docs.AWS_GLOBAL_SIGNIN, ACS]


def _state(**changes: Any) -> plans.SetupState:
    base: dict[str, Any] = {
        "account_id": "111122223333",
        "instance": plans.InstanceInfo(INSTANCE.rpartition("/")[2], INSTANCE, "demo", "SAML"),
        "provider": None,
        "role": None,
        "policies": {"fed": None},
    }
    base.update(changes)
    return plans.SetupState(**base)


WANTED = plans.SetupWanted(
    app="connect",
    region="ap-northeast-1",
    instance_id=INSTANCE.rpartition("/")[2],
    provider_name="Sekisho",
    role_name="Federation",
    role_path="/",
    metadata="<md/>",
    audiences=(ACS,),
    session_duration=3600,
    cidrs=("127.0.0.1/32",),
    policy_name="fed",
)


def test_a_fresh_account_gets_every_step_and_a_finished_one_none() -> None:
    plan = plans.plan_setup(_state(), WANTED)
    assert [s.action for s in plan.steps] == [
        "create_saml_provider",
        "create_role",
        "create_policy",
        "attach_role_policy",
    ]
    create_role = plan.steps[1]
    trust = json.loads(create_role.args["AssumeRolePolicyDocument"])
    assert docs.audiences_of(trust) == [docs.AWS_GLOBAL_SIGNIN, ACS]
    policy = json.loads(plan.steps[2].args["PolicyDocument"])
    done = _state(
        provider=plans.ProviderInfo(PROVIDER, "<md/>"),
        role=plans.RoleInfo(
            arn="arn:aws:iam::111122223333:role/Federation",
            role_id="AROAEXAMPLE",
            trust_policy=create_role.args["AssumeRolePolicyDocument"],
            max_session_duration=3600,
            attached=("arn:aws:iam::111122223333:policy/fed",),
        ),
        policies={
            "fed": plans.PolicyInfo(
                "arn:aws:iam::111122223333:policy/fed",
                json.dumps(policy),
                (plans.VersionInfo("v1", True),),
            )
        },
    )
    again = plans.plan_setup(done, WANTED)
    assert again.changes_nothing and not again.problems
    assert any("uses SAML identity management" in line for line in again.holding)


def test_a_non_saml_or_missing_instance_stops_the_plan() -> None:
    managed = plans.InstanceInfo("x", INSTANCE, "demo", "CONNECT_MANAGED")
    plan = plans.plan_setup(_state(instance=managed), WANTED)
    assert not plan.steps and "uses CONNECT_MANAGED" in plan.problems[0]
    assert "has no instance" in plans.plan_setup(_state(instance=None), WANTED).problems[0]


def test_a_sixth_version_deletes_the_oldest_non_default_one() -> None:
    versions = tuple(plans.VersionInfo(f"v{n}", n == 5) for n in (5, 4, 3, 2, 1))
    document = docs.dumps(docs.federation_policy(INSTANCE, ["127.0.0.1/32"]))
    info = plans.PolicyInfo("arn:aws:iam::111122223333:policy/fed", document, versions)
    plan = plans.plan_allowed_ips("fed", info, ["203.0.113.0/24"])
    assert [s.action for s in plan.steps] == ["delete_policy_version", "create_policy_version"]
    assert plan.steps[0].args["VersionId"] == "v1"
    assert plans.plan_allowed_ips("fed", info, ["127.0.0.1/32"]).changes_nothing
    rollback = plans.plan_rollback("fed", info)
    assert rollback.steps[0].args["VersionId"] == "v4"
    single = plans.PolicyInfo(info.arn, document, (plans.VersionInfo("v1", True),))
    assert plans.plan_rollback("fed", single).problems


def test_users_are_matched_by_exact_username() -> None:
    plan = plans.plan_users(
        instance_id="i",
        wanted=[plans.Person("agent1", "Agent", "One"), plans.Person("ada", "Ada", "King")],
        existing=[
            plans.ConnectPerson("u1", "Agent1", "Agent", "One"),
            plans.ConnectPerson("u2", "ada", "Ada", "Lovelace"),
            plans.ConnectPerson("u3", "gone", "Old", "Hand"),
        ],
        invalid={"a+b": "not a valid Amazon Connect username"},
        security_profile_ids=["sp"],
        routing_profile_id="rp",
        delete_missing=False,
    )
    assert [s.action for s in plan.steps] == ["create_user", "update_user_identity_info"]
    assert plan.steps[0].args["Username"] == "agent1"
    assert "Connect has 'Agent1'" in " ".join(plan.problems)
    assert plan.kept == ("Agent1", "gone")
    assert "a+b: not a valid" in plan.problems[0]


class _ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.response = {"Error": {"Code": code, "Message": message}}


def test_aws_errors_become_one_sentence() -> None:
    already = _ClientError("EntityAlreadyExists", "Role x\nexists")
    known = explain_client_error("CreateRole", already)
    assert str(known) == "CreateRole failed: it already exists (AWS: Role x exists)"
    assert known.aws_code == "EntityAlreadyExists"
    unknown = explain_client_error("GetRole", _ClientError("Brand-New", "what"))
    assert str(unknown) == "GetRole failed: AWS answered Brand-New: what"
    denied = explain_client_error("GetRole", _ClientError("InvalidClientTokenId", "The token"))
    assert "(AWS:" not in str(denied)

    class NoCredentialsError(Exception):
        pass

    assert "no AWS credentials found" in str(
        explain_botocore_error("GetCallerIdentity", NoCredentialsError())
    )
