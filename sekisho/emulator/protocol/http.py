"""Plain HTTP request and response values that the AWS protocol code reads and writes.

The web layer translates its framework's request into ``AwsHttpRequest`` and writes an
``AwsHttpResponse`` back; nothing here knows Django. ``path`` and ``query_string`` are
the raw, still percent-encoded text as sent on the wire (the request target), because
Signature Version 4 signs exactly that text and rest-json path labels may contain an
encoded ``/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", _as_headers(self.headers))

    def query_pairs(self) -> list[tuple[str, str]]:
        """Decode the raw query string into (name, value) pairs, in order.

        Decoding follows RFC 3986 percent-encoding, as Signature Version 4 does: a ``+``
        stays a plus sign (AWS SDKs send a space as ``%20``).
        """
        return decode_query(self.query_string)


@dataclass(frozen=True)
class AwsHttpResponse:
    """One HTTP response, ready for the web layer to write out."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _as_headers(self.headers))


def decode_query(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query string into percent-decoded (name, value) pairs.

    Raises:
        UnicodeDecodeError: a percent-encoded sequence is not UTF-8.
    """
    pairs: list[tuple[str, str]] = []
    if not query_string:
        return pairs
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name, errors="strict"), unquote(value, errors="strict")))
    return pairs
