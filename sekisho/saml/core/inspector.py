"""A strict, explaining validator for SAML Responses (the admin's "what did we send?").

It checks what an SP following saml-profiles-2.0-os §4.1.4.3 must check, and reports
every problem instead of stopping at the first. Security rules, each defeating a known
attack class on SAML SPs:

- signature wrapping (XSW): exactly one Assertion, a direct child of the Response; only
  the Response or that Assertion may carry a signature, its Reference must name the
  element's own unique ID (see ``dsig.verify_element``); values are then read from the
  canonical bytes the signature covers, never from the received tree;
- comment injection (``alice@example.com<!---->.evil``): values come from the canonical
  form, which has no comments, and any comment inside the Response is reported;
- HMAC key confusion and embedded-certificate trust: only RSA, only trusted certificates.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from sekisho.saml.core.authnrequest import decode_post_message
from sekisho.saml.core.dsig import VerifiedSignature, verify_element
from sekisho.saml.core.keys import certificate_b64
from sekisho.saml.core.response import CONFIRMATION_BEARER
from sekisho.saml.core.xml import (
    DS,
    SAML,
    SAMLP,
    Element,
    children,
    element_text,
    localname,
    namespace_of,
    parse_instant,
    parse_xml,
    qn,
    tag_of,
)
from sekisho.saml.errors import SamlError, StatusCodes

DEFAULT_INSPECT_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class Inspection:
    """The verdict on one Response, with every problem found and the values it carries.

    Values come from the signed content when a trusted signature covers them; when
    ``valid`` is False they may be attacker-controlled and are for display only.
    """

    valid: bool
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    issuer: str | None = None
    destination: str | None = None
    status: str | None = None
    name_id: str | None = None
    name_id_format: str | None = None
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    audience: str | None = None
    audiences: tuple[str, ...] = ()
    recipient: str | None = None
    in_response_to: str | None = None
    not_before: datetime | None = None
    not_on_or_after: datetime | None = None
    authn_context: str | None = None
    session_index: str | None = None
    signed_parts: tuple[str, ...] = ()
    signature_algorithms: tuple[str, ...] = ()
    pretty_xml: str = ""


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)


def inspect_response(
    saml_response_b64: str,
    *,
    trusted_certificates: Sequence[str],
    expected_issuer: str,
    expected_audience: str | None,
    expected_recipient: str | None,
    now: datetime,
    skew_seconds: int = 60,
    expected_in_response_to: str | None = None,
    allow_sha1: bool = False,
    max_bytes: int = DEFAULT_INSPECT_MAX_BYTES,
) -> Inspection:
    """Inspect a base64 SAMLResponse as an SP would, never raising.

    Args:
        saml_response_b64: the SAMLResponse form value as POSTed.
        trusted_certificates: PEM/base64 certificates of the IdP (embedded ones are ignored).
        expected_issuer: the IdP's entity ID.
        expected_audience: the SP's entity ID; None skips the audience check.
        expected_recipient: the ACS URL; None skips Recipient/Destination checks.
        now: the time to judge validity windows at.
        skew_seconds: clock skew tolerated on every time check.
        expected_in_response_to: the AuthnRequest ID for SP-initiated flows; None
            accepts any (IdP-initiated responses have none).
        allow_sha1: accept RSA-SHA1/SHA-1 signatures.
        max_bytes: refuse larger decoded documents.

    Returns:
        Inspection; ``valid`` is True only when ``problems`` is empty.
    """
    findings = _Findings()
    try:
        xml = decode_post_message(saml_response_b64, max_bytes=max_bytes)
    except SamlError as exc:
        return Inspection(valid=False, problems=(f"SAMLResponse: {exc.message}",))
    try:
        root = parse_xml(xml, max_bytes=max_bytes)
    except SamlError as exc:
        return Inspection(
            valid=False,
            problems=(f"SAMLResponse: {exc.message}",),
            pretty_xml=xml.decode("utf-8", "replace"),
        )
    try:
        _inspect(
            root,
            findings,
            trusted_certificates=trusted_certificates,
            expected_issuer=expected_issuer,
            expected_audience=expected_audience,
            expected_recipient=expected_recipient,
            expected_in_response_to=expected_in_response_to,
            now=now,
            skew=timedelta(seconds=skew_seconds),
            allow_sha1=allow_sha1,
        )
    except (SamlError, ValueError, etree.LxmlError) as exc:
        findings.problems.append(f"cannot read the Response: {exc}")
    except Exception as exc:
        # An inspector reports; it must never turn a hostile document into a crashed page.
        findings.problems.append(f"internal error while inspecting ({type(exc).__name__}): {exc}")
    values = findings.values
    return Inspection(
        valid=not findings.problems,
        problems=tuple(findings.problems),
        warnings=tuple(findings.warnings),
        pretty_xml=_pretty(root),
        **values,  # type: ignore[arg-type]
    )


def _inspect(
    root: Element,
    findings: _Findings,
    *,
    trusted_certificates: Sequence[str],
    expected_issuer: str,
    expected_audience: str | None,
    expected_recipient: str | None,
    expected_in_response_to: str | None,
    now: datetime,
    skew: timedelta,
    allow_sha1: bool,
) -> None:
    problems = findings.problems
    values = findings.values
    if namespace_of(root) != SAMLP or localname(root) != "Response":
        problems.append(f"expected a samlp:Response root element, got <{tag_of(root)}>")
        return
    if root.get("Version") != "2.0":
        problems.append(f'expected Version="2.0" on the Response, got {root.get("Version")!r}')
    _report_comments(root, problems)

    assertions = list(root.iter(qn(SAML, "Assertion")))
    encrypted = list(root.iter(qn(SAML, "EncryptedAssertion")))
    if encrypted:
        problems.append("EncryptedAssertion is not supported by this inspector")
    if not assertions:
        # An error Response (saml-core §3.2.2.2) carries no Assertion: still say why.
        verified = _verify(root, "Response", trusted_certificates, allow_sha1, findings)
        view = _reparse(verified.signed_xml) if verified is not None else root
        values["signed_parts"] = ("Response",) if verified is not None else ()
        _check_response_header(
            view, findings, expected_issuer, expected_recipient, expected_in_response_to
        )
        problems.append("expected exactly one Assertion, got 0")
        return
    if len(assertions) != 1:
        problems.append(
            f"expected exactly one Assertion, got {len(assertions)} (possible signature wrapping)"
        )
        return
    assertion = assertions[0]
    if assertion.getparent() is not root:
        problems.append(
            "expected the Assertion to be a direct child of the Response, got it inside "
            f"<{_path(assertion)}> (possible signature wrapping)"
        )
        return
    for signature in root.iter(qn(DS, "Signature")):
        parent = signature.getparent()
        if parent is not root and parent is not assertion:
            problems.append(
                f"unexpected ds:Signature inside <{_path(signature)}>; only the Response "
                "or the Assertion may be signed"
            )

    signed_parts: list[str] = []
    algorithms: list[str] = []
    response_view: Element = root
    assertion_view: Element = assertion
    verified_response = _verify(root, "Response", trusted_certificates, allow_sha1, findings)
    verified_assertion = _verify(assertion, "Assertion", trusted_certificates, allow_sha1, findings)
    if verified_response is not None:
        signed_parts.append("Response")
        algorithms.append(verified_response.signature_algorithm)
        response_view = _reparse(verified_response.signed_xml)
        inner = children(response_view, SAML, "Assertion")
        if len(inner) != 1:
            problems.append("expected the signed Response to contain exactly one Assertion")
            return
        assertion_view = inner[0]
    if verified_assertion is not None:
        signed_parts.append("Assertion")
        algorithms.append(verified_assertion.signature_algorithm)
        assertion_view = _reparse(verified_assertion.signed_xml)
    if not signed_parts:
        problems.append(
            "neither the Response nor the Assertion is signed by a trusted certificate; "
            "values below are untrusted"
        )
    values["signed_parts"] = tuple(signed_parts)
    values["signature_algorithms"] = tuple(algorithms)

    _check_response_header(
        response_view, findings, expected_issuer, expected_recipient, expected_in_response_to
    )
    _check_assertion(
        assertion_view,
        findings,
        expected_issuer=expected_issuer,
        expected_audience=expected_audience,
        expected_recipient=expected_recipient,
        expected_in_response_to=expected_in_response_to,
        now=now,
        skew=skew,
    )


def _reparse(signed_xml: bytes) -> Element:
    # The canonical bytes a verified signature covers: the only source of trusted values.
    return parse_xml(signed_xml, max_bytes=len(signed_xml) + 1)


def _verify(
    element: Element,
    what: str,
    trusted_certificates: Sequence[str],
    allow_sha1: bool,
    findings: _Findings,
) -> VerifiedSignature | None:
    if not children(element, DS, "Signature"):
        return None
    try:
        verified = verify_element(
            element, trusted_certificates=trusted_certificates, allow_sha1=allow_sha1
        )
    except SamlError as exc:
        findings.problems.append(f"{what} signature: {exc.message}")
        return None
    trusted_b64 = set()
    for pem in trusted_certificates:
        try:
            trusted_b64.add(certificate_b64(pem))
        except ValueError:
            continue
    foreign = [c for c in verified.embedded_certificates if c not in trusted_b64]
    if foreign:
        findings.warnings.append(
            f"{what} signature embeds a certificate that is not trusted; it was ignored and "
            "the signature was checked with the trusted certificate"
        )
    return verified


def _check_response_header(
    response: Element,
    findings: _Findings,
    expected_issuer: str,
    expected_recipient: str | None,
    expected_in_response_to: str | None,
) -> None:
    problems = findings.problems
    values = findings.values
    destination = response.get("Destination")
    values["destination"] = destination
    if destination is not None and not destination.strip():
        problems.append("expected a Destination URL on the Response, got an empty one")
    elif (
        expected_recipient is not None
        and destination is not None
        and (destination != expected_recipient)
    ):
        problems.append(f"expected Destination {expected_recipient!r}, got {destination!r}")
    issuers = children(response, SAML, "Issuer")
    if issuers:
        issuer = element_text(issuers[0]).strip()
        if issuer != expected_issuer:
            problems.append(f"expected Response Issuer {expected_issuer!r}, got {issuer!r}")
    in_response_to = response.get("InResponseTo")
    values["in_response_to"] = in_response_to
    if expected_in_response_to is not None and in_response_to != expected_in_response_to:
        problems.append(
            f"expected Response InResponseTo {expected_in_response_to!r}, got {in_response_to!r}"
        )
    status_codes = [
        node.get("Value", "")
        for node in children(response, SAMLP, "Status")[:1]
        for node in node.iter(qn(SAMLP, "StatusCode"))
    ]
    values["status"] = " / ".join(status_codes) or None
    if not status_codes or status_codes[0] != StatusCodes.SUCCESS:
        messages = [
            element_text(m).strip()
            for s in children(response, SAMLP, "Status")
            for m in children(s, SAMLP, "StatusMessage")
        ]
        problems.append(
            f"expected Status {StatusCodes.SUCCESS}, got {values['status']!r}"
            + (f" ({messages[0]})" if messages else "")
        )


def _check_assertion(
    assertion: Element,
    findings: _Findings,
    *,
    expected_issuer: str,
    expected_audience: str | None,
    expected_recipient: str | None,
    expected_in_response_to: str | None,
    now: datetime,
    skew: timedelta,
) -> None:
    problems = findings.problems
    values = findings.values
    if assertion.get("Version") != "2.0":
        problems.append(
            f'expected Version="2.0" on the Assertion, got {assertion.get("Version")!r}'
        )
    issuers = children(assertion, SAML, "Issuer")
    issuer = element_text(issuers[0]).strip() if issuers else None
    values["issuer"] = issuer
    if issuer != expected_issuer:
        problems.append(f"expected Assertion Issuer {expected_issuer!r}, got {issuer!r}")

    subjects = children(assertion, SAML, "Subject")
    name_ids = children(subjects[0], SAML, "NameID") if subjects else []
    if len(name_ids) != 1:
        problems.append(f"expected one Subject/NameID, got {len(name_ids)}")
    else:
        values["name_id"] = element_text(name_ids[0]).strip()
        values["name_id_format"] = name_ids[0].get("Format")
    _check_confirmation(
        subjects[0] if subjects else None,
        findings,
        expected_recipient=expected_recipient,
        expected_in_response_to=expected_in_response_to,
        now=now,
        skew=skew,
    )

    conditions = children(assertion, SAML, "Conditions")
    if len(conditions) != 1:
        problems.append(f"expected one Conditions element, got {len(conditions)}")
    else:
        _check_conditions(conditions[0], findings, expected_audience, now, skew)

    statements = children(assertion, SAML, "AuthnStatement")
    if not statements:
        problems.append("expected an AuthnStatement (saml-profiles §4.1.4.2), got none")
    else:
        statement = statements[0]
        values["session_index"] = statement.get("SessionIndex")
        refs = list(statement.iter(qn(SAML, "AuthnContextClassRef")))
        values["authn_context"] = element_text(refs[0]).strip() if refs else None
        session_end = statement.get("SessionNotOnOrAfter")
        if session_end is not None:
            end = parse_instant(session_end, what="SessionNotOnOrAfter")
            if now >= end + skew:
                problems.append(f"session ended: SessionNotOnOrAfter {session_end} is past")

    attributes: list[tuple[str, tuple[str, ...]]] = []
    for statement in children(assertion, SAML, "AttributeStatement"):
        for attribute in children(statement, SAML, "Attribute"):
            attributes.append(
                (
                    attribute.get("Name", ""),
                    tuple(element_text(v) for v in children(attribute, SAML, "AttributeValue")),
                )
            )
    values["attributes"] = tuple(attributes)


def _check_confirmation(
    subject: Element | None,
    findings: _Findings,
    *,
    expected_recipient: str | None,
    expected_in_response_to: str | None,
    now: datetime,
    skew: timedelta,
) -> None:
    problems = findings.problems
    values = findings.values
    confirmations = (
        [
            c
            for c in children(subject, SAML, "SubjectConfirmation")
            if c.get("Method") == CONFIRMATION_BEARER
        ]
        if subject is not None
        else []
    )
    if not confirmations:
        problems.append("expected a bearer SubjectConfirmation, got none")
        return
    if len(confirmations) > 1:
        findings.warnings.append(
            f"{len(confirmations)} bearer SubjectConfirmations; AWS expects exactly one"
        )
    data_nodes = children(confirmations[0], SAML, "SubjectConfirmationData")
    if len(data_nodes) != 1:
        problems.append("expected SubjectConfirmationData in the bearer SubjectConfirmation")
        return
    data = data_nodes[0]
    recipient = data.get("Recipient")
    values["recipient"] = recipient
    if recipient is None:
        problems.append("expected a Recipient on SubjectConfirmationData, got none")
    elif expected_recipient is not None and recipient != expected_recipient:
        problems.append(f"expected Recipient {expected_recipient!r}, got {recipient!r}")
    if data.get("NotBefore") is not None:
        problems.append(
            "expected no NotBefore on bearer SubjectConfirmationData (saml-profiles §4.1.4.2)"
        )
    limit = data.get("NotOnOrAfter")
    if limit is None:
        problems.append("expected a NotOnOrAfter on SubjectConfirmationData, got none")
    else:
        moment = parse_instant(limit, what="SubjectConfirmationData NotOnOrAfter")
        if now >= moment + skew:
            problems.append(
                f"expired: SubjectConfirmationData NotOnOrAfter {limit} is before "
                f"{now.isoformat()} (skew {skew.total_seconds():.0f}s)"
            )
    confirmed_for = data.get("InResponseTo")
    response_for = values.get("in_response_to")
    if confirmed_for != response_for:
        problems.append(
            f"expected SubjectConfirmationData InResponseTo {response_for!r} (as the "
            f"Response), got {confirmed_for!r}"
        )
    if expected_in_response_to is not None and confirmed_for != expected_in_response_to:
        problems.append(
            f"expected SubjectConfirmationData InResponseTo {expected_in_response_to!r}, "
            f"got {confirmed_for!r}"
        )


def _check_conditions(
    conditions: Element,
    findings: _Findings,
    expected_audience: str | None,
    now: datetime,
    skew: timedelta,
) -> None:
    problems = findings.problems
    values = findings.values
    not_before = conditions.get("NotBefore")
    not_on_or_after = conditions.get("NotOnOrAfter")
    if not_before is not None:
        start = parse_instant(not_before, what="Conditions NotBefore")
        values["not_before"] = start
        if now + skew < start:
            problems.append(
                f"not yet valid: Conditions NotBefore {not_before} is after {now.isoformat()}"
            )
    if not_on_or_after is not None:
        end = parse_instant(not_on_or_after, what="Conditions NotOnOrAfter")
        values["not_on_or_after"] = end
        if now >= end + skew:
            problems.append(
                f"expired: Conditions NotOnOrAfter {not_on_or_after} is before {now.isoformat()}"
            )
    restrictions = children(conditions, SAML, "AudienceRestriction")
    audiences = tuple(
        element_text(a).strip()
        for restriction in restrictions
        for a in children(restriction, SAML, "Audience")
    )
    values["audiences"] = audiences
    values["audience"] = audiences[0] if audiences else None
    if expected_audience is not None:
        if not restrictions:
            problems.append(f"expected an AudienceRestriction for {expected_audience!r}, got none")
        # Every AudienceRestriction must be satisfied on its own (saml-core §2.5.1.4).
        for restriction in restrictions:
            listed = [element_text(a).strip() for a in children(restriction, SAML, "Audience")]
            if expected_audience not in listed:
                problems.append(f"expected Audience {expected_audience!r}, got {listed}")


def _report_comments(root: Element, problems: list[str]) -> None:
    for comment in root.iter(etree.Comment):
        parent = comment.getparent()
        where = _path(parent) if parent is not None else "document"
        problems.append(
            f"XML comment inside <{where}> (comment injection: values are read without it)"
        )


def _path(element: Element) -> str:
    names: list[str] = []
    node: Element | None = element
    while node is not None:
        names.append(localname(node))
        node = node.getparent()
    return "/".join(reversed(names))


def _pretty(root: Element) -> str:
    clone = copy.deepcopy(root)
    etree.indent(clone, space="  ")
    return etree.tostring(clone, encoding="unicode", pretty_print=True)
