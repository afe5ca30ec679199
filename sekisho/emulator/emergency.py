"""Emergency access to an emulated Connect instance: the account root signs in, bypassing SAML.

aws-semantics §2: "Log in for emergency access" lets an administrator reach the instance
with the AWS account's credentials to create users. The emulator's stand-in for those
credentials is the account's root access key (``AKIA``) and its secret. The users page
calls ``connect.call`` as the root, so every Connect rule applies to what it creates.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from sekisho.audit import records
from sekisho.audit.writer import emit
from sekisho.crypto import constant_time_equals
from sekisho.directory import throttle
from sekisho.directory.signin import load_throttle, store_throttle
from sekisho.emulator import accounts, connect, iam
from sekisho.emulator.errors import AwsError
from sekisho.emulator.models import AccessKey, ConnectInstance, EmergencySession
from sekisho.errors import SekishoError
from sekisho.web.middleware import source_ip

logger = logging.getLogger(__name__)

COOKIE = "aws_connect_emergency"
LIFETIME = timedelta(hours=1)
DEFAULT_SECURITY_PROFILE = "Agent"
# Per source address: 5 wrong tries in 15 minutes lock emergency sign-in for 15 minutes.
POLICY = throttle.ThrottlePolicy()

MSG_INCORRECT = "The credentials are incorrect."
MSG_LOCKED = "Too many failed sign-in attempts. Try again later."
# Compared against when the key id is unknown, so both paths run one comparison.
_DUMMY_SECRET = "0" * accounts.SECRET_ACCESS_KEY_CHARS


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _cookie_path(instance_id: str) -> str:
    return f"/aws/connect/{instance_id}/"


def _user_agent(request: HttpRequest) -> str:
    return str(request.headers.get("user-agent", ""))


def _root_identity(instance: ConnectInstance) -> dict[str, object]:
    account = instance.account
    return {"type": "Root", "accountId": account.account_id, "arn": account.root_arn}


def _login_page(
    request: HttpRequest, instance_id: str, *, error: str | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "emulator/emergency_login.html",
        {"instance_id": instance_id, "error": error},
        status=status,
    )


def _key_matches(instance: ConnectInstance | None, key_id: str, secret: str) -> AccessKey | None:
    """The instance account's root key when the secret fits, else None (constant-time)."""
    key = accounts.find_access_key(key_id) if key_id else None
    usable = (
        key is not None
        and instance is not None
        and key.account_id == instance.account_id
        and key.role_id is None
        and key.expiration is None
        and not key.session_token_sha256
        and key.access_key_id.startswith(accounts.ACCESS_KEY_PREFIX)
    )
    expected = _DUMMY_SECRET
    if usable and key is not None:
        try:
            expected = accounts.secret_of(key)
        except SekishoError:
            logger.warning("the sealed secret of %s does not open", key.access_key_id)
            usable = False
    same = constant_time_equals(secret, expected)
    return key if usable and same else None


def _audit_login(
    request: HttpRequest,
    instance_id: str,
    instance: ConnectInstance | None,
    *,
    key_id: str,
    failure: str | None,
) -> None:
    identity: dict[str, object] = (
        _root_identity(instance)
        if instance is not None and failure is None
        else {"type": "Unknown"}
    )
    if key_id and len(key_id) <= 128:
        identity["accessKeyId"] = key_id
    emit(
        records.emergency_access_login(
            identity=identity,
            instance_id=instance_id,
            failure_reason=failure,
            source_ip=source_ip(request),
            user_agent=_user_agent(request),
            now=iam.now(),
            request_id=str(uuid.uuid4()),
        )
    )


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, instance_id: str) -> HttpResponse:
    """``/aws/connect/<instance-id>/emergency``: "Log in for emergency access"."""
    if request.method != "POST":
        return _login_page(request, instance_id)
    key_id = str(request.POST.get("access_key_id", "")).strip()
    secret = str(request.POST.get("secret_access_key", ""))
    instance = (
        ConnectInstance.objects.select_related("account").filter(instance_id=instance_id).first()
    )
    now = iam.now()
    with transaction.atomic():
        row, state = load_throttle(f"emergency:{source_ip(request)}")
        if not throttle.check(state, now=now, policy=POLICY).allowed:
            locked = True
            key = None
        else:
            locked = False
            key = _key_matches(instance, key_id, secret)
            if key is None:
                state, _ = throttle.record_failure(state, now=now, policy=POLICY)
            else:
                state = throttle.record_success(state, policy=POLICY)
            store_throttle(row, state)
    if locked:
        _audit_login(request, instance_id, instance, key_id=key_id, failure="Locked")
        return _login_page(request, instance_id, error=MSG_LOCKED, status=429)
    if key is None or instance is None:
        reason = "UnknownInstance" if instance is None else "InvalidCredentials"
        _audit_login(request, instance_id, instance, key_id=key_id, failure=reason)
        return _login_page(request, instance_id, error=MSG_INCORRECT, status=401)
    session_id = secrets.token_urlsafe(32)
    EmergencySession.objects.filter(expires__lte=now).delete()  # opportunistic purge
    EmergencySession.objects.create(
        session_id_sha256=_digest(session_id),
        instance=instance,
        access_key=key,
        expires=now + LIFETIME,
        created=now,
    )
    _audit_login(request, instance_id, instance, key_id=key_id, failure=None)
    out = HttpResponseRedirect(f"/aws/connect/{instance_id}/emergency/users", status=303)
    out.set_cookie(
        COOKIE,
        session_id,
        max_age=int(LIFETIME.total_seconds()),
        path=_cookie_path(instance_id),
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Strict",
    )
    return out


def current_session(request: HttpRequest, instance_id: str) -> EmergencySession | None:
    """The browser's live emergency session on this instance (its root key still active)."""
    session_id = request.COOKIES.get(COOKIE)
    if not session_id:
        return None
    found = (
        EmergencySession.objects.select_related("instance__account", "access_key")
        .filter(
            session_id_sha256=_digest(session_id),
            instance__instance_id=instance_id,
            expires__gt=iam.now(),
        )
        .first()
    )
    if found is None or found.access_key.status != "Active":
        return None
    return found


def _names(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"id": str(item["Id"]), "name": str(item["Name"])} for item in items]


def _all(ctx: connect.Ctx, operation: str, instance_id: str, key: str) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"InstanceId": instance_id}
    items: list[dict[str, Any]] = []
    while True:
        page = connect.call(ctx, operation, params)
        items.extend(page[key])
        if not page.get("NextToken"):
            return items
        params = {"InstanceId": instance_id, "NextToken": page["NextToken"]}


@require_http_methods(["GET", "POST"])
def users(request: HttpRequest, instance_id: str) -> HttpResponse:
    """``/aws/connect/<instance-id>/emergency/users``: list the users and create one."""
    session = current_session(request, instance_id)
    if session is None:
        return HttpResponseRedirect(f"/aws/connect/{instance_id}/emergency", status=303)
    instance = session.instance
    ctx = connect.Ctx(
        caller=iam.Caller(instance.account),
        region=instance.region,
        source_ip=source_ip(request),
        secure_transport=request.is_secure(),
    )
    error: str | None = None
    created: str | None = None
    form = {"username": "", "first_name": "", "last_name": "", "security": "", "routing": ""}
    status = 200
    if request.method == "POST":
        form = {name: str(request.POST.get(name, "")).strip() for name in form}
        params: dict[str, Any] = {
            "InstanceId": instance_id,
            "Username": form["username"],
            "IdentityInfo": {"FirstName": form["first_name"], "LastName": form["last_name"]},
            "PhoneConfig": {"PhoneType": "SOFT_PHONE"},
            "SecurityProfileIds": [form["security"]],
            "RoutingProfileId": form["routing"],
        }
        result: dict[str, Any] | None = None
        failure: AwsError | None = None
        try:
            result = connect.call(ctx, "CreateUser", params)
        except AwsError as exc:
            failure = exc
        emit(
            records.connect_create_user(
                identity=_root_identity(instance),
                instance_id=instance_id,
                username=form["username"][:128],
                user_id=None if result is None else str(result["UserId"]),
                error_code=None if failure is None else failure.code,
                error_message=None if failure is None else failure.message,
                source_ip=ctx.source_ip,
                user_agent=_user_agent(request),
                now=iam.now(),
                request_id=str(uuid.uuid4()),
            )
        )
        if failure is not None:
            error = f"{failure.code}: {failure.message}"
            status = 400
        else:
            created = form["username"]
            form = {name: "" for name in form}
    security = _names(_all(ctx, "ListSecurityProfiles", instance_id, "SecurityProfileSummaryList"))
    routing = _names(_all(ctx, "ListRoutingProfiles", instance_id, "RoutingProfileSummaryList"))
    if not form["security"]:
        form["security"] = next(
            (p["id"] for p in security if p["name"] == DEFAULT_SECURITY_PROFILE), ""
        )
    listed = _all(ctx, "ListUsers", instance_id, "UserSummaryList")
    return render(
        request,
        "emulator/emergency_users.html",
        {
            "instance": instance,
            "users": listed,
            "security_profiles": security,
            "routing_profiles": routing,
            "form": form,
            "error": error,
            "created": created,
            "expires": session.expires,
        },
        status=status,
    )
