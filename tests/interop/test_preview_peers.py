"""`sekisho saml preview` for Amazon Connect, judged by python3-saml (strict) and xmlsec1."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from sekisho.cli.main import main
from sekisho.saml import services as saml

pytestmark = [pytest.mark.interop, pytest.mark.django_db]

AWS_ACS = "https://signin.aws.amazon.com/saml"
REQUEST_DATA = {"https": "on", "http_host": "signin.aws.amazon.com", "script_name": "/saml"}
ASSERTION_ID_ATTR = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"


@pytest.fixture
def preview(capsys, monkeypatch) -> str:
    """The base64 SAMLResponse the CLI prints for agent1 and the seed's Connect app."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    assert (
        main(["user", "create", "agent1", "--email", "agent1@example.com", "--password-stdin"]) == 0
    )
    assert (
        main(
            [
                "app",
                "create-amazon-connect",
                "connect",
                "--region",
                "ap-northeast-1",
                "--instance-id",
                "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                "--account-id",
                "111122223333",
                "--role-name",
                "ConnectFederationRole",
                "--provider-name",
                "Sekisho",
                "--acs",
                "global",
            ]
        )
        == 0
    )
    assert main(["app", "assign", "connect", "--user", "agent1"]) == 0
    capsys.readouterr()
    assert main(["saml", "preview", "--app", "connect", "--user", "agent1"]) == 0
    return capsys.readouterr().out.strip()


def aws_settings() -> OneLogin_Saml2_Settings:
    """AWS sign-in as an SP (urn:amazon:webservices) trusting Sekisho's metadata document."""
    idp = OneLogin_Saml2_IdPMetadataParser.parse(saml.metadata_xml().decode())
    settings: dict[str, Any] = {
        "strict": True,
        "sp": {
            "entityId": "urn:amazon:webservices",
            "assertionConsumerService": {
                "url": AWS_ACS,
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
        },
        "security": {
            "wantAssertionsSigned": True,
            "wantNameId": True,
            "rejectDeprecatedAlgorithm": True,
        },
        "idp": idp["idp"],
    }
    return OneLogin_Saml2_Settings(settings, sp_validation_only=True)


def test_python3_saml_accepts_the_preview_in_strict_mode(preview: str) -> None:
    response = OneLogin_Saml2_Response(aws_settings(), preview)
    assert response.is_valid(REQUEST_DATA), response.get_error()
    assert response.get_nameid() == "agent1"
    attributes = response.get_attributes()
    assert attributes["https://aws.amazon.com/SAML/Attributes/Role"] == [
        "arn:aws:iam::111122223333:role/ConnectFederationRole,"
        "arn:aws:iam::111122223333:saml-provider/Sekisho"
    ]
    assert attributes["https://aws.amazon.com/SAML/Attributes/RoleSessionName"] == ["agent1"]


def test_python3_saml_rejects_an_edited_preview(preview: str) -> None:
    xml = base64.b64decode(preview).replace(b">agent1<", b">admin<")
    response = OneLogin_Saml2_Response(aws_settings(), base64.b64encode(xml).decode())
    assert not response.is_valid(REQUEST_DATA)


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="Debian's xmlsec1 is not installed")
def test_xmlsec1_verifies_the_preview(preview: str, tmp_path: Path) -> None:
    document = tmp_path / "response.xml"
    document.write_bytes(base64.b64decode(preview))
    certificate = tmp_path / "idp.crt"
    certificate.write_text(saml.signing_key().certificate_pem)
    command = [
        "xmlsec1",
        "--verify",
        "--pubkey-cert-pem",
        str(certificate),
        "--id-attr:ID",
        ASSERTION_ID_ATTR,
        str(document),
    ]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    document.write_bytes(base64.b64decode(preview).replace(b">agent1<", b">admin<"))
    assert subprocess.run(command, capture_output=True, check=False).returncode != 0
