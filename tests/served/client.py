"""A browser-like HTTP client for served instances: cookies, CSRF tokens, the sign-in pages.

It speaks to a real `sekisho serve` over a socket, as a browser does: the session cookie
is Secure, and like browsers it sends Secure cookies to http://localhost and loopback
addresses (a secure context), CSRF tokens come from the forms of the pages it fetched.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from sekisho.mfa import totp
from tests.webauthn_authenticator import SoftAuthenticator, as_form

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_TOTP_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_RECOVERY = re.compile(r"<li><code>([^<]+)</code></li>")
_OPTIONS = re.compile(r'<script id="webauthn-options" type="application/json">(.*?)</script>', re.S)
_POST_FORM = re.compile(r'<form method="post" action="([^"]+)" id="saml-post"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


def _loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


class Browser:
    """One browser (one cookie jar) talking to one node at a time."""

    def __init__(self, node_url: str, *, origin: str, source_ip: str | None = None) -> None:
        self.node_url = node_url
        self.origin = origin
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy
        if source_ip is not None:
            adapter = _SourceAddressAdapter(source_ip)
            self.session.mount("http://", adapter)
        self.last_page = ""

    def _seen(self, response: requests.Response) -> requests.Response:
        # Browsers send Secure cookies to http://localhost and loopback (a secure context);
        # requests would not, so the jar forgets the flag for loopback hosts only.
        for cookie in self.session.cookies:
            if cookie.secure and _loopback(cookie.domain):
                cookie.secure = False
        if response.status_code != 302 and response.headers.get("Content-Type", "").startswith(
            "text/html"
        ):
            self.last_page = response.text
        return response

    def at(self, node_url: str) -> Browser:
        """Send the next requests to another node (as a load balancer might)."""
        self.node_url = node_url
        return self

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET a page (redirects not followed, as the tests look at each step)."""
        return self._seen(
            self.session.get(self.node_url + path, allow_redirects=False, timeout=30, **kwargs)
        )

    def post(
        self, path: str, data: Mapping[str, str] | None = None, *, page: str | None = None
    ) -> requests.Response:
        """POST a form with the CSRF token of ``page`` (default: the last page fetched)."""
        if page is not None:
            self.get(page)
        match = _CSRF.search(self.last_page)
        assert match, f"no CSRF token on the page before POST {path}"
        form = {"csrfmiddlewaretoken": html.unescape(match.group(1)), **(data or {})}
        return self._seen(
            self.session.post(self.node_url + path, data=form, allow_redirects=False, timeout=30)
        )

    def submit(self, path: str, fields: Mapping[str, str]) -> requests.Response:
        """POST an auto-submitting form's fields as they are (no CSRF token: another site's)."""
        return self._seen(
            self.session.post(self.node_url + path, data=fields, allow_redirects=False, timeout=30)
        )

    # ------------------------------------------------------------ sign-in steps

    def password(self, username: str, password: str) -> str:
        """The password step; returns where it sends the browser next."""
        response = self.post(
            "/signin", {"username": username, "password": password}, page="/signin"
        )
        assert response.status_code == 302, response.text[:500]
        return str(response.headers["Location"])

    def register_totp(
        self, *, now: datetime | None = None, new_password: str | None = None
    ) -> tuple[str, list[str]]:
        """First-time TOTP registration; returns the secret and the recovery codes shown."""
        page = self.get("/signin/mfa/register/totp").text
        secret_match = _TOTP_SECRET.search(page)
        assert secret_match, page[:500]
        secret = secret_match.group(1).replace(" ", "")
        code = totp.code_at(secret=secret, now=now or datetime.now(UTC))
        shown = self.post("/signin/mfa/register/totp", {"code": code, "device_name": "phone"})
        assert shown.status_code == 200 and "recovery-codes" in shown.text, shown.text[:800]
        codes = _RECOVERY.findall(shown.text)
        self.finish(new_password)
        return secret, codes

    def finish(self, new_password: str | None = None) -> None:
        """'I saved them': the last step of a first sign-in (after which a temporary
        password is replaced by ``new_password``)."""
        done = self.post("/signin/continue")
        assert done.status_code == 302, done.text[:500]
        if done.headers["Location"] == "/signin/password":
            assert new_password is not None, "the password is temporary: give new_password"
            done = self.change_password(new_password)
        assert done.headers["Location"] == "/apps", done.text[:500]

    def change_password(self, new_password: str) -> requests.Response:
        """Replace a temporary password at the first sign-in; returns the redirect onwards."""
        changed = self.post(
            "/signin/password",
            {"new_password": new_password, "repeat_password": new_password},
            page="/signin/password",
        )
        assert changed.status_code == 302, changed.text[:800]
        return changed

    def totp(self, secret: str, *, at: datetime | None = None) -> requests.Response:
        """Answer the TOTP step with the code of ``at`` (default now)."""
        code = totp.code_at(secret=secret, now=at or datetime.now(UTC))
        return self.post("/signin/mfa/totp", {"code": code}, page="/signin/mfa/totp")

    def webauthn_options(self, path: str) -> dict[str, Any]:
        """The WebAuthn options embedded in a page."""
        page = self.get(path)
        match = _OPTIONS.search(page.text)
        assert match, page.text[:800]
        options: dict[str, Any] = json.loads(match.group(1))
        return options

    def register_key(self, key: SoftAuthenticator, name: str = "YubiKey") -> list[str]:
        """Register a security key or passkey at first sign-in; returns the recovery codes."""
        path = "/signin/mfa/register/webauthn"
        options = self.webauthn_options(path)
        shown = self.post(path, {**as_form(key.register(options, rk=True)), "device_name": name})
        assert shown.status_code == 200 and "recovery-codes" in shown.text, shown.text[:800]
        codes = _RECOVERY.findall(shown.text)
        self.finish()
        return codes

    def passkey(self, key: SoftAuthenticator) -> requests.Response:
        """Sign in with a passkey, no username: options, then the signed answer."""
        self.get("/signin")
        response = self.get("/signin/passkey/options")
        assert response.status_code == 200, response.text[:500]
        options = response.json()["options"]
        return self.post("/signin/passkey", {**as_form(key.assert_(options)), "next": "/apps"})

    def launch(self, app: str) -> requests.Response:
        """IdP-initiated: the app's launch form, posted."""
        return self.post(f"/apps/{app}/launch", page="/apps")

    @staticmethod
    def saml_post(page: str) -> tuple[str, dict[str, str]]:
        """The auto-submitting form of a launch: (ACS URL, fields)."""
        action = _POST_FORM.search(page)
        assert action, page[:800]
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}
        return html.unescape(action.group(1)), fields


class _SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connect from a chosen loopback address (another aws:SourceIp, same machine)."""

    def __init__(self, source_ip: str) -> None:
        self._source = (source_ip, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


def seed_directory(instance_url: str, token: str, *, admin: str | None = None) -> None:
    """Through the API: agent1 (a known password), the group agents, an Amazon Connect app
    assigned to agent1 (and to ``admin``); what console and API tests look at."""
    session = requests.Session()
    session.trust_env = False  # loopback only
    session.headers["Authorization"] = f"Bearer {token}"
    api = instance_url + "/api/v1"
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        (
            "POST",
            "/users",
            {
                "username": "agent1",
                "email": "agent1@example.com",
                "display_name": "Agent One",
                "password": "agent one's everyday passphrase",
                "temporary": False,
            },
        ),
        ("POST", "/groups", {"name": "agents", "description": "Contact-center agents"}),
        ("PUT", "/groups/agents/members/agent1", None),
        (
            "POST",
            "/applications",
            {
                "kind": "amazon-connect",
                "name": "amazon-connect",
                "display_name": "Amazon Connect",
                "region": "ap-northeast-1",
                "instance_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                "account_id": "111122223333",
                "role_name": "ConnectFederationRole",
                "provider_name": "Sekisho",
                "signin_url": instance_url + "/saml/inspector",
            },
        ),
        ("PUT", "/applications/amazon-connect/assignments/users/agent1", None),
    ]
    if admin is not None:
        steps.append(("PUT", f"/applications/amazon-connect/assignments/users/{admin}", None))
    for method, path, body in steps:
        response = session.request(method, api + path, json=body, timeout=30)
        assert response.status_code < 300, (method, path, response.text[:500])
