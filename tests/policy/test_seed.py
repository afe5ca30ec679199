"""The seed's two IAM policies, verbatim, and its IP restriction (section 8 of the article).

The federation policy (5-1) is pasted with its placeholder ``<AmazonConnecインスタンスのARN>``
filled by the instance ARN that section 8 shows; the IP variant is section 8's policy.
"""

from __future__ import annotations

import json

import pytest

from sekisho.policy import Decision, PolicyKind, parse_policy
from tests.policy.helpers import decide, request

INSTANCE = "arn:aws:connect:ap-northeast-1:123123123:instance/45c5d029-7d66-446b-aa8c-307af0656177"

# 5-1. フェデレーションIAMポリシーを作成する, with its placeholder filled.
FEDERATION = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Statement1",
            "Effect": "Allow",
            "Action": "connect:GetFederationToken",
            "Resource": [
                "<AmazonConnecインスタンスのARN>/user/${aws:userid}"
            ]
        }
    ]
}""".replace("<AmazonConnecインスタンスのARN>", INSTANCE)

# 5-2. IAMロールの一覧表示IAMポリシーを作成する (verbatim, trailing space included).
LIST_ROLES = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",\u0020
            "Action": [
                "iam:ListRoles",
                "iam:ListAccountAliases"
            ],
            "Resource": "*"
        }
    ]
}"""

# 8. IP制限の設定方法 (verbatim: "aws:SourceIpに許可したいIPを設定してください").
IP_RESTRICTED = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Statement1",
            "Effect": "Allow",
            "Action": "connect:GetFederationToken",
            "Resource": [
                "arn:aws:connect:ap-northeast-1:123123123:instance/45c5d029-7d66-446b-aa8c-307af0656177/user/${aws:userid}"
            ],
            "Condition": {
                "IpAddress": {
                    "aws:SourceIp": "0.0.0.0/32"
                }
            }
        }
    ]
}"""

# A SAML session's aws:userid is "role-id:caller-specified-role-name" ("IAM policy elements:
# Variables and tags", principal key values).
USERID = "AROAEXAMPLEROLEID:agent@example.com"
SESSION = "arn:aws:sts::123123123:assumed-role/ConnectFederation/agent@example.com"


def federate(policy_text: str, source_ip: str, userid: str = USERID) -> Decision:
    policy = parse_policy(policy_text, name="identitycenter_federation_policy")
    context = {"aws:SourceIp": source_ip, "aws:userid": USERID}
    req = request(
        "connect:GetFederationToken", f"{INSTANCE}/user/{userid}", context, principal=SESSION
    )
    return decide(policy, req)


def with_cidrs(cidrs: str | list[str]) -> str:
    document = json.loads(IP_RESTRICTED)
    document["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"] = cidrs
    return json.dumps(document, indent=4)


def test_both_policies_parse_verbatim() -> None:
    federation = parse_policy(FEDERATION, name="identitycenter_federation_policy")
    listing = parse_policy(LIST_ROLES, kind=PolicyKind.IDENTITY, name="identitycenter_iam_policy")
    assert federation.statements[0].sid == "Statement1"
    assert listing.statements[0].sid is None
    assert listing.size < 6144 and federation.size < 6144


def test_federation_policy_allows_only_the_users_own_connect_user() -> None:
    assert federate(FEDERATION, "198.51.100.9").allowed
    other = federate(FEDERATION, "198.51.100.9", userid="AROAEXAMPLEROLEID:someone@example.com")
    assert other.decision == "ImplicitDeny"


def test_list_roles_policy() -> None:
    listing = parse_policy(LIST_ROLES, name="identitycenter_iam_policy")
    for action in ("iam:ListRoles", "iam:ListAccountAliases"):
        assert decide(listing, request(action, "*")).allowed
    assert decide(listing, request("iam:PassRole", "*")).decision == "ImplicitDeny"


def test_seed_ip_restriction_verbatim() -> None:
    # 0.0.0.0/32 admits only 0.0.0.0: every real address is refused, as the article shows
    # ("アクセスが拒否された").
    assert federate(IP_RESTRICTED, "0.0.0.0").allowed
    refused = federate(IP_RESTRICTED, "203.0.113.5")
    assert refused.decision == "ImplicitDeny"
    assert "aws:SourceIp 203.0.113.5 is not in 0.0.0.0/32" in refused.explanation


@pytest.mark.parametrize("cidrs", ["203.0.113.0/24", ["192.0.2.10", "203.0.113.0/24"]])
def test_ip_restriction_allows_inside_and_denies_outside(cidrs: str | list[str]) -> None:
    # "複数の場合は配列可" (several addresses may be given as an array).
    assert federate(with_cidrs(cidrs), "203.0.113.77").allowed
    denied = federate(with_cidrs(cidrs), "198.51.100.1")
    assert denied.decision == "ImplicitDeny"
    assert denied.matched == ()
    (trace,) = denied.trace
    assert not trace.applied
    shown = " or ".join(cidrs) if isinstance(cidrs, list) else cidrs
    shown = shown.replace("192.0.2.10", "192.0.2.10/32")
    assert (
        f"condition IpAddress fails: aws:SourceIp 198.51.100.1 is not in {shown}" in trace.reasons
    )
    assert "aws:SourceIp 198.51.100.1 is not in" in denied.explanation


def test_ip_restriction_without_source_ip_is_denied() -> None:
    # "The aws:SourceIp key is always present ... except when the requester uses a VPC
    # endpoint ... In this case, the condition returns false".
    policy = parse_policy(with_cidrs("203.0.113.0/24"))
    req = request("connect:GetFederationToken", f"{INSTANCE}/user/{USERID}", {"aws:userid": USERID})
    denied = decide(policy, req)
    assert denied.decision == "ImplicitDeny"
    assert "aws:SourceIp is absent from the request" in denied.explanation
