"""The emulated AWS endpoint: translate Django requests into the AWS pipeline and back.

``/aws`` is the single endpoint every emulated service shares (an SDK's ``endpoint_url``);
the SigV4 credential scope names the service ("Signature Version 4 signing process").
The view only translates: routing, SigV4 and the wire protocols live in
``sekisho.emulator.protocol``, IAM's behaviour in ``sekisho.emulator.iam``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sekisho.emulator import connect as connect_service
from sekisho.emulator import iam
from sekisho.emulator import sts as sts_service
from sekisho.emulator.authn import PROTOCOLS, authenticate
from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest, AwsHttpResponse
from sekisho.emulator.protocol.query import (
    parse_query_request,
    serialize_query_error,
    serialize_query_response,
)
from sekisho.emulator.protocol.restjson import match_rest_json_operation, serialize_rest_json_error
from sekisho.emulator.protocol.routing import identify_service, requested_action
from sekisho.emulator.protocol.shapes import ServiceModel, load_service_model
from sekisho.ops.metrics import count_emulator_request
from sekisho.web.middleware import source_ip

logger = logging.getLogger(__name__)


def to_aws_request(request: HttpRequest) -> AwsHttpRequest:
    """The request as received: raw target, headers, body, source address and transport.

    The address, the transport and ``Host`` are those ClientAddressMiddleware resolved (a
    trusted proxy's word, else the socket's), so SigV4 and ``aws:SourceIp`` /
    ``aws:SecureTransport`` see the client's request, not the proxy's.

    Raises:
        AwsError: ``RequestEntityTooLarge`` (413) for a body over the configured limit.
    """
    raw = request.META.get("RAW_URI") or request.get_full_path()
    path, _, query = str(raw).partition("?")
    body = request.body
    if len(body) > int(settings.SEKISHO_MAX_BODY_BYTES):
        raise AwsError(
            "RequestEntityTooLarge",
            f"Request body must be at most {settings.SEKISHO_MAX_BODY_BYTES} bytes.",
            http_status=413,
        )
    return AwsHttpRequest(
        request.method or "GET",
        path,
        query,
        list(request.headers.items()),  # type: ignore[arg-type]
        body,
        source_ip(request),
        request.is_secure(),
    )


def _handle_iam(req: AwsHttpRequest, request_id: str) -> AwsHttpResponse:
    caller = authenticate(req, service="iam")
    operation, params = parse_query_request(req, iam.service_model())
    result = iam.call(
        caller,
        operation.name,
        params,
        source_ip=req.source_ip,
        secure_transport=req.secure_transport,
    )
    return serialize_query_response(operation, result, request_id=request_id)


Handler = Callable[[AwsHttpRequest, str], AwsHttpResponse]

# One handler per emulated service; a routed service missing here is not emulated yet.
SERVICES: dict[str, Handler] = {
    "iam": _handle_iam,
    "sts": sts_service.handle,
    "connect": connect_service.handle,
}


def _handle(req: AwsHttpRequest, request_id: str) -> AwsHttpResponse:
    service = identify_service(req)
    handler = SERVICES.get(service)
    if handler is None:
        raise AwsError(
            "NotImplemented",
            f"The {service} service is not emulated by Sekisho yet.",
            http_status=501,
            sender_fault=False,
        )
    return handler(req, request_id)


def _error_response(error: AwsError, request_id: str, service: str | None) -> AwsHttpResponse:
    model: ServiceModel = load_service_model(service or "iam")
    if PROTOCOLS.get(service or "iam") == "rest-json":
        return serialize_rest_json_error(error, request_id=request_id, service_model=model)
    return serialize_query_error(error, request_id=request_id, service_model=model)


def _service_hint(req: AwsHttpRequest) -> str | None:
    try:
        return identify_service(req)
    except AwsError:
        return None


def _operation_hint(req: AwsHttpRequest, service: str) -> str:
    """The operation a request names, when the service's model knows it (else "")."""
    model = load_service_model(service)
    if PROTOCOLS.get(service) == "rest-json":
        try:
            operation, _labels = match_rest_json_operation(req, model, base_path="/aws")
        except AwsError:
            return ""
        return operation.name
    action = requested_action(req)
    # Only names from the model: a client's free text never becomes a metric label.
    return action if action is not None and action in model.operation_names else ""


def _count(req: AwsHttpRequest | None, error_code: str) -> None:
    try:
        service = _service_hint(req) if req is not None else None
        operation = _operation_hint(req, service) if req is not None and service else ""
    except Exception:  # the answer is already written: a metric must never replace it
        logger.exception("emulated AWS request: naming its operation for metrics failed")
        service, operation = None, ""
    count_emulator_request(service=service or "", operation=operation, error_code=error_code)


def _django_response(response: AwsHttpResponse) -> HttpResponse:
    out = HttpResponse(response.body, status=response.status)
    for name, value in response.headers.items():
        out[name] = value
    return out


@csrf_exempt
@require_http_methods(["GET", "POST", "PUT", "DELETE", "PATCH"])
def aws_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Answer one AWS API call the way the AWS service would, errors included."""
    request_id = str(uuid.uuid4())
    req: AwsHttpRequest | None = None
    error_code = ""
    try:
        req = to_aws_request(request)
        response = _handle(req, request_id)
    except AwsError as error:
        error_code = error.code
        service = _service_hint(req) if req is not None else None
        try:
            response = _error_response(error, request_id, service)
        except Exception:  # writing the error failed: still an AWS-shaped answer
            logger.exception("emulated AWS request %s: writing %r failed", request_id, error)
            response = _internal_failure(request_id)
    except Exception:  # the emulator's own bug: AWS-shaped 500, never a traceback page
        error_code = "InternalFailure"
        logger.exception("emulated AWS request %s failed", request_id)
        response = _internal_failure(request_id)
    _count(req, error_code)
    return _django_response(response)


def _internal_failure(request_id: str) -> AwsHttpResponse:
    failure = AwsError(
        "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
        http_status=500,
    )
    return serialize_query_error(failure, request_id=request_id)
