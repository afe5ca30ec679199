"""Enveloped XML-DSig for SAML (saml-core-2.0-os §5) and the HTTP-Redirect signature.

Signing: RSA-SHA256, SHA-256 digests, exclusive C14N, in process (libxml2 C14N through
lxml and RSA through ``cryptography``, or python-xmlsec on request). Verification uses
python-xmlsec and is deliberately narrow, because generic XML-DSig verifiers are the source
of most SAML breaks (signature wrapping, comment injection, HMAC key confusion,
embedded-certificate trust): one enveloped signature, one Reference pointing at the
verified element's own unique ID, only the transforms saml-core §5.4.4 allows, only RSA,
and only the caller's trusted certificates.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import unquote_plus

import xmlsec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from xmlsec import constants as xc

from sekisho.saml.core.keys import SigningKey, certificate_pem, load_certificate
from sekisho.saml.core.xml import DS, Element, children, localname, qn
from sekisho.saml.errors import MalformedMessage, SignatureInvalid, SignatureRequired

SIG_RSA_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SIG_RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIG_RSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
SIG_RSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
DIGEST_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"
DIGEST_SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
DIGEST_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#sha384"
DIGEST_SHA512: Final = "http://www.w3.org/2001/04/xmlenc#sha512"
TRANSFORM_ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
C14N_EXCLUSIVE: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_INCLUSIVE: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

# Signature methods that may be accepted, with the hash the detached (Redirect) form uses.
_RSA_METHODS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    SIG_RSA_SHA256: hashes.SHA256,
    SIG_RSA_SHA384: hashes.SHA384,
    SIG_RSA_SHA512: hashes.SHA512,
}
_RSA_SHA1: Final[dict[str, type[hashes.HashAlgorithm]]] = {SIG_RSA_SHA1: hashes.SHA1}
_DIGESTS: Final = frozenset({DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512})
# Canonicalization of SignedInfo: both C14N 1.0 flavours without comments are safe.
_SIGNEDINFO_C14N: Final = frozenset({C14N_EXCLUSIVE, C14N_INCLUSIVE})
_ALLOWED_TRANSFORMS: Final = frozenset({TRANSFORM_ENVELOPED, C14N_EXCLUSIVE})

_XMLSEC_SIGNATURE_TRANSFORMS: Final = (
    xc.TransformExclC14N,
    xc.TransformInclC14N,
    xc.TransformRsaSha256,
    xc.TransformRsaSha384,
    xc.TransformRsaSha512,
)
_XMLSEC_REFERENCE_TRANSFORMS: Final = (
    xc.TransformEnveloped,
    xc.TransformExclC14N,
    xc.TransformSha256,
    xc.TransformSha384,
    xc.TransformSha512,
)


@dataclass(frozen=True)
class VerifiedSignature:
    """What a successful enveloped-signature check proved.

    ``signed_xml`` is the exclusive canonical form of the verified element without its
    signature and without comments: read protected values from it (parse it with
    ``xml.parse_xml``), never from the original tree.
    """

    element_id: str
    signature_algorithm: str
    digest_algorithm: str
    certificate_pem: str
    signed_xml: bytes
    embedded_certificates: tuple[str, ...]


@dataclass(frozen=True)
class VerifiedRedirectSignature:
    """What a successful HTTP-Redirect detached signature check proved (saml-bindings §3.4.4.1)."""

    message_parameter: str
    signature_algorithm: str
    certificate_pem: str


def sign_element(
    element: Element,
    key: SigningKey,
    *,
    insert_after: Element | None,
    inclusive_prefixes: Sequence[str] = (),
    use_xmlsec: bool = False,
) -> Element:
    """Sign ``element`` with an enveloped RSA-SHA256 signature over its ``ID`` (saml-core §5.4).

    The ds:Signature goes right after ``insert_after`` (the saml:Issuer, as the schemas of
    Response and Assertion require, saml-core §5.4.1), or first when it is None.
    ``inclusive_prefixes`` lists prefixes (e.g. ``xs`` used in xsi:type values) that
    exclusive C14N must keep although no element or attribute name uses them; each must
    be in scope at ``element`` (declared on it or an ancestor).

    The default path canonicalizes with libxml2's exclusive C14N (through lxml, the same
    code xmlsec runs), hashes with hashlib and signs with ``cryptography``'s cached key:
    the xmlsec wheel's RSA costs ~40% more per signature (own OpenSSL build, a key copy
    per context). ``use_xmlsec=True`` signs with python-xmlsec instead. The tests have
    xmlsec re-sign the fast path's own template and require the identical DigestValue
    and SignatureValue (RSA PKCS#1 v1.5 is deterministic).

    Returns:
        The inserted ds:Signature element.
    """
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("expected the element to sign to carry an ID attribute, got none")
    if children(element, DS, "Signature"):
        raise ValueError("expected an element without a ds:Signature, got one already signed")
    if insert_after is not None and insert_after.getparent() is not element:
        raise ValueError("expected insert_after to be a child of the element to sign")
    if use_xmlsec:
        return _sign_with_xmlsec(element, key, element_id, insert_after, inclusive_prefixes)
    prefixes = list(inclusive_prefixes)
    # Digest first, before the Signature exists: that is exactly the node-set the
    # enveloped-signature transform leaves (xmldsig-core §6.6.4), as the Signature
    # gets no surrounding whitespace text.
    digest = hashlib.sha256(_exclusive_c14n(element, prefixes)).digest()
    signature = _signature_template(element_id, prefixes, digest, key.certificate_b64)
    if insert_after is None:
        element.insert(0, signature)
    else:
        insert_after.addnext(signature)
    signed_info = signature[0]
    signed_octets = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    value = key.private_key.sign(signed_octets, padding.PKCS1v15(), hashes.SHA256())
    signature[1].text = base64.b64encode(value).decode("ascii")
    return signature


_THREAD = threading.local()


def _reparser() -> etree.XMLParser:
    # One parser per thread (lxml parsers must not be shared across threads). It only
    # re-parses Sekisho's own serialization; still no entities, DTDs or network.
    parser: etree.XMLParser | None = getattr(_THREAD, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        _THREAD.parser = parser
    return parser


_Q_SIGNATURE = qn(DS, "Signature")
_Q_SIGNED_INFO = qn(DS, "SignedInfo")
_Q_C14N_METHOD = qn(DS, "CanonicalizationMethod")
_Q_SIGNATURE_METHOD = qn(DS, "SignatureMethod")
_Q_REFERENCE = qn(DS, "Reference")
_Q_TRANSFORMS = qn(DS, "Transforms")
_Q_TRANSFORM = qn(DS, "Transform")
_Q_DIGEST_METHOD = qn(DS, "DigestMethod")
_Q_DIGEST_VALUE = qn(DS, "DigestValue")
_Q_SIGNATURE_VALUE = qn(DS, "SignatureValue")
_Q_KEY_INFO = qn(DS, "KeyInfo")
_Q_X509_DATA = qn(DS, "X509Data")
_Q_X509_CERTIFICATE = qn(DS, "X509Certificate")
_EC = "http://www.w3.org/2001/10/xml-exc-c14n#"
_DS_NSMAP = {"ds": DS}
_EC_NSMAP = {"ec": _EC}


# The namespace declarations at the start of a canonical start tag (C14N puts them first).
_APEX_NAMESPACES = re.compile(rb'^<[^\s>]+((?: xmlns(?::[^=]+)?="[^"]*")*)')


def _exclusive_c14n(element: Element, prefixes: list[str]) -> bytes:
    """Exclusive C14N of ``element`` keeping the InclusiveNamespaces ``prefixes``."""
    if not prefixes:
        return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    # lxml passes on only those inclusive prefixes already interned in the document's
    # name dictionary (xmlDictExists), which nodes built through its API may not be:
    # the declaration would silently vanish from the digest. Interning the names first
    # avoids that; the check below proves it worked, else a re-parse (what a verifier
    # sees) is canonicalized instead.
    in_scope = element.nsmap
    for prefix in prefixes:
        if prefix not in in_scope:
            raise ValueError(f"expected inclusive prefix {prefix!r} to be in scope, got none")
        element.remove(etree.SubElement(element, prefix))
    canonical = etree.tostring(
        element, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes
    )
    match = _APEX_NAMESPACES.match(canonical)
    declared = match.group(1) if match else b""
    if all(f' xmlns:{p}="'.encode() in declared for p in prefixes):
        return canonical
    # lxml serializes a sub-element with every namespace in scope at it declared.
    reparsed = etree.fromstring(etree.tostring(element), parser=_reparser())
    return etree.tostring(
        reparsed, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes
    )


def _signature_template(
    element_id: str, prefixes: list[str], digest: bytes, certificate: str
) -> Element:
    # Building the ds:Signature skeleton costs ~7x more than copying a finished one, so
    # each thread keeps one per (certificate, prefixes); lxml trees stay thread-local.
    cache: dict[tuple[str, tuple[str, ...]], Element] | None = getattr(_THREAD, "templates", None)
    if cache is None:
        cache = _THREAD.templates = {}
    cache_key = (certificate, tuple(prefixes))
    template = cache.get(cache_key)
    if template is None:
        if len(cache) >= 8:
            cache.clear()
        template = cache[cache_key] = _build_signature_template(prefixes, certificate)
    signature = copy.deepcopy(template)
    reference = signature[0][2]
    reference.set("URI", "#" + element_id)
    reference[2].text = base64.b64encode(digest).decode("ascii")
    return signature


def _build_signature_template(prefixes: list[str], certificate: str) -> Element:
    signature = etree.Element(_Q_SIGNATURE, nsmap=_DS_NSMAP)
    signed_info = etree.SubElement(signature, _Q_SIGNED_INFO)
    etree.SubElement(signed_info, _Q_C14N_METHOD).set("Algorithm", C14N_EXCLUSIVE)
    etree.SubElement(signed_info, _Q_SIGNATURE_METHOD).set("Algorithm", SIG_RSA_SHA256)
    reference = etree.SubElement(signed_info, _Q_REFERENCE)
    transforms = etree.SubElement(reference, _Q_TRANSFORMS)
    etree.SubElement(transforms, _Q_TRANSFORM).set("Algorithm", TRANSFORM_ENVELOPED)
    c14n = etree.SubElement(transforms, _Q_TRANSFORM)
    c14n.set("Algorithm", C14N_EXCLUSIVE)
    if prefixes:
        inclusive = etree.SubElement(c14n, qn(_EC, "InclusiveNamespaces"), nsmap=_EC_NSMAP)
        inclusive.set("PrefixList", " ".join(prefixes))
    etree.SubElement(reference, _Q_DIGEST_METHOD).set("Algorithm", DIGEST_SHA256)
    etree.SubElement(reference, _Q_DIGEST_VALUE)
    etree.SubElement(signature, _Q_SIGNATURE_VALUE)
    key_info = etree.SubElement(signature, _Q_KEY_INFO)
    x509_data = etree.SubElement(key_info, _Q_X509_DATA)
    etree.SubElement(x509_data, _Q_X509_CERTIFICATE).text = certificate
    return signature


def _sign_with_xmlsec(
    element: Element,
    key: SigningKey,
    element_id: str,
    insert_after: Element | None,
    inclusive_prefixes: Sequence[str],
) -> Element:
    signature = xmlsec.template.create(
        element, xc.TransformExclC14N, xc.TransformRsaSha256, ns="ds"
    )
    if insert_after is None:
        element.insert(0, signature)
    else:
        insert_after.addnext(signature)
    reference = xmlsec.template.add_reference(signature, xc.TransformSha256, uri="#" + element_id)
    xmlsec.template.add_transform(reference, xc.TransformEnveloped)
    c14n = xmlsec.template.add_transform(reference, xc.TransformExclC14N)
    if inclusive_prefixes:
        xmlsec.template.transform_add_c14n_inclusive_namespaces(c14n, list(inclusive_prefixes))
    key_info = xmlsec.template.ensure_key_info(signature)
    x509_data = xmlsec.template.add_x509_data(key_info)
    xmlsec.template.x509_data_add_certificate(x509_data)
    context = xmlsec.SignatureContext()
    context.key = key.xmlsec_key
    context.register_id(element, "ID")
    context.sign(signature)
    return signature


def verify_element(
    element: Element,
    *,
    trusted_certificates: Sequence[str],
    allow_sha1: bool = False,
) -> VerifiedSignature:
    """Verify the enveloped signature of ``element`` against trusted certificates only.

    Any certificate embedded in ds:KeyInfo is ignored for trust. Checks, in order: one
    ds:Signature child; SignedInfo C14N; RSA method (HMAC never, SHA-1 only if
    ``allow_sha1``); exactly one Reference whose URI is ``#`` + this element's ID; that ID
    unique in the document; transforms only enveloped-signature and exclusive C14N
    (saml-core §5.4.3-§5.4.4); no ds:Object; then the cryptographic check with xmlsec.

    Args:
        element: the element the caller is about to trust (Response or Assertion or
            AuthnRequest) - not something found by following the signature.
        trusted_certificates: PEM or base64 certificates from configuration/metadata.
        allow_sha1: accept RSA-SHA1 and SHA-1 digests (legacy SPs only).

    Returns:
        VerifiedSignature, whose ``signed_xml`` is what the signature covers.

    Raises:
        SignatureRequired: the element carries no signature.
        SignatureInvalid: anything else wrong, with the reason.
    """
    if not trusted_certificates:
        raise SignatureInvalid("expected at least one trusted certificate, got none")
    what = localname(element)
    element_id = element.get("ID")
    if not element_id:
        raise SignatureInvalid(f"expected <{what}> to carry an ID attribute, got none")
    signatures = children(element, DS, "Signature")
    if not signatures:
        raise SignatureRequired(f"expected a ds:Signature inside <{what}>, got none")
    if len(signatures) > 1:
        raise SignatureInvalid(f"expected one ds:Signature inside <{what}>, got {len(signatures)}")
    signature = signatures[0]
    method, digest, prefixes = _check_signature_shape(signature, element_id, allow_sha1)
    _check_unique_id(element, element_id)

    failures: list[str] = []
    for trusted in trusted_certificates:
        try:
            key = _trusted_xmlsec_key(certificate_pem(trusted))
        except ValueError as exc:
            failures.append(str(exc))
            continue
        context = xmlsec.SignatureContext()
        for transform in _XMLSEC_SIGNATURE_TRANSFORMS:
            context.enable_signature_transform(transform)
        for transform in _XMLSEC_REFERENCE_TRANSFORMS:
            context.enable_reference_transform(transform)
        if allow_sha1:
            context.enable_signature_transform(xc.TransformRsaSha1)
            context.enable_reference_transform(xc.TransformSha1)
        context.key = key
        try:
            context.register_id(element, "ID")
            context.verify(signature)
        except xmlsec.Error as exc:
            failures.append(str(exc))
            continue
        return VerifiedSignature(
            element_id=element_id,
            signature_algorithm=method,
            digest_algorithm=digest,
            certificate_pem=certificate_pem(trusted),
            signed_xml=_signed_content(element, signature, prefixes),
            embedded_certificates=_embedded_certificates(signature),
        )
    raise SignatureInvalid(
        f"signature of <{what} ID={element_id!r}> does not verify with any of the "
        f"{len(trusted_certificates)} trusted certificate(s)"
    )


def verify_redirect_signature(
    *,
    query_string: str,
    trusted_certificates: Sequence[str],
    allow_sha1: bool = False,
) -> VerifiedRedirectSignature:
    """Verify the detached signature of an HTTP-Redirect message (saml-bindings §3.4.4.1).

    The signed octets are rebuilt from the RAW (still URL-encoded) query parameters as
    ``SAMLRequest=..[&RelayState=..]&SigAlg=..`` (or ``SAMLResponse``), because
    re-encoding decoded values can differ from what the SP encoded.

    Args:
        query_string: the request's undecoded query string (e.g. Django's
            ``request.META["QUERY_STRING"]``).
        trusted_certificates: the SP's certificates from its metadata.
        allow_sha1: accept RSA-SHA1 (legacy SPs only).

    Raises:
        SignatureRequired: no Signature parameter.
        SignatureInvalid: bad SigAlg, bad base64, or no trusted certificate verifies it.
        MalformedMessage: a repeated or missing SAML parameter.
    """
    raw: dict[str, str] = {}
    for part in query_string.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = unquote_plus(raw_name)
        if name not in ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"):
            continue
        if name in raw:
            raise MalformedMessage(f"expected {name} once in the query string, got it twice")
        raw[name] = raw_value
    messages = [n for n in ("SAMLRequest", "SAMLResponse") if n in raw]
    if len(messages) != 1:
        raise MalformedMessage(
            "expected exactly one of SAMLRequest or SAMLResponse in the query string, "
            f"got {len(messages)}"
        )
    message = messages[0]
    if "Signature" not in raw:
        raise SignatureRequired("expected a Signature parameter on the redirect, got none")
    if "SigAlg" not in raw:
        raise SignatureInvalid("expected a SigAlg parameter next to Signature, got none")
    algorithm = unquote_plus(raw["SigAlg"])
    methods = dict(_RSA_METHODS)
    if allow_sha1:
        methods.update(_RSA_SHA1)
    hash_type = methods.get(algorithm)
    if hash_type is None:
        raise SignatureInvalid(f"expected SigAlg RSA-SHA256/384/512, got {algorithm[:100]!r}")
    signed = f"{message}={raw[message]}"
    if "RelayState" in raw:
        signed += f"&RelayState={raw['RelayState']}"
    signed += f"&SigAlg={raw['SigAlg']}"
    try:
        signature_bytes = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(
            "expected the Signature parameter in base64, got invalid text"
        ) from exc
    for trusted in trusted_certificates:
        try:
            public_key = load_certificate(trusted).public_key()
        except ValueError:
            continue
        if not isinstance(public_key, rsa.RSAPublicKey):
            continue
        try:
            public_key.verify(
                signature_bytes, signed.encode("ascii", "replace"), padding.PKCS1v15(), hash_type()
            )
        except InvalidSignature:
            continue
        return VerifiedRedirectSignature(
            message_parameter=message,
            signature_algorithm=algorithm,
            certificate_pem=certificate_pem(trusted),
        )
    raise SignatureInvalid(
        f"redirect signature does not verify with any of the {len(trusted_certificates)} "
        "trusted certificate(s)"
    )


def sign_redirect(octets: str, key: SigningKey) -> str:
    """RSA-SHA256 over the HTTP-Redirect signed octets (saml-bindings §3.4.4.1), base64.

    ``octets`` is ``SAMLRequest=..[&RelayState=..]&SigAlg=..`` exactly as it goes on the
    wire (URL-encoded), which the receiver rebuilds from the raw query string.
    """
    value = key.private_key.sign(octets.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(value).decode("ascii")


def has_signature(element: Element) -> bool:
    """Tell whether ``element`` has a ds:Signature child (an enveloped signature)."""
    return bool(children(element, DS, "Signature"))


@lru_cache(maxsize=128)
def _trusted_xmlsec_key(pem: str) -> xmlsec.Key:
    # xmlsec duplicates the key into each context, so a cached Key is safe to share.
    try:
        return xmlsec.Key.from_memory(pem.encode("ascii"), xc.KeyDataFormatCertPem)
    except xmlsec.Error as exc:
        raise ValueError(f"trusted certificate cannot be loaded: {exc}") from exc


def _one(parent: Element, local: str) -> Element:
    found = children(parent, DS, local)
    if len(found) != 1:
        raise SignatureInvalid(
            f"expected one ds:{local} in ds:{localname(parent)}, got {len(found)}"
        )
    return found[0]


def _check_signature_shape(
    signature: Element, element_id: str, allow_sha1: bool
) -> tuple[str, str, tuple[str, ...]]:
    if children(signature, DS, "Object"):
        raise SignatureInvalid("expected no ds:Object in a SAML signature, got one")
    signed_info = _one(signature, "SignedInfo")
    _one(signature, "SignatureValue")
    c14n = _one(signed_info, "CanonicalizationMethod").get("Algorithm", "")
    if c14n not in _SIGNEDINFO_C14N:
        raise SignatureInvalid(f"expected SignedInfo canonicalization exc-c14n, got {c14n[:100]!r}")
    method = _one(signed_info, "SignatureMethod").get("Algorithm", "")
    allowed_methods = set(_RSA_METHODS) | (set(_RSA_SHA1) if allow_sha1 else set())
    if method not in allowed_methods:
        kind = "HMAC is never accepted" if "hmac" in method.lower() else "not allowed"
        raise SignatureInvalid(
            f"expected SignatureMethod RSA-SHA256/384/512, got {method[:100]!r} ({kind})"
        )
    reference = _one(signed_info, "Reference")
    uri = reference.get("URI")
    if uri != "#" + element_id:
        raise SignatureInvalid(
            f"expected the Reference URI to be '#{element_id}' (the signed element's ID), "
            f"got {uri!r}"
        )
    prefixes: tuple[str, ...] = ()
    transforms_parent = children(reference, DS, "Transforms")
    algorithms: list[str] = []
    if len(transforms_parent) > 1:
        raise SignatureInvalid("expected at most one ds:Transforms, got several")
    for transform in transforms_parent[0] if transforms_parent else ():
        if not isinstance(transform.tag, str):
            continue
        if transform.tag != qn(DS, "Transform"):
            raise SignatureInvalid(f"unexpected element {transform.tag} in ds:Transforms")
        algorithm = transform.get("Algorithm", "")
        if algorithm not in _ALLOWED_TRANSFORMS:
            raise SignatureInvalid(
                "expected only enveloped-signature and exc-c14n transforms "
                f"(saml-core §5.4.4), got {algorithm[:100]!r}"
            )
        if algorithm == C14N_EXCLUSIVE:
            for inclusive in transform:
                if isinstance(inclusive.tag, str) and localname(inclusive) == "InclusiveNamespaces":
                    prefixes = tuple(inclusive.get("PrefixList", "").split())
        algorithms.append(algorithm)
    if TRANSFORM_ENVELOPED not in algorithms or len(set(algorithms)) != len(algorithms):
        raise SignatureInvalid(
            "expected one enveloped-signature transform (and optionally exc-c14n), "
            f"got {algorithms}"
        )
    digest = _one(reference, "DigestMethod").get("Algorithm", "")
    allowed_digests = set(_DIGESTS) | ({DIGEST_SHA1} if allow_sha1 else set())
    if digest not in allowed_digests:
        raise SignatureInvalid(f"expected DigestMethod SHA-256/384/512, got {digest[:100]!r}")
    _one(reference, "DigestValue")
    return method, digest, prefixes


def _check_unique_id(element: Element, element_id: str) -> None:
    # Any ID-like attribute (ID, Id, id, xml:id) carrying the same value elsewhere could
    # make "#id" resolve to a different element than the one the caller will read.
    holders = 0
    for node in element.getroottree().iter():
        if not isinstance(node.tag, str):
            continue
        for name, value in node.attrib.items():
            if value == element_id and name.rsplit("}", 1)[-1].lower() == "id":
                holders += 1
    if holders != 1:
        raise SignatureInvalid(
            f"expected ID {element_id!r} to occur once in the document, got {holders} "
            "(possible signature wrapping)"
        )


def _signed_content(element: Element, signature: Element, prefixes: tuple[str, ...]) -> bytes:
    clone = _rerooted(element, skip=signature)
    in_scope = clone.nsmap
    return _exclusive_c14n(clone, [p for p in prefixes if p in in_scope])


def _rerooted(element: Element, *, skip: Element | None = None) -> Element:
    """A detached copy of ``element`` declaring every namespace in scope at it.

    A plain copy would lose namespaces declared on ancestors but used only inside
    attribute values (xs in xsi:type); declaring them all on the copy changes nothing
    else, since exclusive C14N renders only the used and the listed ones.
    """
    clone = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=element.nsmap)
    clone.text = element.text
    for child in element:
        clone.append(copy.deepcopy(child))
        if child is skip:
            # lxml drops an element's tail with it; the enveloped transform keeps that text.
            _remove_keeping_tail(clone[-1])
    return clone


def _remove_keeping_tail(node: Element) -> None:
    parent = node.getparent()
    assert parent is not None
    if node.tail:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)


def _embedded_certificates(signature: Element) -> tuple[str, ...]:
    found: list[str] = []
    for node in signature.iter(qn(DS, "X509Certificate")):
        text = "".join((node.text or "").split())
        if text:
            found.append(text)
    return tuple(found)
