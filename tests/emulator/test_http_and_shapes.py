"""Request values, timestamps and the model-constraint helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sekisho.emulator.errors import ResultShapeError
from sekisho.emulator.protocol.http import (
    AwsHttpRequest,
    AwsHttpResponse,
    Headers,
    decode_query,
    wire_bytes,
)
from sekisho.emulator.protocol.shapes import (
    compiled_pattern,
    format_timestamp,
    parse_float,
    parse_timestamp,
    validation_message,
)


def test_headers_are_case_insensitive_and_join_repeats() -> None:
    headers = Headers([("Content-Type", "text/xml"), ("X-Multi", "a"), ("x-multi", "b")])
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/xml"
    assert headers["X-MULTI"] == "a,b"
    assert "x-multi" in headers and 3 not in headers
    assert list(headers) == ["Content-Type", "X-Multi"]
    assert len(headers) == 2


def test_request_normalizes_method_and_headers() -> None:
    req = AwsHttpRequest("get", "/", "a=1&b=%20%2B+&c", {"Host": "h"})
    assert req.method == "GET"
    assert req.headers["host"] == "h"
    assert req.query_pairs() == [("a", "1"), ("b", " ++"), ("c", "")]
    response = AwsHttpResponse(200, {"X-Amzn-RequestId": "r"})
    assert response.headers["x-amzn-requestid"] == "r"


def test_decode_query_keeps_what_it_cannot_decode_for_validation() -> None:
    # Bytes that are not UTF-8 and a "%" that starts no escape become lone surrogates
    # (surrogateescape), which validation refuses with the member's name (issue 9).
    assert decode_query("a=%FF&b=x%ZZ&c=%4&d=%C3%A9%01+") == [
        ("a", "\udcff"),
        ("b", "x\udc25ZZ"),
        ("c", "\udc254"),
        ("d", "\u00e9\x01+"),
    ]
    assert [wire_bytes(value) for _, value in decode_query("a=%FF&b=x%ZZ&c=%C3%A9")] == [
        b"\xff",
        b"x%ZZ",
        b"\xc3\xa9",
    ]


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "iso8601", "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "iso8601", "2026-01-02T03:04:05.678Z"),
        (
            datetime(2026, 1, 2, 12, 4, 5, tzinfo=timezone(timedelta(hours=9))),
            "iso8601",
            "2026-01-02T03:04:05Z",
        ),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "unixTimestamp", 1767323045),
        (datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "unixTimestamp", 1767323045.25),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "rfc822", "Fri, 02 Jan 2026 03:04:05 GMT"),
    ],
)
def test_format_timestamp(value: datetime, fmt: str, text: object) -> None:
    assert format_timestamp(value, fmt) == text


def test_naive_timestamps_are_bugs() -> None:
    with pytest.raises(ResultShapeError, match="no time zone"):
        format_timestamp(datetime(2026, 1, 1), "iso8601")


@pytest.mark.parametrize(
    ("text", "fmt", "value"),
    [
        ("2026-01-02T03:04:05Z", "iso8601", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T12:04:05+09:00", "iso8601", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            "2026-01-02T03:04:05.123456789Z",
            "iso8601",
            datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        ),
        ("1767323045.5", "unixTimestamp", datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("Fri, 02 Jan 2026 03:04:05 GMT", "rfc822", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, fmt: str, value: datetime) -> None:
    assert parse_timestamp(text, fmt) == value


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("2026-01-02T03:04:05", "iso8601"),
        ("yesterday", "iso8601"),
        ("12ab", "unixTimestamp"),
        ("not a date", "rfc822"),
        ("2026-01-02", "julian"),
    ],
)
def test_parse_timestamp_rejects(text: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text, fmt)


def test_parse_float() -> None:
    assert parse_float("1.5e3") == 1500.0
    assert parse_float("-Infinity") == float("-inf")
    with pytest.raises(ValueError):
        parse_float("1,5")


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"[\w+=,.@-]+", ["Role_1+=,.@-"], ["é", "a b", ""]),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", ["héllo wörld 日本 ٣", "a:b/c"], ["a\x00", "tab\t", "*"]),
        (r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$", ["team", ""], ["aws:x"]),
        (r"^\P{C}*$", ["plain text ✓"], ["bell\x07", "\u200b"]),
        (r"^[\P{C}\r\n\t]{1,127}$", ["a\r\nb\tc"], ["\x07", ""]),
        (r"[\u0009\u000A\u000D\u0020-\u00FF]+", ['{ "a": "ÿ" }\n'], ["Ā"]),
    ],
)
def test_model_patterns(pattern: str, good: list[str], bad: list[str]) -> None:
    compiled = compiled_pattern(pattern)
    assert compiled is not None
    assert all(compiled.fullmatch(text) for text in good)
    assert not any(compiled.fullmatch(text) for text in bad)


@pytest.mark.parametrize(
    "pattern",
    [
        r"/^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[a-zA-Z\d\S]{8,64}$/",
        r"\\+[1-9]\\d{1,14}$",
        r"[unclosed",
    ],
)
def test_patterns_that_cannot_be_enforced_are_skipped(pattern: str) -> None:
    assert compiled_pattern(pattern) is None


def test_validation_message() -> None:
    assert validation_message(["a"]) == "1 validation error detected: a"
    assert validation_message(["a", "b"]) == "2 validation errors detected: a; b"


def test_two_letter_categories_and_java_dot() -> None:
    upper = compiled_pattern(r"\p{Lu}+")
    assert upper is not None and upper.fullmatch("ÀB") and not upper.fullmatch("Ab")
    dot = compiled_pattern(r".*\S.*")
    assert dot is not None and dot.fullmatch("a b") and not dot.fullmatch("a\nb")
