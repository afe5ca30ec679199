"""Response/Assertion building (saml-core §2, §3.3.3; saml-profiles §4.1.4.2)."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sekisho.saml.core.dsig import verify_element
from sekisho.saml.core.inspector import Inspection, inspect_response
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.response import (
    AUTHN_CONTEXT_MFA,
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
    AUTHN_CONTEXT_REFEDS_MFA,
    CONFIRMATION_BEARER,
    Attribute,
    build_status_response,
    encode_post,
)
from sekisho.saml.core.xml import DS, SAML, SAMLP, XSI, parse_xml
from sekisho.saml.errors import MappingError, StatusCodes
from tests.saml import factory


def _s(local: str) -> str:
    return f"{{{SAML}}}{local}"


def _p(local: str) -> str:
    return f"{{{SAMLP}}}{local}"


def _inspect(xml: bytes, **kwargs: object) -> Inspection:
    return inspect_response(
        encode_post(xml),
        trusted_certificates=[factory.idp_key().certificate_pem],
        expected_issuer=factory.IDP_ENTITY_ID,
        expected_audience=factory.SP_ENTITY_ID,
        expected_recipient=factory.ACS_URL,
        now=factory.NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_response_shape() -> None:
    xml = factory.response_xml(
        in_response_to="_req1", session_not_on_or_after=factory.NOW + timedelta(hours=8)
    )
    root = parse_xml(xml)
    assert root.tag == _p("Response")
    assert dict(root.attrib) == {
        "ID": "_id0001",
        "Version": "2.0",
        "IssueInstant": "2026-11-27T09:00:00Z",
        "Destination": factory.ACS_URL,
        "InResponseTo": "_req1",
    }
    assert [etree.QName(c).localname for c in root] == ["Issuer", "Status", "Assertion"]
    assert root.findtext(_s("Issuer")) == factory.IDP_ENTITY_ID
    assert root.find(f"{_p('Status')}/{_p('StatusCode')}").get("Value") == StatusCodes.SUCCESS  # type: ignore[union-attr]
    assertion = root.find(_s("Assertion"))
    assert assertion is not None
    assert assertion.get("ID") == "_id0002"
    assert assertion.get("Version") == "2.0"
    assert [etree.QName(c).localname for c in assertion] == [
        "Issuer",
        "Signature",
        "Subject",
        "Conditions",
        "AuthnStatement",
        "AttributeStatement",
    ]
    name_id = assertion.find(f"{_s('Subject')}/{_s('NameID')}")
    assert name_id is not None
    assert name_id.text == "alice@example.test"
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert name_id.get("SPNameQualifier") is None
    (confirmation,) = assertion.iter(_s("SubjectConfirmation"))
    assert confirmation.get("Method") == CONFIRMATION_BEARER
    data = confirmation.find(_s("SubjectConfirmationData"))
    assert data is not None
    assert dict(data.attrib) == {
        "InResponseTo": "_req1",
        "NotOnOrAfter": "2026-11-27T09:05:00Z",
        "Recipient": factory.ACS_URL,
    }
    conditions = assertion.find(_s("Conditions"))
    assert conditions is not None
    assert conditions.get("NotBefore") == "2026-11-27T09:00:00Z"
    assert conditions.get("NotOnOrAfter") == "2026-11-27T09:05:00Z"
    assert (
        conditions.findtext(f"{_s('AudienceRestriction')}/{_s('Audience')}") == factory.SP_ENTITY_ID
    )
    statement = assertion.find(_s("AuthnStatement"))
    assert statement is not None
    assert statement.get("AuthnInstant") == "2026-11-27T09:00:00Z"
    assert statement.get("SessionIndex") == "_session1"
    assert statement.get("SessionNotOnOrAfter") == "2026-11-27T17:00:00Z"
    assert (
        statement.findtext(f".//{_s('AuthnContextClassRef')}")
        == AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT
    )
    values = assertion.findall(f".//{_s('AttributeValue')}")
    assert [v.text for v in values] == ["alice@example.test", "admins", "agents"]
    assert {v.get(f"{{{XSI}}}type") for v in values} == {"xs:string"}
    verify_element(assertion, trusted_certificates=[factory.idp_key().certificate_pem])
    assert root.find(f"{{{DS}}}Signature") is None


def test_idp_initiated_has_no_in_response_to_and_no_attribute_statement() -> None:
    root = parse_xml(factory.response_xml(attributes=()))
    assert root.get("InResponseTo") is None
    assertion = root.find(_s("Assertion"))
    assert assertion is not None
    assert assertion.find(_s("AttributeStatement")) is None
    assert "xs" not in (assertion.nsmap or {})
    data = assertion.find(f".//{_s('SubjectConfirmationData')}")
    assert data is not None
    assert data.get("InResponseTo") is None
    assert data.get("NotBefore") is None


def test_authn_context_classes() -> None:
    def context(**overrides: object) -> str | None:
        return parse_xml(factory.response_xml(**overrides)).findtext(
            f".//{_s('AuthnContextClassRef')}"
        )

    assert context(mfa_used=False) == AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT
    assert context(mfa_used=True) == AUTHN_CONTEXT_MFA == AUTHN_CONTEXT_REFEDS_MFA
    assert context(mfa_used=True, authn_context_class="urn:x") == "urn:x"


def test_not_before_skew_and_lifetime() -> None:
    root = parse_xml(factory.response_xml(not_before_skew_seconds=30, lifetime_seconds=60))
    conditions = root.find(f".//{_s('Conditions')}")
    assert conditions is not None
    assert conditions.get("NotBefore") == "2026-11-27T08:59:30Z"
    assert conditions.get("NotOnOrAfter") == "2026-11-27T09:01:00Z"


def test_sp_name_qualifier() -> None:
    root = parse_xml(factory.response_xml(sp_name_qualifier="urn:sp"))
    assert root.find(f".//{_s('NameID')}").get("SPNameQualifier") == "urn:sp"  # type: ignore[union-attr]


def test_sign_response_and_assertion(idp_key: SigningKey) -> None:
    xml = factory.response_xml(sign_response=True)
    root = parse_xml(xml)
    assert [etree.QName(c).localname for c in root][:2] == ["Issuer", "Signature"]
    outer = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    # The Response signature covers the Assertion's own signature.
    assert b"SignatureValue" in outer.signed_xml
    assertion = root.find(_s("Assertion"))
    assert assertion is not None
    verify_element(assertion, trusted_certificates=[idp_key.certificate_pem])
    only_response = parse_xml(factory.response_xml(sign_response=True, sign_assertion=False))
    assert only_response.find(f"{_s('Assertion')}/{{{DS}}}Signature") is None


def test_nothing_to_sign_is_refused() -> None:
    with pytest.raises(ValueError, match="sign_assertion or sign_response"):
        factory.response_xml(sign_assertion=False)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="aware"):
        factory.response_xml(now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="positive lifetime"):
        factory.response_xml(lifetime_seconds=0)


NASTY = ("<", "&", '"', "'", "<!---->", "]]>", "<![CDATA[x]]>", "&amp;", "\t\n", " lead", "x\r\ny")


@pytest.mark.parametrize("text", NASTY)
def test_nasty_text_round_trips(text: str) -> None:
    attributes = (Attribute(name=f"n{text}", values=(text, f"a{text}b")),)
    xml = factory.response_xml(name_id=f"u{text}", attributes=attributes, session_index=f"s{text}")
    inspection = _inspect(xml)
    assert inspection.valid, inspection.problems
    assert inspection.name_id == f"u{text}".strip()
    assert inspection.attributes == ((f"n{text}", (text, f"a{text}b")),)
    assert inspection.session_index == f"s{text}"
    assert b"<!---->" not in xml  # escaped, never a real comment


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\x1f", "\ufffe", "\uffff", "\ud800"])
@pytest.mark.parametrize("where", ["name_id", "value", "name", "issuer", "audience"])
def test_unrepresentable_characters_are_refused(bad: str, where: str) -> None:
    overrides: dict[str, object] = {
        "name_id": {"name_id": f"a{bad}"},
        "value": {"attributes": (Attribute("x", values=(f"a{bad}",)),)},
        "name": {"attributes": (Attribute(f"a{bad}", values=("x",)),)},
        "issuer": {"issuer": f"a{bad}"},
        "audience": {"audience": f"a{bad}"},
    }[where]
    with pytest.raises(MappingError, match=f"U\\+{ord(bad):04X}.*XML 1.0 cannot carry"):
        factory.response_xml(**overrides)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(max_size=40), name=st.text(min_size=1, max_size=20))
def test_any_text_round_trips_or_is_refused(value: str, name: str) -> None:
    try:
        xml = factory.response_xml(attributes=(Attribute(name=name, values=(value,)),))
    except MappingError as error:
        assert "XML 1.0 cannot carry" in error.message
        return
    inspection = _inspect(xml)
    assert inspection.valid, inspection.problems
    assert inspection.attributes == ((name, (value,)),)


def test_status_response(idp_key: SigningKey) -> None:
    xml = build_status_response(
        issuer=factory.IDP_ENTITY_ID,
        destination=factory.ACS_URL,
        in_response_to="_req9",
        status=StatusCodes.RESPONDER,
        sub_status=StatusCodes.NO_PASSIVE,
        message="user <must> sign in & retry",
        now=factory.NOW,
        new_id=factory.id_source(),
        key=idp_key,
    )
    root = parse_xml(xml)
    assert root.get("InResponseTo") == "_req9"
    assert root.get("Destination") == factory.ACS_URL
    assert [etree.QName(c).localname for c in root] == ["Issuer", "Signature", "Status"]
    code = root.find(f"{_p('Status')}/{_p('StatusCode')}")
    assert code is not None
    assert code.get("Value") == StatusCodes.RESPONDER
    assert code.find(_p("StatusCode")).get("Value") == StatusCodes.NO_PASSIVE  # type: ignore[union-attr]
    assert root.findtext(f"{_p('Status')}/{_p('StatusMessage')}") == "user <must> sign in & retry"
    verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    inspection = _inspect(xml)
    assert not inspection.valid
    assert any("Responder" in p for p in inspection.problems)


def test_unsigned_minimal_status_response() -> None:
    xml = build_status_response(
        issuer="i",
        destination="https://sp/acs",
        in_response_to=None,
        status=StatusCodes.REQUESTER,
        sub_status=None,
        message=None,
        now=factory.NOW,
        new_id=factory.id_source(),
        key=None,
    )
    root = parse_xml(xml)
    assert root.get("InResponseTo") is None
    assert root.find(f"{{{DS}}}Signature") is None
    assert root.find(f"{_p('Status')}/{_p('StatusMessage')}") is None
    assert len(list(root.iter(_p("StatusCode")))) == 1


def test_encode_post() -> None:
    assert encode_post(b"<a/>") == "PGEvPg=="


def test_ids_must_be_xml_ids() -> None:
    from sekisho.saml.core.response import build_response

    with pytest.raises(ValueError, match="xs:ID"):
        build_response(factory.spec(), key=factory.idp_key(), now=factory.NOW, new_id=lambda: "1")


def test_fresh_thread_builds_both_signatures_without_reparse(
    idp_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekisho.saml.core import dsig

    def no_reparse() -> etree.XMLParser:
        raise AssertionError("the fast C14N path should hold")

    monkeypatch.setattr(dsig, "_reparser", no_reparse)
    results: list[bytes] = []
    thread = threading.Thread(
        target=lambda: results.append(factory.response_xml(sign_response=True))
    )
    thread.start()
    thread.join()
    (xml,) = results
    root = parse_xml(xml)
    assert root.nsmap["xs"] == "http://www.w3.org/2001/XMLSchema"
    outer = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    assertion = root.find(_s("Assertion"))
    assert assertion is not None
    inner = verify_element(assertion, trusted_certificates=[idp_key.certificate_pem])
    for verified in (outer, inner):
        assert verified.signed_xml.count(b'xmlns:xs="http://www.w3.org/2001/XMLSchema"') == 1


def test_reparse_fallback_with_prefix_declared_on_an_ancestor(
    idp_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekisho.saml.core import dsig

    fast = factory.response_xml(sign_response=True)
    monkeypatch.setattr(dsig, "_APEX_NAMESPACES", re.compile(rb"(?!)"))
    slow = factory.response_xml(sign_response=True)
    assert slow == fast
