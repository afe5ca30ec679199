"""Typed audit events and their CloudTrail-format export (CloudTrail record contents, v1.11).

Events follow IAM Identity Center's sign-in trail ("Understanding sign-in events") so that
existing CloudTrail queries and SIEM rules work on Sekisho's log unchanged. Every
constructor takes plain values and returns a frozen ``AuditEvent``; nothing here writes
anywhere (``sekisho.audit.writer`` does). The account id is installation configuration,
so it is added at export by ``to_cloudtrail`` rather than carried by each event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, Literal

from sekisho.audit.errors import AuditError
from sekisho.clock import SYSTEM_RANDOM, Random

EVENT_VERSION = "1.11"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

SIGNIN_SOURCE = "signin.amazonaws.com"
PORTAL_SOURCE = "sso.amazonaws.com"
MFA_DEVICE_SOURCE = "sso-directory.amazonaws.com"
ADMIN_SOURCE = "sekisho.admin"  # Sekisho addition: no AWS service has these changes

AWS_API_CALL = "AwsApiCall"
AWS_SERVICE_EVENT = "AwsServiceEvent"

SUCCESS = "Success"
FAILURE = "Failure"

# Django masks password|token|secret|signature in login-failure signals; we add the
# one-time-code and SAML message words. Matched anywhere in a key, case-insensitively.
SECRET_KEY_PATTERN = re.compile(
    r"password|passcode|code|token|secret|signature|samlresponse|otp", re.IGNORECASE
)

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

Json = object  # a JSON value: str, int, float, bool, None, list or dict of Json


class CredentialType(StrEnum):
    """CloudTrail ``CredentialType`` values (Sekisho adds RADIUS and RECOVERY_CODE)."""

    PASSWORD = "PASSWORD"  # noqa: S105 - a credential type name, not a password
    TOTP = "TOTP"
    WEBAUTHN = "WEBAUTHN"
    EXTERNAL_IDP = "EXTERNAL_IDP"
    RESYNC_TOTP = "RESYNC_TOTP"
    EMAIL_OTP = "EMAIL_OTP"
    RADIUS = "RADIUS"
    RECOVERY_CODE = "RECOVERY_CODE"


class AdminEventName(StrEnum):
    """Administrative changes recorded under ``eventSource`` ``sekisho.admin``."""

    INIT_IDENTITY_PROVIDER = "InitIdentityProvider"
    CREATE_USER = "CreateUser"
    UPDATE_USER = "UpdateUser"
    DELETE_USER = "DeleteUser"
    DISABLE_USER = "DisableUser"
    ENABLE_USER = "EnableUser"
    SET_PASSWORD = "SetPassword"  # noqa: S105 - an event name, not a password
    RESET_MFA = "ResetMfa"
    UNLOCK_USER = "UnlockUser"
    UPDATE_MFA_SETTINGS = "UpdateMfaSettings"
    CREATE_GROUP = "CreateGroup"
    DELETE_GROUP = "DeleteGroup"
    ADD_MEMBER_TO_GROUP = "AddMemberToGroup"
    REMOVE_MEMBER_FROM_GROUP = "RemoveMemberFromGroup"
    CREATE_APPLICATION = "CreateApplication"
    UPDATE_APPLICATION = "UpdateApplication"
    DELETE_APPLICATION = "DeleteApplication"
    ASSIGN_APPLICATION = "AssignApplication"
    UNASSIGN_APPLICATION = "UnassignApplication"
    PUT_POLICY = "PutPolicy"
    DELETE_POLICY = "DeletePolicy"
    ATTACH_POLICY = "AttachPolicy"
    DETACH_POLICY = "DetachPolicy"
    STAGE_SIGNING_KEY = "StageSigningKey"
    SWITCH_SIGNING_KEY = "SwitchSigningKey"
    # Administration (issue 12): roles, API tokens, sessions, bulk import, settings.
    GRANT_ROLE = "GrantRole"
    REVOKE_ROLE = "RevokeRole"
    CREATE_API_TOKEN = "CreateApiToken"  # noqa: S105 - an event name, not a token
    REVOKE_API_TOKEN = "RevokeApiToken"  # noqa: S105 - an event name, not a token
    REVOKE_SESSIONS = "RevokeSessions"
    DELETE_MFA_DEVICE = "DeleteMfaDevice"
    IMPORT_USERS = "ImportUsers"
    UPDATE_GROUP = "UpdateGroup"
    UPDATE_SETTINGS = "UpdateSettings"
    TEST_RADIUS_SERVER = "TestRadiusServer"


class AdminChannel(Enum):
    """How an administrator reached Sekisho."""

    CLI = "cli"
    WEB = "web"
    API = "api"


# What locked: one known browser of an account, every unknown browser of an account, or
# one source address (unknown browsers only); see directory/throttle.py.
LockScope = Literal["browser", "account", "ip"]


def _json(value: object, *, where: str) -> Json:
    """Deep-copy ``value`` into plain JSON types so an event never shares mutable state."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # StrEnum members become plain strings
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, Mapping):
        out: dict[str, Json] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(f"{where}: keys must be strings, got {key!r}")
            out[key] = _json(item, where=where)
        return out
    if isinstance(value, list | tuple):
        return [_json(item, where=where) for item in value]
    raise AuditError(f"{where}: {type(value).__name__} is not JSON-serialisable")


def _scrub_value(value: Json) -> Json:
    if isinstance(value, Mapping):
        return {
            str(key): HIDDEN if SECRET_KEY_PATTERN.search(str(key)) else _scrub_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return value


def scrub(mapping: Mapping[str, Json]) -> dict[str, Json]:
    """Return a copy with every value under a secret-looking key (at any depth) hidden.

    Defence in depth: constructors never put secrets in, and this still removes any that
    a future caller adds by mistake (over-matching, e.g. ``countryCode``, is acceptable).
    """
    scrubbed = _scrub_value(mapping)
    assert isinstance(scrubbed, dict)
    return scrubbed


def _object(value: Mapping[str, object] | None, *, where: str) -> dict[str, Json] | None:
    if value is None:
        return None
    copied = _json(value, where=where)
    assert isinstance(copied, dict)
    return scrub(copied) if copied else None


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AuditEvent:
    """One audit event: the fields of a CloudTrail record except the account and region.

    Construction deep-copies every mapping into plain JSON values and scrubs secrets, so
    no event can hold a password, code, token or secret whichever way it was built.
    """

    event_id: str
    event_time: datetime
    event_source: str
    event_name: str
    event_type: str
    source_ip: str
    user_agent: str
    user_identity: Mapping[str, Json]
    request_parameters: Mapping[str, Json] | None = None
    response_elements: Mapping[str, Json] | None = None
    additional_event_data: Mapping[str, Json] | None = None
    service_event_details: Mapping[str, Json] | None = None
    error_code: str | None = None
    error_message: str | None = None
    resources: tuple[Mapping[str, Json], ...] | None = None
    read_only: bool = False
    request_id: str | None = None

    def __post_init__(self) -> None:
        """Validate the time and freeze scrubbed copies of every mapping."""
        _timestamp(self.event_time)
        for name in (
            "request_parameters",
            "response_elements",
            "additional_event_data",
            "service_event_details",
        ):
            object.__setattr__(self, name, _object(getattr(self, name), where=name))
        identity = _object(self.user_identity, where="user_identity")
        object.__setattr__(self, "user_identity", identity or {})
        if self.resources is not None:
            frozen: list[dict[str, Json]] = []
            for resource in self.resources:
                copied = _object(resource, where="resources")
                if copied:
                    frozen.append(copied)
            object.__setattr__(self, "resources", tuple(frozen) or None)


# --- identities -------------------------------------------------------------------------


def _user_identity(
    *, user_uid: str | None, identity_store_arn: str, session_id: str | None
) -> dict[str, Json]:
    if user_uid is None:
        return {"type": "Unknown"}
    identity: dict[str, Json] = {
        "type": "IdentityCenterUser",
        "onBehalfOf": {"userId": user_uid, "identityStoreArn": identity_store_arn},
    }
    if session_id is not None:
        identity["credentialId"] = session_id
    return identity


def _with_account(identity: Mapping[str, Json], account_id: str) -> dict[str, Json]:
    # CloudTrail puts accountId right after type; keep that order for readers who diff.
    out: dict[str, Json] = {}
    for key, value in identity.items():
        out[key] = value
        if key == "type" and "accountId" not in identity:
            out["accountId"] = account_id
    if "accountId" not in out:
        out["accountId"] = account_id
    return out


def user_identity(
    *, user_uid: str | None, account_id: str, identity_store_arn: str, session_id: str | None
) -> dict[str, Any]:
    """The ``userIdentity`` of a portal user: IdentityCenterUser when known, else Unknown.

    Identity Center records carry no ``userName`` here; ``credentialId`` is the portal
    session id.
    """
    return _with_account(
        _user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        account_id,
    )


def admin_identity(*, actor: str, channel: AdminChannel = AdminChannel.CLI) -> dict[str, Json]:
    """The ``userIdentity`` of an administrator (Sekisho addition): OS user or admin name."""
    return {
        "type": "SekishoAdministrator",
        "principalId": actor,
        "userName": actor,
        "invokedBy": channel.value,
    }


# --- constructors -----------------------------------------------------------------------


def _event(
    *,
    source: str,
    name: str,
    event_type: str,
    identity: Mapping[str, Json],
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None,
    random: Random,
    read_only: bool,
    request_parameters: Mapping[str, object] | None = None,
    response_elements: Mapping[str, object] | None = None,
    additional: Mapping[str, object] | None = None,
    details: Mapping[str, object] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
) -> AuditEvent:
    return AuditEvent(
        event_id=random.uuid(),
        event_time=now,
        event_source=source,
        event_name=name,
        event_type=event_type,
        source_ip=source_ip,
        user_agent=user_agent,
        user_identity=identity,
        request_parameters=request_parameters,
        response_elements=response_elements,
        additional_event_data=additional,
        service_event_details=details,
        error_code=error_code,
        error_message=error_message,
        resources=tuple(resources) if resources is not None else None,
        read_only=read_only,
        # One id per HTTP request correlates its events; without one, each event gets its own.
        request_id=request_id if request_id is not None else random.uuid(),
    )


def _credential_type(value: CredentialType | str) -> CredentialType:
    try:
        return CredentialType(value)
    except ValueError:
        valid = ", ".join(member.value for member in CredentialType)
        raise AuditError(f"unknown CredentialType {value!r}, expected one of {valid}") from None


def credential_challenge(
    *,
    credential_type: CredentialType | str,
    workflow_id: str,
    user_uid: str | None,
    identity_store_arn: str,
    user_name: str | None = None,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``CredentialChallenge``: a factor was asked for (IAM Identity Center sign-in events).

    ``UserName`` is recorded only for the password challenge, and only when the user
    exists: an unknown name may be a password typed into the wrong box, so it is written
    as HIDDEN_DUE_TO_SECURITY_REASONS.
    """
    kind = _credential_type(credential_type)
    additional: dict[str, object] = {"AuthWorkflowID": workflow_id, "CredentialType": kind.value}
    if kind is CredentialType.PASSWORD:
        if user_uid is None:
            additional["UserName"] = HIDDEN
        elif user_name is not None:
            additional["UserName"] = user_name
    elif user_name is not None:
        raise AuditError(f"UserName is recorded only for PASSWORD challenges, not {kind.value}")
    return _event(
        source=SIGNIN_SOURCE,
        name="CredentialChallenge",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        additional=additional,
        details={"CredentialChallenge": SUCCESS},
    )


def credential_verification(
    *,
    credential_type: CredentialType | str,
    success: bool,
    workflow_id: str,
    user_uid: str | None,
    identity_store_arn: str,
    session_id: str | None = None,
    failure_reason: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``CredentialVerification``: a factor was checked; Success or Failure, no errorMessage.

    ``failure_reason`` (a stable error code such as ``mfa_reused_code``) is a Sekisho
    addition in ``additionalEventData.FailureReason``; a reused TOTP code hints at a
    phished or replayed code, which a SOC wants to tell from a typo.
    """
    kind = _credential_type(credential_type)
    additional: dict[str, object] = {"AuthWorkflowID": workflow_id, "CredentialType": kind.value}
    if failure_reason is not None and not success:
        additional["FailureReason"] = failure_reason
    return _event(
        source=SIGNIN_SOURCE,
        name="CredentialVerification",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        additional=additional,
        details={"CredentialVerification": SUCCESS if success else FAILURE},
    )


def user_authentication(
    *,
    credential_types: Sequence[CredentialType | str],
    workflow_id: str,
    user_uid: str,
    identity_store_arn: str,
    login_to: str,
    device_enrollment_required: bool = False,
    mfa_skipped: str | None = None,
    success: bool = True,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``UserAuthentication``: every factor passed; lists them (``"PASSWORD,TOTP"``) and LoginTo.

    ``mfa_skipped`` (Sekisho addition, ``additionalEventData.MfaSkipped``) says why no
    second factor was asked, so a skip is as visible as a pass.
    """
    if not credential_types:
        raise AuditError("UserAuthentication needs at least one credential type")
    kinds = ",".join(_credential_type(kind).value for kind in credential_types)
    additional: dict[str, object] = {
        "AuthWorkflowID": workflow_id,
        "CredentialType": kinds,
        "LoginTo": login_to,
    }
    if device_enrollment_required:
        additional["DeviceEnrollmentRequired"] = "true"
    if mfa_skipped is not None:
        additional["MfaSkipped"] = mfa_skipped
    return _event(
        source=SIGNIN_SOURCE,
        name="UserAuthentication",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        additional=additional,
        details={"UserAuthentication": SUCCESS if success else FAILURE},
    )


def account_locked(
    *,
    scope: LockScope,
    locked_until: datetime,
    workflow_id: str | None,
    user_uid: str | None,
    identity_store_arn: str,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``AccountLocked`` (Sekisho addition): a throttle scope (browser, account, ip) just locked.

    Recorded under signin.amazonaws.com so sign-in queries see it next to the failures
    that caused it (NIST SP 800-63B-4 §3.2.2 rate limiting).
    """
    if scope not in ("browser", "account", "ip"):
        raise AuditError(f"lock scope must be 'browser', 'account' or 'ip', got {scope!r}")
    additional: dict[str, object] = {
        "Scope": scope,
        "LockedUntil": _timestamp(locked_until),
        "LockoutSeconds": max(0, int((locked_until - now).total_seconds())),
    }
    if workflow_id is not None:
        additional["AuthWorkflowID"] = workflow_id
    return _event(
        source=SIGNIN_SOURCE,
        name="AccountLocked",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        additional=additional,
    )


_REGISTRATION_NAMES: dict[CredentialType, tuple[str, str]] = {
    CredentialType.TOTP: (
        "StartVirtualMfaDeviceRegistration",
        "CompleteVirtualMfaDeviceRegistration",
    ),
    CredentialType.WEBAUTHN: (
        "StartWebAuthnDeviceRegistration",
        "CompleteWebAuthnDeviceRegistration",
    ),
    # Sekisho additions: Identity Center has no per-user RADIUS or recovery-code registration.
    CredentialType.RADIUS: ("StartRadiusMfaRegistration", "CompleteRadiusMfaRegistration"),
    CredentialType.RECOVERY_CODE: ("StartRecoveryCodesGeneration", "GenerateRecoveryCodes"),
}


def _registration_name(credential_type: CredentialType | str, index: int) -> str:
    kind = _credential_type(credential_type)
    names = _REGISTRATION_NAMES.get(kind)
    if names is None:
        raise AuditError(f"no MFA registration events exist for {kind.value}")
    return names[index]


def mfa_registration_started(
    *,
    user_uid: str,
    identity_store_arn: str,
    credential_type: CredentialType | str = CredentialType.TOTP,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``StartVirtualMfaDeviceRegistration`` (sso-directory): a new secret was shown to the user."""
    return _event(
        source=MFA_DEVICE_SOURCE,
        name=_registration_name(credential_type, 0),
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
    )


def mfa_registration_completed(
    *,
    user_uid: str,
    identity_store_arn: str,
    success: bool,
    credential_type: CredentialType | str = CredentialType.TOTP,
    device_name: str | None = None,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``CompleteVirtualMfaDeviceRegistration``: the user confirmed a device, or failed to."""
    name = _registration_name(credential_type, 1)
    return _event(
        source=MFA_DEVICE_SOURCE,
        name=name,
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters={"deviceName": device_name} if device_name else None,
        details={name: SUCCESS if success else FAILURE},
    )


def mfa_device_deleted(
    *,
    user_uid: str,
    identity_store_arn: str,
    device_name: str | None = None,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``DeleteMfaDeviceForUser`` (sso-directory): the user removed one of their devices."""
    return _event(
        source=MFA_DEVICE_SOURCE,
        name="DeleteMfaDeviceForUser",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters={"deviceName": device_name} if device_name else None,
    )


def sso_issued(
    *,
    application_id: str,
    application_name: str,
    name_id: str,
    acs_url: str,
    in_response_to: str | None,
    user_uid: str,
    identity_store_arn: str,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``Federate`` (sso.amazonaws.com): a signed SAML Response was issued to an application.

    ``InResponseTo`` is the AuthnRequest ID for SP-initiated sign-in and absent for
    IdP-initiated launches (SAML core §3.2.2). The Response itself is never recorded.
    """
    additional: dict[str, object] = {
        "ApplicationId": application_id,
        "ApplicationName": application_name,
        "NameID": name_id,
        "AssertionConsumerServiceURL": acs_url,
    }
    if in_response_to is not None:
        additional["InResponseTo"] = in_response_to
    return _event(
        source=PORTAL_SOURCE,
        name="Federate",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=True,
        additional=additional,
        details={"Federate": SUCCESS},
    )


def sso_refused(
    *,
    reason: str,
    message: str | None = None,
    application_id: str | None,
    application_name: str | None = None,
    in_response_to: str | None = None,
    user_uid: str | None,
    identity_store_arn: str,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``Federate`` failure: no Response was issued; ``reason`` (a stable code) goes to errorCode.

    Typical reasons: ``not_assigned``, ``policy_denied``, ``unknown_service_provider``,
    ``invalid_authn_request``, ``user_disabled``.
    """
    if not reason:
        raise AuditError("sso_refused needs a reason code")
    additional: dict[str, object] = {}
    if application_id is not None:
        additional["ApplicationId"] = application_id
    if application_name is not None:
        additional["ApplicationName"] = application_name
    if in_response_to is not None:
        additional["InResponseTo"] = in_response_to
    return _event(
        source=PORTAL_SOURCE,
        name="Federate",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=True,
        additional=additional or None,
        details={"Federate": FAILURE},
        error_code=reason,
        error_message=message,
    )


def policy_denied(
    *,
    action: str,
    resource: str,
    decision: str,
    explanation: str,
    matched: Sequence[Mapping[str, object]],
    user_uid: str,
    identity_store_arn: str,
    workflow_id: str | None = None,
    application_name: str | None = None,
    session_id: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """An IdP policy refused sign-in or an application launch (Sekisho addition).

    Shaped like the refused step it stands for: ``UserAuthentication`` on
    signin.amazonaws.com for ``sekisho:SignIn``, ``Federate`` on sso.amazonaws.com for
    ``sekisho:LaunchApplication``; ``errorCode`` is ``AccessDenied`` (as IAM answers) and
    ``errorMessage`` the evaluator's explanation, so "why was X refused" is one query.
    """
    signing_in = action.lower() == "sekisho:signin"
    name = "UserAuthentication" if signing_in else "Federate"
    additional: dict[str, object] = {
        "Action": action,
        "Resource": resource,
        "PolicyDecision": decision,
        "DecisiveStatements": [dict(m) for m in matched],
    }
    if workflow_id is not None:
        additional["AuthWorkflowID"] = workflow_id
    if application_name is not None:
        additional["ApplicationName"] = application_name
    return _event(
        source=SIGNIN_SOURCE if signing_in else PORTAL_SOURCE,
        name=name,
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=not signing_in,
        additional=additional,
        details={name: FAILURE},
        error_code="AccessDenied",
        error_message=explanation[:2000],
    )


def password_updated(
    *,
    user_uid: str,
    identity_store_arn: str,
    workflow_id: str,
    required: bool,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``UpdatePassword`` (signin.amazonaws.com): a person chose a new password of their own.

    ``required`` (``additionalEventData.ChangeRequired``) says an administrator's
    temporary password demanded it at sign-in. The password itself is never recorded.
    """
    return _event(
        source=SIGNIN_SOURCE,
        name="UpdatePassword",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=None
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        additional={
            "AuthWorkflowID": workflow_id,
            "ChangeRequired": "true" if required else "false",
        },
        details={"UpdatePassword": SUCCESS},
    )


def logout(
    *,
    user_uid: str | None,
    identity_store_arn: str,
    session_id: str | None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
    initiated_by: str | None = None,
    applications: Sequence[str] | None = None,
    failure: str | None = None,
    message: str | None = None,
) -> AuditEvent:
    """``Logout`` (sso.amazonaws.com): a portal session ended, or a logout was refused.

    Sekisho adds, in ``additionalEventData``, who started it (``LogoutInitiatedBy``: the
    portal, or the application that sent a SAML LogoutRequest) and the applications
    asked to end their sessions (single logout). ``failure`` (a stable code) marks a
    refused logout message: nothing was ended.
    """
    additional: dict[str, object] = {}
    if initiated_by is not None:
        additional["LogoutInitiatedBy"] = initiated_by
    if applications:
        additional["ApplicationNames"] = list(applications)
    return _event(
        source=PORTAL_SOURCE,
        name="Logout",
        event_type=AWS_SERVICE_EVENT,
        identity=_user_identity(
            user_uid=user_uid, identity_store_arn=identity_store_arn, session_id=session_id
        ),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=True,
        additional=additional or None,
        details={"Logout": FAILURE if failure else SUCCESS} if failure or additional else None,
        error_code=failure,
        error_message=message if failure else None,
    )


def admin_change(
    *,
    event_name: AdminEventName | str,
    actor: str,
    channel: AdminChannel = AdminChannel.CLI,
    parameters: Mapping[str, object] | None,
    response: Mapping[str, object] | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """An administrative change (Sekisho addition, ``eventSource`` ``sekisho.admin``).

    ``parameters`` become requestParameters after scrubbing: pass the user name, never a
    password (SetPassword records only whom it was set for). For the CLI, pass the OS
    user as ``actor`` and ``source_ip="127.0.0.1"``.
    """
    try:
        name = AdminEventName(event_name)
    except ValueError:
        raise AuditError(f"unknown admin event name {event_name!r}") from None
    if not actor:
        raise AuditError("admin_change needs the acting administrator's name")
    return _event(
        source=ADMIN_SOURCE,
        name=name.value,
        event_type=AWS_API_CALL,
        identity=admin_identity(actor=actor, channel=channel),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters=parameters,
        response_elements=response,
        resources=resources,
        error_code=error_code,
        error_message=error_message,
    )


def admin_access(
    *,
    actor: str,
    channel: AdminChannel,
    permission: str,
    allowed: bool,
    reason: str,
    roles: Sequence[str],
    read_only: bool,
    resource: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``AdminAccess`` (Sekisho addition, ``sekisho.admin``): one console or API access decision.

    Every request of the console and the API is decided once (role, step-up MFA, recent
    re-authentication, token validity, rate limit) and recorded here, allowed or not;
    a refusal carries ``errorCode`` ``AccessDenied`` and the stable ``Reason``.
    """
    if not actor:
        raise AuditError("admin_access needs the acting administrator's name")
    additional: dict[str, object] = {
        "Permission": permission,
        "Decision": "Allow" if allowed else "Deny",
        "Reason": reason,
        "Roles": list(roles),
    }
    if resource is not None:
        additional["Resource"] = resource[:512]
    return _event(
        source=ADMIN_SOURCE,
        name="AdminAccess",
        event_type=AWS_API_CALL,
        identity=admin_identity(actor=actor, channel=channel),
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=read_only,
        additional=additional,
        error_code=None if allowed else "AccessDenied",
        error_message=None if allowed else reason,
    )


# --- export -----------------------------------------------------------------------------


def to_cloudtrail(event: AuditEvent, *, account_id: str, region: str) -> dict[str, Any]:
    """The event as a CloudTrail record (eventVersion 1.11), in CloudTrail's key order.

    ``requestParameters`` and ``responseElements`` are always present (null when empty);
    optional elements appear only when set. The result is a fresh, JSON-ready dict.
    """
    if not _ACCOUNT_ID.match(account_id):
        raise AuditError(f"account_id must be 12 digits, got {account_id!r}")
    if not region:
        raise AuditError("region must not be empty")

    def copy(value: Mapping[str, Json] | None) -> Json:
        return None if value is None else _json(value, where="export")

    identity = _with_account(event.user_identity, account_id)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": _json(identity, where="export"),
        "eventTime": _timestamp(event.event_time),
        "eventSource": event.event_source,
        "eventName": event.event_name,
        "awsRegion": region,
        "sourceIPAddress": event.source_ip,
        "userAgent": event.user_agent,
    }
    if event.error_code is not None:
        record["errorCode"] = event.error_code
    if event.error_message is not None:
        record["errorMessage"] = event.error_message
    record["requestParameters"] = copy(event.request_parameters)
    record["responseElements"] = copy(event.response_elements)
    if event.additional_event_data is not None:
        record["additionalEventData"] = copy(event.additional_event_data)
    if event.request_id is not None:
        record["requestID"] = event.request_id
    record["eventID"] = event.event_id
    record["readOnly"] = event.read_only
    if event.resources is not None:
        record["resources"] = [
            _json(_with_account(resource, account_id), where="export")
            for resource in event.resources
        ]
    record["eventType"] = event.event_type
    record["managementEvent"] = True
    record["eventCategory"] = "Management"
    record["recipientAccountId"] = account_id
    if event.service_event_details is not None:
        record["serviceEventDetails"] = copy(event.service_event_details)
    return record


STS_SOURCE = "sts.amazonaws.com"


def assume_role_with_saml(
    *,
    role_arn: str,
    principal_arn: str,
    account_id: str,
    duration_seconds: int | None,
    assertion_id: str | None = None,
    role_session_name: str | None = None,
    subject: str | None = None,
    subject_type: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    name_qualifier: str | None = None,
    access_key_id: str | None = None,
    expiration: datetime | None = None,
    assumed_role_id: str | None = None,
    assumed_role_arn: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``AssumeRoleWithSAML`` (sts.amazonaws.com) of the emulated AWS side, success or refusal.

    Shaped as CloudTrail logs it ("Logging IAM and AWS STS API calls with AWS CloudTrail"):
    a ``SAMLUser`` identity, the assertion's ID (never the assertion), the session's key id
    with its token hidden; a refusal carries ``errorCode`` and no ``responseElements``.
    """
    identity: dict[str, object] = {"type": "SAMLUser"}
    if subject is not None and name_qualifier is not None:
        identity.update(
            principalId=f"{name_qualifier}:{subject}",
            userName=subject,
            identityProvider=name_qualifier,
        )
    request: dict[str, object] = {
        "roleArn": role_arn,
        "principalArn": principal_arn,
        "durationSeconds": duration_seconds,
    }
    if assertion_id is not None:
        request["sAMLAssertionID"] = assertion_id
    if role_session_name is not None:
        request["roleSessionName"] = role_session_name
    response: dict[str, object] | None = None
    if error_code is None and access_key_id is not None:
        response = {
            "credentials": {
                "accessKeyId": access_key_id,
                "sessionToken": HIDDEN,
                "expiration": expiration,
            },
            "assumedRoleUser": {"assumedRoleId": assumed_role_id, "arn": assumed_role_arn},
            "subject": subject,
            "subjectType": subject_type,
            "issuer": issuer,
            "audience": audience,
            "nameQualifier": name_qualifier,
        }
    return _event(
        source=STS_SOURCE,
        name="AssumeRoleWithSAML",
        event_type=AWS_API_CALL,
        identity=identity,
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters=request,
        response_elements=response,
        error_code=error_code,
        error_message=error_message,
        resources=[
            {"ARN": role_arn, "accountId": account_id, "type": "AWS::IAM::Role"},
            {"ARN": principal_arn, "accountId": account_id, "type": "AWS::IAM::SAMLProvider"},
        ],
    )


CONSOLE_SIGNIN_SOURCE = "signin.amazonaws.com"
CONNECT_SOURCE = "connect.amazonaws.com"
AWS_CONSOLE_SIGNIN = "AwsConsoleSignIn"


def assumed_role_identity(
    *, account_id: str, role_arn: str, role_id: str | None = None, session_name: str | None = None
) -> dict[str, object]:
    """The ``userIdentity`` of a role session (``AssumedRole`` with its session issuer)."""
    role_name = role_arn.rpartition("/")[2]
    identity: dict[str, object] = {"type": "AssumedRole", "accountId": account_id}
    if role_id is not None and session_name is not None:
        identity["principalId"] = f"{role_id}:{session_name}"
        identity["arn"] = f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
    issuer: dict[str, object] = {
        "type": "Role",
        "arn": role_arn,
        "accountId": account_id,
        "userName": role_name,
    }
    if role_id is not None:
        issuer["principalId"] = role_id
    identity["sessionContext"] = {"sessionIssuer": issuer}
    return identity


def console_login(
    *,
    identity: Mapping[str, object],
    login_to: str,
    saml_provider_arn: str | None,
    mfa_used: bool = False,
    failure_reason: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``ConsoleLogin`` (signin.amazonaws.com, ``AwsConsoleSignIn``) of the emulated console.

    ``failure_reason`` (Sekisho addition, in ``additionalEventData.Reason``) says why the
    emulated sign-in was refused; CloudTrail's ``errorMessage`` stays "Failed authentication".
    """
    additional: dict[str, object] = {
        "LoginTo": login_to,
        "MobileVersion": "No",
        "MFAUsed": "Yes" if mfa_used else "No",
        "SamlProviderArn": saml_provider_arn,
    }
    if failure_reason is not None:
        additional["Reason"] = failure_reason
    return _event(
        source=CONSOLE_SIGNIN_SOURCE,
        name="ConsoleLogin",
        event_type=AWS_CONSOLE_SIGNIN,
        identity=identity,
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        response_elements={"ConsoleLogin": FAILURE if failure_reason is not None else SUCCESS},
        additional=additional,
        error_message="Failed authentication" if failure_reason is not None else None,
    )


def get_federation_token(
    *,
    identity: Mapping[str, object],
    instance_id: str,
    error_code: str | None = None,
    error_message: str | None = None,
    explanation: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``GetFederationToken`` (connect.amazonaws.com) of the emulated Connect, success or denial.

    ``responseElements`` stays null: the tokens are credentials and never logged.
    ``explanation`` (Sekisho addition, ``additionalEventData.policyExplanation``) says which
    statement or condition decided a denial.
    """
    return _event(
        source=CONNECT_SOURCE,
        name="GetFederationToken",
        event_type=AWS_API_CALL,
        identity=identity,
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=True,
        request_parameters={"InstanceId": instance_id},
        additional=None if explanation is None else {"policyExplanation": explanation},
        error_code=error_code,
        error_message=error_message,
    )


def emergency_access_login(
    *,
    identity: Mapping[str, object],
    instance_id: str,
    failure_reason: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``EmergencyAccessLogin`` (Sekisho addition, connect.amazonaws.com): root sign-in to Connect.

    ``failure_reason`` (``additionalEventData.Reason``) says why it was refused; the page
    itself shows only the generic message.
    """
    return _event(
        source=CONNECT_SOURCE,
        name="EmergencyAccessLogin",
        event_type=AWS_CONSOLE_SIGNIN,
        identity=identity,
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters={"InstanceId": instance_id},
        response_elements={
            "EmergencyAccessLogin": FAILURE if failure_reason is not None else SUCCESS
        },
        additional=None if failure_reason is None else {"Reason": failure_reason},
        error_message="Failed authentication" if failure_reason is not None else None,
    )


def connect_create_user(
    *,
    identity: Mapping[str, object],
    instance_id: str,
    username: str,
    user_id: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    source_ip: str,
    user_agent: str,
    now: datetime,
    request_id: str | None = None,
    random: Random = SYSTEM_RANDOM,
) -> AuditEvent:
    """``CreateUser`` (connect.amazonaws.com, AwsApiCall) of the emulated Connect."""
    return _event(
        source=CONNECT_SOURCE,
        name="CreateUser",
        event_type=AWS_API_CALL,
        identity=identity,
        source_ip=source_ip,
        user_agent=user_agent,
        now=now,
        request_id=request_id,
        random=random,
        read_only=False,
        request_parameters={"InstanceId": instance_id, "Username": username},
        response_elements=None if user_id is None else {"UserId": user_id},
        error_code=error_code,
        error_message=error_message,
    )
