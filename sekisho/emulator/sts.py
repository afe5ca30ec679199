"""STS, emulated: AssumeRoleWithSAML (unsigned) and GetCallerIdentity.

Behaviour follows the "AWS Security Token Service API Reference" (actions
``AssumeRoleWithSAML`` and ``GetCallerIdentity``, data types ``Credentials`` and
``AssumedRoleUser``); every check of the SAML Response itself is
``sekisho.emulator.sts_saml.validate_saml_assertion``. This module adds what needs state:
the role and provider lookup, the replay guard, the session key and the audit record.

Session policies: ``Policy`` is validated and kept on the session key, and IAM honours it
(the session gets the intersection, "Session policies" in the IAM User Guide).
``PolicyArns`` is not supported yet and is refused with an error naming it.
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
from sekisho.emulator.models import Role, SamlProvider, UsedAssertion
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


def _session_policy(params: Params) -> str | None:
    if params.get("PolicyArns"):
        raise AwsError(
            "ValidationError",
            "PolicyArns is not supported by the Sekisho emulator yet; pass an inline Policy.",
            http_status=400,
        )
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
        )
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
    if operation.name == "GetCallerIdentity":
        return serialize_query_response(
            operation, get_caller_identity(caller), request_id=request_id
        )
    raise AwsError(
        "InvalidAction",
        f"The action {operation.name} is not implemented by the Sekisho STS emulator.",
        http_status=400,
    )
