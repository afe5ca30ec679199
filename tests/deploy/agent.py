"""A small browser stand-in for deployment tests: cookies, forms, a chosen source address.

It speaks HTTP/1.1 with http.client, never follows redirects by itself (tests look at every
``Location``), keeps cookies by name like a browser on one site, sends ``Origin`` on POST as
browsers do, and binds every connection to ``source`` so the server sees that loopback
address as the client. With ``cafile`` it speaks TLS and verifies the server against that
throwaway CA only. (tests/served/client.Browser, built on requests, joins repeated headers
and binds a source address for plain HTTP only: these tests count HSTS headers and bind
over TLS.)
"""

from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass, field
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_POST_FORM = re.compile(r'<form method="post" action="([^"]+)" id="saml-post"')
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


@dataclass
class Response:
    """One HTTP response as received: status, every header (repeats kept), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def csrf_token(self) -> str:
        """The CSRF token of the first form on the page."""
        match = _CSRF.search(self.text)
        assert match, f"no CSRF token on the page ({self.status}):\n{self.text[:2000]}"
        return match.group(1)

    def totp_secret(self) -> str:
        """The base32 secret shown for manual entry on the TOTP registration page."""
        match = _SECRET.search(self.text)
        assert match, f"no TOTP secret on the page ({self.status}):\n{self.text[:2000]}"
        return match.group(1).replace(" ", "")

    def saml_post_form(self) -> dict[str, str]:
        """The HTTP-POST binding form's action and hidden fields."""
        action = _POST_FORM.search(self.text)
        assert action, f"no SAML POST form ({self.status}):\n{self.text[:2000]}"
        fields = {k: unescape(v) for k, v in _HIDDEN.findall(self.text)}
        fields["action"] = unescape(action.group(1))
        return fields


@dataclass
class Agent:
    """A browser on one site: ``origin`` is where it connects, ``source`` where from."""

    origin: str
    source: str
    cafile: Path | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)  # every Set-Cookie ever received
    timeout: float = 30.0

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.origin)
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=str(self.cafile))
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout, source_address=(self.source, 0), context=context
            )
        return http.client.HTTPConnection(
            host, port, timeout=self.timeout, source_address=(self.source, 0)
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """One request; cookies sent and remembered, no redirect followed."""
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode("ascii")
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent.setdefault("Origin", self.origin)
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=sent)
            raw = connection.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read())
        finally:
            connection.close()
        for value in response.all("Set-Cookie"):
            self.set_cookies.append(value)
            for name, morsel in SimpleCookie(value).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs: dict[str, str]) -> Response:
        """GET a path."""
        return self.request("GET", path, **kwargs)

    def post(
        self, path: str, form: dict[str, str], *, headers: dict[str, str] | None = None
    ) -> Response:
        """POST a form to a path (as it is: add the CSRF token yourself)."""
        return self.request("POST", path, form=form, headers=headers)
