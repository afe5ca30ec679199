"""Signing-key rotation: the next certificate is published first, then it signs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from sekisho.audit.writer import Actor
from sekisho.config import get_config
from sekisho.errors import ConfigError
from sekisho.saml import errors, keyring
from sekisho.saml import services as saml
from sekisho.saml.core.xml import DS

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of this test's own (the session's signing key stays untouched)."""
    config = dataclasses.replace(get_config(), data_dir=tmp_path)
    # The key files are found by the keyring (issue 11 moved them there), created by services.
    monkeypatch.setattr(saml, "get_config", lambda: config)
    monkeypatch.setattr(keyring, "get_config", lambda: config)
    saml.ensure_signing_key()
    return tmp_path


def _certificates() -> list[str]:
    root = etree.fromstring(saml.metadata_xml())
    return ["".join((node.text or "").split()) for node in root.iter(f"{{{DS}}}X509Certificate")]


def test_stage_then_switch(own_keys: Path, actor: Actor) -> None:
    first = saml.signing_key()
    assert saml.next_signing_key() is None
    assert _certificates() == [first.certificate_b64]

    staged, made = saml.stage_signing_key(actor=actor)
    assert made and staged.certificate_sha256 != first.certificate_sha256
    assert saml.stage_signing_key(actor=actor) == (staged, False)  # idempotent
    # Published beside the current one, which still signs.
    assert _certificates() == [first.certificate_b64, staged.certificate_b64]
    assert saml.signing_key() == first
    assert (own_keys / "idp-signing-next.key").stat().st_mode & 0o777 == 0o600

    old, new = saml.switch_signing_key(actor=actor)
    assert (old, new) == (first, staged)
    assert saml.signing_key() == staged
    assert saml.next_signing_key() is None
    assert _certificates() == [staged.certificate_b64]
    previous = (own_keys / "idp-signing-previous.crt").read_text()
    assert previous == first.certificate_pem
    assert (own_keys / "idp-signing.key").stat().st_mode & 0o777 == 0o600

    with pytest.raises(errors.SamlError, match="no next signing key is staged"):
        saml.switch_signing_key(actor=actor)


def test_a_key_and_certificate_that_differ_are_refused(
    own_keys: Path, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged, _ = saml.stage_signing_key(actor=actor)
    # The certificate of another key next to the current private key: never used as a pair.
    (own_keys / "idp-signing.crt").write_text(staged.certificate_pem)
    monkeypatch.setattr(keyring, "_PAIR_RETRIES", 1)
    with pytest.raises(ConfigError, match="hold a key and a certificate that differ"):
        saml.signing_key()
