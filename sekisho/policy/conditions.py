"""Condition operators, their value coercions, and condition evaluation with reasons.

IAM User Guide, "IAM JSON policy elements: Condition operators" (every operator, IfExists,
Null, "If the key that you specify in a policy condition is not present in the request
context, the values do not match and the condition is false" unless negated, IfExists or
Null) and "Creating a condition with multiple keys or values" (ForAllValues/ForAnyValue;
several values of one key are ORed, for a negated operator NORed).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import math
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sekisho.policy.context import (
    ContextValue,
    RequestContext,
    Scalar,
    format_time,
    parse_time,
    value_to_string,
)
from sekisho.policy.errors import Problem
from sekisho.policy.matching import (
    MODE_ARN,
    MODE_EXACT,
    MODE_EXACT_IGNORE_CASE,
    MODE_GLOB,
    Matcher,
    compile_pattern,
    glob_regex,
    template_matcher,
)
from sekisho.policy.variables import Template, parse_template, variable_value

FOR_ALL: Final = "ForAllValues"
FOR_ANY: Final = "ForAnyValue"


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    """What a base operator compares and how its outcome reads in a trace."""

    family: str
    compare: str
    negated: bool
    holds: str
    fails: str


def _pair(
    family: str, compare: str, holds: str, fails: str, positive: str, negative: str
) -> dict[str, OperatorInfo]:
    return {
        positive: OperatorInfo(family, compare, False, holds, fails),
        negative: OperatorInfo(family, compare, True, holds, fails),
    }


OPERATORS: Final[dict[str, OperatorInfo]] = {
    **_pair("String", "eq", "equals", "does not equal", "StringEquals", "StringNotEquals"),
    **_pair(
        "String",
        "eq_ic",
        "equals (ignoring case)",
        "does not equal (ignoring case)",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
    ),
    **_pair("String", "like", "matches", "does not match", "StringLike", "StringNotLike"),
    **_pair("Numeric", "eq", "equals", "does not equal", "NumericEquals", "NumericNotEquals"),
    "NumericLessThan": OperatorInfo("Numeric", "lt", False, "is less than", "is not less than"),
    "NumericLessThanEquals": OperatorInfo("Numeric", "le", False, "is at most", "is not at most"),
    "NumericGreaterThan": OperatorInfo(
        "Numeric", "gt", False, "is greater than", "is not greater than"
    ),
    "NumericGreaterThanEquals": OperatorInfo(
        "Numeric", "ge", False, "is at least", "is not at least"
    ),
    **_pair("Date", "eq", "equals", "does not equal", "DateEquals", "DateNotEquals"),
    "DateLessThan": OperatorInfo("Date", "lt", False, "is before", "is not before"),
    "DateLessThanEquals": OperatorInfo(
        "Date", "le", False, "is at or before", "is not at or before"
    ),
    "DateGreaterThan": OperatorInfo("Date", "gt", False, "is after", "is not after"),
    "DateGreaterThanEquals": OperatorInfo(
        "Date", "ge", False, "is at or after", "is not at or after"
    ),
    "Bool": OperatorInfo("Bool", "eq", False, "is", "is not"),
    "BinaryEquals": OperatorInfo("Binary", "eq", False, "equals", "does not equal"),
    **_pair("Ip", "in", "is in", "is not in", "IpAddress", "NotIpAddress"),
    **_pair("Arn", "arn", "matches", "does not match", "ArnEquals", "ArnNotEquals"),
    **_pair("Arn", "arn", "matches", "does not match", "ArnLike", "ArnNotLike"),
    "Null": OperatorInfo("Null", "null", False, "is absent", "is present"),
}

# "You can use a policy variable for Condition values in any condition that involves the
# string operators or the ARN operators ... You can't use a policy variable with other
# operators, such as Numeric, Date, Boolean, Binary, IP Address, or Null operators."
VARIABLE_FAMILIES: Final = frozenset({"String", "Arn"})

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INTEGER_RE = re.compile(r"[+-]?\d+\Z")
_CIDR_RE = re.compile(r"[0-9A-Fa-f:.]+(?:/\d{1,3})?\Z")
_CACHE_LIMIT = 512


def parse_operator(text: str) -> tuple[str | None, str, bool] | str:
    """Split ``ForAnyValue:StringLikeIfExists`` into (set operator, base, if_exists).

    Returns an error message instead when the operator is unknown or not allowed.
    """
    set_operator: str | None = None
    rest = text
    for prefix in (FOR_ALL, FOR_ANY):
        if text.startswith(prefix + ":"):
            set_operator, rest = prefix, text[len(prefix) + 1 :]
            break
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[: -len("IfExists")] if if_exists else rest
    if base not in OPERATORS:
        known = list(OPERATORS)
        lowered = {name.lower(): name for name in known}
        guess = lowered.get(base.lower()) or next(
            iter(difflib.get_close_matches(base, known, n=1)), None
        )
        hint = f"; did you mean {guess}?" if guess else ""
        return f"expected a condition operator such as StringEquals, got {text!r}{hint}"
    if base == "Null" and if_exists:
        return "expected Null without IfExists (IfExists applies to every operator but Null)"
    if base == "Null" and set_operator:
        return f"expected Null without {set_operator}: (Null tests whether the key exists)"
    return set_operator, base, if_exists


def policy_value_text(value: object) -> str:
    """A JSON scalar condition value as IAM reads it: bools as true/false, numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- request value coercions (AWS reads strings as numbers, booleans and dates) ---


def to_number(value: Scalar) -> int | float | None:
    """Coerce a request value to a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        text = value.strip()
        return int(text) if _INTEGER_RE.match(text) else float(text)
    return None


def to_time(value: Scalar) -> float | None:
    """Coerce a request value to epoch seconds (datetime, epoch number, ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return parse_time(value)


def to_bool(value: Scalar) -> bool | None:
    """Coerce a request value to a boolean ("true"/"false" in any case); else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def to_bytes(value: Scalar) -> bytes | None:
    """Decode a base64 request value for BinaryEquals; None when it is not base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def to_ip(value: Scalar) -> tuple[int, int] | None:
    """Parse an IPv4 or IPv6 address into (version, integer); None when it is not one."""
    if not isinstance(value, str):
        return None
    family, version = (socket.AF_INET6, 6) if ":" in value else (socket.AF_INET, 4)
    try:
        return version, int.from_bytes(socket.inet_pton(family, value), "big")
    except (OSError, ValueError):
        return None


def _string(value: Scalar) -> str:
    return value if type(value) is str else value_to_string(value)


def _describe(value: Scalar) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    return value_to_string(value)


_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}

# A matcher answers, for one request value, whether policy value i matches: True, False,
# or None when that policy value holds a policy variable with no value ("effectively null").
ValueTest = Callable[[Scalar, RequestContext, int], bool | None]
# A fast matcher answers whether any policy value matches one request value.
AnyTest = Callable[[Scalar, RequestContext], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key, values) triple of a Condition element, compiled."""

    operator: str
    key: str
    values: tuple[str, ...]
    base: str = field(compare=False)
    set_operator: str | None = field(compare=False)
    if_exists: bool = field(compare=False)
    info: OperatorInfo = field(compare=False, repr=False)
    lowered_key: str = field(compare=False, repr=False)
    absent_result: bool = field(compare=False, repr=False)
    value_texts: tuple[str, ...] = field(compare=False, repr=False)
    any_test: AnyTest = field(compare=False, repr=False)
    value_test: ValueTest = field(compare=False, repr=False)
    templates: tuple[Template | None, ...] = field(compare=False, repr=False)
    null_values: tuple[bool, ...] = field(compare=False, repr=False)
    test: Callable[[RequestContext], bool] = field(compare=False, repr=False)
    form: tuple[object, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def negated(self) -> bool:
        """True for StringNotEquals, NotIpAddress and the other negated operators."""
        return self.info.negated

    def explain(self, context: RequestContext) -> tuple[bool, str]:
        """Evaluate and say why: operator, key, request values and policy values."""
        result = self.test(context)
        verdict = "holds" if result else "fails"
        head = f"condition {self.operator} {verdict}: "
        value = context._values.get(self.lowered_key)
        absent = value is None or value == ()
        if self.base == "Null":
            wanted = " or ".join("true" if v else "false" for v in self.null_values)
            state = "absent from" if absent else "present in"
            return result, f"{head}{self.key} is {state} the request (Null {wanted})"
        if absent:
            why = self._absent_reason()
            return result, f"{head}{self.key} is absent from the request ({why})"
        assert value is not None
        items = value if isinstance(value, tuple) else (value,)
        facts = [self._fact(item, context) for item in items]
        missing = self._missing_variables(context)
        note = f" ({', '.join(missing)} has no value in the request)" if missing else ""
        return result, head + "; ".join(facts) + note

    def _absent_reason(self) -> str:
        if self.if_exists:
            return "...IfExists holds on an absent key"
        if self.set_operator == FOR_ALL:
            return "ForAllValues holds on an absent or empty key"
        if self.set_operator == FOR_ANY:
            return "ForAnyValue fails on an absent or empty key"
        if self.info.negated:
            return "a negated operator holds on an absent key"
        return "an absent key matches nothing"

    def _fact(self, item: Scalar, context: RequestContext) -> str:
        matched = [
            self.value_texts[i]
            for i in range(len(self.value_texts))
            if self.value_test(item, context, i) is True
        ]
        shown = _describe(item)
        if self.info.family in ("Numeric", "Date", "Bool", "Binary", "Ip"):
            problem = _coercion_problem(self.info.family, item)
            if problem:
                return f"{self.key} {shown!r} {problem}"
        if matched:
            return f"{self.key} {shown} {self.info.holds} {' or '.join(matched)}"
        return f"{self.key} {shown} {self.info.fails} {' or '.join(self.value_texts)}"

    def _missing_variables(self, context: RequestContext) -> list[str]:
        names: list[str] = []
        for template in self.templates:
            if template is None:
                continue
            for variable in template.variables:
                if variable_value(context._values, variable) is None:
                    names.append(variable.text)
        return names


def _coercion_problem(family: str, item: Scalar) -> str | None:
    if family == "Numeric" and to_number(item) is None:
        return "is not a number"
    if family == "Date" and to_time(item) is None:
        return "is not a date"
    if family == "Bool" and to_bool(item) is None:
        return "is not true or false"
    if family == "Binary" and to_bytes(item) is None:
        return "is not base64"
    if family == "Ip" and to_ip(item) is None:
        return "is not an IP address"
    return None


def _make_test(
    key: str,
    *,
    null_values: tuple[bool, ...] | None,
    absent_result: bool,
    negated: bool,
    set_operator: str | None,
    any_test: AnyTest,
    str_test: Callable[[str], bool] | None,
) -> Callable[[RequestContext], bool]:
    """Compile the evaluation of one condition into a single closure (the fast path)."""
    if null_values is not None:
        wanted = null_values

        def null_test(context: RequestContext) -> bool:
            value = context._values.get(key)
            return (value is None or value == ()) in wanted

        return null_test

    def many(value: tuple[Scalar, ...], context: RequestContext) -> bool:
        if not value:
            return absent_result
        if set_operator is None:
            # A multivalued key without a set operator: any value matching satisfies a
            # positive operator, none matching a negated one (the negation of the twin).
            return any(any_test(item, context) for item in value) != negated
        if set_operator == FOR_ANY:
            return any(any_test(item, context) != negated for item in value)
        return all(any_test(item, context) != negated for item in value)

    if str_test is not None:
        fast = str_test

        def test_str(context: RequestContext) -> bool:
            value = context._values.get(key)
            if type(value) is str:
                return fast(value) != negated
            if value is None:
                return absent_result
            if isinstance(value, tuple):
                return many(value, context)
            return any_test(value, context) != negated

        return test_str

    def test(context: RequestContext) -> bool:
        value = context._values.get(key)
        if value is None:
            return absent_result
        if isinstance(value, tuple):
            return many(value, context)
        return any_test(value, context) != negated

    return test


def compile_condition(
    operator: str,
    key: str,
    raw_values: Sequence[object],
    *,
    variables_enabled: bool,
    path: str,
) -> tuple[Condition | None, list[Problem]]:
    """Validate one operator/key/values triple and compile it; problems name their paths."""
    parsed = parse_operator(operator)
    if isinstance(parsed, str):
        return None, [Problem(path, parsed)]
    set_operator, base, if_exists = parsed
    info = OPERATORS[base]
    texts = [policy_value_text(v) for v in raw_values]
    single = len(raw_values) == 1
    problems: list[Problem] = []

    def at(index: int) -> str:
        return path if single else f"{path}[{index}]"

    if info.family not in VARIABLE_FAMILIES and variables_enabled:
        for index, text in enumerate(texts):
            if "${" in text:
                problems.append(
                    Problem(
                        at(index),
                        f"expected no policy variable with {info.family} operators "
                        f"(only String and Arn operators take variables), got {text!r}",
                    )
                )
        if problems:
            return None, problems

    builder = _BUILDERS[info.family]
    built = builder(info, texts, raw_values, variables_enabled, at)
    if isinstance(built, list):
        return None, built
    any_test, value_test = built.any_test, built.value_test
    display, templates, null_values = built.display, built.templates, built.null_values
    absent_result = (
        if_exists or set_operator == FOR_ALL or (set_operator != FOR_ANY and info.negated)
    )
    test = _make_test(
        key.lower(),
        null_values=tuple(null_values) if base == "Null" else None,
        absent_result=absent_result,
        negated=info.negated,
        set_operator=set_operator,
        any_test=any_test,
        str_test=built.str_test,
    )
    if built.fuse is not None:
        test = built.fuse(key.lower(), info.negated, test)
    condition = Condition(
        operator=operator,
        key=key,
        values=tuple(texts),
        base=base,
        set_operator=set_operator,
        if_exists=if_exists,
        info=info,
        lowered_key=key.lower(),
        absent_result=absent_result,
        value_texts=tuple(display),
        any_test=any_test,
        value_test=value_test,
        templates=tuple(templates),
        null_values=tuple(null_values),
        test=test,
        form=built.form,
    )
    return condition, []


# Builds a condition's whole test for the single-string case with the family's work inlined
# (one Python call instead of two); other shapes go to the generic test it is given.
Fuser = Callable[[str, bool, Callable[[RequestContext], bool]], Callable[[RequestContext], bool]]


@dataclass(frozen=True, slots=True)
class Built:
    """What a family builder compiles: matchers, display texts, templates, Null flags.

    ``str_test`` answers for a single string request value without the context, when the
    policy values hold no variables: the hot path of a single-valued key.
    """

    any_test: AnyTest
    value_test: ValueTest
    display: list[str]
    templates: list[Template | None]
    null_values: list[bool] = field(default_factory=list)
    str_test: Callable[[str], bool] | None = None
    fuse: Fuser | None = None
    # For the code generator: ("ip4", network, mask) or ("in", frozenset of strings).
    form: tuple[object, ...] | None = None


Builder = Callable[
    [OperatorInfo, list[str], Sequence[object], bool, Callable[[int], str]], Built | list[Problem]
]


def _parse_templates(
    texts: list[str], variables_enabled: bool, at: Callable[[int], str]
) -> tuple[list[Template | None], list[Problem]]:
    """Each value as a policy-variable template, and a problem for each that is malformed."""
    templates: list[Template | None] = []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        template, error = parse_template(text, enabled=variables_enabled)
        if error:
            problems.append(Problem(at(index), error))
        templates.append(template)
    return templates, problems


def _build_string(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    templates, problems = _parse_templates(texts, variables_enabled, at)
    if problems:
        return problems
    mode = {"eq": MODE_EXACT, "eq_ic": MODE_EXACT_IGNORE_CASE, "like": MODE_GLOB}[info.compare]
    form: tuple[object, ...] | None = None
    matchers = [template_matcher(t, mode) for t in templates if t is not None]
    static = [t for t in templates if t is not None and not t.has_variables]
    dynamic = tuple(
        m for t, m in zip(templates, matchers, strict=True) if t is not None and t.has_variables
    )
    if mode == MODE_GLOB:
        wild = [t.static_parts() for t in static]
        full = (
            compile_pattern("|".join(f"(?:{glob_regex(p, arn=False)})" for p in wild)).fullmatch
            if wild
            else None
        )

        def any_like(value: Scalar, context: RequestContext) -> bool:
            text = value if type(value) is str else value_to_string(value)
            if full is not None and full(text) is not None:
                return True
            values = context._values
            return any(match(text, values) is True for match in dynamic)

        any_test: AnyTest = any_like
        str_test: Callable[[str], bool] | None = (
            None if dynamic else (lambda text: full is not None and full(text) is not None)
        )
    else:
        ignore_case = mode == MODE_EXACT_IGNORE_CASE
        exact = frozenset(
            t.static_text().lower() if ignore_case else t.static_text() for t in static
        )

        def any_equal(value: Scalar, context: RequestContext) -> bool:
            text = value if type(value) is str else value_to_string(value)
            if (text.lower() if ignore_case else text) in exact:
                return True
            values = context._values
            return any(match(text, values) is True for match in dynamic)

        any_test = any_equal
        if dynamic:
            str_test = None
        elif ignore_case:
            str_test = lambda text: text.lower() in exact  # noqa: E731
        else:
            str_test = exact.__contains__
            form = ("in", exact)

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        return matchers[index](_string(value), context._values)

    return Built(any_test, value_test, list(texts), templates, str_test=str_test, form=form)


def _build_ordered(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    numeric = info.family == "Numeric"
    parsed: list[float] = []
    problems: list[Problem] = []
    for index, (text, original) in enumerate(zip(texts, raw, strict=True)):
        value: float | None
        if numeric:
            number = to_number(original) if isinstance(original, int | float | str) else None
            value = (
                None if number is None else float(number) if isinstance(number, float) else number
            )
            expected = "a number such as 10 or 2.5"
        else:
            # Epoch seconds may be given as a JSON number or as text.
            if isinstance(original, bool):
                value = None
            elif isinstance(original, int | float):
                value = float(original) if math.isfinite(original) else None
            else:
                value = parse_time(text)
            expected = "an ISO 8601 date such as 2020-01-01T00:00:01Z or epoch seconds"
        if value is None:
            problems.append(Problem(at(index), f"expected {expected}, got {text!r}"))
        else:
            parsed.append(value)
    if problems:
        return problems
    compare = _COMPARE[info.compare]
    values = tuple(parsed)
    coerce: Callable[[Scalar], float | int | None] = to_number if numeric else to_time
    memo_tag = info.family

    def request_value(value: Scalar, context: RequestContext) -> float | int | None:
        if type(value) is str:
            key = (memo_tag, value)
            memo = context._memo
            if memo is None:
                memo = context._memo = {}
            elif key in memo:
                return memo[key]  # type: ignore[return-value]
            result = memo[key] = coerce(value)
            return result
        return coerce(value)

    def any_test(value: Scalar, context: RequestContext) -> bool:
        number = request_value(value, context)
        return number is not None and any(compare(number, v) for v in values)

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        number = request_value(value, context)
        return number is not None and compare(number, values[index])

    return Built(any_test, value_test, list(texts), [None] * len(texts))


def _build_bool(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    parsed: list[bool] = []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        value = to_bool(text)
        if value is None:
            problems.append(Problem(at(index), f"expected true or false, got {text!r}"))
        else:
            parsed.append(value)
    if problems:
        return problems
    wanted = frozenset(parsed)

    def any_test(value: Scalar, context: RequestContext) -> bool:
        return to_bool(value) in wanted

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        return to_bool(value) == parsed[index]

    display = ["true" if v else "false" for v in parsed]
    return Built(any_test, value_test, display, [None] * len(texts))


def _build_null(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    built = _build_bool(info, texts, raw, variables_enabled, at)
    if isinstance(built, list):
        return built
    flags = [to_bool(text) is True for text in texts]
    return Built(built.any_test, built.value_test, built.display, built.templates, flags)


def _build_binary(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    parsed: list[bytes] = []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        decoded = to_bytes(text) if isinstance(raw[index], str) else None
        if decoded is None:
            problems.append(
                Problem(at(index), f"expected base64 such as QmluYXJ5VmFsdWU=, got {text!r}")
            )
        else:
            parsed.append(decoded)
    if problems:
        return problems
    wanted = frozenset(parsed)

    def any_test(value: Scalar, context: RequestContext) -> bool:
        return to_bytes(value) in wanted

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        return to_bytes(value) == parsed[index]

    return Built(any_test, value_test, list(texts), [None] * len(texts))


def _build_ip(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    networks: list[tuple[int, int, int]] = []
    display: list[str] = []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
        if isinstance(raw[index], str) and _CIDR_RE.match(text):
            try:
                # "If you specify an IP address without the associated routing prefix, IAM
                # uses the default prefix value of /32" (/128 for IPv6); host bits are masked.
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                network = None
        if network is None:
            problems.append(
                Problem(
                    at(index),
                    "expected an IPv4 or IPv6 address or CIDR block such as 203.0.113.0/24 "
                    f"or 2001:DB8:1234:5678::/64, got {text!r}",
                )
            )
            continue
        mask = int(network.netmask)
        networks.append((network.version, int(network.network_address), mask))
        display.append(str(network))
    if problems:
        return problems
    nets = tuple(networks)
    nets4 = tuple((net, mask) for version, net, mask in networks if version == 4)
    nets6 = tuple((net, mask) for version, net, mask in networks if version == 6)
    # Bound once: attribute lookups (socket.AF_INET is an enum) cost more than the parse.
    pton, from_bytes = socket.inet_pton, int.from_bytes
    family4, family6 = int(socket.AF_INET), int(socket.AF_INET6)

    def str_test(value: str) -> bool:
        # Branch on ":" rather than try IPv4 first: a failed parse raises, which is slow.
        try:
            if ":" in value:
                number = from_bytes(pton(family6, value), "big")
                return any(number & mask == net for net, mask in nets6)
            number = from_bytes(pton(family4, value), "big")
        except (OSError, ValueError):
            return False
        for net, mask in nets4:  # noqa: SIM110 (no generator on the hot path)
            if number & mask == net:
                return True
        return False

    def any_test(value: Scalar, context: RequestContext) -> bool:
        return type(value) is str and str_test(value)

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        address = to_ip(value)
        if address is None:
            return False
        net_version, net, mask = nets[index]
        return address[0] == net_version and address[1] & mask == net

    def fuse(
        key: str, negated: bool, generic: Callable[[RequestContext], bool]
    ) -> Callable[[RequestContext], bool]:
        if nets6 or len(nets4) != 1:
            return generic
        (net4, mask4), matched, missed = nets4[0], not negated, negated

        def ip_test(context: RequestContext) -> bool:
            value = context._values.get(key)
            if type(value) is not str or ":" in value:
                return generic(context)
            try:
                number = from_bytes(pton(family4, value), "big")
            except (OSError, ValueError):
                return missed
            return matched if number & mask4 == net4 else missed

        return ip_test

    # One IPv4 block (the seed's shape): the code generator inlines the test.
    form = ("ip4", nets4[0][0], nets4[0][1]) if not nets6 and len(nets4) == 1 else None
    return Built(
        any_test,
        value_test,
        display,
        [None] * len(texts),
        str_test=str_test,
        fuse=fuse,
        form=form,
    )


def _build_arn(
    info: OperatorInfo,
    texts: list[str],
    raw: Sequence[object],
    variables_enabled: bool,
    at: Callable[[int], str],
) -> Built | list[Problem]:
    templates, problems = _parse_templates(texts, variables_enabled, at)
    if problems:
        return problems
    # A bare "*" matches any value: not documented for Arn operators, read as "any ARN".
    matchers: list[Matcher] = [
        _any_value if t.text == "*" else template_matcher(t, MODE_ARN)
        for t in templates
        if t is not None
    ]

    def any_test(value: Scalar, context: RequestContext) -> bool:
        text = _string(value)
        values = context._values
        return any(match(text, values) is True for match in matchers)

    def value_test(value: Scalar, context: RequestContext, index: int) -> bool | None:
        return matchers[index](_string(value), context._values)

    return Built(any_test, value_test, list(texts), templates)


def _any_value(value: str, values: dict[str, ContextValue]) -> bool:
    return True


_BUILDERS: Final[dict[str, Builder]] = {
    "String": _build_string,
    "Numeric": _build_ordered,
    "Date": _build_ordered,
    "Bool": _build_bool,
    "Binary": _build_binary,
    "Ip": _build_ip,
    "Arn": _build_arn,
    "Null": _build_null,
}
