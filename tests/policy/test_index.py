"""The action index: a request touches only the statements whose Action could match it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sekisho.policy import Policy, Request, Statement
from sekisho.policy.index import ActionIndex
from tests.policy.helpers import decide, policy, request


def many(count: int) -> list[Policy]:
    """``count`` statements over 50 services, in policies small enough for IAM's size limit."""
    statements: list[dict[str, Any]] = [
        {"Sid": f"S{n}", "Effect": "Allow", "Action": f"svc{n % 50}:Action{n}", "Resource": "*"}
        for n in range(count)
    ]
    statements.append({"Sid": "Wild", "Effect": "Allow", "Action": "svc7:Get*", "Resource": "*"})
    not_svc = [f"svc{n}:*" for n in range(50)]
    statements.append({"Sid": "Not", "Effect": "Deny", "NotAction": not_svc, "Resource": "*"})
    statements.append({"Sid": "All", "Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::x"})
    return [policy(*statements[i : i + 50], name=f"p{i}") for i in range(0, len(statements), 50)]


def index_of(policies: list[Policy]) -> ActionIndex:
    return ActionIndex([s for p in policies for s in p.statements])


def labels(found: tuple[Statement, ...]) -> list[str | None]:
    return [s.sid for s in found]


def test_lookup_returns_only_matching_statements_by_effect() -> None:
    index = index_of(many(1000))
    deny, allow = index.lookup("svc7:Action7")
    assert labels(allow) == ["S7"]
    assert labels(deny) == ["All"]  # "*" could match; the NotAction list excludes svc7
    deny, allow = index.lookup("SVC7:getThing")  # actions are case-insensitive
    assert labels(allow) == ["Wild"]
    deny, _ = index.lookup("ec2:RunInstances")
    assert labels(deny) == ["Not", "All"]
    assert index.lookup("svc7:Action7") is index.lookup("svc7:Action7")  # cached


def counting(policies: list[Policy]) -> list[str | None]:
    touched: list[str | None] = []
    for statement in (s for p in policies for s in p.statements):
        original: Callable[[Request], Any] = statement.check

        def check(
            req: Request,
            original: Callable[[Request], Any] = original,
            sid: str | None = statement.sid,
        ) -> Any:
            touched.append(sid)
            return original(req)

        object.__setattr__(statement, "check", check)
    return touched


def test_evaluate_touches_only_candidate_statements() -> None:
    big = many(1000)
    touched = counting(big)
    decision = decide(big, request("svc9:Action9", "arn:aws:s3:::y"))
    assert decision.allowed
    assert sorted(touched) == ["All", "S9"]
    # The trace still covers every statement.
    assert len(decision.trace) == sum(len(p.statements) for p in big)


def test_index_over_several_policies_and_bounded_cache() -> None:
    first, second = many(10)[0], many(20)[0]
    combined = ActionIndex([*first.statements, *second.statements])
    assert len(combined.statements) == len(first.statements) + len(second.statements)
    _, allow = combined.lookup("svc3:Action3")
    assert labels(allow) == ["S3", "S3"]
    for n in range(5000):
        combined.lookup(f"other:Action{n}")
    assert len(combined._cache) <= 4096
