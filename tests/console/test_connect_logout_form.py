"""The console's Amazon Connect form takes the instance logout URL Sekisho's sign-out requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sekisho.saml.models import Application
from tests.console.conftest import ConsoleClient

pytestmark = pytest.mark.django_db

CONNECT = {
    "kind": "amazon-connect",
    "name": "connect",
    "region": "ap-northeast-1",
    "instance_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "account_id": "111122223333",
    "role_name": "ConnectRole",
    "provider_name": "Sekisho",
}


def test_logout_url_on_the_connect_form(console_as: Callable[..., ConsoleClient]) -> None:
    admin = console_as("admin")
    form = admin.get("/admin/new-app?kind=amazon-connect")
    assert 'id="logout_url"' in form.content.decode()  # type: ignore[attr-defined]
    bad = admin.post("/admin/new-app", {**CONNECT, "logout_url": "javascript:alert(1)"})
    assert bad.status_code == 400  # type: ignore[attr-defined]
    assert "logout_url: expected an https://" in bad.content.decode()  # type: ignore[attr-defined]
    assert not Application.objects.exists()
    url = "https://agents.my.connect.aws/connect/logout"
    made = admin.post("/admin/new-app", {**CONNECT, "logout_url": url})
    assert made.status_code == 302  # type: ignore[attr-defined]
    assert Application.objects.get(name="connect").preset["logout_url"] == url
