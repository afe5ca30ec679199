"""Emergency access to an emulated Connect instance: root sign-in and user creation.

The instance is set up with ``connect.call`` as the account root (``accounts.bootstrap``);
the browser is Django's test client with REMOTE_ADDR as its address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.clock import SYSTEM_CLOCK, FrozenClock
from sekisho.emulator import accounts, iam
from sekisho.emulator import connect as connect_service
from sekisho.emulator.emergency import COOKIE, MSG_INCORRECT, MSG_LOCKED
from sekisho.emulator.models import ConnectUser, EmergencySession

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "123123123123"
OTHER_ACCOUNT_ID = "456456456456"
REGION = "ap-northeast-1"


@dataclass
class Seed:
    """An instance with one user, its account's root key, and another account's root key."""

    instance_id: str
    key_id: str
    secret: str
    other_key_id: str
    other_secret: str

    @property
    def login_url(self) -> str:
        """The emergency login page of the instance."""
        return f"/aws/connect/{self.instance_id}/emergency"

    @property
    def users_url(self) -> str:
        """The emergency users page of the instance."""
        return f"/aws/connect/{self.instance_id}/emergency/users"


@pytest.fixture
def seed(clock: FrozenClock) -> Iterator[Seed]:
    iam.set_clock(clock)
    account, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    _, other_key_id, other_secret = accounts.bootstrap(OTHER_ACCOUNT_ID)
    ctx = connect_service.Ctx(caller=iam.Caller(account), region=REGION, source_ip="127.0.0.1")
    instance = connect_service.call(
        ctx,
        "CreateInstance",
        {
            "IdentityManagementType": "SAML",
            "InstanceAlias": "sekisho-emergency",
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": False,
        },
    )
    on_instance = {"InstanceId": instance["Id"]}
    profiles = connect_service.call(ctx, "ListSecurityProfiles", on_instance)
    routing = connect_service.call(ctx, "ListRoutingProfiles", on_instance)
    agent = next(p["Id"] for p in profiles["SecurityProfileSummaryList"] if p["Name"] == "Agent")
    connect_service.call(
        ctx,
        "CreateUser",
        {
            "InstanceId": instance["Id"],
            "Username": "agent1",
            "IdentityInfo": {"FirstName": "Agent", "LastName": "One"},
            "SecurityProfileIds": [agent],
            "RoutingProfileId": routing["RoutingProfileSummaryList"][0]["Id"],
        },
    )
    yield Seed(instance["Id"], key_id, secret, other_key_id, other_secret)
    iam.set_clock(SYSTEM_CLOCK)


def _text(response: Any) -> str:
    return str(response.content.decode("utf-8"))


def _log_in(
    seed: Seed, browser: Client, key_id: str | None = None, secret: str | None = None
) -> Any:
    return browser.post(
        seed.login_url,
        {
            "access_key_id": seed.key_id if key_id is None else key_id,
            "secret_access_key": seed.secret if secret is None else secret,
        },
    )


def _signed_in(seed: Seed) -> Client:
    browser = Client(REMOTE_ADDR="127.0.0.1")
    assert _log_in(seed, browser).status_code == 303
    return browser


def _form(browser: Client, seed: Seed) -> dict[str, str]:
    """The create-user form's default selections, read from the page."""
    page = _text(browser.get(seed.users_url))
    selected = re.findall(r'<option value="([^"]+)" selected>', page)
    routing = re.search(r'<select id="routing" name="routing">\s*<option value="([^"]+)"', page)
    assert selected and routing is not None
    return {"security": selected[0], "routing": routing.group(1)}


def _events(name: str) -> list[dict[str, Any]]:
    return [r.record for r in AuditRecord.objects.order_by("id") if r.record["eventName"] == name]


def test_login_page_says_the_root_key_stands_in(seed: Seed) -> None:
    page = Client().get(seed.login_url)
    assert page.status_code == 200
    text = _text(page)
    assert "Log in for emergency access" in text
    assert "root access key" in text and "csrfmiddlewaretoken" in text


def test_root_key_signs_in_and_opens_the_users_page(seed: Seed) -> None:
    browser = Client(REMOTE_ADDR="127.0.0.1")
    response = _log_in(seed, browser)
    assert response.status_code == 303
    assert response["Location"] == seed.users_url
    cookie = response.cookies[COOKIE]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == f"/aws/connect/{seed.instance_id}/"
    assert int(cookie["max-age"]) == 3600
    stored = EmergencySession.objects.get()
    assert stored.session_id_sha256 != cookie.value and len(stored.session_id_sha256) == 64
    page = browser.get(seed.users_url)
    assert page.status_code == 200
    assert "agent1" in _text(page)
    [event] = _events("EmergencyAccessLogin")
    assert event["eventSource"] == "connect.amazonaws.com"
    assert event["responseElements"] == {"EmergencyAccessLogin": "Success"}
    assert event["userIdentity"]["type"] == "Root"


@pytest.mark.parametrize("which", ["wrong secret", "unknown key", "another account's key"])
def test_wrong_credentials_get_the_same_generic_401(seed: Seed, which: str) -> None:
    key_id, secret = {
        "wrong secret": (seed.key_id, seed.secret[:-1] + ("A" if seed.secret[-1] != "A" else "B")),
        "unknown key": ("AKIAAAAAAAAAAAAAAAAA", seed.secret),
        "another account's key": (seed.other_key_id, seed.other_secret),
    }[which]
    browser = Client(REMOTE_ADDR="127.0.0.1")
    response = _log_in(seed, browser, key_id, secret)
    assert response.status_code == 401
    assert MSG_INCORRECT in _text(response)
    assert COOKIE not in response.cookies
    assert not EmergencySession.objects.exists()
    [event] = _events("EmergencyAccessLogin")
    assert event["responseElements"] == {"EmergencyAccessLogin": "Failure"}
    assert seed.secret not in str(event) and seed.other_secret not in str(event)


def test_unknown_instance_refuses_even_the_right_key(seed: Seed) -> None:
    response = Client().post(
        "/aws/connect/no-such-instance/emergency",
        {"access_key_id": seed.key_id, "secret_access_key": seed.secret},
    )
    assert response.status_code == 401
    assert MSG_INCORRECT in _text(response)


def test_csrf_is_enforced(seed: Seed) -> None:
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="127.0.0.1")
    response = _log_in(seed, browser)
    assert response.status_code == 403
    assert not EmergencySession.objects.exists()


def test_csrf_token_from_the_page_lets_the_form_through(seed: Seed) -> None:
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="127.0.0.1")
    page = _text(browser.get(seed.login_url))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = browser.post(
        seed.login_url,
        {
            "csrfmiddlewaretoken": token.group(1),
            "access_key_id": seed.key_id,
            "secret_access_key": seed.secret,
        },
    )
    assert response.status_code == 303


def test_create_user_lists_it_and_audits(seed: Seed) -> None:
    browser = _signed_in(seed)
    form = _form(browser, seed)
    response = browser.post(
        seed.users_url,
        {"username": "agent2", "first_name": "Agent", "last_name": "Two", **form},
    )
    assert response.status_code == 200
    assert "User agent2 created." in _text(response)
    user = ConnectUser.objects.get(username="agent2")
    assert [p.name for p in user.security_profiles.all()] == ["Agent"]
    assert "agent2" in _text(browser.get(seed.users_url))
    [event] = _events("CreateUser")
    assert event["eventType"] == "AwsApiCall"
    assert event["requestParameters"]["Username"] == "agent2"
    assert event["responseElements"] == {"UserId": user.user_id}


@pytest.mark.parametrize(
    ("username", "first", "message"),
    [
        ("bad name!", "Agent", "the username must be 1-64 characters"),
        ("agent1", "Agent", "User with username agent1 already exists."),
        ("agent3", "", "IdentityInfo.FirstName and IdentityInfo.LastName are required"),
    ],
)
def test_connect_rules_are_shown_as_400(
    seed: Seed, username: str, first: str, message: str
) -> None:
    browser = _signed_in(seed)
    form = _form(browser, seed)
    response = browser.post(
        seed.users_url, {"username": username, "first_name": first, "last_name": "X", **form}
    )
    assert response.status_code == 400
    assert message in _text(response)
    assert ConnectUser.objects.count() == 1
    [event] = _events("CreateUser")
    assert event["errorCode"] in ("InvalidParameterException", "DuplicateResourceException")


def test_without_a_session_the_users_page_redirects_to_the_login(seed: Seed) -> None:
    for method in ("get", "post"):
        response = getattr(Client(), method)(seed.users_url)
        assert response.status_code == 303
        assert response["Location"] == seed.login_url


def test_session_is_bound_to_its_instance_and_expires(seed: Seed, clock: FrozenClock) -> None:
    browser = _signed_in(seed)
    other = browser.get("/aws/connect/another-instance/emergency/users")
    assert other.status_code == 303
    clock.advance(seconds=3601)
    response = browser.get(seed.users_url)
    assert response.status_code == 303 and response["Location"] == seed.login_url


def test_too_many_wrong_tries_lock_the_address(seed: Seed) -> None:
    browser = Client(REMOTE_ADDR="192.0.2.7")
    for _ in range(5):
        assert _log_in(seed, browser, secret="wrong").status_code == 401
    locked = _log_in(seed, browser)
    assert locked.status_code == 429
    assert MSG_LOCKED in _text(locked)
    assert not EmergencySession.objects.exists()
    # Another address is not locked.
    assert _log_in(seed, Client(REMOTE_ADDR="192.0.2.8")).status_code == 303
