"""The Response inspector: every known SAML SP attack must be reported, never raised."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from lxml import etree

from sekisho.saml.core import presets
from sekisho.saml.core.inspector import Inspection, inspect_response
from sekisho.saml.core.response import AUTHN_CONTEXT_MFA, encode_post
from sekisho.saml.core.xml import DS, SAMLP
from tests.saml import factory
from tests.saml.attacks import (
    assertion_of,
    evil_copy,
    evil_id_attribute_elsewhere,
    moved_signature,
    resign,
    saml_name,
    second_unsigned_assertion,
    signature_into_subject,
    xsw_new_id_keep_signature,
    xsw_original_in_extensions,
    xsw_original_in_signature_object,
    xsw_original_inside_evil,
    xsw_replace_keep_signature,
    xsw_sibling_after_same_id,
    xsw_sibling_before,
)

Element = etree._Element
AWS_ACS = "https://signin.aws.amazon.com/saml"


def inspect(
    xml: bytes | str,
    *,
    now: datetime = factory.NOW,
    audience: str | None = "urn:amazon:webservices",
    recipient: str | None = AWS_ACS,
    trusted: tuple[str, ...] | None = None,
    **kwargs: object,
) -> Inspection:
    value = xml if isinstance(xml, str) else encode_post(xml)
    return inspect_response(
        value,
        trusted_certificates=trusted or (factory.idp_key().certificate_pem,),
        expected_issuer=factory.IDP_ENTITY_ID,
        expected_audience=audience,
        expected_recipient=recipient,
        now=now,
        **kwargs,  # type: ignore[arg-type]
    )


def tree(**overrides: object) -> Element:
    return etree.fromstring(factory.connect_response(**overrides))


def problems_of(root: Element, **kwargs: object) -> tuple[str, ...]:
    inspection = inspect(etree.tostring(root), **kwargs)  # type: ignore[arg-type]
    assert not inspection.valid
    return inspection.problems


def test_valid_connect_response() -> None:
    inspection = inspect(factory.connect_response())
    assert inspection.valid, inspection.problems
    assert inspection.problems == ()
    assert inspection.warnings == ()
    assert inspection.issuer == factory.IDP_ENTITY_ID
    assert inspection.destination == AWS_ACS
    assert inspection.status == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert inspection.name_id == "alice"
    assert inspection.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    assert inspection.audience == "urn:amazon:webservices"
    assert inspection.audiences == ("urn:amazon:webservices",)
    assert inspection.recipient == AWS_ACS
    assert inspection.in_response_to is None
    assert inspection.not_before == factory.NOW
    assert inspection.not_on_or_after == factory.NOW + timedelta(minutes=5)
    assert inspection.authn_context == AUTHN_CONTEXT_MFA
    assert inspection.session_index == "_session1"
    assert inspection.signed_parts == ("Assertion",)
    assert dict(inspection.attributes)[presets.AWS_ROLE_SESSION_NAME] == ("alice",)
    assert inspection.pretty_xml.startswith("<samlp:Response")
    assert "\n  <saml:Issuer>" in inspection.pretty_xml


def test_both_signed_and_response_only_signed() -> None:
    assert inspect(factory.connect_response(sign_response=True)).signed_parts == (
        "Response",
        "Assertion",
    )
    only = inspect(factory.connect_response(sign_response=True, sign_assertion=False))
    assert only.valid, only.problems
    assert only.signed_parts == ("Response",)
    assert only.name_id == "alice"


def test_unsigned() -> None:
    root = tree()
    assertion = assertion_of(root)
    assertion.remove(assertion.find(f"{{{DS}}}Signature"))  # type: ignore[arg-type]
    assert any("neither the Response nor the Assertion" in p for p in problems_of(root))


# ------------------------------------------------------------------ signature wrapping


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        (xsw_sibling_before, "exactly one Assertion, got 2"),
        (xsw_sibling_after_same_id, "exactly one Assertion, got 2"),
        (xsw_original_inside_evil, "exactly one Assertion, got 2"),
        (xsw_original_in_extensions, "exactly one Assertion, got 2"),
        (xsw_original_in_signature_object, "exactly one Assertion, got 2"),
        (xsw_replace_keep_signature, "does not verify"),
        (xsw_new_id_keep_signature, "Reference URI"),
        (second_unsigned_assertion, "exactly one Assertion, got 2"),
        (moved_signature, "Reference URI"),
        (
            signature_into_subject,
            "unexpected ds:Signature inside <Response/Assertion/Subject/Signature>",
        ),
        (evil_id_attribute_elsewhere, "occur once"),
    ],
)
def test_signature_wrapping_variants(attack: Callable[[Element], None], expected: str) -> None:
    root = tree()
    attack(root)
    problems = problems_of(root)
    assert any(expected in p for p in problems), problems


def test_wrapping_against_a_signed_response() -> None:
    root = tree(sign_response=True, sign_assertion=False)
    root.append(evil_copy(assertion_of(root), same_id=False))
    assert any("exactly one Assertion" in p for p in problems_of(root))


def test_assertion_nested_deeper_is_refused() -> None:
    root = tree()
    original = assertion_of(root)
    wrapper = etree.SubElement(root, f"{{{SAMLP}}}Extensions")
    wrapper.append(original)
    problems = problems_of(root)
    assert any("direct child of the Response" in p for p in problems)


# ------------------------------------------------------------------ tampering and algorithms


def test_attribute_edited_after_signing() -> None:
    xml = factory.connect_response().replace(b"role/ConnectAgent", b"role/Administrator")
    inspection = inspect(xml)
    assert not inspection.valid
    assert any("does not verify" in p for p in inspection.problems)


def test_comment_inside_name_id() -> None:
    xml = factory.connect_response(name_id="alice@example.com").replace(
        b"alice@example.com", b"alice@example.com<!---->.evil.example"
    )
    inspection = inspect(xml)
    assert not inspection.valid
    # The signature itself fails (text changed), and the comment is reported.
    assert any(
        "XML comment inside <Response/Assertion/Subject/NameID>" in p for p in inspection.problems
    )


def test_comment_that_keeps_the_signature_valid() -> None:
    xml = factory.connect_response(name_id="alice@example.com").replace(
        b"alice@example.com<", b"alice@<!---->example.com<"
    )
    inspection = inspect(xml)
    assert not inspection.valid
    assert inspection.signed_parts == ("Assertion",)  # the signature still holds ...
    assert inspection.name_id == "alice@example.com"  # ... and the full value is read
    assert inspection.problems == (
        "XML comment inside <Response/Assertion/Subject/NameID> (comment injection: values are "
        "read without it)",
    )


def test_hmac_signature_method() -> None:
    root = tree()
    method = root.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
    assert any("HMAC is never accepted" in p for p in problems_of(root))


def test_sha1_refused_by_default() -> None:
    root = tree()
    method = root.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    assert any("SignatureMethod" in p for p in problems_of(root))


def test_attacker_signature_with_embedded_certificate() -> None:
    inspection = inspect(factory.connect_response(key=factory.attacker_key()))
    assert not inspection.valid
    assert any("does not verify with any of the 1 trusted" in p for p in inspection.problems)


def test_foreign_embedded_certificate_is_ignored() -> None:
    root = tree()
    embedded = root.find(f".//{{{DS}}}X509Certificate")
    assert embedded is not None
    embedded.text = factory.attacker_key().certificate_b64
    inspection = inspect(etree.tostring(root))
    assert inspection.valid, inspection.problems
    assert inspection.warnings == (
        "Assertion signature embeds a certificate that is not trusted; it was ignored and the "
        "signature was checked with the trusted certificate",
    )


def test_any_trusted_certificate_verifies() -> None:
    trusted = (factory.attacker_key().certificate_pem, factory.idp_key().certificate_b64)
    assert inspect(factory.connect_response(), trusted=trusted).valid


# ------------------------------------------------------------------ conditions


def test_expired() -> None:
    later = factory.NOW + timedelta(minutes=6, seconds=1)
    inspection = inspect(factory.connect_response(), now=later)
    assert not inspection.valid
    assert any(
        p.startswith("expired: Conditions NotOnOrAfter 2026-11-27T09:05:00Z")
        for p in inspection.problems
    )
    assert any(p.startswith("expired: SubjectConfirmationData") for p in inspection.problems)
    # Within the skew it is still fine.
    assert inspect(
        factory.connect_response(), now=factory.NOW + timedelta(minutes=5, seconds=59)
    ).valid


def test_not_yet_valid() -> None:
    inspection = inspect(factory.connect_response(), now=factory.NOW - timedelta(minutes=2))
    assert any(p.startswith("not yet valid") for p in inspection.problems)
    assert inspect(factory.connect_response(), now=factory.NOW - timedelta(seconds=60)).valid


def test_session_not_on_or_after_passed() -> None:
    xml = factory.connect_response(session_not_on_or_after=factory.NOW + timedelta(minutes=1))
    inspection = inspect(xml, now=factory.NOW + timedelta(minutes=3))
    assert any("session ended" in p for p in inspection.problems)


def test_wrong_audience() -> None:
    inspection = inspect(factory.connect_response(), audience="https://signin.aws.amazon.com/saml")
    assert inspection.problems == (
        "expected Audience 'https://signin.aws.amazon.com/saml', got ['urn:amazon:webservices']",
    )
    assert inspect(factory.connect_response(), audience=None).valid


def test_every_audience_restriction_must_hold() -> None:
    root = tree()
    assertion = assertion_of(root)
    conditions = assertion.find(saml_name("Conditions"))
    assert conditions is not None
    extra = etree.SubElement(conditions, saml_name("AudienceRestriction"))
    etree.SubElement(extra, saml_name("Audience")).text = "urn:other"
    resign(assertion)
    assert any("got ['urn:other']" in p for p in problems_of(root))


def test_wrong_recipient_and_destination() -> None:
    inspection = inspect(
        factory.connect_response(), recipient="https://eu-west-2.signin.aws.amazon.com/saml"
    )
    assert any(p.startswith("expected Destination") for p in inspection.problems)
    assert any(p.startswith("expected Recipient") for p in inspection.problems)
    assert inspect(factory.connect_response(), recipient=None).valid


def test_empty_destination() -> None:
    root = tree()
    root.set("Destination", "")
    assert "expected a Destination URL on the Response, got an empty one" in problems_of(root)


def test_wrong_issuer() -> None:
    inspection = inspect_response(
        encode_post(factory.connect_response()),
        trusted_certificates=[factory.idp_key().certificate_pem],
        expected_issuer="https://other-idp/metadata",
        expected_audience=None,
        expected_recipient=None,
        now=factory.NOW,
    )
    assert any(p.startswith("expected Response Issuer") for p in inspection.problems)
    assert any(p.startswith("expected Assertion Issuer") for p in inspection.problems)


def test_in_response_to() -> None:
    xml = factory.connect_response(in_response_to="_req1")
    assert inspect(xml, expected_in_response_to="_req1").valid
    assert inspect(xml).in_response_to == "_req1"
    inspection = inspect(xml, expected_in_response_to="_req2")
    assert any("InResponseTo '_req2'" in p for p in inspection.problems)
    unsolicited = inspect(factory.connect_response(), expected_in_response_to="_req1")
    assert any("InResponseTo '_req1'" in p for p in unsolicited.problems)


def test_subject_confirmation_rules() -> None:
    root = tree()
    assertion = assertion_of(root)
    data = assertion.find(f".//{saml_name('SubjectConfirmationData')}")
    assert data is not None
    data.set("NotBefore", "2026-11-27T09:00:00Z")
    del data.attrib["Recipient"]
    resign(assertion)
    problems = problems_of(root)
    assert any("no NotBefore on bearer SubjectConfirmationData" in p for p in problems)
    assert any("Recipient on SubjectConfirmationData" in p for p in problems)
    root = tree()
    assertion = assertion_of(root)
    assertion.find(f".//{saml_name('SubjectConfirmation')}").set(
        "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
    )  # type: ignore[union-attr]
    resign(assertion)
    assert "expected a bearer SubjectConfirmation, got none" in problems_of(root)


def test_missing_pieces() -> None:
    root = tree()
    assertion = assertion_of(root)
    for local in ("Conditions", "AuthnStatement"):
        assertion.remove(assertion.find(saml_name(local)))  # type: ignore[arg-type]
    subject = assertion.find(saml_name("Subject"))
    assert subject is not None
    subject.remove(subject.find(saml_name("NameID")))  # type: ignore[arg-type]
    resign(assertion)
    problems = problems_of(root)
    assert "expected one Subject/NameID, got 0" in problems
    assert "expected one Conditions element, got 0" in problems
    assert "expected an AuthnStatement (saml-profiles §4.1.4.2), got none" in problems


def test_status_not_success() -> None:
    root = tree(sign_response=True, sign_assertion=True)
    code = root.find(f".//{{{SAMLP}}}StatusCode")
    assert code is not None
    code.set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    resign(root)
    problems = problems_of(root)
    assert any("expected Status urn:oasis:names:tc:SAML:2.0:status:Success" in p for p in problems)


def test_encrypted_assertion() -> None:
    root = tree()
    etree.SubElement(root, saml_name("EncryptedAssertion"))
    assert "EncryptedAssertion is not supported by this inspector" in problems_of(root)


# ------------------------------------------------------------------ garbage in, verdict out


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "SAMLResponse: expected a base64 SAML message, got an empty value"),
        ("!!!not base64", "SAMLResponse: expected base64"),
        (base64.b64encode(b"<unclosed").decode(), "not well-formed"),
        (
            base64.b64encode(
                b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
            ).decode(),
            "DOCTYPE",
        ),
        (
            base64.b64encode(b"<other/>").decode(),
            "expected a samlp:Response root element, got <other>",
        ),
        (base64.b64encode(b"x" * 600_000).decode(), "too large"),
    ],
)
def test_garbage_never_raises(value: str, problem: str) -> None:
    inspection = inspect(value)
    assert not inspection.valid
    assert any(problem in p for p in inspection.problems), inspection.problems


def test_version_and_bad_times_are_reported() -> None:
    root = tree()
    root.set("Version", "1.1")
    conditions = assertion_of(root).find(saml_name("Conditions"))
    assert conditions is not None
    conditions.set("NotOnOrAfter", "tomorrow")
    problems = problems_of(root)
    assert any('expected Version="2.0" on the Response' in p for p in problems)
    assert any("cannot read the Response" in p and "tomorrow" in p for p in problems)
