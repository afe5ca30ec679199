"""Identity Center style attribute mapping expressions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.saml.core.attributes import (
    PLACEHOLDERS,
    AttributeMapping,
    UserAttributes,
    evaluate,
    map_attributes,
    name_format_uri,
    validate,
)
from sekisho.saml.core.response import (
    ATTRNAME_FORMAT_BASIC,
    ATTRNAME_FORMAT_UNSPECIFIED,
    ATTRNAME_FORMAT_URI,
    Attribute,
)
from sekisho.saml.errors import MappingError
from tests.saml import factory

USER = factory.alice()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${user:username}", ("alice",)),
        ("${user:subject}", ("alice",)),
        ("${user:email}", ("alice@example.test",)),
        ("${user:name}", ("Alice Example",)),
        ("${user:displayName}", ("Alice Example",)),
        ("${user:givenName}", ("Alice",)),
        ("${user:familyName}", ("Example",)),
        ("${user:eppn}", ("alice@example.test",)),
        ("${user:subjectId}", ("4f1c2b9e-0000-4000-8000-000000000001@example.test",)),
        ("${user:uid}", (USER.uid,)),
        ("${user:groups}", ("agents", "supervisors")),
        ("literal", ("literal",)),
        ("", ("",)),
        ("prefix-${user:username}", ("prefix-alice",)),
        (
            "${user:givenName} ${user:familyName} <${user:email}>",
            ("Alice Example <alice@example.test>",),
        ),
        (
            "arn:aws:iam::123456789012:role/R,arn:aws:iam::123456789012:saml-provider/P",
            ("arn:aws:iam::123456789012:role/R,arn:aws:iam::123456789012:saml-provider/P",),
        ),
        ("{braces} and } alone", ("{braces} and } alone",)),
    ],
)
def test_evaluate(expression: str, expected: tuple[str, ...]) -> None:
    validate(expression)
    assert evaluate(expression, USER) == expected


def test_every_documented_placeholder_evaluates() -> None:
    for name in PLACEHOLDERS:
        assert evaluate(f"${{user:{name}}}", USER)


def test_empty_value_omits_the_attribute() -> None:
    user = UserAttributes(uid="u", username="bob")
    assert evaluate("${user:email}", user) == ()
    assert evaluate("mailto:${user:email}", user) == ()
    assert evaluate("${user:groups}", user) == ()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("$$", "'\\$\\$' is not an escape"),
        ("a$$b", "position 1"),
        ("cost $5", "must start a \\$\\{user:...\\} placeholder"),
        ("${user:username", "not closed"),
        ("${user:nope}", "unknown placeholder \\$\\{user:nope\\}.*expected one of: username"),
        ("${User:username}", "expected \\$\\{user:NAME\\}"),
        ("${path:x}", "expected \\$\\{user:NAME\\}"),
        ("${user:}", "expected \\$\\{user:NAME\\}"),
        ("${}", "expected \\$\\{user:NAME\\}"),
        ("${ user:username}", "expected"),
        ("${user:groups},x", "alone"),
        ("${user:groups}${user:groups}", "alone"),
        ("${user:${user:email}}", "not closed"),
        ("a\x00b", "XML 1.0"),
        ("x" * 2049, "at most 2048"),
    ],
)
def test_invalid_expressions(expression: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        validate(expression)
    with pytest.raises(MappingError):
        evaluate(expression, USER)


def test_attribute_mapping() -> None:
    mapping = AttributeMapping("Email", "${user:email}", "uri")
    assert mapping.name_format_uri == ATTRNAME_FORMAT_URI
    assert AttributeMapping("a", "x").name_format_uri == ATTRNAME_FORMAT_BASIC
    assert name_format_uri("unspecified") == ATTRNAME_FORMAT_UNSPECIFIED
    with pytest.raises(MappingError, match="basic, uri or unspecified"):
        name_format_uri("URI")
    with pytest.raises(MappingError, match="basic, uri or unspecified"):
        AttributeMapping("a", "x", "other")  # type: ignore[arg-type]
    with pytest.raises(MappingError, match="non-empty attribute name"):
        AttributeMapping(" ", "x")
    with pytest.raises(MappingError, match="unknown placeholder"):
        AttributeMapping("a", "${user:mail}")


def test_map_attributes() -> None:
    mappings = (
        AttributeMapping("email", "${user:email}"),
        AttributeMapping("groups", "${user:groups}", "uri"),
    )
    assert map_attributes(mappings, USER) == (
        Attribute("email", ATTRNAME_FORMAT_BASIC, ("alice@example.test",)),
        Attribute("groups", ATTRNAME_FORMAT_URI, ("agents", "supervisors")),
    )
    bob = UserAttributes(uid="u", username="bob")
    assert map_attributes(mappings, bob) == ()
    with pytest.raises(MappingError, match="'email' twice"):
        map_attributes((mappings[0], mappings[0]), USER)


@given(st.text().filter(lambda t: "$" not in t))
def test_literal_text_round_trips_or_is_refused(text: str) -> None:
    try:
        validate(text)
    except MappingError as error:
        assert "XML 1.0" in error.message or "at most" in error.message
        return
    assert evaluate(text, USER) == (text,)


@given(
    st.text(alphabet=st.characters(blacklist_characters="${}"), max_size=30),
    st.sampled_from(PLACEHOLDERS[:-1]),
)
def test_placeholder_with_literal_text(prefix: str, name: str) -> None:
    expression = f"{prefix}${{user:{name}}}{prefix}"
    try:
        values = evaluate(expression, USER)
    except MappingError as error:
        assert "XML 1.0" in error.message
        return
    assert len(values) == 1
    assert values[0].startswith(prefix)
    assert values[0].endswith(prefix)
