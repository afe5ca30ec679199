"""The client's source address behind reverse proxies, resistant to X-Forwarded-For spoofing.

Anyone can send an ``X-Forwarded-For`` header, so it is believed only when the socket
peer is a configured trusted proxy, and then only as far back as the chain of trusted
proxies goes: each proxy appends the address it saw, so the entries on the right were
written by our own proxies and the first untrusted one is the real client. The result
feeds ``aws:SourceIp`` in sign-in policies and the audit trail.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from sekisho.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_ENTRIES = 64  # more hops than any real deployment; stops pathological headers early
_IPV4_WITH_PORT = re.compile(r"^(?P<host>\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{1,5})$")
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>\d{1,5}))?$")


def _normalize(address: IPAddress) -> IPAddress:
    # Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; policies say a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> IPAddress | None:
    """Parse one address as proxies write it (``a.b.c.d``, ``a.b.c.d:port``, ``[v6]:port``, ``v6``).

    Returns None when the text is not an IP address (``unknown``, a host name, garbage).
    """
    candidate = text.strip()
    if not candidate or len(candidate) > 64:
        return None
    match = _BRACKETED.match(candidate)
    if match is not None:
        candidate = match["host"]
    else:
        match = _IPV4_WITH_PORT.match(candidate)
        if match is not None:
            candidate = match["host"]
    if match is not None and match["port"] is not None and int(match["port"]) > 65535:
        return None
    if "%" in candidate:
        return None  # zone ids are local to a host; never a meaningful client address
    try:
        return _normalize(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(
        address.version == network.version and address in network for network in trusted_proxies
    )


def address_in(text: str, networks: Sequence[IPNetwork]) -> bool:
    """Whether an address (as ``client_ip`` returns it) lies in one of the networks."""
    address = parse_address(text)
    return address is not None and _trusted(address, networks)


def client_ip(*, peer: str, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]) -> str:
    """Return the client's address for a request.

    Args:
        peer: the socket peer (``REMOTE_ADDR``).
        forwarded_for: the ``X-Forwarded-For`` header (several headers joined by commas),
            or None.
        trusted_proxies: networks of our own reverse proxies.

    Returns:
        The peer itself unless it is a trusted proxy. Otherwise the header is read right
        to left, skipping trusted hops: the first untrusted address is the client; if
        every hop is trusted, the leftmost; a malformed entry stops the walk and the last
        good address wins. IPv4-mapped IPv6 is returned as IPv4. An unparseable peer is
        returned unchanged (stripped) and never trusted.
    """
    peer_address = parse_address(peer)
    if peer_address is None:
        return peer.strip()
    if not forwarded_for or not _trusted(peer_address, trusted_proxies):
        return str(peer_address)
    current = peer_address
    for hop, entry in enumerate(reversed(forwarded_for.split(","))):
        if hop >= _MAX_ENTRIES:
            break
        address = parse_address(entry)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted_proxies):
            break
    return str(current)


def _normalize_network(network: IPNetwork) -> IPNetwork:
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_cidrs(text: str, *, setting: str = "SEKISHO_TRUSTED_PROXIES") -> tuple[IPNetwork, ...]:
    """Parse comma- or space-separated networks; a bare address is a /32 or /128.

    Raises:
        ConfigError: an entry is not an address or a network, or has host bits set.
    """
    networks: list[IPNetwork] = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        candidate = item[1:-1] if item.startswith("[") and item.endswith("]") else item
        try:
            network = ipaddress.ip_network(candidate, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(candidate, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{setting}: {item!r} is not an IP address or CIDR network "
                    "(expected e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7)"
                ) from None
            raise ConfigError(
                f"{setting}: {item!r} has host bits set; did you mean {loose}?"
            ) from None
        networks.append(_normalize_network(network))
    return tuple(networks)
