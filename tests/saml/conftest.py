"""Fixtures of the SAML core tests: keys, a fixed instant, deterministic IDs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from sekisho.saml.core.keys import SigningKey
from tests.saml import factory


@pytest.fixture(scope="session")
def idp_key() -> SigningKey:
    """The IdP's signing key."""
    return factory.idp_key()


@pytest.fixture(scope="session")
def attacker_key() -> SigningKey:
    """An untrusted key."""
    return factory.attacker_key()


@pytest.fixture
def now() -> datetime:
    """The instant every test builds and judges at."""
    return factory.NOW


@pytest.fixture
def new_id() -> Callable[[], str]:
    """Deterministic IDs."""
    return factory.id_source()
