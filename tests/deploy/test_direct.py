"""Without a proxy: a client's own forwarded headers change nothing (issue 9, "Proxies").

The server trusts 127.0.0.1 as its proxy; this client connects straight to the server from
127.0.0.2, an untrusted peer. Whatever X-Forwarded-* or Forwarded headers it sends, its
address stays 127.0.0.2, its transport stays plain HTTP (``aws:SecureTransport`` false, so
the deployment's secure-only policy refuses it) and its Host stays the one it connected to.
HSTS is sent all the same, because the public URL is https.
"""

from __future__ import annotations

import re

from tests.conftest import PASSWORD
from tests.deploy.agent import Agent, Response
from tests.deploy.conftest import BROWSER_ADDRESS, SPOOFED_ADDRESS, Deployment

SPOOFED = {
    "X-Forwarded-For": SPOOFED_ADDRESS,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": f'for={SPOOFED_ADDRESS};proto=https;host="evil.example"',
}
HSTS = "max-age=31536000"


def _sign_in(agent: Agent, username: str, headers: dict[str, str]) -> Response:
    page = agent.get("/signin", headers=headers)
    assert page.status == 200, page.text[:2000]
    form = {"csrfmiddlewaretoken": page.csrf_token(), "username": username, "password": PASSWORD}
    return agent.post("/signin", form, headers=headers)


def _headline(response: Response) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", response.text, re.S)
    return match.group(1).strip() if match else ""


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(deployment: Deployment) -> None:
    url = deployment.node.url
    before = len(deployment.audit())
    plain = _sign_in(Agent(url, source=BROWSER_ADDRESS), "bob", {})
    spoofed = _sign_in(Agent(url, source=BROWSER_ADDRESS), "bob", SPOOFED)
    # Plain HTTP is not secure transport: the secure-only policy refuses both, alike.
    assert plain.status == 403, plain.text[:2000]
    assert (spoofed.status, _headline(spoofed)) == (403, "Sign-in not allowed"), spoofed.text
    assert _headline(plain) == _headline(spoofed)
    assert plain.header("Location") is None and spoofed.header("Location") is None
    records = deployment.audit()[before:]
    refused = [r for r in records if r["eventName"] == "UserAuthentication"]
    assert len(refused) == 2, records
    for record in refused:
        assert record["errorCode"] == "AccessDenied"
        assert record["sourceIPAddress"] == BROWSER_ADDRESS
        assert "aws:SecureTransport" in record["errorMessage"]
    assert all(r["sourceIPAddress"] == BROWSER_ADDRESS for r in records), records
    assert SPOOFED_ADDRESS not in repr(records)


def test_claiming_https_consistently_does_not_make_it_secure(deployment: Deployment) -> None:
    # A liar whose Origin matches its X-Forwarded-Proto: Sekisho still sees plain HTTP,
    # so the https Origin is a cross-origin POST and nothing is signed in.
    url = deployment.node.url
    liar = Agent(url, source=BROWSER_ADDRESS)
    headers = {**SPOOFED, "Origin": url.replace("http://", "https://")}
    before = len(deployment.audit())
    answer = _sign_in(liar, "dave", headers)
    assert answer.status == 403 and answer.header("Location") is None, answer.text[:2000]
    assert "sekisho_session" not in liar.cookies
    records = deployment.audit()[before:]
    assert not [r for r in records if r["eventName"] == "CredentialVerification"], records


def test_a_spoofed_forwarded_host_is_not_checked_or_used(deployment: Deployment) -> None:
    # An untrusted peer's X-Forwarded-Host is ignored, not refused: only its Host counts.
    page = Agent(deployment.node.url, source=BROWSER_ADDRESS).get(
        "/signin", headers={"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}
    )
    assert page.status == 200
    assert "evil.example" not in page.text


def test_hsts_without_a_proxy_when_the_public_url_is_https(deployment: Deployment) -> None:
    agent = Agent(deployment.node.url, source=BROWSER_ADDRESS)
    for path in ("/signin", "/saml/metadata", "/no-such-page", "/static/sekisho/style.css"):
        response = agent.get(path)
        assert response.all("Strict-Transport-Security") == [HSTS], (path, response.headers)
