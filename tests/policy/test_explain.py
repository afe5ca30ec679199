"""Decision.trace, Decision.explanation and Decision.to_json (the CLI's batch line)."""

from __future__ import annotations

from sekisho.policy import PolicyKind, StatementTrace, evaluate, evaluate_trust
from tests.policy.helpers import decide, policy, request

FEDERATION = policy(
    {
        "Sid": "Statement1",
        "Effect": "Allow",
        "Action": "connect:GetFederationToken",
        "Resource": "arn:aws:connect:ap-northeast-1:111122223333:instance/i-1/user/${aws:userid}",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    },
    name="federation",
)
RESOURCE = "arn:aws:connect:ap-northeast-1:111122223333:instance/i-1/user/AROA1:alice"


def test_trace_says_why_each_statement_did_or_did_not_apply() -> None:
    denied = decide(
        FEDERATION,
        request(
            "connect:GetFederationToken",
            RESOURCE,
            {"aws:SourceIp": "192.0.2.1", "aws:userid": "AROA1:alice"},
        ),
    )
    assert denied.trace == (
        StatementTrace(
            policy="federation",
            sid="Statement1",
            index=0,
            effect="Allow",
            applied=False,
            reasons=(
                "action connect:GetFederationToken matches connect:GetFederationToken",
                f"resource {RESOURCE} matches arn:aws:connect:ap-northeast-1:111122223333:"
                "instance/i-1/user/${aws:userid}",
                "condition IpAddress fails: aws:SourceIp 192.0.2.1 is not in 203.0.113.0/24",
            ),
        ),
    )
    other = decide(FEDERATION, request("sts:AssumeRole", RESOURCE, {"aws:SourceIp": "203.0.113.1"}))
    reasons = other.trace[0].reasons
    assert reasons[0] == "action sts:AssumeRole does not match connect:GetFederationToken"
    assert "${aws:userid} has no value, so it matches nothing" in reasons[1]


def test_explanation_of_an_implicit_deny_names_the_near_miss() -> None:
    denied = decide(
        FEDERATION,
        request(
            "connect:GetFederationToken",
            RESOURCE,
            {"aws:SourceIp": "192.0.2.1", "aws:userid": "AROA1:alice"},
        ),
    )
    assert denied.explanation == (
        "ImplicitDeny: no statement in the identity-based policy 'federation' allows "
        f"connect:GetFederationToken on {RESOURCE}; a request is denied unless a policy allows "
        "it. Statement Statement1 of policy 'federation' covers the action but condition "
        "IpAddress fails: aws:SourceIp 192.0.2.1 is not in 203.0.113.0/24."
    )
    unrelated = decide(FEDERATION, request("s3:GetObject", "arn:aws:s3:::b/k"))
    assert unrelated.explanation.endswith("No statement's Action matches s3:GetObject.")
    nothing = evaluate(request=request())
    assert nothing.explanation.startswith("ImplicitDeny: no identity-based policy is given")


def test_explanation_of_allow_and_explicit_deny() -> None:
    allowed = decide(
        FEDERATION,
        request(
            "connect:GetFederationToken",
            RESOURCE,
            {"aws:SourceIp": "203.0.113.9", "aws:userid": "AROA1:alice"},
        ),
    )
    assert allowed.explanation == (
        "Allow: statement Statement1 of policy 'federation' allows connect:GetFederationToken "
        f"on {RESOURCE}, and no statement denies it."
    )
    guard = policy(
        {
            "Sid": "NoMfaNoAccess",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        },
        name="guard",
    )
    denied = decide([FEDERATION, guard], request(context={"aws:MultiFactorAuthPresent": False}))
    assert denied.explanation == (
        "ExplicitDeny: statement NoMfaNoAccess of policy 'guard' denies s3:GetObject on "
        "arn:aws:s3:::bucket/key (condition Bool holds: aws:MultiFactorAuthPresent false is "
        "false). An explicit Deny in any policy overrides every Allow."
    )


def test_layer_explanations() -> None:
    allow_all = policy({"Effect": "Allow", "Action": "*", "Resource": "*"}, name="all")
    boundary = policy(
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        kind=PolicyKind.BOUNDARY,
        name="ec2",
    )
    bounded = decide(allow_all, request(), permission_boundary=boundary)
    assert bounded.explanation.startswith(
        "ImplicitDeny: no statement in the permissions boundary 'ec2' allows s3:GetObject"
    )
    scp = policy(
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, kind=PolicyKind.SCP, name="scp"
    )
    assert "service control policy 'scp'" in decide(allow_all, request(), scps=[scp]).explanation
    federated = request(principal="arn:aws:sts::111122223333:federated-user/bob")
    assert "federated user session" in decide(allow_all, federated).explanation
    root = evaluate(request=request(principal="111122223333"))
    assert root.allowed and "account root user" in root.explanation


def test_trust_explanation() -> None:
    role = policy(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "111122223333"}},
        kind=PolicyKind.TRUST,
        name="trust",
    )
    refused = evaluate_trust(
        trust_policy=role,
        request=request(
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/R",
            principal="arn:aws:iam::999999999999:user/eve",
        ),
    )
    assert refused.decision == "ImplicitDeny"
    assert refused.explanation.startswith(
        "ImplicitDeny: no statement in the trust policy 'trust' allows "
        "arn:aws:iam::999999999999:user/eve to sts:AssumeRole"
    )
    assert "is not named in Principal AWS 111122223333" in refused.explanation


def test_to_json_is_the_batch_line() -> None:
    allowed = decide(
        FEDERATION,
        request(
            "connect:GetFederationToken",
            RESOURCE,
            {"aws:SourceIp": "203.0.113.9", "aws:userid": "AROA1:alice"},
        ),
    )
    assert allowed.to_json() == {
        "decision": "Allow",
        "matched": [{"policy": "federation", "sid": "Statement1", "effect": "Allow"}],
        "explanation": allowed.explanation,
    }


def test_decisions_are_immutable_values() -> None:
    first = decide(FEDERATION, request())
    second = decide(FEDERATION, request("ec2:RunInstances"))
    assert first == second and hash(first) == hash(second)
    assert repr(first) == "Decision(decision='ImplicitDeny', matched=())"
    try:
        first.decision = "Allow"  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("Decision.decision must be read-only")
