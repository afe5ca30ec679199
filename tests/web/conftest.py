"""Fixtures shared by the web tests."""

from __future__ import annotations

import pytest

from sekisho.audit.writer import Actor
from sekisho.saml import services as saml
from sekisho.saml.models import Application
from tests.web.saml_helpers import sp_metadata


@pytest.fixture
def sp_app(db: None, actor: Actor) -> Application:
    """A generic SAML SP registered from its metadata (see saml_helpers)."""
    return saml.create_saml_app(
        name="sp",
        display_name="Example SP",
        metadata=sp_metadata(),
        entity_id=None,
        name_id_format="emailAddress",
        name_id="${user:email}",
        attributes=["mail=${user:email};basic", "groups=${user:groups};basic"],
        relay_state="",
        sign_response=True,
        require_signed_requests=False,
        actor=actor,
    )
