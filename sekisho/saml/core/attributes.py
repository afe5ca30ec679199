"""Attribute mapping expressions in IAM Identity Center's syntax (``${user:email}``).

An expression is literal text with ``${user:NAME}`` placeholders, e.g. ``${user:email}``,
``prefix-${user:username}`` or the literal ``arn:aws:iam::1:role/R,arn:...``. The
multi-valued ``${user:groups}`` must be the whole expression. There is no escape: a
``$`` that does not start a placeholder is an error, so typos surface at configuration
time instead of reaching an assertion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from sekisho.saml.core.response import (
    ATTRNAME_FORMAT_BASIC,
    ATTRNAME_FORMAT_UNSPECIFIED,
    ATTRNAME_FORMAT_URI,
    Attribute,
)
from sekisho.saml.core.xml import check_xml_text
from sekisho.saml.errors import MappingError

MAX_EXPRESSION_LENGTH: Final = 2048

NameFormat = Literal["basic", "uri", "unspecified"]
NAME_FORMAT_URIS: Final[dict[str, str]] = {
    "basic": ATTRNAME_FORMAT_BASIC,
    "uri": ATTRNAME_FORMAT_URI,
    "unspecified": ATTRNAME_FORMAT_UNSPECIFIED,
}

# Placeholder name -> UserAttributes field. Identity Center's spellings, plus aliases.
_SINGLE: Final[dict[str, str]] = {
    "username": "username",
    "subject": "username",
    "email": "email",
    "name": "display_name",
    "displayName": "display_name",
    "givenName": "given_name",
    "familyName": "family_name",
    "uid": "uid",
    # Scoped identifiers (SEKISHO_SCOPE, published as shibmd:Scope in the metadata).
    "eppn": "eppn",
    "subjectId": "subject_id",
}
_MULTI: Final = "groups"
PLACEHOLDERS: Final = (*_SINGLE, _MULTI)

_PLACEHOLDER: Final = re.compile(r"\$\{([^{}$]*)\}")
_UNIQUE_ID: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9=-]{0,126}")


@dataclass(frozen=True)
class UserAttributes:
    """The user data an expression can reference."""

    uid: str
    username: str
    email: str = ""
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    groups: tuple[str, ...] = ()
    # The IdP's security domain (shibmd:Scope), the part after '@' of scoped values.
    scope: str = ""

    @property
    def eppn(self) -> str:
        """eduPersonPrincipalName ``username@scope`` (eduPerson 201602 §2.2.6), or "".

        A username that already holds an '@' is used only when it ends in '@scope':
        SPs split scoped values at the '@' and drop values whose scope is not the IdP's.
        """
        if not self.scope or not self.username:
            return ""
        if "@" in self.username:
            return self.username if self.username.endswith("@" + self.scope) else ""
        return f"{self.username}@{self.scope}"

    @property
    def subject_id(self) -> str:
        """The SAML subject-id ``uid@scope`` (saml-subject-id-attr-v1.0 §3.3), or "".

        The uid is immutable and never reassigned, which that profile requires; a UUID
        is within its unique-ID syntax ``[a-zA-Z0-9][a-zA-Z0-9=-]{0,126}``.
        """
        if not self.scope or not _UNIQUE_ID.fullmatch(self.uid):
            return ""
        return f"{self.uid.lower()}@{self.scope}"


@dataclass(frozen=True)
class _Parsed:
    # literals[i] precedes fields[i]; literals has one more item (the trailing text).
    literals: tuple[str, ...]
    fields: tuple[str, ...]
    multi: bool


@dataclass(frozen=True)
class AttributeMapping:
    """One configured attribute: SAML Name, value expression and NameFormat short name."""

    name: str
    value_expression: str
    name_format: NameFormat = "basic"

    def __post_init__(self) -> None:
        """Refuse a bad mapping when it is configured, not at sign-in."""
        if not self.name.strip():
            raise MappingError("expected a non-empty attribute name, got an empty one")
        check_xml_text(self.name, what="attribute name")
        if self.name_format not in NAME_FORMAT_URIS:
            raise MappingError(
                f"expected name format basic, uri or unspecified, got {self.name_format!r}"
            )
        validate(self.value_expression)

    @property
    def name_format_uri(self) -> str:
        """The NameFormat URI for this mapping (saml-core §8.2)."""
        return NAME_FORMAT_URIS[self.name_format]


def name_format_uri(short: str) -> str:
    """Map a NameFormat short name (basic, uri, unspecified) to its URI (saml-core §8.2).

    Raises:
        MappingError: any other short name.
    """
    uri = NAME_FORMAT_URIS.get(short)
    if uri is None:
        raise MappingError(f"expected name format basic, uri or unspecified, got {short!r}")
    return uri


def validate(expression: str) -> None:
    """Check an expression at configuration time.

    Raises:
        MappingError: unknown placeholder, stray ``$``, unterminated ``${``, groups mixed
            with other text, or characters XML cannot carry.
    """
    _parse(expression)


def evaluate(expression: str, user: UserAttributes) -> tuple[str, ...]:
    """Evaluate an expression for ``user``; returns no values when a referenced value is empty.

    An empty referenced value (a user without email, say) yields ``()`` so the attribute
    is left out rather than sent half-filled (``mailto:``).

    Raises:
        MappingError: as ``validate``.
    """
    parsed = _parse(expression)
    if parsed.multi:
        return tuple(g for g in user.groups if g)
    values: list[str] = [parsed.literals[0]]
    for field_name, literal in zip(parsed.fields, parsed.literals[1:], strict=True):
        value = getattr(user, field_name)
        if not value:
            return ()
        values.append(value)
        values.append(literal)
    return ("".join(values),)


def map_attributes(
    mappings: Iterable[AttributeMapping], user: UserAttributes
) -> tuple[Attribute, ...]:
    """Evaluate every mapping into Attributes, leaving out those with no values.

    Raises:
        MappingError: a repeated attribute name (saml-core §2.7.3.1 allows it, SPs don't).
    """
    seen: set[str] = set()
    result: list[Attribute] = []
    for mapping in mappings:
        if mapping.name in seen:
            raise MappingError(f"expected each attribute name once, got {mapping.name!r} twice")
        seen.add(mapping.name)
        values = evaluate(mapping.value_expression, user)
        if values:
            result.append(
                Attribute(name=mapping.name, name_format=mapping.name_format_uri, values=values)
            )
    return tuple(result)


@lru_cache(maxsize=1024)
def _parse(expression: str) -> _Parsed:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise MappingError(
            f"expected an expression of at most {MAX_EXPRESSION_LENGTH} characters, "
            f"got {len(expression)}"
        )
    check_xml_text(expression, what="expression")
    literals: list[str] = []
    fields: list[str] = []
    multi = False
    position = 0
    for match in _PLACEHOLDER.finditer(expression):
        literal = expression[position : match.start()]
        _check_literal(literal, expression, position)
        literals.append(literal)
        fields.append(_field_for(match.group(1), expression))
        if match.group(1) == f"user:{_MULTI}":
            multi = True
        position = match.end()
    tail = expression[position:]
    _check_literal(tail, expression, position)
    literals.append(tail)
    if multi and (len(fields) != 1 or literals != ["", ""]):
        raise MappingError(
            f"expected ${{user:{_MULTI}}} alone (it is multi-valued), got {expression!r}"
        )
    return _Parsed(literals=tuple(literals), fields=tuple(fields), multi=multi)


def _check_literal(literal: str, expression: str, offset: int) -> None:
    dollar = literal.find("$")
    if dollar < 0:
        return
    where = offset + dollar
    following = expression[where : where + 2]
    if following == "$$":
        problem = "'$$' is not an escape; Sekisho has no way to write a literal '$'"
    elif following == "${":
        problem = "'${' is not closed by '}'"
    else:
        problem = "a '$' must start a ${user:...} placeholder"
    raise MappingError(f"invalid expression {expression!r} at position {where}: {problem}")


def _field_for(inner: str, expression: str) -> str:
    namespace, _, name = inner.partition(":")
    if namespace != "user" or not name:
        raise MappingError(
            f"invalid placeholder ${{{inner}}} in {expression!r}: expected ${{user:NAME}}"
        )
    if name == _MULTI:
        return "groups"
    field_name = _SINGLE.get(name)
    if field_name is None:
        known = ", ".join(PLACEHOLDERS)
        raise MappingError(
            f"unknown placeholder ${{user:{name}}} in {expression!r}; expected one of: {known}"
        )
    return field_name
