"""A fake AWS endpoint for botocore clients: no HTTP server, the emulator's protocol code.

A real boto3 client serializes and signs each call; a ``before-send`` hook hands the
prepared request to ``FakeAws.handle`` (routing, SigV4, parsing, a canned handler, the
protocol's serializer) and gives botocore the response to parse, so every test is a
full round trip through botocore on both sides.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.awsrequest import (
    AWSPreparedRequest,
    AWSResponse,
    create_request_object,
    prepare_request_dict,
)
from botocore.config import Config
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest, AwsHttpResponse
from sekisho.emulator.protocol.query import (
    parse_query_request,
    serialize_query_error,
    serialize_query_response,
)
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_error,
    serialize_rest_json_response,
)
from sekisho.emulator.protocol.routing import identify_service
from sekisho.emulator.protocol.shapes import ServiceModel, load_service_model
from sekisho.emulator.protocol.sigv4 import (
    parse_authorization,
    unknown_access_key_error,
    verify_sigv4,
)

ENDPOINT = "http://localhost:8000/aws"
BASE_PATH = "/aws"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# credential-scope service name (the model's signingName) → botocore service name
SIGNING_NAMES = {"iam": "iam", "sts": "sts", "connect": "connect"}

Handler = Callable[[dict[str, Any]], Mapping[str, Any]]

_BOTOCORE = botocore.session.get_session()  # one loader cache for every client


class _Raw(io.BytesIO):
    """The ``raw`` urllib3 response AWSResponse reads from (whole, or streamed)."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def to_aws_request(prepared: AWSPreparedRequest, source_ip: str = "127.0.0.1") -> AwsHttpRequest:
    """What the emulator's web layer would receive for a request botocore sends."""
    url = urlsplit(prepared.url)
    headers = {
        name: value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for name, value in prepared.headers.items()
    }
    headers.setdefault("Host", url.netloc)  # urllib3 adds it on the wire
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = body.read()
    return AwsHttpRequest(prepared.method, url.path or "/", url.query, headers, body, source_ip)


def to_botocore_response(response: AwsHttpResponse, url: str) -> AWSResponse:
    """The AWSResponse botocore parses, built from the emulator's response."""
    return AWSResponse(url, response.status, dict(response.headers), _Raw(response.body))


@dataclass
class Call:
    """One request the fake endpoint handled."""

    service: str
    operation: str
    params: dict[str, Any]
    request: AwsHttpRequest
    signed: bool


@dataclass
class FakeAws:
    """The emulator's request pipeline in miniature, with canned results per operation."""

    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY_ID: SECRET_ACCESS_KEY})
    signing_names: dict[str, str] = field(default_factory=lambda: dict(SIGNING_NAMES))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    allow_unsigned_payload: bool = False
    calls: list[Call] = field(default_factory=list)
    requests: list[AwsHttpRequest] = field(default_factory=list)

    def on(self, service: str, operation: str, result: Mapping[str, Any] | Handler) -> None:
        """Answer ``operation`` with a fixed result, or with ``result(params)``."""
        if callable(result):
            self.handlers[(service, operation)] = result
        else:
            self.handlers[(service, operation)] = lambda _params: result

    @property
    def last(self) -> Call:
        return self.calls[-1]

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """The botocore ``before-send`` hook."""
        received = to_aws_request(request)
        self.requests.append(received)
        return to_botocore_response(self.handle(received), request.url)

    def handle(self, req: AwsHttpRequest) -> AwsHttpResponse:
        """Route, authenticate, parse, answer and serialize one request."""
        request_id = str(uuid.uuid4())
        model: ServiceModel | None = None
        protocol = "query"
        try:
            signing_name = identify_service(req, services=tuple(self.signing_names))
            model = load_service_model(self.signing_names[signing_name])
            protocol = model.protocol
            signed = "authorization" in req.headers or "X-Amz-Signature" in req.query_string
            if signed:
                credential = parse_authorization(req, protocol=protocol)
                secret = self.secrets.get(credential.access_key_id)
                if secret is None:
                    raise unknown_access_key_error(protocol)
                verify_sigv4(
                    req,
                    secret_access_key=secret,
                    now=self.clock(),
                    protocol=protocol,
                    expected_service=signing_name,
                    allow_unsigned_payload=self.allow_unsigned_payload,
                )
            if protocol == "query":
                operation, params = parse_query_request(req, model)
            else:
                operation, labels = match_rest_json_operation(req, model, base_path=BASE_PATH)
                params = parse_rest_json_request(req, operation, labels)
            self.calls.append(Call(model.service_name, operation.name, params, req, signed))
            handler = self.handlers[(model.service_name, operation.name)]
            result = handler(params)
            if protocol == "query":
                return serialize_query_response(operation, result, request_id=request_id)
            return serialize_rest_json_response(operation, result, request_id=request_id)
        except AwsError as error:
            if protocol == "query":
                return serialize_query_error(error, request_id=request_id, service_model=model)
            return serialize_rest_json_error(error, request_id=request_id, service_model=model)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A real boto3 client whose requests this fake endpoint answers."""
        options: dict[str, Any] = {
            "endpoint_url": ENDPOINT,
            "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "config": Config(retries={"total_max_attempts": 1}),
        }
        options.update(kwargs)
        client = boto3.session.Session(botocore_session=_BOTOCORE).client(service, **options)
        client.meta.events.register("before-send.*", self.before_send)
        return client


def without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """A client response minus botocore's ``ResponseMetadata``."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def botocore_request(
    model: ServiceModel, operation: str, params: dict[str, Any], *, validate: bool = True
) -> Any:
    """The request a botocore client sends for these parameters (before signing)."""
    operation_model = model.operation_model(operation)
    serializer = create_serializer(model.protocol, include_validation=validate)
    request_dict = serializer.serialize_to_request(params, operation_model)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    return to_aws_request(create_request_object(request_dict).prepare())


def botocore_parse(model: ServiceModel, operation: str, response: Any) -> dict[str, Any]:
    """What a botocore client returns for the emulator's response."""
    parsed = create_parser(model.protocol).parse(
        {"status_code": response.status, "headers": dict(response.headers), "body": response.body},
        model.operation_model(operation).output_shape,
    )
    parsed.pop("ResponseMetadata")
    return dict(parsed)
