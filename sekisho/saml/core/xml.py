"""Hardened XML parsing, SAML namespaces and value helpers (saml-core-2.0-os §1.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lxml import etree

from sekisho.saml.errors import MalformedMessage, MappingError

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"

BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_ARTIFACT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"

DEFAULT_MAX_BYTES = 256 * 1024

Element = etree._Element

# XML 1.0 §2.2 Char production: anything else cannot be carried by any XML document.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# xs:NCName approximated for ASCII plus any non-ASCII letter; IDs we accept are used in
# "#id" references, so anything outside this is refused rather than interpreted.
_NCNAME = re.compile(r"^[A-Za-z_\u00c0-\uffff][A-Za-z0-9_.\-\u00b7\u00c0-\uffff]*$")
# xs:dateTime as profiled by saml-core §1.3.3 (UTC); fractional seconds and an explicit
# offset are tolerated on input and normalised to UTC.
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)


def qn(namespace: str, local: str) -> str:
    """Return the Clark-notation name ``{namespace}local`` lxml uses."""
    return f"{{{namespace}}}{local}"


def _new_parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share between threads, and
    # creating one costs microseconds. Comments are kept on purpose: the inspector must
    # see comment injection (e.g. inside NameID) rather than have it silently removed.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        recover=False,
    )


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    """Parse untrusted XML: no DTD of any kind, no entities, no network, bounded size.

    Raises:
        MalformedMessage: too large, not well-formed, or carrying a DOCTYPE/entities.
    """
    if not isinstance(data, bytes):
        raise MalformedMessage(f"expected XML as bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise MalformedMessage(
            f"XML message too large: expected at most {max_bytes} bytes, got {len(data)}"
        )
    if not data.strip():
        raise MalformedMessage("expected an XML document, got an empty message")
    try:
        tree = etree.fromstring(data, parser=_new_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise MalformedMessage(f"message is not well-formed XML: {exc}") from exc
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # SAML messages never need a DTD (saml-core §1.3); any DOCTYPE is an attack vector
        # (XXE, entity expansion), so it is refused outright rather than neutralised.
        raise MalformedMessage("expected no DOCTYPE in a SAML message, got a DOCTYPE declaration")
    root = tree.getroot()
    for node in root.iter(etree.Entity):
        raise MalformedMessage(f"expected no entity references, got {node.text!r}")
    return root


def check_xml_text(value: str, *, what: str) -> str:
    """Return ``value`` if XML 1.0 can carry it, else raise MappingError naming ``what``."""
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise MappingError(
            f"{what} contains U+{ord(bad.group()):04X} at position {bad.start()}, "
            "which XML 1.0 cannot carry; expected printable text"
        )
    return value


def is_ncname(value: str) -> bool:
    """Tell whether ``value`` is usable as an xs:ID (saml-core §1.3.4)."""
    return _NCNAME.match(value) is not None


def format_instant(moment: datetime) -> str:
    """Format an aware datetime as SAML's UTC xs:dateTime without fraction (saml-core §1.3.3)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expected an aware datetime, got a naive one")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str, *, what: str) -> datetime:
    """Parse an xs:dateTime into an aware UTC datetime (saml-core §1.3.3).

    Raises:
        MalformedMessage: when ``value`` is not an xs:dateTime.
    """
    match = _DATETIME.match(value.strip())
    if match is None:
        raise MalformedMessage(
            f"{what}: expected an xs:dateTime like 2026-01-01T00:00:00Z, got {value[:64]!r}"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=UTC,
        )
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            offset_minutes = sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
            moment = moment - timedelta(minutes=offset_minutes)
    except (ValueError, OverflowError) as exc:
        raise MalformedMessage(f"{what}: invalid date/time {value[:64]!r}: {exc}") from exc
    return moment


def parse_bool(value: str | None, *, what: str, default: bool | None) -> bool | None:
    """Parse an xs:boolean attribute ("true"/"false"/"1"/"0"), ``default`` when absent."""
    if value is None:
        return default
    stripped = value.strip()
    if stripped in ("true", "1"):
        return True
    if stripped in ("false", "0"):
        return False
    raise MalformedMessage(f"{what}: expected xs:boolean true/false/1/0, got {value[:32]!r}")


def children(element: Element, namespace: str, local: str) -> list[Element]:
    """Return the direct children of ``element`` named ``{namespace}local``."""
    return list(element.iterchildren(qn(namespace, local)))


def only_child(element: Element, namespace: str, local: str, *, required: bool) -> Element | None:
    """Return the single ``{namespace}local`` child, None when absent and optional.

    Raises:
        MalformedMessage: when it occurs more than once, or is required and absent.
    """
    found = children(element, namespace, local)
    if len(found) > 1:
        raise MalformedMessage(
            f"expected at most one <{local}> in <{etree.QName(element).localname}>, "
            f"got {len(found)}"
        )
    if not found:
        if required:
            raise MalformedMessage(
                f"expected a <{local}> in <{etree.QName(element).localname}>, got none"
            )
        return None
    return found[0]


def element_text(element: Element) -> str:
    """Return all character data of ``element`` (comments excluded, never only the first node).

    Reading only ``element.text`` would stop at the first comment, which is exactly the
    comment-injection bug class (CVE-2017-11427 family).
    """
    return "".join(_text_nodes(element))


def _text_nodes(element: Element) -> list[str]:
    parts: list[str] = []
    if element.text:
        parts.append(element.text)
    for child in element:
        if isinstance(child.tag, str):
            parts.extend(_text_nodes(child))
        if child.tail:
            parts.append(child.tail)
    return parts


def localname(element: Element) -> str:
    """Return the local part of an element's tag (empty for comments and PIs)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def tag_of(element: Element) -> str:
    """Return an element's tag as text (``{ns}local``), for messages."""
    tag = element.tag
    return tag if isinstance(tag, str) else repr(tag)


def namespace_of(element: Element) -> str | None:
    """Return the namespace URI of an element's tag."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return None
