"""pysaml2 as a real SP against Sekisho's own endpoints: Redirect and POST, signed and not."""

from __future__ import annotations

import html
import re
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
from sekisho.directory import services as directory
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.core.keys import generate_signing_key
from tests.conftest import sign_in_registering
from tests.web.saml_helpers import sso_answer
from tests.web.test_saml_web import posted

pytestmark = [pytest.mark.interop, pytest.mark.django_db]

SP_ENTITY = "https://pysaml2-sp.example.test/metadata"
SP_ACS = "https://pysaml2-sp.example.test/acs"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def make_sp(folder: Path, clock: FrozenClock, *, sign: bool) -> Saml2Client:
    """A pysaml2 SP that trusts Sekisho's live metadata document."""
    key = generate_signing_key(common_name="pysaml2-sp.example.test", now=clock.now())
    (folder / "sp.key").write_text(key.private_key_pem)
    (folder / "sp.crt").write_text(key.certificate_pem)
    settings: dict[str, Any] = {
        "entityid": SP_ENTITY,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
                "authn_requests_signed": sign,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format": ["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"],
                "signing_algorithm": RSA_SHA256,
                "digest_algorithm": SHA256,
            }
        },
        "key_file": str(folder / "sp.key"),
        "cert_file": str(folder / "sp.crt"),
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"inline": [saml.metadata_xml().decode()]},
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
    }
    config = SPConfig()
    config.load(settings)
    return Saml2Client(config=config)


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_sp_initiated_round_trip(
    client: Client, make_user, actor, clock: FrozenClock, tmp_path: Path, binding: str, sign: bool
) -> None:
    sp = make_sp(tmp_path, clock, sign=sign)
    app = saml.create_saml_app(
        name="pysaml2",
        display_name="pysaml2 SP",
        metadata=str(entity_descriptor(sp.config)).encode(),
        entity_id=None,
        name_id_format="persistent",
        name_id=None,
        attributes=["mail=${user:email};basic", "groups=${user:groups};basic"],
        relay_state="",
        sign_response=False,
        require_signed_requests=sign,
        actor=actor,
    )
    user = make_user("alice")
    group = directory.create_group("agents", actor=actor)
    directory.add_member(group, user, actor=actor)
    assignments.assign(app, user=user, actor=actor)
    sign_in_registering(client, clock, "alice")

    kwargs: dict[str, Any] = {"entityid": saml.idp_identity().entity_id, "relay_state": "rs-1"}
    if sign:
        kwargs.update(sign=True, sigalg=RSA_SHA256, digest_alg=SHA256)
    if binding == "redirect":
        request_id, info = sp.prepare_for_authenticate(binding=BINDING_HTTP_REDIRECT, **kwargs)
        location = urlsplit(dict(info["headers"])["Location"])
        response = client.get(location.path + "?" + location.query)
    else:
        request_id, info = sp.prepare_for_authenticate(binding=BINDING_HTTP_POST, **kwargs)
        fields = dict(re.findall(r'name="(SAMLRequest|RelayState)" value="([^"]*)"', info["data"]))
        response = client.post("/saml/sso", {k: html.unescape(v) for k, v in fields.items()})
    answer = sso_answer(client, response)
    assert answer.status_code == 200, response.content.decode()[:2000]
    fields = posted(answer.content)
    assert fields["action"] == SP_ACS and fields["RelayState"] == "rs-1"

    result = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert result is not None and result.in_response_to == request_id
    subject = result.get_subject()
    assert subject.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert subject.text and "alice" not in subject.text  # opaque per SP
    assert result.ava == {"mail": ["alice@example.com"], "groups": ["agents"]}


def test_unsigned_request_refused_when_signatures_required(
    client: Client, actor, clock: FrozenClock, tmp_path: Path
) -> None:
    signer = make_sp(tmp_path, clock, sign=True)
    saml.create_saml_app(
        name="pysaml2",
        display_name=None,
        metadata=str(entity_descriptor(signer.config)).encode(),
        entity_id=None,
        name_id_format="persistent",
        name_id=None,
        attributes=[],
        relay_state="",
        sign_response=False,
        require_signed_requests=True,
        actor=actor,
    )
    _request_id, info = signer.prepare_for_authenticate(
        entityid=saml.idp_identity().entity_id, binding=BINDING_HTTP_REDIRECT, sign=False
    )
    location = urlsplit(dict(info["headers"])["Location"])
    response = client.get(location.path + "?" + location.query)
    assert response.status_code == 403
