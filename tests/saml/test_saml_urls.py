"""Endpoint URLs Sekisho sends browsers to: strict RFC 3986, https or loopback http."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.saml.core.urls import check_endpoint_url, is_loopback_host
from sekisho.saml.errors import EndpointRejected

# What sekisho/web/outcome.py lets into a Content-Security-Policy header.
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://sp.example.org/acs", "https://sp.example.org"),
        ("https://SP.Example.org:8443/a/b?x=1&y=%2F", "https://sp.example.org:8443"),
        ("http://localhost:8080/acs", "http://localhost:8080"),
        ("http://127.0.0.2/acs", "http://127.0.0.2"),
        ("http://[::1]:9000/acs", "http://[::1]:9000"),
        ("http://app.localhost/acs", "http://app.localhost"),
        ("https://sp.example.org/acs;script-src%20*", "https://sp.example.org"),
        ("https://[2001:db8::1]/acs", "https://[2001:db8::1]"),
    ],
)
def test_accepted_with_their_origin(url: str, origin: str) -> None:
    checked = check_endpoint_url(url, what="ACS")
    assert checked.url == url
    assert checked.origin == origin


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("javascript:alert(document.cookie)", "expected an https:// URL"),
        ("data:text/html;base64,PHNjcmlwdD4=", "expected an https:// URL"),
        ("ftp://sp.example.org/acs", "expected an https:// URL"),
        ("acs", "expected an https:// URL"),
        ("//sp.example.org/acs", "expected an https:// URL"),
        ("https:///acs", "expected an absolute URL with a host"),
        ("http://sp.example.org/acs", "plain http is allowed only for localhost"),
        ("http://10.0.0.1/acs", "plain http"),
        ("https://sp.example.org/acs\n", "control characters"),
        ("https://sp.example.org/\r\nSet-Cookie: x=1", "control characters"),
        ("https://sp.example.org/a\x00", "U+0000"),
        ("https://sp.example.org/a\x7f", "U+007F"),
        ("https://sp.example.org/a b", "U+0020"),
        ("https://sp.example.org/é", "'é' is not allowed"),
        ("https://sp.example.org/<script>", "'<' is not allowed"),
        ("https://sp.example.org/a\\b", "is not allowed"),
        ("https://sp.example.org/%zz", "%XX escape"),
        ("https://user@sp.example.org/acs", "user information"),
        ("https://sp.example.org/acs#x", "fragment"),
        ("https://sp.example.org/acs#", "fragment"),
        ("https://sp.example.org:0/acs", "port 1-65535"),
        ("https://sp.example.org:99999/acs", "port 1-65535"),
        ("https://sp.example.org:x/acs", "port"),
        ("https://-bad.example.org/acs", "host name"),
        ("https://[not-v6]/acs", "IPv6 literal"),
        ("https://sp.example.org/" + "a" * 2100, "at most 2048"),
    ],
)
def test_refused_in_one_line(url: str, message: str) -> None:
    with pytest.raises(
        EndpointRejected, match=re.escape(message) if "\\" not in message else message
    ) as info:
        check_endpoint_url(url, what="AssertionConsumerService Location")
    text = info.value.message
    assert text.startswith("AssertionConsumerService Location: ")
    assert "\n" not in text and "\r" not in text


def test_loopback_hosts() -> None:
    for host in (
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "[::1]",
        "a.localhost",
    ):
        assert is_loopback_host(host), host
    for host in ("localhost.example.org", "10.0.0.1", "example.org", "::2"):
        assert not is_loopback_host(host), host


@given(st.text(max_size=80))
def test_any_accepted_url_has_a_header_safe_origin(tail: str) -> None:
    try:
        checked = check_endpoint_url("https://sp.example.org/" + tail, what="ACS")
    except EndpointRejected:
        return
    assert ORIGIN.fullmatch(checked.origin)
    # Only RFC 3986 characters (its sub-delims include ' and ;, which HTML escaping and
    # the origin-only CSP make harmless); never spaces, controls, quotes or brackets.
    assert not any(c in checked.url for c in ' \t\r\n"<>\\^`{|}')
