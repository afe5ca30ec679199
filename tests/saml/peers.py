"""Configurations of the independent SAML peers (pysaml2) used by tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saml2 import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.metadata import IdpIdentity, build_idp_metadata
from tests.saml import factory

XMLSEC1 = "/usr/bin/xmlsec1"
SSO_URL = "https://idp.sekisho.test/saml/sso"
ARTIFACT_ACS_URL = "https://sp.example.test/acs/artifact"


def idp_metadata(*, want_authn_requests_signed: bool = False) -> bytes:
    """Sekisho's IdP metadata for the test key."""
    return build_idp_metadata(
        IdpIdentity(
            entity_id=factory.IDP_ENTITY_ID,
            sso_redirect_url=SSO_URL,
            sso_post_url=SSO_URL,
            signing_certificate_pem=factory.idp_key().certificate_pem,
        ),
        want_authn_requests_signed=want_authn_requests_signed,
    )


def write_key(folder: Path, key: SigningKey) -> tuple[str, str]:
    """Write a key and its certificate as files (pysaml2 reads files)."""
    key_file = folder / "sp.key"
    cert_file = folder / "sp.crt"
    key_file.write_text(key.private_key_pem)
    cert_file.write_text(key.certificate_pem)
    return str(key_file), str(cert_file)


def sp_config(folder: Path, key: SigningKey, *, sign_requests: bool) -> SPConfig:
    """An in-memory pysaml2 SP configuration trusting Sekisho's metadata."""
    key_file, cert_file = write_key(folder, key)
    settings: dict[str, Any] = {
        "entityid": factory.SP_ENTITY_ID,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [
                        (factory.ACS_URL, BINDING_HTTP_POST),
                        (ARTIFACT_ACS_URL, BINDING_HTTP_ARTIFACT),
                    ],
                },
                "authn_requests_signed": sign_requests,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format": ["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"],
                "signing_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            }
        },
        "key_file": key_file,
        "cert_file": cert_file,
        "xmlsec_binary": XMLSEC1,
        "metadata": {"inline": [idp_metadata().decode()]},
        "accepted_time_diff": 60,
    }
    config = SPConfig()
    config.load(settings)
    return config


def sp_client(folder: Path, key: SigningKey, *, sign_requests: bool) -> Saml2Client:
    """A pysaml2 SP."""
    return Saml2Client(config=sp_config(folder, key, sign_requests=sign_requests))


__all__ = ["BINDING_HTTP_POST", "BINDING_HTTP_REDIRECT", "sp_client", "sp_config"]
