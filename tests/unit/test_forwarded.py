"""Forwarded scheme and host, RFC 7239 Forwarded, and which headers a trusted proxy speaks in.

The X-Forwarded-For address walk itself is tested in test_client_ip.py; here the same walk
over Forwarded elements, the scheme and host that come with it, the precedence between the
two header families, and hypothesis fuzzing of hostile headers (never an exception).
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.network import (
    ForwardedHeaders,
    Forwarding,
    forwarded_elements,
    parse_cidrs,
    parse_node,
    resolve_forwarding,
    split_host,
)

TRUSTED = parse_cidrs("10.0.0.0/8 fd00::/8")
PROXY = "10.0.0.1"
CLIENT = "198.51.100.7"


def resolve(peer: str = PROXY, trusted: tuple = TRUSTED, **headers: str) -> Forwarding:  # type: ignore[type-arg]
    return resolve_forwarding(
        peer=peer, headers=ForwardedHeaders(**headers), trusted_proxies=trusted
    )


# --- Forwarded syntax (RFC 7239 §4) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "elements"),
    [
        # RFC 7239's own examples (§4, §6, §7.1, §7.4)
        ('for="_gazonk"', [{"for": "_gazonk"}]),
        ('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
        (
            "for=192.0.2.60;proto=http;by=203.0.113.43",
            [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}],
        ),
        ("for=192.0.2.43, for=198.51.100.17", [{"for": "198.51.100.17"}, {"for": "192.0.2.43"}]),
        (
            'for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown',
            [{"for": "unknown"}, {"for": "[2001:db8:cafe::17]"}, {"for": "192.0.2.43"}],
        ),
        # whitespace around separators, as real proxies write it
        (
            "for=192.0.2.1 ; proto=https ,\tfor=10.0.0.2",
            [{"for": "10.0.0.2"}, {"for": "192.0.2.1", "proto": "https"}],
        ),
        # quoted-pairs, commas and semicolons inside quotes
        (r'host="a\"b";x="1,2;3"', [{"host": 'a"b', "x": "1,2;3"}]),
        (r'x="a\\"', [{"x": "a\\"}]),
        # empty elements and empty pairs carry nothing
        ("", [{}]),
        ("for=1.2.3.4,,", [{}, {}, {"for": "1.2.3.4"}]),
        (";for=1.2.3.4;", [{"for": "1.2.3.4"}]),
    ],
)
def test_elements_read_right_to_left(header: str, elements: list[dict[str, str]]) -> None:
    assert list(forwarded_elements(header)) == elements


@pytest.mark.parametrize(
    "header",
    [
        "for=[2001:db8::1]",  # IPv6 and ports must be quoted (":" and "[" are not tokens)
        "for=192.0.2.1:80",
        'for="192.0.2.1',  # unterminated
        'for=192.0.2.1"',
        r'for="192.0.2.1\"',  # the closing quote is escaped
        "for = 192.0.2.1",
        "for=",
        "=192.0.2.1",
        "for=192.0.2.1;for=192.0.2.2",  # a parameter twice in one element
        'for="a\x00b"',  # control characters are not qdtext
        "for=a b",
        'for="ünïcode\u2028"',
    ],
)
def test_a_malformed_rightmost_element_is_reported_and_ends_the_reading(header: str) -> None:
    assert list(forwarded_elements(header)) == [None]


def test_parameter_names_are_case_insensitive() -> None:
    assert list(forwarded_elements("FOR=192.0.2.1;Proto=HTTPS")) == [
        {"for": "192.0.2.1", "proto": "HTTPS"}
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.43", "192.0.2.43"),
        ("192.0.2.43:47011", "192.0.2.43"),
        ("192.0.2.43:_abc-1", "192.0.2.43"),
        ("[2001:db8:cafe::17]", "2001:db8:cafe::17"),
        ("[2001:DB8:CAFE::17]:4711", "2001:db8:cafe::17"),
        ("[::ffff:192.0.2.43]:80", "192.0.2.43"),
        ("unknown", None),
        ("UNKNOWN:80", None),
        ("_gazonk", None),
        ("_hidden:_port", None),
        ("2001:db8::1", None),  # RFC 7239 §6: brackets required
        ("[2001:db8::1%eth0]", None),
        ("192.0.2.43:65536", None),
        ("192.0.2.043", None),
        ("300.1.1.1", None),
        ("[192.0.2.1]", None),
        ("example.com", None),
        ("_", None),
        ("", None),
        (None, None),
    ],
)
def test_nodes(value: str | None, expected: str | None) -> None:
    address = parse_node(value)
    assert (None if address is None else str(address)) == expected


# --- the walk over Forwarded --------------------------------------------------------------------


def test_forwarded_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve("203.0.113.9", forwarded=f"for={CLIENT};proto=https;host=idp.example") == (
        Forwarding(client_ip="203.0.113.9")
    )


def test_forwarded_from_a_trusted_proxy() -> None:
    assert resolve(forwarded=f'for={CLIENT};proto=https;host="idp.example:8443"') == Forwarding(
        client_ip=CLIENT, scheme="https", host="idp.example:8443"
    )


def test_forwarded_chain_skips_trusted_hops_and_takes_that_hops_scheme_and_host() -> None:
    # The outer proxy saw the client over https; the inner one saw the outer over http.
    header = f"for={CLIENT};proto=https;host=idp.example, for=10.0.0.7;proto=http;host=inner"
    assert resolve(forwarded=header) == Forwarding(CLIENT, scheme="https", host="idp.example")


def test_a_client_cannot_prepend_its_way_past_our_proxy() -> None:
    spoof = 'for=10.0.0.9;proto=https;host=evil.example, for="'
    ours = f"for={CLIENT};proto=http"
    assert resolve(forwarded=f"{spoof}, {ours}") == Forwarding(CLIENT, scheme="http")


@pytest.mark.parametrize(
    "stopper", ["for=unknown;proto=https", 'for="_hidden:_1";proto=https', "proto=https"]
)
def test_a_hop_without_an_address_stops_the_walk_at_the_last_good_address(stopper: str) -> None:
    header = f"for={CLIENT}, {stopper}, for=10.0.0.7"
    assert resolve(forwarded=header) == Forwarding("10.0.0.7", scheme="https")


def test_a_malformed_element_stops_the_walk_with_nothing_from_it() -> None:
    assert resolve(forwarded=f"for={CLIENT};proto=https, for=[::1], for=10.0.0.7") == (
        Forwarding("10.0.0.7")
    )
    assert resolve(forwarded="for=[::1]") == Forwarding(PROXY)


def test_every_forwarded_hop_trusted_gives_the_leftmost() -> None:
    assert resolve(forwarded='for=10.0.0.3;proto=https, for="[fd00::2]"') == Forwarding(
        "10.0.0.3", scheme="https"
    )


@pytest.mark.parametrize(("proto", "scheme"), [("HTTPS", "https"), ("http", "http")])
def test_schemes_are_case_insensitive(proto: str, scheme: str) -> None:
    assert resolve(forwarded=f"for={CLIENT};proto={proto}").scheme == scheme


@pytest.mark.parametrize("proto", ["wss", "ftp", '"https "', "h%74tps"])
def test_only_http_and_https_are_schemes(proto: str) -> None:
    assert resolve(forwarded=f"for={CLIENT};proto={proto}").scheme is None


# --- X-Forwarded-Proto and X-Forwarded-Host -----------------------------------------------------


def test_x_forwarded_proto_and_host_from_a_trusted_proxy() -> None:
    assert resolve(
        x_forwarded_for=CLIENT, x_forwarded_proto="https", x_forwarded_host="idp.example"
    ) == Forwarding(CLIENT, scheme="https", host="idp.example")


def test_x_forwarded_proto_and_host_from_an_untrusted_peer_are_ignored() -> None:
    assert resolve(
        "203.0.113.9", x_forwarded_for=CLIENT, x_forwarded_proto="https", x_forwarded_host="x"
    ) == Forwarding("203.0.113.9")


def test_x_forwarded_proto_alone_is_the_peers_word() -> None:
    assert resolve(x_forwarded_proto="https") == Forwarding(PROXY, scheme="https")


def test_appended_scheme_lists_are_read_at_the_clients_hop() -> None:
    # Each proxy appended what it received: the client's hop is two from the right.
    forwarding = resolve(
        x_forwarded_for=f"203.0.113.9, {CLIENT}, 10.0.0.7",
        x_forwarded_proto="http, https, http",
        x_forwarded_host="evil.example, idp.example, inner",
    )
    assert forwarding == Forwarding(CLIENT, scheme="https", host="idp.example")


def test_a_replaced_scheme_shorter_than_the_chain_is_the_outer_proxys() -> None:
    forwarding = resolve(x_forwarded_for=f"{CLIENT}, 10.0.0.7", x_forwarded_proto="https")
    assert forwarding == Forwarding(CLIENT, scheme="https")


@pytest.mark.parametrize("value", ["", " ", "https http", "javascript"])
def test_unusable_x_forwarded_proto_is_no_scheme(value: str) -> None:
    assert resolve(x_forwarded_for=CLIENT, x_forwarded_proto=value).scheme is None


# --- precedence ---------------------------------------------------------------------------------


def test_x_forwarded_for_wins_over_forwarded_and_they_never_mix() -> None:
    # nginx wrote X-Forwarded-*; the client's own Forwarded passed through untouched.
    forwarding = resolve(
        x_forwarded_for=CLIENT,
        forwarded="for=203.0.113.9;proto=https;host=evil.example",
    )
    assert forwarding == Forwarding(CLIENT)


def test_forwarded_is_read_when_there_is_no_x_forwarded_for_and_alone() -> None:
    forwarding = resolve(
        forwarded=f"for={CLIENT};proto=https",
        x_forwarded_proto="http",
        x_forwarded_host="evil.example",
    )
    assert forwarding == Forwarding(CLIENT, scheme="https")


def test_an_empty_x_forwarded_for_still_selects_its_family() -> None:
    assert resolve(x_forwarded_for="", forwarded=f"for={CLIENT}") == Forwarding(PROXY)


# --- split_host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("idp.example.com", ("idp.example.com", None)),
        ("IdP.Example.COM:8443", ("idp.example.com", 8443)),
        ("idp.example.com.", ("idp.example.com", None)),
        ("localhost:1", ("localhost", 1)),
        ("192.0.2.1:443", ("192.0.2.1", 443)),
        ("[2001:DB8::1]:443", ("2001:db8::1", 443)),
        ("[::1]", ("::1", None)),
        ("", None),
        ("idp.example.com:", None),
        ("idp.example.com:65536", None),
        ("idp.example.com:443:443", None),
        ("idp_example.com", None),
        ("-idp.example.com", None),
        ("idp.example.com/x", None),
        ("user@idp.example.com", None),
        ("[2001:db8::1", None),
        ("[not:v6::x]", None),
        ("2001:db8::1", None),
        ("a" * 300, None),
    ],
)
def test_split_host(text: str, expected: tuple[str, int | None] | None) -> None:
    assert split_host(text) == expected


# --- hostile headers: never an exception, never believed from outside --------------------------

header_text = st.text(max_size=300) | st.text(
    alphabet='for=,;"\\[]:_ .1234567890abcdef', max_size=300
)
peers = st.sampled_from(["10.0.0.1", "fd00::1", "203.0.113.9", "::ffff:10.0.0.1", "", "junk"])


@given(
    peer=peers,
    xff=st.none() | header_text,
    proto=st.none() | header_text,
    host=st.none() | header_text,
    forwarded=st.none() | header_text,
)
def test_any_headers_resolve_without_an_exception(
    peer: str, xff: str | None, proto: str | None, host: str | None, forwarded: str | None
) -> None:
    forwarding = resolve(
        peer,
        x_forwarded_for=xff,
        x_forwarded_proto=proto,
        x_forwarded_host=host,
        forwarded=forwarded,
    )
    assert forwarding.scheme in (None, "http", "https")
    if peer in ("203.0.113.9", "", "junk"):
        assert forwarding == Forwarding(client_ip=peer)
    else:
        ipaddress.ip_address(forwarding.client_ip)  # always an address when the peer is one
    if forwarding.host is not None:
        split_host(forwarding.host)


@given(header_text)
def test_forwarded_parsing_never_raises(header: str) -> None:
    for element in forwarded_elements(header):
        if element is not None:
            parse_node(element.get("for"))


@given(st.text(max_size=300))
def test_split_host_never_raises(text: str) -> None:
    split_host(text)


# Well-formed elements, serialized as a proxy would, for the round-trip properties.
_tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=12)
_qdtext = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=20,
)
_elements = st.dictionaries(
    st.sampled_from(["for", "by", "proto", "host", "ext"]), _tokens | _qdtext, max_size=4
)


def _serialize(element: dict[str, str]) -> str:
    def value(text: str) -> str:
        if text and all(c.isascii() and (c.isalnum() or c in "-._~") for c in text):
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return ";".join(f"{name}={value(v)}" for name, v in element.items())


@given(st.lists(_elements, min_size=1, max_size=6))
def test_well_formed_headers_round_trip(elements: list[dict[str, str]]) -> None:
    header = ", ".join(_serialize(e) for e in elements)
    assert list(forwarded_elements(header)) == list(reversed(elements))


@given(prefix=header_text, ours=_elements)
def test_nothing_a_client_prepends_changes_how_our_element_reads(
    prefix: str, ours: dict[str, str]
) -> None:
    first = next(forwarded_elements(f"{prefix}, {_serialize(ours)}"))
    assert first == ours


@settings(deadline=None)
@given(st.sampled_from(['"', "\\", '\\"', ",", ";", "for=", "=", '"\\\\"']))
def test_pathological_headers_are_linear(unit: str) -> None:
    header = unit * 100_000
    started = time.perf_counter()
    for hostile in (header, header + ", for=192.0.2.1", "for=10.0.0.2," * 20_000):
        resolve(forwarded=hostile)
        resolve(x_forwarded_for=hostile, x_forwarded_proto=hostile, x_forwarded_host=hostile)
    assert time.perf_counter() - started < 2.0
