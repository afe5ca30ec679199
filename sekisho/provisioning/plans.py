"""What exists, what is wanted, and the steps between them (pure: dataclasses in and out).

The AWS glue (``aws``) reads a ``SetupState`` and applies a plan's steps; the services
print the plan first. A plan with no steps is the proof that a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sekisho.provisioning import documents as docs

MAX_POLICY_VERSIONS = 5  # "IAM and AWS STS quotas": versions per managed policy


@dataclass(frozen=True)
class InstanceInfo:
    """An Amazon Connect instance as DescribeInstance reports it."""

    instance_id: str
    arn: str
    alias: str
    identity_management_type: str


@dataclass(frozen=True)
class ProviderInfo:
    """An IAM SAML provider and its metadata document."""

    arn: str
    metadata: str


@dataclass(frozen=True)
class RoleInfo:
    """An IAM role: its trust policy, session limit and attached policies."""

    arn: str
    role_id: str
    trust_policy: str
    max_session_duration: int
    attached: tuple[str, ...]
    inline_documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionInfo:
    """One version of a managed policy."""

    version_id: str
    is_default: bool


@dataclass(frozen=True)
class PolicyInfo:
    """A customer managed policy: its default document and its versions, newest first."""

    arn: str
    document: str
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True)
class AuthProfileInfo:
    """An Amazon Connect authentication profile's IP rules."""

    profile_id: str
    name: str
    allowed_ips: tuple[str, ...]
    blocked_ips: tuple[str, ...]


@dataclass(frozen=True)
class SetupState:
    """What exists in AWS for one application (None: not there)."""

    account_id: str
    instance: InstanceInfo | None
    provider: ProviderInfo | None
    role: RoleInfo | None
    policies: Mapping[str, PolicyInfo | None]
    auth_profile: AuthProfileInfo | None = None


@dataclass(frozen=True)
class SetupWanted:
    """What `setup-connect` makes exist for one application."""

    app: str
    region: str
    instance_id: str
    provider_name: str
    role_name: str
    role_path: str
    metadata: str
    audiences: tuple[str, ...]
    session_duration: int
    cidrs: tuple[str, ...]
    policy_name: str
    extra_policies: tuple[tuple[str, str], ...] = ()
    connect_ip_restriction: bool = False


@dataclass(frozen=True)
class Step:
    """One change: its sign (+ create, ~ update), what it says, and what the glue calls."""

    sign: str
    text: str
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The step as the plan prints it."""
        return f"  {self.sign} {self.text}"


@dataclass(frozen=True)
class Plan:
    """The steps from what exists to what is wanted, what already holds, and what cannot."""

    steps: tuple[Step, ...]
    holding: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        """True when nothing needs to change."""
        return not self.steps


def provider_arn(account_id: str, region: str, name: str) -> str:
    """The ARN a SAML provider of this name has."""
    return f"arn:{docs.partition(region)}:iam::{account_id}:saml-provider/{name}"


def role_arn(account_id: str, region: str, path: str, name: str) -> str:
    """The ARN a role of this name and path has."""
    return f"arn:{docs.partition(region)}:iam::{account_id}:role{path}{name}"


def policy_arn(account_id: str, region: str, name: str) -> str:
    """The ARN a customer managed policy of this name (path /) has."""
    return f"arn:{docs.partition(region)}:iam::{account_id}:policy/{name}"


def _cidr_text(cidrs: Sequence[str]) -> str:
    return ", ".join(cidrs)


def policy_version_steps(name: str, info: PolicyInfo, document: str, why: str) -> list[Step]:
    """A new default version of a managed policy, making room first when five exist.

    IAM keeps at most five versions; the oldest version that is not the default goes.
    """
    steps: list[Step] = []
    if len(info.versions) >= MAX_POLICY_VERSIONS:
        oldest = next(v for v in reversed(info.versions) if not v.is_default)
        steps.append(
            Step(
                "-",
                f"delete version {oldest.version_id} of policy {name} (IAM keeps five)",
                "delete_policy_version",
                {"PolicyArn": info.arn, "VersionId": oldest.version_id},
            )
        )
    steps.append(
        Step(
            "~",
            f"update policy {name}: {why} (a new default version)",
            "create_policy_version",
            {"PolicyArn": info.arn, "PolicyDocument": document, "SetAsDefault": True},
        )
    )
    return steps


def plan_setup(state: SetupState, wanted: SetupWanted) -> Plan:
    """The steps of `setup-connect`: provider, role and trust, policies, IP restriction."""
    problems: list[str] = []
    holding: list[str] = []
    steps: list[Step] = []
    account, region = state.account_id, wanted.region
    if state.instance is None:
        problems.append(
            f"Amazon Connect has no instance {wanted.instance_id} in {region} of account "
            f"{account} (check --instance-id/--instance-alias and --region)"
        )
    elif state.instance.identity_management_type != "SAML":
        problems.append(
            f"instance {state.instance.instance_id} uses "
            f"{state.instance.identity_management_type} identity management; SAML "
            "federation needs an instance created with SAML (the type never changes)"
        )
    else:
        alias = f" ({state.instance.alias})" if state.instance.alias else ""
        holding.append(
            f"instance {state.instance.instance_id}{alias} uses SAML identity management"
        )
    if problems:
        return Plan((), tuple(holding), tuple(problems))
    assert state.instance is not None
    the_provider = provider_arn(account, region, wanted.provider_name)

    # The SAML provider, from this IdP's metadata.
    if state.provider is None:
        steps.append(
            Step(
                "+",
                f"create SAML provider {wanted.provider_name} from this IdP's metadata",
                "create_saml_provider",
                {"Name": wanted.provider_name, "SAMLMetadataDocument": wanted.metadata},
            )
        )
    elif state.provider.metadata != wanted.metadata:
        steps.append(
            Step(
                "~",
                f"update SAML provider {wanted.provider_name}: its metadata is not this IdP's "
                "current metadata",
                "update_saml_provider",
                {"SAMLProviderArn": state.provider.arn, "SAMLMetadataDocument": wanted.metadata},
            )
        )
    else:
        holding.append(f"SAML provider {wanted.provider_name} has this IdP's metadata")

    # The role, trusting the provider for the application's ACS.
    if state.role is None:
        audiences = _ordered({docs.AWS_GLOBAL_SIGNIN, *wanted.audiences})
        steps.append(
            Step(
                "+",
                f"create role {wanted.role_name}: assumable through {wanted.provider_name} with "
                f"SAML:aud {_cidr_text(audiences)}, sessions up to {wanted.session_duration} s",
                "create_role",
                {
                    "RoleName": wanted.role_name,
                    "Path": wanted.role_path,
                    "AssumeRolePolicyDocument": docs.dumps(
                        docs.trust_policy(the_provider, audiences)
                    ),
                    "MaxSessionDuration": wanted.session_duration,
                    "Description": f"Amazon Connect federation through Sekisho ({wanted.app})",
                },
            )
        )
        attached: tuple[str, ...] = ()
    else:
        attached = state.role.attached
        existing = docs.audiences_of(state.role.trust_policy)
        missing = [a for a in wanted.audiences if a not in existing]
        if missing or not docs.trusts(state.role.trust_policy, the_provider):
            audiences = _ordered({*existing, *wanted.audiences})
            trust = docs.trust_with(state.role.trust_policy, the_provider, audiences)
            steps.append(
                Step(
                    "~",
                    f"update the trust policy of role {wanted.role_name}: assumable through "
                    f"{wanted.provider_name} with SAML:aud {_cidr_text(audiences)}",
                    "update_assume_role_policy",
                    {"RoleName": wanted.role_name, "PolicyDocument": docs.dumps(trust)},
                )
            )
        else:
            holding.append(
                f"role {wanted.role_name} trusts {wanted.provider_name} for "
                f"{_cidr_text(wanted.audiences)}"
            )
        if state.role.max_session_duration < wanted.session_duration:
            steps.append(
                Step(
                    "~",
                    f"update role {wanted.role_name}: sessions up to {wanted.session_duration} s "
                    f"(was {state.role.max_session_duration} s), as the application asks",
                    "update_role",
                    {"RoleName": wanted.role_name, "MaxSessionDuration": wanted.session_duration},
                )
            )

    # The federation policy (and any extra policy), attached to the role.
    instance = state.instance.arn
    wanted_documents = [
        (
            wanted.policy_name,
            docs.dumps(docs.federation_policy(instance, wanted.cidrs)),
            f"{docs.FEDERATE_ACTION} on {instance}/user/${{aws:userid}} from "
            f"{_cidr_text(wanted.cidrs)}",
        ),
        *((name, document, "as the demo needs") for name, document in wanted.extra_policies),
    ]
    for name, document, summary in wanted_documents:
        info = state.policies.get(name)
        arn = info.arn if info is not None else policy_arn(account, region, name)
        if info is None:
            steps.append(
                Step(
                    "+",
                    f"create policy {name}: {summary}",
                    "create_policy",
                    {"PolicyName": name, "PolicyDocument": document},
                )
            )
        elif not docs.same_document(info.document, document):
            steps.extend(policy_version_steps(name, info, document, summary))
        else:
            holding.append(f"policy {name} allows {summary}")
        if arn not in attached:
            steps.append(
                Step(
                    "+",
                    f"attach policy {name} to role {wanted.role_name}",
                    "attach_role_policy",
                    {"RoleName": wanted.role_name, "PolicyArn": arn},
                )
            )

    # Amazon Connect's own IP restriction, as a second layer.
    if wanted.connect_ip_restriction:
        profile = state.auth_profile
        if profile is None:
            problems.append(
                f"instance {state.instance.instance_id} reports no authentication profile, so "
                "Connect's own IP restriction cannot be set (it is in preview: ask AWS Support)"
            )
        elif set(profile.allowed_ips) != set(wanted.cidrs):
            steps.append(
                Step(
                    "~",
                    f"update authentication profile {profile.name!r} of the instance: allow "
                    f"only {_cidr_text(wanted.cidrs)} (was "
                    f"{_cidr_text(profile.allowed_ips) or 'any address'})",
                    "update_authentication_profile",
                    {
                        "InstanceId": state.instance.instance_id,
                        "AuthenticationProfileId": profile.profile_id,
                        "AllowedIps": list(wanted.cidrs),
                    },
                )
            )
        else:
            holding.append(
                f"authentication profile {profile.name!r} allows only {_cidr_text(wanted.cidrs)}"
            )
    return Plan(tuple(steps), tuple(holding), tuple(problems))


def _ordered(values: set[str] | Sequence[str]) -> list[str]:
    """AWS's global sign-in endpoint first, then the others sorted."""
    rest = sorted(v for v in set(values) if v != docs.AWS_GLOBAL_SIGNIN)
    return ([docs.AWS_GLOBAL_SIGNIN] if docs.AWS_GLOBAL_SIGNIN in values else []) + rest


# --- allowed IP ranges --------------------------------------------------------------------------


def plan_allowed_ips(name: str, info: PolicyInfo, cidrs: Sequence[str]) -> Plan:
    """A new default version of the federation policy admitting ``cidrs`` (none if it does)."""
    current = docs.admitted_ranges(info.document)
    if set(current) == set(cidrs):
        return Plan((), (f"policy {name} already admits only {_cidr_text(cidrs)}",))
    document = docs.dumps(docs.with_ranges(info.document, cidrs))
    why = f"aws:SourceIp {_cidr_text(cidrs)} (was {_cidr_text(current) or 'none'})"
    return Plan(tuple(policy_version_steps(name, info, document, why)))


def plan_rollback(name: str, info: PolicyInfo) -> Plan:
    """Make the version before the default one the default again."""
    default = next((i for i, v in enumerate(info.versions) if v.is_default), None)
    if default is None or default + 1 >= len(info.versions):
        return Plan((), (), (f"policy {name} has no version before its default one",))
    previous = info.versions[default + 1]
    current = info.versions[default]
    return Plan(
        (
            Step(
                "~",
                f"make version {previous.version_id} of policy {name} the default again "
                f"(instead of {current.version_id})",
                "set_default_policy_version",
                {"PolicyArn": info.arn, "VersionId": previous.version_id},
            ),
        )
    )


# --- Connect users ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A user assigned to the application, as Connect should know them."""

    username: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class ConnectPerson:
    """A user of the Connect instance."""

    user_id: str
    username: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class UserPlan:
    """The diff `sync-users` prints: create, rename, delete (or keep), and what cannot be."""

    steps: tuple[Step, ...]
    unchanged: tuple[str, ...]
    kept: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def changes_nothing(self) -> bool:
        """True when nothing needs to change."""
        return not self.steps


def plan_users(
    *,
    instance_id: str,
    wanted: Sequence[Person],
    existing: Sequence[ConnectPerson],
    invalid: Mapping[str, str],
    security_profile_ids: Sequence[str],
    routing_profile_id: str,
    delete_missing: bool,
) -> UserPlan:
    """Every assigned user in Connect under their exact RoleSessionName, names up to date.

    Connect matches a federated session to the user whose username equals the
    RoleSessionName exactly, case included; a user whose name differs only in case is
    not them.
    """
    by_name = {person.username: person for person in existing}
    steps: list[Step] = []
    unchanged: list[str] = []
    problems = [f"{username}: {why}" for username, why in sorted(invalid.items())]
    for person in wanted:
        found = by_name.get(person.username)
        if found is None:
            lookalike = next(
                (p.username for p in existing if p.username.lower() == person.username.lower()),
                None,
            )
            if lookalike is not None:
                problems.append(
                    f"{person.username}: Connect has {lookalike!r}, which federation does not "
                    "match (usernames must equal the RoleSessionName exactly, case included)"
                )
            steps.append(
                Step(
                    "+",
                    f"create user {person.username} ({person.first_name} {person.last_name})",
                    "create_user",
                    {
                        "InstanceId": instance_id,
                        "Username": person.username,
                        "IdentityInfo": {
                            "FirstName": person.first_name,
                            "LastName": person.last_name,
                        },
                        "PhoneConfig": {"PhoneType": "SOFT_PHONE"},
                        "SecurityProfileIds": list(security_profile_ids),
                        "RoutingProfileId": routing_profile_id,
                    },
                )
            )
        elif (found.first_name, found.last_name) != (person.first_name, person.last_name):
            steps.append(
                Step(
                    "~",
                    f"update user {person.username}: {person.first_name} {person.last_name} "
                    f"(was {found.first_name} {found.last_name})",
                    "update_user_identity_info",
                    {
                        "InstanceId": instance_id,
                        "UserId": found.user_id,
                        "IdentityInfo": {
                            "FirstName": person.first_name,
                            "LastName": person.last_name,
                        },
                    },
                )
            )
        else:
            unchanged.append(person.username)
    assigned = {person.username for person in wanted}
    kept: list[str] = []
    for other in existing:
        if other.username in assigned:
            continue
        if delete_missing:
            steps.append(
                Step(
                    "-",
                    f"delete user {other.username} (not assigned to the application)",
                    "delete_user",
                    {"InstanceId": instance_id, "UserId": other.user_id},
                )
            )
        else:
            kept.append(other.username)
    return UserPlan(tuple(steps), tuple(unchanged), tuple(kept), tuple(problems))
