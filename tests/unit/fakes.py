"""Deterministic stand-ins for the injected randomness (tests only)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable


class FakeRandom:
    """A Random whose bytes and ids are reproducible; queued UUIDs are handed out first."""

    def __init__(self, seed: int = 0, uuids: Iterable[str] = ()) -> None:
        self.seed = seed
        self.calls = 0
        self.queued = list(uuids)

    def token_bytes(self, n: int) -> bytes:
        """Return n bytes derived from the seed and a call counter."""
        self.calls += 1
        out = b""
        block = 0
        while len(out) < n:
            out += hashlib.sha256(f"{self.seed}/{self.calls}/{block}".encode()).digest()
            block += 1
        return out[:n]

    def new_id(self) -> str:
        """Return a reproducible xs:ID-safe identifier."""
        return "_" + self.token_bytes(20).hex()

    def uuid(self) -> str:
        """Return the next queued UUID, else a reproducible one."""
        if self.queued:
            return self.queued.pop(0)
        return str(uuid.UUID(bytes=self.token_bytes(16), version=4))


class ConstantRandom:
    """A Random that always returns the same bytes (to show nonces come from it)."""

    def __init__(self, byte: int = 7) -> None:
        self.byte = byte

    def token_bytes(self, n: int) -> bytes:
        """Return n copies of one byte."""
        return bytes([self.byte]) * n

    def new_id(self) -> str:
        """Return a fixed identifier."""
        return "_fixed"

    def uuid(self) -> str:
        """Return a fixed UUID."""
        return "00000000-0000-4000-8000-000000000000"
