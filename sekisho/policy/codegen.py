"""Compile a statement's resource, principal and condition checks into one Python function.

Why: evaluation cost in CPython is mostly calls. A statement checked through closures makes
one call per element (resource matcher, each condition, the family's matcher); the
generated function inlines the common shapes (exact and single-variable resources, IPv4
CIDR and StringEquals conditions) and calls the compiled closures for everything else, so
both paths share the same matchers and the same semantics. Only generated identifiers go
into the source: every value from a policy is passed in the namespace, never as text.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
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
    """Lines of the generated function and the namespace of its constants."""

    def __init__(self) -> None:
        self.lines = ["def check(request):", "    context = request.context"]
        self.lines.append("    values = context._values")
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
        self.lines.extend("    " + line for line in lines)


def compile_check(statement: CheckedStatement) -> Check:
    """Return check(request) -> truthy when resource, principal and conditions all match."""
    source = _Source()
    if statement.resource is not None:
        resources = ResourceSet(statement.resource)
        if not resources.matches_all:
            _resource(source, resources)
    if statement.not_resource is not None:
        excluded = ResourceSet(statement.not_resource)
        name = source.const(excluded.matches)
        # None (a variable without a value) makes the statement inapplicable, like True.
        source.add(f"if {name}(request.resource, values) is not False: return False")
    if statement.principal is not None:
        name = source.const(statement.principal.match)
        source.add(f"if {name}(request.principal, request.principal_account) is None:")
        source.add("    return False")
    if statement.not_principal is not None:
        name = source.const(statement.not_principal.excludes)
        source.add(f"if {name}(request.principal, request.principal_account): return False")
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
                f"    if (n >= 0 and n & {mask} == {network}) == {negated}: return False",
                f"elif not {test}(context): return False",
            )
        elif form is not None and form[0] == "in":
            allowed = source.const(form[1])
            source.add(
                f"v = values.get({key})",
                "if v.__class__ is str:",
                f"    if (v in {allowed}) == {negated}: return False",
                f"elif not {test}(context): return False",
            )
        else:
            source.add(f"if not {test}(context): return False")
    source.add("return True")
    code = compile("\n".join(source.lines) + "\n", f"<statement {statement.label}>", "exec")
    exec(code, source.namespace)  # noqa: S102 (generated identifiers only; values via namespace)
    check = source.namespace["check"]
    assert callable(check)
    return check


def _resource(source: _Source, resources: ResourceSet) -> None:
    exact, full, templated = resources.exact, resources.full, resources.templated
    if not templated and full is None:
        if len(exact) == 1:
            (only,) = exact
            source.add(f"if request.resource != {source.const(only)}: return False")
        else:
            source.add(f"if request.resource not in {source.const(exact)}: return False")
        return
    if not templated and not exact and full is not None:
        source.add(f"if {source.const(full)}(request.resource) is None: return False")
        return
    if len(templated) == 1 and not exact and full is None and not resources.star:
        simple = simple_variable_form(templated[0].template, MODE_ARN)
        if simple is not None:
            prefix, key, default, suffix = simple
            missing = "return False" if default is None else f"v = {source.const(default)}"
            source.add(
                f"v = values.get({source.const(key)})",
                "if v is None or v.__class__ is _tuple:",
                f"    {missing}",
                "elif v.__class__ is not str:",
                "    v = _str(v)",
                f"if request.resource != {source.const(prefix)} + v + {source.const(suffix)}:",
                "    return False",
            )
            return
    source.add(f"if not {source.const(resources.matches)}(request.resource, values): return False")
