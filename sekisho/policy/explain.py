"""Decisions, and why: the per-statement trace and the plain-English explanation.

The fast path in evaluate() computes only booleans; the trace and the explanation are
computed on first access, from the same matching functions, with reasons down to the
condition key, operator and values (style: "the reasons go to the audit log and to the
'why denied' answer").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sekisho.policy.context import Request
from sekisho.policy.document import MatchedStatement, Policy, Statement
from sekisho.policy.matching import collapse_sekisho_arn

Verdict = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]

# Why evaluate() stopped where it did; the explanation is written from it.
STAGE_DENY = "deny"
STAGE_SCP = "scp"
STAGE_RESOURCE = "resource"
STAGE_IDENTITY = "identity"
STAGE_BOUNDARY = "boundary"
STAGE_SESSION = "session"
STAGE_FEDERATED = "federated"
STAGE_ROOT = "root"
STAGE_ALLOW = "allow"
STAGE_RESOURCE_ALLOW = "resource-allow"
STAGE_TRUST = "trust"
STAGE_NO_PERMISSION = "no-permission"


@dataclass(frozen=True, slots=True)
class StatementTrace:
    """One statement considered: did it apply, and why (or why not)."""

    policy: str
    sid: str | None
    index: int
    effect: str
    applied: bool
    reasons: tuple[str, ...]


class Basis:
    """What a decision was computed from, kept so the trace can be computed on demand."""

    __slots__ = ("boundary", "identity", "request", "resource", "scps", "session", "stage")

    def __init__(
        self,
        stage: str,
        request: Request,
        identity: Sequence[Policy] = (),
        resource: Policy | None = None,
        boundary: Policy | None = None,
        session: Policy | None = None,
        scps: Sequence[Policy] = (),
    ) -> None:
        self.stage = stage
        self.request = request
        self.identity = identity
        self.resource = resource
        self.boundary = boundary
        self.session = session
        self.scps = scps

    def layers(self) -> list[tuple[str, Sequence[Policy]]]:
        """The policies in evaluation order, each with the role it plays."""
        if self.stage == STAGE_TRUST:
            return [("trust policy", self.identity)]
        return [
            ("service control policy", self.scps),
            ("resource policy", () if self.resource is None else (self.resource,)),
            ("identity-based policy", self.identity),
            ("permissions boundary", () if self.boundary is None else (self.boundary,)),
            ("session policy", () if self.session is None else (self.session,)),
        ]


Details = list[tuple[StatementTrace, bool, list[tuple[bool, str]], str]]


class Decision:
    """The outcome of an evaluation: Allow, ExplicitDeny or ImplicitDeny, and why.

    ``matched`` holds the decisive statements (the denying ones, or every allowing one the
    decision needed); ``trace`` and ``explanation`` are computed on first access. Immutable:
    every public attribute is read-only. Not a dataclass because one is built per request
    on the hot path and a frozen dataclass costs several times more to construct.
    """

    __slots__ = ("_decision", "_details", "_explanation", "_inputs", "_matched", "_request")

    _details: Details
    _explanation: str

    def __init__(
        self,
        decision: Verdict,
        matched: tuple[MatchedStatement, ...],
        inputs: tuple[Any, ...],
        request: Request | None = None,
    ) -> None:
        self._decision = decision
        self._matched = matched
        # (stage, request, identity, resource, boundary, session, scps), the trailing
        # absent layers possibly left out: a plain tuple, so the hot path allocates little;
        # basis() wraps it (Basis's defaults fill the rest) when a trace is asked for. With
        # ``request`` given, ``inputs`` leaves it out: a compiled decision passes the same
        # (stage, identity) tuple for every request.
        self._inputs = inputs
        self._request = request

    @property
    def decision(self) -> Verdict:
        """Allow, ExplicitDeny or ImplicitDeny."""
        return self._decision

    @property
    def matched(self) -> tuple[MatchedStatement, ...]:
        """The decisive statements, in evaluation order."""
        return self._matched

    @property
    def basis(self) -> Basis:
        """What the decision was computed from (request, policies, stopping stage)."""
        if self._request is not None:
            stage, *rest = self._inputs
            return Basis(stage, self._request, *rest)
        return Basis(*self._inputs)

    @property
    def allowed(self) -> bool:
        """True only for Allow."""
        return self._decision == "Allow"

    def _trace_details(self) -> Details:
        try:
            return self._details
        except AttributeError:
            self._details = build_trace(self.basis)
            return self._details

    @property
    def trace(self) -> tuple[StatementTrace, ...]:
        """Every statement of every policy given, in evaluation order, with its reasons."""
        return tuple(item[0] for item in self._trace_details())

    @property
    def explanation(self) -> str:
        """A plain-English paragraph: the decision, the deciding statements, the near misses."""
        try:
            return self._explanation
        except AttributeError:
            self._explanation = explain(self, self._trace_details())
            return self._explanation

    def to_json(self) -> dict[str, Any]:
        """The CLI's batch line: decision, matched statements and the explanation."""
        return {
            "decision": self._decision,
            "matched": [
                {"policy": m.policy, "sid": m.sid, "effect": m.effect} for m in self._matched
            ],
            "explanation": self.explanation,
        }

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Decision)
            and self._decision == other._decision
            and self._matched == other._matched
        )

    def __hash__(self) -> int:
        return hash((self._decision, self._matched))

    def __repr__(self) -> str:
        return f"Decision(decision={self._decision!r}, matched={self._matched!r})"


def explain_statement(
    statement: Statement, request: Request, *, check_resource: bool = True
) -> tuple[bool, bool, list[tuple[bool, str]]]:
    """Evaluate one statement the slow way: (applied, action matched, [(ok, reason)])."""
    reasons: list[tuple[bool, str]] = []
    action = request.action
    if statement.action is not None:
        hits = [p.text for p in statement.action if p.matches(action)]
        action_ok = bool(hits)
        if hits:
            reasons.append((True, f"action {action} matches {hits[0]}"))
        else:
            listed = ", ".join(p.text for p in statement.action)
            reasons.append((False, f"action {action} does not match {listed}"))
    else:
        assert statement.not_action is not None
        hits = [p.text for p in statement.not_action if p.matches(action)]
        action_ok = not hits
        if hits:
            reasons.append((False, f"action {action} is excluded by NotAction {hits[0]}"))
        else:
            listed = ", ".join(p.text for p in statement.not_action)
            reasons.append((True, f"action {action} is not listed in NotAction {listed}"))
    values = request.context._values
    resource = request.resource
    shown = collapse_sekisho_arn(resource)  # as the administrator wrote it
    if check_resource and statement.resource is not None:
        hits = [p.text for p in statement.resource if p.matches(resource, values)]
        unresolved = _unresolved(statement.resource, values, "Resource")
        if unresolved:
            reasons.append((False, unresolved))
        elif hits:
            reasons.append((True, f"resource {shown} matches {hits[0]}"))
        else:
            miss = _resource_miss(statement.resource, resource, values, "")
            reasons.append((False, miss.replace(resource, shown)))
    if check_resource and statement.not_resource is not None:
        hits = [p.text for p in statement.not_resource if p.matches(resource, values)]
        unresolved = _unresolved(statement.not_resource, values, "NotResource")
        if unresolved:
            reasons.append((False, unresolved))
        elif hits:
            reasons.append((False, f"resource {shown} is excluded by NotResource {hits[0]}"))
        else:
            miss = _resource_miss(statement.not_resource, resource, values, "NotResource ")
            miss = miss.replace(resource, shown)
            reasons.append((True, miss.replace("does not match", "is not listed in", 1)))
    who = request.principal or "anonymous"
    if statement.principal is not None:
        how = statement.principal.match(request.principal, request.principal_account)
        described = statement.principal.describe()
        if how is None:
            reasons.append((False, f"principal {who} is not named in Principal {described}"))
        else:
            reasons.append((True, f"principal {who} is named in Principal {described} ({how})"))
    if statement.not_principal is not None:
        excluded = statement.not_principal.excludes(request.principal, request.principal_account)
        described = statement.not_principal.describe()
        if excluded:
            reasons.append((False, f"principal {who} is listed in NotPrincipal {described}"))
        else:
            reasons.append((True, f"principal {who} is not listed in NotPrincipal {described}"))
    for condition in statement.conditions:
        ok, text = condition.explain(request.context)
        reasons.append((ok, text))
    applied = all(ok for ok, _ in reasons)
    return applied, action_ok, reasons


def _unresolved(patterns: Sequence[Any], values: Any, element: str) -> str:
    """Why a statement does not apply when a variable in Resource/NotResource has no value."""
    if len(patterns) == 1 and element == "Resource":
        return ""  # one entry: "matches nothing" (below) says the same, more precisely
    for pattern in patterns:
        missing = pattern.template.missing(values)
        if missing:
            names = ", ".join(v.text for v in missing)
            return (
                f"{element} {pattern.text} uses {names}, which has no value in this request, "
                "so the statement does not apply"
            )
    return ""


def _resource_miss(patterns: Sequence[Any], resource: str, values: Any, prefix: str) -> str:
    empty = []
    for pattern in patterns:
        missing = pattern.template.missing(values)
        if missing:
            names = ", ".join(v.text for v in missing)
            empty.append(f"{pattern.text} ({names} has no value, so it matches nothing)")
    shown = [
        # Sekisho's short ARNs are expanded silently; IAM's ":*" completion is worth saying.
        p.text
        if collapse_sekisho_arn(p.template.text) == p.text
        else f"{p.text} (read as {p.template.text})"
        for p in patterns
    ]
    listed = "; ".join(empty) if empty else ", ".join(shown)
    return f"resource {resource} does not match {prefix}{listed}"


def build_trace(basis: Basis) -> Details:
    """Explain every statement of every policy in the basis, in evaluation order."""
    out: Details = []
    check_resource = basis.stage != STAGE_TRUST
    for role, policies in basis.layers():
        for policy in policies:
            for statement in policy.statements:
                applied, action_ok, reasons = explain_statement(
                    statement, basis.request, check_resource=check_resource
                )
                trace = StatementTrace(
                    policy=policy.name,
                    sid=statement.sid,
                    index=statement.index,
                    effect=statement.effect,
                    applied=applied,
                    reasons=tuple(text for _, text in reasons),
                )
                out.append((trace, action_ok, reasons, role))
    return out


def _name(item: MatchedStatement | StatementTrace) -> str:
    label = f"statement {item.sid}" if item.sid else f"statement #{item.index}"
    return f"{label} of policy {item.policy!r}" if item.policy else label


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _near_misses(
    details: Sequence[tuple[StatementTrace, bool, list[tuple[bool, str]], str]], role: str
) -> list[str]:
    notes: list[str] = []
    for trace, action_ok, reasons, item_role in details:
        if item_role != role or trace.effect != "Allow" or trace.applied or not action_ok:
            continue
        failing = [text for ok, text in reasons if not ok]
        name = _name(trace)
        notes.append(f"{name[0].upper()}{name[1:]} covers the action but {'; '.join(failing)}.")
        if len(notes) == 3:
            break
    return notes


_LAYER_OF_STAGE = {
    STAGE_SCP: "service control policy",
    STAGE_IDENTITY: "identity-based policy",
    STAGE_BOUNDARY: "permissions boundary",
    STAGE_SESSION: "session policy",
    STAGE_RESOURCE: "resource policy",
    STAGE_TRUST: "trust policy",
}


def explain(
    decision: Decision,
    details: Sequence[tuple[StatementTrace, bool, list[tuple[bool, str]], str]],
) -> str:
    """Write the explanation paragraph of a decision."""
    basis = decision.basis
    request = basis.request
    what = f"{request.action} on {collapse_sekisho_arn(request.resource)}"
    who = request.principal or "the caller"
    if decision.decision == "ExplicitDeny":
        first = decision.matched[0]
        holding = [
            text
            for trace, _, reasons, _ in details
            if trace.applied and (trace.policy, trace.index) == (first.policy, first.index)
            for ok, text in reasons
            if text.startswith("condition ")
        ]
        because = f" ({'; '.join(holding)})" if holding else ""
        names = _join([_name(m) for m in decision.matched])
        return (
            f"ExplicitDeny: {names} denies {what}{because}. An explicit Deny in any policy "
            "overrides every Allow."
        )
    if decision.decision == "Allow":
        names = _join([_name(m) for m in decision.matched])
        if basis.stage == STAGE_ROOT:
            return (
                f"Allow: {who} is the account root user, which has full access unless a policy "
                f"denies it explicitly; no statement denies {what}."
            )
        if basis.stage == STAGE_TRUST:
            return f"Allow: {names} allows {who} to {what}, and no statement denies it."
        if basis.stage == STAGE_NO_PERMISSION:
            return (
                f"Allow: {request.action} needs no permission; AWS answers it for any "
                "authenticated caller, even when a policy denies it explicitly."
            )
        extra = ""
        if basis.stage == STAGE_RESOURCE_ALLOW:
            extra = (
                " The resource policy grants it to the caller directly (by its own ARN, or to "
                "everyone), so an implicit deny in the identity-based policies, boundary or "
                "session policy does not matter."
            )
        return f"Allow: {names} allows {what}, and no statement denies it.{extra}"
    stage = basis.stage
    if stage == STAGE_FEDERATED:
        return (
            f"ImplicitDeny: {who} is a federated user session (GetFederationToken) and no "
            "session policy was passed; such a session has only the permissions a session "
            "policy allows."
        )
    layer = _LAYER_OF_STAGE.get(stage, "identity-based policy")
    layer_policies = [p for role, ps in basis.layers() if role == layer for p in ps]
    if not layer_policies:
        head = f"ImplicitDeny: no {layer} is given, so nothing allows {what}."
    else:
        names = _join([repr(p.name) if p.name else "(unnamed)" for p in layer_policies])
        verb = f"allows {who} to" if stage in (STAGE_TRUST, STAGE_RESOURCE) else "allows"
        head = (
            f"ImplicitDeny: no statement in the {layer} {names} {verb} {what}; "
            "a request is denied unless a policy allows it."
        )
    misses = _near_misses(details, layer)
    if not misses and layer_policies:
        misses = [f"No statement's Action matches {request.action}."]
    return " ".join([head, *misses])
