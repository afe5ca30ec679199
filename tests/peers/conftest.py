"""Fixtures for the real-SP tests: a served Sekisho, Debian's Chromium, sign-in steps.

Each module gets its own Sekisho installation (``sekisho serve`` on loopback, SQLite or
the suite's PostgreSQL), set up with the CLI as an administrator would. MFA is off in
these installations unless a test turns it on: the SPs, not the factors, are under test
here (tests/browser covers the factors).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import Instance, served_instance

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request

PASSWORD = "correct horse battery staple"
USERNAME = "alice"


@pytest.fixture(scope="module")
def sekisho(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """A served Sekisho with the user alice, MFA off."""
    with served_instance(Path(tmp_path_factory.mktemp("sekisho-peers"))) as instance:
        instance.cli(
            "user",
            "create",
            USERNAME,
            "--email",
            "alice@example.com",
            "--display-name",
            "Alice Liddell",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        instance.cli("mfa", "configure", "--mode", "disabled")
        instance.start(workers=2)
        yield instance


@dataclass
class Traffic:
    """The SAML messages a browser sent, decoded (what was actually on the wire)."""

    posted: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    redirected: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def watch(self, request: Request) -> None:
        """Record SAMLRequest/SAMLResponse parameters of a request."""
        url = request.url.split("?", 1)
        if request.method == "POST" and request.post_data and "SAML" in request.post_data:
            fields = dict(urllib.parse.parse_qsl(request.post_data))
            self.posted.append((url[0], fields))
        elif len(url) == 2 and ("SAMLRequest=" in url[1] or "SAMLResponse=" in url[1]):
            self.redirected.append((url[0], dict(urllib.parse.parse_qsl(url[1]))))

    def posts_to(self, target: str) -> list[bytes]:
        """The decoded SAML messages POSTed to URLs starting with ``target``."""
        return [
            base64.b64decode(fields.get("SAMLResponse") or fields["SAMLRequest"])
            for url, fields in self.posted
            if url.startswith(target)
        ]


def new_page(browser: Browser) -> tuple[BrowserContext, Page, Traffic]:
    """A fresh browser profile (its own cookies) that accepts the SPs' test certificates."""
    context = browser.new_context(ignore_https_errors=True, locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    traffic = Traffic()
    page.on("request", traffic.watch)
    return context, page, traffic


def sign_in(page: Page, sekisho: Instance, *, username: str = USERNAME) -> None:
    """Sekisho's sign-in page, reached from an SP: username and password."""
    page.wait_for_url(f"{sekisho.base_url}/signin**")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")


def portal_sign_in(page: Page, sekisho: Instance) -> None:
    """Sign in to Sekisho's portal directly (IdP-initiated flows start at My applications)."""
    page.goto(f"{sekisho.base_url}/signin")
    sign_in(page, sekisho)
    page.wait_for_url(f"{sekisho.base_url}/apps")


def page_text(page: Page) -> str:
    """The visible text of a page, whitespace folded (for assertions and failure messages)."""
    return re.sub(r"\s+", " ", page.inner_text("body"))
