"""STS, emulated: AssumeRoleWithSAML (unsigned), GetSessionToken and GetCallerIdentity.

Behaviour follows the "AWS Security Token Service API Reference" (actions
``AssumeRoleWithSAML`` and ``GetCallerIdentity``, data types ``Credentials`` and
``AssumedRoleUser``); every check of the SAML Response itself is
``sekisho.emulator.sts_saml.validate_saml_assertion``. This module adds what needs state:
the role and provider lookup, the replay guard, the session key and the audit record.

Session policies: ``Policy`` is validated and kept on the session key, ``PolicyArns``
documents are kept beside it, and IAM and Connect honour them together as one layer (the
session gets the intersection, "Session policies" in the IAM User Guide).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from sekisho.audit import records
from sekisho.audit.writer import emit
from sekisho.clock import SYSTEM_RANDOM, Random
from sekisho.config import get_config
from sekisho.emulator import accounts, iam
from sekisho.emulator.authn import authenticate, is_signed
from sekisho.emulator.errors import AwsError
from sekisho.emulator.models import Account, PolicyVersion, Role, SamlProvider, UsedAssertion
from sekisho.emulator.protocol.http import AwsHttpRequest, AwsHttpResponse
from sekisho.emulator.protocol.query import parse_query_request, serialize_query_response
from sekisho.emulator.protocol.shapes import ServiceModel, load_service_model, modeled_error
from sekisho.emulator.sts_saml import (
    MSG_NOT_AUTHORIZED,
    SamlClaims,
    SamlProviderInfo,
    validate_saml_assertion,
)
from sekisho.policy import PolicyError, PolicyKind, parse_policy

Params = Mapping[str, Any]
Result = dict[str, Any]

SESSION_TOKEN_BYTES = 192
# Not documented by AWS: the wording for a redeemed assertion. AWS refuses a replay with
# InvalidIdentityToken; the message below is Sekisho's.
MSG_REPLAYED = "SAML assertion has already been used"

_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):")

_random: Random = SYSTEM_RANDOM


def service_model() -> ServiceModel:
    """STS's botocore service model."""
    return load_service_model("sts")


def emulator_signin_url() -> str:
    """The emulator's own SAML sign-in endpoint, accepted as a Recipient besides AWS's."""
    return get_config().url("/aws/saml")


def _not_authorized() -> AwsError:
    return AwsError("AccessDenied", MSG_NOT_AUTHORIZED, http_status=403)


def _account_of(arn: str) -> str:
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else "000000000000"


def _managed_session_policies(params: Params, account: Account) -> list[list[str]]:
    """The ``PolicyArns`` session policies: [ARN, default version's document] pairs.

    "Session policies": up to 10 managed policies of the role's account, or AWS managed
    ones; their documents are taken as they are now (AWS packs them into the session).
    Not documented by AWS: the answer to an ARN naming no policy (here ValidationError).
    """
    found: list[list[str]] = []
    for entry in params.get("PolicyArns") or []:
        arn = str(entry.get("arn") or "")
        version = (
            PolicyVersion.objects.filter(
                is_default=True, policy__arn=arn, policy__account__in=(account,)
            ).first()
            if not arn.startswith("arn:aws:iam::aws:policy/")
            else iam.aws_managed_default_version(arn)
        )
        if version is None:
            raise AwsError(
                "ValidationError", f"Session policy {arn} does not exist.", http_status=400
            )
        found.append([arn, version.document])
    return found


def _session_policy(params: Params) -> str | None:
    document = params.get("Policy")
    if document is None:
        return None
    try:
        parse_policy(str(document), kind=PolicyKind.SESSION, name="session")
    except PolicyError as exc:
        raise modeled_error(
            service_model(),
            "MalformedPolicyDocument",
            "; ".join(str(problem) for problem in exc.problems),
        ) from exc
    return str(document)


def _lookup(role_arn: str, principal_arn: str) -> tuple[Role, SamlProvider]:
    # The Errors section lists no NoSuchEntity: an unknown role or provider is refused as
    # an unauthorized call (AccessDenied 403), which is what AWS answers in practice.
    role = Role.objects.select_related("account").filter(arn=role_arn).first()
    if role is None:
        raise _not_authorized()
    provider = SamlProvider.objects.filter(account=role.account, arn=principal_arn).first()
    if provider is None:
        raise _not_authorized()
    return role, provider


_REGIONAL_SIGNIN = re.compile(r"https://([a-z0-9-]+)\.signin\.aws\.amazon\.com/saml")


def _signin_region(recipient: str) -> str:
    """The region a SAML sign-in happened in: the regional endpoint's, else us-east-1."""
    match = _REGIONAL_SIGNIN.fullmatch(recipient)
    return match.group(1) if match else "us-east-1"


def _redeem(claims: SamlClaims, role: Role, now: datetime) -> None:
    """Record the assertion's ID; refuse one already redeemed (not documented wording)."""
    UsedAssertion.objects.filter(expires_at__lte=now).delete()  # opportunistic purge
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(
                account=role.account,
                assertion_id=claims.assertion_id,
                expires_at=claims.replay_guard_until,
            )
    except IntegrityError:
        raise AwsError("InvalidIdentityToken", MSG_REPLAYED, http_status=400) from None


def _new_session_token() -> str:
    return base64.b64encode(_random.token_bytes(SESSION_TOKEN_BYTES)).decode("ascii")


def assume_role_with_saml(params: Params, *, now: datetime) -> tuple[Result, SamlClaims]:
    """Redeem a SAML assertion for role session credentials (API action AssumeRoleWithSAML).

    Raises:
        AwsError: ``AccessDenied``, ``ValidationError``, ``InvalidIdentityToken``,
            ``IDPRejectedClaim``, ``ExpiredTokenException`` or ``MalformedPolicyDocument``.
    """
    role_arn = str(params["RoleArn"])
    principal_arn = str(params["PrincipalArn"])
    duration = params.get("DurationSeconds")
    session_policy = _session_policy(params)
    role, provider = _lookup(role_arn, principal_arn)
    managed_session_policies = _managed_session_policies(params, role.account)
    try:
        trust = parse_policy(role.trust_policy, kind=PolicyKind.TRUST, name=role.arn)
    except PolicyError:
        raise _not_authorized() from None
    claims = validate_saml_assertion(
        saml_assertion_b64=str(params["SAMLAssertion"]),
        role_arn=role.arn,
        principal_arn=provider.arn,
        provider=SamlProviderInfo(
            arn=provider.arn,
            name=provider.name,
            issuer_entity_id=provider.entity_id,
            signing_certificates_pem=tuple(provider.signing_certificates),
        ),
        account_id=role.account.account_id,
        now=now,
        duration_seconds=None if duration is None else int(duration),
        trust_policy=trust,
        role_max_session_duration=role.max_session_duration,
        accepted_recipients=(emulator_signin_url(),),
    )
    expiration = now + timedelta(seconds=claims.session_duration)
    if claims.session_not_on_or_after is not None:
        expiration = min(expiration, claims.session_not_on_or_after)
    token = _new_session_token()
    with transaction.atomic():
        _redeem(claims, role, now)
        key, secret = accounts.create_access_key(
            role.account,
            prefix=accounts.SESSION_KEY_PREFIX,
            role=role,
            session_name=claims.role_session_name,
            session_token_sha256=accounts.token_sha256(token),
            expiration=expiration,
            session_policy=session_policy,
            session_managed_policies=managed_session_policies,
        )
    iam.record_role_use(role, _signin_region(claims.audience))
    caller = iam.Caller(role.account, role, claims.role_session_name)
    result: Result = {
        "Credentials": {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expiration,
        },
        "AssumedRoleUser": {"AssumedRoleId": caller.user_id, "Arn": caller.arn},
        "Subject": claims.subject,
        "SubjectType": claims.subject_type,
        "Issuer": claims.issuer,
        "Audience": claims.audience,
        "NameQualifier": claims.name_qualifier,
    }
    if claims.source_identity is not None:
        result["SourceIdentity"] = claims.source_identity
    return result, claims


# GetSessionToken: "Root user credentials: 900 seconds (15 minutes) to 3,600 seconds (1
# hour), with a default of 1 hour."
ROOT_SESSION_SECONDS = (900, 3600)


def get_session_token(caller: iam.Caller, params: Params, *, now: datetime) -> Result:
    """Temporary credentials for the caller itself (API action GetSessionToken).

    Only long-term credentials may call it: "you cannot call GetSessionToken with session
    credentials". IAM users are not emulated, so the caller is the account root user, whose
    sessions last 900-3,600 seconds. MFA (``SerialNumber``/``TokenCode``) is not emulated.
    """
    if caller.is_temporary:
        raise AwsError(
            "AccessDenied", "Cannot call GetSessionToken with session credentials", http_status=403
        )
    if params.get("SerialNumber") or params.get("TokenCode"):
        raise AwsError(
            "ValidationError",
            "SerialNumber and TokenCode (MFA) are not supported by the Sekisho emulator yet.",
            http_status=400,
        )
    low, high = ROOT_SESSION_SECONDS
    duration = int(params.get("DurationSeconds") or high)
    if not low <= duration <= high:
        raise AwsError(
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roots."
            if duration > high
            else f"DurationSeconds must be at least {low}.",
            http_status=400,
        )
    expiration = now + timedelta(seconds=duration)
    token = _new_session_token()
    key, secret = accounts.create_access_key(
        caller.account,
        prefix=accounts.SESSION_KEY_PREFIX,
        session_token_sha256=accounts.token_sha256(token),
        expiration=expiration,
    )
    return {
        "Credentials": {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expiration,
        }
    }


def get_caller_identity(caller: iam.Caller) -> Result:
    """Who signed the request (API action GetCallerIdentity; needs no permission)."""
    return {"UserId": caller.user_id, "Account": caller.account.account_id, "Arn": caller.arn}


def _audit(
    req: AwsHttpRequest,
    request_id: str,
    params: Params,
    now: datetime,
    *,
    result: Result | None = None,
    claims: SamlClaims | None = None,
    failure: AwsError | None = None,
) -> None:
    audit_assume_role_with_saml(
        params,
        now,
        source_ip=req.source_ip,
        user_agent=req.headers.get("user-agent", ""),
        request_id=request_id,
        result=result,
        claims=claims,
        failure=failure,
    )


def audit_assume_role_with_saml(
    params: Params,
    now: datetime,
    *,
    source_ip: str,
    user_agent: str,
    request_id: str | None,
    result: Result | None = None,
    claims: SamlClaims | None = None,
    failure: AwsError | None = None,
) -> None:
    """Write the ``AssumeRoleWithSAML`` audit record (API call or console sign-in)."""
    role_arn = str(params.get("RoleArn") or "")
    duration = params.get("DurationSeconds")
    fields: dict[str, Any] = {}
    if claims is not None and result is not None:
        credentials = result["Credentials"]
        fields = {
            "assertion_id": claims.assertion_id,
            "role_session_name": claims.role_session_name,
            "subject": claims.subject,
            "subject_type": claims.subject_type,
            "issuer": claims.issuer,
            "audience": claims.audience,
            "name_qualifier": claims.name_qualifier,
            "access_key_id": credentials["AccessKeyId"],
            "expiration": credentials["Expiration"],
            "assumed_role_id": result["AssumedRoleUser"]["AssumedRoleId"],
            "assumed_role_arn": result["AssumedRoleUser"]["Arn"],
        }
    emit(
        records.assume_role_with_saml(
            role_arn=role_arn,
            principal_arn=str(params.get("PrincipalArn") or ""),
            account_id=_account_of(role_arn),
            duration_seconds=None if duration is None else int(duration),
            error_code=failure.code if failure is not None else None,
            error_message=failure.message if failure is not None else None,
            source_ip=source_ip,
            user_agent=user_agent,
            now=now,
            request_id=request_id,
            **fields,
        )
    )


def handle(req: AwsHttpRequest, request_id: str) -> AwsHttpResponse:
    """Answer one STS request (the ``sts`` entry of the emulator's service table)."""

    # A signed call proves who sent it before anything in it is read (as IAM does);
    # AssumeRoleWithSAML is the unsigned exception, its assertion being the credential.
    caller = authenticate(req, service="sts") if is_signed(req) else None
    operation, params = parse_query_request(req, service_model())
    if operation.name == "AssumeRoleWithSAML":
        # Unsigned by design: the assertion is the credential (API reference, Authorization).
        now = iam.now()
        try:
            result, claims = assume_role_with_saml(params, now=now)
        except AwsError as failure:
            _audit(req, request_id, params, now, failure=failure)
            raise
        _audit(req, request_id, params, now, result=result, claims=claims)
        return serialize_query_response(operation, result, request_id=request_id)
    if caller is None:
        caller = authenticate(req, service="sts")  # raises MissingAuthenticationToken
    # Neither needs a permission ("No permissions are required to perform this operation").
    if operation.name == "GetCallerIdentity":
        return serialize_query_response(
            operation, get_caller_identity(caller), request_id=request_id
        )
    if operation.name == "GetSessionToken":
        result = get_session_token(caller, params, now=iam.now())
        return serialize_query_response(operation, result, request_id=request_id)
    raise AwsError(
        "InvalidAction",
        f"The action {operation.name} is not implemented by the Sekisho STS emulator.",
        http_status=400,
    )
