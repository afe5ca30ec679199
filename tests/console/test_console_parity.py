"""The console does what the CLI does (issue 12): `app create-saml --metadata-url
--metadata-cert --encrypt`, `app refresh`, `app settings`, `user set-radius-username`;
and every page keeps the strict CSP with no script for core actions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.saml.core import metadata as md
from sekisho.saml.core.xml import format_instant
from sekisho.saml.models import Application
from tests.cli.test_saml_interop_cli import MetadataServer, _signed
from tests.web.saml_helpers import generate_sp_key, rich_sp_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def served() -> Iterator[MetadataServer]:
    """A loopback HTTP server for SP metadata."""
    server = MetadataServer()
    yield server
    server.close()


def test_console_signed_metadata_url_refresh_and_settings(
    console_as, served: MetadataServer, clock: FrozenClock
) -> None:
    federation = generate_sp_key(clock.now())
    until = format_instant(clock.now() + timedelta(days=7))
    served.body = _signed(rich_sp_metadata(), federation, valid_until=until)
    admin = console_as("admin")
    made = admin.post(
        "/admin/new-app",
        {
            "kind": "saml",
            "name": "sp",
            "metadata_url": served.url,
            "metadata_certificate": federation.certificate_pem,
            "encrypt_assertions": "never",
        },
        page="/admin/new-app?kind=saml",
    )
    assert made.status_code == 302 and made["Location"] == "/admin/apps/sp", made.content[:500]
    app = Application.objects.get(name="sp")
    assert app.metadata_url == served.url and app.metadata_certificate
    assert app.encrypt_assertions == "never"
    shown = admin.get("/admin/apps/sp")
    assert served.url.encode() in shown.content and b'id="refresh-metadata"' in shown.content

    served.body = b"<not metadata"
    failed = admin.post("/admin/apps/sp", {"action": "refresh"}, page="/admin/apps/sp")
    assert failed.status_code == 400 and b'id="refresh-error"' in failed.content
    assert Application.objects.get(name="sp").metadata_refresh_error

    served.body = _signed(rich_sp_metadata(), federation, valid_until=until)
    done = admin.post("/admin/apps/sp", {"action": "refresh"}, page="/admin/apps/sp")
    assert done.status_code == 302
    assert Application.objects.get(name="sp").metadata_refresh_error == ""

    saved = admin.post(
        "/admin/apps/sp",
        {
            "action": "saml_settings",
            "name_id_format": "persistent",
            "allowed_name_id_formats": ["emailAddress"],
            "encrypt_assertions": "auto",
            "encryption_algorithm": "aes256-gcm",
        },
        page="/admin/apps/sp",
    )
    assert saved.status_code == 302, saved.content[:500]
    app = Application.objects.get(name="sp")
    assert app.name_id_format == md.NAMEID_PERSISTENT and md.NAMEID_EMAIL in app.name_id_formats
    assert app.encrypt_assertions == "auto" and app.encryption_algorithm
    audited = AuditRecord.objects.filter(event_name="UpdateApplication").last()
    assert audited is not None
    assert audited.record["userIdentity"]["principalId"].startswith("console:")

    # Refused (no encryption key to encrypt with), in Japanese, nothing changed.
    admin.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    refused = admin.post(
        "/admin/apps/sp",
        {"action": "saml_settings", "name_id_format": "persistent", "encrypt_assertions": "always"},
        page="/admin/apps/sp",
    )
    assert refused.status_code == 400
    assert "値が正しくありません".encode() in refused.content
    assert Application.objects.get(name="sp").encrypt_assertions == "auto"
    japanese = admin.get("/admin/apps/sp")
    assert "SP のメタデータを再取得".encode() in japanese.content


def test_console_sets_the_radius_username_as_the_cli_does(console_as, make_user) -> None:
    from sekisho.mfa.radius_admin import radius_username

    user = make_user("agent1")
    admin = console_as("admin")
    form = {
        "action": "update",
        "email": "agent1@example.com",
        "display_name": "Agent One",
        "time_zone": "",
        "radius_username": "A0001",
    }
    done = admin.post("/admin/users/agent1", form, page="/admin/users/agent1")
    assert done.status_code == 302, done.content[:300]
    assert radius_username(user) == "A0001"
    assert b'value="A0001"' in admin.get("/admin/users/agent1").content
    admin.post("/admin/users/agent1", {**form, "radius_username": ""}, page="/admin/users/agent1")
    assert radius_username(user) == "agent1"
    admin.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    assert "RADIUS のユーザー名".encode() in admin.get("/admin/users/agent1").content


def test_every_console_page_keeps_the_strict_csp_and_needs_no_script(
    console_as, connect_app, make_user, actor
) -> None:
    """Core actions are plain forms: no script, no inline style or handler, strict CSP."""
    import re

    from sekisho.directory import services as directory
    from tests.console.test_authorization_matrix import CONSOLE_ACTIONS

    make_user("target")
    directory.create_group("team", actor=actor)
    admin = console_as("admin")
    inline = re.compile(rb"<script|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    for method, path, _form, _permission in CONSOLE_ACTIONS:
        if method != "GET":
            continue
        response = admin.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        if response["Content-Type"].startswith("text/html"):
            assert not inline.search(response.content), (path, inline.search(response.content))
