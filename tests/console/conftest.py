"""Fixtures for console tests: administrators of each role, signed in with MFA."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html import unescape

import pytest
from django.test import Client

from sekisho.admin import roles
from sekisho.audit.writer import Actor
from sekisho.clock import FrozenClock
from sekisho.directory.models import User
from sekisho.web.session import REAUTH_KEY
from tests.conftest import sign_in_registering

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ConsoleClient:
    """A signed-in browser on the console (Django's test client, CSRF enforced)."""

    def __init__(self, client: Client, user: User) -> None:
        self.client = client
        self.user = user
        self.last = ""

    def get(self, path: str, **kwargs: object) -> object:
        response = self.client.get(path, **kwargs)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            self.last = response.content.decode()
        return response

    def post(
        self, path: str, data: dict[str, object] | None = None, *, page: str | None = None
    ) -> object:
        if page is not None or not self.last:
            self.get(page or path)
        match = CSRF.search(self.last)
        assert match, "no CSRF token on the page"
        return self.client.post(
            path, {"csrfmiddlewaretoken": unescape(match.group(1)), **(data or {})}
        )

    def reauthenticated(self) -> None:
        """As if the password was typed again just now (sensitive actions need it)."""
        session = self.client.session
        session[REAUTH_KEY] = time.time()
        session.save()


@pytest.fixture
def console_as(
    make_user: Callable[..., User], clock: FrozenClock, actor: Actor
) -> Callable[..., ConsoleClient]:
    """A console client of a new user holding ``role`` (or none), signed in with TOTP."""
    count = 0

    def make(role: str | None, *, username: str | None = None) -> ConsoleClient:
        nonlocal count
        count += 1
        name = username or f"{role or 'nobody'}{count}"
        user = make_user(name)
        if role is not None:
            roles.grant(user, roles.Role(role), actor=actor)
        client = Client()
        sign_in_registering(client, clock, name)
        return ConsoleClient(client, user)

    return make
