"""The REST API's machinery: bearer tokens, per-operation permissions, problems, ETags, cursors.

Every operation is declared with ``operation(...)``, which names the permission it needs;
the bearer check runs before anything else (before the parameters are even read): the
token is found and rate-limited, then ``admin.access.authorize`` decides and audits, so
each use of a token is one ``AdminAccess`` record. Errors are RFC 9457 problem documents
(``application/problem+json``) naming the offending field.
"""

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import AfterValidator, Field

from sekisho.admin import access, tokens
from sekisho.admin.errors import (
    AccessRefused,
    InvalidInput,
    InvalidToken,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
)
from sekisho.admin.roles import Permission, Role
from sekisho.audit.records import AdminChannel
from sekisho.errors import SekishoError
from sekisho.policy import PolicyError
from sekisho.web.http import request_context

log = logging.getLogger("sekisho.api")

PROBLEM = "application/problem+json"
PERMISSION_EXTENSION = "x-sekisho-permission"
# What a text field may hold: no control characters (NUL and friends never reach storage).
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def _printable(value: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("must not contain control characters")
    return value


# Multi-line text (CSV, XML, policy JSON): tabs and line breaks allowed, no other controls.
DOCUMENT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _document(value: str) -> str:
    if any(
        (ord(ch) < 0x20 and ch not in "\t\n\r") or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in value
    ):
        raise ValueError("must not contain control characters other than tab and line breaks")
    return value


def _text(min_length: int, max_length: int) -> Any:
    return Field(
        min_length=min_length,
        max_length=max_length,
        json_schema_extra={"pattern": PRINTABLE_PATTERN},
    )


PRINTABLE = AfterValidator(_printable)
Name = Annotated[str, _text(1, 128), PRINTABLE]
Email = Annotated[str, _text(1, 254), PRINTABLE]
LongText = Annotated[str, _text(0, 2048), PRINTABLE]
ShortText = Annotated[str, _text(0, 256), PRINTABLE]
Document = Annotated[
    str,
    Field(min_length=1, max_length=400 * 1024, json_schema_extra={"pattern": DOCUMENT_PATTERN}),
    AfterValidator(_document),
]
# A time as RFC 3339 text (``2026-11-27T09:00:00Z``); numbers are not taken for epochs.
DateTimeText = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra={"format": "date-time"})
]


def parse_time(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 date-time with its offset, or InvalidInput naming the field."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise InvalidInput(
            f"{field} must be an RFC 3339 date-time such as 2026-11-27T09:00:00Z", field=field
        )
    return moment


# ------------------------------------------------------------------ problems (RFC 9457)

# Stable error codes of the services below -> HTTP status. Anything else is 422.
STATUS_BY_CODE = {
    "not_found": 404,
    "user_not_found": 404,
    "group_not_found": 404,
    "unknown_application": 404,
    "no_such_policy": 404,
    "conflict": 409,
    "user_exists": 409,
    "group_exists": 409,
    "application_exists": 409,
    "delete_conflict": 409,
    "precondition_failed": 412,
    "precondition_required": 428,
    "invalid_token": 401,
    "access_refused": 403,
    "rate_limited": 429,
}
# Which request field a service error is about, when its code says so.
FIELD_BY_CODE = {
    "invalid_username": "username",
    "user_exists": "username",
    "invalid_email": "email",
    "invalid_display_name": "display_name",
    "invalid_group_name": "name",
    "group_exists": "name",
    "weak_password": "password",
    "password_reused": "password",
    "invalid_time_zone": "time_zone",
    "invalid_application_name": "name",
    "application_exists": "name",
    "invalid_policy_name": "name",
    "invalid_role": "role",
    "invalid_mapping": "attributes",
    "mapping_error": "attributes",
    "metadata_error": "metadata",
    "invalid_relay_state": "relay_state",
    "not_assignable": "username",
}


def problem(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": f"urn:sekisho:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail[:2000],
        "instance": request.path[:512],
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
}


def _field_error(field: str, detail: str) -> dict[str, str]:
    pointer = "/" + field.replace(".", "/").replace("[", "/").replace("]", "") if field else ""
    return {"field": field, "detail": detail, "pointer": f"#{pointer}"}


def _sekisho_error(request: HttpRequest, exc: SekishoError) -> HttpResponse:
    code = exc.code
    status = STATUS_BY_CODE.get(code, 422)
    headers: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(exc, PolicyError):
        errors = [_field_error(f"document{p.path.lstrip('$')}", p.message) for p in exc.problems]
        detail = f"the policy document has {len(exc.problems)} problem(s)"
    else:
        detail = str(exc)
        field = exc.field if isinstance(exc, InvalidInput) else FIELD_BY_CODE.get(code, "")
        if field and status == 422:
            errors = [_field_error(field, detail)]
    return problem(
        request,
        status=status,
        code=code,
        title=TITLES.get(status, "Error"),
        detail=detail,
        errors=errors,
        headers=headers,
    )


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        # ninja's locations read ("body", "<argument>", field, ...), ("query", field), ...
        if loc and loc[0] in ("body", "form", "file") and len(loc) > 1:
            loc = loc[2:] if len(loc) > 2 else loc[1:]
        elif loc and loc[0] in ("query", "path", "header", "cookie"):
            loc = loc[1:]
        field = ".".join(loc)
        errors.append(_field_error(field, str(error.get("msg", "invalid"))))
    named = ", ".join(e["field"] for e in errors if e["field"]) or "the request"
    return problem(
        request,
        status=422,
        code="validation_error",
        title=TITLES[422],
        detail=f"invalid value for {named}",
        errors=errors,
    )


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    code = "unauthorized" if status == 401 else "bad_request" if status == 400 else "http_error"
    detail = (
        "send the API token as 'Authorization: Bearer <token>'"
        if status == 401
        else "the request body is not valid JSON"
        if status == 400
        else str(exc)
    )
    return problem(
        request,
        status=status,
        code=code,
        title=TITLES.get(status, "Error"),
        detail=detail,
        headers=headers,
    )


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(request, status=404, code="not_found", title=TITLES[404], detail="not found")


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API request failed: %s %s", request.method, request.path)
    return problem(
        request,
        status=500,
        code="internal_error",
        title=TITLES[500],
        detail="the request could not be completed; the server log has the details",
    )


# ------------------------------------------------------------------ the API and its auth


class SekishoApi(NinjaAPI):
    """NinjaAPI whose OpenAPI document lists the problem responses every operation may give."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """The OpenAPI 3.1 document, with problem+json responses and permissions."""
        schema = super().get_openapi_schema(**kwargs)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        by_id = {
            operation["operationId"]: operation
            for methods in schema.get("paths", {}).values()
            for operation in methods.values()
        }
        for source, (code, key, targets) in LINKS.items():
            response = by_id[source]["responses"].get(code)
            if response is None:
                continue
            response["links"] = {
                target: {"operationId": target, "parameters": {key: f"$response.body#/{field}"}}
                for target, field in targets
            }
        for methods in schema.get("paths", {}).values():
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                statuses = [400, 401, 403, 404, 409, 412, 422, 428, 429]
                if "requestBody" in operation:
                    statuses.append(413)
                for status in statuses:
                    responses.setdefault(
                        str(status),
                        {
                            "description": TITLES[status],
                            "content": {
                                PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
                            },
                        },
                    )
        return schema


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# OpenAPI links (3.1 §4.8.20): what a created resource can be used for next. Clients and
# Schemathesis' stateful tests follow them (create a user, then read, update, delete it).
LINKS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "create_user": (
        "201",
        "username",
        [
            (op, "username")
            for op in (
                "get_user",
                "update_user",
                "delete_user",
                "disable_user",
                "enable_user",
                "unlock_user",
                "reset_user_mfa",
                "set_user_password",
                "list_user_devices",
                "list_user_sessions",
                "revoke_user_sessions",
            )
        ],
    ),
    "create_group": (
        "201",
        "name",
        [(op, "name") for op in ("get_group", "update_group", "delete_group")],
    ),
    "create_application": (
        "201",
        "name",
        [
            (op, "name")
            for op in (
                "get_application",
                "update_application",
                "delete_application",
                "list_assignments",
            )
        ],
    ),
    "put_policy": ("201", "name", [(op, "name") for op in ("get_policy", "delete_policy")]),
    "add_radius_server": (
        "201",
        "name",
        [(op, "name") for op in ("get_radius_server", "remove_radius_server")],
    ),
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail", "pointer"],
                "properties": {
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                    "pointer": {"type": "string"},
                },
            },
        },
    },
}

api = SekishoApi(
    title="Sekisho administration API",
    version="1",
    description=(
        "Everything the `sekisho` command does, over HTTP: users, groups, applications, "
        "policies, MFA, RADIUS, signing keys, sessions and the audit trail. Send "
        "`Authorization: Bearer <token>` (`sekisho api-token create`); errors are RFC 9457 "
        "problem documents; updates need `If-Match` with the ETag last read."
    ),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url=None,
)
api.add_exception_handler(SekishoError, _sekisho_error)  # type: ignore[arg-type]
api.add_exception_handler(ValidationError, _validation_error)  # type: ignore[arg-type]
api.add_exception_handler(HttpError, _http_error)  # type: ignore[arg-type]
api.add_exception_handler(AuthenticationError, _http_error)  # type: ignore[arg-type]
api.add_exception_handler(Http404, _not_found)  # type: ignore[arg-type]
api.add_exception_handler(Exception, _unexpected)  # type: ignore[arg-type]


class TokenAuth(HttpBearer):
    """The bearer token of one operation, checked against the permission it needs."""

    openapi_scheme = "bearer"

    def __init__(self, permission: Permission) -> None:
        super().__init__()
        self.permission = permission

    def authenticate(self, request: HttpRequest, token: str) -> access.Principal:
        """Find the token, count the request, decide and audit; raise on any refusal."""
        context = request_context(request)
        try:
            found = tokens.authenticate(token)
        except InvalidToken:
            # Guessing tokens costs the guesser's address its budget, and is on record.
            anonymous = access.Principal(
                name="api:unknown", channel=AdminChannel.API, roles=frozenset(), context=context
            )
            try:
                tokens.count_request(f"api-address:{context.source_ip}")
            finally:
                access.refusal(
                    anonymous,
                    reason="invalid_token",
                    permission=self.permission.value,
                    resource=f"{request.method} {request.path}",
                )
            raise
        principal = access.Principal(
            name=f"api:{found.name}",
            channel=AdminChannel.API,
            roles=frozenset({Role(found.role)}),
            context=context,
        )
        try:
            tokens.count_request(f"api-token:{found.pk}")
        except RateLimited:
            access.refusal(
                principal,
                reason="rate_limited",
                permission=self.permission.value,
                resource=f"{request.method} {request.path}",
            )
            raise
        decision = access.authorize(
            principal, self.permission, resource=f"{request.method} {request.path}"
        )
        if not decision.allowed:
            raise AccessRefused(
                f"the token's role ({found.role}) may not {self.permission.value}",
                reason=decision.reason,
            )
        return principal


def principal_of(request: HttpRequest) -> access.Principal:
    """The authenticated principal of this request."""
    found = getattr(request, "auth", None)
    assert isinstance(found, access.Principal)
    return found


def operation(
    router: Router,
    method: str,
    path: str,
    permission: Permission,
    *,
    response: Any = None,
    summary: str | None = None,
    openapi_extra: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare one API operation and the permission it needs (its operationId: the function)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        extra = {PERMISSION_EXTENSION: permission.value, **(openapi_extra or {})}
        router.api_operation(
            [method],
            path,
            auth=TokenAuth(permission),
            response=response if response is not None else {200: None},
            operation_id=func.__name__,
            summary=summary or (func.__doc__ or "").strip().split("\n")[0] or None,
            openapi_extra=extra,
        )(func)
        return func

    return decorator


# ------------------------------------------------------------------ ETags and cursors


def etag_of(data: Any) -> str:
    """A strong ETag of a representation (any change to it changes the tag)."""
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def check_if_match(if_match: str | None, current: str) -> None:
    """Refuse an update unless If-Match names the current ETag (or is ``*``).

    Raises PreconditionRequired without the header (RFC 6585 §3: 428), PreconditionFailed
    when someone changed the resource since it was read (RFC 9110 §13.1.1: 412).
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the ETag from your last GET, so no one's change is overwritten"
        )
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in tags:
        return
    if current not in tags:
        raise PreconditionFailed(
            "the resource changed since you read it (ETag mismatch): read it again and retry"
        )


def encode_cursor(value: str | int) -> str:
    """An opaque cursor for the next page."""
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type) -> Any:
    """The position a cursor stands for, or InvalidInput naming the ``cursor`` field."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidInput("the cursor is not one this API returned", field="cursor") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput("the cursor is not one this API returned", field="cursor")
    return value
