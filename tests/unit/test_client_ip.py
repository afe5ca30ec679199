"""Client address resolution through trusted proxies, and trusted-proxy configuration."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sekisho.errors import ConfigError
from sekisho.network import client_ip, parse_address, parse_cidrs

TRUSTED = parse_cidrs("10.0.0.0/8, 192.168.0.0/16 fd00::/8")


def resolve(peer: str, xff: str | None, trusted: tuple = TRUSTED) -> str:  # type: ignore[type-arg]
    return client_ip(peer=peer, forwarded_for=xff, trusted_proxies=trusted)


def test_untrusted_peer_ignores_the_header() -> None:
    assert resolve("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_no_trusted_proxies_configured_means_the_peer() -> None:
    assert resolve("10.0.0.1", "198.51.100.1", trusted=()) == "10.0.0.1"


@pytest.mark.parametrize("xff", [None, ""])
def test_trusted_peer_without_header_is_the_client(xff: str | None) -> None:
    assert resolve("10.0.0.1", xff) == "10.0.0.1"


def test_one_trusted_proxy() -> None:
    assert resolve("10.0.0.1", "198.51.100.7") == "198.51.100.7"


def test_chain_of_trusted_proxies_is_skipped() -> None:
    assert resolve("10.0.0.1", "198.51.100.7, 192.168.1.5, 10.0.0.2") == "198.51.100.7"


def test_a_spoofed_leftmost_entry_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; our proxy appended what it saw.
    assert resolve("10.0.0.1", "1.1.1.1, 198.51.100.7") == "198.51.100.7"


def test_every_hop_trusted_gives_the_leftmost() -> None:
    assert resolve("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        ("198.51.100.7, garbage, 10.0.0.2", "10.0.0.2"),
        ("198.51.100.7, unknown", "10.0.0.1"),
        ("198.51.100.7,,10.0.0.2", "10.0.0.2"),
        ("198.51.100.7, 300.1.1.1", "10.0.0.1"),
        ("198.51.100.7, example.com", "10.0.0.1"),
        ("198.51.100.7, 198.51.100.8:99999", "10.0.0.1"),
        ("198.51.100.7, fe80::1%eth0", "10.0.0.1"),
        ("198.51.100.7, 198.51.100.8:\u0661\u0662", "10.0.0.1"),  # ports are ASCII digits
    ],
)
def test_malformed_entries_stop_the_walk(xff: str, expected: str) -> None:
    assert resolve("10.0.0.1", xff) == expected


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        ("198.51.100.7:51234", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("[::ffff:198.51.100.7]:80", "198.51.100.7"),
        ("  198.51.100.7  ", "198.51.100.7"),
    ],
)
def test_ports_brackets_and_mapped_addresses_are_normalised(xff: str, expected: str) -> None:
    assert resolve("10.0.0.1", xff) == expected


def test_ipv4_mapped_peer_is_matched_against_ipv4_networks() -> None:
    assert resolve("::ffff:10.0.0.1", "198.51.100.7") == "198.51.100.7"
    assert resolve("::ffff:203.0.113.9", "198.51.100.7") == "203.0.113.9"


def test_ipv6_trusted_proxy() -> None:
    assert resolve("fd00::1", "2001:db8::5, fd00::2") == "2001:db8::5"


def test_unparseable_peer_is_returned_and_never_trusted() -> None:
    assert resolve("", "198.51.100.7") == ""
    assert resolve("unix:/run/sekisho.sock", "198.51.100.7") == "unix:/run/sekisho.sock"


def test_multiple_headers_joined_by_commas() -> None:
    # WSGI servers join repeated headers with ", ".
    assert resolve("10.0.0.1", "1.1.1.1, 198.51.100.7,10.0.0.9") == "198.51.100.7"


def test_parse_address() -> None:
    assert parse_address("1.2.3.4") == ipaddress.ip_address("1.2.3.4")
    assert parse_address("[::1]:8080") == ipaddress.ip_address("::1")
    assert parse_address("01.2.3.4") is None
    assert parse_address("1.2.3.4:") is None
    assert parse_address("x" * 100) is None


# --- parse_cidrs --------------------------------------------------------------------------


def test_parse_cidrs_accepts_commas_spaces_and_bare_addresses() -> None:
    nets = parse_cidrs(" 10.0.0.0/8,192.0.2.7  2001:db8::/32\n[2001:db8::1] ")
    assert nets == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("2001:db8::1/128"),
    )


def test_parse_cidrs_empty_is_no_proxies() -> None:
    assert parse_cidrs("") == ()
    assert parse_cidrs(" , ") == ()


def test_parse_cidrs_normalises_ipv4_mapped_networks() -> None:
    assert parse_cidrs("::ffff:10.0.0.0/104") == (ipaddress.ip_network("10.0.0.0/8"),)


def test_parse_cidrs_reports_host_bits_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        parse_cidrs("10.0.0.1/8")
    assert info.value.message == (
        "SEKISHO_TRUSTED_PROXIES: '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"
    )


@pytest.mark.parametrize("text", ["10.0.0.0/33", "proxy.local", "10.0.0", "10.0.0.0/8;"])
def test_parse_cidrs_refuses_malformed_entries_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_cidrs(text, setting="TRUSTED")
    assert info.value.message.startswith("TRUSTED: ")
    assert "\n" not in info.value.message


# --- properties ---------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4)
public_v4 = ipv4.filter(lambda a: not any(a in n for n in TRUSTED if n.version == 4))
trusted_v4 = st.integers(min_value=0, max_value=2**24 - 1).map(
    lambda i: ipaddress.IPv4Address(0x0A000000 + i)
)
hop = st.one_of(ipv4, trusted_v4, st.ip_addresses(v=6)).map(str)
junk = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


@given(peer=public_v4, header=st.lists(st.one_of(hop, junk), max_size=8))
def test_an_untrusted_peer_always_wins_over_any_header(
    peer: ipaddress.IPv4Address, header: list[str]
) -> None:
    assert resolve(str(peer), ", ".join(header)) == str(peer)


@given(peer=public_v4, header=st.text(max_size=200))
def test_an_untrusted_peer_wins_over_arbitrary_header_text(
    peer: ipaddress.IPv4Address, header: str
) -> None:
    assert resolve(str(peer), header) == str(peer)


@given(peer=trusted_v4, hops=st.lists(hop, min_size=1, max_size=8))
def test_everything_right_of_the_answer_is_a_trusted_proxy(
    peer: ipaddress.IPv4Address, hops: list[str]
) -> None:
    result = resolve(str(peer), ", ".join(hops))
    chain = [*hops, str(peer)]
    normalised = [str(parse_address(h)) for h in chain]
    assume(normalised.count(result) == 1)
    index = normalised.index(result)
    for right in chain[index + 1 :]:
        address = parse_address(right)
        assert address is not None
        assert any(address.version == n.version and address in n for n in TRUSTED)
    address = parse_address(result)
    assert address is not None
    if index > 0:
        # The walk stopped here because this hop is untrusted.
        assert not any(address.version == n.version and address in n for n in TRUSTED)
