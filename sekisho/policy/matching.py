"""Matching of Action, Resource and Principal elements, with IAM's wildcards.

IAM User Guide, "IAM JSON policy elements: Action" (service prefix and action name are
case-insensitive, ``*`` and ``?``), "IAM JSON policy elements: Resource" (case-sensitive;
"You can use wildcard characters (* and ?) within any ARN segment (the parts separated by
colons)"), "AWS JSON policy elements: Principal" and "AWS JSON policy elements: NotPrincipal".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from sekisho.policy.context import ContextValue, value_to_string
from sekisho.policy.variables import Literal, Template

# How a Principal entry matched the caller; evaluate() needs it for same-account resource
# policies ("Policy evaluation logic": an Allow naming the user or session is final, one
# naming the role is still limited by boundary and session policy, one naming the account
# delegates to the account's identity-based policies).
MATCH_EVERYONE: Final = "everyone"
MATCH_DIRECT: Final = "direct"
MATCH_ROLE: Final = "role"
MATCH_ACCOUNT: Final = "account"

_CACHE_LIMIT = 512
_ACCOUNT_RE = re.compile(r"\d{12}\Z")
_ARN_RE = re.compile(r"arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)\Z", re.DOTALL)


def glob_regex(parts: Sequence[str | Literal], *, arn: bool) -> str:
    """Translate IAM wildcard text into a regular expression (without anchors).

    With ``arn`` true, ``*`` and ``?`` before the fifth colon stay inside their segment.
    """
    out: list[str] = []
    colons = 0
    for part in parts:
        if isinstance(part, Literal):
            out.append(re.escape(part.text))
            colons += part.text.count(":")
            continue
        for char in part:
            if char == "*":
                out.append("[^:]*" if arn and colons < 5 else ".*")
            elif char == "?":
                out.append("[^:]" if arn and colons < 5 else ".")
            else:
                if char == ":":
                    colons += 1
                out.append(re.escape(char))
    return "".join(out)


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A compiled regular expression for a glob's regex (DOTALL: values may hold newlines)."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(pattern, flags)


@dataclass(frozen=True, slots=True)
class ActionPattern:
    """One Action/NotAction entry such as ``s3:Get*``, compared case-insensitively."""

    text: str
    service: str = field(init=False, compare=False, repr=False)
    exact: str | None = field(init=False, compare=False, repr=False)
    regex: re.Pattern[str] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        lowered = self.text.lower()
        wild = "*" in lowered or "?" in lowered
        object.__setattr__(self, "service", lowered.partition(":")[0] if ":" in lowered else "")
        object.__setattr__(self, "exact", None if wild else lowered)
        regex = (
            compile_pattern(glob_regex((lowered,), arn=False), ignore_case=True) if wild else None
        )
        object.__setattr__(self, "regex", regex)

    @property
    def service_is_wild(self) -> bool:
        """True for ``*`` or a pattern whose service prefix holds a wildcard."""
        return not self.service or "*" in self.service or "?" in self.service

    def matches(self, action: str) -> bool:
        """True when the request's action matches this pattern."""
        if self.regex is None:
            return self.exact == action.lower()
        return self.regex.fullmatch(action) is not None


# A compiled matcher: (value, context values) -> True/False, or None when a policy variable
# in the pattern has no value ("effectively null": equal to and like nothing).
Matcher = Callable[[str, dict[str, ContextValue]], bool | None]

MODE_EXACT: Final = "exact"
MODE_EXACT_IGNORE_CASE: Final = "exact_ic"
MODE_GLOB: Final = "glob"
MODE_ARN: Final = "arn"


def template_matcher(template: Template, mode: str) -> Matcher:
    """Compile a template into a matcher specialised to its shape (the hot path).

    ``mode``: exact (StringEquals), exact_ic (StringEqualsIgnoreCase), glob (StringLike,
    ``*`` and ``?``) or arn (Resource, ArnLike: wildcards stay inside ARN segments).
    """
    wild = mode in (MODE_GLOB, MODE_ARN) and template.has_wildcards
    arn = mode == MODE_ARN
    ignore_case = mode == MODE_EXACT_IGNORE_CASE
    if not template.has_variables:
        if wild:
            full = compile_pattern(glob_regex(template.static_parts(), arn=arn)).fullmatch
            return lambda value, values: full(value) is not None
        text = template.static_text()
        if ignore_case:
            lowered = text.lower()
            return lambda value, values: value.lower() == lowered
        return lambda value, values: value == text
    simple = simple_variable_form(template, mode)
    if simple is not None:
        # The common shape (prefix, one variable, suffix) compares one concatenation.
        prefix, key, default, suffix = simple

        def one_variable(value: str, values: dict[str, ContextValue]) -> bool | None:
            found = values.get(key)
            if found is None or isinstance(found, tuple):
                if default is None:
                    return None
                text = default
            else:
                text = found if type(found) is str else value_to_string(found)
            if ignore_case:
                return value.lower() == (prefix + text + suffix).lower()
            return value == prefix + text + suffix

        return one_variable
    cache: dict[tuple[str | Literal, ...], re.Pattern[str]] = {}

    def general(value: str, values: dict[str, ContextValue]) -> bool | None:
        parts = template.substitute(values)
        if parts is None:
            return None
        if not wild:
            joined = "".join(_text(p) for p in parts)
            if ignore_case:
                return value.lower() == joined.lower()
            return value == joined
        return _match_parts(parts, value, cache, arn=arn)

    return general


def simple_variable_form(template: Template, mode: str) -> tuple[str, str, str | None, str] | None:
    """(prefix, lower-cased key, default, suffix) for a template that is text around one
    variable and compares exactly (no wildcards in this mode); else None."""
    variables = template.variables
    if len(variables) != 1 or (mode in (MODE_GLOB, MODE_ARN) and template.has_wildcards):
        return None
    position = template.parts.index(variables[0])
    prefix = "".join(_text(p) for p in template.parts[:position])
    suffix = "".join(_text(p) for p in template.parts[position + 1 :])
    return prefix, variables[0].lowered, variables[0].default, suffix


def _text(part: object) -> str:
    if isinstance(part, Literal):
        return part.text
    return str(part)


def _match_everything(value: str, values: dict[str, ContextValue]) -> bool:
    return True


def _match_parts(
    parts: tuple[str | Literal, ...],
    value: str,
    cache: dict[tuple[str | Literal, ...], re.Pattern[str]],
    *,
    arn: bool,
) -> bool:
    """Match substituted parts against a value; the regex is cached per substitution."""
    regex = cache.get(parts)
    if regex is None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        regex = cache[parts] = compile_pattern(glob_regex(parts, arn=arn))
    return regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """One Resource/NotResource entry, ARN-segment aware, possibly with policy variables."""

    template: Template
    written: str | None = None
    match: Matcher = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        matcher = (
            _match_everything
            if self.template.text == "*"
            else template_matcher(self.template, MODE_ARN)
        )
        object.__setattr__(self, "match", matcher)

    @property
    def text(self) -> str:
        """The entry as written in the policy (``template`` holds it completed, if it was)."""
        return self.written if self.written is not None else self.template.text

    @property
    def matches_all(self) -> bool:
        """True for the bare ``*``, which also matches non-ARN resources."""
        return self.template.text == "*"

    def matches(self, resource: str, values: dict[str, ContextValue]) -> bool:
        """True when the resource matches; a variable with no value matches nothing."""
        return self.match(resource, values) is True


class ResourceSet:
    """All Resource (or NotResource) entries of a statement, combined into one matcher.

    ``matches`` answers True or False, or None when an entry's policy variable has no value
    (and no default): IAM User Guide, "Variables and tags": "If AWS cannot resolve a
    variable, this might cause the entire statement to be invalid." The strict reading,
    taken here, is that such a statement does not apply at all, whichever element holds the
    variable; an unresolved variable in NotResource must never widen it to every resource.
    """

    __slots__ = ("exact", "full", "matches", "matches_all", "patterns", "star", "templated")

    # True/False, or None when a policy variable in an entry has no value.
    matches: Matcher

    def __init__(self, patterns: tuple[ResourcePattern, ...]) -> None:
        self.patterns = patterns
        star = any(p.matches_all for p in patterns)
        plain = [p for p in patterns if not p.template.has_variables and not p.matches_all]
        exact = frozenset(p.template.static_text() for p in plain if not p.template.has_wildcards)
        wild = [p.template.static_parts() for p in plain if p.template.has_wildcards]
        full = (
            compile_pattern(
                "|".join(f"(?:{glob_regex(parts, arn=True)})" for parts in wild)
            ).fullmatch
            if wild
            else None
        )
        templated = tuple(p.match for p in patterns if p.template.has_variables)
        self.exact, self.full, self.star = exact, full, star
        self.templated = tuple(p for p in patterns if p.template.has_variables)
        # "*" settles the question only when no entry could leave a variable unresolved.
        self.matches_all = star and not templated
        # One closure per shape, so the hot path makes a single call.
        if self.matches_all:
            self.matches = _match_everything
        elif not templated and full is None:
            self.matches = lambda resource, values: resource in exact
        elif not templated and not exact and full is not None:
            self.matches = lambda resource, values: full(resource) is not None
        elif len(templated) == 1 and not exact and full is None and not star:
            # None (a variable with no value) passes through: the statement does not apply.
            self.matches = templated[0]
        else:

            def combined(resource: str, values: dict[str, ContextValue]) -> bool | None:
                found = star or resource in exact
                if not found and full is not None:
                    found = full(resource) is not None
                for match in templated:
                    outcome = match(resource, values)
                    if outcome is None:
                        return None
                    found = found or outcome
                return found

            self.matches = combined


SEKISHO_ARN_PREFIX = "arn:sekisho:"


def expand_sekisho_arn(text: str) -> str:
    """Read Sekisho's own short ARNs (``arn:sekisho:::user/alice``) as six-field ARNs.

    Sekisho names its resources ``arn:sekisho:::user/<name>`` and
    ``arn:sekisho:::application/<name>``: partition ``sekisho`` and no service, region or
    account. That is one field short of the standard six, so it is read with an empty
    service field, the same way in policies and in requests; IAM's completion of short
    ARNs with ``:*`` would otherwise make the two never match.
    """
    if text.startswith(SEKISHO_ARN_PREFIX) and text.count(":") == 4:
        return SEKISHO_ARN_PREFIX + ":" + text[len(SEKISHO_ARN_PREFIX) :]
    return text


def collapse_sekisho_arn(text: str) -> str:
    """The short form of an expanded Sekisho ARN, for explanations (inverse of the above)."""
    if text.startswith(SEKISHO_ARN_PREFIX + ":") and text.count(":") == 5:
        return SEKISHO_ARN_PREFIX + text[len(SEKISHO_ARN_PREFIX) + 1 :]
    return text


def parse_arn(text: str) -> tuple[str, str, str, str, str] | None:
    """Split an ARN into partition, service, region, account and resource, or None."""
    match = _ARN_RE.match(text)
    if match is None:
        return None
    partition, service, region, account, resource = match.groups()
    return partition, service, region, account, resource


def account_of(principal: str | None) -> str | None:
    """The 12-digit account of an ARN or bare account id, else None."""
    if principal is None:
        return None
    if _ACCOUNT_RE.match(principal):
        return principal
    parts = parse_arn(principal)
    return parts[3] or None if parts is not None else None


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """The chain of identities a caller presents: account, role (for sessions), itself."""

    kind: str  # "aws", "federated", "service", "canonical", "anonymous"
    arn: str | None
    account: str | None
    role_name: str | None


def identify(principal: str | None, principal_account: str | None) -> CallerIdentity:
    """Classify a request principal the way a Principal element names it."""
    if principal is None:
        return CallerIdentity("anonymous", None, principal_account, None)
    if _ACCOUNT_RE.match(principal):
        return CallerIdentity("aws", None, principal, None)
    parts = parse_arn(principal)
    if parts is not None:
        _partition, service, _region, account, resource = parts
        if service == "iam" and resource.startswith(("saml-provider/", "oidc-provider/")):
            return CallerIdentity("federated", principal, principal_account, None)
        role = None
        if service == "sts" and resource.startswith("assumed-role/"):
            role = resource.split("/")[1] if resource.count("/") >= 2 else None
        arn = None if service == "iam" and resource == "root" else principal
        return CallerIdentity("aws", arn, principal_account or account or None, role)
    if principal.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return CallerIdentity("service", principal, principal_account, None)
    if re.fullmatch(r"[0-9a-f]{64}", principal):
        return CallerIdentity("canonical", principal, principal_account, None)
    # Web identity providers (accounts.google.com, cognito-identity.amazonaws.com, ...).
    return CallerIdentity("federated", principal, principal_account, None)


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A Principal or NotPrincipal element: ``*`` or lists per principal type."""

    everyone: bool = False
    aws: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()
    _accounts: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    _arns: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    _roles: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        everyone: bool = False,
        aws: tuple[str, ...] = (),
        federated: tuple[str, ...] = (),
        service: tuple[str, ...] = (),
        canonical_user: tuple[str, ...] = (),
    ) -> PrincipalSpec:
        """Index the entries: accounts (id or :root ARN), role ARNs and other ARNs."""
        accounts: set[str] = set()
        arns: set[str] = set()
        roles: set[tuple[str, str]] = set()
        for entry in aws:
            if entry == "*":
                everyone = True
                continue
            if _ACCOUNT_RE.match(entry):
                accounts.add(entry)
                continue
            parts = parse_arn(entry)
            if parts is not None and parts[1] == "iam" and parts[4] == "root":
                # "The account ARN and the shortened account ID behave the same way."
                accounts.add(parts[3])
                continue
            arns.add(entry)
            if parts is not None and parts[1] == "iam" and parts[4].startswith("role/"):
                # A role ARN (with any path) names the role's sessions too.
                roles.add((parts[3], parts[4].rsplit("/", 1)[-1]))
        return cls(
            everyone,
            aws,
            federated,
            service,
            canonical_user,
            frozenset(accounts),
            frozenset(arns),
            frozenset(roles),
        )

    def match(self, principal: str | None, principal_account: str | None) -> str | None:
        """How a Principal element matches the caller (MATCH_*), or None when it does not."""
        if self.everyone:
            return MATCH_EVERYONE
        caller = identify(principal, principal_account)
        if caller.kind == "aws":
            if caller.arn is not None and caller.arn in self._arns:
                return MATCH_DIRECT
            if caller.role_name is not None and (caller.account, caller.role_name) in self._roles:
                return MATCH_ROLE
            if caller.account is not None and caller.account in self._accounts:
                return MATCH_ACCOUNT
            return None
        if caller.kind == "federated":
            return MATCH_DIRECT if principal in self.federated else None
        if caller.kind == "service":
            lowered = (principal or "").lower()
            return MATCH_DIRECT if any(s.lower() == lowered for s in self.service) else None
        if caller.kind == "canonical":
            return MATCH_DIRECT if principal in self.canonical_user else None
        return None

    def excludes(self, principal: str | None, principal_account: str | None) -> bool:
        """True when a NotPrincipal element lists every identity in the caller's chain.

        "AWS might validate the account first, then the role, and then the assumed-role
        user", so (strict reading) a caller escapes a NotPrincipal only when its account,
        its role (for a session) and its own ARN are all listed.
        """
        if self.everyone:
            return True
        caller = identify(principal, principal_account)
        if caller.kind != "aws":
            return self.match(principal, principal_account) is not None
        if caller.account is None or caller.account not in self._accounts:
            return False
        if caller.role_name is not None and (caller.account, caller.role_name) not in self._roles:
            return False
        return caller.arn is None or caller.arn in self._arns

    def describe(self) -> str:
        """The element in words, for traces."""
        if self.everyone:
            return "*"
        named = [
            *(f"AWS {e}" for e in self.aws),
            *(f"Federated {e}" for e in self.federated),
            *(f"Service {e}" for e in self.service),
            *(f"CanonicalUser {e}" for e in self.canonical_user),
        ]
        return ", ".join(named)
