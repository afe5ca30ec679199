"""The client's address, scheme and host behind reverse proxies, resistant to spoofing.

Anyone can send ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host`` or
``Forwarded`` (RFC 7239), so they are believed only when the socket peer is a configured
trusted proxy, and then only as far back as the chain of trusted proxies goes: each proxy
appends what it saw, so the entries on the right were written by our own proxies and the
first untrusted one is the real client. The scheme and host are those the same hop reports.
The results feed ``aws:SourceIp`` and ``aws:SecureTransport`` in policies, the audit trail,
``request.is_secure()`` and ``request.get_host()``. Nothing here knows HTTP frameworks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sekisho.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_ENTRIES = 64  # more hops than any real deployment; stops pathological headers early
_IPV4_WITH_PORT = re.compile(r"^(?P<host>\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{1,5})$", re.ASCII)
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>\d{1,5}))?$", re.ASCII)


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


@dataclass(frozen=True)
class ForwardedHeaders:
    """One request's forwarding headers as received (None: absent; repeats comma-joined)."""

    x_forwarded_for: str | None = None
    x_forwarded_proto: str | None = None
    x_forwarded_host: str | None = None
    forwarded: str | None = None


@dataclass(frozen=True)
class Forwarding:
    """What a request's socket and trusted forwarding headers establish about its client.

    ``scheme`` (``"http"`` or ``"https"``) and ``host`` (``host[:port]`` as the client sent
    it, not yet checked against the allowed hosts) are None when no trusted proxy said.
    """

    client_ip: str
    scheme: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class _Hop:
    """One proxy's report of the request it received: from where, over what, for which host."""

    address: IPAddress | None  # None: unknown, obfuscated, missing or malformed
    proto: str | None = None
    host: str | None = None


def _walk(
    peer: IPAddress, hops: Iterable[_Hop], trusted_proxies: Sequence[IPNetwork]
) -> tuple[IPAddress, int, _Hop | None]:
    """Walk hops right to left from a trusted peer, skipping trusted ones.

    Returns the client's address (the last good address when a hop names none), how many
    hops were read (the stopping one included) and the stopping hop.
    """
    current, depth, stop = peer, 0, None
    for hop in hops:
        if depth >= _MAX_ENTRIES:
            break
        depth, stop = depth + 1, hop
        if hop.address is None:
            break
        current = hop.address
        if not _trusted(current, trusted_proxies):
            break
    return current, depth, stop


def _x_forwarded_for_hops(header: str) -> Iterator[_Hop]:
    for entry in reversed(header.split(",")):
        yield _Hop(parse_address(entry))


def _scheme(text: str | None) -> str | None:
    value = (text or "").lower()
    return value if value in ("http", "https") else None


def _aligned(header: str | None, position: int) -> str | None:
    """The entry ``position`` places from the right, written by the same proxy as the
    X-Forwarded-For entry there; the leftmost entry when proxies replaced, not appended."""
    if header is None:
        return None
    entries = header.split(",")
    value = entries[-position] if len(entries) >= position else entries[0]
    return value.strip() or None


def resolve_forwarding(
    *, peer: str, headers: ForwardedHeaders, trusted_proxies: Sequence[IPNetwork]
) -> Forwarding:
    """Resolve a request's client address, scheme and host.

    Args:
        peer: the socket peer (``REMOTE_ADDR``).
        headers: the forwarding headers as received.
        trusted_proxies: networks of our own reverse proxies.

    Returns:
        The peer, and no scheme or host, unless the peer is a trusted proxy. Otherwise one
        family of headers is read, never a mix: X-Forwarded-* when X-Forwarded-For is
        present, else Forwarded (RFC 7239), else X-Forwarded-Proto/-Host alone. The chain
        (X-Forwarded-For entries, or Forwarded elements' ``for=``) is read right to left,
        skipping trusted hops: the first untrusted address is the client; if every hop is
        trusted, the leftmost; an entry that names no address (malformed, ``unknown``, an
        obfuscated identifier, no ``for=``) stops the walk and the last good address wins.
        The scheme and host are those reported by the hop where the walk stopped: that
        Forwarded element's ``proto=`` and ``host=``, or the X-Forwarded-Proto/-Host entry
        at the same position from the right (the leftmost if the list is shorter). Only
        ``http`` and ``https`` count as schemes. IPv4-mapped IPv6 is returned as IPv4; an
        unparseable peer is returned unchanged (stripped) and never trusted.
    """
    peer_address = parse_address(peer)
    if peer_address is None:
        return Forwarding(client_ip=peer.strip())
    if not _trusted(peer_address, trusted_proxies):
        return Forwarding(client_ip=str(peer_address))
    if headers.x_forwarded_for is None and headers.forwarded is not None:
        address, _, hop = _walk(peer_address, _forwarded_hops(headers.forwarded), trusted_proxies)
        if hop is None:
            return Forwarding(client_ip=str(address))
        return Forwarding(client_ip=str(address), scheme=_scheme(hop.proto), host=hop.host)
    address, depth, _ = _walk(
        peer_address, _x_forwarded_for_hops(headers.x_forwarded_for or ""), trusted_proxies
    )
    if headers.x_forwarded_for is None:
        depth = 1  # no chain: the peer itself reported the scheme and host
    return Forwarding(
        client_ip=str(address),
        scheme=_scheme(_aligned(headers.x_forwarded_proto, max(depth, 1))),
        host=_aligned(headers.x_forwarded_host, max(depth, 1)),
    )


def client_ip(*, peer: str, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]) -> str:
    """Return the client's address for a request from ``peer`` carrying only X-Forwarded-For.

    See resolve_forwarding for the rules.
    """
    headers = ForwardedHeaders(x_forwarded_for=forwarded_for)
    return resolve_forwarding(peer=peer, headers=headers, trusted_proxies=trusted_proxies).client_ip


# --- RFC 7239 Forwarded -----------------------------------------------------------------------

# RFC 9110 §5.6.2 token characters; §5.6.3 optional whitespace.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"
# RFC 7239 §6: node = nodename [ ":" node-port ]; obfuscated names and ports start with "_".
_NODE = re.compile(
    r"(?:(?P<v4>[0-9]{1,3}(?:\.[0-9]{1,3}){3})|\[(?P<v6>[0-9A-Fa-f:.]+)\]"
    r"|(?P<unknown>[Uu][Nn][Kk][Nn][Oo][Ww][Nn])|(?P<obfuscated>_[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}|_[A-Za-z0-9._-]+))?",
    re.ASCII,
)


def _skip_ows(text: str, end: int) -> int:
    while end > 0 and text[end - 1] in _OWS:
        end -= 1
    return end


def _token_start(text: str, end: int) -> int:
    start = end
    while start > 0 and text[start - 1] in _TCHAR:
        start -= 1
    return start


def _backslashes_before(text: str, index: int) -> int:
    count = 0
    while index - count > 0 and text[index - count - 1] == "\\":
        count += 1
    return count


def _unescape(content: str) -> str | None:
    # RFC 9110 §5.6.4: qdtext and quoted-pair allow HTAB, SP, VCHAR and obs-text only.
    out: list[str] = []
    escaped = False
    for char in content:
        if char == "\\" and not escaped:
            escaped = True
            continue
        if not (char in "\t " or "\x21" <= char <= "\x7e" or "\x80" <= char <= "\xff"):
            return None
        out.append(char)
        escaped = False
    return None if escaped else "".join(out)


def _quoted_before(text: str, end: int) -> tuple[str, int] | None:
    """The quoted-string whose closing DQUOTE is ``text[end - 1]``: its value and start."""
    if _backslashes_before(text, end - 1) % 2:
        return None  # that quote is escaped: no closing quote
    index = end - 2
    while index >= 0:
        if text[index] == '"' and _backslashes_before(text, index) % 2 == 0:
            value = _unescape(text[index + 1 : end - 1])
            return None if value is None else (value, index)
        index -= 1
    return None


def _element_before(text: str, end: int) -> tuple[dict[str, str] | None, int | None]:
    """Parse the forwarded-element ending at ``text[end - 1]``, from its right end.

    Returns its parameters (names lowercased; None when malformed) and where the element
    before it ends (None when this one is the first).
    """
    pairs: dict[str, str] = {}
    index = _skip_ows(text, end)
    while True:
        if index > 0 and text[index - 1] not in ";,":
            if text[index - 1] == '"':
                quoted = _quoted_before(text, index)
                if quoted is None:
                    return None, None
                value, index = quoted
            else:
                start = _token_start(text, index)
                if start == index:
                    return None, None
                value, index = text[start:index], start
            if index == 0 or text[index - 1] != "=":
                return None, None
            start = _token_start(text, index - 1)
            if start == index - 1:
                return None, None
            name = text[start : index - 1].lower()
            if name in pairs:
                return None, None  # RFC 7239 §4: each parameter at most once per element
            pairs[name] = value
            index = start
        index = _skip_ows(text, index)
        if index == 0:
            return pairs, None
        if text[index - 1] == ";":
            index = _skip_ows(text, index - 1)
        elif text[index - 1] == ",":
            return pairs, index - 1
        else:
            return None, None


def forwarded_elements(header: str) -> Iterator[dict[str, str] | None]:
    """The elements of a Forwarded header (RFC 7239 §4), rightmost first.

    Parsing runs from the right so that whatever a client put before our proxies' elements
    (unbalanced quotes included) cannot change how theirs read. A malformed element is
    yielded as None and ends the iteration.
    """
    end: int | None = len(header)
    while end is not None:
        pairs, end = _element_before(header, end)
        yield pairs
        if pairs is None:
            return


def parse_node(value: str | None) -> IPAddress | None:
    """The address in a Forwarded ``for=``/``by=`` node (RFC 7239 §6), or None.

    None for ``unknown``, an obfuscated identifier, a missing or malformed value. IPv6 must
    be in brackets (``"[2001:db8::1]:4711"``); ports, obfuscated or not, are ignored.
    """
    match = _NODE.fullmatch(value or "")
    if match is None:
        return None
    port = match["port"]
    if port is not None and not port.startswith("_") and int(port) > 65535:
        return None
    try:
        if match["v4"] is not None:
            return ipaddress.IPv4Address(match["v4"])
        if match["v6"] is not None:
            return _normalize(ipaddress.IPv6Address(match["v6"]))
    except ValueError:
        return None
    return None


def _forwarded_hops(header: str) -> Iterator[_Hop]:
    for pairs in forwarded_elements(header):
        if pairs is None:
            yield _Hop(None)
            return
        yield _Hop(parse_node(pairs.get("for")), pairs.get("proto"), pairs.get("host"))


# --- Host -------------------------------------------------------------------------------------

_HOST = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.?|\[(?P<v6>[0-9A-Fa-f:.]+)\])"
    r"(?::(?P<port>[0-9]{1,5}))?",
    re.ASCII,
)


def split_host(text: str) -> tuple[str, int | None] | None:
    """Split ``host[:port]`` as a Host header carries it (RFC 9110 §7.2), or None if malformed.

    The host is lowercased, without a trailing dot, IPv6 without brackets (as urlsplit's
    ``hostname``).
    """
    match = _HOST.fullmatch(text.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] is not None else None
    if port is not None and port > 65535:
        return None
    if match["v6"] is not None:
        try:
            return str(ipaddress.IPv6Address(match["v6"])), port
        except ValueError:
            return None
    return match["name"].rstrip(".").lower(), port


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
