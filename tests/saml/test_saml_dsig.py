"""XML-DSig signing and the narrow verifier; the HTTP-Redirect detached signature."""

from __future__ import annotations

import base64
import copy
import re
import threading
from urllib.parse import quote, urlencode

import pytest
import xmlsec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from xmlsec import constants as xc

from sekisho.saml.core.dsig import (
    SIG_RSA_SHA1,
    SIG_RSA_SHA256,
    sign_element,
    verify_element,
    verify_redirect_signature,
)
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.xml import DS, SAML, parse_xml
from sekisho.saml.errors import MalformedMessage, SignatureInvalid, SignatureRequired
from tests.saml import factory

DOC = (
    b'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
    b'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_a1" Version="2.0">'
    b"<saml:Issuer>https://idp</saml:Issuer>"
    b"<saml:Subject><saml:NameID>alice@example.com</saml:NameID></saml:Subject>"
    b'<saml:AttributeStatement><saml:Attribute Name="x"><saml:AttributeValue xsi:type="xs:string">'
    b"v</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"
    b"</saml:Assertion>"
)


def _ds(local: str) -> str:
    return f"{{{DS}}}{local}"


def signed(
    key: SigningKey, *, use_xmlsec: bool = False, prefixes: tuple[str, ...] = ("xs",)
) -> bytes:
    root = etree.fromstring(DOC)
    sign_element(
        root, key, insert_after=root[0], inclusive_prefixes=prefixes, use_xmlsec=use_xmlsec
    )
    return etree.tostring(root)


def verify(xml: bytes, key: SigningKey, **kwargs: bool) -> object:
    return verify_element(parse_xml(xml), trusted_certificates=[key.certificate_pem], **kwargs)


@pytest.mark.parametrize("use_xmlsec", [False, True], ids=["fast", "xmlsec"])
def test_sign_then_verify(idp_key: SigningKey, use_xmlsec: bool) -> None:
    xml = signed(idp_key, use_xmlsec=use_xmlsec)
    root = parse_xml(xml)
    # Signature right after Issuer (saml-core §5.4.1 / schema order).
    assert root[1].tag == _ds("Signature")
    result = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    assert result.element_id == "_a1"
    assert result.signature_algorithm == SIG_RSA_SHA256
    assert result.embedded_certificates == (idp_key.certificate_b64,)
    signed_view = parse_xml(result.signed_xml)
    assert signed_view.find(_ds("Signature")) is None
    assert b'xmlns:xs="http://www.w3.org/2001/XMLSchema"' in result.signed_xml


def test_fast_path_equals_xmlsec_byte_for_byte(idp_key: SigningKey) -> None:
    """xmlsec re-signs the fast path's own template: same digest, same RSA value."""
    ours = etree.fromstring(signed(idp_key))
    signature = ours.find(_ds("Signature"))
    assert signature is not None
    digest = signature.findtext(f".//{_ds('DigestValue')}")
    value = signature.findtext(_ds("SignatureValue"))
    theirs = copy.deepcopy(ours)
    template = theirs.find(_ds("Signature"))
    assert template is not None
    template.find(f".//{_ds('DigestValue')}").text = ""  # type: ignore[union-attr]
    template.find(_ds("SignatureValue")).text = ""  # type: ignore[union-attr]
    context = xmlsec.SignatureContext()
    context.key = idp_key.xmlsec_key
    context.register_id(theirs, "ID")
    context.sign(template)
    assert template.findtext(f".//{_ds('DigestValue')}") == digest
    assert "".join((template.findtext(_ds("SignatureValue")) or "").split()) == value


def test_sign_requires_an_id(idp_key: SigningKey) -> None:
    root = etree.fromstring(b"<a><b/></a>")
    with pytest.raises(ValueError, match="ID attribute"):
        sign_element(root, idp_key, insert_after=None)


def test_sign_refuses_foreign_insert_after(idp_key: SigningKey) -> None:
    root = etree.fromstring(b'<a ID="_x"><b><c/></b></a>')
    with pytest.raises(ValueError, match="child"):
        sign_element(root, idp_key, insert_after=root[0][0])


def test_wrong_certificate(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    with pytest.raises(SignatureInvalid, match="does not verify with any of the 1"):
        verify(signed(idp_key), attacker_key)


def test_any_of_several_certificates(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    result = verify_element(
        parse_xml(signed(idp_key)),
        trusted_certificates=[attacker_key.certificate_pem, idp_key.certificate_b64],
    )
    assert result.certificate_pem == idp_key.certificate_pem


def test_embedded_certificate_is_not_trusted(attacker_key: SigningKey, idp_key: SigningKey) -> None:
    # Signed by the attacker, embedding the attacker's certificate: the embedded cert
    # must not make it verify.
    with pytest.raises(SignatureInvalid):
        verify(signed(attacker_key), idp_key)


def test_no_trusted_certificates(idp_key: SigningKey) -> None:
    with pytest.raises(SignatureInvalid, match="at least one trusted certificate"):
        verify_element(parse_xml(signed(idp_key)), trusted_certificates=[])


def test_unsigned(idp_key: SigningKey) -> None:
    with pytest.raises(SignatureRequired, match="expected a ds:Signature inside <Assertion>"):
        verify(DOC, idp_key)


def test_edit_after_signing(idp_key: SigningKey) -> None:
    xml = signed(idp_key).replace(b"alice@example.com", b"admin@example.com")
    with pytest.raises(SignatureInvalid):
        verify(xml, idp_key)


def test_comment_injection_verifies_but_signed_view_has_full_text(idp_key: SigningKey) -> None:
    # Comments are outside exc-c14n, so an injected comment keeps the signature valid;
    # the signed view carries the whole text, without the comment.
    xml = signed(idp_key).replace(b"alice@example.com", b"alice@<!---->example.com")
    root = parse_xml(xml)
    assert root.findtext(f".//{{{SAML}}}NameID") == "alice@"
    result = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    name_id = parse_xml(result.signed_xml).find(f".//{{{SAML}}}NameID")
    assert name_id is not None
    assert name_id.text == "alice@example.com"


def _mutate(xml: bytes, path: str, attribute: str, value: str) -> bytes:
    root = etree.fromstring(xml)
    node = root.find(path)
    assert node is not None
    node.set(attribute, value)
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("path", "attribute", "value", "message"),
    [
        (f".//{_ds('Reference')}", "URI", "#_other", "Reference URI to be '#_a1'"),
        (f".//{_ds('Reference')}", "URI", "", "Reference URI"),
        (
            f".//{_ds('SignatureMethod')}",
            "Algorithm",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "HMAC is never accepted",
        ),
        (
            f".//{_ds('SignatureMethod')}",
            "Algorithm",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "HMAC",
        ),
        (f".//{_ds('SignatureMethod')}", "Algorithm", SIG_RSA_SHA1, "not allowed"),
        (
            f".//{_ds('CanonicalizationMethod')}",
            "Algorithm",
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
            "canonicalization",
        ),
        (
            f".//{_ds('Transform')}",
            "Algorithm",
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
            "only enveloped-signature and exc-c14n",
        ),
        (
            f".//{_ds('DigestMethod')}",
            "Algorithm",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "DigestMethod",
        ),
    ],
)
def test_shape_checks(
    idp_key: SigningKey, path: str, attribute: str, value: str, message: str
) -> None:
    with pytest.raises(SignatureInvalid, match=message):
        verify(_mutate(signed(idp_key), path, attribute, value), idp_key)


def test_two_references(idp_key: SigningKey) -> None:
    root = etree.fromstring(signed(idp_key))
    reference = root.find(f".//{_ds('Reference')}")
    assert reference is not None
    reference.addnext(copy.deepcopy(reference))
    with pytest.raises(SignatureInvalid, match="one ds:Reference"):
        verify(etree.tostring(root), idp_key)


def test_two_signatures(idp_key: SigningKey) -> None:
    root = etree.fromstring(signed(idp_key))
    signature = root.find(_ds("Signature"))
    assert signature is not None
    signature.addnext(copy.deepcopy(signature))
    with pytest.raises(SignatureInvalid, match="one ds:Signature"):
        verify(etree.tostring(root), idp_key)


def test_ds_object_refused(idp_key: SigningKey) -> None:
    root = etree.fromstring(signed(idp_key))
    signature = root.find(_ds("Signature"))
    assert signature is not None
    etree.SubElement(signature, _ds("Object")).append(etree.fromstring(DOC))
    with pytest.raises(SignatureInvalid, match="ds:Object"):
        verify(etree.tostring(root), idp_key)


@pytest.mark.parametrize(
    "attribute", ["ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id"]
)
def test_duplicate_id_refused(idp_key: SigningKey, attribute: str) -> None:
    root = etree.fromstring(signed(idp_key))
    decoy = etree.SubElement(root, f"{{{SAML}}}Advice")
    decoy.set(attribute, "_a1")
    with pytest.raises(SignatureInvalid, match="occur once"):
        verify(etree.tostring(root), idp_key)


def test_missing_enveloped_transform(idp_key: SigningKey) -> None:
    root = etree.fromstring(signed(idp_key))
    transforms = root.find(f".//{_ds('Transforms')}")
    assert transforms is not None
    transforms.remove(transforms[0])
    with pytest.raises(SignatureInvalid, match="enveloped-signature"):
        verify(etree.tostring(root), idp_key)


def _xmlsec_signed(key: SigningKey, method: object, digest: object) -> bytes:
    root = etree.fromstring(DOC)
    signature = xmlsec.template.create(root, xc.TransformExclC14N, method, ns="ds")  # type: ignore[arg-type]
    root[0].addnext(signature)
    reference = xmlsec.template.add_reference(signature, digest, uri="#_a1")  # type: ignore[arg-type]
    xmlsec.template.add_transform(reference, xc.TransformEnveloped)
    xmlsec.template.add_transform(reference, xc.TransformExclC14N)
    context = xmlsec.SignatureContext()
    context.key = key.xmlsec_key
    context.register_id(root, "ID")
    context.sign(signature)
    return etree.tostring(root)


def test_sha1_only_when_allowed(idp_key: SigningKey) -> None:
    xml = _xmlsec_signed(idp_key, xc.TransformRsaSha1, xc.TransformSha1)
    with pytest.raises(SignatureInvalid, match="SignatureMethod"):
        verify(xml, idp_key)
    assert (
        verify_element(
            parse_xml(xml), trusted_certificates=[idp_key.certificate_pem], allow_sha1=True
        ).signature_algorithm
        == SIG_RSA_SHA1
    )


def test_rsa_sha512_accepted(idp_key: SigningKey) -> None:
    xml = _xmlsec_signed(idp_key, xc.TransformRsaSha512, xc.TransformSha512)
    verify(xml, idp_key)


def test_real_hmac_signature_with_public_cert_as_secret(idp_key: SigningKey) -> None:
    """The key-confusion attack (CVE-2021-21239 class): HMAC keyed with the public cert."""
    root = etree.fromstring(DOC.replace(b"alice", b"admin"))
    signature = xmlsec.template.create(root, xc.TransformExclC14N, xc.TransformHmacSha256, ns="ds")
    root[0].addnext(signature)
    reference = xmlsec.template.add_reference(signature, xc.TransformSha256, uri="#_a1")
    xmlsec.template.add_transform(reference, xc.TransformEnveloped)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_binary_data(xc.KeyDataHmac, idp_key.certificate_pem.encode())
    context.register_id(root, "ID")
    context.sign(signature)
    with pytest.raises(SignatureInvalid, match="HMAC"):
        verify(etree.tostring(root), idp_key)


# ------------------------------------------------------------------ HTTP-Redirect


def _signed_query(
    key: SigningKey,
    *,
    relay_state: str | None = "https://sp/return?a=1&b=2",
    alg: str = SIG_RSA_SHA256,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    params = [("SAMLRequest", factory.deflate_b64(b"<samlp:AuthnRequest/>"))]
    if relay_state is not None:
        params.append(("RelayState", relay_state))
    params.append(("SigAlg", alg))
    signed_part = urlencode(params)
    signature = key.private_key.sign(
        signed_part.encode(), padding.PKCS1v15(), hash_algorithm or hashes.SHA256()
    )
    return signed_part + "&Signature=" + quote(base64.b64encode(signature).decode(), safe="")


def test_redirect_signature(idp_key: SigningKey) -> None:
    query = _signed_query(idp_key)
    result = verify_redirect_signature(
        query_string=query, trusted_certificates=[idp_key.certificate_pem]
    )
    assert result.message_parameter == "SAMLRequest"
    assert result.signature_algorithm == SIG_RSA_SHA256


def test_redirect_signature_without_relay_state_and_extra_params(idp_key: SigningKey) -> None:
    query = "foo=bar&" + _signed_query(idp_key, relay_state=None) + "&x=1"
    verify_redirect_signature(query_string=query, trusted_certificates=[idp_key.certificate_pem])


def test_redirect_signature_uses_raw_encoding(idp_key: SigningKey) -> None:
    # Lower-case percent escapes are what some SPs send: the signed octets are the raw
    # parameters, so re-encoding would break this valid signature.
    def lower(text: str) -> str:
        return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe=""))

    signed_part = (
        f"SAMLRequest={lower(factory.deflate_b64(b'<x/>'))}&SigAlg={lower(SIG_RSA_SHA256)}"
    )
    assert "%2f" in signed_part
    signature = idp_key.private_key.sign(signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())
    query = signed_part + "&Signature=" + quote(base64.b64encode(signature).decode(), safe="")
    verify_redirect_signature(query_string=query, trusted_certificates=[idp_key.certificate_pem])


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda q: q.replace("RelayState=https", "RelayState=http"), SignatureInvalid, "does not"),
        (lambda q: q.split("&Signature=")[0], SignatureRequired, "Signature parameter"),
        (lambda q: q.replace("&SigAlg=", "&Sig="), SignatureInvalid, "SigAlg"),
        (lambda q: q + "&SigAlg=x", MalformedMessage, "SigAlg once"),
        (lambda q: q.replace("SAMLRequest=", "Other="), MalformedMessage, "exactly one"),
        (lambda q: q + "&SAMLResponse=abc", MalformedMessage, "exactly one"),
        (lambda q: q.split("&Signature=")[0] + "&Signature=%%%", SignatureInvalid, "base64"),
    ],
    ids=["tampered", "unsigned", "no-sigalg", "dup", "no-message", "two-messages", "bad-b64"],
)
def test_redirect_signature_refusals(
    idp_key: SigningKey, mutate: object, error: type[Exception], message: str
) -> None:
    query = mutate(_signed_query(idp_key))  # type: ignore[operator]
    with pytest.raises(error, match=message):
        verify_redirect_signature(
            query_string=query, trusted_certificates=[idp_key.certificate_pem]
        )


def test_redirect_signature_wrong_key(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    with pytest.raises(SignatureInvalid, match="any of the 1"):
        verify_redirect_signature(
            query_string=_signed_query(attacker_key),
            trusted_certificates=[idp_key.certificate_pem],
        )


def test_redirect_sha1_only_when_allowed(idp_key: SigningKey) -> None:
    query = _signed_query(idp_key, alg=SIG_RSA_SHA1, hash_algorithm=hashes.SHA1())
    with pytest.raises(SignatureInvalid, match="SigAlg"):
        verify_redirect_signature(
            query_string=query, trusted_certificates=[idp_key.certificate_pem]
        )
    verify_redirect_signature(
        query_string=query, trusted_certificates=[idp_key.certificate_pem], allow_sha1=True
    )


def test_redirect_hmac_refused(idp_key: SigningKey) -> None:
    query = _signed_query(idp_key, alg="http://www.w3.org/2000/09/xmldsig#hmac-sha1")
    with pytest.raises(SignatureInvalid, match="SigAlg"):
        verify_redirect_signature(
            query_string=query, trusted_certificates=[idp_key.certificate_pem]
        )


def _api_built_assertion() -> etree._Element:
    # Built through lxml's API only: no name passed through the parser's dictionary.
    xs, xsi = "http://www.w3.org/2001/XMLSchema", "http://www.w3.org/2001/XMLSchema-instance"
    root = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML, "xs": xs, "xsi": xsi})
    root.set("ID", "_built")
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = "https://idp"
    value = etree.SubElement(root, f"{{{SAML}}}AttributeValue")
    value.set(f"{{{xsi}}}type", "xs:string")
    value.text = "v"
    return root


def test_inclusive_prefix_kept_for_api_built_tree_in_fresh_thread(
    idp_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new thread has a fresh name dictionary: the xs declaration must still be signed."""
    from sekisho.saml.core import dsig

    def no_reparse() -> etree.XMLParser:
        raise AssertionError("the fast path should not need a re-parse")

    monkeypatch.setattr(dsig, "_reparser", no_reparse)
    results: list[bytes] = []

    def work() -> None:
        root = _api_built_assertion()
        sign_element(root, idp_key, insert_after=root[0], inclusive_prefixes=("xs",))
        results.append(etree.tostring(root))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    (xml,) = results
    verified = verify(xml, idp_key)
    assert b'xmlns:xs="http://www.w3.org/2001/XMLSchema"' in verified.signed_xml  # type: ignore[attr-defined]


def test_reparse_fallback_gives_the_same_signature(
    idp_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekisho.saml.core import dsig

    fast = _api_built_assertion()
    sign_element(fast, idp_key, insert_after=fast[0], inclusive_prefixes=("xs",))
    monkeypatch.setattr(dsig, "_APEX_NAMESPACES", re.compile(rb"(?!)"))
    slow = _api_built_assertion()
    sign_element(slow, idp_key, insert_after=slow[0], inclusive_prefixes=("xs",))
    assert etree.tostring(slow) == etree.tostring(fast)
    verify(etree.tostring(slow), idp_key)


def test_inclusive_prefix_must_be_in_scope(idp_key: SigningKey) -> None:
    root = etree.fromstring(b'<a ID="_x"><b/></a>')
    with pytest.raises(ValueError, match="inclusive prefix 'xs' to be in scope"):
        sign_element(root, idp_key, insert_after=None, inclusive_prefixes=("xs",))


def test_refuses_to_sign_twice(idp_key: SigningKey) -> None:
    root = etree.fromstring(signed(idp_key))
    with pytest.raises(ValueError, match="already signed"):
        sign_element(root, idp_key, insert_after=root[0])
