"""Parse, validate and compile an IAM policy document into a Policy.

IAM User Guide, "Grammar of the IAM JSON policy language" and "IAM JSON policy elements
reference" (elements, Version, Sid, Effect, Principal, Action, Resource, Condition), "IAM and
AWS STS quotas" (sizes, "IAM does not count white space"; only tab, LF, CR and
U+0020-U+00FF). Every problem is collected and raised once, as a PolicyError.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from sekisho.policy.codegen import compile_check
from sekisho.policy.conditions import Condition, compile_condition, parse_operator
from sekisho.policy.context import Request
from sekisho.policy.errors import PolicyError, Problem
from sekisho.policy.index import ActionIndex
from sekisho.policy.matching import (
    ActionPattern,
    PrincipalSpec,
    ResourcePattern,
    expand_sekisho_arn,
)
from sekisho.policy.variables import parse_template

VERSION_2012: str = "2012-10-17"
VERSION_2008: str = "2008-10-17"
_MAX_DEPTH = 32

_TOP_LEVEL = ("Version", "Id", "Statement")
_STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_PRINCIPAL_TYPES = ("AWS", "Federated", "Service", "CanonicalUser")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SID_RE = re.compile(r"[A-Za-z0-9]*\Z")
_ACTION_RE = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9_*?-]+\Z")
_CONDITION_KEY_RE = re.compile(r"[A-Za-z0-9.-]+:\S.*\Z", re.DOTALL)
_ACCOUNT_RE = re.compile(r"\d{12}\Z")
_PRINCIPAL_ARN_RE = re.compile(r"arn:[a-z-]+:(iam|sts)::\d{12}:\S+\Z")
_UNIQUE_ID_RE = re.compile(r"A[A-Z0-9]{15,127}\Z")


class PolicyKind(Enum):
    """Where a policy is used; decides its size limit and which elements it may hold."""

    IDENTITY = "identity"
    INLINE = "inline"
    RESOURCE = "resource"
    TRUST = "trust"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"

    @property
    def size_limit(self) -> int | None:
        """Characters allowed, whitespace not counted ("IAM and AWS STS quotas").

        Managed policies (identity, boundary) 6,144; trust 2,048 (the default, adjustable
        to 4,096); session 2,048; SCP 5,120. INLINE is checked per policy against the largest
        aggregate (a role's 10,240); the per-entity aggregate (user 2,048, group 5,120) is the
        caller's to add up. Resource policies are limited by each service, not by IAM.
        """
        return _SIZE_LIMITS[self]

    @property
    def label(self) -> str:
        """The kind in words, for messages."""
        return _LABELS[self]

    @property
    def takes_principal(self) -> bool:
        """Resource-based and trust policies name principals; identity-based ones must not."""
        return self in (PolicyKind.RESOURCE, PolicyKind.TRUST)


_SIZE_LIMITS: dict[PolicyKind, int | None] = {
    PolicyKind.IDENTITY: 6144,
    PolicyKind.INLINE: 10240,
    PolicyKind.RESOURCE: None,
    PolicyKind.TRUST: 2048,
    PolicyKind.BOUNDARY: 6144,
    PolicyKind.SESSION: 2048,
    PolicyKind.SCP: 5120,
}
_LABELS: dict[PolicyKind, str] = {
    PolicyKind.IDENTITY: "identity policy",
    PolicyKind.INLINE: "inline policy",
    PolicyKind.RESOURCE: "resource policy",
    PolicyKind.TRUST: "trust policy",
    PolicyKind.BOUNDARY: "permissions boundary",
    PolicyKind.SESSION: "session policy",
    PolicyKind.SCP: "service control policy",
}
# "The id_block ... must not be included in identity-based policies" (policy grammar notes).
# Identity-based policies, where IAM completes an ARN of fewer than six fields with "*".
_COMPLETING_KINDS = frozenset({PolicyKind.IDENTITY, PolicyKind.INLINE, PolicyKind.BOUNDARY})
_NO_ID_KINDS = frozenset(
    {PolicyKind.IDENTITY, PolicyKind.INLINE, PolicyKind.BOUNDARY, PolicyKind.SESSION}
)


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that decided a request: its policy, Sid, position and effect."""

    policy: str
    sid: str | None
    index: int
    effect: str


@dataclass(frozen=True)
class Statement:
    """One compiled statement: effect, action/resource/principal patterns, conditions."""

    policy: str
    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    action: tuple[ActionPattern, ...] | None = None
    not_action: tuple[ActionPattern, ...] | None = None
    resource: tuple[ResourcePattern, ...] | None = None
    not_resource: tuple[ResourcePattern, ...] | None = None
    principal: PrincipalSpec | None = None
    not_principal: PrincipalSpec | None = None
    conditions: tuple[Condition, ...] = ()
    matched: MatchedStatement = field(init=False, compare=False, repr=False)
    # Truthy when resource, principal and conditions all match (None counts as no match).
    check: Callable[[Request], bool | None] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "matched", MatchedStatement(self.policy, self.sid, self.index, self.effect)
        )
        object.__setattr__(self, "check", compile_check(self))

    @property
    def label(self) -> str:
        """How a trace names the statement: its Sid, else its position."""
        return self.sid if self.sid else f"#{self.index}"

    def matches_action(self, action: str) -> bool:
        """Action: any pattern matches; NotAction: no pattern matches."""
        if self.action is not None:
            return any(p.matches(action) for p in self.action)
        assert self.not_action is not None
        return not any(p.matches(action) for p in self.not_action)

    def applies_beyond_action(self, request: Request) -> bool:
        """Resource, principal and every condition match (the action is already known to)."""
        return bool(self.check(request))

    def applies(self, request: Request) -> bool:
        """True when every element of the statement matches the request."""
        return self.matches_action(request.action) and self.applies_beyond_action(request)


@dataclass(frozen=True)
class Policy:
    """A validated policy document, compiled once for evaluation."""

    name: str
    kind: PolicyKind
    version: str | None
    statements: tuple[Statement, ...]
    size: int
    id: str | None = None
    index: ActionIndex[Statement] = field(init=False, compare=False, repr=False)
    # The compiled decisions of this policy alone (evaluate.PolicySetDecider), made on use.
    decider: Any = field(init=False, compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", ActionIndex(self.statements))


# What _load returns when the source is not JSON at all (None is the JSON value null).
_UNREADABLE = object()


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers keys it saw more than once."""

    __slots__ = ("duplicates",)

    duplicates: tuple[str, ...]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    result = _JsonObject()
    duplicates: list[str] = []
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    result.duplicates = tuple(duplicates)
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"expected a JSON number, got {name}")


def child(path: str, key: str) -> str:
    """JSON path of a member: ``$.Statement`` or ``$.Condition.IpAddress['aws:SourceIp']``."""
    if _IDENTIFIER_RE.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _allowed_char(char: str) -> bool:
    code = ord(char)
    return code in (9, 10, 13) or 0x20 <= code <= 0xFF


def _check_text(text: str, path: str, problems: list[Problem]) -> None:
    for position, char in enumerate(text):
        if not _allowed_char(char):
            problems.append(
                Problem(
                    path,
                    "expected only tab, LF, CR and characters U+0020-U+00FF, "
                    f"got U+{ord(char):04X} at character {position}",
                )
            )
            return


def _scan(value: object, path: str, depth: int, problems: list[Problem]) -> None:
    """Checks that hold anywhere: JSON types, duplicate keys, characters, nesting."""
    if depth > _MAX_DEPTH:
        problems.append(Problem(path, f"expected at most {_MAX_DEPTH} levels of nesting"))
        return
    if isinstance(value, Mapping):
        for duplicate in getattr(value, "duplicates", ()):
            problems.append(
                Problem(
                    child(path, duplicate),
                    f"expected each key once per object (IAM rejects duplicates), "
                    f"got {duplicate!r} again",
                )
            )
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem(path, f"expected string keys, got {key!r}"))
                continue
            _check_text(key, child(path, key), problems)
            _scan(item, child(path, key), depth + 1, problems)
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _scan(item, f"{path}[{position}]", depth + 1, problems)
    elif isinstance(value, str):
        _check_text(value, path, problems)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            problems.append(Problem(path, f"expected a finite number, got {value!r}"))
    elif value is not None and not isinstance(value, bool | int):
        problems.append(Problem(path, f"expected a JSON value, got {type(value).__name__}"))


def _load(
    source: str | bytes | Mapping[str, Any], problems: list[Problem]
) -> tuple[object, str | None]:
    """Decode the source into JSON data and the text whose size counts."""
    if isinstance(source, Mapping):
        try:
            text = json.dumps(source, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = None
        return source, text
    if isinstance(source, bytes | bytearray):
        try:
            source = bytes(source).decode("utf-8")
        except UnicodeDecodeError as error:
            problems.append(
                Problem(
                    "$",
                    f"expected UTF-8 text, got byte 0x{error.object[error.start]:02X} "
                    f"at offset {error.start}",
                )
            )
            return _UNREADABLE, None
    if not isinstance(source, str):
        problems.append(Problem("$", f"expected JSON text or a mapping, got {_type_name(source)}"))
        return _UNREADABLE, None
    try:
        data = json.loads(source, object_pairs_hook=_object_pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        problems.append(
            Problem(
                "$",
                f"expected valid JSON, got {error.msg} at line {error.lineno} column {error.colno}",
            )
        )
        return _UNREADABLE, source
    except ValueError as error:
        problems.append(Problem("$", str(error)))
        return _UNREADABLE, source
    except RecursionError:
        problems.append(Problem("$", f"expected at most {_MAX_DEPTH} levels of nesting"))
        return _UNREADABLE, source
    return data, source


def _strings(
    value: object, path: str, what: str, problems: list[Problem]
) -> list[tuple[str, str]] | None:
    """A string or non-empty array of strings, as (path, text) pairs.

    Items that are not strings are reported and skipped, so the others are still checked;
    None when the value is neither a string nor a non-empty array.
    """
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list | tuple) and value:
        out: list[tuple[str, str]] = []
        for position, item in enumerate(value):
            if isinstance(item, str):
                out.append((f"{path}[{position}]", item))
            else:
                problems.append(
                    Problem(
                        f"{path}[{position}]",
                        f"expected {what} as a string, got {_type_name(item)}",
                    )
                )
        return out
    got = _type_name(value) if value != [] else "an empty array"
    problems.append(
        Problem(path, f"expected {what} as a string or a non-empty array of strings, got {got}")
    )
    return None


def _hint(key: str, known: Sequence[str]) -> str:
    lowered = {name.lower(): name for name in known}
    guess = lowered.get(key.lower()) or next(
        iter(difflib.get_close_matches(key, list(known), n=1)), None
    )
    return f"; did you mean {guess}?" if guess else ""


class _Parser:
    """Validation state for one document: kind, version, problems so far."""

    def __init__(self, kind: PolicyKind, name: str) -> None:
        self.kind = kind
        self.name = name
        self.problems: list[Problem] = []
        self.variables = False

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def document(self, data: object) -> tuple[str | None, str | None, list[Statement]]:
        if not isinstance(data, Mapping):
            self.problem("$", f"expected a JSON object (a policy document), got {_type_name(data)}")
            return None, None, []
        for key in data:
            if isinstance(key, str) and key not in _TOP_LEVEL:
                self.problem(
                    child("$", key),
                    f"expected only Version, Id and Statement at the top level, got unknown "
                    f"element {key!r}{_hint(key, _TOP_LEVEL)}",
                )
        version = data.get("Version")
        if version is not None and version not in (VERSION_2012, VERSION_2008):
            self.problem(
                "$.Version",
                f'expected Version "{VERSION_2012}" or "{VERSION_2008}", got {version!r}',
            )
        self.variables = version == VERSION_2012
        policy_id = data.get("Id")
        if "Id" in data:
            if not isinstance(policy_id, str):
                self.problem("$.Id", f"expected Id as a string, got {_type_name(policy_id)}")
                policy_id = None
            elif self.kind in _NO_ID_KINDS:
                self.problem(
                    "$.Id",
                    f"expected no Id in {_article(self.kind.label)}: the policy grammar allows "
                    "Id only in resource-based policies",
                )
        if "Statement" not in data:
            self.problem("$", "expected a Statement element, got none")
            return version if isinstance(version, str) else None, None, []
        raw = data["Statement"]
        if isinstance(raw, Mapping):
            entries: list[tuple[str, object]] = [("$.Statement", raw)]
        elif isinstance(raw, list | tuple) and raw:
            entries = [(f"$.Statement[{i}]", item) for i, item in enumerate(raw)]
        else:
            self.problem(
                "$.Statement",
                "expected Statement as an object or a non-empty array of objects, got "
                f"{_type_name(raw) if raw != [] else 'an empty array'}",
            )
            entries = []
        statements: list[Statement] = []
        sids: dict[str, int] = {}
        for index, (path, item) in enumerate(entries):
            statement = self.statement(item, path, index, sids)
            if statement is not None:
                statements.append(statement)
        return (
            version if isinstance(version, str) else None,
            policy_id if isinstance(policy_id, str) else None,
            statements,
        )

    def statement(
        self, data: object, path: str, index: int, sids: dict[str, int]
    ) -> Statement | None:
        before = len(self.problems)
        if not isinstance(data, Mapping):
            self.problem(path, f"expected a statement object, got {_type_name(data)}")
            return None
        for key in data:
            if isinstance(key, str) and key not in _STATEMENT_ELEMENTS:
                self.problem(
                    child(path, key),
                    f"expected a statement element ({', '.join(_STATEMENT_ELEMENTS)}), got "
                    f"unknown element {key!r}{_hint(key, _STATEMENT_ELEMENTS)}",
                )
        sid = self.sid(data, path, index, sids)
        effect = data.get("Effect")
        if effect not in ("Allow", "Deny"):
            got = "none" if "Effect" not in data else repr(effect)
            self.problem(child(path, "Effect"), f'expected Effect "Allow" or "Deny", got {got}')
        action, not_action = self.actions(data, path)
        resource, not_resource = self.resources(data, path)
        principal, not_principal = self.principals(data, path)
        conditions = self.conditions(data, path)
        if len(self.problems) > before:
            return None
        return Statement(
            policy=self.name,
            index=index,
            sid=sid,
            effect="Allow" if effect == "Allow" else "Deny",
            action=action,
            not_action=not_action,
            resource=resource,
            not_resource=not_resource,
            principal=principal,
            not_principal=not_principal,
            conditions=conditions,
        )

    def sid(
        self, data: Mapping[str, Any], path: str, index: int, sids: dict[str, int]
    ) -> str | None:
        if "Sid" not in data:
            return None
        sid = data["Sid"]
        where = child(path, "Sid")
        if not isinstance(sid, str):
            self.problem(where, f"expected Sid as a string, got {_type_name(sid)}")
            return None
        if self.kind is not PolicyKind.RESOURCE and not _SID_RE.match(sid):
            # "For IAM policies, basic alphanumeric characters (A-Z,a-z,0-9) are the only
            # allowed characters in the Sid value" (policy grammar, sid_string).
            self.problem(where, f"expected a Sid of letters and digits only, got {sid!r}")
        if sid:
            if sid in sids:
                self.problem(
                    where,
                    f"expected a unique Sid, got {sid!r} again (first used by statement "
                    f"{sids[sid]})",
                )
            else:
                sids[sid] = index
        return sid

    def _pair(self, data: Mapping[str, Any], path: str, name: str) -> tuple[str | None, object]:
        """Which of Name/NotName is present (problem when both); returns (element, value)."""
        negated = "Not" + name
        if name in data and negated in data:
            self.problem(path, f"expected {name} or {negated}, not both, in one statement")
            return None, None
        if name in data:
            return name, data[name]
        if negated in data:
            return negated, data[negated]
        return None, None

    def actions(
        self, data: Mapping[str, Any], path: str
    ) -> tuple[tuple[ActionPattern, ...] | None, tuple[ActionPattern, ...] | None]:
        element, value = self._pair(data, path, "Action")
        if element is None:
            if "Action" not in data and "NotAction" not in data:
                self.problem(path, "expected Action or NotAction in the statement, got neither")
            return None, None
        where = child(path, element)
        entries = _strings(value, where, element, self.problems)
        if entries is None:
            return None, None
        patterns: list[ActionPattern] = []
        for entry_path, text in entries:
            if self.variables and "${" in text:
                self.problem(
                    entry_path,
                    f"expected no policy variable in {element} (variables work only in "
                    f"Resource and in String/Arn condition values), got {text!r}",
                )
            elif text != "*" and not _ACTION_RE.match(text):
                prefix = text.partition(":")[0]
                why = ""
                if "*" in prefix or "?" in prefix:
                    # IAM: "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards".
                    why = " (no wildcard in the service prefix)"
                elif text.count(":") > 1:
                    why = " (one colon only)"
                self.problem(
                    entry_path,
                    'expected "*" or service:action such as s3:GetObject or ec2:Describe*'
                    f"{why}, got {text!r}",
                )
            else:
                patterns.append(ActionPattern(text))
        result = tuple(patterns)
        return (result, None) if element == "Action" else (None, result)

    def resources(
        self, data: Mapping[str, Any], path: str
    ) -> tuple[tuple[ResourcePattern, ...] | None, tuple[ResourcePattern, ...] | None]:
        element, value = self._pair(data, path, "Resource")
        if self.kind is PolicyKind.TRUST:
            if "Resource" in data or "NotResource" in data:
                name = "Resource" if "Resource" in data else "NotResource"
                self.problem(
                    child(path, name),
                    f"expected no {name} in a trust policy (the role itself is the resource)",
                )
            return None, None
        if element is None:
            if (
                "Resource" not in data
                and "NotResource" not in data
                and self.kind is not PolicyKind.RESOURCE
            ):
                self.problem(path, "expected Resource or NotResource in the statement, got neither")
            return None, None
        where = child(path, element)
        entries = _strings(value, where, element, self.problems)
        if entries is None:
            return None, None
        patterns: list[ResourcePattern] = []
        for entry_path, written in entries:
            text = expand_sekisho_arn(written)
            if text.startswith("arn:") and text.count(":") < 5:
                # "When you specify an incomplete ARN (one with fewer than the standard six
                # fields) in an identity-based policy, AWS automatically completes the ARN by
                # adding wildcard characters (*) to all missing fields ... session policies
                # ... do not support incomplete ARNs" (IAM JSON policy elements: Resource).
                # Elsewhere it is not documented: the strict reading rejects it.
                if self.kind in _COMPLETING_KINDS:
                    text += ":*" * (5 - text.count(":"))
                else:
                    self.problem(
                        entry_path,
                        "expected a complete ARN with six fields (arn:partition:service:"
                        f"region:account:resource) in {_article(self.kind.label)}, got {text!r}",
                    )
                    continue
            if text != "*" and not text.startswith("arn:"):
                self.problem(
                    entry_path,
                    'expected "*" or an ARN such as arn:aws:s3:::bucket/* (partition, '
                    f"service, region, account and resource after 'arn:'), got {text!r}",
                )
                continue
            if self.variables and "${" in ":".join(text.split(":", 5)[:5]):
                self.problem(
                    entry_path,
                    "expected policy variables only in the resource part of the ARN (after "
                    f"the fifth colon), got {text!r}",
                )
                continue
            template, error = parse_template(text, enabled=self.variables)
            if error:
                self.problem(entry_path, error)
                continue
            patterns.append(ResourcePattern(template, None if text == written else written))
        result = tuple(patterns)
        return (result, None) if element == "Resource" else (None, result)

    def principals(
        self, data: Mapping[str, Any], path: str
    ) -> tuple[PrincipalSpec | None, PrincipalSpec | None]:
        element, value = self._pair(data, path, "Principal")
        present = "Principal" in data or "NotPrincipal" in data
        if not self.kind.takes_principal:
            if present:
                name = "Principal" if "Principal" in data else "NotPrincipal"
                self.problem(
                    child(path, name),
                    f"expected no {name} in {_article(self.kind.label)}: it applies to the "
                    "identity it is attached to",
                )
            return None, None
        if not present:
            self.problem(path, f"expected Principal or NotPrincipal in {_article(self.kind.label)}")
            return None, None
        if element is None:
            return None, None
        where = child(path, element)
        if element == "NotPrincipal" and self.kind is PolicyKind.TRUST:
            self.problem(where, "expected Principal, not NotPrincipal, in a trust policy")
            return None, None
        spec = self.principal_spec(value, where, element)
        if spec is None:
            return None, None
        return (spec, None) if element == "Principal" else (None, spec)

    def principal_spec(self, value: object, where: str, element: str) -> PrincipalSpec | None:
        if value == "*":
            return PrincipalSpec.build(everyone=True)
        if not isinstance(value, Mapping) or not value:
            self.problem(
                where,
                f'expected {element} "*" or an object of AWS, Federated, Service or '
                f"CanonicalUser, got {_type_name(value) if value != {} else 'an empty object'}",
            )
            return None
        found: dict[str, tuple[str, ...]] = {}
        ok = True
        for key, item in value.items():
            key_path = child(where, str(key))
            if key not in _PRINCIPAL_TYPES:
                self.problem(
                    key_path,
                    f"expected a principal type ({', '.join(_PRINCIPAL_TYPES)}), got "
                    f"{key!r}{_hint(str(key), _PRINCIPAL_TYPES)}",
                )
                ok = False
                continue
            entries = _strings(item, key_path, f"{key} principal", self.problems)
            if entries is None:
                ok = False
                continue
            texts: list[str] = []
            for entry_path, text in entries:
                error = self.principal_error(key, text)
                if error:
                    self.problem(entry_path, error)
                    ok = False
                texts.append(text)
            found[key] = tuple(texts)
        if not ok:
            return None
        return PrincipalSpec.build(
            aws=found.get("AWS", ()),
            federated=found.get("Federated", ()),
            service=found.get("Service", ()),
            canonical_user=found.get("CanonicalUser", ()),
        )

    def principal_error(self, key: str, text: str) -> str | None:
        if self.variables and "${" in text:
            return f"expected no policy variable in a principal, got {text!r}"
        if key == "AWS":
            if text == "*" or _ACCOUNT_RE.match(text) or _UNIQUE_ID_RE.match(text):
                return None
            if _PRINCIPAL_ARN_RE.match(text) and "*" not in text and "?" not in text:
                return None
            return (
                'expected "*", a 12-digit account id or an IAM/STS ARN such as '
                "arn:aws:iam::123456789012:root (no wildcards inside), got " + repr(text)
            )
        if not text.strip() or "*" in text or "?" in text:
            # "You cannot use a wildcard to match part of a principal name or ARN."
            return f"expected a {key} principal without wildcards, got {text!r}"
        return None

    def conditions(self, data: Mapping[str, Any], path: str) -> tuple[Condition, ...]:
        if "Condition" not in data:
            return ()
        where = child(path, "Condition")
        block = data["Condition"]
        if not isinstance(block, Mapping):
            self.problem(
                where, f"expected Condition as an object of operators, got {_type_name(block)}"
            )
            return ()
        conditions: list[Condition] = []
        for operator, keys in block.items():
            operator_path = child(where, str(operator))
            parsed = parse_operator(str(operator))
            if isinstance(parsed, str):
                self.problem(operator_path, parsed)
                continue
            if not isinstance(keys, Mapping) or not keys:
                self.problem(
                    operator_path,
                    f"expected an object of condition keys and values under {operator!r}, got "
                    f"{_type_name(keys) if keys != {} else 'an empty object'}",
                )
                continue
            for key, raw in keys.items():
                key_path = child(operator_path, str(key))
                if not isinstance(key, str) or not _CONDITION_KEY_RE.match(key):
                    self.problem(
                        key_path,
                        "expected a condition key with a service prefix such as aws:SourceIp, "
                        f"got {key!r}",
                    )
                    continue
                values = self.condition_values(raw, key_path)
                if values is None:
                    continue
                condition, problems = compile_condition(
                    str(operator),
                    key,
                    values,
                    variables_enabled=self.variables,
                    path=key_path,
                )
                self.problems.extend(problems)
                if condition is not None:
                    conditions.append(condition)
        return tuple(conditions)

    def condition_values(self, raw: object, path: str) -> list[object] | None:
        items = list(raw) if isinstance(raw, list | tuple) else [raw]
        if not items:
            self.problem(path, "expected a condition value or a non-empty array of values")
            return None
        ok = True
        for position, item in enumerate(items):
            if item is None or not isinstance(item, str | int | float | bool):
                where = path if not isinstance(raw, list | tuple) else f"{path}[{position}]"
                self.problem(
                    where,
                    f"expected a string, number or boolean condition value, got {_type_name(item)}",
                )
                ok = False
            elif isinstance(item, float) and (item != item or abs(item) == float("inf")):
                ok = False
        return items if ok else None


def _article(label: str) -> str:
    return ("an " if label[0] in "aeiou" else "a ") + label


def combine_policies(policies: Sequence[Policy], *, name: str, kind: PolicyKind) -> Policy:
    """One policy holding every statement of ``policies``, in order (each already valid).

    For a layer made of several documents that IAM evaluates as one, such as a session's
    inline ``Policy`` together with its ``PolicyArns`` ("Session policies"): a statement of
    any of them allowing is the layer allowing, any Deny in them denies.
    """
    # Each statement keeps its own policy's name and position, so a decision names the
    # document it came from.
    statements = [statement for policy in policies for statement in policy.statements]
    return Policy(
        name=name,
        kind=kind,
        version=VERSION_2012,
        statements=tuple(statements),
        size=sum(policy.size for policy in policies),
    )


def parse_policy(
    source: str | bytes | Mapping[str, Any],
    *,
    kind: PolicyKind = PolicyKind.IDENTITY,
    name: str = "",
) -> Policy:
    """Validate a policy document completely and compile it.

    Args:
        source: JSON text (str or UTF-8 bytes) or an already decoded mapping.
        kind: where the policy is used; decides size limit and allowed elements.
        name: how decisions and traces name the policy.

    Returns:
        The compiled Policy.

    Raises:
        PolicyError: with every problem found, each with its JSON path.
    """
    problems: list[Problem] = []
    data, text = _load(source, problems)
    size = 0
    if text is not None:
        size = len("".join(text.split()))
        limit = kind.size_limit
        if limit is not None and size > limit:
            problems.append(
                Problem(
                    "$",
                    f"expected at most {limit} characters (whitespace not counted) in "
                    f"{_article(kind.label)}, got {size}",
                )
            )
    if data is _UNREADABLE:
        raise PolicyError(problems)
    _scan(data, "$", 0, problems)
    if any("levels of nesting" in p.message for p in problems):
        raise PolicyError(problems)
    parser = _Parser(kind, name)
    version, policy_id, statements = parser.document(data)
    problems.extend(parser.problems)
    if problems:
        raise PolicyError(problems)
    return Policy(
        name=name,
        kind=kind,
        version=version,
        statements=tuple(statements),
        size=size,
        id=policy_id,
    )
