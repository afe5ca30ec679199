"""The request context a policy is evaluated against: the request's keys and their values.

IAM User Guide, "Policy evaluation logic" (processing the request context) and "IAM policy
elements: Variables and tags" (key names are case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

Scalar = str | bool | int | float | datetime
ContextValue = Scalar | tuple[Scalar, ...]

_CURRENT_TIME = "aws:currenttime"
_EPOCH_TIME = "aws:epochtime"
_SCALARS = (str, bool, int, float)


def _normalize_scalar(key: str, value: object) -> Scalar:
    """Return a context scalar as stored, or raise TypeError naming the key."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        # A naive time is taken as UTC: AWS's clock (aws:CurrentTime) is UTC.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    raise TypeError(
        f"context key {key!r}: expected str, bool, int, float, datetime or a list of them, "
        f"got {type(value).__name__}"
    )


def value_to_string(value: Scalar) -> str:
    """Render a context scalar the way IAM compares it as a string (bools as true/false)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def format_time(value: datetime) -> str:
    """Format a time as ISO 8601 in UTC with a Z suffix, like aws:CurrentTime."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_EPOCH_RE = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")
# W3C profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime), which IAM's Date operators
# accept: YYYY, YYYY-MM, YYYY-MM-DD, then hh:mm[:ss[.s+]] with Z or +hh:mm. A missing zone
# is read as UTC (the strict reading: IAM documents no local time).
_ISO_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?)?)?)?\Z"
)


def parse_time(text: str) -> float | None:
    """Parse an ISO 8601 (W3C profile) time or epoch seconds into epoch seconds, or None.

    IAM User Guide, "IAM JSON policy elements: Condition operators" (Date condition
    operators): "one of the W3C implementations of the ISO 8601 date formats or in epoch
    (UNIX) time".
    """
    text = text.strip()
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        # The form of aws:CurrentTime (2026-11-27T09:00:00Z): C-speed parse, same result.
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    if _EPOCH_RE.match(text):
        return float(text)
    match = _ISO_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        when = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    seconds = when.timestamp()
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        if offset >= 24 * 3600:
            return None
        seconds -= sign * offset
    return seconds


class RequestContext:
    """Immutable, case-insensitive mapping of condition keys to request values.

    Not a dataclass: one is built per request on the hot path, so it keeps its state in
    private slots behind read-only methods (there is no way to change it after creation).
    """

    __slots__ = ("_keys", "_memo", "_values")

    _values: dict[str, ContextValue]
    _keys: tuple[str, ...]

    def __init__(self, mapping: Mapping[str, Any] | None = None) -> None:
        """Build a context from plain values; see from_mapping."""
        values: dict[str, ContextValue] = {}
        if mapping:
            try:
                for key, value in mapping.items():
                    if type(value) is not str:
                        # Not the usual all-strings context: None, numbers, lists, times.
                        values = _normalize(mapping)
                        break
                    values[key.lower()] = value
            except AttributeError:
                bad = next(k for k in mapping if not isinstance(k, str))
                raise TypeError(f"context keys must be strings, got {type(bad).__name__}") from None
            if len(values) != len(mapping):
                _check_duplicates(mapping)
            if _CURRENT_TIME in values or _EPOCH_TIME in values:
                _derive_times(values)
        self._values = values
        self._keys = tuple(mapping) if mapping else ()
        # Per-request memo of parsed values (dates, numbers), created when first needed.
        self._memo: dict[tuple[str, str], object] | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None) -> RequestContext:
        """Build a context from plain values; keys are case-insensitive, None means absent.

        Values are str, bool, int, float, datetime or a list of those (a multivalued key);
        a naive datetime is UTC. aws:CurrentTime and aws:EpochTime are derived from each
        other when only one is given, as AWS always sends both.

        Raises:
            TypeError: a key is not a string, is repeated, or a value has an unsupported type.
        """
        return cls(mapping)

    def get(self, key: str) -> ContextValue | None:
        """Return the value of a key (case-insensitive), or None when absent."""
        return self._values.get(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequestContext) and self._values == other._values

    def __hash__(self) -> int:
        return hash(frozenset(self._values))

    def __repr__(self) -> str:
        return f"RequestContext({self.to_dict()!r})"

    def to_dict(self) -> dict[str, ContextValue]:
        """Return the keys as first written (derived times last), with normalised values."""
        written = {key.lower(): key for key in self._keys}
        names = {_CURRENT_TIME: "aws:CurrentTime", _EPOCH_TIME: "aws:EpochTime"}
        return {
            written.get(key) or names.get(key, key): value for key, value in self._values.items()
        }


def _check_duplicates(mapping: Mapping[str, Any]) -> None:
    """Raise TypeError when two keys differ only in case (None values may explain a gap)."""
    seen: set[str] = set()
    for key in mapping:
        if key.lower() in seen:
            raise TypeError(f"context key {key!r} is given twice (keys are case-insensitive)")
        seen.add(key.lower())


def _normalize(mapping: Mapping[str, Any]) -> dict[str, ContextValue]:
    """The slow path: drop None (absent), normalise scalars and lists, reject other types."""
    values: dict[str, ContextValue] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"context keys must be strings, got {type(key).__name__}")
        if value is None:
            continue
        if isinstance(value, list | tuple):
            values[key.lower()] = tuple(_normalize_scalar(key, item) for item in value)
        else:
            values[key.lower()] = _normalize_scalar(key, value)
    return values


def _derive_times(values: dict[str, ContextValue]) -> None:
    """Fill aws:EpochTime from aws:CurrentTime or the reverse; AWS always sends both."""
    current = values.get(_CURRENT_TIME)
    epoch = values.get(_EPOCH_TIME)
    if current is not None and epoch is None:
        if isinstance(current, datetime):
            values[_EPOCH_TIME] = int(current.timestamp())
        elif isinstance(current, str):
            seconds = parse_time(current)
            if seconds is not None:
                values[_EPOCH_TIME] = int(seconds)
    elif current is None and isinstance(epoch, int | float) and not isinstance(epoch, bool):
        try:
            values[_CURRENT_TIME] = datetime.fromtimestamp(epoch, UTC)
        except (OverflowError, OSError, ValueError):
            return


class Request(NamedTuple):
    """One request to authorize: the action, the resource ARN, the context and who asks.

    ``principal`` is the caller's ARN (or a service name, a SAML/OIDC provider for
    federation); ``principal_account`` defaults to the account in that ARN. A NamedTuple
    rather than a frozen dataclass: equally immutable, and one is built per request on
    the hot path, where a frozen dataclass costs about three times more to construct.
    """

    action: str
    resource: str
    context: RequestContext
    principal: str | None = None
    principal_account: str | None = None
