"""What `app create-saml --metadata-url/--metadata-cert/--encrypt`, `app refresh` and
`app settings` do, through the REST API and the console (issue 12: the console and the
API do everything the CLI does, on the same services)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.saml.core import metadata as md
from sekisho.saml.core.xml import format_instant
from sekisho.saml.models import Application
from tests.api.conftest import ApiClient
from tests.cli.test_saml_interop_cli import MetadataServer, _signed
from tests.web.saml_helpers import POST, REDIRECT, generate_sp_key, rich_sp_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def served() -> Iterator[MetadataServer]:
    """A loopback HTTP server for SP metadata."""
    server = MetadataServer()
    yield server
    server.close()


def _body(response) -> dict:
    return json.loads(response.content)


def test_api_signed_metadata_url_refresh_and_settings(
    admin_api: ApiClient, served: MetadataServer, clock: FrozenClock
) -> None:
    federation = generate_sp_key(clock.now())
    encryption = generate_sp_key(clock.now())
    until = format_instant(clock.now() + timedelta(days=7))
    served.body = _signed(rich_sp_metadata(slo_bindings=(REDIRECT,)), federation, valid_until=until)
    created = admin_api.post(
        "/applications",
        {
            "kind": "saml",
            "name": "sp",
            "metadata_url": served.url,
            "metadata_certificate": federation.certificate_pem,
            "encrypt_assertions": "never",
        },
    )
    assert created.status_code == 201, created.content
    app = _body(created)
    assert app["metadata"]["url"] == served.url and app["metadata"]["signature_required"]
    assert app["metadata"]["refreshed_at"] is not None and app["metadata"]["refresh_error"] == ""
    assert app["encryption"]["mode"] == "never" and len(app["single_logout"]) == 1
    assert md.NAMEID_TRANSIENT in app["name_id"]["allowed_formats"]  # a list, not its repr
    stored = Application.objects.get(name="sp")
    assert stored.metadata_url == served.url and stored.metadata_certificate

    # The SP adds an encryption key and an HTTP-POST logout: the refresh picks both up.
    served.body = _signed(
        rich_sp_metadata(slo_bindings=(REDIRECT, POST), encryption=encryption),
        federation,
        valid_until=until,
    )
    refreshed = admin_api.post("/applications/sp/refresh")
    assert refreshed.status_code == 200, refreshed.content
    assert len(_body(refreshed)["single_logout"]) == 2
    assert _body(refreshed)["encryption"]["sp_key"]

    # Tampered: refused naming the field, the old metadata kept, the failure recorded.
    served.body = served.body.replace(b"https://sp.example.test/acs", b"https://evil.example/acs")
    failed = admin_api.post("/applications/sp/refresh")
    problem = _body(failed)
    assert failed.status_code == 422 and failed["Content-Type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == "metadata" and "signature" in problem["detail"]
    kept = _body(admin_api.get("/applications/sp"))
    assert "signature" in kept["metadata"]["refresh_error"]
    assert Application.objects.get(name="sp").default_acs() == "https://sp.example.test/acs"
    failure = AuditRecord.objects.filter(event_name="UpdateApplication").last()
    assert failure is not None and failure.record["errorCode"] == "MetadataRefreshFailed"

    # `app settings`: NameID format, allowed formats, encryption (with If-Match).
    etag = admin_api.get("/applications/sp")["ETag"]
    patched = admin_api.patch(
        "/applications/sp",
        {
            "name_id_format": "emailAddress",
            "allowed_name_id_formats": ["unspecified"],
            "encrypt_assertions": "always",
            "encryption_algorithm": "aes128-gcm",
        },
        headers={"if-match": etag},
    )
    assert patched.status_code == 200, patched.content
    data = _body(patched)
    assert data["name_id"]["format"] == md.NAMEID_EMAIL
    assert data["name_id"]["value"] == "${user:email}"
    assert md.NAMEID_UNSPECIFIED in data["name_id"]["allowed_formats"]
    assert data["encryption"]["mode"] == "always"
    assert data["encryption"]["algorithm"] == "aes128-gcm"  # as written: it round-trips
    assert data["encryption"]["algorithm_uri"] == "http://www.w3.org/2009/xmlenc11#aes128-gcm"
    audited = AuditRecord.objects.filter(event_name="UpdateApplication").last()
    assert audited is not None and audited.record["requestParameters"]["encryptAssertions"] == (
        "always"
    )
    assert audited.record["userIdentity"]["principalId"].startswith("api:")


def test_api_settings_refusals_name_the_field(admin_api: ApiClient, clock: FrozenClock) -> None:
    created = admin_api.post(
        "/applications",
        {"kind": "saml", "name": "plain", "metadata_xml": rich_sp_metadata().decode()},
    )
    assert created.status_code == 201, created.content
    assert _body(created)["metadata"]["url"] == ""
    # Encryption required, and the SP's metadata has no key: refused, nothing changed.
    etag = admin_api.get("/applications/plain")["ETag"]
    refused = admin_api.patch(
        "/applications/plain",
        {"encrypt_assertions": "always", "display_name": "Changed"},
        headers={"if-match": etag},
    )
    assert refused.status_code == 422, refused.content
    assert _body(refused)["errors"][0]["field"] == "encrypt_assertions"
    app = Application.objects.get(name="plain")
    assert app.encrypt_assertions == "auto" and app.display_name == "plain"
    bad = admin_api.patch(
        "/applications/plain", {"encryption_algorithm": "rot13"}, headers={"if-match": etag}
    )
    assert bad.status_code == 422
    assert "encryption_algorithm" in _body(bad)["errors"][0]["field"]
    # A file has no URL to refresh from: one clear problem.
    no_url = admin_api.post("/applications/plain/refresh")
    assert no_url.status_code == 422 and "from a file" in _body(no_url)["detail"]
    # A certificate that is not one.
    junk = admin_api.post(
        "/applications",
        {
            "kind": "saml",
            "name": "junk",
            "metadata_url": "https://sp.example.test/metadata",
            "metadata_certificate": "not a certificate",
        },
    )
    assert junk.status_code == 422 and _body(junk)["errors"][0]["field"] == "metadata"
    assert not Application.objects.filter(name="junk").exists()
