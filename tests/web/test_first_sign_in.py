"""A temporary password is replaced at the first sign-in, before any session exists;
times are shown in the person's time zone, with the zone."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from sekisho.admin import users as admin_users
from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.clock import FrozenClock
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.mfa import totp
from tests.conftest import PASSWORD, secret_from_page

pytestmark = pytest.mark.django_db
TEMPORARY = "a temporary passphrase 42"
OWN = "my very own passphrase 77"
JA = {"accept-language": "ja"}


@pytest.fixture
def newcomer(db: None, actor: Actor) -> User:
    return admin_users.create_user(
        username="newcomer",
        email="new@example.com",
        password=TEMPORARY,
        temporary=True,
        actor=actor,
    )


def _factors(client: Client, clock: FrozenClock, password: str = TEMPORARY, **headers: str) -> None:
    """Password, then TOTP registration, then 'I saved them'."""
    client.post(
        "/signin", {"username": "newcomer", "password": password, "next": "/apps"}, headers=headers
    )
    page = client.get("/signin/mfa/register/totp", headers=headers)
    code = totp.code_at(secret=secret_from_page(page.content.decode()), now=clock.now())
    client.post(
        "/signin/mfa/register/totp", {"code": code, "device_name": "phone"}, headers=headers
    )


def test_no_session_until_the_password_is_replaced(newcomer: User, clock: FrozenClock) -> None:
    client = Client()
    _factors(client, clock)
    done = client.post("/signin/continue")
    assert done.status_code == 302 and done["Location"] == "/signin/password"
    # Every factor passed, yet nothing is reachable: no session exists.
    assert client.get("/apps").status_code == 302
    assert client.get("/admin/").status_code == 302
    page = client.get("/signin/password")
    assert page.status_code == 200 and b"Choose a new password" in page.content

    again = client.post(
        "/signin/password", {"new_password": TEMPORARY, "repeat_password": TEMPORARY}
    )
    assert again.status_code == 400 and b"different from the temporary one" in again.content
    differ = client.post("/signin/password", {"new_password": OWN, "repeat_password": OWN + "x"})
    assert differ.status_code == 400 and b"The two passwords differ." in differ.content
    weak = client.post("/signin/password", {"new_password": "short", "repeat_password": "short"})
    assert weak.status_code == 400 and b"Use at least 12 characters" in weak.content

    done = client.post("/signin/password", {"new_password": OWN, "repeat_password": OWN})
    assert done.status_code == 302 and done["Location"] == "/apps"
    assert client.get("/apps").status_code == 200
    newcomer.refresh_from_db()
    assert not newcomer.must_change_password and newcomer.check_password(OWN)
    record = AuditRecord.objects.get(event_name="UpdatePassword").record
    assert record["additionalEventData"]["ChangeRequired"] == "true"
    assert record["userIdentity"]["onBehalfOf"]["userId"] == str(newcomer.uid)
    # The temporary password no longer signs in.
    assert (
        Client().post("/signin", {"username": "newcomer", "password": TEMPORARY}).status_code == 401
    )


def test_the_change_page_speaks_japanese(newcomer: User, clock: FrozenClock) -> None:
    client = Client()
    _factors(client, clock, **JA)
    client.post("/signin/continue", headers=JA)
    page = unescape(client.get("/signin/password", headers=JA).content.decode())
    assert "新しいパスワードの設定" in page
    weak = client.post(
        "/signin/password",
        {"new_password": "abcdefghijklmnop", "repeat_password": "abcdefghijklmnop"},
        headers=JA,
    )
    assert "同じ文字の繰り返しや abcdef のような単純な並びは使わないでください。" in unescape(
        weak.content.decode()
    )


def test_the_page_is_reachable_only_after_every_factor(newcomer: User, clock: FrozenClock) -> None:
    client = Client()
    client.post("/signin", {"username": "newcomer", "password": TEMPORARY})
    # The password alone: the change page sends the person back to sign in.
    assert client.get("/signin/password")["Location"] == "/signin"
    assert (
        client.post("/signin/password", {"new_password": OWN, "repeat_password": OWN})["Location"]
        == "/signin"
    )
    newcomer.refresh_from_db()
    assert newcomer.check_password(TEMPORARY)


def test_times_are_shown_in_the_persons_zone_with_the_zone(
    make_user, clock: FrozenClock, actor: Actor
) -> None:
    from tests.conftest import sign_in_registering

    user = make_user("alice")
    client = Client()
    sign_in_registering(client, clock, "alice")
    client.post("/account/verify", {"password": PASSWORD, "next": "/account"})
    page = client.get("/account").content.decode()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", page), "times carry their zone"
    directory.set_idp_time_zone("Asia/Tokyo", actor=actor)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d JST", client.get("/account").content.decode())
    client.post("/account", {"action": "time_zone", "time_zone": "Europe/Paris"})
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"
    assert re.search(r"\d\d:\d\d CE[S]?T", client.get("/account").content.decode())
    bad = client.post("/account", {"action": "time_zone", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 400
