"""IAM, emulated: SAML providers, managed and inline policies, roles, access keys.

One handler per operation, each taking the caller's account and the parsed parameters and
returning the result as botocore's output shape for that operation expects it. Behaviour,
limits and error codes follow the "IAM API Reference" (cited per handler) and "IAM and
AWS STS quotas". ``call`` authorizes every request first, as IAM does, with the caller's
identity policies ("Policy evaluation logic"); the account root user is always allowed.

Features IAM has but the emulator does not (permissions boundaries, SAML assertion
encryption, IAM users) are refused with an error naming them, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from django.db import IntegrityError, transaction
from django.db.models import F

from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.emulator import accounts, aws_managed
from sekisho.emulator.errors import AwsError
from sekisho.emulator.models import (
    MAX_POLICY_VERSIONS,
    AccessKey,
    Account,
    ManagedPolicy,
    PolicyVersion,
    Role,
    RoleAttachment,
    RolePolicy,
    SamlProvider,
)
from sekisho.emulator.protocol.shapes import ServiceModel, load_service_model, modeled_error
from sekisho.policy import (
    Policy,
    PolicyError,
    PolicyKind,
    Request,
    RequestContext,
    combine_policies,
    evaluate,
    parse_policy,
)
from sekisho.saml.core.keys import certificate_pem, load_certificate
from sekisho.saml.core.xml import DS, MD, SAMLP, children, element_text, parse_instant, parse_xml
from sekisho.saml.errors import MalformedMessage

Params = Mapping[str, Any]
Result = dict[str, Any]

# "IAM and AWS STS quotas".
MAX_SAML_PROVIDERS = 100
MAX_SAML_KEYS = 10
MIN_RSA_KEY_BITS = 1024
MAX_ATTACHED_PER_ROLE = 10
MAX_ROLE_INLINE_CHARS = 10_240
MAX_ACCESS_KEYS = 2
DEFAULT_MAX_ITEMS = 100
# Not documented: a provider whose metadata has no validUntil reports one 100 years on.
DEFAULT_PROVIDER_VALIDITY = timedelta(days=36_525)

_clock: Clock = SYSTEM_CLOCK
_random: Random = SYSTEM_RANDOM


def set_clock(clock: Clock) -> None:
    """Use ``clock`` for creation dates and session expiry checks (tests freeze it)."""
    global _clock
    _clock = clock


def now() -> datetime:
    """The emulator's current time."""
    return _clock.now()


def service_model() -> ServiceModel:
    """IAM's botocore service model (load_service_model caches it; it is read-only)."""
    return load_service_model("iam")


def error(name: str, message: str) -> AwsError:
    """An IAM error as the model declares it (code, HTTP status, fault side)."""
    return modeled_error(service_model(), name, message)


def _validation(message: str) -> AwsError:
    # ValidationError is the query protocol's generic input error, not an IAM shape.
    return AwsError("ValidationError", message, http_status=400)


def _unsupported(params: Params, *names: str) -> None:
    for name in names:
        if params.get(name) not in (None, "", [], {}):
            raise error("InvalidInput", f"{name} is not supported by the Sekisho emulator yet.")


# --- callers and authorization --------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the account root user, or a session of a role.

    A role session keeps the ARN and unique id its role had when it began (``role_arn``,
    ``role_id``); ``role`` is that role while it exists and None once it is deleted. Such a
    session is still who it was (GetCallerIdentity answers), with no permissions at all.
    """

    account: Account
    role: Role | None = None
    session_name: str = ""
    # The session policy a role session was created with (JSON text), if any.
    session_policy: str | None = None
    role_arn: str = ""
    role_id: str = ""
    # The session's PolicyArns: [ARN, document] pairs, as they were when it began.
    managed_session_policies: tuple[tuple[str, str], ...] = ()
    # Whether the caller signed with temporary (session) credentials.
    is_temporary: bool = False

    def __post_init__(self) -> None:
        if self.role is not None and not self.role_arn:
            object.__setattr__(self, "role_arn", self.role.arn)
            object.__setattr__(self, "role_id", self.role.role_id)

    @property
    def is_root(self) -> bool:
        """Whether the caller is the account root user (not a role session)."""
        return not self.role_arn

    @property
    def role_name(self) -> str:
        """The session's role name (the last part of its ARN, after any path)."""
        return self.role_arn.rpartition("/")[2]

    @property
    def arn(self) -> str:
        """The caller's ARN as IAM reports it (``...:root`` or ``...:assumed-role/R/s``)."""
        if self.is_root:
            return self.account.root_arn
        return (
            f"arn:aws:sts::{self.account.account_id}:assumed-role/"
            f"{self.role_name}/{self.session_name}"
        )

    @property
    def user_id(self) -> str:
        """``aws:userid``: the account id for root, ``<RoleId>:<RoleSessionName>`` for sessions."""
        if self.is_root:
            return self.account.account_id
        return f"{self.role_id}:{self.session_name}"

    def identity_policies(self) -> list[Policy]:
        """The caller's identity-based policies: its role's while the role exists, else none."""
        return role_policies(self.role) if self.role is not None else []

    def session_layer(self) -> Policy | None:
        """The role session's session policies (inline and PolicyArns) as one, if any."""
        if self.is_root:
            return None
        parts: list[Policy] = []
        if self.session_policy:
            parts.append(_compile(self.session_policy, PolicyKind.SESSION, "session"))
        for arn, document in self.managed_session_policies:
            parts.append(_compile(document, PolicyKind.IDENTITY, arn))
        if not parts:
            return None
        if len(parts) == 1 and not self.managed_session_policies:
            return parts[0]
        return combine_policies(parts, name="session", kind=PolicyKind.SESSION)


def caller_of(key: AccessKey) -> Caller:
    """The caller an access key speaks for (the key's role may have been deleted since)."""
    return Caller(
        key.account,
        key.role,
        key.session_name,
        key.session_policy,
        role_arn=key.session_role_arn,
        role_id=key.session_role_unique_id,
        managed_session_policies=tuple(
            (str(arn), str(document)) for arn, document in key.session_managed_policies
        ),
        is_temporary=bool(key.session_token_sha256),
    )


def role_policies(role: Role) -> list[Policy]:
    """A role's permission policies: its attached managed policies' default versions and
    its inline policies, compiled (stored documents were validated when stored)."""
    compiled: list[Policy] = []
    for version in PolicyVersion.objects.filter(
        policy__role_attachments__role=role, is_default=True
    ).select_related("policy"):
        compiled.append(_compile(version.document, PolicyKind.IDENTITY, version.policy.arn))
    for inline in RolePolicy.objects.filter(role=role).order_by("name"):
        compiled.append(_compile(inline.document, PolicyKind.INLINE, f"{role.arn}/{inline.name}"))
    return compiled


def authorize(
    caller: Caller, action: str, resource: str, *, source_ip: str, secure_transport: bool = False
) -> None:
    """Refuse a request the caller's policies do not allow ("Policy evaluation logic").

    Raises:
        AwsError: ``AccessDenied`` (403) worded as IAM words it.
    """
    context: dict[str, Any] = {
        "aws:SourceIp": source_ip or None,
        "aws:userid": caller.user_id,
        "aws:PrincipalArn": caller.account.root_arn if caller.is_root else caller.role_arn,
        "aws:PrincipalAccount": caller.account.account_id,
        "aws:PrincipalType": "Account" if caller.is_root else "AssumedRole",
        "aws:CurrentTime": now(),
        "aws:SecureTransport": secure_transport,
    }
    request = Request(
        action=action,
        resource=resource,
        context=RequestContext.from_mapping(context),
        principal=caller.arn,
        principal_account=caller.account.account_id,
    )
    policies = caller.identity_policies()
    session = caller.session_layer()
    decision = evaluate(request=request, identity_policies=policies, session_policy=session)
    if decision.allowed:
        return
    if decision.decision == "ExplicitDeny":
        reason = "with an explicit deny in an identity-based policy"
    elif session is not None and evaluate(request=request, identity_policies=policies).allowed:
        # "Troubleshooting access denied error messages": the session policy is the gap.
        reason = f"because no session policy allows the {action} action"
    else:
        reason = f"because no identity-based policy allows the {action} action"
    raise AwsError(
        "AccessDenied",
        f"User: {caller.arn} is not authorized to perform: {action} on resource: "
        f"{resource} {reason}",
        http_status=403,
    )


# --- shared helpers ---------------------------------------------------------------------------


def _compile(document: str, kind: PolicyKind, name: str = "") -> Policy:
    try:
        return parse_policy(document, kind=kind, name=name)
    except PolicyError as exc:
        raise error(
            "MalformedPolicyDocument", "; ".join(str(problem) for problem in exc.problems)
        ) from exc


def _arn(account: Account, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account.account_id}:{kind}{path}{name}"


def _path(params: Params) -> str:
    return str(params.get("Path") or "/")


def _tags(params: Params) -> list[dict[str, str]]:
    tags = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in params.get("Tags") or []]
    keys = [tag["Key"].lower() for tag in tags]
    if len(keys) != len(set(keys)):
        raise error(
            "InvalidInput",
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        )
    return tags


def _page(items: Sequence[Any], params: Params, key: str) -> Result:
    """One page of a list result, with IAM's ``Marker`` / ``MaxItems`` / ``IsTruncated``."""
    max_items = int(params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    marker = params.get("Marker")
    start = 0
    if marker is not None:
        if not re.fullmatch(r"[0-9]{1,9}", str(marker)) or int(marker) > len(items):
            raise _validation(f"Invalid Marker: {marker}")
        start = int(marker)
    page = list(items[start : start + max_items])
    result: Result = {key: page, "IsTruncated": start + max_items < len(items)}
    if result["IsTruncated"]:
        result["Marker"] = str(start + max_items)
    return result


def _role(account: Account, name: str) -> Role:
    role = Role.objects.filter(account=account, name_key=name.lower()).first()
    if role is None:
        raise error("NoSuchEntity", f"The role with name {name} cannot be found.")
    return role


def _check_arn(arn: str) -> None:
    if not arn.startswith("arn:") or len(arn.split(":", 5)) != 6:
        raise error("InvalidInput", f"ARN {arn} is not valid.")


def _managed_policy(
    account: Account, arn: str, *, attaching: bool = False, changing: str = ""
) -> ManagedPolicy:
    """The customer managed policy of ``account``, or the AWS managed policy, at ``arn``.

    ``changing`` names the action when the caller means to change the policy, which IAM
    refuses for AWS managed policies.
    """
    _check_arn(arn)
    if aws_managed.is_aws_managed(arn):
        policy = _aws_managed_policy(arn)
        if policy is not None and changing:
            raise AwsError(
                "AccessDenied",
                f"Cannot perform {changing} on {arn}: AWS managed policies cannot be changed.",
                http_status=403,
            )
    else:
        policy = ManagedPolicy.objects.filter(account=account, arn=arn).first()
    if policy is None:
        if attaching:
            raise error("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
        raise error("NoSuchEntity", f"Policy {arn} was not found.")
    return policy


def _aws_managed_policy(arn: str) -> ManagedPolicy | None:
    """The stored row of an AWS managed policy of the catalogue, made on first use."""
    known = aws_managed.BY_ARN.get(arn)
    if known is None:
        return None
    policy, created = ManagedPolicy.objects.get_or_create(
        arn=arn,
        defaults={
            "account": None,
            "name": known.name,
            "name_key": known.name.lower(),
            "path": known.path,
            "policy_id": known.policy_id,
            "description": known.description,
            "default_version_id": known.version_id,
            "next_version": int(known.version_id[1:]) + 1,
            "created": known.created,
            "updated": known.updated,
        },
    )
    if created:
        PolicyVersion.objects.create(
            policy=policy,
            version_id=known.version_id,
            document=known.document_text,
            is_default=True,
            created=known.updated,
        )
    return policy


def aws_managed_default_version(arn: str) -> PolicyVersion | None:
    """The default version of an AWS managed policy the emulator knows, else None."""
    policy = _aws_managed_policy(arn)
    return None if policy is None else policy.versions.filter(is_default=True).first()


def _attachments_in(policy: ManagedPolicy, account: Account) -> int:
    """How many roles of ``account`` have the policy (an AWS managed one is shared)."""
    if policy.account_id is not None:
        return policy.attachment_count
    return RoleAttachment.objects.filter(policy=policy, role__account=account).count()


def _saml_provider(account: Account, arn: str) -> SamlProvider:
    _check_arn(arn)
    provider = SamlProvider.objects.filter(account=account, arn=arn).first()
    if provider is None:
        raise error("NoSuchEntity", f"Manifest not found for arn {arn}")
    return provider


def _policy_result(policy: ManagedPolicy, account: Account) -> Result:
    result: Result = {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": _attachments_in(policy, account),
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": policy.created,
        "UpdateDate": policy.updated,
    }
    if policy.description:
        result["Description"] = policy.description
    if policy.tags:
        result["Tags"] = policy.tags
    return result


def _version_result(version: PolicyVersion) -> Result:
    return {
        "Document": version.document,
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "CreateDate": version.created,
    }


def _role_result(role: Role, *, with_tags: bool = True) -> Result:
    result: Result = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created,
        "AssumeRolePolicyDocument": role.trust_policy,
        "MaxSessionDuration": role.max_session_duration,
    }
    if role.description:
        result["Description"] = role.description
    if with_tags and role.tags:
        result["Tags"] = role.tags
    if with_tags:
        # GetRole reports RoleLastUsed ("empty when the role has not been used"); ListRoles
        # leaves it out, as IAM does.
        result["RoleLastUsed"] = _last_used(role)
    return result


def _last_used(role: Role) -> Result:
    if role.last_used is None:
        return {}
    return {"LastUsedDate": role.last_used, "Region": role.last_used_region}


# --- SAML metadata ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdpMetadata:
    """What IAM keeps from a SAML provider's metadata: entityID, signing keys, validity."""

    entity_id: str
    signing_certificates: tuple[str, ...]
    valid_until: datetime | None


def parse_idp_metadata(document: str) -> IdpMetadata:
    """Read an IdP's metadata as ``CreateSAMLProvider`` does (saml-metadata-2.0-os §2.4.3).

    "Creating IAM SAML identity providers": UTF-8 without a byte order mark, at most ten
    signing keys, each at least 1024 bits.

    Raises:
        AwsError: ``InvalidInput`` for a document IAM refuses, ``MalformedCertificate`` for
            a certificate that does not decode.
    """
    if document.startswith("\ufeff"):
        raise error("InvalidInput", "Could not parse metadata: expected UTF-8 without a BOM.")
    try:
        root = parse_xml(document.encode("utf-8"))
    except MalformedMessage as exc:
        raise error("InvalidInput", f"Could not parse metadata: {exc.message}") from exc
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise error("InvalidInput", "Could not parse metadata: expected an md:EntityDescriptor.")
    entity_id = (root.get("entityID") or "").strip()
    descriptors = [
        d
        for d in children(root, MD, "IDPSSODescriptor")
        if SAMLP in (d.get("protocolSupportEnumeration") or "").split()
    ]
    if not entity_id or not descriptors:
        raise error(
            "InvalidInput",
            "Could not parse metadata: expected an entityID and an IDPSSODescriptor for SAML 2.0.",
        )
    certificates: list[str] = []
    for key_descriptor in children(descriptors[0], MD, "KeyDescriptor"):
        if key_descriptor.get("use", "signing") != "signing":
            continue
        for node in key_descriptor.iter(f"{{{DS}}}X509Certificate"):
            try:
                certificate = load_certificate("".join(element_text(node).split()))
            except ValueError as exc:
                raise error("MalformedCertificate", f"Invalid certificate: {exc}") from exc
            public_key = certificate.public_key()
            if (
                isinstance(public_key, rsa.RSAPublicKey | dsa.DSAPublicKey)
                and public_key.key_size < MIN_RSA_KEY_BITS
            ):
                raise error(
                    "InvalidInput",
                    f"Key size must be at least {MIN_RSA_KEY_BITS} bits, "
                    f"got {public_key.key_size}.",
                )
            pem = certificate_pem("".join(element_text(node).split()))
            if pem not in certificates:
                certificates.append(pem)
    if not certificates:
        raise error("InvalidInput", "Could not parse metadata: expected a signing certificate.")
    if len(certificates) > MAX_SAML_KEYS:
        raise error(
            "InvalidInput",
            f"Metadata may contain at most {MAX_SAML_KEYS} signing keys, got {len(certificates)}.",
        )
    valid_until_text = root.get("validUntil")
    try:
        valid_until = (
            parse_instant(valid_until_text, what="validUntil") if valid_until_text else None
        )
    except MalformedMessage as exc:
        raise error("InvalidInput", f"Could not parse metadata: {exc.message}") from exc
    return IdpMetadata(entity_id, tuple(certificates), valid_until)


# --- SAML providers -----------------------------------------------------------------------------


def create_saml_provider(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreateSAMLProvider"."""
    _unsupported(params, "AddPrivateKey", "ContextProvider", "IdentityCenterInstanceArn")
    if params.get("AssertionEncryptionMode") == "Required":
        raise error("InvalidInput", "AssertionEncryptionMode Required is not supported yet.")
    name = str(params["Name"])
    metadata = parse_idp_metadata(str(params["SAMLMetadataDocument"]))
    arn = _arn(account, "saml-provider/", "", name)
    created = now()
    tags = _tags(params)
    with transaction.atomic():
        if SamlProvider.objects.filter(account=account).count() >= MAX_SAML_PROVIDERS:
            raise error(
                "LimitExceeded",
                f"Cannot exceed quota for SAMLProvidersPerAccount: {MAX_SAML_PROVIDERS}",
            )
        if SamlProvider.objects.filter(account=account, name=name).exists():
            raise error("EntityAlreadyExists", f"SAMLProvider {name} already exists.")
        SamlProvider.objects.create(
            account=account,
            name=name,
            arn=arn,
            uuid=_random.uuid(),
            metadata_document=str(params["SAMLMetadataDocument"]),
            entity_id=metadata.entity_id,
            signing_certificates=list(metadata.signing_certificates),
            valid_until=metadata.valid_until or created + DEFAULT_PROVIDER_VALIDITY,
            tags=tags,
            created=created,
        )
    result: Result = {"SAMLProviderArn": arn}
    if tags:
        result["Tags"] = tags
    return result


def get_saml_provider(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetSAMLProvider"."""
    provider = _saml_provider(account, str(params["SAMLProviderArn"]))
    result: Result = {
        "SAMLProviderUUID": provider.uuid,
        "SAMLMetadataDocument": provider.metadata_document,
        "CreateDate": provider.created,
        "ValidUntil": provider.valid_until,
        "AssertionEncryptionMode": "Allowed",
    }
    if provider.tags:
        result["Tags"] = provider.tags
    return result


def list_saml_providers(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListSAMLProviders" (not paginated)."""
    providers = SamlProvider.objects.filter(account=account).order_by("name")
    return {
        "SAMLProviderList": [
            {"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.created} for p in providers
        ]
    }


def update_saml_provider(account: Account, params: Params) -> Result:
    """IAM API Reference, "UpdateSAMLProvider" (replaces the metadata document)."""
    _unsupported(
        params,
        "AddPrivateKey",
        "RemovePrivateKey",
        "ContextProvider",
        "IdentityCenterInstanceArn",
    )
    if params.get("AssertionEncryptionMode") == "Required":
        raise error("InvalidInput", "AssertionEncryptionMode Required is not supported yet.")
    with transaction.atomic():
        provider = _saml_provider(account, str(params["SAMLProviderArn"]))
        document = params.get("SAMLMetadataDocument")
        if document is not None:
            metadata = parse_idp_metadata(str(document))
            provider.metadata_document = str(document)
            provider.entity_id = metadata.entity_id
            provider.signing_certificates = list(metadata.signing_certificates)
            provider.valid_until = metadata.valid_until or now() + DEFAULT_PROVIDER_VALIDITY
            provider.save()
    return {"SAMLProviderArn": provider.arn}


def delete_saml_provider(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeleteSAMLProvider"."""
    with transaction.atomic():
        _saml_provider(account, str(params["SAMLProviderArn"])).delete()
    return {}


# --- managed policies ---------------------------------------------------------------------------


def create_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreatePolicy"."""
    name = str(params["PolicyName"])
    document = str(params["PolicyDocument"])
    _compile(document, PolicyKind.IDENTITY, name)
    path = _path(params)
    created = now()
    tags = _tags(params)
    try:
        with transaction.atomic():
            if ManagedPolicy.objects.filter(account=account, name_key=name.lower()).exists():
                raise IntegrityError(name)
            policy = ManagedPolicy.objects.create(
                account=account,
                name=name,
                name_key=name.lower(),
                path=path,
                arn=_arn(account, "policy", path, name),
                policy_id=accounts.unique_id("ANPA", 21, random=_random),
                description=str(params.get("Description") or ""),
                default_version_id="v1",
                next_version=2,
                tags=tags,
                created=created,
                updated=created,
            )
            PolicyVersion.objects.create(
                policy=policy, version_id="v1", document=document, is_default=True, created=created
            )
    except IntegrityError as exc:
        raise error(
            "EntityAlreadyExists",
            f"A policy called {name} already exists. Duplicate names are not allowed.",
        ) from exc
    return {"Policy": _policy_result(policy, account)}


def get_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetPolicy"."""
    policy = _managed_policy(account, str(params["PolicyArn"]))
    return {"Policy": _policy_result(policy, account)}


def _version(policy: ManagedPolicy, version_id: str) -> PolicyVersion:
    version = PolicyVersion.objects.filter(policy=policy, version_id=version_id).first()
    if version is None:
        raise error("NoSuchEntity", f"Policy {policy.arn} version {version_id} does not exist.")
    return version


def get_policy_version(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetPolicyVersion" (the document goes out URL-encoded)."""
    policy = _managed_policy(account, str(params["PolicyArn"]))
    return {"PolicyVersion": _version_result(_version(policy, str(params["VersionId"])))}


def create_policy_version(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreatePolicyVersion" (at most five versions per policy)."""
    document = str(params["PolicyDocument"])
    with transaction.atomic():
        policy = _managed_policy(
            account, str(params["PolicyArn"]), changing="iam:CreatePolicyVersion"
        )
        policy = ManagedPolicy.objects.select_for_update().get(pk=policy.pk)
        _compile(document, PolicyKind.IDENTITY, policy.name)
        if policy.versions.count() >= MAX_POLICY_VERSIONS:
            raise error(
                "LimitExceeded",
                f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you "
                "create a new version, you must delete an existing version.",
            )
        created = now()
        version_id = f"v{policy.next_version}"
        default = bool(params.get("SetAsDefault"))
        if default:
            policy.versions.update(is_default=False)
            policy.default_version_id = version_id
        version = PolicyVersion.objects.create(
            policy=policy,
            version_id=version_id,
            document=document,
            is_default=default,
            created=created,
        )
        policy.next_version += 1
        policy.updated = created
        policy.save()
    return {"PolicyVersion": _version_result(version)}


def list_policy_versions(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListPolicyVersions" (newest first; documents omitted)."""
    policy = _managed_policy(account, str(params["PolicyArn"]))
    versions = [
        {k: v for k, v in _version_result(version).items() if k != "Document"}
        for version in policy.versions.order_by("-created", "-id")
    ]
    return _page(versions, params, "Versions")


def set_default_policy_version(account: Account, params: Params) -> Result:
    """IAM API Reference, "SetDefaultPolicyVersion" (the version becomes the policy's rules)."""
    with transaction.atomic():
        policy = _managed_policy(
            account, str(params["PolicyArn"]), changing="iam:SetDefaultPolicyVersion"
        )
        policy = ManagedPolicy.objects.select_for_update().get(pk=policy.pk)
        version = _version(policy, str(params["VersionId"]))
        policy.versions.exclude(pk=version.pk).update(is_default=False)
        PolicyVersion.objects.filter(pk=version.pk).update(is_default=True)
        policy.default_version_id = version.version_id
        policy.updated = now()
        policy.save(update_fields=["default_version_id", "updated"])
    return {}


def delete_policy_version(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeletePolicyVersion" (never the default version)."""
    with transaction.atomic():
        policy = _managed_policy(
            account, str(params["PolicyArn"]), changing="iam:DeletePolicyVersion"
        )
        version = _version(policy, str(params["VersionId"]))
        if version.is_default:
            raise error("DeleteConflict", "Cannot delete the default version of a policy.")
        version.delete()
    return {}


def delete_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeletePolicy" (detached, only the default version left)."""
    with transaction.atomic():
        policy = _managed_policy(account, str(params["PolicyArn"]), changing="iam:DeletePolicy")
        if policy.role_attachments.exists():
            raise error("DeleteConflict", "Cannot delete a policy attached to entities.")
        if policy.versions.count() > 1:
            raise error(
                "DeleteConflict",
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's versions. The default version is deleted with the policy.",
            )
        policy.delete()
    return {}


def list_policies(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListPolicies" (Scope, OnlyAttached, PathPrefix, usage filter)."""
    scope = params.get("Scope") or "All"
    prefix = str(params.get("PathPrefix") or "/")
    policies: list[ManagedPolicy] = []
    if params.get("PolicyUsageFilter") == "PermissionsBoundary":
        pass  # no permissions boundaries are emulated
    else:
        if scope in ("All", "AWS"):
            for known in aws_managed.CATALOGUE:
                stored = _aws_managed_policy(known.arn)
                if stored is not None and stored.path.startswith(prefix):
                    policies.append(stored)
        if scope in ("All", "Local"):
            policies.extend(ManagedPolicy.objects.filter(account=account, path__startswith=prefix))
        if params.get("OnlyAttached"):
            policies = [p for p in policies if _attachments_in(p, account) > 0]
        policies.sort(key=lambda p: (p.name_key, p.arn))
    items = [
        {k: v for k, v in _policy_result(p, account).items() if k not in ("Description", "Tags")}
        for p in policies
    ]
    return _page(items, params, "Policies")


# --- roles --------------------------------------------------------------------------------------


def create_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreateRole" (the trust policy is validated as one)."""
    _unsupported(params, "PermissionsBoundary", "MaxSigninSessionDuration")
    name = str(params["RoleName"])
    document = str(params["AssumeRolePolicyDocument"])
    _compile(document, PolicyKind.TRUST, name)
    path = _path(params)
    try:
        with transaction.atomic():
            if Role.objects.filter(account=account, name_key=name.lower()).exists():
                raise IntegrityError(name)
            role = Role.objects.create(
                account=account,
                name=name,
                name_key=name.lower(),
                path=path,
                arn=_arn(account, "role", path, name),
                role_id=accounts.unique_id("AROA", 21, random=_random),
                trust_policy=document,
                description=str(params.get("Description") or ""),
                max_session_duration=int(params.get("MaxSessionDuration") or 3600),
                tags=_tags(params),
                created=now(),
            )
    except IntegrityError as exc:
        raise error("EntityAlreadyExists", f"Role with name {name} already exists.") from exc
    return {"Role": _role_result(role)}


def get_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetRole" (with RoleLastUsed)."""
    return {"Role": _role_result(_role(account, str(params["RoleName"])))}


def update_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "UpdateRole" (Description and MaxSessionDuration)."""
    _unsupported(params, "MaxSigninSessionDuration", "ResetMaxSigninSessionDuration")
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        if params.get("Description") is not None:
            role.description = str(params["Description"])
        if params.get("MaxSessionDuration") is not None:
            role.max_session_duration = int(params["MaxSessionDuration"])
        role.save(update_fields=["description", "max_session_duration"])
    return {}


def update_assume_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "UpdateAssumeRolePolicy" (validated as a trust policy)."""
    document = str(params["PolicyDocument"])
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        _compile(document, PolicyKind.TRUST, role.name)
        role.trust_policy = document
        role.save(update_fields=["trust_policy"])
    return {}


MAX_TAGS = 50  # "IAM and AWS STS quotas": tags per IAM resource


def tag_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "TagRole" (a key already there, in any case, gets the new value)."""
    added = _tags(params)
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        replaced = {tag["Key"].lower() for tag in added}
        tags = [t for t in role.tags if t["Key"].lower() not in replaced] + added
        if len(tags) > MAX_TAGS:
            raise error(
                "LimitExceeded",
                f"The number of tags has reached the maximum limit of {MAX_TAGS}.",
            )
        role.tags = tags
        role.save(update_fields=["tags"])
    return {}


def untag_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "UntagRole" (keys not present are ignored)."""
    removed = {str(key).lower() for key in params["TagKeys"]}
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        role.tags = [t for t in role.tags if t["Key"].lower() not in removed]
        role.save(update_fields=["tags"])
    return {}


def list_role_tags(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListRoleTags"."""
    role = _role(account, str(params["RoleName"]))
    return _page(list(role.tags), params, "Tags")


def record_role_use(role: Role, region: str) -> None:
    """Remember that the role was just assumed (GetRole's RoleLastUsed)."""
    Role.objects.filter(pk=role.pk).update(last_used=now(), last_used_region=region)


def list_roles(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListRoles" (tags are not listed, as IAM does)."""
    roles = Role.objects.filter(
        account=account, path__startswith=str(params.get("PathPrefix") or "/")
    ).order_by("name_key")
    return _page([_role_result(r, with_tags=False) for r in roles], params, "Roles")


def delete_role(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeleteRole" (no attached or inline policies left)."""
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        if role.attachments.exists():
            raise error("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        if role.inline_policies.exists():
            raise error("DeleteConflict", "Cannot delete entity, must delete policies first.")
        role.delete()
    return {}


def attach_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "AttachRolePolicy" (attaching twice is a no-op, as in IAM)."""
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        policy = _managed_policy(account, str(params["PolicyArn"]), attaching=True)
        if RoleAttachment.objects.filter(role=role, policy=policy).exists():
            return {}
        if role.attachments.count() >= MAX_ATTACHED_PER_ROLE:
            raise error(
                "LimitExceeded",
                f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_PER_ROLE}",
            )
        RoleAttachment.objects.create(role=role, policy=policy, created=now())
        ManagedPolicy.objects.filter(pk=policy.pk, account__isnull=False).update(
            attachment_count=F("attachment_count") + 1
        )
    return {}


def detach_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "DetachRolePolicy"."""
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        arn = str(params["PolicyArn"])
        _check_arn(arn)
        deleted, _ = RoleAttachment.objects.filter(role=role, policy__arn=arn).delete()
        if not deleted:
            raise error("NoSuchEntity", f"Policy {arn} was not found.")
        ManagedPolicy.objects.filter(account=account, arn=arn).update(
            attachment_count=F("attachment_count") - 1
        )
    return {}


def list_attached_role_policies(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListAttachedRolePolicies"."""
    role = _role(account, str(params["RoleName"]))
    prefix = str(params.get("PathPrefix") or "/")
    attached = [
        {"PolicyName": a.policy.name, "PolicyArn": a.policy.arn}
        for a in role.attachments.select_related("policy").order_by("policy__name_key")
        if a.policy.path.startswith(prefix)
    ]
    return _page(attached, params, "AttachedPolicies")


def put_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "PutRolePolicy" (adds or replaces an inline policy)."""
    name = str(params["PolicyName"])
    document = str(params["PolicyDocument"])
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        _compile(document, PolicyKind.INLINE, name)
        others = role.inline_policies.exclude(name=name)
        total = sum(len("".join(p.document.split())) for p in others)
        total += len("".join(document.split()))
        if total > MAX_ROLE_INLINE_CHARS:
            raise error(
                "LimitExceeded",
                f"Maximum policy size of {MAX_ROLE_INLINE_CHARS} bytes exceeded for role "
                f"{role.name}",
            )
        RolePolicy.objects.update_or_create(role=role, name=name, defaults={"document": document})
    return {}


def get_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetRolePolicy"."""
    role = _role(account, str(params["RoleName"]))
    name = str(params["PolicyName"])
    inline = role.inline_policies.filter(name=name).first()
    if inline is None:
        raise error("NoSuchEntity", f"The role policy with name {name} cannot be found.")
    return {"RoleName": role.name, "PolicyName": inline.name, "PolicyDocument": inline.document}


def list_role_policies(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListRolePolicies"."""
    role = _role(account, str(params["RoleName"]))
    names = list(role.inline_policies.order_by("name").values_list("name", flat=True))
    return _page(names, params, "PolicyNames")


def delete_role_policy(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeleteRolePolicy"."""
    with transaction.atomic():
        role = _role(account, str(params["RoleName"]))
        name = str(params["PolicyName"])
        deleted, _ = role.inline_policies.filter(name=name).delete()
        if not deleted:
            raise error("NoSuchEntity", f"The role policy with name {name} cannot be found.")
    return {}


# --- account and access keys --------------------------------------------------------------------


def list_account_aliases(account: Account, params: Params) -> Result:
    """IAM API Reference, "ListAccountAliases" (an account has at most one alias)."""
    account.refresh_from_db(fields=["alias"])
    return _page([account.alias] if account.alias else [], params, "AccountAliases")


def create_account_alias(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreateAccountAlias" (unique across AWS; a new one replaces the old)."""
    alias = str(params["AccountAlias"])
    if alias.isdigit() and len(alias) == 12:
        # "Creating, deleting, and listing an AWS account alias": an alias cannot be a
        # 12-digit number, which would read as an account id in the sign-in URL.
        raise error("InvalidInput", "The account alias cannot be a 12-digit number.")
    with transaction.atomic():
        if Account.objects.filter(alias=alias).exclude(pk=account.pk).exists():
            raise error("EntityAlreadyExists", f"The account alias {alias} already exists.")
        Account.objects.filter(pk=account.pk).update(alias=alias)
    account.alias = alias
    return {}


def delete_account_alias(account: Account, params: Params) -> Result:
    """IAM API Reference, "DeleteAccountAlias"."""
    alias = str(params["AccountAlias"])
    with transaction.atomic():
        if not Account.objects.filter(pk=account.pk, alias=alias).exists():
            raise error("NoSuchEntity", f"The account alias {alias} cannot be found.")
        Account.objects.filter(pk=account.pk).update(alias="")
    account.alias = ""
    return {}


_DETAIL_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


def get_account_authorization_details(account: Account, params: Params) -> Result:
    """IAM API Reference, "GetAccountAuthorizationDetails" (no users or groups emulated).

    Roles come with their inline and attached policies, tags and RoleLastUsed; managed
    policies (the account's own, and the AWS managed ones attached in it) with every
    version. ``Marker`` / ``MaxItems`` page over roles and policies together.
    """
    wanted = set(params.get("Filter") or _DETAIL_FILTERS)
    entries: list[tuple[str, Result]] = []
    if "Role" in wanted:
        for role in Role.objects.filter(account=account).order_by("name_key"):
            detail = _role_result(role)
            detail.pop("MaxSessionDuration", None)
            detail.pop("Description", None)
            detail["InstanceProfileList"] = []
            detail["RolePolicyList"] = [
                {"PolicyName": p.name, "PolicyDocument": p.document}
                for p in role.inline_policies.order_by("name")
            ]
            detail["AttachedManagedPolicies"] = [
                {"PolicyName": a.policy.name, "PolicyArn": a.policy.arn}
                for a in role.attachments.select_related("policy").order_by("policy__name_key")
            ]
            entries.append(("RoleDetailList", detail))
    policies: list[ManagedPolicy] = []
    if "LocalManagedPolicy" in wanted:
        policies.extend(ManagedPolicy.objects.filter(account=account).order_by("name_key"))
    if "AWSManagedPolicy" in wanted:
        policies.extend(
            ManagedPolicy.objects.filter(
                account__isnull=True, role_attachments__role__account=account
            )
            .distinct()
            .order_by("name_key")
        )
    for policy in policies:
        detail = {k: v for k, v in _policy_result(policy, account).items() if k != "Tags"}
        detail["PolicyVersionList"] = [
            _version_result(version) for version in policy.versions.order_by("-created", "-id")
        ]
        entries.append(("Policies", detail))
    page = _page(entries, params, "Entries")
    result: Result = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
        "IsTruncated": page["IsTruncated"],
    }
    for key, item in page["Entries"]:
        result[key].append(item)
    if "Marker" in page:
        result["Marker"] = page["Marker"]
    return result


def create_access_key(account: Account, params: Params) -> Result:
    """IAM API Reference, "CreateAccessKey" (for the root user; IAM users are not emulated)."""
    user_name = params.get("UserName")
    if user_name is not None:
        raise error("NoSuchEntity", f"The user with name {user_name} cannot be found.")
    with transaction.atomic():
        existing = account.access_keys.filter(role__isnull=True).count()
        if existing >= MAX_ACCESS_KEYS:
            raise error(
                "LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
            )
        key, secret = accounts.create_access_key(account, clock=_clock, random=_random)
    # Not documented for the root user; the emulator reports the account id as UserName.
    return {
        "AccessKey": {
            "UserName": account.account_id,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": secret,
            "CreateDate": key.created,
        }
    }


# --- dispatch -----------------------------------------------------------------------------------

Handler = Callable[[Account, Params], Result]
ResourceOf = Callable[[Account, Params], str]


def _any(account: Account, params: Params) -> str:
    return "*"


def _role_resource(account: Account, params: Params) -> str:
    name = str(params["RoleName"])
    role = Role.objects.filter(account=account, name_key=name.lower()).first()
    if role is not None:
        return role.arn
    return _arn(account, "role", _path(params), name)


def _policy_resource(account: Account, params: Params) -> str:
    if "PolicyArn" in params:
        return str(params["PolicyArn"])
    return _arn(account, "policy", _path(params), str(params["PolicyName"]))


def _provider_resource(account: Account, params: Params) -> str:
    if "SAMLProviderArn" in params:
        return str(params["SAMLProviderArn"])
    return _arn(account, "saml-provider/", "", str(params["Name"]))


def _root_resource(account: Account, params: Params) -> str:
    return account.root_arn


@dataclass(frozen=True)
class Operation:
    """An emulated IAM operation: its handler and the resource IAM authorizes it on."""

    handler: Handler
    resource: ResourceOf


OPERATIONS: dict[str, Operation] = {
    "CreateSAMLProvider": Operation(create_saml_provider, _provider_resource),
    "GetSAMLProvider": Operation(get_saml_provider, _provider_resource),
    "ListSAMLProviders": Operation(list_saml_providers, _any),
    "UpdateSAMLProvider": Operation(update_saml_provider, _provider_resource),
    "DeleteSAMLProvider": Operation(delete_saml_provider, _provider_resource),
    "CreatePolicy": Operation(create_policy, _policy_resource),
    "GetPolicy": Operation(get_policy, _policy_resource),
    "DeletePolicy": Operation(delete_policy, _policy_resource),
    "GetPolicyVersion": Operation(get_policy_version, _policy_resource),
    "CreatePolicyVersion": Operation(create_policy_version, _policy_resource),
    "ListPolicyVersions": Operation(list_policy_versions, _policy_resource),
    "SetDefaultPolicyVersion": Operation(set_default_policy_version, _policy_resource),
    "DeletePolicyVersion": Operation(delete_policy_version, _policy_resource),
    "ListPolicies": Operation(list_policies, _any),
    "CreateRole": Operation(create_role, _role_resource),
    "GetRole": Operation(get_role, _role_resource),
    "UpdateRole": Operation(update_role, _role_resource),
    "UpdateAssumeRolePolicy": Operation(update_assume_role_policy, _role_resource),
    "TagRole": Operation(tag_role, _role_resource),
    "UntagRole": Operation(untag_role, _role_resource),
    "ListRoleTags": Operation(list_role_tags, _role_resource),
    "ListRoles": Operation(list_roles, _any),
    "DeleteRole": Operation(delete_role, _role_resource),
    "AttachRolePolicy": Operation(attach_role_policy, _role_resource),
    "DetachRolePolicy": Operation(detach_role_policy, _role_resource),
    "ListAttachedRolePolicies": Operation(list_attached_role_policies, _role_resource),
    "PutRolePolicy": Operation(put_role_policy, _role_resource),
    "GetRolePolicy": Operation(get_role_policy, _role_resource),
    "ListRolePolicies": Operation(list_role_policies, _role_resource),
    "DeleteRolePolicy": Operation(delete_role_policy, _role_resource),
    "ListAccountAliases": Operation(list_account_aliases, _any),
    "CreateAccountAlias": Operation(create_account_alias, _any),
    "DeleteAccountAlias": Operation(delete_account_alias, _any),
    "GetAccountAuthorizationDetails": Operation(get_account_authorization_details, _any),
    "CreateAccessKey": Operation(create_access_key, _root_resource),
}


def call(
    caller: Caller,
    operation: str,
    params: Params,
    *,
    source_ip: str,
    secure_transport: bool = False,
) -> Result:
    """Authorize and run one IAM operation for an authenticated caller.

    Raises:
        AwsError: ``AccessDenied``, the operation's own errors, or ``InvalidAction`` for an
            IAM operation the emulator does not implement.
    """
    entry = OPERATIONS.get(operation)
    if entry is None:
        raise AwsError(
            "InvalidAction",
            f"The action {operation} is not implemented by the Sekisho IAM emulator.",
            http_status=400,
        )
    authorize(
        caller,
        f"iam:{operation}",
        entry.resource(caller.account, params),
        source_ip=source_ip,
        secure_transport=secure_transport,
    )
    if operation == "CreateAccessKey" and not caller.is_root and "UserName" not in params:
        raise _validation("Must specify userName when calling with non-User credentials")
    return entry.handler(caller.account, params)
