"""Small builders for policy tests: statements in, decisions out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sekisho.policy import (
    Decision,
    Policy,
    PolicyKind,
    Request,
    RequestContext,
    evaluate,
    parse_policy,
)

V2012 = "2012-10-17"


def policy(
    *statements: Mapping[str, Any],
    name: str = "p",
    kind: PolicyKind = PolicyKind.IDENTITY,
    version: str | None = V2012,
) -> Policy:
    """A policy of the given statements (Version 2012-10-17 unless told)."""
    document: dict[str, Any] = {"Statement": [dict(s) for s in statements]}
    if version is not None:
        document["Version"] = version
    return parse_policy(document, kind=kind, name=name)


def request(
    action: str = "s3:GetObject",
    resource: str = "arn:aws:s3:::bucket/key",
    context: Mapping[str, Any] | None = None,
    *,
    principal: str | None = None,
    principal_account: str | None = None,
) -> Request:
    """A request with a context built from plain values."""
    return Request(
        action,
        resource,
        RequestContext.from_mapping(context or {}),
        principal=principal,
        principal_account=principal_account,
    )


def decide(policies: Sequence[Policy] | Policy, req: Request, **layers: Any) -> Decision:
    """Evaluate identity policies (one or several) plus any other layers."""
    identity = [policies] if isinstance(policies, Policy) else list(policies)
    return evaluate(request=req, identity_policies=identity, **layers)


def condition_holds(
    condition: Mapping[str, Any], context: Mapping[str, Any], *, version: str | None = V2012
) -> bool:
    """Whether an Allow statement with only this Condition allows a request with the context."""
    allow = policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": dict(condition)},
        version=version,
    )
    return decide(allow, request(context=context)).decision == "Allow"
