"""boto3 glue: read what exists, apply a plan's steps, and turn every failure into a sentence.

Clients come from boto3's standard credential chain (``--profile``, environment, SSO,
instance roles) and honour ``--endpoint-url`` or ``AWS_ENDPOINT_URL``. IAM is signed for
its partition's global region, STS and Connect for the region asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sekisho.provisioning import documents as docs
from sekisho.provisioning.errors import (
    AwsCallFailed,
    ProvisioningError,
    explain_botocore_error,
    explain_client_error,
)
from sekisho.provisioning.plans import (
    AuthProfileInfo,
    ConnectPerson,
    InstanceInfo,
    PolicyInfo,
    ProviderInfo,
    RoleInfo,
    Step,
    VersionInfo,
)

# Which client answers each step's action.
_SERVICE_OF_ACTION = {
    "create_saml_provider": "iam",
    "update_saml_provider": "iam",
    "create_role": "iam",
    "update_role": "iam",
    "update_assume_role_policy": "iam",
    "create_policy": "iam",
    "create_policy_version": "iam",
    "delete_policy_version": "iam",
    "set_default_policy_version": "iam",
    "attach_role_policy": "iam",
    "update_authentication_profile": "connect",
    "create_user": "connect",
    "update_user_identity_info": "connect",
    "delete_user": "connect",
}


@dataclass(frozen=True)
class AwsTarget:
    """Whose AWS and where: a boto3 profile (None: the default chain), region, endpoint."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None


def _operation_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_")).replace("Saml", "SAML")


class Aws:
    """boto3 clients of one account and region (IAM, STS and Connect), errors explained."""

    def __init__(self, *, iam: Any, sts: Any, connect: Any, region: str) -> None:
        self.iam, self.sts, self.connect, self.region = iam, sts, connect, region

    @classmethod
    def open(cls, target: AwsTarget) -> Aws:
        """Clients through boto3's standard credential chain.

        Raises:
            AwsCallFailed: an unknown profile, or no region.
        """
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        config = Config(retries={"max_attempts": 3, "mode": "standard"})
        try:
            session = boto3.session.Session(profile_name=target.profile, region_name=target.region)

            def make(service: str, region: str) -> Any:
                return session.client(
                    service, region_name=region, endpoint_url=target.endpoint_url, config=config
                )

            return cls(
                iam=make("iam", docs.iam_region(target.region)),
                sts=make("sts", target.region),
                connect=make("connect", target.region),
                region=target.region,
            )
        except BotoCoreError as exc:
            raise explain_botocore_error("opening the AWS session", exc) from None
        except ValueError as exc:  # botocore's word for an endpoint URL it cannot use
            raise AwsCallFailed(f"opening the AWS session failed: {exc}") from None

    def call(self, service: str, method: str, **params: Any) -> Any:
        """One AWS call; any failure becomes an AwsCallFailed with one plain sentence."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = getattr(self, service)
        try:
            return getattr(client, method)(**params)
        except ClientError as exc:
            raise explain_client_error(_operation_name(method), exc) from None
        except BotoCoreError as exc:
            raise explain_botocore_error(_operation_name(method), exc) from None

    def _absent(self, service: str, method: str, codes: tuple[str, ...], **params: Any) -> Any:
        """A call whose "no such thing" answer (one of ``codes``) means None."""
        try:
            return self.call(service, method, **params)
        except AwsCallFailed as exc:
            if exc.aws_code in codes:
                return None
            raise

    def pages(self, service: str, method: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item under ``key`` across the pages of a list call."""
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = getattr(self, service).get_paginator(method)
        try:
            for page in paginator.paginate(**params):
                yield from page.get(key) or []
        except ClientError as exc:
            raise explain_client_error(_operation_name(method), exc) from None
        except BotoCoreError as exc:
            raise explain_botocore_error(_operation_name(method), exc) from None

    # --- reading what exists -------------------------------------------------------------

    def account_id(self) -> str:
        """The account the credentials belong to (GetCallerIdentity needs no permission)."""
        return str(self.call("sts", "get_caller_identity")["Account"])

    def instance_id_by_alias(self, alias: str) -> str:
        """The id of the instance with this alias (aliases compare case-insensitively)."""
        for summary in self.pages("connect", "list_instances", "InstanceSummaryList"):
            if str(summary.get("InstanceAlias", "")).lower() == alias.lower():
                return str(summary["Id"])
        raise ProvisioningError(
            f"Amazon Connect has no instance with alias {alias!r} in {self.region}"
        )

    def instance(self, instance_id: str) -> InstanceInfo | None:
        """The instance, or None when this region has no such instance."""
        found = self._absent(
            "connect",
            "describe_instance",
            ("ResourceNotFoundException",),
            InstanceId=instance_id,
        )
        if found is None:
            return None
        data = found["Instance"]
        return InstanceInfo(
            instance_id=str(data["Id"]),
            arn=str(data["Arn"]),
            alias=str(data.get("InstanceAlias") or ""),
            identity_management_type=str(data["IdentityManagementType"]),
        )

    def provider(self, arn: str) -> ProviderInfo | None:
        """The SAML provider with this ARN, or None."""
        found = self._absent("iam", "get_saml_provider", ("NoSuchEntity",), SAMLProviderArn=arn)
        if found is None:
            return None
        return ProviderInfo(arn=arn, metadata=str(found["SAMLMetadataDocument"]))

    def role(self, name: str, *, with_inline: bool = False) -> RoleInfo | None:
        """The role, its trust policy and its attached (and, if asked, inline) policies."""
        found = self._absent("iam", "get_role", ("NoSuchEntity",), RoleName=name)
        if found is None:
            return None
        data = found["Role"]
        attached = tuple(
            str(p["PolicyArn"])
            for p in self.pages(
                "iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name
            )
        )
        inline: tuple[str, ...] = ()
        if with_inline:
            inline = tuple(
                json.dumps(
                    self.call("iam", "get_role_policy", RoleName=name, PolicyName=policy)[
                        "PolicyDocument"
                    ]
                )
                for policy in self.pages("iam", "list_role_policies", "PolicyNames", RoleName=name)
            )
        trust = data["AssumeRolePolicyDocument"]
        return RoleInfo(
            arn=str(data["Arn"]),
            role_id=str(data["RoleId"]),
            trust_policy=trust if isinstance(trust, str) else json.dumps(trust),
            max_session_duration=int(data.get("MaxSessionDuration") or 3600),
            attached=attached,
            inline_documents=inline,
        )

    def policy(self, arn: str) -> PolicyInfo | None:
        """A managed policy: its default document and its versions (newest first)."""
        found = self._absent("iam", "get_policy", ("NoSuchEntity",), PolicyArn=arn)
        if found is None:
            return None
        default = str(found["Policy"]["DefaultVersionId"])
        version = self.call("iam", "get_policy_version", PolicyArn=arn, VersionId=default)
        document = version["PolicyVersion"]["Document"]
        versions = sorted(
            self.pages("iam", "list_policy_versions", "Versions", PolicyArn=arn),
            key=lambda v: (v["CreateDate"], int(str(v["VersionId"]).lstrip("v") or 0)),
            reverse=True,
        )
        return PolicyInfo(
            arn=arn,
            document=document if isinstance(document, str) else json.dumps(document),
            versions=tuple(
                VersionInfo(str(v["VersionId"]), bool(v["IsDefaultVersion"])) for v in versions
            ),
        )

    def default_auth_profile(self, instance_id: str) -> AuthProfileInfo | None:
        """The instance's default authentication profile, or None when Connect has none."""
        for summary in self.pages(
            "connect",
            "list_authentication_profiles",
            "AuthenticationProfileSummaryList",
            InstanceId=instance_id,
        ):
            if summary.get("IsDefault"):
                profile = self.call(
                    "connect",
                    "describe_authentication_profile",
                    InstanceId=instance_id,
                    AuthenticationProfileId=summary["Id"],
                )["AuthenticationProfile"]
                return AuthProfileInfo(
                    profile_id=str(profile["Id"]),
                    name=str(profile.get("Name") or "default"),
                    allowed_ips=tuple(profile.get("AllowedIps") or ()),
                    blocked_ips=tuple(profile.get("BlockedIps") or ()),
                )
        return None

    def connect_users(self, instance_id: str) -> list[ConnectPerson]:
        """Every user of the instance, with the names Connect has for them."""
        people: list[ConnectPerson] = []
        summaries = self.pages("connect", "list_users", "UserSummaryList", InstanceId=instance_id)
        for summary in summaries:
            user = self.call(
                "connect", "describe_user", InstanceId=instance_id, UserId=summary["Id"]
            )["User"]
            identity = user.get("IdentityInfo") or {}
            people.append(
                ConnectPerson(
                    user_id=str(user["Id"]),
                    username=str(user["Username"]),
                    first_name=str(identity.get("FirstName") or ""),
                    last_name=str(identity.get("LastName") or ""),
                )
            )
        return people

    def profile_ids(self, instance_id: str, method: str, key: str) -> dict[str, str]:
        """Security or routing profile ids by name."""
        return {
            str(p["Name"]): str(p["Id"])
            for p in self.pages("connect", method, key, InstanceId=instance_id)
        }

    # --- changing it ------------------------------------------------------------------------

    def apply(self, step: Step) -> Any:
        """Carry out one plan step."""
        service = _SERVICE_OF_ACTION[step.action]
        return self.call(service, step.action, **dict(step.args))


def apply_all(aws: Aws, steps: tuple[Step, ...], out: Callable[[str], None]) -> None:
    """Apply the steps in order, saying each as it is done."""
    for step in steps:
        aws.apply(step)
        out(f"  done: {step.text}")
