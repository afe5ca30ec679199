"""pysaml2 (xmlsec1, Debian's) decrypts the assertions Sekisho encrypts for it: GCM and CBC."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor

from sekisho.clock import FrozenClock
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.core.keys import generate_signing_key
from tests.conftest import sign_in_registering
from tests.web.saml_helpers import sso_answer
from tests.web.test_saml_web import posted

pytestmark = [pytest.mark.interop, pytest.mark.django_db]

SP_ENTITY = "https://pysaml2-enc.example.test/metadata"
SP_ACS = "https://pysaml2-enc.example.test/acs"


def _sp(folder: Path, clock: FrozenClock) -> Saml2Client:
    key = generate_signing_key(common_name="pysaml2-enc.example.test", now=clock.now())
    (folder / "sp.key").write_text(key.private_key_pem)
    (folder / "sp.crt").write_text(key.certificate_pem)
    settings: dict[str, Any] = {
        "entityid": SP_ENTITY,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format": ["urn:oasis:names:tc:SAML:2.0:nameid-format:transient"],
            }
        },
        "key_file": str(folder / "sp.key"),
        "cert_file": str(folder / "sp.crt"),
        # Publishes a KeyDescriptor use="encryption" and decrypts with this key.
        "encryption_keypairs": [
            {"key_file": str(folder / "sp.key"), "cert_file": str(folder / "sp.crt")}
        ],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"inline": [saml.metadata_xml().decode()]},
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
    }
    config = SPConfig()
    config.load(settings)
    return Saml2Client(config=config)


@pytest.mark.parametrize("algorithm", ["auto", "aes128-cbc", "aes256-cbc", "aes128-gcm"])
def test_pysaml2_decrypts(
    client: Client, make_user, actor, clock: FrozenClock, tmp_path: Path, algorithm: str
) -> None:
    sp = _sp(tmp_path, clock)
    app = saml.create_saml_app(
        name="pysaml2-enc",
        display_name=None,
        metadata=str(entity_descriptor(sp.config)).encode(),
        entity_id=None,
        name_id_format=None,
        name_id=None,
        attributes=["mail=${user:email};basic"],
        relay_state="",
        sign_response=False,
        require_signed_requests=False,
        actor=actor,
    )
    assert app.sp_encryption_certificates and app.encrypt_assertions == "auto"
    saml.update_app_settings(app, actor=actor, encryption_algorithm=algorithm)
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    request_id, info = sp.prepare_for_authenticate(
        entityid=saml.idp_identity().entity_id, binding=BINDING_HTTP_REDIRECT
    )
    location = urlsplit(dict(info["headers"])["Location"])
    started = client.get(location.path + "?" + location.query)
    fields = posted(sso_answer(client, started).content)
    assert b"EncryptedAssertion" in base64.b64decode(fields["SAMLResponse"])
    result = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert result is not None and result.in_response_to == request_id
    assert result.ava == {"mail": ["alice@example.com"]}
    assert result.get_subject().format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
