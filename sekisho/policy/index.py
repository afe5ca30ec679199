"""An action index over compiled statements, so one request touches only statements whose
Action could match it (cost sublinear in the number of statements).

Exact actions are looked up in a dict, wildcard actions only within their service prefix;
``*``, wildcard service prefixes and NotAction statements are checked for every action. The
answer per action is cached (bounded), so repeated actions cost one dict lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from sekisho.policy.matching import ActionPattern

_CACHE_LIMIT = 4096


class IndexedStatement(Protocol):
    """What the index reads of a statement (document.Statement provides it)."""

    @property
    def effect(self) -> str:
        """Allow or Deny."""
        ...

    @property
    def action(self) -> tuple[ActionPattern, ...] | None:
        """Action patterns, or None for a NotAction statement."""
        ...

    def matches_action(self, action: str) -> bool:
        """Whether Action / NotAction matches."""
        ...


S = TypeVar("S", bound=IndexedStatement)


class ActionIndex(Generic[S]):
    """Statements of one or more policies, indexed by the actions they name."""

    __slots__ = ("_by_service", "_cache", "_exact", "_statements", "_unindexed")

    def __init__(self, statements: Sequence[S]) -> None:
        self._statements = tuple(statements)
        self._exact: dict[str, list[int]] = {}
        self._by_service: dict[str, list[tuple[ActionPattern, int]]] = {}
        self._unindexed: list[int] = []
        self._cache: dict[str, tuple[tuple[S, ...], tuple[S, ...]]] = {}
        for position, statement in enumerate(self._statements):
            if statement.action is None:
                # NotAction matches every action it does not list: always a candidate.
                self._unindexed.append(position)
                continue
            for pattern in statement.action:
                if pattern.service_is_wild:
                    self._unindexed.append(position)
                elif pattern.exact is not None:
                    self._exact.setdefault(pattern.exact, []).append(position)
                else:
                    self._by_service.setdefault(pattern.service, []).append((pattern, position))

    @property
    def statements(self) -> tuple[S, ...]:
        """Every statement, in policy order."""
        return self._statements

    def lookup(self, action: str) -> tuple[tuple[S, ...], tuple[S, ...]]:
        """The (Deny, Allow) statements whose Action/NotAction matches ``action``, in order."""
        cached = self._cache.get(action)
        if cached is not None:
            return cached
        lowered = action.lower()
        service = lowered.partition(":")[0]
        positions: set[int] = set(self._exact.get(lowered, ()))
        for pattern, position in self._by_service.get(service, ()):
            if position not in positions and pattern.matches(action):
                positions.add(position)
        for position in self._unindexed:
            if position not in positions and self._statements[position].matches_action(action):
                positions.add(position)
        ordered = [self._statements[p] for p in sorted(positions)]
        result = (
            tuple(s for s in ordered if s.effect == "Deny"),
            tuple(s for s in ordered if s.effect == "Allow"),
        )
        if len(self._cache) >= _CACHE_LIMIT:
            # A bounded cache: callers passing unbounded distinct actions cannot grow memory.
            self._cache.clear()
        self._cache[action] = result
        return result
