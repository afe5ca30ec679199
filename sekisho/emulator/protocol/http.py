"""Plain HTTP request and response values that the AWS protocol code reads and writes.

The web layer translates its framework's request into ``AwsHttpRequest`` and writes an
``AwsHttpResponse`` back; nothing here knows Django. ``path`` and ``query_string`` are
the raw, still percent-encoded text as sent on the wire (the request target), because
Signature Version 4 signs exactly that text and rest-json path labels may contain an
encoded ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


class Headers(Mapping[str, str]):
    """An immutable, case-insensitive header mapping; repeated names are joined by ``,``."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        store: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            key = name.lower()
            if key in store:
                # RFC 9110 §5.3: a repeated field is equivalent to one comma-joined field.
                first_name, first_value = store[key]
                store[key] = (first_name, f"{first_value},{value}")
            else:
                store[key] = (name, value)
        self._items = store

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _as_headers(value: Mapping[str, str]) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


@dataclass(frozen=True)
class AwsHttpRequest:
    """One HTTP request to the emulated AWS endpoint, as received."""

    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=Headers)
    body: bytes = b""
    source_ip: str = ""
    # aws:SecureTransport: whether the client's hop was TLS, as the web layer resolved it.
    secure_transport: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", _as_headers(self.headers))

    def query_pairs(self) -> list[tuple[str, str]]:
        """Decode the raw query string into (name, value) pairs, in order (``decode_query``)."""
        return decode_query(self.query_string)


@dataclass(frozen=True)
class AwsHttpResponse:
    """One HTTP response, ready for the web layer to write out."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _as_headers(self.headers))


# A run of well-formed escapes, or a "%" that starts none (RFC 3986 §2.1: pct-encoded).
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+|%")
# How a "%" that starts no escape is kept: as the undecodable byte 0x25, in the manner of
# surrogateescape (which itself only ever produces U+DC80..U+DCFF, so this is unambiguous).
_STRAY_PERCENT = "\udc25"


def _decode_escapes(match: re.Match[str]) -> str:
    run = match.group(0)
    if run == "%":
        return _STRAY_PERCENT
    return bytes.fromhex(run.replace("%", "")).decode("utf-8", "surrogateescape")


def percent_decode(text: str, *, plus_is_space: bool = False) -> str:
    """Decode RFC 3986 percent-encoding without ever failing.

    What cannot be decoded is kept, not refused here, so that the service's validation
    can refuse it with the member's name as AWS does: bytes that are not UTF-8 become
    lone surrogates U+DC80..U+DCFF (Python's "surrogateescape", PEP 383), and a ``%``
    not followed by two hex digits becomes U+DC25. ``plus_is_space`` reads ``+`` as a
    space (``application/x-www-form-urlencoded`` bodies).
    """
    if plus_is_space:
        text = text.replace("+", " ")
    return _ESCAPES.sub(_decode_escapes, text)


def wire_bytes(text: str) -> bytes:
    """The bytes a ``percent_decode``d text stands for (undecodable bytes as they came)."""
    text = text.replace(_STRAY_PERCENT, "%")
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate from elsewhere, such as a JSON "\ud800" escape
        return text.encode("utf-8", "surrogatepass")


def decode_form(text: str, *, plus_is_space: bool = False) -> list[tuple[str, str]]:
    """Split ``name=value&…`` text into percent-decoded (name, value) pairs, in order."""
    pairs: list[tuple[str, str]] = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(
            (
                percent_decode(name, plus_is_space=plus_is_space),
                percent_decode(value, plus_is_space=plus_is_space),
            )
        )
    return pairs


def decode_query(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query string into percent-decoded (name, value) pairs, in order.

    A ``+`` stays a plus sign, as Signature Version 4 reads it (AWS SDKs send a space as
    ``%20``); undecodable text is kept as ``percent_decode`` says.
    """
    return decode_form(query_string)
