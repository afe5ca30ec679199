"""AuthnRequest intake: binding decoding, parsing, ACS choice and request checks.

References: saml-core-2.0-os §3.4.1 (AuthnRequest), saml-bindings-2.0-os §3.4
(HTTP-Redirect, DEFLATE encoding) and §3.5 (HTTP-POST), saml-profiles-2.0-os §4.1.4.1
(Web Browser SSO request rules), saml-metadata-2.0-os §2.2.3 (default endpoints).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sekisho.saml.core.dsig import VerifiedSignature, has_signature, verify_element
from sekisho.saml.core.metadata import NAMEID_ENTITY, NAMEID_UNSPECIFIED, Endpoint, SpMetadata
from sekisho.saml.core.response import (
    AUTHN_CONTEXT_MFA,
    AUTHN_CONTEXT_PASSWORD,
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
    MFA_AUTHN_CONTEXTS,
)
from sekisho.saml.core.xml import (
    BINDING_HTTP_POST,
    DEFAULT_MAX_BYTES,
    SAML,
    SAMLP,
    Element,
    children,
    element_text,
    is_ncname,
    localname,
    namespace_of,
    only_child,
    parse_bool,
    parse_instant,
    parse_xml,
    tag_of,
)
from sekisho.saml.errors import (
    AcsNotRegistered,
    DestinationMismatch,
    InvalidNameIDPolicy,
    MalformedMessage,
    NoAuthnContext,
    RequestStale,
    SamlStatus,
    StatusCodes,
    UnsupportedBinding,
    UnsupportedVersion,
)


@dataclass(frozen=True)
class AuthnRequest:
    """The parts of a samlp:AuthnRequest an IdP acts on (saml-core §3.4.1)."""

    id: str
    issuer: str
    issue_instant: datetime
    destination: str | None
    acs_url: str | None
    acs_index: int | None
    protocol_binding: str | None
    force_authn: bool
    is_passive: bool
    name_id_policy_format: str | None
    allow_create: bool | None
    sp_name_qualifier: str | None
    requested_authn_contexts: tuple[str, ...]
    authn_context_comparison: str
    provider_name: str | None
    subject_name_id: str | None
    has_signature: bool


def decode_redirect_message(value: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Decode an HTTP-Redirect SAMLRequest/SAMLResponse: base64, then raw DEFLATE (§3.4.4.1).

    ``value`` is the already URL-decoded query parameter. Inflation stops at
    ``max_bytes`` so a DEFLATE bomb costs at most that much memory.

    Raises:
        MalformedMessage: bad base64, bad or truncated DEFLATE data, or too large.
    """
    # A '+' the SP forgot to percent-encode arrives as a space; space is never base64.
    compressed = _b64decode(value.replace(" ", "+"), max_bytes=max_bytes, what="SAMLRequest")
    inflater = zlib.decompressobj(wbits=-15)
    try:
        inflated = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedMessage(
            f"expected raw DEFLATE data (saml-bindings §3.4.4.1): {exc}"
        ) from exc
    if len(inflated) > max_bytes or inflater.unconsumed_tail:
        raise MalformedMessage(
            f"message too large: expected at most {max_bytes} bytes once inflated"
        )
    if not inflater.eof:
        raise MalformedMessage("expected a complete DEFLATE stream, got a truncated one")
    return inflated


def decode_post_message(value: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Decode an HTTP-POST SAMLRequest/SAMLResponse form value: base64 only (§3.5.4).

    Raises:
        MalformedMessage: bad base64 or too large.
    """
    return _b64decode(value, max_bytes=max_bytes, what="SAML message")


def _b64decode(value: str, *, max_bytes: int, what: str) -> bytes:
    # Checked before decoding so a huge value is refused without allocating its decoding.
    if len(value) > max_bytes * 2:
        raise MalformedMessage(
            f"{what} too large: expected at most {max_bytes} bytes, got {len(value)} characters"
        )
    compact = "".join(value.split())
    if not compact:
        raise MalformedMessage(f"expected a base64 {what}, got an empty value")
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessage(f"expected base64 in {what}, got invalid text: {exc}") from exc
    if len(decoded) > max_bytes:
        raise MalformedMessage(
            f"{what} too large: expected at most {max_bytes} bytes, got {len(decoded)}"
        )
    return decoded


def parse_authn_request(xml: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AuthnRequest:
    """Parse and shape-check a samlp:AuthnRequest (saml-core §3.4.1, profiles §4.1.4.1).

    Raises:
        MalformedMessage: not XML, wrong root, missing ID/IssueInstant/Issuer, or
            attributes that contradict each other.
        UnsupportedVersion: Version other than 2.0.
    """
    root = parse_xml(xml, max_bytes=max_bytes)
    if namespace_of(root) != SAMLP or localname(root) != "AuthnRequest":
        raise MalformedMessage(f"expected a samlp:AuthnRequest, got <{tag_of(root)}>")
    _check_version(root.get("Version"))
    request_id = (root.get("ID") or "").strip()
    if not request_id or not is_ncname(request_id):
        raise MalformedMessage(f"expected an xs:ID in AuthnRequest ID, got {request_id[:64]!r}")
    instant_text = root.get("IssueInstant")
    if not instant_text:
        raise MalformedMessage("expected an IssueInstant on the AuthnRequest, got none")
    issue_instant = parse_instant(instant_text, what="IssueInstant")
    issuer_element = only_child(root, SAML, "Issuer", required=False)
    if issuer_element is None:
        # Optional in core §3.2.1 but required by the SSO profile (§4.1.4.1): without it
        # the request cannot be tied to a registered SP.
        raise MalformedMessage("expected a saml:Issuer in the AuthnRequest, got none")
    issuer_format = issuer_element.get("Format")
    if issuer_format not in (None, NAMEID_ENTITY):
        raise MalformedMessage(
            f"expected Issuer Format absent or {NAMEID_ENTITY}, got {issuer_format[:100]!r}"
        )
    issuer = element_text(issuer_element).strip()
    if not issuer:
        raise MalformedMessage("expected a non-empty saml:Issuer, got an empty one")

    acs_url = root.get("AssertionConsumerServiceURL")
    acs_index_text = root.get("AssertionConsumerServiceIndex")
    protocol_binding = root.get("ProtocolBinding")
    acs_index: int | None = None
    if acs_index_text is not None:
        if acs_url is not None or protocol_binding is not None:
            raise MalformedMessage(
                "expected AssertionConsumerServiceIndex alone, got it together with "
                "AssertionConsumerServiceURL or ProtocolBinding (saml-core §3.4.1)"
            )
        try:
            acs_index = int(acs_index_text.strip())
        except ValueError as exc:
            raise MalformedMessage(
                f"expected an integer AssertionConsumerServiceIndex, got {acs_index_text[:16]!r}"
            ) from exc

    policy = only_child(root, SAMLP, "NameIDPolicy", required=False)
    name_id_format = policy.get("Format") if policy is not None else None
    allow_create = (
        parse_bool(policy.get("AllowCreate"), what="AllowCreate", default=None)
        if policy is not None
        else None
    )
    sp_name_qualifier = policy.get("SPNameQualifier") if policy is not None else None

    requested, comparison = _requested_authn_context(root)
    subject = only_child(root, SAML, "Subject", required=False)
    subject_name_id: str | None = None
    if subject is not None:
        name_id = only_child(subject, SAML, "NameID", required=False)
        subject_name_id = element_text(name_id).strip() if name_id is not None else None

    return AuthnRequest(
        id=request_id,
        issuer=issuer,
        issue_instant=issue_instant,
        destination=root.get("Destination"),
        acs_url=acs_url,
        acs_index=acs_index,
        protocol_binding=protocol_binding,
        force_authn=bool(parse_bool(root.get("ForceAuthn"), what="ForceAuthn", default=False)),
        is_passive=bool(parse_bool(root.get("IsPassive"), what="IsPassive", default=False)),
        name_id_policy_format=name_id_format,
        allow_create=allow_create,
        sp_name_qualifier=sp_name_qualifier,
        requested_authn_contexts=requested,
        authn_context_comparison=comparison,
        provider_name=root.get("ProviderName"),
        subject_name_id=subject_name_id,
        has_signature=has_signature(root),
    )


def _check_version(version: str | None) -> None:
    if version == "2.0":
        return
    if version is None:
        raise MalformedMessage('expected Version="2.0" on the AuthnRequest, got none')
    major = version.split(".", 1)[0]
    sub = (
        StatusCodes.REQUEST_VERSION_TOO_HIGH
        if major.isdigit() and int(major) >= 2
        else StatusCodes.REQUEST_VERSION_TOO_LOW
    )
    raise UnsupportedVersion(
        f'expected Version="2.0", got {version[:16]!r}',
        status=SamlStatus(StatusCodes.VERSION_MISMATCH, sub),
    )


def _requested_authn_context(root: Element) -> tuple[tuple[str, ...], str]:
    requested = only_child(root, SAMLP, "RequestedAuthnContext", required=False)
    if requested is None:
        return (), "exact"
    comparison = requested.get("Comparison", "exact")
    if comparison not in ("exact", "minimum", "maximum", "better"):
        raise MalformedMessage(
            f"expected Comparison exact/minimum/maximum/better, got {comparison[:32]!r}"
        )
    classes = tuple(
        element_text(node).strip() for node in children(requested, SAML, "AuthnContextClassRef")
    )
    return classes, comparison


def verify_authn_request_signature(
    xml: bytes,
    *,
    trusted_certificates: Sequence[str],
    allow_sha1: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> VerifiedSignature:
    """Verify the enveloped signature of a POSTed AuthnRequest (saml-bindings §3.5.5.2).

    Redirect-bound requests carry a detached signature instead: use
    ``dsig.verify_redirect_signature`` with the raw query string.

    Raises:
        SignatureRequired: the request is unsigned.
        SignatureInvalid: the signature does not verify against the SP's certificates.
    """
    return verify_element(
        parse_xml(xml, max_bytes=max_bytes),
        trusted_certificates=trusted_certificates,
        allow_sha1=allow_sha1,
    )


def default_acs(sp: SpMetadata) -> Endpoint:
    """Return the SP's default HTTP-POST ACS (saml-metadata §2.2.3).

    The endpoint with isDefault="true"; else the first without isDefault="false";
    else the first, in document order, considering HTTP-POST endpoints only.

    Raises:
        AcsNotRegistered: the SP has no HTTP-POST ACS at all.
    """
    posts = sp.post_acs()
    if not posts:
        raise AcsNotRegistered(
            f"expected an HTTP-POST AssertionConsumerService for {sp.entity_id!r}, got none"
        )
    for endpoint in posts:
        if endpoint.is_default is True:
            return endpoint
    for endpoint in posts:
        if endpoint.is_default is None:
            return endpoint
    return posts[0]


def choose_acs(request: AuthnRequest, sp: SpMetadata) -> Endpoint:
    """Pick the ACS to answer ``request`` at; only endpoints from ``sp``'s metadata qualify.

    A requested URL must equal (byte for byte) a registered HTTP-POST ACS; a requested
    index must name a registered HTTP-POST ACS; otherwise the default (profiles
    §4.1.4.1 allows the IdP to rely on metadata). Never answer at an unregistered URL.

    Raises:
        AcsNotRegistered: the requested URL or index is not in the metadata.
        UnsupportedBinding: the request asks for a binding other than HTTP-POST.
    """
    if request.acs_index is not None:
        for endpoint in sp.acs:
            if endpoint.index == request.acs_index:
                if endpoint.binding != BINDING_HTTP_POST:
                    raise UnsupportedBinding(
                        f"expected ACS index {request.acs_index} to use HTTP-POST, got "
                        f"{endpoint.binding}"
                    )
                return endpoint
        raise AcsNotRegistered(
            f"expected AssertionConsumerServiceIndex to be registered for {sp.entity_id!r}, "
            f"got unknown index {request.acs_index}"
        )
    if request.protocol_binding is not None and request.protocol_binding != BINDING_HTTP_POST:
        raise UnsupportedBinding(
            f"expected ProtocolBinding {BINDING_HTTP_POST}, got {request.protocol_binding[:100]!r}"
        )
    if request.acs_url is not None:
        for endpoint in sp.post_acs():
            if endpoint.location == request.acs_url:
                return endpoint
        raise AcsNotRegistered(
            f"expected AssertionConsumerServiceURL to be an HTTP-POST ACS registered for "
            f"{sp.entity_id!r}, got {request.acs_url[:200]!r}"
        )
    return default_acs(sp)


def check_request_freshness(
    request: AuthnRequest,
    *,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
    skew: timedelta = timedelta(seconds=60),
) -> None:
    """Refuse a request issued more than ``max_age`` (+ ``skew``) ago or in the future.

    Raises:
        RequestStale: with the request's IssueInstant and ``now`` in the message.
    """
    if request.issue_instant > now + skew:
        raise RequestStale(
            f"expected IssueInstant not after {now.isoformat()} (+{skew.total_seconds():.0f}s), "
            f"got {request.issue_instant.isoformat()}"
        )
    if request.issue_instant < now - max_age - skew:
        raise RequestStale(
            f"expected IssueInstant within {max_age.total_seconds():.0f}s of "
            f"{now.isoformat()}, got {request.issue_instant.isoformat()}"
        )


def check_destination(
    request: AuthnRequest, *, expected_destinations: Collection[str], signed: bool
) -> None:
    """Check Destination against the IdP's own configured SSO URL(s) (saml-bindings §3.4.5.2).

    A present Destination must match (saml-core §3.2.1); a signed request must carry one.
    Compare with configured URLs, never with one rebuilt from the Host header.

    Raises:
        DestinationMismatch: missing on a signed request, or not one of ours.
    """
    if request.destination is None:
        if signed:
            raise DestinationMismatch(
                "expected a Destination on a signed request (saml-bindings §3.4.5.2), got none"
            )
        return
    if request.destination not in expected_destinations:
        raise DestinationMismatch(
            f"expected Destination to be this IdP's SSO URL, got {request.destination[:200]!r}"
        )


def choose_name_id_format(
    request: AuthnRequest | None, *, configured: str, allowed: Collection[str] = ()
) -> str:
    """Return the NameID Format to issue (saml-core §3.4.1.1).

    No NameIDPolicy Format, or ``unspecified``, leaves the choice to the IdP: the app's
    ``configured`` format. A specific format is honoured when the app allows it
    (``allowed``, which always includes ``configured``).

    Raises:
        InvalidNameIDPolicy: the SP requests a format this application does not allow.
    """
    requested = request.name_id_policy_format if request is not None else None
    if requested is None or requested in (NAMEID_UNSPECIFIED, configured):
        return configured
    if requested in allowed:
        return requested
    permitted = ", ".join(dict.fromkeys([configured, *allowed]))
    raise InvalidNameIDPolicy(
        f"expected NameIDPolicy Format unspecified or one this application allows "
        f"({permitted}), got {requested[:200]!r}"
    )


# The classes Sekisho can truthfully assert, weakest first (saml-core §3.3.2.2.1 leaves the
# ordering to the IdP). A sign-in is a password over TLS; MFA adds a second factor. The
# bare Password class (no protected transport) is weaker than anything Sekisho asserts.
_STRENGTH: Final = {
    AUTHN_CONTEXT_PASSWORD: 1,
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT: 2,
    **{uri: 3 for uri in MFA_AUTHN_CONTEXTS},
}


def choose_authn_context(request: AuthnRequest | None, *, mfa_used: bool) -> str:
    """Return the AuthnContextClassRef to assert, honouring RequestedAuthnContext.

    What is true of a sign-in: PasswordProtectedTransport always, and the multi-factor
    classes (REFEDS MFA, the OpenID PAPE multi-factor policy, Microsoft's
    multipleauthn) when MFA was used. Per saml-core §3.3.2.2.1, over that ordering:

    - ``exact``: the first requested class (in the SP's order) that is true;
    - ``minimum``: the strongest true class at least as strong as one requested;
    - ``better``: the strongest true class stronger than every requested one;
    - ``maximum``: the strongest true class not stronger than the strongest requested.

    A requested multi-factor class is answered with that same URI, so an SP comparing
    strings (python3-saml's failOnAuthnContextMismatch) finds what it asked for.
    Classes outside the ordering can only be matched exactly.

    Raises:
        NoAuthnContext: nothing true of this sign-in satisfies the request; the caller
            may step up (add MFA) and ask again with ``mfa_used=True``.
    """
    true_classes = [AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT]
    if mfa_used:
        true_classes.append(AUTHN_CONTEXT_MFA)
    if request is None or not request.requested_authn_contexts:
        return true_classes[-1]
    requested = request.requested_authn_contexts
    comparison = request.authn_context_comparison
    chosen = _satisfying(requested, comparison, mfa_used=mfa_used)
    if chosen is None:
        raise NoAuthnContext(
            f"expected a satisfiable RequestedAuthnContext ({comparison}), got "
            f"{list(requested)[:5]} for a sign-in "
            f"{'with' if mfa_used else 'without'} MFA"
        )
    return chosen


def _satisfying(requested: Sequence[str], comparison: str, *, mfa_used: bool) -> str | None:
    top = 3 if mfa_used else 2

    def true_of_sign_in(uri: str) -> bool:
        return uri == AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT or (
            mfa_used and uri in MFA_AUTHN_CONTEXTS
        )

    if comparison == "exact":
        return next((uri for uri in requested if true_of_sign_in(uri)), None)
    known = [_STRENGTH[uri] for uri in requested if uri in _STRENGTH]
    if comparison == "better":
        if len(known) != len(requested):
            return None  # "stronger than" a class outside the ordering cannot be shown
        floor = max(known) + 1
        return _class_of(top) if top >= floor else None
    if not known:
        return None
    if comparison == "minimum":
        wanted_mfa = next((uri for uri in requested if uri in MFA_AUTHN_CONTEXTS), None)
        if top >= min(known):
            return wanted_mfa if top == 3 and wanted_mfa else _class_of(top)
        return None
    # maximum: as strong as possible without exceeding the strongest requested class.
    ceiling = min(top, max(known))
    if ceiling < 2:
        return None
    if ceiling == 3:
        return next(uri for uri in requested if uri in MFA_AUTHN_CONTEXTS)
    return AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT


def _class_of(strength: int) -> str:
    return AUTHN_CONTEXT_MFA if strength == 3 else AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT
