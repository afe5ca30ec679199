"""The IAM-compatible policy language: parse, validate, compile, evaluate and explain.

Pure Python (no Django): data in, decision out. The Django app parts of this package
(``apps``, ``models``, ``idp``) are imported only by the web layer, never from here.
"""

from sekisho.policy.context import Request, RequestContext
from sekisho.policy.document import (
    MatchedStatement,
    Policy,
    PolicyKind,
    Statement,
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
    "evaluate",
    "evaluate_trust",
    "parse_policy",
]
