"""Single logout glue (saml-profiles-2.0-os §4.4): end a portal session at every SP in it.

The state lives in the database, never in a process: what each SP was told at sign-in
(``SpSession``: NameID and SessionIndex as issued) and each logout in progress
(``LogoutOperation``: one step per SP, advanced as the browser comes back with each
LogoutResponse), so any node continues a logout another node started.

Front channel only (HTTP-Redirect preferred, then HTTP-POST): the browser visits each
SP in turn. What Sekisho sends is always signed (RSA-SHA256). What it accepts:
a message from an SP that publishes a signing certificate must carry a valid signature
(saml-profiles §4.4.4.1-§4.4.4.2); an SP without one can still log out, but only with
a LogoutRequest naming a SessionIndex Sekisho issued (a 160-bit secret only that SP and
the browser hold), and its unsigned LogoutResponse counts only when it answers the
request ID Sekisho sent, within the logout's own random token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.db import transaction

from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_RANDOM
from sekisho.crypto import b64url
from sekisho.directory.models import User
from sekisho.saml import errors, services
from sekisho.saml.core import dsig
from sekisho.saml.core import logout as slo
from sekisho.saml.core.bindings import redirect_url
from sekisho.saml.core.urls import check_endpoint_url
from sekisho.saml.core.xml import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, Element, parse_xml
from sekisho.saml.errors import StatusCodes
from sekisho.saml.models import Application, LogoutOperation, SpSession
from sekisho.web.session import end_session

LOGOUT_TTL: Final = timedelta(minutes=10)
MAX_MESSAGE_BYTES: Final = 64 * 1024
# Step states: pending (not visited yet), sent (LogoutRequest on its way), done, failed,
# unsupported (the SP has no front-channel SingleLogoutService).
PENDING, SENT, DONE, FAILED, UNSUPPORTED = "pending", "sent", "done", "failed", "unsupported"


@dataclass(frozen=True)
class Outbound:
    """Where the browser goes next: a signed Redirect URL, or a form to auto-POST."""

    redirect_url: str = ""
    post: services.LaunchOutcome | None = None


@dataclass(frozen=True)
class Received:
    """An inbound logout message, its signature checked (``signed``) or absent."""

    message: slo.LogoutRequest | slo.LogoutResponse
    app: Application
    signed: bool


def slo_endpoint(app: Application) -> dict[str, str] | None:
    """The SP's SingleLogoutService to use: HTTP-Redirect first (no form page), else HTTP-POST."""
    endpoints = [e for e in app.slo_endpoints if isinstance(e, dict)]
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        for endpoint in endpoints:
            if endpoint.get("binding") == binding and endpoint.get("url"):
                return {str(k): str(v) for k, v in endpoint.items()}
    return None


def app_logout_url(app: Application) -> str:
    """An SP's own logout URL for when it has no SAML single logout (Amazon Connect's
    ``/connect/logout``), checked as every endpoint is; empty when none or unusable."""
    url = str(app.preset.get("logout_url") or "") if isinstance(app.preset, dict) else ""
    if not url:
        return ""
    try:
        return check_endpoint_url(url, what=f"{app.name} logout URL").url
    except errors.EndpointRejected:
        return ""


def slo_urls() -> tuple[str, ...]:
    """This IdP's SingleLogoutService URLs (what a message's Destination must name)."""
    identity = services.idp_identity()
    return tuple(u for u in (identity.slo_redirect_url, identity.slo_post_url) if u)


# ------------------------------------------------------------------ receiving


def receive(*, method: str, params: Any, query_string: str) -> Received:
    """Decode, parse and authenticate an inbound LogoutRequest or LogoutResponse.

    ``params`` is the GET or POST mapping (SAMLRequest or SAMLResponse, RelayState).

    Raises:
        SamlError: malformed, from an unknown SP, or a signature missing or invalid where
            this SP's metadata requires one (see the module docstring).
    """
    from sekisho.saml.core import authnrequest as ar

    names = [n for n in ("SAMLRequest", "SAMLResponse") if params.get(n)]
    if len(names) != 1:
        raise errors.MalformedMessage("expected one SAMLRequest or SAMLResponse, got none or both")
    raw = params.get(names[0], "")
    if method == "POST":
        xml = ar.decode_post_message(raw, max_bytes=MAX_MESSAGE_BYTES)
    else:
        xml = ar.decode_redirect_message(raw, max_bytes=MAX_MESSAGE_BYTES)
    message = slo.parse_logout_message(xml, max_bytes=MAX_MESSAGE_BYTES)
    expected = "SAMLRequest" if isinstance(message, slo.LogoutRequest) else "SAMLResponse"
    if names[0] != expected:
        raise errors.MalformedMessage(f"expected a {type(message).__name__} in {expected}")
    candidates = list(Application.objects.filter(entity_id=message.issuer)[:2])
    if len(candidates) != 1:
        raise errors.UnknownServiceProvider(
            f"SP {message.issuer[:200]!r} is "
            f"{'not registered' if not candidates else 'registered more than once'}"
        )
    app = candidates[0]
    expired = services.metadata_expired(app, services.clock().now())
    if expired:
        # Its keys vouch for nothing now (saml-metadata §2.1): neither a signature made
        # with them nor the unsigned SessionIndex path may end anyone's session.
        raise errors.MetadataExpired(expired)
    signed = False
    certificates = tuple(str(c) for c in app.sp_certificates)
    if certificates and method != "POST" and "Signature" in params:
        dsig.verify_redirect_signature(query_string=query_string, trusted_certificates=certificates)
        signed = True
    elif certificates and method == "POST" and message.has_signature:
        verified = dsig.verify_element(
            parse_xml(xml, max_bytes=MAX_MESSAGE_BYTES), trusted_certificates=certificates
        )
        # Read only what the signature covers (no wrapped content).
        message = slo.parse_logout_message(verified.signed_xml, max_bytes=MAX_MESSAGE_BYTES)
        signed = True
    if (certificates or app.want_authn_requests_signed) and not signed:
        raise errors.SignatureRequired(
            f"{app.entity_id} publishes a signing key, so its logout messages must be signed "
            "(saml-profiles §4.4.4); this one is not"
        )
    return Received(message=message, app=app, signed=signed)


# ------------------------------------------------------------------ starting a logout


def begin_portal_logout(
    *, user: User, portal_session_id: str, context: RequestContext
) -> LogoutOperation | None:
    """The person signs out of Sekisho: end every SP session of this portal session.

    Returns the operation to walk the browser through, or None when no SP took part.
    The caller ends the portal session itself (Django's logout).
    """
    return _begin(
        user=user,
        portal_session_ids=[portal_session_id],
        origin=None,
        origin_request_id="",
        origin_relay_state="",
        context=context,
        initiated_by="portal",
        always=False,
    )


def begin_sp_logout(
    received: Received, *, relay_state: str, context: RequestContext
) -> LogoutOperation:
    """An SP asks to end its session: end the portal session(s) it names, and every other SP's.

    The SP's LogoutRequest names the subject as it was issued and, usually, the
    SessionIndex (saml-core §3.7.1); sessions are matched on both. An unsigned request
    (allowed only for an SP without a signing key) must name a SessionIndex.

    Raises:
        SignatureRequired: an unsigned request naming no SessionIndex.
        RequestStale: an old or expired request; DestinationMismatch: not sent to us.
    """
    request = received.message
    assert isinstance(request, slo.LogoutRequest)
    app = received.app
    slo.check_logout_request(request, now=services.clock().now(), expected_destinations=slo_urls())
    if not received.signed and not request.session_indexes:
        raise errors.SignatureRequired(
            "an unsigned LogoutRequest must name the SessionIndex Sekisho issued; this one "
            "names none"
        )
    rows = SpSession.objects.filter(application=app, ended_at__isnull=True)
    if request.session_indexes:
        rows = rows.filter(session_index__in=request.session_indexes)
    matched = [
        row
        for row in rows.select_related("user")
        if slo.same_subject(
            request.name_id,
            slo.SubjectName(
                value=row.name_id,
                format=row.name_id_format or None,
                sp_name_qualifier=row.sp_name_qualifier or None,
            ),
        )
    ]
    op = _begin(
        user=matched[0].user if matched else None,
        portal_session_ids=sorted({row.portal_session_id for row in matched}),
        origin=app,
        origin_request_id=request.id,
        origin_relay_state=relay_state,
        context=context,
        initiated_by=app.name,
        always=True,
    )
    assert op is not None
    return op


def _begin(
    *,
    user: User | None,
    portal_session_ids: Sequence[str],
    origin: Application | None,
    origin_request_id: str,
    origin_relay_state: str,
    context: RequestContext,
    initiated_by: str,
    always: bool,
) -> LogoutOperation | None:
    now = services.clock().now()
    with transaction.atomic():
        rows = list(
            SpSession.objects.filter(
                portal_session_id__in=list(portal_session_ids), ended_at__isnull=True
            )
            .select_related("application")
            .order_by("created_at", "pk")
        )
        steps: list[dict[str, object]] = []
        for row in rows:
            app = row.application
            if origin is not None and app.pk == origin.pk:
                continue
            supported = slo_endpoint(app) is not None
            steps.append(
                {
                    "session": row.pk,
                    "app": app.pk,
                    "name": app.display_name,
                    "state": PENDING if supported else UNSUPPORTED,
                    "request_id": "",
                    "logout_url": "" if supported else app_logout_url(app),
                }
            )
        SpSession.objects.filter(pk__in=[row.pk for row in rows]).update(ended_at=now)
        op = None
        if steps or always:
            op = LogoutOperation.objects.create(
                token=b64url(SYSTEM_RANDOM.token_bytes(24)),
                user=user,
                portal_session_id=portal_session_ids[0] if portal_session_ids else "",
                origin=origin,
                origin_request_id=origin_request_id,
                origin_relay_state=origin_relay_state,
                steps=steps,
                created_at=now,
                expires_at=now + LOGOUT_TTL,
            )
    # The portal sessions end now, whatever the SPs answer later.
    for key in {row.session_key for row in rows if row.session_key}:
        end_session(key)
    for session_id in portal_session_ids or [""]:
        emit(
            records.logout(
                user_uid=str(user.uid) if user is not None else None,
                identity_store_arn=identity_store_arn(),
                session_id=session_id or None,
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=now,
                initiated_by=initiated_by,
                applications=[str(step["name"]) for step in steps],
            )
        )
    return op


# ------------------------------------------------------------------ walking the SPs


def open_operation(token: str) -> LogoutOperation | None:
    """The logout in progress with this token, unless finished or expired."""
    op = LogoutOperation.objects.select_related("origin").filter(token=token).first()
    if op is None or op.completed or op.expires_at <= services.clock().now():
        return None
    return op


def next_outbound(op: LogoutOperation) -> Outbound | None:
    """The next SP's signed LogoutRequest, or None when every SP has been visited.

    An SP whose metadata expired is not sent to (its endpoint vouches for nothing): its
    step fails, and the person is told that application may still be signed in.
    """
    now = services.clock().now()
    with transaction.atomic():
        locked = LogoutOperation.objects.select_for_update().get(pk=op.pk)
        steps = list(locked.steps)
        for step in steps:
            if step.get("state") != PENDING:
                continue
            row = SpSession.objects.select_related("application").filter(pk=step["session"]).first()
            endpoint = (
                slo_endpoint(row.application)
                if row is not None and not services.metadata_expired(row.application, now)
                else None
            )
            if row is None or endpoint is None:
                step["state"] = FAILED
                continue
            message = slo.build_logout_request(
                issuer=services.idp_identity().entity_id,
                destination=endpoint["url"],
                name_id=slo.SubjectName(
                    value=row.name_id,
                    format=row.name_id_format or None,
                    sp_name_qualifier=row.sp_name_qualifier or None,
                ),
                session_indexes=[row.session_index],
                now=now,
                new_id=SYSTEM_RANDOM.new_id,
            )
            outbound = _outbound(
                row.application, endpoint, endpoint["url"], "SAMLRequest", message, locked.token
            )
            if outbound is None:
                step["state"] = FAILED
                continue
            step["state"] = SENT
            step["request_id"] = message.get("ID")
            locked.steps = steps
            locked.save(update_fields=["steps"])
            return outbound
        locked.steps = steps
        locked.save(update_fields=["steps"])
    return None


def record_response(op: LogoutOperation, received: Received) -> None:
    """An SP answered the LogoutRequest Sekisho sent it: note whether it ended its session.

    Raises:
        MalformedMessage: a LogoutResponse to no request of this logout.
    """
    response = received.message
    assert isinstance(response, slo.LogoutResponse)
    slo.check_logout_response(response, expected_destinations=slo_urls())
    with transaction.atomic():
        locked = LogoutOperation.objects.select_for_update().get(pk=op.pk)
        steps = list(locked.steps)
        for step in steps:
            if (
                step.get("state") == SENT
                and step.get("app") == received.app.pk
                and step.get("request_id") == response.in_response_to
            ):
                step["state"] = DONE if response.succeeded else FAILED
                locked.steps = steps
                locked.save(update_fields=["steps"])
                return
    raise errors.MalformedMessage(
        f"expected a LogoutResponse to a LogoutRequest of this logout, got InResponseTo "
        f"{(response.in_response_to or '')[:80]!r}"
    )


def finish(op: LogoutOperation) -> Outbound | None:
    """Close the logout: the LogoutResponse to the SP that started it, or None (show the page).

    The originating SP hears Success, or Success with PartialLogout when some other SP
    did not confirm (saml-core §3.7.3.2).
    """
    updated = LogoutOperation.objects.filter(pk=op.pk, completed=False).update(completed=True)
    op.refresh_from_db()
    origin = op.origin
    if not updated or origin is None or services.metadata_expired(origin, services.clock().now()):
        return None
    endpoint = slo_endpoint(origin)
    if endpoint is None:
        return None
    partial = any(step.get("state") != DONE for step in op.steps)
    message = slo.build_logout_response(
        issuer=services.idp_identity().entity_id,
        destination=endpoint.get("response_url") or endpoint["url"],
        in_response_to=op.origin_request_id or None,
        status=StatusCodes.SUCCESS,
        sub_status=StatusCodes.PARTIAL_LOGOUT if partial else None,
        now=services.clock().now(),
        new_id=SYSTEM_RANDOM.new_id,
    )
    return _outbound(
        origin,
        endpoint,
        endpoint.get("response_url") or endpoint["url"],
        "SAMLResponse",
        message,
        op.origin_relay_state,
    )


def results(op: LogoutOperation) -> tuple[list[str], list[tuple[str, str]]]:
    """(applications signed out, [(application, why it may still be signed in)])."""
    ended: list[str] = []
    not_ended: list[tuple[str, str]] = []
    reasons = {UNSUPPORTED: "no_slo", FAILED: "failed"}
    for step in op.steps:
        name = str(step.get("name", ""))
        state = step.get("state")
        if state == DONE:
            ended.append(name)
        elif state == UNSUPPORTED and step.get("logout_url"):
            # Requested by the browser, cross-site and unanswered: never confirmed.
            not_ended.append((name, "logout_url"))
        else:
            not_ended.append((name, reasons.get(str(state), "no_answer")))
    return ended, not_ended


def logout_urls(op: LogoutOperation) -> list[str]:
    """The logout URLs of this logout's SPs without single logout, for the browser to request.

    Amazon Connect has no SAML single logout, but its instance ends the agent's session
    at ``/connect/logout`` when the browser requests it with the instance's cookies
    (what Connect Streams' own logout does); each URL is checked again before use.
    """
    urls: list[str] = []
    for step in op.steps:
        url = str(step.get("logout_url") or "")
        if step.get("state") != UNSUPPORTED or not url:
            continue
        try:
            urls.append(check_endpoint_url(url, what="logout URL").url)
        except errors.EndpointRejected:
            continue
    return list(dict.fromkeys(urls))


def _outbound(
    app: Application,
    endpoint: dict[str, str],
    location: str,
    parameter: str,
    message: Element,
    relay_state: str,
) -> Outbound | None:
    """The message on its way to ``location``, or None when that URL fails the endpoint check."""
    key = services.signing_key()
    # Stored endpoints were checked at import; checked again, as launches do, so one
    # altered in the database is skipped (that SP counts as not signed out), never sent to.
    try:
        checked = check_endpoint_url(location, what=f"{app.name} SingleLogoutService")
    except errors.EndpointRejected:
        return None
    if endpoint.get("binding") == BINDING_HTTP_REDIRECT:
        return Outbound(
            redirect_url=redirect_url(
                checked.url,
                parameter=parameter,
                xml=slo.serialize(message, key=None),
                relay_state=relay_state,
                key=key,
            )
        )
    return Outbound(
        post=services.post_outcome(
            app_name=app.display_name,
            url=checked.url,
            field=parameter,
            message=slo.serialize(message, key=key),
            relay_state=relay_state,
            signing_out=True,
        )
    )
