"""The ASGI guard in front of the WSGI application: whole requests only, bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sekisho import asgi

LIMIT = 512 * 1024


class Recorder:
    """A WSGI application that remembers what it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.environ: dict[str, Any] | None = None
        self.body = b""
        self.fail = fail

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.fail:
            raise RuntimeError("boom")
        self.environ = environ
        self.body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def scope(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/saml/sso",
        "raw_path": b"/saml/sso",
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.2", 50000),
        "scheme": "http",
        "http_version": "1.1",
    }
    base.update(extra)
    return base


def run(
    app: asgi.Application, scope: dict[str, Any], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Call the app with the given receive messages; return what it sent."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)  # a client that sends nothing more
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # In a thread of its own: the browser tests' Playwright keeps an event loop running
    # in the main thread for the whole session, where asyncio.run() would refuse.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return sent


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


def test_a_complete_request_reaches_the_application_as_wsgi() -> None:
    wsgi = Recorder()
    sent = run(
        asgi.Application(wsgi),
        scope(
            headers=[
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", b"9"),
                (b"cookie", b"a=1"),
                (b"cookie", b"b=2"),
                (b"x-forwarded-for", b"203.0.113.9"),
                (b"accept", b"text/html"),
                (b"accept", b"*/*"),
            ]
        ),
        [body(b"SAML", more=True), body(b"Req=1")],
    )
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"
    environ = wsgi.environ
    assert environ is not None and wsgi.body == b"SAMLReq=1"
    assert environ["CONTENT_LENGTH"] == "9" and environ["CONTENT_TYPE"].startswith("application/")
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_ACCEPT"] == "text/html,*/*"
    # The socket peer, never a forwarded header (that is Sekisho's trusted-proxy rule).
    assert environ["REMOTE_ADDR"] == "127.0.0.2"
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"


def test_the_path_is_decoded_from_the_bytes_sent() -> None:
    wsgi = Recorder()
    run(
        asgi.Application(wsgi),
        scope(
            method="GET", path="/aws/x\ufffd", raw_path=b"/aws/a%20b/%FF?x=1", query_string=b"x=1"
        ),
        [body(b"")],
    )
    assert wsgi.environ is not None
    assert wsgi.environ["PATH_INFO"] == "/aws/a b/\xff"
    assert wsgi.environ["QUERY_STRING"] == "x=1"
    # As sent, for SigV4's canonical request (the emulator reads it like gunicorn's).
    assert wsgi.environ["RAW_URI"] == "/aws/a%20b/%FF?x=1"


def test_an_announced_oversized_body_is_never_read() -> None:
    wsgi = Recorder()
    sent = run(
        asgi.Application(wsgi),
        scope(headers=[(b"content-length", str(LIMIT + 1).encode())]),
        [],  # nothing would ever arrive: the guard must not wait for it
    )
    assert wsgi.environ is not None and wsgi.environ["CONTENT_LENGTH"] == str(LIMIT + 1)
    assert wsgi.body == b""
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_chunked_body_growing_past_the_limit_is_cut_off() -> None:
    wsgi = Recorder()
    chunk = b"x" * (128 * 1024)
    sent = run(asgi.Application(wsgi), scope(), [body(chunk, more=True)] * 5)
    assert wsgi.environ is not None and int(wsgi.environ["CONTENT_LENGTH"]) > LIMIT
    assert wsgi.body == b"" and (b"connection", b"close") in sent[0]["headers"]


def test_a_body_that_does_not_arrive_in_time_is_marked_and_the_connection_closed() -> None:
    wsgi = Recorder()
    sent = run(asgi.Application(wsgi, body_deadline=0.2), scope(), [body(b"Some", more=True)])
    assert wsgi.environ is not None and wsgi.environ[asgi.BODY_TIMEOUT_KEY] is True
    assert wsgi.body == b"" and (b"connection", b"close") in sent[0]["headers"]


def test_a_client_that_goes_away_gets_nothing() -> None:
    wsgi = Recorder()
    assert run(asgi.Application(wsgi), scope(), [{"type": "http.disconnect"}]) == []
    assert wsgi.environ is None


def test_head_gets_the_headers_without_the_body() -> None:
    sent = run(asgi.Application(Recorder()), scope(method="HEAD"), [body(b"")])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b""
    assert (b"content-length", b"2") in sent[0]["headers"]


def test_an_application_failure_is_a_plain_500_not_a_dropped_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = run(asgi.Application(Recorder(fail=True)), scope(method="GET"), [body(b"")])
    assert sent[0]["status"] == 500 and b"could not complete" in sent[1]["body"]
    assert "failed to answer" in caplog.text


def test_lifespan_starts_and_stops() -> None:
    sent = run(
        asgi.Application(Recorder()),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.django_db
def test_the_timed_out_body_gets_a_page_in_the_persons_language() -> None:
    from django.test import Client

    response = Client(HTTP_ACCEPT_LANGUAGE="ja").post("/saml/sso", **{asgi.BODY_TIMEOUT_KEY: True})
    assert response.status_code == 408
    assert "リクエストがタイムアウトしました" in response.content.decode()
