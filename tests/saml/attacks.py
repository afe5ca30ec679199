"""Signature-wrapping and tampering attacks on a signed SAML Response, shared by the
inspector's tests and the emulated STS's: both must refuse every one of them.

Each attack edits the parsed Response in place (XSW variants after Somorovsky et al.,
"On Breaking SAML", USENIX Security 2012).
"""

from __future__ import annotations

import copy

from lxml import etree

from sekisho.saml.core.dsig import sign_element
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.xml import DS, SAML, SAMLP
from tests.saml import factory

Element = etree._Element


def saml_name(local: str) -> str:
    """The Clark name of a SAML assertion element."""
    return f"{{{SAML}}}{local}"


def assertion_of(root: Element) -> Element:
    """The Response's first Assertion."""
    found = root.find(saml_name("Assertion"))
    assert found is not None
    return found


def resign(element: Element, key: SigningKey | None = None) -> None:
    """Re-sign after editing, as a legitimate (or attacker) key holder would."""
    for old in element.findall(f"{{{DS}}}Signature"):
        element.remove(old)
    sign_element(
        element,
        key or factory.idp_key(),
        insert_after=element.find(saml_name("Issuer")),
        inclusive_prefixes=("xs",),
    )


def evil_copy(original: Element, *, same_id: bool) -> Element:
    """The assertion unsigned, with the NameID changed to admin (and a new ID unless same_id)."""
    evil = copy.deepcopy(original)
    for signature in evil.findall(f"{{{DS}}}Signature"):
        evil.remove(signature)
    evil.find(f".//{saml_name('NameID')}").text = "admin"  # type: ignore[union-attr]
    if not same_id:
        evil.set("ID", "_evil")
    return evil


def xsw_sibling_before(root: Element) -> None:
    original = assertion_of(root)
    original.addprevious(evil_copy(original, same_id=False))


def xsw_sibling_after_same_id(root: Element) -> None:
    original = assertion_of(root)
    original.addnext(evil_copy(original, same_id=True))


def xsw_original_inside_evil(root: Element) -> None:
    original = assertion_of(root)
    evil = evil_copy(original, same_id=False)
    original.addprevious(evil)
    evil.append(original)


def xsw_original_in_extensions(root: Element) -> None:
    original = assertion_of(root)
    evil = evil_copy(original, same_id=True)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    root.insert(1, extensions)
    original.addprevious(evil)
    extensions.append(original)
    evil.insert(1, copy.deepcopy(original.find(f"{{{DS}}}Signature")))  # type: ignore[arg-type]


def xsw_original_in_signature_object(root: Element) -> None:
    original = assertion_of(root)
    evil = evil_copy(original, same_id=True)
    signature = copy.deepcopy(original.find(f"{{{DS}}}Signature"))
    assert signature is not None
    etree.SubElement(signature, f"{{{DS}}}Object").append(copy.deepcopy(original))
    evil.insert(1, signature)
    root.replace(original, evil)


def second_unsigned_assertion(root: Element) -> None:
    root.append(evil_copy(assertion_of(root), same_id=False))


def xsw_replace_keep_signature(root: Element) -> None:
    original = assertion_of(root)
    evil = evil_copy(original, same_id=True)
    evil.insert(1, copy.deepcopy(original.find(f"{{{DS}}}Signature")))  # type: ignore[arg-type]
    root.replace(original, evil)


def xsw_new_id_keep_signature(root: Element) -> None:
    original = assertion_of(root)
    evil = evil_copy(original, same_id=False)
    evil.insert(1, copy.deepcopy(original.find(f"{{{DS}}}Signature")))  # type: ignore[arg-type]
    root.replace(original, evil)


def moved_signature(root: Element) -> None:
    signature = assertion_of(root).find(f"{{{DS}}}Signature")
    assert signature is not None
    root.insert(1, signature)


def signature_into_subject(root: Element) -> None:
    original = assertion_of(root)
    signature = original.find(f"{{{DS}}}Signature")
    assert signature is not None
    original.find(saml_name("Subject")).append(signature)  # type: ignore[union-attr]


def evil_id_attribute_elsewhere(root: Element) -> None:
    etree.SubElement(root, f"{{{SAMLP}}}Extensions").set("ID", assertion_of(root).get("ID", ""))
