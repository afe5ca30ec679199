"""Builders shared by the SAML unit and interop tests (no Django)."""

from __future__ import annotations

import base64
import itertools
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sekisho.saml.core import presets
from sekisho.saml.core.attributes import UserAttributes
from sekisho.saml.core.keys import SigningKey, generate_signing_key
from sekisho.saml.core.response import AssertionSpec, Attribute, build_response

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
IDP_ENTITY_ID = "https://idp.sekisho.test/saml/metadata"
SP_ENTITY_ID = "https://sp.example.test/metadata"
ACS_URL = "https://sp.example.test/acs"
CONNECT_INSTANCE = "0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7"


@cache
def idp_key() -> SigningKey:
    """The test IdP's key (generated once per run)."""
    return generate_signing_key(common_name="idp.sekisho.test", now=NOW)


@cache
def attacker_key() -> SigningKey:
    """A key nobody trusts."""
    return generate_signing_key(common_name="attacker.example", now=NOW)


def id_source(prefix: str = "_id") -> Callable[[], str]:
    """A deterministic xs:ID source."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):04d}"


def spec(**overrides: Any) -> AssertionSpec:
    """A generic SP AssertionSpec, with overrides."""
    base = AssertionSpec(
        issuer=IDP_ENTITY_ID,
        destination=ACS_URL,
        audience=SP_ENTITY_ID,
        recipient=ACS_URL,
        in_response_to=None,
        name_id="alice@example.test",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        authn_instant=NOW,
        session_index="_session1",
        mfa_used=False,
        attributes=(
            Attribute(name="email", values=("alice@example.test",)),
            Attribute(name="groups", values=("admins", "agents")),
        ),
    )
    return replace(base, **overrides)


def response_xml(key: SigningKey | None = None, now: datetime = NOW, **overrides: Any) -> bytes:
    """A signed Response built by Sekisho."""
    return build_response(spec(**overrides), key=key or idp_key(), now=now, new_id=id_source())


def b64(xml: bytes) -> str:
    """HTTP-POST encoding."""
    return base64.b64encode(xml).decode("ascii")


def deflate_b64(xml: bytes) -> str:
    """HTTP-Redirect encoding: raw DEFLATE then base64 (saml-bindings §3.4.4.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def connect_app() -> presets.AppDefinition:
    """The Amazon Connect preset used across tests."""
    return presets.amazon_connect(
        name="connect",
        region="eu-west-2",
        instance_id=CONNECT_INSTANCE,
        account_id="123456789012",
        role_name="ConnectAgent",
        provider_name="Sekisho",
        destination="ccp",
        session_duration=3600,
    )


def alice() -> UserAttributes:
    """A typical user."""
    return UserAttributes(
        uid="4f1c2b9e-0000-4000-8000-000000000001",
        username="alice",
        email="alice@example.test",
        display_name="Alice Example",
        given_name="Alice",
        family_name="Example",
        groups=("agents", "supervisors"),
        scope="example.test",
    )


def connect_response(
    key: SigningKey | None = None, now: datetime = NOW, **spec_overrides: Any
) -> bytes:
    """The Amazon Connect Response for alice, as a launch would build it."""
    app = connect_app()
    base = presets.assertion_spec_for(
        app,
        user=alice(),
        issuer=IDP_ENTITY_ID,
        authn_instant=now,
        session_index="_session1",
        mfa_used=True,
    )
    return build_response(
        replace(base, **spec_overrides), key=key or idp_key(), now=now, new_id=id_source()
    )
