"""Endpoint URLs Sekisho will send a browser to: ACS, single logout, metadata sources.

A SAML endpoint from metadata ends up in an HTML form's ``action``, a ``Location``
header and a Content-Security-Policy ``form-action`` source; any of them breaks (or is
injected into) if the URL holds characters a URL cannot hold. So every endpoint is
checked once, strictly, against RFC 3986 §2-§3: the allowed characters, an authority
with a host name or IP literal, no user information, no fragment; and against the
transport rule of saml-bindings §3.5.5.1 / saml-metadata §2.2.2 deployments need:
``https``, or ``http`` only towards the loopback host (a local stand-in or test SP).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sekisho.saml.errors import EndpointRejected

MAX_URL_LENGTH: Final = 2048
# RFC 3986 §2.2-§2.3: unreserved, gen-delims, sub-delims, plus '%' for pct-encoding.
_URL_CHARS: Final = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 1123 §2.1 labels (letters, digits, hyphens; no leading or trailing hyphen).
_LABEL: Final = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@dataclass(frozen=True)
class CheckedUrl:
    """An endpoint URL that passed ``check_endpoint_url``, with its origin for CSP."""

    url: str
    scheme: str
    host: str
    port: int | None

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` (RFC 6454 §6.2), the CSP source naming this endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ::1)."""
    lowered = host.lower().strip("[]")
    if lowered in _LOOPBACK_NAMES or lowered.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(lowered).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str, *, what: str) -> CheckedUrl:
    """Accept an endpoint URL a browser may be sent to, or explain in one line why not.

    Args:
        url: the URL as found in metadata or given on the command line.
        what: how to name it in the message ("AssertionConsumerService Location").

    Raises:
        EndpointRejected: not https (http only on loopback), control or non-URL
            characters, bad percent-encoding, no or malformed host, user information,
            a fragment, a bad port, or longer than 2048 characters.
    """
    if not isinstance(url, str) or not url:
        raise EndpointRejected(f"{what}: expected an https:// URL, got an empty value")
    shown = _shown(url)
    if len(url) > MAX_URL_LENGTH:
        raise EndpointRejected(
            f"{what}: expected at most {MAX_URL_LENGTH} characters, got {len(url)}"
        )
    bad = next((c for c in url if ord(c) < 0x21 or ord(c) == 0x7F), None)
    if bad is not None:
        raise EndpointRejected(
            f"{what}: control characters and spaces are not allowed in a URL "
            f"(found U+{ord(bad):04X}), got {shown}"
        )
    if not _URL_CHARS.match(url):
        odd = next(c for c in url if not _URL_CHARS.match(c))
        raise EndpointRejected(
            f"{what}: {odd!r} is not allowed in a URL (RFC 3986; percent-encode it), got {shown}"
        )
    if _BAD_PERCENT.search(url):
        raise EndpointRejected(f"{what}: '%' must start a %XX escape, got {shown}")
    try:
        parts = urlsplit(url)
    except ValueError:  # urllib refuses some bracketed hosts itself
        raise EndpointRejected(f"{what}: expected an IPv6 literal in [...], got {shown}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise EndpointRejected(
            f"{what}: expected an https:// URL (http:// only on localhost), got {shown}"
        )
    if not parts.netloc:
        raise EndpointRejected(f"{what}: expected an absolute URL with a host, got {shown}")
    if "@" in parts.netloc:
        raise EndpointRejected(f"{what}: user information (user@host) is not allowed, got {shown}")
    if parts.fragment or url.endswith("#"):
        raise EndpointRejected(f"{what}: a fragment (#...) is not allowed, got {shown}")
    host = _host(parts.netloc, what=what, shown=shown)
    port = _port(parts.netloc, what=what, shown=shown)
    if scheme == "http" and not is_loopback_host(host):
        raise EndpointRejected(
            f"{what}: plain http is allowed only for localhost; expected https://, got {shown}"
        )
    return CheckedUrl(url=url, scheme=scheme, host=host.lower(), port=port)


def _host(netloc: str, *, what: str, shown: str) -> str:
    hostport = netloc
    if hostport.startswith("["):
        end = hostport.find("]")
        literal = hostport[1:end] if end > 0 else ""
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise EndpointRejected(
                f"{what}: expected an IPv6 literal in [...], got {shown}"
            ) from None
        return literal
    host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    if not host:
        raise EndpointRejected(f"{what}: expected a host name, got {shown}")
    labels = host.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise EndpointRejected(
            f"{what}: expected a host name of letters, digits, '-' and '.', got {shown}"
        )
    return host


def _port(netloc: str, *, what: str, shown: str) -> int | None:
    tail = netloc.rsplit("]", 1)[-1] if netloc.startswith("[") else netloc
    if ":" not in tail:
        return None
    text = tail.rsplit(":", 1)[1]
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise EndpointRejected(f"{what}: expected a port 1-65535, got {shown}")
    return int(text)


def _shown(url: str) -> str:
    # repr() escapes control characters, so the message itself stays one line.
    return repr(url[:200] + ("…" if len(url) > 200 else ""))
