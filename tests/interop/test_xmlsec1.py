"""The reference xmlsec1 command verifies Sekisho's signatures (and refuses tampering)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.saml import factory

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("xmlsec1") is None,
        reason="xmlsec1 is not installed (Debian package xmlsec1; `make test` installs it)",
    ),
]

ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"


def xmlsec1_verify(tmp_path: Path, xml: bytes, *id_nodes: str) -> subprocess.CompletedProcess[str]:
    document = tmp_path / "response.xml"
    document.write_bytes(xml)
    cert = tmp_path / "idp.pem"
    cert.write_text(factory.idp_key().certificate_pem)
    command = [shutil.which("xmlsec1") or "xmlsec1", "--verify", "--pubkey-cert-pem", str(cert)]
    for node in id_nodes:
        command += ["--id-attr:ID", node]
    command.append(str(document))
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_assertion_signature_verifies(tmp_path: Path) -> None:
    result = xmlsec1_verify(tmp_path, factory.connect_response(), ASSERTION)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


def test_response_signature_verifies(tmp_path: Path) -> None:
    xml = factory.connect_response(sign_response=True)
    # xmlsec1 checks the first ds:Signature in document order: the Response's.
    result = xmlsec1_verify(tmp_path, xml, RESPONSE, ASSERTION)
    assert result.returncode == 0, result.stderr


def test_xmlsec_path_signature_verifies(tmp_path: Path) -> None:
    from lxml import etree

    from sekisho.saml.core.dsig import sign_element

    root = etree.fromstring(factory.connect_response())
    assertion = root[2]
    assertion.remove(assertion[1])
    sign_element(assertion, factory.idp_key(), insert_after=assertion[0], use_xmlsec=True)
    result = xmlsec1_verify(tmp_path, etree.tostring(root), ASSERTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("sign_response", [False, True])
def test_tampered_fails(tmp_path: Path, sign_response: bool) -> None:
    xml = factory.connect_response(sign_response=sign_response).replace(
        b"role/ConnectAgent", b"role/Administrator"
    )
    result = xmlsec1_verify(tmp_path, xml, RESPONSE, ASSERTION)
    assert result.returncode != 0
    assert "FAIL" in result.stdout + result.stderr


def test_other_key_fails(tmp_path: Path) -> None:
    xml = factory.connect_response(key=factory.attacker_key())
    result = xmlsec1_verify(tmp_path, xml, ASSERTION)
    assert result.returncode != 0
