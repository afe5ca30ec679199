"""Compile statements into Python functions: one check per statement, one decision per
policy set and action.

Why: evaluation cost in CPython is mostly calls. A statement checked through closures makes
one call per element (resource matcher, each condition, the family's matcher); the
generated code inlines the common shapes (exact and single-variable resources, IPv4 CIDR
and StringEquals conditions) and calls the compiled closures for everything else, so both
paths share the same matchers and the same semantics. ``compile_decider`` goes one step
further: for one action it inlines every statement of a set of identity policies that
could apply (Deny first, then Allow) into a single function that returns the Decision, so
a request makes one call where it made one per policy and statement. Only generated
identifiers go into the source: every value from a policy is passed in the namespace,
never as text.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sekisho.policy.conditions import Condition
from sekisho.policy.context import Request, value_to_string
from sekisho.policy.matching import (
    MODE_ARN,
    PrincipalSpec,
    ResourcePattern,
    ResourceSet,
    simple_variable_form,
)

Check = Callable[[Request], "bool | None"]


class CheckedStatement(Protocol):
    """What compile_check reads of a statement (document.Statement provides it)."""

    @property
    def label(self) -> str:
        """How a trace names the statement."""
        ...

    @property
    def resource(self) -> tuple[ResourcePattern, ...] | None:
        """Resource patterns, or None."""
        ...

    @property
    def not_resource(self) -> tuple[ResourcePattern, ...] | None:
        """NotResource patterns, or None."""
        ...

    @property
    def principal(self) -> PrincipalSpec | None:
        """Principal, or None."""
        ...

    @property
    def not_principal(self) -> PrincipalSpec | None:
        """NotPrincipal, or None."""
        ...

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """Every condition of the statement."""
        ...


# Parsed IPv4 source addresses (-1: not an address), bounded; a pure function's memo.
IPV4_CACHE: dict[str, int] = {}
IPV4_CACHE_LIMIT = 65536


class _Source:
    """Lines of a generated function and the namespace of its constants."""

    def __init__(self, header: str) -> None:
        self.lines = [
            header,
            "    values = request.context._values",
            "    resource = request.resource",
        ]
        self.indent = "    "
        self.namespace: dict[str, object] = {
            "_str": value_to_string,
            "_pton": socket.inet_pton,
            "_from_bytes": int.from_bytes,
            "_AF_INET": int(socket.AF_INET),
            "_tuple": tuple,
            "_OSError": OSError,
            "_ValueError": ValueError,
            "_ipv4": IPV4_CACHE,
            "_IPV4_LIMIT": IPV4_CACHE_LIMIT,
        }

    def const(self, value: object) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def add(self, *lines: str) -> None:
        self.lines.extend(self.indent + line for line in lines)

    def build(self, name: str, label: str) -> Callable[..., object]:
        code = compile("\n".join(self.lines) + "\n", label, "exec")
        exec(code, self.namespace)  # noqa: S102 (generated identifiers only; values via namespace)
        built = self.namespace[name]
        assert callable(built)
        return built


def compile_check(statement: CheckedStatement) -> Check:
    """Return check(request) -> truthy when resource, principal and conditions all match."""
    source = _Source("def check(request):")
    _emit_check(source, statement, "return False")
    source.add("return True")
    check = source.build("check", f"<statement {statement.label}>")
    return check  # type: ignore[return-value]


def _emit_check(source: _Source, statement: CheckedStatement, fail: str) -> None:
    """Lines that run ``fail`` unless resource, principal and conditions all match."""
    if statement.resource is not None:
        resources = ResourceSet(statement.resource)
        if not resources.matches_all:
            _resource(source, resources, fail)
    if statement.not_resource is not None:
        excluded = ResourceSet(statement.not_resource)
        name = source.const(excluded.matches)
        # None (a variable without a value) makes the statement inapplicable, like True.
        source.add(f"if {name}(resource, values) is not False: {fail}")
    if statement.principal is not None:
        name = source.const(statement.principal.match)
        source.add(f"if {name}(request.principal, request.principal_account) is None:")
        source.add(f"    {fail}")
    if statement.not_principal is not None:
        name = source.const(statement.not_principal.excludes)
        source.add(f"if {name}(request.principal, request.principal_account): {fail}")
    for condition in statement.conditions:
        test = source.const(condition.test)
        form = condition.form
        key = source.const(condition.lowered_key)
        negated = source.const(condition.negated)
        if form is not None and form[0] == "ip4":
            network, mask = source.const(form[1]), source.const(form[2])
            # Source addresses repeat (offices, NAT egress): parsed ones are memoised.
            source.add(
                f"v = values.get({key})",
                "if v.__class__ is str and ':' not in v:",
                "    n = _ipv4.get(v)",
                "    if n is None:",
                "        try:",
                "            n = _from_bytes(_pton(_AF_INET, v), 'big')",
                "        except (_OSError, _ValueError):",
                "            n = -1",
                "        if len(_ipv4) >= _IPV4_LIMIT:",
                "            _ipv4.clear()",
                "        _ipv4[v] = n",
                # IpAddress fails outside the block (or for no address); NotIpAddress inside.
                f"    if n >= 0 and n & {mask} == {network}: {fail}"
                if condition.negated
                else f"    if n < 0 or n & {mask} != {network}: {fail}",
                f"elif not {test}(request.context): {fail}",
            )
        elif form is not None and form[0] == "in":
            allowed = source.const(form[1])
            source.add(
                f"v = values.get({key})",
                "if v.__class__ is str:",
                f"    if (v in {allowed}) == {negated}: {fail}",
                f"elif not {test}(request.context): {fail}",
            )
        else:
            source.add(f"if not {test}(request.context): {fail}")


def _resource(source: _Source, resources: ResourceSet, fail: str) -> None:
    exact, full, templated = resources.exact, resources.full, resources.templated
    if not templated and full is None:
        if len(exact) == 1:
            (only,) = exact
            source.add(f"if resource != {source.const(only)}: {fail}")
        else:
            source.add(f"if resource not in {source.const(exact)}: {fail}")
        return
    if not templated and not exact and full is not None:
        source.add(f"if {source.const(full)}(resource) is None: {fail}")
        return
    if len(templated) == 1 and not exact and full is None and not resources.star:
        simple = simple_variable_form(templated[0].template, MODE_ARN)
        if simple is not None:
            prefix, key, default, suffix = simple
            missing = fail if default is None else f"v = {source.const(default)}"
            # One concatenation where the variable ends (or starts) the ARN, as usual.
            expected = " + ".join(
                part
                for part in (
                    source.const(prefix) if prefix else "",
                    "v",
                    source.const(suffix) if suffix else "",
                )
                if part
            )
            # A string value (the usual case) is compared at once; others first become one.
            source.add(
                f"v = values.get({source.const(key)})",
                "if v.__class__ is str:",
                f"    if resource != {expected}: {fail}",
                "else:",
                "    if v is None or v.__class__ is _tuple:",
                f"        {missing}",
                "    else:",
                "        v = _str(v)",
                f"    if resource != {expected}: {fail}",
            )
            return
    source.add(f"if not {source.const(resources.matches)}(resource, values): {fail}")


# --- one decision per policy set and action ---------------------------------------------


class DecidedStatement(CheckedStatement, Protocol):
    """What compile_decider reads of a statement besides its checks."""

    @property
    def effect(self) -> str:
        """Allow or Deny."""
        ...

    @property
    def matched(self) -> object:
        """The MatchedStatement a Decision names."""
        ...


@dataclass(frozen=True)
class Outcomes:
    """How a decider builds its answers: the Decision class and the stage names."""

    decision: Callable[..., object]
    deny: str
    allow: str
    root: str
    identity: str
    federated: str
    no_permission: str
    is_root: Callable[[str], bool]
    expand: Callable[[Request], Request]
    sekisho_prefix: str


def _may_name(pattern: str, prefix: str) -> bool:
    """Whether a Resource pattern could match an ARN beginning with ``prefix`` in one form
    and not the other: "*" matches both forms, a pattern whose literal start names another
    partition or service matches neither."""
    if pattern == "*":
        return False
    literal = re.split(r"[*?]|\$\{", pattern, maxsplit=1)[0]
    return literal.startswith(prefix) or prefix.startswith(literal)


def compile_decider(
    action: str,
    denies: Sequence[DecidedStatement],
    allows: Sequence[DecidedStatement],
    policies: tuple[object, ...],
    outcomes: Outcomes,
    *,
    no_permission: bool = False,
) -> Callable[[Request], object]:
    """One function deciding ``action`` for a set of identity policies alone.

    ``denies`` and ``allows`` are the statements whose Action matches, in policy order. The
    function returns what evaluate() returns for identity policies only: ExplicitDeny naming
    every applicable Deny; else Allow by the first applicable Allow (ImplicitDeny for a
    federated user session, which needs a session policy); else Allow for the account root
    user; else ImplicitDeny.
    """
    source = _Source("def decide(request):")
    ns = source.namespace
    ns.update(_Decision=outcomes.decision, _policies=policies, _is_root=outcomes.is_root)

    # (stage, identity policies), the same for every request: Decision takes the request
    # beside it, and Basis's defaults fill in the absent layers.
    def inputs(stage: str) -> str:
        return source.const((stage, policies))

    if no_permission:
        source.lines[1:] = []
        source.add(f"return _Decision('Allow', (), {inputs(outcomes.no_permission)}, request)")
        return source.build("decide", f"<decision {action}>")
    # Sekisho's own short ARNs are compared in their six-field form, as evaluate() does;
    # where no Resource/NotResource could tell the two forms apart, the test is left out.
    if any(
        _may_name(pattern.template.text, outcomes.sekisho_prefix)
        for statement in (*denies, *allows)
        for patterns in (statement.resource, statement.not_resource)
        for pattern in patterns or ()
    ):
        prefix = source.const(outcomes.sekisho_prefix)
        source.lines[1:1] = [
            f"    if request.resource.startswith({prefix}):",
            f"        request = {source.const(outcomes.expand)}(request)",
        ]
    if denies:
        source.add("denied = None")
        for statement in denies:
            source.add("while True:")
            source.indent = "        "
            _emit_check(source, statement, "break")
            source.add(
                "if denied is None:",
                "    denied = []",
                f"denied.append({source.const(statement.matched)})",
                "break",
            )
            source.indent = "    "
        source.add(
            "if denied is not None:",
            f"    return _Decision('ExplicitDeny', _tuple(denied), {inputs(outcomes.deny)}, "
            "request)",
        )
    federated, allow = inputs(outcomes.federated), inputs(outcomes.allow)
    for statement in allows:
        source.add("while True:")
        source.indent = "        "
        _emit_check(source, statement, "break")
        matched = source.const((statement.matched,))
        source.add(
            "principal = request.principal",
            "if principal is not None and ':federated-user/' in principal:",
            f"    return _Decision('ImplicitDeny', (), {federated}, request)",
            f"return _Decision('Allow', {matched}, {allow}, request)",
        )
        source.indent = "    "
    root, identity = inputs(outcomes.root), inputs(outcomes.identity)
    # Only an account id or an ARN ending in :root can be the root user: its last
    # character is a digit or "t", which rules out most callers with one set lookup.
    ends = source.const(frozenset("0123456789t"))
    source.add(
        "principal = request.principal",
        f"if principal and principal[-1] in {ends} and _is_root(principal):",
        f"    return _Decision('Allow', (), {root}, request)",
        f"return _Decision('ImplicitDeny', (), {identity}, request)",
    )
    return source.build("decide", f"<decision {action}>")
