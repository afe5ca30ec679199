"""Measure IAM policy decisions per second on one core: Sekisho against PMapper.

Run: .venv/bin/python bench/bench_policy.py   (needs ``pip install principalmapper``)

PMapper (principalmapper, NCC Group) evaluates identity policies locally in
``principalmapper.querying.local_policy_simulation``; both engines get the same policies and
the same requests, and the script first checks that both give the same answer on every one.

(a) the seed's federation policy (connect:GetFederationToken on
    ``<instance-arn>/user/${aws:userid}``) with ``"Condition": {"IpAddress": {"aws:SourceIp":
    ...}}``; 200 agents; allowed and denied requests alternate (source inside / outside the
    CIDR);
(b) one role with 1,000 statements across 50 services, with wildcards, NotAction, policy
    variables and conditions (IpAddress, StringEquals, StringLike, StringNotEquals, Bool,
    DateLessThan, NumericLessThanEquals), some Deny; then how Sekisho's cost per decision
    grows from 10 to 100 to 1,000 statements.

Two measures per workload:
* evaluation: inputs built beforehand. Sekisho ``evaluate(request=..., identity_policies=...)``
  on a prebuilt ``Request``; PMapper ``policy_has_matching_statement`` for Deny, then Allow
  (what its ``has_matching_statement`` does per policy) on a prebuilt ``CaseInsensitiveDict``.
* end to end: from a plain dict per request. Sekisho ``RequestContext.from_mapping`` +
  ``Request`` + ``evaluate``; PMapper ``query_interface.local_check_authorization`` (its public
  entry point, which copies the context and infers keys) on a ``Node`` holding the policy.
Each timed pass uses fresh objects (no memo carried over from the warm-up pass) and is
timed in the thread's CPU time; Sekisho's pass goes over the requests several times so
that it lasts as long as PMapper's (a moment of another process's load then weighs the
same on both); each round times both engines back to back, and the figures are medians
over the rounds.
Goals: Sekisho >= 10x PMapper on (a) and (b); cost sublinear in the number of statements.
"""

from __future__ import annotations

import collections
import collections.abc
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# PMapper 1.1.5 imports collections.Mapping, removed in Python 3.10.
for _name in ("Mapping", "MutableMapping", "Sequence", "Iterable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import dataclasses  # noqa: E402

from sekisho.policy import (  # noqa: E402
    Policy,
    PolicyKind,
    Request,
    RequestContext,
    evaluate,
    parse_policy,
)

try:
    from principalmapper.common import Node
    from principalmapper.common import Policy as PMapperPolicy
    from principalmapper.querying.local_policy_simulation import policy_has_matching_statement
    from principalmapper.querying.query_interface import local_check_authorization
    from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("PMapper is missing: .venv/bin/pip install 'principalmapper==1.1.5'")

ACCOUNT = "123456789012"
INSTANCE = "arn:aws:connect:ap-northeast-1:123123123:instance/45c5d029-7d66-446b-aa8c-307af0656177"
ACTION = "connect:GetFederationToken"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ConnectFederation"
# Timed rounds per measure (medians are printed): SEKISHO_BENCH_ROUNDS overrides.
ROUNDS = int(os.environ.get("SEKISHO_BENCH_ROUNDS", "7"))


def pin_to_one_core() -> int:
    """Pin this process to one core (the last one), so both engines get the same CPU."""
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


# ----------------------------------------------------------------------- workloads


def federation_policy() -> dict[str, Any]:
    """The seed's policy (section 8) verbatim, with the instance ARN and a CIDR filled in."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Statement1",
                "Effect": "Allow",
                "Action": "connect:GetFederationToken",
                "Resource": [f"{INSTANCE}/user/${{aws:userid}}"],
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            }
        ],
    }


Case = tuple[str, str, dict[str, Any]]


def federation_requests(count: int, rng: random.Random) -> list[Case]:
    """Allowed (inside 203.0.113.0/24) and denied (outside) requests, alternating."""
    cases: list[Case] = []
    for number in range(count):
        userid = f"AROAEXAMPLEROLEID:agent{rng.randrange(200):03d}"
        if number % 2 == 0:
            source = f"203.0.113.{rng.randrange(256)}"
        else:
            source = f"198.51.100.{rng.randrange(256)}"
        context = {"aws:SourceIp": source, "aws:userid": userid}
        cases.append((ACTION, f"{INSTANCE}/user/{userid}", context))
    return cases


SERVICES = (
    *("s3", "ec2", "iam", "dynamodb", "lambda", "sqs", "sns", "kms", "rds", "cloudwatch"),
    *("logs", "ecs", "eks", "ecr", "sts", "connect", "route53", "cloudfront", "apigateway"),
    *("secretsmanager", "ssm", "glue", "athena", "kinesis", "firehose", "redshift"),
    *("elasticache", "es", "sagemaker", "states", "events", "codebuild", "codepipeline"),
    *("codecommit", "cloudformation", "backup", "batch", "acm", "waf", "shield", "guardduty"),
    *("inspector", "macie", "config", "organizations", "ram", "servicecatalog", "transfer"),
    *("workspaces", "cognito-idp"),
)
VERBS = ("Get", "List", "Describe", "Create", "Delete", "Update", "Put", "Tag", "Untag", "Start")
NOUNS = ("Bucket", "Object", "Instance", "Table", "Key", "Role", "Queue", "Topic")
TEAMS = ("team-a", "team-b", "team-c", "contractors")


def _actions(service: str) -> list[str]:
    return [f"{service}:{verb}{noun}" for verb in VERBS for noun in NOUNS]


def role_statements(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """A role's statements spread over 50 services: wildcards, variables and conditions."""
    statements: list[dict[str, Any]] = []
    for number in range(count):
        service = SERVICES[number % len(SERVICES)]
        actions = _actions(service)
        noun = rng.choice(NOUNS).lower()
        shape = rng.random()
        statement: dict[str, Any] = {
            "Sid": f"S{number}",
            "Effect": "Deny" if rng.random() < 0.08 else "Allow",
        }
        if shape < 0.55:
            statement["Action"] = rng.sample(actions, rng.randint(1, 4))
        elif shape < 0.9:
            statement["Action"] = [
                f"{service}:{rng.choice(VERBS)}*",
                f"{service}:*{rng.choice(NOUNS)}",
            ]
        elif shape < 0.99:
            statement["Action"] = f"{service}:*"
        else:
            # The usual NotAction: a Deny guardrail on everything but a few services.
            statement["Effect"] = "Deny"
            statement["NotAction"] = [f"{service}:*", "sts:*", "iam:*"]
            statement["Resource"] = "*"
            statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
            statements.append(statement)
            continue
        resource_shape = rng.random()
        if resource_shape < 0.25:
            statement["Resource"] = "*"
        elif resource_shape < 0.6:
            statement["Resource"] = f"arn:aws:{service}:*:{ACCOUNT}:{noun}/*"
        elif resource_shape < 0.85:
            statement["Resource"] = [
                f"arn:aws:{service}:us-east-1:{ACCOUNT}:{noun}/{rng.choice(TEAMS)}/*",
                f"arn:aws:{service}:eu-west-1:{ACCOUNT}:{noun}/{rng.choice(TEAMS)}/*",
            ]
        else:
            statement["Resource"] = f"arn:aws:{service}:*:{ACCOUNT}:{noun}/*/${{aws:username}}/*"
        condition = rng.random()
        if condition < 0.12:
            cidrs = [f"10.{rng.randrange(8)}.0.0/16", "203.0.113.0/24"]
            statement["Condition"] = {"IpAddress": {"aws:SourceIp": cidrs}}
        elif condition < 0.22:
            teams = rng.sample(TEAMS[:3], 2)
            statement["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": teams}}
        elif condition < 0.3:
            statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
        elif condition < 0.36:
            statement["Condition"] = {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}
        elif condition < 0.42:
            statement["Condition"] = {"NumericLessThanEquals": {"svc:MaxItems": "100"}}
        elif condition < 0.5:
            pattern = f"agent{rng.randrange(10)}*"
            statement["Condition"] = {"StringLike": {"aws:username": [pattern, "admin-*"]}}
        elif condition < 0.55:
            statement["Condition"] = {"StringNotEquals": {"aws:PrincipalTag/team": "contractors"}}
        statements.append(statement)
    return statements


def role_requests(count: int, rng: random.Random) -> list[Case]:
    """Requests over the same 50 services: some allowed, some denied either way."""
    cases: list[Case] = []
    for _ in range(count):
        service = rng.choice(SERVICES)
        action = rng.choice(_actions(service))
        noun = rng.choice(NOUNS).lower()
        region = rng.choice(("us-east-1", "eu-west-1"))
        username = f"agent{rng.randrange(100)}"
        resource = (
            f"arn:aws:{service}:{region}:{ACCOUNT}:{noun}/{rng.choice(TEAMS)}/"
            f"{username if rng.random() < 0.5 else 'someone'}/item{rng.randrange(50)}"
        )
        source = rng.choice(
            (f"10.{rng.randrange(12)}.{rng.randrange(256)}.7", "203.0.113.9", "198.51.100.3")
        )
        context = {
            "aws:SourceIp": source,
            "aws:username": username,
            "aws:PrincipalTag/team": rng.choice(TEAMS),
            "aws:MultiFactorAuthPresent": rng.choice(("true", "false")),
            "aws:CurrentTime": "2026-11-27T09:00:00Z",
            "svc:MaxItems": str(rng.choice((10, 100, 1000))),
        }
        cases.append((action, resource, context))
    return cases


# ----------------------------------------------------------------------- engines


def sekisho_requests(cases: Sequence[Case]) -> list[Request]:
    return [
        Request(action, resource, RequestContext.from_mapping(context), principal=ROLE_ARN)
        for action, resource, context in cases
    ]


def pmapper_contexts(cases: Sequence[Case]) -> list[tuple[str, str, Any]]:
    return [(action, resource, CaseInsensitiveDict(context)) for action, resource, context in cases]


def compile_role(document: dict[str, Any], name: str) -> Policy:
    """Validate the statements in chunks IAM would accept, then compile them as one policy.

    1,000 statements are far over IAM's 6,144-character managed-policy limit (which
    parse_policy enforces); the engine itself has no limit, so the bench validates chunks of
    20 statements and evaluates all of them as one compiled policy, as PMapper does.
    """
    statements = document["Statement"]
    merged = []
    size = 0
    for start in range(0, len(statements), 20):
        chunk = {"Version": document["Version"], "Statement": statements[start : start + 20]}
        part = parse_policy(chunk, name=name)
        size += part.size
        merged.extend(part.statements)
    renumbered = tuple(
        dataclasses.replace(statement, index=index) for index, statement in enumerate(merged)
    )
    return Policy(name, PolicyKind.IDENTITY, document["Version"], renumbered, size)


def run_sekisho(policies: list[Policy], requests: Sequence[Request]) -> None:
    for request in requests:
        evaluate(request=request, identity_policies=policies)


def run_passes(policies: list[Policy], passes: Sequence[Sequence[Request]]) -> None:
    for requests in passes:
        run_sekisho(policies, requests)


def balance(ours: Callable[[], object], theirs: Callable[[], object]) -> int:
    """How many of Sekisho's passes last as long as one of PMapper's (one untimed trial each)."""
    start = time.thread_time()
    ours()
    mine = time.thread_time() - start
    start = time.thread_time()
    theirs()
    other = time.thread_time() - start
    return max(1, min(40, round(other / max(mine, 1e-9))))


def run_pmapper(document: dict[str, Any], prepared: Sequence[tuple[str, str, Any]]) -> None:
    for action, resource, context in prepared:
        pmapper_decide(document, action, resource, context)


def sekisho_answers(policy: Policy, requests: Sequence[Request]) -> list[bool]:
    policies = [policy]
    return [evaluate(request=r, identity_policies=policies).decision == "Allow" for r in requests]


def pmapper_decide(document: dict[str, Any], action: str, resource: str, context: Any) -> bool:
    """PMapper's identity-policy decision: no matching Deny, then a matching Allow."""
    if policy_has_matching_statement(document, "Deny", action, resource, context):
        return False
    return policy_has_matching_statement(document, "Allow", action, resource, context)


def pmapper_answers(
    document: dict[str, Any], prepared: Sequence[tuple[str, str, Any]]
) -> list[bool]:
    return [pmapper_decide(document, a, r, c) for a, r, c in prepared]


def pmapper_node(document: dict[str, Any]) -> Any:
    policy = PMapperPolicy(f"arn:aws:iam::{ACCOUNT}:policy/bench", "bench", document)
    trust = {"Version": "2012-10-17", "Statement": []}
    return Node(
        ROLE_ARN, "AROAEXAMPLEROLEID", [policy], [], trust, [], 0, False, False, None, False, {}
    )


def timed(run: Callable[[], object], count: int) -> float:
    """CPU seconds per call of a pass over ``count`` requests (gc collected first).

    The thread's CPU time, not the wall clock: on a shared machine another process taking
    the core for a moment would otherwise be counted against whichever engine was running.
    """
    gc.collect()
    start = time.thread_time()
    run()
    return (time.thread_time() - start) / count


def compare(name: str, document: dict[str, Any], cases: list[Case]) -> None:
    """Check both engines agree, then time evaluation and end to end; print rates."""
    policy = compile_role(document, name)
    ours = sekisho_answers(policy, sekisho_requests(cases))
    theirs = pmapper_answers(document, pmapper_contexts(cases))
    disagreements = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    if disagreements:
        first = cases[disagreements[0]]
        sys.exit(f"{name}: engines disagree on {len(disagreements)} requests, first: {first}")
    allowed = sum(ours)
    print(
        f"  same answers on all {len(cases)} requests ({allowed} allowed, "
        f"{len(cases) - allowed} denied)"
    )

    policies = [policy]

    def ours_end_to_end() -> None:
        for _ in range(end_repeat):
            for action, resource, context in cases:
                request = Request(
                    action, resource, RequestContext.from_mapping(context), principal=ROLE_ARN
                )
                evaluate(request=request, identity_policies=policies)

    node = pmapper_node(document)

    def theirs_end_to_end() -> None:
        for action, resource, context in cases:
            local_check_authorization(node, action, resource, context)

    # Equal pass lengths: Sekisho goes over the requests as many times as makes its timed
    # pass as long as PMapper's one pass, so that a moment of another process's load
    # weighs the same on both (on a 10 ms pass it would count ten times as much).
    trial, trial_prepared = sekisho_requests(cases), pmapper_contexts(cases)
    repeat = balance(
        lambda: run_sekisho(policies, trial), lambda: run_pmapper(document, trial_prepared)
    )
    end_repeat = 1  # ours_end_to_end reads it: one pass for the trial
    end_repeat = balance(ours_end_to_end, theirs_end_to_end)

    # Side by side: each round times both engines back to back, so a burst of load on a
    # shared machine hits one round of both rather than one engine; medians over rounds.
    rounds: dict[str, list[tuple[float, float]]] = {"evaluation": [], "end to end": []}
    for _ in range(ROUNDS):
        # Fresh objects for every pass: nothing memoised before.
        passes = [sekisho_requests(cases) for _ in range(repeat)]
        prepared = pmapper_contexts(cases)
        rounds["evaluation"].append(
            (
                timed(lambda: run_passes(policies, passes), repeat * len(cases)),  # noqa: B023
                timed(lambda: run_pmapper(document, prepared), len(prepared)),  # noqa: B023
            )
        )
        rounds["end to end"].append(
            (
                timed(ours_end_to_end, end_repeat * len(cases)),
                timed(theirs_end_to_end, len(cases)),
            )
        )
    print(
        f"  timed passes: Sekisho {repeat}x (evaluation) and {end_repeat}x (end to end) "
        "the requests, PMapper 1x"
    )
    for label, their_name in (
        ("evaluation", "policy_has_matching_statement x2"),
        ("end to end", "local_check_authorization"),
    ):
        pairs = rounds[label]
        mine = statistics.median(p[0] for p in pairs)
        other = statistics.median(p[1] for p in pairs)
        ratios = sorted(p[1] / p[0] for p in pairs)
        print(
            f"  {label:10}: Sekisho {1 / mine:>11,.0f}/s ({mine * 1e6:7.2f} us)   "
            f"PMapper {1 / other:>9,.0f}/s ({other * 1e6:8.2f} us, {their_name})   "
            f"ratio {statistics.median(ratios):6.1f}x (rounds {ratios[0]:.1f}-{ratios[-1]:.1f}x)"
        )


def main() -> None:
    """Run the workloads named on the command line (a, b), or all of them."""
    parts = set(sys.argv[1:]) or {"a", "b"}
    core = pin_to_one_core()
    print(f"Pinned to core {core}; Python {sys.version.split()[0]}; {ROUNDS} rounds")
    rng = random.Random(20261127)

    print("(a) seed federation policy + IpAddress, allowed/denied alternating")
    cases = federation_requests(10_000, rng)
    compare("identitycenter_federation_policy", federation_policy(), cases)
    if "b" not in parts:
        return

    print("(b) one role, 1,000 statements across 50 services")
    statements = role_statements(1000, rng)
    document = {"Version": "2012-10-17", "Statement": statements}
    cases = role_requests(2_000, rng)
    compare("role-1000", document, cases)

    print("Scaling (Sekisho evaluation, same requests, first N statements of the role):")
    base = None
    for size in (10, 100, 1000):
        doc = {"Version": "2012-10-17", "Statement": statements[:size]}
        policy = compile_role(doc, f"role-{size}")
        policies = [policy]
        sekisho_answers(policy, sekisho_requests(cases))  # warm the action index
        ours_rounds, theirs_rounds = [], []
        for _ in range(ROUNDS):
            requests = sekisho_requests(cases)
            ours_rounds.append(
                timed(
                    lambda policies=policies, requests=requests: run_sekisho(policies, requests),
                    len(requests),
                )
            )
            prepared = pmapper_contexts(cases)
            theirs_rounds.append(
                timed(lambda doc=doc, prepared=prepared: run_pmapper(doc, prepared), len(cases))
            )
        per, theirs = statistics.median(ours_rounds), statistics.median(theirs_rounds)
        base = base or per
        print(
            f"  {size:>5} statements: Sekisho {per * 1e6:6.2f} us/decision "
            f"({per / base:4.2f}x the 10-statement cost)   PMapper {theirs * 1e6:8.1f} us"
        )


if __name__ == "__main__":
    main()
