"""MFA settings, RADIUS servers, signing keys, IdP settings, the audit trail and the dashboard."""

from collections.abc import Iterator
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import HeaderEx, P, QueryEx, Router
from ninja.responses import Status

from sekisho.admin import auditlog, dashboard, settings
from sekisho.admin import radius as admin_radius
from sekisho.admin.roles import Permission
from sekisho.api import schemas
from sekisho.api.core import (
    DateTimeText,
    ShortText,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag_of,
    operation,
    parse_time,
    principal_of,
)
from sekisho.mfa import radius_admin
from sekisho.saml import keyring

router = Router(tags=["system"])
RECORDS = {"type": "array", "items": {"type": "object"}}


# ------------------------------------------------------------------ MFA and IdP settings


@operation(router, "GET", "/mfa/settings", Permission.MFA_READ, response={200: schemas.MfaSettings})
def get_mfa_settings(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    """The IdP-wide MFA settings (with an ETag for updates)."""
    data = settings.mfa_settings()
    response["ETag"] = etag_of(data)
    return data


@operation(
    router, "PATCH", "/mfa/settings", Permission.MFA_WRITE, response={200: schemas.MfaSettings}
)
def update_mfa_settings(
    request: HttpRequest,
    body: schemas.MfaSettingsPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change the MFA settings given (If-Match required)."""
    check_if_match(if_match, etag_of(settings.mfa_settings()))
    data = settings.configure_mfa(
        mode=body.mode,
        without_device=body.without_device,
        methods=",".join(body.methods) if body.methods is not None else None,
        trust_days=body.trust_days,
        known_networks=" ".join(body.known_networks) if body.known_networks is not None else None,
        user_verification=body.webauthn_user_verification,
        aaguids=" ".join(body.webauthn_aaguids) if body.webauthn_aaguids is not None else None,
        actor=principal_of(request).actor(),
    )
    response["ETag"] = etag_of(data)
    return data


@operation(router, "GET", "/settings", Permission.SETTINGS_READ, response={200: schemas.Settings})
def get_settings(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    """The IdP's own settings (the default time zone)."""
    data = settings.idp_settings()
    response["ETag"] = etag_of(data)
    return data


@operation(
    router, "PATCH", "/settings", Permission.SETTINGS_WRITE, response={200: schemas.Settings}
)
def update_settings(
    request: HttpRequest,
    body: schemas.SettingsPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change the IdP's settings (If-Match required)."""
    check_if_match(if_match, etag_of(settings.idp_settings()))
    data = (
        settings.set_time_zone(body.time_zone, actor=principal_of(request).actor())
        if body.time_zone is not None
        else settings.idp_settings()
    )
    response["ETag"] = etag_of(data)
    return data


# ------------------------------------------------------------------ RADIUS


@operation(
    router,
    "GET",
    "/radius/servers",
    Permission.RADIUS_READ,
    response={200: list[schemas.RadiusServer]},
)
def list_radius_servers(request: HttpRequest) -> list[dict[str, object]]:
    """RADIUS servers in failover order (never their secrets)."""
    return admin_radius.list_servers()


@operation(
    router,
    "POST",
    "/radius/servers",
    Permission.RADIUS_WRITE,
    response={201: schemas.RadiusServer},
)
def add_radius_server(
    request: HttpRequest, body: schemas.RadiusServerCreate
) -> Status[dict[str, object]]:
    """Add a server at the end of the failover order; the secret is stored encrypted."""
    server = radius_admin.add_server(
        body.name,
        host=body.host,
        port=body.port,
        timeout=body.timeout,
        retries=body.retries,
        secret=body.secret.encode("utf-8"),
        actor=principal_of(request).actor(),
    )
    return Status(201, admin_radius.describe(server, len(radius_admin.list_servers())))


@operation(
    router,
    "POST",
    "/radius:test",
    Permission.RADIUS_TEST,
    response={200: schemas.RadiusTestResult},
)
def test_radius(request: HttpRequest, body: schemas.RadiusTest) -> dict[str, Any]:
    """Send one Access-Request for a user and show what came back (no secrets)."""
    outcome = admin_radius.test_server(
        username=body.username,
        password=body.password,
        server=body.server,
        actor=principal_of(request).actor(),
    )
    return {
        "result": outcome.result,
        "server": outcome.server,
        "message": outcome.message,
        "seconds": round(outcome.seconds, 3),
    }


@operation(
    router,
    "GET",
    "/radius/servers/{name}",
    Permission.RADIUS_READ,
    response={200: schemas.RadiusServer},
)
def get_radius_server(request: HttpRequest, name: str) -> dict[str, object]:
    """One RADIUS server."""
    for found in admin_radius.list_servers():
        if found["name"] == name:
            return found
    admin_radius.get_server(name)  # raises NotFound
    raise AssertionError("unreachable")


@operation(
    router, "DELETE", "/radius/servers/{name}", Permission.RADIUS_WRITE, response={204: None}
)
def remove_radius_server(request: HttpRequest, name: str) -> Status[None]:
    """Remove a RADIUS server."""
    admin_radius.get_server(name)
    radius_admin.remove_server(name, actor=principal_of(request).actor())
    return Status(204, None)


# ------------------------------------------------------------------ signing keys


def _keys() -> list[dict[str, Any]]:
    return [k.__dict__ for k in keyring.describe()]


@operation(
    router, "GET", "/signing-keys", Permission.KEYS_READ, response={200: list[schemas.SigningKey]}
)
def list_signing_keys(request: HttpRequest) -> list[dict[str, Any]]:
    """The current signing key, the staged next one and the previous one (certificates)."""
    return _keys()


@operation(
    router,
    "POST",
    "/signing-keys:stage",
    Permission.KEYS_ROTATE,
    response={200: list[schemas.SigningKey]},
)
def stage_signing_key(request: HttpRequest) -> list[dict[str, Any]]:
    """Rotation step 1: make the next key and publish its certificate in the metadata."""
    keyring.stage_signing_key(actor=principal_of(request).actor())
    return _keys()


@operation(
    router,
    "POST",
    "/signing-keys:switch",
    Permission.KEYS_ROTATE,
    response={200: list[schemas.SigningKey]},
)
def switch_signing_key(request: HttpRequest) -> list[dict[str, Any]]:
    """Rotation step 2: the staged key signs from now on (SPs must have the new metadata)."""
    keyring.switch_signing_key(actor=principal_of(request).actor())
    return _keys()


# ------------------------------------------------------------------ audit and dashboard


def _filter(
    user: str, event: str, result: str | None, source_ip: str, since: Any, until: Any
) -> auditlog.AuditFilter:
    return auditlog.AuditFilter(
        user=user,
        event=event,
        result=result or "",
        source_ip=source_ip,
        since=parse_time(since, "since"),
        until=parse_time(until, "until"),
    ).validate()


@operation(router, "GET", "/audit/events", Permission.AUDIT_READ, response={200: schemas.AuditPage})
def list_audit_events(
    request: HttpRequest,
    user: ShortText = "",
    event: ShortText = "",
    result: Literal["Success", "Failure"] | None = None,
    source_ip: ShortText = "",
    since: DateTimeText | None = None,
    until: DateTimeText | None = None,
    limit: QueryEx[int, P(ge=1, le=500)] = 50,
    cursor: ShortText | None = None,
) -> dict[str, Any]:
    """Audit records, newest first, filtered by user, event, result, address and time."""
    before = decode_cursor(cursor, int)
    found, more = auditlog.page(
        _filter(user, event, result, source_ip, since, until), before=before, limit=limit
    )
    return {
        "items": [row.record for row in found],
        "next_cursor": encode_cursor(more) if more else None,
    }


@operation(
    router,
    "GET",
    "/audit:export",
    Permission.AUDIT_EXPORT,
    openapi_extra={
        "responses": {
            "200": {
                "description": "The records as a CloudTrail log file, or CSV",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "Records": {"type": "array", "items": {"type": "object"}}
                            },
                        }
                    },
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def export_audit_events(
    request: HttpRequest,
    format: Literal["json", "csv"] = "json",
    user: ShortText = "",
    event: ShortText = "",
    result: Literal["Success", "Failure"] | None = None,
    source_ip: ShortText = "",
    since: DateTimeText | None = None,
    until: DateTimeText | None = None,
) -> StreamingHttpResponse:
    """Export the filtered records, oldest first: CloudTrail JSON (``{"Records": […]}``) or CSV."""
    flt = _filter(user, event, result, source_ip, since, until)
    chunks: Iterator[str]
    if format == "csv":
        chunks, kind, suffix = auditlog.export_csv(flt), "text/csv; charset=utf-8", "csv"
    else:
        chunks, kind, suffix = auditlog.export_json(flt), "application/json", "json"
    response = StreamingHttpResponse(chunks, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="sekisho-audit.{suffix}"'
    return response


@operation(
    router, "GET", "/dashboard", Permission.DASHBOARD_READ, response={200: schemas.Dashboard}
)
def get_dashboard(request: HttpRequest) -> dict[str, Any]:
    """The last 24 hours: sign-ins by hour and result, refusals, sources, launches."""
    figures = dashboard.figures()
    return {
        "since": figures.since,
        "until": figures.until,
        "signins_ok": figures.signins_ok,
        "signins_refused": figures.signins_refused,
        "hours": [
            {"start": h.start.isoformat(), "success": h.success, "failure": h.failure}
            for h in figures.hours
        ],
        "refusals": dict(figures.refusals),
        "sources": dict(figures.sources),
        "launches": [
            {"application": app, "issued": ok, "refused": bad} for app, ok, bad in figures.launches
        ],
    }
