"""Typed access to botocore's service models, shared by the query and rest-json code.

botocore ships no type information, so this module describes the few model attributes
the protocol code reads as ``Protocol`` classes, loads the models through botocore's
own loader, converts timestamps the way botocore's serializers and parsers do, and
checks parsed input against the model's constraints (``required``, ``min``, ``max``,
``pattern``, ``enum``) the way AWS's request validation reports them
("1 validation error detected: Value null at 'roleName' failed to satisfy constraint:
Member must not be null").
"""

from __future__ import annotations

import calendar
import math
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from typing import Any, Protocol, cast

from sekisho.emulator.errors import AwsError, ResultShapeError, printable


class Shape(Protocol):
    """A botocore ``Shape``: one type of the model."""

    @property
    def name(self) -> str:
        """The shape's name in the model."""
        ...

    @property
    def type_name(self) -> str:
        """``structure``, ``list``, ``map``, ``string``, ``integer``, ``timestamp``…"""
        ...

    @property
    def serialization(self) -> Mapping[str, Any]:
        """Wire traits: ``location``, ``name``, ``flattened``, ``timestampFormat``…"""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Constraints and flags: ``min``, ``max``, ``pattern``, ``enum``, ``sensitive``…"""
        ...


class StructureShape(Shape, Protocol):
    """A botocore ``StructureShape``."""

    @property
    def members(self) -> Mapping[str, Shape]:
        """Member name to member shape, in model order."""
        ...

    @property
    def required_members(self) -> Sequence[str]:
        """Names of the members that must be present."""
        ...

    @property
    def is_document_type(self) -> bool:
        """Whether the structure is a free-form JSON document."""
        ...


class ListShape(Shape, Protocol):
    """A botocore ``ListShape``."""

    @property
    def member(self) -> Shape:
        """The element shape."""
        ...


class MapShape(Shape, Protocol):
    """A botocore ``MapShape``."""

    @property
    def key(self) -> Shape:
        """The key shape."""
        ...

    @property
    def value(self) -> Shape:
        """The value shape."""
        ...


class OperationModel(Protocol):
    """A botocore ``OperationModel``: one API operation."""

    @property
    def name(self) -> str:
        """The operation name (``GetRole``)."""
        ...

    @property
    def http(self) -> Mapping[str, Any]:
        """``method``, ``requestUri`` and optionally ``responseCode``."""
        ...

    @property
    def input_shape(self) -> StructureShape | None:
        """The request shape, if the operation takes input."""
        ...

    @property
    def output_shape(self) -> StructureShape | None:
        """The response shape, if the operation returns data."""
        ...

    @property
    def error_shapes(self) -> Sequence[StructureShape]:
        """The exceptions the operation declares."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The service's metadata."""
        ...


class ServiceModel(Protocol):
    """A botocore ``ServiceModel``: one service at one API version."""

    @property
    def service_name(self) -> str:
        """The botocore service name (``iam``)."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """``apiVersion``, ``protocol``, ``xmlNamespace``…"""
        ...

    @property
    def protocol(self) -> str:
        """``query``, ``rest-json``…"""
        ...

    @property
    def operation_names(self) -> Sequence[str]:
        """Every operation name."""
        ...

    @property
    def error_shapes(self) -> Sequence[StructureShape]:
        """Every exception shape of the service."""
        ...

    def operation_model(self, operation_name: str) -> OperationModel:
        """The model of one operation."""
        ...


@cache
def load_service_model(service_name: str) -> ServiceModel:
    """Load the service model botocore ships (``iam``, ``sts``, ``connect``), once."""
    import botocore.session  # type: ignore[import-untyped, unused-ignore]

    return cast(ServiceModel, botocore.session.get_session().get_service_model(service_name))


def modeled_error(service_model: ServiceModel, name: str, message: str, **fields: Any) -> AwsError:
    """Build the error a service models, by exception shape name or error code.

    The HTTP status and fault side are the shape's ``error`` trait (``httpStatusCode``,
    ``senderFault``); ``fields`` are further members of the exception shape.

    Raises:
        KeyError: the service model has no such exception (a bug in the caller).
    """
    for shape in service_model.error_shapes:
        error = shape.metadata.get("error", {})
        code = str(error.get("code", shape.name))
        if name in (shape.name, code):
            status = int(error.get("httpStatusCode", 400))
            sender = error.get("senderFault")
            return AwsError(
                code,
                message,
                http_status=status,
                sender_fault=None if sender is None else bool(sender),
                type_name=shape.name,
                fields=fields,
            )
    raise KeyError(f"{service_model.service_name} models no exception named {name!r}")


def as_structure(shape: Shape) -> StructureShape:
    """View a shape of type ``structure`` as such."""
    return cast(StructureShape, shape)


def as_list(shape: Shape) -> ListShape:
    """View a shape of type ``list`` as such."""
    return cast(ListShape, shape)


def as_map(shape: Shape) -> MapShape:
    """View a shape of type ``map`` as such."""
    return cast(MapShape, shape)


def lower_camel(name: str) -> str:
    """The member name as AWS validation messages print it (``RoleName`` → ``roleName``)."""
    return name[:1].lower() + name[1:]


# --- timestamps ---------------------------------------------------------------------------


def format_timestamp(value: datetime, timestamp_format: str) -> str | int | float:
    """Write a timestamp as botocore reads it (``iso8601``, ``unixTimestamp``, ``rfc822``).

    ISO 8601 values are UTC with ``Z``, with milliseconds only when the value has any;
    epoch values are whole seconds, or seconds with milliseconds as a float.

    Raises:
        ResultShapeError: the datetime is naive (no time zone).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ResultShapeError(f"timestamp {value.isoformat()} has no time zone, expected UTC")
    utc = value.astimezone(UTC)
    millis = utc.microsecond // 1000
    fmt = timestamp_format.lower()
    if fmt == "iso8601":
        text = utc.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
    if fmt == "unixtimestamp":
        seconds = calendar.timegm(utc.timetuple())
        return seconds + millis / 1000 if millis else seconds
    if fmt == "rfc822":
        return format_datetime(utc.replace(microsecond=0), usegmt=True)
    raise ResultShapeError(f"unknown timestampFormat {timestamp_format!r}")


_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})", re.ASCII
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)


def parse_timestamp(text: str, timestamp_format: str) -> datetime:
    """Read a timestamp as botocore writes it into an aware UTC datetime.

    Raises:
        ValueError: the text is not a timestamp in that format.
    """
    fmt = timestamp_format.lower()
    if fmt == "iso8601":
        if not _ISO8601.fullmatch(text):
            raise ValueError(f"{text!r} is not an ISO 8601 date-time with a time zone")
        fraction = re.search(r"\.(\d+)", text)
        if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds at most
            text = text.replace(fraction.group(0), fraction.group(0)[:7], 1)
        return datetime.fromisoformat(text).astimezone(UTC)
    if fmt == "unixtimestamp":
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{text!r} is not a number of seconds since the epoch")
        return datetime.fromtimestamp(float(text), UTC)
    if fmt == "rfc822":
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{text!r} is not an RFC 822 date") from exc
        if parsed.tzinfo is None:
            raise ValueError(f"{text!r} is not an RFC 822 date with a time zone")
        return parsed.astimezone(UTC)
    raise ValueError(f"unknown timestampFormat {timestamp_format!r}")


def format_float(value: float) -> str | float:
    """A float as AWS protocols write it; NaN and infinities become Smithy's strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_float(text: str) -> float:
    """Read a float written by botocore (including ``NaN``, ``Infinity``, ``-Infinity``).

    Raises:
        ValueError: the text is not a number.
    """
    if text in ("NaN", "Infinity", "-Infinity"):
        return float(text)
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    return float(text)


# --- constraint validation (the service's request validation) ------------------------------

# The models' patterns are Java regular expressions, matched against the whole value:
# Java's \w, \d and \s are ASCII and its "." stops at line ends unless told otherwise,
# so they compile with re.ASCII and without re.DOTALL. Python's re lacks the Unicode
# property classes the models use (\p{L}, \p{Z}, \p{N}, \P{C}…); those are rewritten
# into explicit code point ranges built from unicodedata.
_PROPERTY = re.compile(r"\{([A-Z][a-z]?)\}")


@cache
def _category_runs() -> tuple[tuple[int, int, str], ...]:
    """Runs of code points sharing one Unicode general category: (first, last, category)."""
    runs: list[tuple[int, int, str]] = []
    first = 0
    current = unicodedata.category(chr(0))
    for code in range(1, sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category != current:
            runs.append((first, code - 1, current))
            first, current = code, category
    runs.append((first, sys.maxunicode, current))
    return tuple(runs)


@cache
def _category_ranges(group: str, negate: bool) -> str:
    """Code point ranges (as re class text) of one Unicode general-category group."""
    merged: list[tuple[int, int]] = []
    for first, last, category in _category_runs():
        if category.startswith(group) == negate:
            continue
        if merged and merged[-1][1] == first - 1:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return "".join(_class_range(first, last) for first, last in merged)


def _class_range(first: int, last: int) -> str:
    def escape(code: int) -> str:
        return f"\\U{code:08x}"

    return escape(first) if first == last else f"{escape(first)}-{escape(last)}"


def _translate_java_pattern(pattern: str) -> str:
    """Rewrite Java's ``\\p{X}``/``\\P{X}`` classes into ranges Python's re understands."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            prop = _PROPERTY.match(pattern, index + 2)
            if escaped in "pP" and prop:
                negate = escaped == "P"
                group = prop.group(1)
                if in_class:
                    out.append(_category_ranges(group, negate))
                else:
                    out.append(f"[{_category_ranges(group, negate)}]")
                index = prop.end()
                continue
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


# Model patterns that refuse the values their own service documents. Amazon Connect's
# IpCidr (authentication profiles' AllowedIps / BlockedIps) leaves out ".", yet every
# CIDR in its guide ("Configure IP address based access control") is dotted IPv4.
_CONTRADICTED_PATTERNS = frozenset({"^[A-Za-z0-9:/]*$"})


def _unenforceable(pattern: str) -> bool:
    """Whether a model pattern is written so that no real value could match it.

    Some of Amazon Connect's patterns are escaped twice (``\\\\+[1-9]\\\\d{1,14}$``
    demands a literal backslash before a phone number) or kept in JavaScript's slashes
    (``/^(?=.*[a-z])…$/`` for passwords); Connect evidently does not enforce them as
    written, so they are not checked, nor those its documentation contradicts.
    """
    return (
        "\\\\" in pattern
        or (pattern.startswith("/^") and pattern.endswith("$/"))
        or pattern in _CONTRADICTED_PATTERNS
    )


@cache
def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's Java regex as a Python one, or ``None`` if it cannot be enforced."""
    if _unenforceable(pattern):
        return None
    try:
        return re.compile(_translate_java_pattern(pattern), re.ASCII)
    except re.error:
        return None


def show_value(value: Any) -> str:
    """A value as AWS validation messages quote it (``'60'``, ``'[a, b]'``), printable."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes):
        text = "java.nio.HeapByteBuffer"
    elif isinstance(value, list):
        text = "[" + ", ".join(str(item) for item in value) + "]"
    else:
        text = str(value)
    return f"'{printable(text)}'"


def _violation(shape: Shape, value: Any, path: str, rule: str) -> str:
    if shape.metadata.get("sensitive"):
        return f"Value at '{path}' failed to satisfy constraint: {rule}"
    return f"Value {show_value(value)} at '{path}' failed to satisfy constraint: {rule}"


_PATTERN_LENGTH_LIMIT = 1024

# Characters no string member may hold, whatever its model says: the C0 controls but TAB,
# LF and CR, DEL, lone surrogates (how Sekisho keeps bytes that were not UTF-8 or a "%"
# that starts no escape, see protocol.http.percent_decode) and U+FFFE/U+FFFF. AWS's
# patterns leave them out where a model has one (``[\u0009\u000A\u000D\u0020-\u007E…]``);
# where it has none they still could not be stored in PostgreSQL (NUL) or written back in
# a query-protocol XML response (XML 1.0 "Char" production), so they are refused too.
_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Not documented by AWS (its models give such members no pattern); Sekisho's wording.
FORBIDDEN_CHARACTERS_RULE = (
    "Member must not contain control characters, lone surrogates or bytes that are not "
    "percent-encoded UTF-8"
)


def validate_input(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Check a parsed request value against the model's constraints.

    Returns:
        Every violation as AWS words it, in model order; empty when the value is valid.
    """
    problems: list[str] = []
    _validate(shape, value, path, problems)
    return problems


def _validate(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _validate_structure(as_structure(shape), value, path, problems)
        return
    problems.extend(_violation(shape, value, path, rule) for rule in _broken_rules(shape, value))
    if kind == "list":
        member = as_list(shape).member
        for index, item in enumerate(value, 1):
            if item is not None:
                _validate(member, item, f"{path}.{index}.member", problems)
    elif kind == "map":
        map_shape = as_map(shape)
        for key, item in value.items():
            _validate(map_shape.key, key, f"{path}.key", problems)
            if item is not None:
                _validate(map_shape.value, item, f"{path}.{key}", problems)


def _validate_structure(
    shape: StructureShape, value: Mapping[str, Any], path: str, problems: list[str]
) -> None:
    if shape.is_document_type:
        return
    for name, member in shape.members.items():
        member_path = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
        if value.get(name) is not None:
            _validate(member, value[name], member_path, problems)
        elif name in shape.required_members:
            problems.append(
                f"Value null at '{member_path}' failed to satisfy constraint: "
                "Member must not be null"
            )


def _broken_rules(shape: Shape, value: Any) -> list[str]:
    """The constraint rules of one (non-structure) value that it breaks, as AWS words them."""
    meta = shape.metadata
    kind = shape.type_name
    rules: list[str] = []
    if kind in ("string", "list", "map", "blob"):
        measure, size = "length", len(value)
    elif kind in ("integer", "long", "float", "double"):
        measure, size = "value", value
    else:
        return rules
    if "min" in meta and size < meta["min"]:
        rules.append(f"Member must have {measure} greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        rules.append(f"Member must have {measure} less than or equal to {meta['max']}")
    if kind == "string":
        pattern = meta.get("pattern")
        compiled = compiled_pattern(pattern) if pattern else None
        # A value far past its maximum length is not run through the pattern: some model
        # patterns backtrack quadratically, and the length violation is reported anyway.
        oversized = "max" in meta and size > meta["max"] and size > _PATTERN_LENGTH_LIMIT
        refused = False  # whether the model's own pattern or enum already refuses the value
        if compiled is not None and not oversized and not compiled.fullmatch(value):
            rules.append(f"Member must satisfy regular expression pattern: {pattern}")
            refused = True
        enum = meta.get("enum")
        if enum and value not in enum:
            rules.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
            refused = True
        # A jsonvalue header member is a string on the wire but decoded JSON here.
        if not refused and isinstance(value, str) and _FORBIDDEN_CHARACTERS.search(value):
            rules.append(FORBIDDEN_CHARACTERS_RULE)
    return rules


def validation_message(problems: Sequence[str]) -> str:
    """Join violations into AWS's "N validation error(s) detected: a; b" message."""
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)
