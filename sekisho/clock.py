"""Injected time and randomness, so tests can freeze both."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock that only moves when told to (for tests)."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        """Return the frozen time."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.current += timedelta(seconds=seconds)


class Random(Protocol):
    """A source of identifiers and secret bytes."""

    def token_bytes(self, n: int) -> bytes:
        """Return n cryptographically random bytes."""
        ...

    def new_id(self) -> str:
        """Return a fresh XML-ID-safe identifier (starts with a letter or underscore)."""
        ...

    def uuid(self) -> str:
        """Return a fresh UUID4 string."""
        ...


class SystemRandom:
    """The operating system's CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        """Return n cryptographically random bytes."""
        return secrets.token_bytes(n)

    def new_id(self) -> str:
        """Return an xs:ID-safe identifier with 160 bits of randomness (SAML core §1.3.4)."""
        return "_" + secrets.token_hex(20)

    def uuid(self) -> str:
        """Return a fresh UUID4 string."""
        return str(uuid.uuid4())


SYSTEM_CLOCK = SystemClock()
SYSTEM_RANDOM = SystemRandom()
