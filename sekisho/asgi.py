"""ASGI entry point for granian: whole requests only, then Sekisho's WSGI application.

Why this shape (README, "Serving"): granian's event loop holds every connection, and its
header read timeout drops a client that sends headers too slowly. This guard then reads
the whole body within a deadline and a size limit before the application sees anything,
so a slow client costs a coroutine, never a worker. Complete requests run in Django's
WSGI handler on one thread per process: Django stays synchronous, with one persistent
database connection per process and no per-request hop through asgiref.

A body larger than the limit is never read: the request goes on with no body and its
announced length, and the body-size middleware answers 413 in the person's language; a
body that is too slow goes on empty too, marked, and is answered 408 the same way.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sekisho.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from sekisho.instance import restrict_umask

# Workers create SQLite's -wal/-shm and the metrics files: owner-only even when granian is
# started by hand rather than by `sekisho serve` (which sets the umask before it execs).
restrict_umask()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

log = logging.getLogger("sekisho.server")

# A request body must have arrived whole within this many seconds of its headers.
BODY_DEADLINE_SECONDS = 10.0
# Set in the environ of a request whose body did not arrive in time: the body-size
# middleware answers 408 with a page in the person's language.
BODY_TIMEOUT_KEY = "sekisho.body_timeout"


class _Response:
    """What the WSGI application answered: status, headers and the whole body."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 start_response (the body is collected from the returned iterable)."""
        self.status = int(status.split(" ", 1)[0])
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return lambda data: None


def _limit() -> int:
    return int(settings.SEKISHO_MAX_BODY_BYTES)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # RFC 9110 §8.6: 1*DIGIT; anything else is the WSGI layer's problem (400).
            return int(text) if text.isdigit() else None
    return None


async def read_body(receive: Receive, *, limit: int, deadline: float) -> bytes | None:
    """The whole body; None when it grew past ``limit`` (read no further).

    Raises:
        TimeoutError: the body had not arrived by ``deadline`` (a monotonic time).
        ConnectionError: the client went away.
    """
    body = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message = await asyncio.wait_for(receive(), remaining)
        if message["type"] == "http.disconnect":
            raise ConnectionError
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def wsgi_environ(scope: Scope, body: bytes, *, announced: int | None = None) -> dict[str, Any]:
    """The PEP 3333 environ of a complete HTTP request (as WSGI servers build it)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    query = bytes(scope.get("query_string", b""))
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        target = bytes(raw_path).split(b"?", 1)[0]
        # Decoded from the bytes on the wire, like any WSGI server: undecodable UTF-8 in a
        # path reaches the application as it was sent, not as replacement characters.
        path = unquote_to_bytes(target).decode("latin-1")
    else:
        target = str(scope["path"]).encode("utf-8")
        path = target.decode("latin-1")
    # The request target exactly as sent (gunicorn's RAW_URI): SigV4 signs the client's
    # own percent-encoding, which re-encoding PATH_INFO would not reproduce.
    raw_uri = (target + (b"?" + query if query else b"")).decode("latin-1")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": raw_uri,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + str(scope.get("http_version", "1.1")),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(announced if announced is not None else len(body)),
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + name
        if key in environ:
            # RFC 9110 §5.3 joins repeated fields with commas; cookies with "; " (§5.4 of
            # RFC 6265), which is how a cookie parser reads them.
            joiner = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = environ[key] + joiner + value
        else:
            environ[key] = value
    return environ


def _run(app: WsgiApp, environ: dict[str, Any]) -> tuple[_Response, bytes]:
    response = _Response()
    result = app(environ, response.start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return response, body


class Application:
    """The ASGI application: guard, then the WSGI application on one thread per process."""

    def __init__(self, wsgi: WsgiApp, *, body_deadline: float = BODY_DEADLINE_SECONDS) -> None:
        self.wsgi = wsgi
        self.body_deadline = body_deadline
        # One thread: Django's connections are per thread, so it keeps one (persistent).
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sekisho-wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI 3 entry point (http and lifespan)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _request(self, scope: Scope, receive: Receive) -> tuple[dict[str, Any], bool] | None:
        """The complete request's environ, and whether to close the connection after it.

        None when the client went away before its body arrived.
        """
        limit = _limit()
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            # Never read: the body-size middleware refuses by the announced length, and
            # the unread body still on the connection ends it after the answer.
            return wsgi_environ(scope, b"", announced=announced), True
        deadline = time.monotonic() + self.body_deadline
        try:
            body = await read_body(receive, limit=limit, deadline=deadline)
        except TimeoutError:
            environ = wsgi_environ(scope, b"", announced=0)
            environ[BODY_TIMEOUT_KEY] = True
            return environ, True
        except ConnectionError:
            return None
        if body is None:
            return wsgi_environ(scope, b"", announced=limit + 1), True
        return wsgi_environ(scope, body), False

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await self._request(scope, receive)
        if request is None:
            return
        environ, close = request
        loop = asyncio.get_running_loop()
        try:
            response, data = await loop.run_in_executor(self.pool, _run, self.wsgi, environ)
        except Exception:  # the WSGI application itself failed, outside Django's handler
            log.exception("the application failed to answer %s", scope.get("method"))
            await self._plain(send, 500, b"Sekisho could not complete the request.\n")
            return
        headers = list(response.headers)
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data}
        )

    @staticmethod
    async def _plain(send: Send, status: int, text: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode("ascii")),
                    (b"connection", b"close"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": text})


application = Application(get_wsgi_application())
