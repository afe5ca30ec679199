"""Policy variables: ``${key}``, ``${key, 'default'}`` and the specials ``${*}`` ``${?}`` ``${$}``.

IAM User Guide, "IAM policy elements: Variables and tags": variables work only with
``"Version": "2012-10-17"`` (otherwise they are literal text); only single-valued keys can be
used; a variable with no value (and no default) leaves the value "effectively null", so it
equals and is like nothing; a substituted value is literal (its ``*`` is not a wildcard).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sekisho.policy.context import ContextValue, value_to_string

# Vendor-prefixed key as for condition keys (e.g. aws:PrincipalTag/team), then an optional
# default in single quotes after a comma ("separate ... with a comma and space").
_VARIABLE_RE = re.compile(r"\s*([A-Za-z0-9-]+:[^\s,'{}$]+)\s*(?:,\s*'([^']*)'\s*)?")
_SPECIALS = frozenset({"*", "?", "$"})


@dataclass(frozen=True, slots=True)
class Literal:
    """Text matched literally even where * and ? are wildcards (from ${*}, ${?}, ${$})."""

    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    """A reference to a request context key, with an optional default value."""

    key: str
    text: str
    default: str | None = None

    @property
    def lowered(self) -> str:
        """The key as looked up in a RequestContext (keys are case-insensitive)."""
        return self.key.lower()


Part = str | Literal | Variable


@dataclass(frozen=True, slots=True)
class Template:
    """A string from a policy split into raw text, literal specials and variables."""

    text: str
    parts: tuple[Part, ...]

    @property
    def variables(self) -> tuple[Variable, ...]:
        """The variables, in order of appearance."""
        return tuple(part for part in self.parts if isinstance(part, Variable))

    @property
    def has_variables(self) -> bool:
        """True when the value depends on the request (a ${key} variable appears)."""
        return any(isinstance(part, Variable) for part in self.parts)

    def static_parts(self) -> tuple[str | Literal, ...]:
        """The parts of a template without variables: raw text and literal specials."""
        return tuple(part for part in self.parts if not isinstance(part, Variable))

    def static_text(self) -> str:
        """The text a template without variables stands for (specials resolved)."""
        return "".join(p.text if isinstance(p, Literal) else p for p in self.static_parts())

    @property
    def has_wildcards(self) -> bool:
        """True when the raw text holds * or ? (literal specials do not count)."""
        return any(isinstance(part, str) and ("*" in part or "?" in part) for part in self.parts)

    def substitute(self, values: dict[str, ContextValue]) -> tuple[str | Literal, ...] | None:
        """Replace each variable by its value as a Literal; None when one has no value."""
        out: list[str | Literal] = []
        for part in self.parts:
            if isinstance(part, Variable):
                value = variable_value(values, part)
                if value is None:
                    return None
                out.append(Literal(value))
            else:
                out.append(part)
        return tuple(out)

    def missing(self, values: dict[str, ContextValue]) -> tuple[Variable, ...]:
        """The variables that have no value (and no default) in the given context values."""
        return tuple(v for v in self.variables if variable_value(values, v) is None)


def variable_value(values: dict[str, ContextValue], variable: Variable) -> str | None:
    """Return the variable's value as a string, its default, or None (no value)."""
    value = values.get(variable.lowered)
    # A multivalued key cannot be a variable ("You can't use a multivalued condition key as a
    # variable"), so a list counts as no value.
    if value is None or isinstance(value, tuple):
        return variable.default
    return value_to_string(value)


def literal_template(text: str) -> Template:
    """A template of raw text only: for policies without variables (Version 2008-10-17)."""
    return Template(text, (text,) if text else ())


def parse_template(text: str, *, enabled: bool) -> tuple[Template, str | None]:
    """Split text into a Template; returns (template, error message or None).

    With ``enabled`` False (Version 2008-10-17 or none) ``${...}`` is literal text.
    """
    if not enabled or "${" not in text:
        return literal_template(text), None
    parts: list[Part] = []
    raw: list[str] = []
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            raw.append(text[position:])
            break
        raw.append(text[position:start])
        end = text.find("}", start + 2)
        if end < 0:
            return literal_template(text), (
                f"expected '}}' to close the policy variable at character {start}, got end of text"
            )
        inner = text[start + 2 : end]
        written = text[start : end + 1]
        if inner in _SPECIALS:
            part: Part = Literal(inner)
        else:
            match = _VARIABLE_RE.fullmatch(inner)
            if match is None:
                return literal_template(text), (
                    f"expected a policy variable like ${{aws:username}} or "
                    f"${{aws:PrincipalTag/team, 'default'}}, got {written!r}"
                )
            part = Variable(match.group(1), written, match.group(2))
        joined = "".join(raw)
        if joined:
            parts.append(joined)
        raw = []
        parts.append(part)
        position = end + 1
    joined = "".join(raw)
    if joined:
        parts.append(joined)
    return Template(text, tuple(parts)), None
