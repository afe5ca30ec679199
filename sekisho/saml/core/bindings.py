"""Outbound HTTP-Redirect and HTTP-POST encodings of SAML messages (saml-bindings-2.0-os).

Inbound decoding lives in ``authnrequest`` (``decode_redirect_message``,
``decode_post_message``); this module builds what Sekisho sends: a signed Redirect URL
(§3.4.4.1: DEFLATE, base64, URL-encoding, detached RSA-SHA256 signature over the query) or
the base64 value of a POST form field (§3.5.4).
"""

from __future__ import annotations

import base64
import zlib
from urllib.parse import quote_plus

from sekisho.saml.core.dsig import SIG_RSA_SHA256, sign_redirect
from sekisho.saml.core.keys import SigningKey


def deflate_encode(xml: bytes) -> str:
    """Raw DEFLATE then base64, the HTTP-Redirect message encoding (saml-bindings §3.4.4.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def post_encode(xml: bytes) -> str:
    """Base64 for an HTTP-POST form field (saml-bindings §3.5.4)."""
    return base64.b64encode(xml).decode("ascii")


def redirect_url(
    location: str,
    *,
    parameter: str,
    xml: bytes,
    relay_state: str = "",
    key: SigningKey | None,
) -> str:
    """The URL that carries ``xml`` to ``location`` by HTTP-Redirect, signed when ``key`` is set.

    ``parameter`` is ``SAMLRequest`` or ``SAMLResponse``. The signature covers
    ``parameter=..&RelayState=..&SigAlg=..`` in that order (saml-bindings §3.4.4.1); an
    existing query on ``location`` is kept in front (§3.4.4: the endpoint's own
    parameters are preserved).
    """
    if parameter not in ("SAMLRequest", "SAMLResponse"):
        raise ValueError(f"expected SAMLRequest or SAMLResponse, got {parameter!r}")
    query = f"{parameter}={quote_plus(deflate_encode(xml))}"
    if relay_state:
        query += f"&RelayState={quote_plus(relay_state)}"
    if key is not None:
        query += f"&SigAlg={quote_plus(SIG_RSA_SHA256)}"
        query += f"&Signature={quote_plus(sign_redirect(query, key))}"
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{query}"
