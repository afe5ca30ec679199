"""`app create-saml` from a metadata URL (signed or not), `app refresh`, `app settings`.

The SP's metadata is served by a small HTTP server on 127.0.0.1 (plain http is allowed
for loopback, as for a local test SP); every error is one line with exit status 1.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.saml.core.dsig import sign_element
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.xml import format_instant
from sekisho.saml.models import Application
from tests.cli.test_cli import run
from tests.web.saml_helpers import POST, REDIRECT, generate_sp_key, rich_sp_metadata

pytestmark = pytest.mark.django_db


class MetadataServer:
    """Serves whatever bytes the test puts in ``body`` at /metadata (or ``status``)."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(server.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                if server.status in (301, 302):
                    self.send_header("Location", "https://elsewhere.example/metadata")
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/metadata"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def served() -> Iterator[MetadataServer]:
    """A loopback HTTP server for SP metadata."""
    server = MetadataServer()
    yield server
    server.close()


def _signed(xml: bytes, key: SigningKey, *, valid_until: str | None = None) -> bytes:
    root = etree.fromstring(xml)
    root.set("ID", "_md1")
    if valid_until is not None:
        root.set("validUntil", valid_until)
    sign_element(root, key, insert_after=None)
    return etree.tostring(root)


def test_create_from_a_signed_url_and_refresh(
    capsys, served: MetadataServer, clock: FrozenClock, tmp_path: Path
) -> None:
    federation = generate_sp_key(clock.now())
    (tmp_path / "federation.crt").write_text(federation.certificate_pem)
    until = format_instant(clock.now() + timedelta(days=7))
    served.body = _signed(rich_sp_metadata(slo_bindings=(REDIRECT,)), federation, valid_until=until)
    code, out, err = run(
        capsys, "app", "create-saml", "sp", "--metadata-url", served.url,
        "--metadata-cert", str(tmp_path / "federation.crt"),
    )  # fmt: skip
    assert code == 0, err
    app = Application.objects.get(name="sp")
    assert app.metadata_url == served.url and app.metadata_valid_until is not None
    assert app.slo_endpoints[0]["binding"] == REDIRECT

    # The SP adds an HTTP-POST SingleLogoutService: a refresh picks it up.
    served.body = _signed(
        rich_sp_metadata(slo_bindings=(REDIRECT, POST)), federation, valid_until=until
    )
    code, out, err = run(capsys, "app", "refresh", "sp")
    assert code == 0 and out.startswith(f"refreshed sp from {served.url}"), err
    assert len(Application.objects.get(name="sp").slo_endpoints) == 2

    # Tampered (or signed by someone else): refused, and the old metadata stays.
    served.body = served.body.replace(b"https://sp.example.test/acs", b"https://evil.example/acs")
    code, out, err = run(capsys, "app", "refresh", "sp")
    assert code == 1 and err.count("\n") == 1
    assert "signature" in err and "kept the previous metadata" in err
    kept = Application.objects.get(name="sp")
    assert kept.default_acs() == "https://sp.example.test/acs"
    assert "signature" in kept.metadata_refresh_error
    failure = AuditRecord.objects.filter(event_name="UpdateApplication").last()
    assert failure is not None and failure.record["errorCode"] == "MetadataRefreshFailed"

    # Expired metadata (validUntil in the past) is refused the same way.
    served.body = _signed(
        rich_sp_metadata(),
        federation,
        valid_until=format_instant(clock.now() - timedelta(minutes=1)),
    )
    code, _, err = run(capsys, "app", "refresh", "--all")
    assert code == 1 and "expired: validUntil" in err


def test_a_certificate_makes_the_signature_mandatory(
    capsys, served: MetadataServer, clock: FrozenClock, tmp_path: Path
) -> None:
    (tmp_path / "c.crt").write_text(generate_sp_key(clock.now()).certificate_pem)
    served.body = rich_sp_metadata()
    code, _, err = run(
        capsys, "app", "create-saml", "sp", "--metadata-url", served.url,
        "--metadata-cert", str(tmp_path / "c.crt"),
    )  # fmt: skip
    assert code == 1 and "unsigned document" in err and err.count("\n") == 1
    (tmp_path / "junk.crt").write_text("junk")
    code, _, err = run(
        capsys, "app", "create-saml", "sp", "--metadata-url", served.url,
        "--metadata-cert", str(tmp_path / "junk.crt"),
    )  # fmt: skip
    assert code == 1 and err.startswith("sekisho: error: --metadata-cert:")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://sp.example.test/metadata", "plain http is allowed only for localhost"),
        ("file:///etc/passwd", "expected an https:// URL"),
        ("https://127.0.0.1:1/metadata", "fetching"),
    ],
)
def test_metadata_urls_sekisho_will_not_fetch(capsys, url: str, message: str) -> None:
    code, _, err = run(capsys, "app", "create-saml", "sp", "--metadata-url", url)
    assert code == 1 and message in err and err.count("\n") == 1


def test_http_errors_and_redirects_are_one_line(capsys, served: MetadataServer) -> None:
    served.status = 404
    code, _, err = run(capsys, "app", "create-saml", "sp", "--metadata-url", served.url)
    assert code == 1 and "HTTP 404" in err
    served.status = 302
    code, _, err = run(capsys, "app", "create-saml", "sp", "--metadata-url", served.url)
    assert code == 1 and "redirected to 'https://elsewhere.example/metadata'" in err


@pytest.mark.parametrize(
    ("acs", "message"),
    [
        ("javascript:alert(1)", "expected an https:// URL"),
        ("data:text/html,hi", "expected an https:// URL"),
        ("/acs", "expected an https:// URL"),
        ("http://sp.example.test/acs", "plain http is allowed only for localhost"),
        ("https://sp.example.test/a&#10;b", "control characters"),
    ],
)
def test_bad_acs_in_a_metadata_file_is_one_line(
    capsys, tmp_path: Path, acs: str, message: str
) -> None:
    path = tmp_path / "sp.xml"
    path.write_bytes(rich_sp_metadata(acs=acs))
    code, _, err = run(capsys, "app", "create-saml", "sp", "--metadata", str(path))
    assert code == 1 and message in err
    assert err.count("\n") == 1 and err.startswith("sekisho: error: SP metadata for ")


def test_refresh_needs_a_url(capsys, tmp_path: Path) -> None:
    path = tmp_path / "sp.xml"
    path.write_bytes(rich_sp_metadata())
    assert run(capsys, "app", "create-saml", "sp", "--metadata", str(path))[0] == 0
    code, _, err = run(capsys, "app", "refresh", "sp")
    assert code == 1 and "created from a file" in err
    assert run(capsys, "app", "refresh")[0] == 1  # neither names nor --all


def test_settings_for_name_id_and_encryption(capsys, tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "sp.xml"
    path.write_bytes(rich_sp_metadata(encryption=generate_sp_key(clock.now())))
    assert run(capsys, "app", "create-saml", "sp", "--metadata", str(path))[0] == 0
    code, out, err = run(
        capsys, "app", "settings", "sp", "--name-id-format", "persistent",
        "--allow-name-id-formats", "persistent,transient", "--encryption-algorithm", "aes128-cbc",
    )  # fmt: skip
    assert code == 0, err
    shown = json.loads(out)
    assert shown["name_id"]["allowed_formats"] == [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    ]
    assert shown["encryption"]["algorithm"] == "aes128-cbc"
    assert shown["encryption"]["algorithm_uri"] == "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
    assert shown["encryption"]["sp_key"] is True
    code, _, err = run(capsys, "app", "settings", "sp", "--allow-name-id-formats", "x509")
    assert code == 1 and err.count("\n") == 1
    code, _, err = run(capsys, "app", "settings", "sp", "--encrypt", "sometimes")
    assert code == 2  # argparse: a usage error
    code, _, err = run(
        capsys, "app", "settings", "sp", "--name-id-format", "emailAddress", "--name-id", ""
    )
    assert code == 1 and "needs a --name-id expression" in err


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Signed, time-limited metadata with an organization and contacts (configuration)."""
    from sekisho.config import get_config

    for name, value in {
        "SEKISHO_SCOPE": "example.org",
        "SEKISHO_METADATA_SIGN": "true",
        "SEKISHO_METADATA_VALID_DAYS": "7",
        "SEKISHO_METADATA_CACHE_SECONDS": "3600",
        "SEKISHO_ORG_NAME": "Example",
        "SEKISHO_ORG_URL": "https://www.example.org/",
        "SEKISHO_CONTACT_TECHNICAL": "Ops <ops@example.org>",
    }.items():
        monkeypatch.setenv(name, value)
    get_config.cache_clear()
    yield
    monkeypatch.undo()
    get_config.cache_clear()


def test_published_metadata_follows_the_configuration(
    capsys, configured: None, clock: FrozenClock
) -> None:
    from sekisho.saml import services as saml
    from sekisho.saml.core.dsig import verify_element

    code, out, _ = run(capsys, "metadata")
    assert code == 0
    root = etree.fromstring(out.encode())
    ns = {
        "md": "urn:oasis:names:tc:SAML:2.0:metadata",
        "shibmd": "urn:mace:shibboleth:metadata:1.0",
    }
    assert root.get("validUntil") == format_instant(clock.now() + timedelta(days=7))
    assert root.get("cacheDuration") == "PT3600S"
    assert root.xpath("//shibmd:Scope/text()", namespaces=ns) == ["example.org"]
    assert root.xpath("md:Organization/md:OrganizationURL/text()", namespaces=ns) == [
        "https://www.example.org/"
    ]
    assert root.xpath("md:ContactPerson/md:EmailAddress/text()", namespaces=ns) == [
        "mailto:ops@example.org"
    ]
    verify_element(root, trusted_certificates=[saml.signing_key().certificate_pem])
