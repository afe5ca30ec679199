"""Per-request memos: a value read at most once while one request is being answered.

Several decisions of one request read the same settings row (the MFA settings, whether
a RADIUS server exists); outside a request (the CLI, a test calling a service) nothing
is remembered. The memo lives exactly as long as the request: nodes never share it and
the database stays the only truth. Whatever changes a remembered value forgets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_current: ContextVar[dict[str, Any] | None] = ContextVar("sekisho_request_memo", default=None)


@contextmanager
def request_scope() -> Iterator[None]:
    """Remember values until the request being answered in this block is done."""
    token = _current.set({})
    try:
        yield
    finally:
        _current.reset(token)


def remembered(key: str, load: Callable[[], T]) -> T:
    """``load()``'s value, loaded once per request (every time outside one)."""
    memo = _current.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    value: T = memo[key]
    return value


def forget(key: str) -> None:
    """Drop a remembered value (it has just changed)."""
    memo = _current.get()
    if memo is not None:
        memo.pop(key, None)
