"""Properties of evaluation and parsing, checked with hypothesis."""

from __future__ import annotations

import json
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekisho.policy import Policy, PolicyError, PolicyKind, Request, parse_policy
from tests.policy.helpers import condition_holds, decide, policy, request

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIONS = ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "iam:CreateUser"]
ACTION_PATTERNS = [
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "ec2:*",
    "*",
    "iam:Create?ser",
    "S3:getobject",
]
RESOURCES = [
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::other/b",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
]
RESOURCE_PATTERNS = [
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::*/b",
    "arn:aws:ec2:*:111122223333:instance/*",
    "arn:aws:s3:::bucket/${aws:username}",
]
CONDITIONS: list[dict[str, Any]] = [
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": ["10.1.0.0/16", "2001:db8::/32"]}},
    {"StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}},
    {"StringNotLike": {"aws:username": "adm*"}},
    {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
    {"NumericLessThan": {"s3:max-keys": "10"}},
    {"DateLessThan": {"aws:CurrentTime": "2026-12-01T00:00:00Z"}},
    {"StringLikeIfExists": {"ec2:InstanceType": "t2.*"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}},
    {"ForAllValues:StringLike": {"aws:TagKeys": ["owner", "cost-*"]}},
]

statements = st.builds(
    lambda effect, negate, actions, resources, condition: {
        "Effect": effect,
        ("NotAction" if negate else "Action"): actions,
        "Resource": resources,
        **({"Condition": condition} if condition else {}),
    },
    st.sampled_from(["Allow", "Deny"]),
    st.booleans().filter(lambda b: not b) | st.just(True),
    st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
    st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2),
    st.none() | st.sampled_from(CONDITIONS),
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1", "2001:db8::5", "bad"]),
        "aws:PrincipalTag/team": st.sampled_from(["red", "green"]),
        "aws:username": st.sampled_from(["a", "admin", "b"]),
        "aws:MultiFactorAuthPresent": st.booleans(),
        "s3:max-keys": st.integers(0, 20),
        "aws:CurrentTime": st.sampled_from(["2026-11-27T09:00:00Z", "2027-01-01T00:00:00Z"]),
        "ec2:InstanceType": st.sampled_from(["t2.micro", "m5.large"]),
        "aws:TokenIssueTime": st.just("2026-11-27T08:00:00Z"),
        "aws:TagKeys": st.lists(st.sampled_from(["owner", "cost-center", "x"]), max_size=3),
    },
)
requests = st.builds(
    lambda action, resource, context: request(action, resource, context),
    st.sampled_from(ACTIONS),
    st.sampled_from(RESOURCES),
    contexts,
)


def compile_statements(items: list[dict[str, Any]], name: str = "p") -> Policy:
    return policy(*items, name=name)


@SETTINGS
@given(st.lists(statements, min_size=1, max_size=8), requests, st.randoms())
def test_statement_order_never_changes_a_decision(
    items: list[dict[str, Any]], req: Request, random: Any
) -> None:
    before = decide(compile_statements(items), req).decision
    shuffled = list(items)
    random.shuffle(shuffled)
    assert decide(compile_statements(shuffled), req).decision == before
    # Splitting the statements over several policies changes nothing either.
    half = len(shuffled) // 2
    parts = [compile_statements(p) for p in (shuffled[:half], shuffled[half:]) if p]
    assert decide(parts, req).decision == before


@SETTINGS
@given(st.lists(statements, max_size=8), requests, st.integers(0, 8))
def test_an_explicit_deny_always_wins(items: list[dict[str, Any]], req: Request, at: int) -> None:
    deny = {"Effect": "Deny", "Action": req.action, "Resource": req.resource}
    with_deny = [*items[:at], deny, *items[at:]]
    decision = decide(compile_statements(with_deny), req)
    assert decision.decision == "ExplicitDeny"
    allow_all = policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert decide([allow_all, compile_statements(with_deny)], req).decision == "ExplicitDeny"


@SETTINGS
@given(st.lists(statements, min_size=1, max_size=8), requests, statements)
def test_an_unrelated_allow_never_turns_allow_into_deny(
    items: list[dict[str, Any]], req: Request, extra: dict[str, Any]
) -> None:
    # An Allow of the request itself makes allowed cases common (denies may still win).
    items = [{"Effect": "Allow", "Action": req.action, "Resource": "*"}, *items]
    before = decide(compile_statements(items), req).allowed
    unrelated = {**extra, "Effect": "Allow", "Action": "unrelated:DoSomething"}
    unrelated.pop("NotAction", None)
    after = decide(compile_statements([*items, unrelated]), req).allowed
    assert after or not before


@SETTINGS
@given(st.lists(statements, min_size=1, max_size=8), requests)
def test_trace_agrees_with_the_fast_path(items: list[dict[str, Any]], req: Request) -> None:
    compiled = compile_statements(items)
    decision = decide(compiled, req)
    applied = {t.index: t.applied for t in decision.trace}
    for statement in compiled.statements:
        assert applied[statement.index] == statement.applies(req)
    denies = [t for t in decision.trace if t.applied and t.effect == "Deny"]
    allows = [t for t in decision.trace if t.applied and t.effect == "Allow"]
    expected = "ExplicitDeny" if denies else "Allow" if allows else "ImplicitDeny"
    assert decision.decision == expected
    assert [m.index for m in decision.matched if m.effect == "Deny"] == [t.index for t in denies]
    assert decision.explanation.startswith(expected + ":")


# --- negated operators are the negation of their positive twins -------------------------

LATIN_1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="$")
TWINS: list[tuple[str, str, st.SearchStrategy[Any], st.SearchStrategy[Any]]] = [
    ("StringEquals", "StringNotEquals", st.text(LATIN_1, max_size=4), st.text(max_size=4)),
    (
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        st.sampled_from(["a", "A", "b"]),
        st.sampled_from(["a", "B"]),
    ),
    (
        "StringLike",
        "StringNotLike",
        st.sampled_from(["a*", "?b", "*", "ab"]),
        st.text("ab", max_size=3),
    ),
    ("NumericEquals", "NumericNotEquals", st.integers(-3, 3), st.integers(-3, 3) | st.just("x")),
    ("DateEquals", "DateNotEquals", st.integers(0, 3), st.integers(0, 3)),
    (
        "IpAddress",
        "NotIpAddress",
        st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "::/0"]),
        st.sampled_from(["10.1.1.1", "192.0.2.1", "::1", "nope"]),
    ),
    (
        "ArnLike",
        "ArnNotLike",
        st.sampled_from(["arn:aws:s3:::*", "arn:aws:*:*:*:x"]),
        st.sampled_from(["arn:aws:s3:::b", "arn:aws:ec2:r:1:x", "x"]),
    ),
    (
        "ArnEquals",
        "ArnNotEquals",
        st.sampled_from(["arn:aws:s3:::b"]),
        st.sampled_from(["arn:aws:s3:::b", "arn:aws:s3:::c"]),
    ),
]


@SETTINGS
@given(st.data())
def test_negated_operators_negate_their_twins(data: st.DataObject) -> None:
    positive, negative, policy_values, request_values = data.draw(st.sampled_from(TWINS))
    values = data.draw(st.lists(policy_values, min_size=1, max_size=3))
    value = data.draw(request_values)
    suffix = data.draw(st.sampled_from(["", "IfExists"]))
    context = {"svc:key": value}
    holds = condition_holds({positive + suffix: {"svc:key": values}}, context)
    negated = condition_holds({negative + suffix: {"svc:key": values}}, context)
    assert holds != negated


# --- parse_policy on arbitrary JSON -----------------------------------------------------

ELEMENTS = [
    "Version",
    "Statement",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
    "Sid",
    "Id",
    "AWS",
    "Federated",
    "StringEquals",
    "ForAnyValue:StringLike",
    "IpAddress",
    "Null",
    "DateLessThan",
    "NumericEquals",
    "Bool",
    "BinaryEquals",
    "ArnLike",
    "aws:SourceIp",
    "aws:username",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "2012-10-17",
            "Allow",
            "Deny",
            "*",
            "s3:Get*",
            "arn:aws:s3:::b/${aws:username}",
            "10.0.0.0/8",
            "true",
            "2020-01-01T00:00:00Z",
            "${x}",
            "ポ",
        ]
    )
)
json_values = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(ELEMENTS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.sampled_from(list(PolicyKind)))
def test_arbitrary_json_gives_a_policy_or_a_policy_error(value: Any, kind: PolicyKind) -> None:
    for source in (json.dumps(value), value) if isinstance(value, dict) else (json.dumps(value),):
        try:
            parsed = parse_policy(source, kind=kind)
        except PolicyError as error:
            assert error.problems
            assert all(p.path.startswith("$") and p.message for p in error.problems)
        else:
            assert isinstance(parsed, Policy)


statement_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.sampled_from(["*", "s3:GetObject", "arn:aws:s3:::b/*"])
        for key in [
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "Condition",
            "Sid",
        ]
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(statement_like, min_size=1, max_size=3), st.sampled_from(list(PolicyKind)), requests
)
def test_policy_shaped_json_parses_or_fails_cleanly_and_evaluates(
    items: list[dict[str, Any]], kind: PolicyKind, req: Request
) -> None:
    try:
        parsed = parse_policy({"Version": "2012-10-17", "Statement": items}, kind=kind)
    except PolicyError as error:
        assert error.problems
        return
    if kind in (PolicyKind.IDENTITY, PolicyKind.INLINE):
        decision = decide(parsed, req)
        assert decision.explanation and len(decision.trace) == len(parsed.statements)


PRINCIPALS = [
    None,
    "arn:aws:iam::111122223333:root",
    "111122223333",
    "arn:aws:sts::111122223333:assumed-role/R/s",
    "arn:aws:sts::111122223333:federated-user/bob",
]


@SETTINGS
@given(
    st.lists(st.lists(statements, min_size=1, max_size=6), min_size=0, max_size=3),
    requests,
    st.sampled_from(PRINCIPALS),
    st.sampled_from(["", "sts:GetCallerIdentity", "arn:sekisho:::user/a"]),
)
def test_the_compiled_decision_of_a_policy_set_is_the_statement_by_statement_one(
    sets: list[list[dict[str, Any]]], req: Request, principal: str | None, twist: str
) -> None:
    """evaluate() compiles one function per policy set and action (issue 13, finding 6)."""
    if twist.startswith("sts:"):
        req = req._replace(action=twist)
    elif twist:
        req = req._replace(resource=twist)
    req = req._replace(principal=principal)
    policies = [compile_statements(items, name=f"p{n}") for n, items in enumerate(sets)]
    evaluate_module = sys.modules["sekisho.policy.evaluate"]
    slow = evaluate_module._identity_only(req, policies)
    # Decided statement by statement until the action comes back often enough, then compiled.
    decisions = [decide(policies, req) for _ in range(evaluate_module._COMPILE_AFTER + 1)]
    compiled = evaluate_module._decider(policies).compiled
    assert req.action in compiled
    for decision in (decisions[0], decisions[-2], decisions[-1]):
        assert decision.decision == slow.decision
        assert decision.matched == slow.matched
        assert decision.basis.stage == slow.basis.stage
        assert decision.explanation == slow.explanation
