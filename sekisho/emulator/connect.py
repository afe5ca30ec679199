"""Amazon Connect, emulated: instances, their default profiles, users and federation.

One handler per operation, each taking the authenticated caller, the request's region and
the parsed parameters and returning the result as botocore's output shape expects it.
Behaviour and errors follow the "Amazon Connect API Reference" (cited per handler) and the
Connect Administrator Guide's SAML chapter (aws-semantics §2). Every request is authorized
first: the account root user always, a role session by its policies for
``connect:<Operation>`` ("Policy evaluation logic"), refused with Connect's
``AccessDeniedException`` (403).

Not emulated yet: idempotent ``ClientToken`` replay, hierarchy groups (listed, always none),
``EXISTING_DIRECTORY`` directories (the id is stored, never checked) and signing in with
``SignInUrl``'s token (the browser federates with its console session instead).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from sekisho.audit import records
from sekisho.audit.writer import emit
from sekisho.clock import SYSTEM_RANDOM, Random
from sekisho.crypto import b64url
from sekisho.emulator import iam
from sekisho.emulator.authn import authenticate
from sekisho.emulator.errors import AwsError
from sekisho.emulator.models import (
    ConnectAuthenticationProfile,
    ConnectInstance,
    ConnectRoutingProfile,
    ConnectSecurityProfile,
    ConnectUser,
)
from sekisho.emulator.protocol.http import AwsHttpRequest, AwsHttpResponse
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_response,
)
from sekisho.emulator.protocol.shapes import ServiceModel, load_service_model, modeled_error
from sekisho.emulator.protocol.sigv4 import parse_authorization
from sekisho.policy import Request, RequestContext, evaluate

Params = Mapping[str, Any]
Result = dict[str, Any]

IDENTITY_TYPES = ("SAML", "CONNECT_MANAGED", "EXISTING_DIRECTORY")
# "Default security profiles" (Connect Administrator Guide).
DEFAULT_SECURITY_PROFILES = ("Admin", "Agent", "CallCenterManager", "QualityAnalyst")
DEFAULT_ROUTING_PROFILE = "Basic Routing Profile"
# CreateInstance, InstanceAlias ("DirectoryAlias" in the model).
ALIAS_PATTERN = re.compile(r"(?!d-)([\da-zA-Z]+)([-]*[\da-zA-Z])*")
# CreateUser, Username: "for instances using SAML ... up to 64 characters from
# [a-zA-Z0-9_-.\@]+".
SAML_USERNAME_PATTERN = re.compile(r"[a-zA-Z0-9_\-.@]{1,64}")
# Connect Administrator Guide: federated sessions last 12 hours; the refresh token as long.
SESSION_LIFETIME = timedelta(hours=12)
ACCESS_TOKEN_LIFETIME = timedelta(hours=12)
DEFAULT_MAX_RESULTS = 100
LIST_INSTANCES_MAX_RESULTS = 10

_random: Random = SYSTEM_RANDOM


def service_model() -> ServiceModel:
    """Connect's botocore service model (cached by load_service_model, read-only)."""
    return load_service_model("connect")


def error(name: str, message: str) -> AwsError:
    """A Connect error as the model declares it (exception name, HTTP status)."""
    return modeled_error(service_model(), name, message)


# --- authorization ------------------------------------------------------------------------------


def authorize(
    caller: iam.Caller,
    action: str,
    resource: str,
    *,
    source_ip: str,
    secure_transport: bool = False,
    instance_id: str | None = None,
) -> None:
    """Refuse a request the caller's identity policies do not allow (root: always allowed).

    ``aws:username`` stays absent (role sessions have none); ``connect:InstanceId`` is set
    for the operations on an instance ("Actions, resources, and condition keys for Amazon
    Connect"); ``aws:SourceIp`` and ``aws:SecureTransport`` are the client's, as the web
    layer resolved them.

    Raises:
        AwsError: ``AccessDeniedException`` (403).
    """
    if caller.is_root:
        return
    context: dict[str, Any] = {
        "aws:SourceIp": source_ip or None,
        "aws:userid": caller.user_id,
        "aws:PrincipalArn": caller.role_arn,
        "aws:PrincipalAccount": caller.account.account_id,
        "aws:PrincipalType": "AssumedRole",
        "aws:CurrentTime": iam.now(),
        "aws:SecureTransport": secure_transport,
        "connect:InstanceId": instance_id,
    }
    request = Request(
        action=action,
        resource=resource,
        context=RequestContext.from_mapping(context),
        principal=caller.arn,
        principal_account=caller.account.account_id,
    )
    identity = caller.identity_policies()
    session = caller.session_layer()
    decision = evaluate(request=request, identity_policies=identity, session_policy=session)
    if decision.allowed:
        return
    if decision.decision == "ExplicitDeny":
        reason = "with an explicit deny in an identity-based policy"
    elif session is not None and evaluate(request=request, identity_policies=identity).allowed:
        reason = f"because no session policy allows the {action} action"
    else:
        reason = f"because no identity-based policy allows the {action} action"
    denied = error(
        "AccessDeniedException",
        f"User: {caller.arn} is not authorized to perform: {action} on resource: "
        f"{resource} {reason}",
    )
    denied.explanation = decision.explanation
    raise denied


# --- shared helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """One call's caller, region (the SigV4 scope's), source address and transport."""

    caller: iam.Caller
    region: str
    source_ip: str
    secure_transport: bool = False


def _instance_arn(ctx: Ctx, instance_id: str) -> str:
    return f"arn:aws:connect:{ctx.region}:{ctx.caller.account.account_id}:instance/{instance_id}"


_INSTANCE_ARN = re.compile(r"arn:aws:connect:([a-z0-9-]+):(\d{12}):instance/([^/:]+)")


def _instance_id(params: Params) -> str:
    """The InstanceId parameter; Connect also accepts the instance ARN there.

    ``resolve_instance`` has checked an ARN's account and region before a handler runs.
    """
    value = str(params["InstanceId"])
    if value.startswith("arn:"):
        return value.rpartition("instance/")[2]
    return value


def resolve_instance(ctx: Ctx, params: Params, action: str) -> tuple[str, str]:
    """(instance id, instance ARN) named by InstanceId, an id or the instance's ARN.

    An ARN is taken as written, never rewritten into the caller's account or the request's
    region: another account's instance is that account's, and Connect has no
    resource-based policies, so the call is denied as IAM denies any cross-account request
    no resource policy allows ("Cross-account policy evaluation logic"); an instance of
    another region is not served by this region's endpoint, so it is not found.

    Raises:
        AwsError: ``AccessDeniedException`` (another account), ``ResourceNotFoundException``
            (another region, or not an Amazon Connect instance ARN).
    """
    value = str(params["InstanceId"])
    if not value.startswith("arn:"):
        return value, _instance_arn(ctx, value)
    match = _INSTANCE_ARN.fullmatch(value)
    if match is None:
        raise error("ResourceNotFoundException", f"Instance not found: {value}")
    region, account_id, instance_id = match.groups()
    if account_id != ctx.caller.account.account_id:
        raise error(
            "AccessDeniedException",
            f"User: {ctx.caller.arn} is not authorized to perform: {action} on resource: "
            f"{value} because no resource-based policy allows the {action} action",
        )
    if region != ctx.region:
        raise error("ResourceNotFoundException", f"Instance not found: {value}")
    return instance_id, value


def _instance(ctx: Ctx, instance_id: str) -> ConnectInstance:
    found = ConnectInstance.objects.filter(
        account=ctx.caller.account, region=ctx.region, instance_id=instance_id
    ).first()
    if found is None:
        raise error("ResourceNotFoundException", f"Instance not found: {instance_id}")
    return found


def _new_id() -> str:
    return _random.uuid()


def _token() -> str:
    return b64url(_random.token_bytes(48))


def _page(items: Sequence[Any], params: Params, key: str, default_max: int) -> Result:
    """One page of ``items`` under ``key``; NextToken is the opaque next offset."""
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode("ascii")).decode("ascii"))
        except (ValueError, UnicodeError):
            raise error("InvalidParameterException", "The NextToken is not valid.") from None
        if start < 0 or start > len(items):
            raise error("InvalidParameterException", "The NextToken is not valid.")
    size = int(params.get("MaxResults") or default_max)
    result: Result = {key: list(items[start : start + size])}
    if start + size < len(items):
        result["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return result


def _instance_result(instance: ConnectInstance) -> Result:
    result: Result = {
        "Id": instance.instance_id,
        "Arn": instance.arn,
        "IdentityManagementType": instance.identity_management_type,
        "CreatedTime": instance.created,
        "InstanceStatus": instance.status,
        "InboundCallsEnabled": instance.inbound_calls_enabled,
        "OutboundCallsEnabled": instance.outbound_calls_enabled,
        "ServiceRole": (
            f"arn:aws:iam::{instance.account.account_id}:role/aws-service-role/"
            "connect.amazonaws.com/AWSServiceRoleForAmazonConnect"
        ),
    }
    if instance.alias:
        result["InstanceAlias"] = instance.alias
        result["InstanceAccessUrl"] = f"https://{instance.alias}.my.connect.aws"
    return result


def _user_result(user: ConnectUser) -> Result:
    identity: Result = {}
    if user.first_name:
        identity["FirstName"] = user.first_name
    if user.last_name:
        identity["LastName"] = user.last_name
    if user.email:
        identity["Email"] = user.email
    result: Result = {
        "Id": user.user_id,
        "Arn": user.arn,
        "Username": user.username,
        "IdentityInfo": identity,
        "PhoneConfig": user.phone_config,
        "SecurityProfileIds": sorted(p.profile_id for p in user.security_profiles.all()),
        "RoutingProfileId": user.routing_profile.profile_id,
        "Tags": user.tags,
        "LastModifiedTime": user.updated,
        "LastModifiedRegion": user.instance.region,
    }
    if user.directory_user_id:
        result["DirectoryUserId"] = user.directory_user_id
    if user.hierarchy_group_id:
        result["HierarchyGroupId"] = user.hierarchy_group_id
    return result


# --- instances ---------------------------------------------------------------------------------


def create_instance(ctx: Ctx, params: Params) -> Result:
    """CreateInstance (API Reference): a new ACTIVE instance with its default profiles."""
    identity = str(params["IdentityManagementType"])
    if identity not in IDENTITY_TYPES:
        raise error(
            "InvalidRequestException",
            f"IdentityManagementType must be one of {', '.join(IDENTITY_TYPES)}.",
        )
    alias = str(params.get("InstanceAlias") or "")
    directory_id = str(params.get("DirectoryId") or "")
    if identity in ("SAML", "CONNECT_MANAGED") and not alias:
        raise error(
            "InvalidRequestException",
            "InstanceAlias is required when IdentityManagementType is SAML or CONNECT_MANAGED.",
        )
    if identity == "EXISTING_DIRECTORY" and not directory_id:
        raise error(
            "InvalidRequestException",
            "DirectoryId is required when IdentityManagementType is EXISTING_DIRECTORY.",
        )
    if alias and (len(alias) > 45 or ALIAS_PATTERN.fullmatch(alias) is None):
        raise error(
            "InvalidRequestException",
            "InstanceAlias must be 1-45 letters, digits and hyphens, not starting with 'd-'.",
        )
    instance_id = _new_id()
    created = iam.now()
    try:
        with transaction.atomic():
            instance = ConnectInstance.objects.create(
                account=ctx.caller.account,
                instance_id=instance_id,
                region=ctx.region,
                arn=_instance_arn(ctx, instance_id),
                alias=alias,
                alias_key=alias.lower(),
                identity_management_type=identity,
                directory_id=directory_id,
                inbound_calls_enabled=bool(params["InboundCallsEnabled"]),
                outbound_calls_enabled=bool(params["OutboundCallsEnabled"]),
                tags=dict(params.get("Tags") or {}),
                created=created,
            )
            for name in DEFAULT_SECURITY_PROFILES:
                profile_id = _new_id()
                ConnectSecurityProfile.objects.create(
                    instance=instance,
                    profile_id=profile_id,
                    arn=f"{instance.arn}/security-profile/{profile_id}",
                    name=name,
                    created=created,
                )
            default_authentication_profile(instance)
            routing_id = _new_id()
            ConnectRoutingProfile.objects.create(
                instance=instance,
                profile_id=routing_id,
                arn=f"{instance.arn}/routing-profile/{routing_id}",
                name=DEFAULT_ROUTING_PROFILE,
                created=created,
            )
    except IntegrityError:
        raise error(
            "InvalidRequestException", f"The instance alias {alias} is already in use."
        ) from None
    return {"Id": instance.instance_id, "Arn": instance.arn}


def describe_instance(ctx: Ctx, params: Params) -> Result:
    """DescribeInstance (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    return {"Instance": _instance_result(instance)}


def list_instances(ctx: Ctx, params: Params) -> Result:
    """ListInstances (API Reference): the account's instances in the request's region."""
    instances = ConnectInstance.objects.filter(
        account=ctx.caller.account, region=ctx.region
    ).order_by("created", "id")
    return _page(
        [_instance_result(i) for i in instances],
        params,
        "InstanceSummaryList",
        LIST_INSTANCES_MAX_RESULTS,
    )


def list_security_profiles(ctx: Ctx, params: Params) -> Result:
    """ListSecurityProfiles (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    profiles = [
        {
            "Id": p.profile_id,
            "Arn": p.arn,
            "Name": p.name,
            "LastModifiedTime": p.created,
            "LastModifiedRegion": instance.region,
        }
        for p in instance.security_profiles.order_by("name")
    ]
    return _page(profiles, params, "SecurityProfileSummaryList", DEFAULT_MAX_RESULTS)


def list_routing_profiles(ctx: Ctx, params: Params) -> Result:
    """ListRoutingProfiles (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    profiles = [
        {
            "Id": p.profile_id,
            "Arn": p.arn,
            "Name": p.name,
            "LastModifiedTime": p.created,
            "LastModifiedRegion": instance.region,
        }
        for p in instance.routing_profiles.order_by("name")
    ]
    return _page(profiles, params, "RoutingProfileSummaryList", DEFAULT_MAX_RESULTS)


# --- users -------------------------------------------------------------------------------------


def _unsupported(params: Params, *names: str) -> None:
    for name in names:
        if params.get(name) not in (None, "", [], {}):
            raise error(
                "InvalidParameterException", f"{name} is not supported by the Sekisho emulator yet."
            )


def _check_identity(instance: ConnectInstance, params: Params) -> Mapping[str, Any]:
    """The CreateUser rules that depend on the instance's identity management type."""
    username = str(params["Username"])
    identity: Mapping[str, Any] = params.get("IdentityInfo") or {}
    kind = instance.identity_management_type
    if kind == "SAML":
        if SAML_USERNAME_PATTERN.fullmatch(username) is None:
            raise error(
                "InvalidParameterException",
                "For instances using SAML the username must be 1-64 characters of [a-zA-Z0-9_-.@].",
            )
        if not identity.get("FirstName") or not identity.get("LastName"):
            raise error(
                "InvalidParameterException",
                "IdentityInfo.FirstName and IdentityInfo.LastName are required for "
                "instances using SAML.",
            )
        if identity.get("Email"):
            raise error(
                "InvalidParameterException",
                "IdentityInfo.Email is not supported for instances using SAML.",
            )
        if params.get("Password"):
            raise error(
                "InvalidParameterException",
                "Password is not supported for instances using SAML.",
            )
    elif kind == "CONNECT_MANAGED" and not params.get("Password"):
        raise error(
            "InvalidParameterException",
            "Password is required for instances using CONNECT_MANAGED identity management.",
        )
    return identity


def create_user(ctx: Ctx, params: Params) -> Result:
    """CreateUser (API Reference): a user with 1-10 security profiles and a routing profile."""
    _unsupported(
        params,
        "HierarchyGroupId",
        "AutoAcceptConfigs",
        "AfterContactWorkConfigs",
        "PhoneNumberConfigs",
        "PersistentConnectionConfigs",
        "VoiceEnhancementConfigs",
    )
    instance = _instance(ctx, _instance_id(params))
    identity = _check_identity(instance, params)
    wanted = [str(item) for item in params["SecurityProfileIds"]]
    profiles = list(instance.security_profiles.filter(profile_id__in=wanted))
    missing = sorted(set(wanted) - {p.profile_id for p in profiles})
    if missing:
        raise error("ResourceNotFoundException", f"Security profile not found: {missing[0]}")
    routing = instance.routing_profiles.filter(profile_id=str(params["RoutingProfileId"])).first()
    if routing is None:
        raise error(
            "ResourceNotFoundException", f"Routing profile not found: {params['RoutingProfileId']}"
        )
    phone = dict(
        params.get("PhoneConfig")
        or {"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0}
    )
    user_id = _new_id()
    created = iam.now()
    try:
        with transaction.atomic():
            user = ConnectUser.objects.create(
                instance=instance,
                user_id=user_id,
                arn=f"{instance.arn}/agent/{user_id}",
                username=str(params["Username"]),
                first_name=str(identity.get("FirstName") or ""),
                last_name=str(identity.get("LastName") or ""),
                email=str(identity.get("Email") or ""),
                directory_user_id=str(params.get("DirectoryUserId") or ""),
                phone_config=phone,
                routing_profile=routing,
                tags=dict(params.get("Tags") or {}),
                created=created,
                updated=created,
            )
            user.security_profiles.set(profiles)
    except IntegrityError:
        raise error(
            "DuplicateResourceException", f"User with username {params['Username']} already exists."
        ) from None
    return {"UserId": user.user_id, "UserArn": user.arn}


def _user(instance: ConnectInstance, user_id: str) -> ConnectUser:
    found = (
        ConnectUser.objects.select_related("instance", "routing_profile")
        .filter(instance=instance, user_id=user_id)
        .first()
    )
    if found is None:
        raise error("ResourceNotFoundException", f"User not found for id: {user_id}")
    return found


def describe_user(ctx: Ctx, params: Params) -> Result:
    """DescribeUser (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    return {"User": _user_result(_user(instance, str(params["UserId"])))}


def list_users(ctx: Ctx, params: Params) -> Result:
    """ListUsers (API Reference): user summaries, by username."""
    instance = _instance(ctx, _instance_id(params))
    users = [
        {
            "Id": u.user_id,
            "Arn": u.arn,
            "Username": u.username,
            "LastModifiedTime": u.updated,
            "LastModifiedRegion": instance.region,
        }
        for u in instance.users.order_by("username")
    ]
    return _page(users, params, "UserSummaryList", DEFAULT_MAX_RESULTS)


def delete_user(ctx: Ctx, params: Params) -> Result:
    """DeleteUser (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    _user(instance, str(params["UserId"])).delete()
    return {}


def _touch(user: ConnectUser, *fields: str) -> None:
    user.updated = iam.now()
    user.save(update_fields=[*fields, "updated"])


def update_user_security_profiles(ctx: Ctx, params: Params) -> Result:
    """UpdateUserSecurityProfiles (API Reference): the user's profiles become these."""
    instance = _instance(ctx, _instance_id(params))
    with transaction.atomic():
        user = _user(instance, str(params["UserId"]))
        wanted = [str(item) for item in params["SecurityProfileIds"]]
        profiles = list(instance.security_profiles.filter(profile_id__in=wanted))
        missing = sorted(set(wanted) - {p.profile_id for p in profiles})
        if missing:
            raise error("ResourceNotFoundException", f"Security profile not found: {missing[0]}")
        user.security_profiles.set(profiles)
        _touch(user)
    return {}


def update_user_routing_profile(ctx: Ctx, params: Params) -> Result:
    """UpdateUserRoutingProfile (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    with transaction.atomic():
        user = _user(instance, str(params["UserId"]))
        wanted = str(params["RoutingProfileId"])
        routing = instance.routing_profiles.filter(profile_id=wanted).first()
        if routing is None:
            raise error("ResourceNotFoundException", f"Routing profile not found: {wanted}")
        user.routing_profile = routing
        _touch(user, "routing_profile")
    return {}


def update_user_identity_info(ctx: Ctx, params: Params) -> Result:
    """UpdateUserIdentityInfo (API Reference): the identity information is replaced.

    The instance's identity management rules of CreateUser hold (SAML: first and last
    name required, no e-mail); only the names and e-mail are emulated.
    """
    instance = _instance(ctx, _instance_id(params))
    identity: Mapping[str, Any] = params["IdentityInfo"]
    _unsupported(identity, "SecondaryEmail", "Mobile")
    if instance.identity_management_type == "SAML":
        if not identity.get("FirstName") or not identity.get("LastName"):
            raise error(
                "InvalidParameterException",
                "IdentityInfo.FirstName and IdentityInfo.LastName are required for "
                "instances using SAML.",
            )
        if identity.get("Email"):
            raise error(
                "InvalidParameterException",
                "IdentityInfo.Email is not supported for instances using SAML.",
            )
    with transaction.atomic():
        user = _user(instance, str(params["UserId"]))
        user.first_name = str(identity.get("FirstName") or "")
        user.last_name = str(identity.get("LastName") or "")
        user.email = str(identity.get("Email") or "")
        _touch(user, "first_name", "last_name", "email")
    return {}


def update_user_phone_config(ctx: Ctx, params: Params) -> Result:
    """UpdateUserPhoneConfig (API Reference): the phone settings are replaced."""
    instance = _instance(ctx, _instance_id(params))
    config = dict(params["PhoneConfig"])
    if "PhoneType" not in config:
        raise error("InvalidParameterException", "PhoneConfig.PhoneType is required.")
    if config["PhoneType"] == "DESK_PHONE" and not config.get("DeskPhoneNumber"):
        raise error("InvalidParameterException", "A DESK_PHONE needs PhoneConfig.DeskPhoneNumber.")
    with transaction.atomic():
        user = _user(instance, str(params["UserId"]))
        user.phone_config = config
        _touch(user, "phone_config")
    return {}


def list_user_hierarchy_groups(ctx: Ctx, params: Params) -> Result:
    """ListUserHierarchyGroups (API Reference); the emulator has no hierarchy groups yet."""
    _instance(ctx, _instance_id(params))
    return _page([], params, "UserHierarchyGroupSummaryList", DEFAULT_MAX_RESULTS)


# --- authentication profiles (Connect's own IP restriction) -----------------------------------

DEFAULT_AUTHENTICATION_PROFILE = "Default"


def default_authentication_profile(instance: ConnectInstance) -> ConnectAuthenticationProfile:
    """The instance's default authentication profile, made on first use (no IP rules)."""
    found = instance.authentication_profiles.filter(is_default=True).first()
    if found is not None:
        return found
    profile_id = _new_id()
    created = iam.now()
    try:
        with transaction.atomic():
            return ConnectAuthenticationProfile.objects.create(
                instance=instance,
                profile_id=profile_id,
                arn=f"{instance.arn}/authentication-profile/{profile_id}",
                name=DEFAULT_AUTHENTICATION_PROFILE,
                is_default=True,
                created=created,
                updated=created,
                updated_region=instance.region,
            )
    except IntegrityError:  # another worker made it first: one default per instance
        return instance.authentication_profiles.get(is_default=True)


def _authentication_profile(instance: ConnectInstance, profile_id: str) -> Any:
    default_authentication_profile(instance)
    found = instance.authentication_profiles.filter(profile_id=profile_id).first()
    if found is None:
        raise error("ResourceNotFoundException", f"Authentication profile not found: {profile_id}")
    return found


def _profile_result(profile: ConnectAuthenticationProfile) -> Result:
    result: Result = {
        "Id": profile.profile_id,
        "Arn": profile.arn,
        "Name": profile.name,
        "AllowedIps": list(profile.allowed_ips),
        "BlockedIps": list(profile.blocked_ips),
        "IsDefault": profile.is_default,
        "CreatedTime": profile.created,
        "LastModifiedTime": profile.updated,
        "LastModifiedRegion": profile.updated_region,
        "PeriodicSessionDuration": profile.periodic_session_duration,
        "MaxSessionDuration": profile.max_session_duration,
        "SessionInactivityHandlingEnabled": profile.session_inactivity_handling,
    }
    if profile.description:
        result["Description"] = profile.description
    if profile.session_inactivity_duration is not None:
        result["SessionInactivityDuration"] = profile.session_inactivity_duration
    return result


def list_authentication_profiles(ctx: Ctx, params: Params) -> Result:
    """ListAuthenticationProfiles (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    default_authentication_profile(instance)
    summaries = [
        {
            "Id": p.profile_id,
            "Arn": p.arn,
            "Name": p.name,
            "IsDefault": p.is_default,
            "LastModifiedTime": p.updated,
            "LastModifiedRegion": p.updated_region,
        }
        for p in instance.authentication_profiles.order_by("name", "id")
    ]
    return _page(summaries, params, "AuthenticationProfileSummaryList", DEFAULT_MAX_RESULTS)


def describe_authentication_profile(ctx: Ctx, params: Params) -> Result:
    """DescribeAuthenticationProfile (API Reference)."""
    instance = _instance(ctx, _instance_id(params))
    profile = _authentication_profile(instance, str(params["AuthenticationProfileId"]))
    return {"AuthenticationProfile": _profile_result(profile)}


def _cidrs(params: Params, name: str) -> list[str] | None:
    if params.get(name) is None:
        return None
    cidrs: list[str] = []
    for text in params[name]:
        try:
            network = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            raise error(
                "InvalidParameterException",
                f"{name} must hold IP address ranges in CIDR notation, got {text!r}.",
            ) from None
        cidrs.append(str(network))
    return cidrs


def update_authentication_profile(ctx: Ctx, params: Params) -> Result:
    """UpdateAuthenticationProfile (API Reference): only the members given change."""
    instance = _instance(ctx, _instance_id(params))
    allowed, blocked = _cidrs(params, "AllowedIps"), _cidrs(params, "BlockedIps")
    with transaction.atomic():
        profile = _authentication_profile(instance, str(params["AuthenticationProfileId"]))
        if params.get("Name") is not None:
            profile.name = str(params["Name"])
        if params.get("Description") is not None:
            profile.description = str(params["Description"])
        if allowed is not None:
            profile.allowed_ips = allowed
        if blocked is not None:
            profile.blocked_ips = blocked
        for member, field_name in (
            ("PeriodicSessionDuration", "periodic_session_duration"),
            ("SessionInactivityDuration", "session_inactivity_duration"),
        ):
            if params.get(member) is not None:
                setattr(profile, field_name, int(params[member]))
        if params.get("SessionInactivityHandlingEnabled") is not None:
            profile.session_inactivity_handling = bool(params["SessionInactivityHandlingEnabled"])
        profile.updated = iam.now()
        profile.updated_region = ctx.region
        profile.save()
    return {}


def ip_restriction_refusal(instance: ConnectInstance, source_ip: str) -> str | None:
    """Why the instance's authentication profile refuses ``source_ip``, or None.

    "Configure IP address based access control": an address in BlockedIps is refused; when
    AllowedIps is not empty, an address outside it is refused too.
    """
    profile = default_authentication_profile(instance)
    if not profile.allowed_ips and not profile.blocked_ips:
        return None
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return f"the source address {source_ip!r} is not an IP address"
    for cidr in profile.blocked_ips:
        if address in ipaddress.ip_network(cidr):
            return (
                f"{source_ip} is in {cidr}, which the authentication profile "
                f"{profile.name!r} of instance {instance.instance_id} blocks"
            )
    if profile.allowed_ips and not any(
        address in ipaddress.ip_network(cidr) for cidr in profile.allowed_ips
    ):
        return (
            f"{source_ip} is outside {', '.join(profile.allowed_ips)}, the addresses the "
            f"authentication profile {profile.name!r} of instance {instance.instance_id} allows"
        )
    return None


# --- federation --------------------------------------------------------------------------------


def federation_user(ctx: Ctx, instance_id: str) -> tuple[ConnectInstance, ConnectUser]:
    """The one federation decision (API GetFederationToken and the browser's federate page).

    The caller must be a role session ("This API doesn't support root users"); it is
    authorized for ``connect:GetFederationToken`` on ``<instance-arn>/user/<aws:userid>``
    with ``ctx.source_ip`` as ``aws:SourceIp``, and the Connect user whose username equals
    the RoleSessionName (case-sensitive) is the one signed in.

    Raises:
        AwsError: ``InvalidRequestException`` (not a role session),
            ``AccessDeniedException``, ``ResourceNotFoundException`` or
            ``UserNotFoundException``.
    """
    caller = ctx.caller
    if caller.is_root:
        raise error(
            "InvalidRequestException",
            f"Provided identity: Principal: {caller.arn} User: {caller.user_id} cannot be "
            "used for federation with Amazon Connect",
        )
    resource = f"{_instance_arn(ctx, instance_id)}/user/{caller.user_id}"
    authorize(
        caller,
        "connect:GetFederationToken",
        resource,
        source_ip=ctx.source_ip,
        secure_transport=ctx.secure_transport,
        instance_id=instance_id,
    )
    instance = _instance(ctx, instance_id)
    refusal = ip_restriction_refusal(instance, ctx.source_ip)
    if refusal is not None:
        denied = error(
            "AccessDeniedException",
            f"Access to instance {instance_id} from {ctx.source_ip} is not allowed.",
        )
        denied.explanation = f"Connect's IP address based access control: {refusal}"
        raise denied
    user = ConnectUser.objects.filter(instance=instance, username=caller.session_name).first()
    if user is None:
        raise error(
            "UserNotFoundException",
            f"No user with username {caller.session_name} exists in instance {instance_id}.",
        )
    return instance, user


def audit_federation(
    ctx: Ctx,
    instance_id: str,
    *,
    failure: AwsError | None,
    user_agent: str,
    request_id: str | None,
) -> None:
    """Write the ``GetFederationToken`` audit record (API call or browser federation)."""
    caller = ctx.caller
    account_id = caller.account.account_id
    identity: dict[str, object] = (
        {"type": "Root", "accountId": account_id, "arn": caller.arn}
        if caller.is_root
        else records.assumed_role_identity(
            account_id=account_id,
            role_arn=caller.role_arn,
            role_id=caller.role_id,
            session_name=caller.session_name,
        )
    )
    code = None
    if failure is not None:
        # audit-format: a denial is recorded as errorCode AccessDenied (CloudTrail's wording).
        code = "AccessDenied" if failure.code == "AccessDeniedException" else failure.code
    emit(
        records.get_federation_token(
            identity=identity,
            instance_id=instance_id,
            error_code=code,
            error_message=failure.message if failure is not None else None,
            explanation=failure.explanation if failure is not None else None,
            source_ip=ctx.source_ip,
            user_agent=user_agent,
            now=iam.now(),
            request_id=request_id,
        )
    )


def get_federation_token(ctx: Ctx, params: Params) -> Result:
    """GetFederationToken (API Reference): sign a federated role session in as its user."""
    instance, user = federation_user(ctx, _instance_id(params))
    issued = iam.now()
    access_token = _token()
    base = str(settings.BASE_URL).rstrip("/")
    return {
        "Credentials": {
            "AccessToken": access_token,
            "AccessTokenExpiration": issued + ACCESS_TOKEN_LIFETIME,
            "RefreshToken": _token(),
            "RefreshTokenExpiration": issued + SESSION_LIFETIME,
        },
        # The browser side of this URL is sekisho.emulator.console (cookie session).
        "SignInUrl": f"{base}/aws/connect/federate/{instance.instance_id}?token={access_token}",
        "UserArn": user.arn,
        "UserId": user.user_id,
    }


# --- dispatch ----------------------------------------------------------------------------------

Handler = Callable[[Ctx, Params], Result]


@dataclass(frozen=True)
class Operation:
    """An emulated Connect operation: its handler and whether it names an instance."""

    handler: Handler
    on_instance: bool
    # The resource suffix under the instance ARN ("" for the instance itself).
    suffix: str = ""


OPERATIONS: dict[str, Operation] = {
    "CreateInstance": Operation(create_instance, on_instance=False),
    "DescribeInstance": Operation(describe_instance, on_instance=True),
    "ListInstances": Operation(list_instances, on_instance=False),
    "ListSecurityProfiles": Operation(list_security_profiles, on_instance=True),
    "ListRoutingProfiles": Operation(list_routing_profiles, on_instance=True),
    "CreateUser": Operation(create_user, on_instance=True, suffix="/agent/*"),
    "DescribeUser": Operation(describe_user, on_instance=True, suffix="/agent/{UserId}"),
    "ListUsers": Operation(list_users, on_instance=True),
    "DeleteUser": Operation(delete_user, on_instance=True, suffix="/agent/{UserId}"),
    "GetFederationToken": Operation(get_federation_token, on_instance=True),
    "UpdateUserSecurityProfiles": Operation(
        update_user_security_profiles, on_instance=True, suffix="/agent/{UserId}"
    ),
    "UpdateUserRoutingProfile": Operation(
        update_user_routing_profile, on_instance=True, suffix="/agent/{UserId}"
    ),
    "UpdateUserIdentityInfo": Operation(
        update_user_identity_info, on_instance=True, suffix="/agent/{UserId}"
    ),
    "UpdateUserPhoneConfig": Operation(
        update_user_phone_config, on_instance=True, suffix="/agent/{UserId}"
    ),
    "ListUserHierarchyGroups": Operation(list_user_hierarchy_groups, on_instance=True),
    "ListAuthenticationProfiles": Operation(list_authentication_profiles, on_instance=True),
    "DescribeAuthenticationProfile": Operation(
        describe_authentication_profile,
        on_instance=True,
        suffix="/authentication-profile/{AuthenticationProfileId}",
    ),
    "UpdateAuthenticationProfile": Operation(
        update_authentication_profile,
        on_instance=True,
        suffix="/authentication-profile/{AuthenticationProfileId}",
    ),
}


def call(ctx: Ctx, operation: str, params: Params) -> Result:
    """Authorize and run one Connect operation for an authenticated caller.

    Raises:
        AwsError: ``AccessDeniedException``, the operation's own errors, or
            ``InvalidRequestException`` for an operation the emulator does not implement.
    """
    entry = OPERATIONS.get(operation)
    if entry is None:
        raise error(
            "InvalidRequestException",
            f"The operation {operation} is not implemented by the Sekisho Connect emulator.",
        )
    instance_id: str | None = None
    resource = "*"
    if entry.on_instance:
        instance_id, instance_arn = resolve_instance(ctx, params, f"connect:{operation}")
        suffix = entry.suffix.replace("{UserId}", str(params.get("UserId", ""))).replace(
            "{AuthenticationProfileId}", str(params.get("AuthenticationProfileId", ""))
        )
        resource = instance_arn + suffix
    # GetFederationToken authorizes itself: its resource is the caller's own user.
    if operation != "GetFederationToken":
        authorize(
            ctx.caller,
            f"connect:{operation}",
            resource,
            source_ip=ctx.source_ip,
            secure_transport=ctx.secure_transport,
            instance_id=instance_id,
        )
    return entry.handler(ctx, params)


def handle(req: AwsHttpRequest, request_id: str) -> AwsHttpResponse:
    """Answer one signed Connect request arriving at ``/aws`` (rest-json)."""

    caller = authenticate(req, service="connect")
    region = parse_authorization(req, protocol="rest-json").region
    operation, labels = match_rest_json_operation(req, service_model(), base_path="/aws")
    params = parse_rest_json_request(req, operation, labels)
    ctx = Ctx(
        caller=caller,
        region=region,
        source_ip=req.source_ip,
        secure_transport=req.secure_transport,
    )
    if operation.name != "GetFederationToken":
        result = call(ctx, operation.name, params)
        return serialize_rest_json_response(operation, result, request_id=request_id)
    user_agent = req.headers.get("user-agent", "")
    try:
        result = call(ctx, operation.name, params)
    except AwsError as failure:
        audit_federation(
            ctx, _instance_id(params), failure=failure, user_agent=user_agent, request_id=request_id
        )
        raise
    audit_federation(
        ctx, _instance_id(params), failure=None, user_agent=user_agent, request_id=request_id
    )
    return serialize_rest_json_response(operation, result, request_id=request_id)
