"""The IAM-compatible policy language: parse, validate, compile, evaluate and explain.

Pure Python (no Django): data in, decision out. This package imports nothing from other
contexts; the IdP's stored policies and its SignIn / LaunchApplication decisions live in
``sekisho.access``, and the emulated AWS side uses the same engine from ``sekisho.emulator``.
"""

from sekisho.policy.context import Request, RequestContext
from sekisho.policy.document import (
    MatchedStatement,
    Policy,
    PolicyKind,
    Statement,
    combine_policies,
    parse_policy,
)
from sekisho.policy.errors import PolicyError, Problem
from sekisho.policy.evaluate import evaluate, evaluate_trust
from sekisho.policy.explain import Decision, StatementTrace

__all__ = [
    "Decision",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "Problem",
    "Request",
    "RequestContext",
    "Statement",
    "StatementTrace",
    "combine_policies",
    "evaluate",
    "evaluate_trust",
    "parse_policy",
]
