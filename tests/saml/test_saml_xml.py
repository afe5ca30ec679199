"""Hardened parsing and value helpers of sekisho.saml.core.xml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from sekisho.saml.core.xml import (
    check_xml_text,
    element_text,
    format_instant,
    is_ncname,
    parse_bool,
    parse_instant,
    parse_xml,
)
from sekisho.saml.errors import MalformedMessage, MappingError

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<r>&xxe;</r>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def test_parses_plain_xml_and_keeps_comments() -> None:
    root = parse_xml(b"<a><b>x<!-- c -->y</b></a>")
    assert root.tag == "a"
    assert len(list(root.iter(etree.Comment))) == 1


@pytest.mark.parametrize(
    "data",
    [
        XXE,
        BILLION_LAUGHS,
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>',
        b"<!DOCTYPE r><r/>",
        b'<!DOCTYPE r PUBLIC "-//X//Y" "x.dtd"><r/>',
    ],
    ids=["xxe", "billion-laughs", "external-dtd", "bare-doctype", "public-doctype"],
)
def test_refuses_any_doctype(data: bytes) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse_xml(data)
    assert info.value.code == "malformed_message"


def test_undeclared_entity_is_not_well_formed() -> None:
    with pytest.raises(MalformedMessage, match="well-formed"):
        parse_xml(b"<r>&undefined;</r>")


def test_refuses_oversize_before_parsing() -> None:
    with pytest.raises(MalformedMessage, match="too large: expected at most 10 bytes, got 12"):
        parse_xml(b"<a>12345</a>", max_bytes=10)


@pytest.mark.parametrize("data", [b"", b"   ", b"<a>", b"not xml", b"<a></b>"])
def test_refuses_garbage(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_xml(data)


def test_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(MalformedMessage, match="expected XML as bytes, got str"):
        parse_xml("<a/>")  # type: ignore[arg-type]


def test_element_text_reads_past_comments() -> None:
    root = parse_xml(b"<n>alice@example.com<!---->.evil.example</n>")
    assert root.text == "alice@example.com"  # the classic bug: first text node only
    assert element_text(root) == "alice@example.com.evil.example"


def test_element_text_includes_descendants_and_tails() -> None:
    assert element_text(parse_xml(b"<a>x<b>y</b>z</a>")) == "xyz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T09:00:00Z", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ("2026-11-27T09:00:00.123Z", datetime(2026, 11, 27, 9, 0, 0, 123000, tzinfo=UTC)),
        ("2026-11-27T10:30:00+01:30", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ("2026-11-27T09:00:00", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        (" 2026-11-27T09:00:00Z ", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text, what="t") == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "2026-11-27", ""])
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(MalformedMessage, match="IssueInstant"):
        parse_instant(text, what="IssueInstant")


def test_format_instant_is_utc_without_fraction() -> None:
    moment = datetime(2026, 11, 27, 10, 0, 0, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert format_instant(moment) == "2026-11-27T09:00:00Z"


def test_format_instant_refuses_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_instant(datetime(2026, 1, 1))


def test_check_xml_text() -> None:
    assert check_xml_text("a<&>\"'\t\n\r\U0001f600", what="v") == "a<&>\"'\t\n\r\U0001f600"
    for bad in ("\x00", "\x1b", "\ufffe", "\ud800"):
        with pytest.raises(MappingError, match=r"XML 1\.0 cannot carry"):
            check_xml_text(f"a{bad}", what="v")


def test_is_ncname() -> None:
    assert is_ncname("_abc-1.2")
    assert is_ncname("id-x")
    assert not is_ncname("1abc")
    assert not is_ncname("a b")
    assert not is_ncname("a:b")
    assert not is_ncname("")


def test_parse_bool() -> None:
    assert parse_bool("true", what="x", default=None) is True
    assert parse_bool("0", what="x", default=None) is False
    assert parse_bool(None, what="x", default=False) is False
    with pytest.raises(MalformedMessage, match="xs:boolean"):
        parse_bool("yes", what="x", default=None)
