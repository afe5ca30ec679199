"""Errors of the policy context: one PolicyError carrying every Problem found in a document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sekisho.errors import SekishoError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a policy document: where (a JSON path) and expected vs got."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PolicyError(SekishoError):
    """A policy document that IAM would reject; ``problems`` lists every reason, in order."""

    code = "policy_invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        # One problem per line, so an administrator fixes them all in one edit.
        super().__init__("\n".join(str(problem) for problem in self.problems))
