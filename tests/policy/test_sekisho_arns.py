"""Sekisho's own short ARNs (arn:sekisho:::user/<name>) match in policies and requests."""

from __future__ import annotations

from sekisho.policy import Request, RequestContext, evaluate, parse_policy


def decide(resource_in_policy: str, resource: str) -> str:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sekisho:LaunchApplication",
                    "Resource": resource_in_policy,
                }
            ],
        },
        name="p",
    )
    request = Request(
        action="sekisho:LaunchApplication", resource=resource, context=RequestContext.from_mapping()
    )
    return evaluate(request=request, identity_policies=[policy]).decision


def test_exact_and_wildcard_short_arns_match() -> None:
    resource = "arn:sekisho:::application/connect"
    assert decide("arn:sekisho:::application/connect", resource) == "Allow"
    assert decide("arn:sekisho:::application/*", resource) == "Allow"
    assert decide("arn:sekisho:::application/conn?ct", resource) == "Allow"
    assert decide("arn:sekisho:::user/*", resource) == "ImplicitDeny"
    assert decide("arn:sekisho:::application/other", resource) == "ImplicitDeny"


def test_explanations_show_the_short_form() -> None:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sekisho:SignIn", "Resource": "arn:sekisho:::user/a"}
            ],
        },
        name="p",
    )
    request = Request(
        action="sekisho:SignIn",
        resource="arn:sekisho:::user/b",
        context=RequestContext.from_mapping(),
    )
    decision = evaluate(request=request, identity_policies=[policy])
    assert "arn:sekisho:::user/b" in decision.explanation
    assert "::::" not in decision.explanation
    assert all("::::" not in r for t in decision.trace for r in t.reasons)
