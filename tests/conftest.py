"""Shared fixtures: signing keys, a controllable clock, users and sign-in helpers."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from hypothesis import settings as hypothesis_settings

from sekisho.audit.writer import Actor, RequestContext
from sekisho.clock import SYSTEM_CLOCK, FrozenClock
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.mfa import totp
from sekisho.saml import services as saml

# Chromium for tests/browser and tests/peers (one at a time, per module).
pytest_plugins = ["tests.chromium"]

PASSWORD = "correct horse battery staple"

# No per-example deadline: on a shared 2-core machine an example can take longer than
# hypothesis' default 200 ms without anything being wrong (the properties still hold).
hypothesis_settings.register_profile("sekisho", deadline=None)
hypothesis_settings.load_profile("sekisho")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the heavy tests marked ``once`` in a pass that another pass repeats."""
    if os.environ.get("SEKISHO_SKIP_ONCE") != "1":
        return
    skip = pytest.mark.skip(reason="heavy: runs in the PostgreSQL pass (SEKISHO_SKIP_ONCE)")
    for item in items:
        if item.get_closest_marker("once") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _signing_key() -> None:
    saml.ensure_signing_key()


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """A frozen clock wired into the web layer (TOTP steps, throttles, assertions)."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    saml.set_clock(frozen)
    yield frozen
    saml.set_clock(SYSTEM_CLOCK)


@pytest.fixture
def actor() -> Actor:
    return Actor(name="test", context=RequestContext(source_ip="127.0.0.1", user_agent="pytest"))


@pytest.fixture
def make_user(db: None, actor: Actor) -> Callable[..., User]:
    def make(
        username: str = "alice",
        *,
        password: str = PASSWORD,
        email: str | None = None,
        display_name: str | None = None,
    ) -> User:
        return directory.create_user(
            username=username,
            email=email or f"{username.lower()}@example.com",
            display_name=display_name,
            password=password,
            password_only_factor=False,
            actor=actor,
        )

    return make


@pytest.fixture
def connect_app(db: None, actor: Actor) -> object:
    return saml.create_amazon_connect_app(
        name="connect",
        display_name="Amazon Connect",
        region="ap-northeast-1",
        instance_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        account_id="111122223333",
        role_name="ConnectFederationRole",
        provider_name="Sekisho",
        destination="ccp",
        acs="regional",
        session_duration=43200,
        signin_url="http://localhost:8000/saml/inspector",
        console_url=None,
        actor=actor,
    )


def secret_from_page(html: str) -> str:
    """The base32 secret shown for manual entry on the registration page."""
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def password_step(client: Client, username: str = "alice", password: str = PASSWORD) -> str:
    response = client.post("/signin", {"username": username, "password": password, "next": "/apps"})
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def sign_in_registering(client: Client, clock: FrozenClock, username: str = "alice") -> str:
    """Password, then first-time TOTP registration; returns the TOTP secret."""
    assert password_step(client, username) == "/signin/mfa/register"
    page = client.get("/signin/mfa/register/totp")
    secret = secret_from_page(page.content.decode())
    code = totp.code_at(secret=secret, now=clock.now())
    shown = client.post("/signin/mfa/register/totp", {"code": code, "device_name": "phone"})
    assert shown.status_code == 200 and b"recovery-codes" in shown.content, shown.content[:500]
    done = client.post("/signin/continue")
    assert done.status_code == 302 and done["Location"] == "/apps", done.content[:500]
    return secret


@pytest.fixture
def own_keys(tmp_path, monkeypatch):
    """Key files of this test alone (a rotation must not change the other tests' key)."""
    import shutil

    from sekisho.config import get_config
    from sekisho.instance import SIGNING_CERT_FILE, SIGNING_KEY_FILE
    from sekisho.saml import keyring

    for name in (SIGNING_KEY_FILE, SIGNING_CERT_FILE):
        shutil.copy2(get_config().data_dir / name, tmp_path / name)
    from sekisho.saml import services as saml_services

    files = keyring._FILES

    def key_paths(kind: str = "current"):
        return tmp_path / files[kind][0], tmp_path / files[kind][1]

    # saml.services imports key_paths by name (ensure_signing_key): patch both.
    monkeypatch.setattr(keyring, "key_paths", key_paths)
    monkeypatch.setattr(saml_services, "key_paths", key_paths)
