"""SAML endpoints: metadata, SSO (HTTP-Redirect and HTTP-POST bindings), the inspector."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import logout
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from sekisho import rows
from sekisho.audit import records
from sekisho.audit.writer import emit, identity_store_arn
from sekisho.clock import SYSTEM_RANDOM
from sekisho.config import get_config
from sekisho.crypto import b64url
from sekisho.directory.models import User
from sekisho.saml import errors, services, slo
from sekisho.saml.core import authnrequest as ar
from sekisho.saml.core import dsig
from sekisho.saml.core import metadata as md
from sekisho.saml.core.inspector import inspect_response
from sekisho.saml.core.logout import LogoutRequest
from sekisho.saml.core.response import build_status_response
from sekisho.saml.core.xml import BINDING_HTTP_POST
from sekisho.saml.models import Application, PendingAuthnRequest
from sekisho.web.errors import error_page
from sekisho.web.http import request_context, signin_redirect, step_up_redirect
from sekisho.web.middleware import source_ip
from sekisho.web.outcome import render_outcome, render_signed_out
from sekisho.web.session import AuthState, get_auth

log = logging.getLogger("sekisho.saml")

PENDING_TTL = timedelta(minutes=10)
MAX_MESSAGE_BYTES = 64 * 1024
MAX_RELAY_STATE = 1024  # saml-bindings §3.4.3 / §3.5.3: at most 80 bytes SHOULD; be lenient


@require_safe
def metadata(request: HttpRequest) -> HttpResponse:
    """The IdP's metadata (saml-metadata-2.0-os §2.4.3)."""
    response = HttpResponse(services.metadata_xml(), content_type="application/samlmetadata+xml")
    response.headers["Content-Disposition"] = 'inline; filename="sekisho-idp-metadata.xml"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _sp_metadata(app: Application) -> md.SpMetadata:
    return md.SpMetadata(
        entity_id=app.entity_id,
        acs=tuple(
            md.Endpoint(
                binding=BINDING_HTTP_POST,
                location=str(e["url"]),
                index=int(e.get("index", i)),
                is_default=bool(e.get("default")) or None,
            )
            for i, e in enumerate(app.acs_endpoints)
        ),
        signing_certificates=tuple(app.sp_certificates),
        authn_requests_signed=app.want_authn_requests_signed,
        want_assertions_signed=True,
        name_id_formats=(),
    )


def _refuse(
    request: HttpRequest, code: str, exc: Exception, *, app: Application | None
) -> HttpResponse:
    """An error page (nothing sent to any SP), with an audit record."""
    emit(
        records.sso_refused(
            reason=code,
            message=str(exc)[:500],
            application_id=str(app.pk) if app else None,
            application_name=app.name if app else None,
            user_uid=None,
            identity_store_arn=identity_store_arn(),
            source_ip=source_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            now=services.clock().now(),
        )
    )
    status = {"saml_unknown_sp": 404, "saml_acs_not_registered": 400}.get(code, 400)
    if code == "saml_signature":
        status = 403
    return error_page(request, status=status, code=code, detail=str(exc)[:300])


def _status_response(
    request: HttpRequest,
    *,
    app: Application,
    acs_url: str,
    in_response_to: str | None,
    relay_state: str,
    exc: errors.SamlError,
) -> HttpResponse:
    """Send a SAML error back to a known SP at a registered ACS (saml-core §3.2.2.2)."""
    assert exc.status is not None
    xml = build_status_response(
        issuer=services.idp_identity().entity_id,
        destination=acs_url,
        in_response_to=in_response_to,
        status=exc.status.top,
        sub_status=exc.status.sub,
        message=None,
        now=services.clock().now(),
        new_id=SYSTEM_RANDOM.new_id,
        key=services.signing_key(),
    )
    try:
        outcome = services.post_outcome(
            app_name=app.display_name,
            url=acs_url,
            field="SAMLResponse",
            message=xml,
            relay_state=relay_state,
        )
    except errors.EndpointRejected as rejected:
        return _refuse(request, "saml_acs_not_registered", rejected, app=app)
    emit(
        records.sso_refused(
            reason=exc.code,
            message=str(exc)[:500],
            application_id=str(app.pk),
            application_name=app.name,
            in_response_to=in_response_to,
            user_uid=None,
            identity_store_arn=identity_store_arn(),
            source_ip=source_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            now=services.clock().now(),
        )
    )
    return render_outcome(request, outcome)


def _error_code(exc: errors.SamlError) -> str:
    if isinstance(exc, errors.AcsNotRegistered):
        return "saml_acs_not_registered"
    if isinstance(exc, errors.SignatureRequired | errors.SignatureInvalid):
        return "saml_signature"
    if isinstance(exc, errors.RequestStale):
        return "saml_expired"
    return "saml_malformed"


@csrf_exempt
@require_http_methods(["GET", "POST"])  # no HEAD: receiving a request has side effects
def sso(request: HttpRequest) -> HttpResponse:
    """Receive an AuthnRequest by HTTP-Redirect (GET) or HTTP-POST (saml-bindings §3.4, §3.5)."""
    params = request.POST if request.method == "POST" else request.GET
    raw_message = params.get("SAMLRequest", "")
    relay_state = params.get("RelayState", "")
    if not raw_message:
        return _refuse(
            request, "saml_malformed", errors.MalformedMessage("no SAMLRequest"), app=None
        )
    if len(relay_state.encode()) > MAX_RELAY_STATE:
        return _refuse(
            request, "saml_malformed", errors.MalformedMessage("RelayState too long"), app=None
        )
    try:
        if request.method != "POST":
            xml = ar.decode_redirect_message(raw_message, max_bytes=MAX_MESSAGE_BYTES)
        else:
            xml = ar.decode_post_message(raw_message, max_bytes=MAX_MESSAGE_BYTES)
        authn = ar.parse_authn_request(xml, max_bytes=MAX_MESSAGE_BYTES)
    except errors.SamlError as exc:
        return _refuse(request, "saml_malformed", exc, app=None)

    candidates = rows.up_to(2, Application, "entity_id = %s", [authn.issuer])
    if len(candidates) != 1:
        reason = "not registered" if not candidates else "registered more than once"
        return _refuse(
            request,
            "saml_unknown_sp",
            errors.UnknownServiceProvider(f"SP {authn.issuer[:200]!r} is {reason}"),
            app=None,
        )
    app = candidates[0]
    sp = _sp_metadata(app)
    # Signatures first: nothing an unauthenticated message says (its ACS URL included)
    # is trusted before the signature of a signed request has been checked.
    signed = False
    # An SP that publishes no key cannot have its signature checked: its request counts as
    # unsigned (accepted only when the app does not require signatures).
    verifiable = bool(sp.signing_certificates)
    try:
        if verifiable and request.method != "POST" and "Signature" in request.GET:
            dsig.verify_redirect_signature(
                query_string=request.META.get("QUERY_STRING", ""),
                trusted_certificates=sp.signing_certificates,
            )
            signed = True
        elif verifiable and request.method == "POST" and authn.has_signature:
            ar.verify_authn_request_signature(
                xml, trusted_certificates=sp.signing_certificates, max_bytes=MAX_MESSAGE_BYTES
            )
            signed = True
        if app.want_authn_requests_signed and not signed:
            raise errors.SignatureRequired(
                f"{app.entity_id} must sign its AuthnRequests; this one is unsigned"
            )
        endpoint = ar.choose_acs(authn, sp)
    except errors.SamlError as exc:
        return _refuse(request, _error_code(exc), exc, app=app)

    try:
        ar.check_destination(
            authn, expected_destinations=(services.idp_identity().sso_redirect_url,), signed=signed
        )
        ar.check_request_freshness(authn, now=services.clock().now())
        if authn.subject_name_id is not None:
            # saml-core §3.4.1: a Subject binds the answer to that principal; Sekisho signs
            # in whoever holds the session, so it refuses rather than answer for someone else.
            raise errors.RequestUnsupported("AuthnRequests naming a Subject are not supported")
        name_id_format = ar.choose_name_id_format(
            authn, configured=app.name_id_format, allowed=services.allowed_name_id_formats(app)
        )
    except errors.SamlError as exc:
        if exc.status is not None:
            return _status_response(
                request,
                app=app,
                acs_url=endpoint.location,
                in_response_to=authn.id,
                relay_state=relay_state,
                exc=exc,
            )
        return _refuse(request, _error_code(exc), exc, app=app)

    now = services.clock().now()
    token = b64url(SYSTEM_RANDOM.token_bytes(24))
    answer_now = _answerable_now(request, app, authn)
    try:
        with transaction.atomic():
            # Recorded even when answered at once: the request ID is then known, so a
            # replay of this AuthnRequest is refused (the row's unique request_id).
            pending = PendingAuthnRequest.objects.create(
                token=token,
                application=app,
                request_id=authn.id,
                acs_url=endpoint.location,
                relay_state=relay_state,
                force_authn=authn.force_authn,
                is_passive=authn.is_passive,
                name_id_format=name_id_format,
                requested_contexts=list(authn.requested_authn_contexts),
                authn_context_comparison=authn.authn_context_comparison,
                created_at=now,
                expires_at=now + PENDING_TTL,
                completed=answer_now is not None,
            )
    except IntegrityError:
        return _refuse(
            request,
            "saml_expired",
            errors.RequestStale(f"AuthnRequest {authn.id[:80]!r} was already received"),
            app=app,
        )
    if answer_now is not None:
        auth, authn_context_class = answer_now
        return _answer(request, pending, auth, authn_context_class)
    return redirect(f"/saml/continue/{token}")


def _answerable_now(
    request: HttpRequest, app: Application, authn: ar.AuthnRequest
) -> tuple[AuthState, str | None] | None:
    """(session, AuthnContext class) when the request can be answered in this response.

    Only by HTTP-Redirect (GET): the browser sends its SameSite=Lax session cookie with a
    cross-site top-level GET, not with the cross-site POST of the HTTP-POST binding, which
    therefore always goes on through /saml/continue. And only for a session that needs
    nothing more: no ForceAuthn, no step-up, a RequestedAuthnContext it satisfies. Every
    other case (a sign-in, a step-up, a status answer) takes the continuation's way, where
    each is handled once; the answer given here is the one it would give.
    """
    if request.method != "GET" or authn.force_authn:
        return None
    auth = get_auth(request)
    if auth is None or not isinstance(request.user, User):
        return None
    if not auth.mfa and _needs_step_up(app, authn):
        return None
    if not authn.requested_authn_contexts:
        return auth, None
    try:
        return auth, ar.choose_authn_context(authn, mfa_used=bool(auth.mfa))
    except errors.SamlError:
        return None


def _needs_step_up(app: Application, request: ar.AuthnRequest) -> bool:
    """Whether a sign-in without MFA must add it before this request can be answered: the
    app requires MFA, or the RequestedAuthnContext is met with MFA and not without it."""
    if app.require_mfa:
        return True
    if not request.requested_authn_contexts:
        return False
    try:
        ar.choose_authn_context(request, mfa_used=False)
    except errors.SamlError:
        try:
            ar.choose_authn_context(request, mfa_used=True)
        except errors.SamlError:
            return False
        return True
    return False


@require_safe
def continue_sso(request: HttpRequest, token: str) -> HttpResponse:
    """After sign-in, answer a pending AuthnRequest once, at the ACS chosen from metadata."""
    pending = PendingAuthnRequest.objects.select_related("application").filter(token=token).first()
    now = services.clock().now()
    if pending is None or pending.completed or pending.expires_at < now:
        return error_page(request, status=400, code="saml_expired")
    app = pending.application
    auth = get_auth(request)
    if auth is not None and pending.force_authn and auth.auth_time < pending.created_at.timestamp():
        # ForceAuthn (saml-core §3.4.1): this request needs a fresh sign-in.
        logout(request)
        auth = None
    if auth is None:
        if pending.is_passive:
            return _finish_with_status(
                request, pending, errors.NoPassive("the user is not signed in and IsPassive is set")
            )
        return signin_redirect(request)
    if not auth.mfa and _needs_step_up(app, _as_request(pending)):
        if pending.is_passive:
            # IsPassive (saml-core §3.4.1): a step-up would take over the screen.
            return _finish_with_status(
                request, pending, errors.NoPassive("MFA is needed and IsPassive is set")
            )
        # The app (or its RequestedAuthnContext) needs MFA this session has not had yet:
        # ask for it now and come back here, as Identity Center and Keycloak step up.
        return step_up_redirect(request.get_full_path())
    authn_context_class: str | None = None
    if pending.requested_contexts:
        try:
            # The class asserted is the one chosen here (saml-core §3.3.2.2.1).
            authn_context_class = ar.choose_authn_context(_as_request(pending), mfa_used=auth.mfa)
        except errors.SamlError as exc:
            return _finish_with_status(request, pending, exc)
    with transaction.atomic():
        claimed = PendingAuthnRequest.objects.filter(pk=pending.pk, completed=False).update(
            completed=True
        )
    if not claimed:
        return error_page(request, status=400, code="saml_expired")
    return _answer(request, pending, auth, authn_context_class)


def _answer(
    request: HttpRequest,
    pending: PendingAuthnRequest,
    auth: AuthState,
    authn_context_class: str | None,
) -> HttpResponse:
    """The launch decision for a claimed AuthnRequest, and the page that posts its answer."""
    user = request.user
    assert isinstance(user, User)
    outcome = services.launch(
        app=pending.application,
        user=user,
        auth=auth,
        context=request_context(request),
        in_response_to=pending.request_id,
        acs_url=pending.acs_url,
        relay_state=pending.relay_state,
        name_id_format=pending.name_id_format or None,
        authn_context_class=authn_context_class,
        session_key=request.session.session_key or "",
    )
    return render_outcome(request, outcome)


def _as_request(pending: PendingAuthnRequest) -> ar.AuthnRequest:
    return ar.AuthnRequest(
        id=pending.request_id,
        issuer=pending.application.entity_id,
        issue_instant=pending.created_at,
        destination=None,
        acs_url=pending.acs_url,
        acs_index=None,
        protocol_binding=None,
        force_authn=pending.force_authn,
        is_passive=pending.is_passive,
        name_id_policy_format=pending.name_id_format or None,
        allow_create=None,
        sp_name_qualifier=None,
        requested_authn_contexts=tuple(pending.requested_contexts),
        authn_context_comparison=pending.authn_context_comparison,
        provider_name=None,
        subject_name_id=None,
        has_signature=False,
    )


def _finish_with_status(
    request: HttpRequest, pending: PendingAuthnRequest, exc: errors.SamlError
) -> HttpResponse:
    PendingAuthnRequest.objects.filter(pk=pending.pk).update(completed=True)
    return _status_response(
        request,
        app=pending.application,
        acs_url=pending.acs_url,
        in_response_to=pending.request_id,
        relay_state=pending.relay_state,
        exc=exc,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])  # no HEAD: receiving a message has side effects
def single_logout(request: HttpRequest) -> HttpResponse:
    """SingleLogoutService, HTTP-Redirect and HTTP-POST (saml-bindings §3.4, §3.5; profiles §4.4).

    A LogoutRequest from an SP ends the portal session it names and starts the walk
    through the other SPs; a LogoutResponse moves that walk on.
    """
    params = request.POST if request.method == "POST" else request.GET
    relay_state = params.get("RelayState", "")
    if len(relay_state.encode()) > MAX_RELAY_STATE:
        return _refuse_logout(request, errors.MalformedMessage("RelayState too long"), app=None)
    try:
        received = slo.receive(
            method=request.method or "GET",
            params=params,
            query_string=request.META.get("QUERY_STRING", ""),
        )
    except errors.SamlError as exc:
        return _refuse_logout(request, exc, app=None)
    if isinstance(received.message, LogoutRequest):
        try:
            started = slo.begin_sp_logout(
                received, relay_state=relay_state, context=request_context(request)
            )
        except errors.SamlError as exc:
            return _refuse_logout(request, exc, app=received.app)
        auth = get_auth(request)
        if auth is not None and auth.session_id == started.portal_session_id:
            logout(request)
        return redirect(f"/saml/logout/{started.token}")
    op = slo.open_operation(relay_state)
    if op is None:
        return _refuse_logout(
            request,
            errors.RequestStale("this sign-out is finished or expired (RelayState unknown)"),
            app=received.app,
        )
    try:
        slo.record_response(op, received)
    except errors.SamlError as exc:
        return _refuse_logout(request, exc, app=received.app)
    return redirect(f"/saml/logout/{op.token}")


@require_GET  # not HEAD either: each visit moves the logout on
def logout_continue(request: HttpRequest, token: str) -> HttpResponse:
    """Send the browser to the next SP of a single logout, or finish it."""
    op = slo.open_operation(token)
    if op is None:
        return error_page(request, status=400, code="slo_expired")
    auth = get_auth(request)
    if auth is not None and auth.session_id == op.portal_session_id:
        logout(request)
    outbound = slo.next_outbound(op) or slo.finish(op)
    if outbound is None:
        op.refresh_from_db()
        ended, not_ended = slo.results(op)
        return render_signed_out(
            request, ended=ended, not_ended=not_ended, logout_urls=slo.logout_urls(op)
        )
    if outbound.post is not None:
        return render_outcome(request, outbound.post)
    return redirect(outbound.redirect_url)


def _refuse_logout(
    request: HttpRequest, exc: errors.SamlError, *, app: Application | None
) -> HttpResponse:
    """An error page for a logout message Sekisho will not act on, with an audit record."""
    emit(
        records.logout(
            user_uid=None,
            identity_store_arn=identity_store_arn(),
            session_id=None,
            source_ip=source_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            now=services.clock().now(),
            initiated_by=app.name if app is not None else None,
            failure=exc.code,
            message=str(exc)[:500],
        )
    )
    if isinstance(exc, errors.SignatureRequired | errors.SignatureInvalid):
        return error_page(request, status=403, code="slo_signature", detail=str(exc)[:300])
    if isinstance(exc, errors.UnknownServiceProvider):
        return error_page(request, status=404, code="saml_unknown_sp")
    if isinstance(exc, errors.MetadataExpired):
        return error_page(request, status=403, code="slo_metadata_expired")
    if isinstance(exc, errors.RequestStale):
        return error_page(request, status=400, code="slo_expired")
    return error_page(request, status=400, code="slo_malformed", detail=str(exc)[:300])


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def inspector(request: HttpRequest) -> HttpResponse:
    """A built-in ACS that verifies a Response against Sekisho's own metadata and shows it."""
    config = get_config()
    acs_url = config.url("/saml/inspector")
    if request.method != "POST":
        return render(request, "sekisho/inspector.html", {"acs_url": acs_url, "inspection": None})
    raw = request.POST.get("SAMLResponse", "")
    relay_state = request.POST.get("RelayState", "")
    if not raw:
        return render(
            request,
            "sekisho/inspector.html",
            {"acs_url": acs_url, "inspection": None, "error": _("No SAMLResponse was posted.")},
            status=400,
        )
    identity = services.idp_identity()
    inspection = inspect_response(
        raw,
        trusted_certificates=(identity.signing_certificate_pem,),
        expected_issuer=identity.entity_id,
        expected_audience=None,
        expected_recipient=acs_url,
        now=services.clock().now(),
    )
    return render(
        request,
        "sekisho/inspector.html",
        {"acs_url": acs_url, "inspection": inspection, "relay_state": relay_state},
        status=200 if inspection.valid else 422,
    )
