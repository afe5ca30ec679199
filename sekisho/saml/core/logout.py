"""Single Logout messages: LogoutRequest and LogoutResponse, built and read.

References: saml-core-2.0-os §3.7.1 (LogoutRequest), §3.7.2 (LogoutResponse), §3.7.3
(processing rules, PartialLogout), §3.2.2 (StatusResponseType); saml-profiles-2.0-os
§4.4 (Single Logout Profile: §4.4.4.1 requests and §4.4.4.2 responses MUST be signed or
otherwise authenticated on the front channel, Issuer required, NameID as issued).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from sekisho.saml.core.dsig import has_signature, sign_element
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.xml import (
    DEFAULT_MAX_BYTES,
    SAML,
    SAMLP,
    Element,
    check_xml_text,
    children,
    element_text,
    format_instant,
    is_ncname,
    localname,
    namespace_of,
    only_child,
    parse_instant,
    parse_xml,
    qn,
    tag_of,
)
from sekisho.saml.errors import (
    DestinationMismatch,
    MalformedMessage,
    RequestStale,
    RequestUnsupported,
    StatusCodes,
    UnsupportedVersion,
)

_NSMAP: Final = {"samlp": SAMLP, "saml": SAML}
DEFAULT_LIFETIME: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class SubjectName:
    """A saml:NameID as issued or as named in a LogoutRequest (saml-core §2.2.3)."""

    value: str
    format: str | None = None
    sp_name_qualifier: str | None = None
    name_qualifier: str | None = None


@dataclass(frozen=True)
class LogoutRequest:
    """The parts of a samlp:LogoutRequest an IdP or SP acts on (saml-core §3.7.1)."""

    id: str
    issuer: str
    issue_instant: datetime
    destination: str | None
    not_on_or_after: datetime | None
    name_id: SubjectName
    session_indexes: tuple[str, ...]
    reason: str | None
    has_signature: bool


@dataclass(frozen=True)
class LogoutResponse:
    """The parts of a samlp:LogoutResponse (saml-core §3.7.2, §3.2.2)."""

    id: str
    issuer: str
    issue_instant: datetime
    in_response_to: str | None
    destination: str | None
    status: str
    sub_status: str | None
    has_signature: bool

    @property
    def succeeded(self) -> bool:
        """Top-level Success without PartialLogout: every session of the subject ended."""
        return self.status == StatusCodes.SUCCESS and self.sub_status != StatusCodes.PARTIAL_LOGOUT


def build_logout_request(
    *,
    issuer: str,
    destination: str,
    name_id: SubjectName,
    session_indexes: Sequence[str],
    now: datetime,
    new_id: Callable[[], str],
    lifetime: timedelta = DEFAULT_LIFETIME,
    reason: str | None = None,
) -> Element:
    """Build an unsigned samlp:LogoutRequest naming the NameID exactly as it was issued.

    Sign it with ``serialize`` (HTTP-POST) or send it with ``bindings.redirect_url``.
    """
    root = etree.Element(qn(SAMLP, "LogoutRequest"), nsmap=_NSMAP)
    _header(root, new_id(), now, destination)
    root.set("NotOnOrAfter", format_instant(now + lifetime))
    if reason is not None:
        root.set("Reason", _text(reason, "Reason"))
    etree.SubElement(root, qn(SAML, "Issuer")).text = _text(issuer, "Issuer")
    node = etree.SubElement(root, qn(SAML, "NameID"))
    if name_id.name_qualifier is not None:
        node.set("NameQualifier", _text(name_id.name_qualifier, "NameQualifier"))
    if name_id.sp_name_qualifier is not None:
        node.set("SPNameQualifier", _text(name_id.sp_name_qualifier, "SPNameQualifier"))
    if name_id.format is not None:
        node.set("Format", _text(name_id.format, "NameID Format"))
    node.text = _text(name_id.value, "NameID")
    for index in session_indexes:
        etree.SubElement(root, qn(SAMLP, "SessionIndex")).text = _text(index, "SessionIndex")
    return root


def build_logout_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    status: str,
    now: datetime,
    new_id: Callable[[], str],
    sub_status: str | None = None,
) -> Element:
    """Build an unsigned samlp:LogoutResponse (saml-core §3.7.2) with its Status."""
    root = etree.Element(qn(SAMLP, "LogoutResponse"), nsmap=_NSMAP)
    _header(root, new_id(), now, destination)
    if in_response_to is not None:
        root.set("InResponseTo", _text(in_response_to, "InResponseTo"))
    etree.SubElement(root, qn(SAML, "Issuer")).text = _text(issuer, "Issuer")
    status_node = etree.SubElement(root, qn(SAMLP, "Status"))
    code = etree.SubElement(status_node, qn(SAMLP, "StatusCode"))
    code.set("Value", _text(status, "StatusCode"))
    if sub_status is not None:
        etree.SubElement(code, qn(SAMLP, "StatusCode")).set(
            "Value", _text(sub_status, "StatusCode")
        )
    return root


def serialize(message: Element, *, key: SigningKey | None) -> bytes:
    """The message as bytes, with an enveloped signature after its Issuer when ``key`` is set.

    For HTTP-POST (saml-bindings §3.5.4); HTTP-Redirect carries a detached signature over
    the query instead, so it gets the unsigned serialization.
    """
    if key is not None:
        issuer = only_child(message, SAML, "Issuer", required=True)
        sign_element(message, key, insert_after=issuer)
    return etree.tostring(message, encoding="UTF-8", xml_declaration=True)


def parse_logout_message(
    xml: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> LogoutRequest | LogoutResponse:
    """Read a samlp:LogoutRequest or samlp:LogoutResponse.

    Raises:
        MalformedMessage: anything else, or a malformed one.
        UnsupportedVersion: Version other than 2.0.
        RequestUnsupported: an EncryptedID or BaseID instead of a NameID.
    """
    root = parse_xml(xml, max_bytes=max_bytes)
    if namespace_of(root) == SAMLP and localname(root) == "LogoutRequest":
        return _logout_request(root)
    if namespace_of(root) == SAMLP and localname(root) == "LogoutResponse":
        return _logout_response(root)
    raise MalformedMessage(
        f"expected a samlp:LogoutRequest or LogoutResponse, got <{tag_of(root)}>"
    )


def check_logout_request(
    request: LogoutRequest,
    *,
    now: datetime,
    expected_destinations: Collection[str],
    max_age: timedelta = DEFAULT_LIFETIME,
    skew: timedelta = timedelta(seconds=60),
) -> None:
    """Refuse a stale, expired or misdirected LogoutRequest (saml-core §3.7.1, §3.2.1).

    Raises:
        RequestStale: issued too long ago or in the future, or past its NotOnOrAfter.
        DestinationMismatch: a Destination that is not this IdP's SLO endpoint.
    """
    if request.issue_instant > now + skew or request.issue_instant < now - max_age - skew:
        raise RequestStale(
            f"expected IssueInstant within {max_age.total_seconds():.0f}s of "
            f"{format_instant(now)}, got {format_instant(request.issue_instant)}"
        )
    if request.not_on_or_after is not None and request.not_on_or_after <= now - skew:
        raise RequestStale(
            f"expected NotOnOrAfter after {format_instant(now)}, got "
            f"{format_instant(request.not_on_or_after)}"
        )
    _check_destination(request.destination, expected_destinations)


def check_logout_response(
    response: LogoutResponse, *, expected_destinations: Collection[str]
) -> None:
    """Refuse a LogoutResponse sent to another endpoint (saml-core §3.2.2).

    Raises:
        DestinationMismatch: a Destination that is not this IdP's SLO endpoint.
    """
    _check_destination(response.destination, expected_destinations)


def same_subject(named: SubjectName, issued: SubjectName) -> bool:
    """Whether a LogoutRequest's NameID names the subject as issued (saml-profiles §4.4.4.1).

    The value must match; Format and qualifiers must match where both sides state them.
    """
    if named.value != issued.value:
        return False
    for left, right in (
        (named.format, issued.format),
        (named.sp_name_qualifier, issued.sp_name_qualifier),
        (named.name_qualifier, issued.name_qualifier),
    ):
        if left is not None and right is not None and left != right:
            return False
    return True


def _logout_request(root: Element) -> LogoutRequest:
    request_id, issue_instant, destination, issuer = _common(root, "LogoutRequest")
    if children(root, SAML, "EncryptedID") or children(root, SAML, "BaseID"):
        raise RequestUnsupported(
            "expected a plain saml:NameID in the LogoutRequest, got EncryptedID or BaseID "
            "(Sekisho publishes no encryption key)"
        )
    node = only_child(root, SAML, "NameID", required=True)
    assert node is not None
    value = element_text(node).strip()
    if not value:
        raise MalformedMessage("expected a non-empty saml:NameID in the LogoutRequest, got none")
    not_on_or_after_text = root.get("NotOnOrAfter")
    return LogoutRequest(
        id=request_id,
        issuer=issuer,
        issue_instant=issue_instant,
        destination=destination,
        not_on_or_after=(
            parse_instant(not_on_or_after_text, what="NotOnOrAfter")
            if not_on_or_after_text
            else None
        ),
        name_id=SubjectName(
            value=value,
            format=node.get("Format"),
            sp_name_qualifier=node.get("SPNameQualifier"),
            name_qualifier=node.get("NameQualifier"),
        ),
        session_indexes=tuple(
            element_text(n).strip() for n in children(root, SAMLP, "SessionIndex")
        ),
        reason=root.get("Reason"),
        has_signature=has_signature(root),
    )


def _logout_response(root: Element) -> LogoutResponse:
    response_id, issue_instant, destination, issuer = _common(root, "LogoutResponse")
    status = only_child(root, SAMLP, "Status", required=True)
    assert status is not None
    code = only_child(status, SAMLP, "StatusCode", required=True)
    assert code is not None
    top = (code.get("Value") or "").strip()
    if not top:
        raise MalformedMessage("expected a Value on the LogoutResponse StatusCode, got none")
    sub = only_child(code, SAMLP, "StatusCode", required=False)
    return LogoutResponse(
        id=response_id,
        issuer=issuer,
        issue_instant=issue_instant,
        in_response_to=root.get("InResponseTo"),
        destination=destination,
        status=top,
        sub_status=(sub.get("Value") or "").strip() or None if sub is not None else None,
        has_signature=has_signature(root),
    )


def _common(root: Element, what: str) -> tuple[str, datetime, str | None, str]:
    version = root.get("Version")
    if version != "2.0":
        raise UnsupportedVersion(f'expected Version="2.0" on the {what}, got {version!r}')
    message_id = (root.get("ID") or "").strip()
    if not message_id or not is_ncname(message_id):
        raise MalformedMessage(f"expected an xs:ID in {what} ID, got {message_id[:64]!r}")
    instant_text = root.get("IssueInstant")
    if not instant_text:
        raise MalformedMessage(f"expected an IssueInstant on the {what}, got none")
    issue_instant = parse_instant(instant_text, what="IssueInstant")
    issuer_node = only_child(root, SAML, "Issuer", required=False)
    issuer = element_text(issuer_node).strip() if issuer_node is not None else ""
    if not issuer:
        # Optional in saml-core §3.2 but required by the SLO profile (§4.4.4.1-§4.4.4.2).
        raise MalformedMessage(f"expected a saml:Issuer in the {what}, got none")
    return message_id, issue_instant, root.get("Destination"), issuer


def _check_destination(destination: str | None, expected: Collection[str]) -> None:
    if destination is not None and destination not in expected:
        raise DestinationMismatch(
            f"expected Destination to be this IdP's SLO URL, got {destination[:200]!r}"
        )


def _header(root: Element, message_id: str, now: datetime, destination: str) -> None:
    if not is_ncname(message_id):
        raise ValueError(f"expected new_id() to return an xs:ID, got {message_id[:64]!r}")
    root.set("ID", message_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", format_instant(now))
    root.set("Destination", _text(destination, "Destination"))


def _text(value: str, what: str) -> str:
    return check_xml_text(value, what=what)
