"""boto3 against Sekisho's /aws endpoint, over HTTP or, without a server, in this process.

`sekisho demo` provisions the emulated AWS side exactly as a user's boto3 script would.
When it serves, the clients talk HTTP to the server it started; with ``--no-serve`` there
is no server, so each signed request is handed to the same Django stack (middleware,
SigV4 verification, the /aws view) in this process instead of a socket.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from django.core.handlers.wsgi import WSGIHandler

# Demo traffic stays on this machine: never through a proxy from the environment. (A
# non-empty mapping stops botocore reading HTTP(S)_PROXY; None values mean no proxy,
# where an empty string would make it send proxy-style absolute request targets.)
_NO_PROXY: dict[str, str | None] = {"http": None, "https": None}


@dataclass(frozen=True)
class Credentials:
    """Where the AWS API is and the key that signs for it."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str


class _Body(io.BytesIO):
    """A response body as botocore reads it (urllib3's ``stream``)."""

    def stream(self, amt: int = 65536, decode_content: bool | None = None) -> Iterator[bytes]:
        """Yield the body in chunks."""
        while chunk := self.read(amt):
            yield chunk


class InProcess:
    """A botocore ``before-send`` handler that answers from Django in this process."""

    def __init__(self, source_ip: str = "127.0.0.1") -> None:
        self._handler = WSGIHandler()
        self._source_ip = source_ip

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """Run one signed request through Django's request handling; never a socket."""
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": url.path or "/",
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self._source_ip,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": url.scheme,
            "wsgi.errors": io.StringIO(),
        }
        for name, value in request.headers.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = text
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = text
        # urllib3 adds Host on the wire; the signature covers it.
        environ.setdefault("HTTP_HOST", url.netloc)
        # get_response, not __call__: the request/response signals would close this
        # process's database connection, which the rest of the demo is still using.
        django_request = self._handler.request_class(environ)
        response = self._handler.get_response(django_request)
        headers = dict(response.items())
        content = b"".join(response)  # plain and streaming responses alike
        return AWSResponse(request.url, response.status_code, headers, _Body(content))


def client(
    service: str, credentials: Credentials, *, region: str, in_process: InProcess | None
) -> Any:
    """A boto3 client for the emulated account (over HTTP unless ``in_process`` is given)."""
    session = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        region_name=region,
    )
    made = session.client(
        service,
        endpoint_url=credentials.endpoint_url,
        config=Config(retries={"max_attempts": 1}, proxies=_NO_PROXY),
    )
    if in_process is not None:
        made.meta.events.register("before-send", in_process)
    return made
