"""Sekisho behind Debian's nginx running docs/deploy/nginx.conf, over real TLS (issue 9).

The browser stand-in connects from 127.0.0.2 and trusts only the throwaway CA. Through
nginx: a sign-in (password, TOTP registration) and an IdP-initiated launch verified by the
built-in inspector work; the deployment's policy (secure transport only, launches from
127.0.0.2 only) is satisfied, so Sekisho saw the forwarded address and scheme; the audit
trail names 127.0.0.2; a client's own forwarding headers do not get past nginx; every
response carries exactly one HSTS header; cookies are Secure; and a slow upload occupies
nginx, not Sekisho's single worker.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from sekisho.mfa import totp
from tests.conftest import PASSWORD
from tests.deploy.agent import Agent, Response
from tests.deploy.conftest import BROWSER_ADDRESS, PROXY_ADDRESS, SPOOFED_ADDRESS, Deployment
from tests.deploy.nginx import Front, run_nginx
from tests.servers import free_port

HSTS = "max-age=31536000"
SPOOFING = {
    "X-Forwarded-For": SPOOFED_ADDRESS,
    "Forwarded": f"for={SPOOFED_ADDRESS};proto=https",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
}


def _browser(front: Front) -> Agent:
    return Agent(front.public_url, source=BROWSER_ADDRESS, cafile=front.cafile)


def _one_hsts(response: Response) -> None:
    assert response.all("Strict-Transport-Security") == [HSTS], response.headers


def _new_records(deployment: Deployment, before: int) -> list[dict[str, Any]]:
    return deployment.audit()[before:]


def _password(agent: Agent, username: str, password: str = PASSWORD, **kw: Any) -> Response:
    page = agent.get("/signin", **kw)
    assert page.status == 200, page.text[:2000]
    _one_hsts(page)
    form = {
        "csrfmiddlewaretoken": page.csrf_token(),
        "username": username,
        "password": password,
        "next": "/apps",
    }
    return agent.post("/signin", form, **kw)


def test_sign_in_and_launch_through_nginx(front: Front, deployment: Deployment) -> None:
    before = len(deployment.audit())
    browser = _browser(front)
    signed = _password(browser, "alice")
    assert (signed.status, signed.header("Location")) == (302, "/signin/mfa/register"), signed.text
    page = browser.get("/signin/mfa/register/totp")
    secret = page.totp_secret()
    code = totp.code_at(secret=secret, now=datetime.now(UTC))
    shown = browser.post(
        "/signin/mfa/register/totp",
        {"csrfmiddlewaretoken": page.csrf_token(), "code": code, "device_name": "phone"},
    )
    assert shown.status == 200 and "recovery-codes" in shown.text, shown.text[:2000]
    done = browser.post("/signin/continue", {"csrfmiddlewaretoken": shown.csrf_token()})
    assert (done.status, done.header("Location")) == (302, "/apps"), done.text[:2000]

    apps = browser.get("/apps")
    assert apps.status == 200 and "Amazon Connect" in apps.text
    launch = browser.post("/apps/connect/launch", {"csrfmiddlewaretoken": apps.csrf_token()})
    assert launch.status == 200, launch.text[:2000]
    fields = launch.saml_post_form()
    assert fields["action"] == f"{front.public_url}/saml/inspector"
    inspected = browser.post(
        "/saml/inspector",
        {"SAMLResponse": fields["SAMLResponse"], "RelayState": fields["RelayState"]},
    )
    assert inspected.status == 200 and 'data-valid="true"' in inspected.text, inspected.text

    # Every cookie Sekisho set over this sign-in is Secure; the session's is HttpOnly too.
    assert browser.set_cookies
    assert all("; Secure" in c for c in browser.set_cookies), browser.set_cookies
    session = [c for c in browser.set_cookies if c.startswith("sekisho_session=")]
    assert session and all("HttpOnly" in c for c in session)

    records = _new_records(deployment, before)
    events = {r["eventName"] for r in records}
    assert {"CredentialVerification", "Federate"} <= events, events
    federate = [r for r in records if r["eventName"] == "Federate"]
    assert [r.get("errorCode") for r in federate] == [None]  # the policy admitted the launch
    assert {r["sourceIPAddress"] for r in records} == {BROWSER_ADDRESS}, records


def test_a_clients_own_forwarding_headers_stop_at_nginx(
    front: Front, deployment: Deployment
) -> None:
    before = len(deployment.audit())
    spoofer = _browser(front)
    wrong = _password(spoofer, "carol", "not the password at all", headers=SPOOFING)
    assert wrong.status == 401, wrong.text[:2000]
    right = _password(Agent(front.public_url, BROWSER_ADDRESS, front.cafile), "carol")
    assert right.status == 302
    records = _new_records(deployment, before)
    verifications = [r for r in records if r["eventName"] == "CredentialVerification"]
    assert len(verifications) == 2, records
    assert {r["sourceIPAddress"] for r in records} == {BROWSER_ADDRESS}, records
    assert SPOOFED_ADDRESS not in repr(deployment.audit())
    assert PROXY_ADDRESS not in {r["sourceIPAddress"] for r in records}


def test_one_hsts_header_on_every_response(front: Front) -> None:
    browser = _browser(front)
    for path, status in (
        ("/signin", 200),
        ("/saml/metadata", 200),
        ("/static/sekisho/style.css", 200),
        ("/no-such-page", 404),
    ):
        response = browser.get(path)
        assert response.status == status, path
        _one_hsts(response)
    # nginx's own refusal of a body over 512 KiB carries it too.
    too_large = browser.post("/signin", {"x": "a" * (600 * 1024)})
    assert too_large.status == 413
    _one_hsts(too_large)


@pytest.mark.parametrize(
    ("headers", "cookie", "language", "text"),
    [
        ({}, None, "en", "Request too large"),
        ({"Accept-Language": "en-US,en;q=0.9,ja;q=0.8"}, None, "en", "Request too large"),
        ({"Accept-Language": "ja,en-US;q=0.9"}, None, "ja", "リクエストが大きすぎます"),
        ({"Accept-Language": "JA-jp"}, None, "ja", "リクエストが大きすぎます"),
        # Sekisho's language cookie (the language switcher) wins, as on Sekisho's pages.
        ({"Accept-Language": "en"}, "ja", "ja", "リクエストが大きすぎます"),
        ({"Accept-Language": "ja"}, "en", "en", "Request too large"),
    ],
)
def test_nginx_refuses_a_large_body_in_the_persons_language(
    front: Front, headers: dict[str, str], cookie: str | None, language: str, text: str
) -> None:
    browser = _browser(front)
    if cookie is not None:
        browser.cookies["sekisho_language"] = cookie
    refused = browser.post("/signin", {"x": "a" * (600 * 1024)}, headers=headers)
    assert refused.status == 413
    assert refused.header("Content-Type") == "text/html; charset=utf-8"
    assert f'<html lang="{language}">' in refused.text and text in refused.text, refused.text
    _one_hsts(refused)


def test_an_unreachable_sekisho_gets_a_clear_page_in_the_persons_language() -> None:
    closed = free_port()  # nothing listens here: nginx's connection is refused
    with run_nginx(https_port=free_port(), upstream_port=closed) as alone:
        browser = _browser(alone)
        english = browser.get("/signin")
        assert english.status == 502 and "Sekisho is unavailable" in english.text
        assert english.header("Content-Type") == "text/html; charset=utf-8"
        _one_hsts(english)
        japanese = browser.get("/signin", headers={"Accept-Language": "ja"})
        assert japanese.status == 502 and "Sekisho を利用できません" in japanese.text
        assert "nginx" not in english.text + japanese.text


def test_plain_http_is_redirected_to_the_public_url(front: Front) -> None:
    plain = Agent(f"http://localhost:{front.http_port}", source=BROWSER_ADDRESS)
    moved = plain.get("/signin?next=%2Fapps")
    assert moved.status == 301
    assert moved.header("Location") == f"{front.public_url}/signin?next=%2Fapps"


def test_a_body_at_the_limit_reaches_sekisho(front: Front) -> None:
    browser = _browser(front)
    page = browser.get("/signin")
    form = {"csrfmiddlewaretoken": page.csrf_token(), "username": "x", "password": "y"}
    body_now = len("&".join(f"{k}={v}" for k, v in form.items()))
    form["pad"] = "a" * (512 * 1024 - body_now - len("&pad="))
    answered = browser.post("/signin", form)
    assert answered.status == 401, answered.text[:500]  # Sekisho's answer, not nginx's 413


def test_a_slow_upload_waits_in_nginx_not_in_sekisho(front: Front) -> None:
    # Sekisho runs one worker here, and the inspector reads the body it is posted. nginx
    # buffers the whole body first, so a stalled upload never reaches Sekisho at all (which
    # would hold it only as a coroutine until its own 10 s body deadline anyway).
    context = ssl.create_default_context(cafile=str(front.cafile))
    raw = socket.create_connection(
        ("127.0.0.1", front.https_port), timeout=10, source_address=(BROWSER_ADDRESS, 0)
    )
    with context.wrap_socket(raw, server_hostname="localhost") as slow:
        slow.sendall(
            f"POST /saml/inspector HTTP/1.1\r\nHost: localhost:{front.https_port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n\r\nSAMLResponse=slow".encode()
        )
        time.sleep(0.5)
        fast = _browser(front)
        fast.timeout = 5.0
        started = time.monotonic()
        page = fast.get("/signin")
        elapsed = time.monotonic() - started
        assert page.status == 200
        assert elapsed < 5.0, f"a stalled upload held Sekisho's worker for {elapsed:.1f}s"


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example"])
def test_a_foreign_host_gets_nothing(front: Front, host: str) -> None:
    # The default server answers names other than the public one by closing (return 444).
    with pytest.raises(http.client.RemoteDisconnected):
        _browser(front).get("/signin", headers={"Host": host})


def test_nginx_logged_no_warning(front: Front) -> None:
    # The documented configuration loads cleanly (no "user" or path warnings); the only
    # error is the refused 600 KiB body above.
    noisy = [
        line
        for line in front.error_log.splitlines()
        if any(f"[{level}]" in line for level in ("warn", "error", "crit", "alert", "emerg"))
        and "client intended to send too large body" not in line
    ]
    assert not noisy, front.error_log
