"""What a person's browser meets on the emulated AWS side: SAML sign-in and Connect federation.

``POST /aws/saml`` stands in for ``https://signin.aws.amazon.com/saml``: the Response is
redeemed by ``sts.assume_role_with_saml`` (every STS check, the replay guard included), a
console session cookie is set, and the RelayState is followed when it names a console page
the emulator has (``/connect/federate/<instance-id>``). ``/aws/connect/federate/<id>`` runs
``connect.federation_user``, the same decision as the GetFederationToken API, with the
browser's address as ``aws:SourceIp`` (aws-semantics §1-§2).

The pages are AWS's own (English), under a neutral "AWS (Sekisho local emulator)" header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sekisho.audit import records
from sekisho.audit.writer import emit
from sekisho.config import get_config
from sekisho.emulator import connect, iam, sts
from sekisho.emulator.errors import AwsError
from sekisho.emulator.models import AccessKey, ConnectInstance, ConsoleSession
from sekisho.emulator.sts_saml import ATTR_ROLE, MAX_ASSERTION_CHARS, MSG_INVALID
from sekisho.saml.core.xml import SAML, children, element_text, parse_xml
from sekisho.saml.errors import SamlError
from sekisho.web.middleware import source_ip

logger = logging.getLogger(__name__)

COOKIE = "aws_console_session"
COOKIE_PATH = "/aws"
# Not documented by AWS: the Connect region when the instance is unknown (the decision then
# refuses it anyway, after authorization, as the API does).
FALLBACK_REGION = "us-east-1"
# https://<region>.console.aws.amazon.com/connect/federate/<instance-id>[?destination=...]
_CONSOLE_FEDERATE = re.compile(
    r"https://(?:[a-z]{2}(?:-[a-z]+)+-\d\.)?console\.aws\.amazon\.com"
    r"/connect/federate/(?P<id>[A-Za-z0-9-]{1,100})"
)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
_PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/\S+")
# Connect destinations the agent console page names (Connect Administrator Guide).
DESTINATIONS = {
    "/ccp-v2": "Contact Control Panel",
    "/agent-app-v2": "Agent Workspace",
    "/connect/home": "Amazon Connect dashboard",
}

MSG_SESSION_EXPIRED = (
    "Your session has expired. Please sign in again through your identity provider."
)
MSG_ACCESS_DENIED = "You don't have permission to access this page."


@dataclass(frozen=True)
class RolePair:
    """One value of the Role attribute: a role and the SAML provider that vouches for it."""

    role_arn: str
    provider_arn: str

    @property
    def account_id(self) -> str:
        """The role's account."""
        return self.role_arn.split(":")[4]

    @property
    def role_name(self) -> str:
        """The role's name (after the last slash)."""
        return self.role_arn.rpartition("/")[2]


def role_pairs(saml_response_b64: str) -> list[RolePair]:
    """The Role attribute's pairs, read WITHOUT verification (only to choose; STS verifies).

    Raises:
        AwsError: ``InvalidIdentityToken`` when the Response is not base64 XML or has no pair.
    """
    compact = "".join(saml_response_b64.split())
    try:
        root = parse_xml(base64.b64decode(compact, validate=True), max_bytes=MAX_ASSERTION_CHARS)
    except (binascii.Error, ValueError, SamlError) as exc:
        raise AwsError("InvalidIdentityToken", MSG_INVALID, http_status=400) from exc
    found: list[RolePair] = []
    for assertion in children(root, SAML, "Assertion"):
        for statement in children(assertion, SAML, "AttributeStatement"):
            for attribute in children(statement, SAML, "Attribute"):
                if attribute.get("Name", "") != ATTR_ROLE:
                    continue
                for value in children(attribute, SAML, "AttributeValue"):
                    pair = _pair(element_text(value))
                    if pair is not None and pair not in found:
                        found.append(pair)
    if not found:
        raise AwsError("InvalidIdentityToken", MSG_INVALID, http_status=400)
    return found


def _pair(text: str) -> RolePair | None:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        return None
    roles = [p for p in parts if _ROLE_ARN.fullmatch(p)]
    providers = [p for p in parts if _PROVIDER_ARN.fullmatch(p)]
    if len(roles) != 1 or len(providers) != 1:
        return None
    return RolePair(roles[0], providers[0])


def emulated_target(relay_state: str) -> str | None:
    """The emulator's path for a console RelayState it emulates (Connect federate), or None."""
    parts = urlsplit(relay_state)
    origin = f"{parts.scheme}://{parts.netloc}{parts.path}"
    match = _CONSOLE_FEDERATE.fullmatch(origin)
    own = get_config().url("/aws/connect/federate/")
    instance_id: str | None = None
    if match is not None:
        instance_id = match.group("id")
    elif origin.startswith(own) and re.fullmatch(r"[A-Za-z0-9-]{1,100}", origin[len(own) :]):
        instance_id = origin[len(own) :]
    if instance_id is None:
        return None
    target = f"/aws/connect/federate/{instance_id}"
    destination = parse_qs(parts.query).get("destination")
    if destination:
        target += "?destination=" + quote(destination[0], safe="")
    return target


def _page(
    request: HttpRequest, template: str, context: dict[str, object], status: int = 200
) -> HttpResponse:
    return render(request, f"emulator/{template}", context, status=status)


def _error_page(
    request: HttpRequest, *, status: int, title: str, message: str, note: str | None = None
) -> HttpResponse:
    return _page(request, "error.html", {"title": title, "message": message, "note": note}, status)


def _session_expired(request: HttpRequest) -> HttpResponse:
    # Connect answers a visit without a federated session with its "Session Expired" page.
    return _error_page(request, status=401, title="Session Expired", message=MSG_SESSION_EXPIRED)


def _user_agent(request: HttpRequest) -> str:
    return str(request.headers.get("user-agent", ""))


def _invalid_response_page(request: HttpRequest, failure: AwsError) -> HttpResponse:
    return _error_page(
        request,
        status=403 if failure.http_status == 403 else 400,
        title="Error",
        message=f"{MSG_INVALID} To logout, close your browser and sign in again.",
        note=f"{failure.code}: {failure.message}",
    )


def _audit_console_login(
    request: HttpRequest,
    request_id: str,
    pair: RolePair | None,
    *,
    role_id: str | None = None,
    session_name: str | None = None,
    failure: AwsError | None = None,
) -> None:
    identity: dict[str, object] = {"type": "AssumedRole"}
    if pair is not None:
        identity = records.assumed_role_identity(
            account_id=pair.account_id,
            role_arn=pair.role_arn,
            role_id=role_id,
            session_name=session_name,
        )
    emit(
        records.console_login(
            identity=identity,
            login_to=get_config().url("/aws/console"),
            saml_provider_arn=pair.provider_arn if pair is not None else None,
            failure_reason=None if failure is None else f"{failure.code}: {failure.message}",
            source_ip=source_ip(request),
            user_agent=_user_agent(request),
            now=iam.now(),
            request_id=request_id,
        )
    )


@csrf_exempt
@require_POST
def saml_signin(request: HttpRequest) -> HttpResponse:
    """``POST /aws/saml``: AWS's SAML sign-in endpoint (HTTP-POST binding), emulated."""
    request_id = str(uuid.uuid4())
    response_b64 = str(request.POST.get("SAMLResponse", ""))
    relay_state = str(request.POST.get("RelayState", ""))
    if not response_b64:
        return _error_page(
            request,
            status=400,
            title="Error",
            message="The request did not include a SAMLResponse.",
        )
    try:
        pairs = role_pairs(response_b64)
    except AwsError as failure:
        _audit_console_login(request, request_id, None, failure=failure)
        return _invalid_response_page(request, failure)
    chosen = str(request.POST.get("roleIndex", ""))
    if len(pairs) > 1 and not chosen:
        # The AWS sign-in page lists the roles and posts the choice back with the Response.
        return _page(
            request,
            "choose_role.html",
            {"pairs": pairs, "saml_response": response_b64, "relay_state": relay_state},
        )
    pair = pairs[0] if len(pairs) == 1 else next((p for p in pairs if p.role_arn == chosen), None)
    if pair is None:
        unchosen = AwsError("InvalidIdentityToken", MSG_INVALID, http_status=400)
        _audit_console_login(request, request_id, None, failure=unchosen)
        return _invalid_response_page(request, unchosen)
    return _sign_in(request, request_id, pair, response_b64, relay_state)


def _sign_in(
    request: HttpRequest, request_id: str, pair: RolePair, response_b64: str, relay_state: str
) -> HttpResponse:
    # No DurationSeconds: the SessionDuration attribute (or 1 h) sets the session, which STS
    # also ends at SessionNotOnOrAfter; the console session ends with the key it issued.
    params = {
        "RoleArn": pair.role_arn,
        "PrincipalArn": pair.provider_arn,
        "SAMLAssertion": response_b64,
    }
    now = iam.now()
    try:
        result, claims = sts.assume_role_with_saml(params, now=now)
    except AwsError as failure:
        sts.audit_assume_role_with_saml(
            params,
            now,
            source_ip=source_ip(request),
            user_agent=_user_agent(request),
            request_id=request_id,
            failure=failure,
        )
        _audit_console_login(request, request_id, pair, failure=failure)
        return _invalid_response_page(request, failure)
    sts.audit_assume_role_with_saml(
        params,
        now,
        source_ip=source_ip(request),
        user_agent=_user_agent(request),
        request_id=request_id,
        result=result,
        claims=claims,
    )
    key = AccessKey.objects.select_related("role", "account").get(
        access_key_id=result["Credentials"]["AccessKeyId"]
    )
    assert key.role is not None and key.expiration is not None  # a role session's key
    session_id = secrets.token_urlsafe(32)
    ConsoleSession.objects.filter(expires__lte=now).delete()  # opportunistic purge
    ConsoleSession.objects.create(
        session_id_sha256=_digest(session_id),
        account=key.account,
        role=key.role,
        session_name=claims.role_session_name,
        access_key=key,
        saml_provider_arn=pair.provider_arn,
        expires=key.expiration,
        created=now,
    )
    _audit_console_login(
        request,
        request_id,
        pair,
        role_id=key.role.role_id,
        session_name=claims.role_session_name,
    )
    target = emulated_target(relay_state)
    if target is not None:
        out: HttpResponse = HttpResponseRedirect(target, status=303)
    else:
        out = _page(
            request,
            "signed_in.html",
            {
                "arn": result["AssumedRoleUser"]["Arn"],
                "expires": key.expiration,
                "relay_state": relay_state,
            },
        )
    out.set_cookie(
        COOKIE,
        session_id,
        max_age=max(0, int((key.expiration - now).total_seconds())),
        path=COOKIE_PATH,
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Lax",
    )
    return out


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def current_session(request: HttpRequest) -> ConsoleSession | None:
    """The browser's live console session (cookie, unexpired, its key still active)."""
    session_id = request.COOKIES.get(COOKIE)
    if not session_id:
        return None
    found = (
        ConsoleSession.objects.select_related("account", "role", "access_key")
        .filter(session_id_sha256=_digest(session_id), expires__gt=iam.now())
        .first()
    )
    if found is None or found.access_key.status != "Active":
        return None
    return found


def _destination(request: HttpRequest) -> tuple[str, str]:
    """The requested Connect destination path and what it opens (only local paths)."""
    raw = str(request.GET.get("destination", ""))
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "", "Amazon Connect"
    key = raw.split("?", 1)[0].rstrip("/")
    return raw, DESTINATIONS.get(key, "Amazon Connect")


@require_GET
def connect_federate(request: HttpRequest, instance_id: str) -> HttpResponse:
    """``GET /aws/connect/federate/<instance-id>``: Connect signs the console session in."""
    session = current_session(request)
    if session is None:
        return _session_expired(request)
    caller = iam.Caller(
        session.account, session.role, session.session_name, session.access_key.session_policy
    )
    instance = ConnectInstance.objects.filter(
        account=session.account, instance_id=instance_id
    ).first()
    ctx = connect.Ctx(
        caller=caller,
        region=instance.region if instance is not None else FALLBACK_REGION,
        source_ip=source_ip(request),
        secure_transport=request.is_secure(),
    )
    request_id = str(uuid.uuid4())
    try:
        found, user = connect.federation_user(ctx, instance_id)
    except AwsError as failure:
        connect.audit_federation(
            ctx,
            instance_id,
            failure=failure,
            user_agent=_user_agent(request),
            request_id=request_id,
        )
        logger.info(
            "emulated Connect federation refused: %s: %s %s",
            failure.code,
            failure.message,
            failure.explanation or "",
        )
        return _error_page(request, status=403, title="Access denied", message=MSG_ACCESS_DENIED)
    connect.audit_federation(
        ctx, instance_id, failure=None, user_agent=_user_agent(request), request_id=request_id
    )
    destination, opens = _destination(request)
    return _page(
        request,
        "agent_console.html",
        {
            "user": user,
            "instance": found,
            "expires": session.expires,
            "destination": destination,
            "opens": opens,
            "arn": caller.arn,
        },
    )


@require_GET
def connect_logout(request: HttpRequest, name: str) -> HttpResponse:
    """``GET /aws/connect/<alias>/connect/logout``: the instance's logout ends the session.

    Connect's own logout endpoint (what the CCP and Connect Streams request); here it ends
    the emulated console session the federation rides on, whichever page requested it.
    """
    session_id = request.COOKIES.get(COOKIE)
    if session_id:
        ConsoleSession.objects.filter(session_id_sha256=_digest(session_id)).delete()
    out = HttpResponse(status=204)
    out.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")
    return out


@require_GET
def connect_instance(request: HttpRequest, name: str, rest: str = "") -> HttpResponse:
    """The instance's own URL without federating: Connect has no SP-initiated sign-in."""
    return _session_expired(request)
