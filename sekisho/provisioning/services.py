"""The provisioning services `sekisho aws …` and the demo call: plan, print, then apply.

Each reads the Sekisho application (its preset, the IdP's metadata, its assignments)
through saml's services and what exists in AWS through ``aws.Aws``, prints the plan, and
applies it unless told not to. Run twice, the second run prints that nothing changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sekisho.audit.writer import Actor
from sekisho.directory.models import User
from sekisho.policy import (
    PolicyError,
    PolicyKind,
    Request,
    RequestContext,
    evaluate,
    evaluate_trust,
    parse_policy,
)
from sekisho.provisioning import documents as docs
from sekisho.provisioning import plans
from sekisho.provisioning.aws import Aws, apply_all
from sekisho.provisioning.errors import ProvisioningError
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.core.keys import certificate_pem
from sekisho.saml.core.presets import role_session_name_problem
from sekisho.saml.core.xml import DS, MD, element_text, parse_xml
from sekisho.saml.errors import MalformedMessage
from sekisho.saml.models import Application

Out = Callable[[str], None]

# Amazon Connect CreateUser, Username, for instances using SAML.
CONNECT_SAML_USERNAME = re.compile(r"[a-zA-Z0-9_\-.@]{1,64}")
DEFAULT_SECURITY_PROFILES = ("Agent",)
DEFAULT_ROUTING_PROFILE = "Basic Routing Profile"
_CONSOLE_RELAY = re.compile(
    r"https://([a-z0-9-]+)\.console\.aws\.amazon\.com/connect/federate/([^/?#]+)"
)


@dataclass(frozen=True)
class ConnectApp:
    """What provisioning needs of a Sekisho Amazon Connect application."""

    name: str
    region: str
    instance_id: str
    account_id: str
    role_name: str
    role_path: str
    provider_name: str
    acs: str
    session_duration: int
    relay_state: str


def connect_app(name: str) -> tuple[Application, ConnectApp]:
    """The Amazon Connect application called ``name`` and its preset's parameters.

    Raises:
        ProvisioningError: it is another kind of application.
    """
    app = saml.get_app(name)
    if app.kind != Application.KIND_AMAZON_CONNECT:
        raise ProvisioningError(
            f"{name!r} is a {app.kind} application; these commands set up Amazon Connect "
            "applications (sekisho app create-amazon-connect)"
        )
    preset = {str(k): str(v) for k, v in app.preset.items()}
    duration = int(preset.get("session_duration") or 0) or 3600
    return app, ConnectApp(
        name=app.name,
        region=preset["region"],
        instance_id=preset["instance_id"],
        account_id=preset["account_id"],
        role_name=preset["role_name"],
        role_path=preset.get("role_path") or "/",
        provider_name=preset["provider_name"],
        acs=app.default_acs(),
        session_duration=duration,
        relay_state=app.relay_state,
    )


def default_policy_name(app: str) -> str:
    """The federation policy's name for an application unless told otherwise."""
    return f"sekisho-{app}-federation"


def _print_plan(out: Out, title: str, plan: plans.Plan | plans.UserPlan) -> None:
    out(title)
    for step in plan.steps:
        out(step.line())


# --- setup-connect ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupResult:
    """What setup-connect found or made."""

    account_id: str
    instance_id: str
    instance_arn: str
    provider_arn: str
    role_arn: str
    policy_arn: str
    changed: bool


def setup_connect(
    app_name: str,
    aws: Aws,
    *,
    allowed_ips: Sequence[str],
    instance_id: str | None = None,
    instance_alias: str | None = None,
    policy_name: str | None = None,
    connect_ip_restriction: bool = False,
    extra_policies: Sequence[tuple[str, str]] = (),
    dry_run: bool = False,
    actor: Actor,
    out: Out,
) -> SetupResult:
    """The seed's AWS side for one Connect application: plan it, print it, apply it.

    The SAML provider from the current metadata, the role trusting it for the app's ACS,
    the federation policy (GetFederationToken on ``user/${aws:userid}`` from
    ``allowed_ips``) attached to it, optionally Connect's own IP restriction; the instance
    must use SAML. Then the Sekisho application is pointed at the real account and
    instance, if it named others.

    Raises:
        ProvisioningError: a state the plan cannot fix (no instance, not SAML, …).
        AwsCallFailed: an AWS call failed (one sentence).
    """
    app, conf = connect_app(app_name)
    cidrs = tuple(docs.parse_cidrs(allowed_ips))
    account = aws.account_id()
    region = aws.region
    if instance_alias:
        instance_id = aws.instance_id_by_alias(instance_alias)
    instance_id = instance_id or conf.instance_id
    name = policy_name or default_policy_name(app.name)
    the_provider = plans.provider_arn(account, region, conf.provider_name)
    names = [name, *(extra for extra, _ in extra_policies)]
    instance = aws.instance(instance_id)
    state = plans.SetupState(
        account_id=account,
        instance=instance,
        provider=aws.provider(the_provider),
        role=aws.role(conf.role_name),
        policies={n: aws.policy(plans.policy_arn(account, region, n)) for n in names},
        auth_profile=(
            aws.default_auth_profile(instance_id)
            if connect_ip_restriction and instance is not None
            else None
        ),
    )
    wanted = plans.SetupWanted(
        app=app.name,
        region=region,
        instance_id=instance_id,
        provider_name=conf.provider_name,
        role_name=conf.role_name,
        role_path=conf.role_path,
        metadata=saml.metadata_xml().decode("utf-8"),
        audiences=(conf.acs,),
        session_duration=max(3600, conf.session_duration),
        cidrs=cidrs,
        policy_name=name,
        extra_policies=tuple(extra_policies),
        connect_ip_restriction=connect_ip_restriction,
    )
    plan = plans.plan_setup(state, wanted)
    app_changes = [
        (key, value, old)
        for key, value, old in (
            ("account_id", account, conf.account_id),
            ("instance_id", instance_id, conf.instance_id),
            ("region", region, conf.region),
        )
        if value != old
    ]
    out(f"Plan for application {app.name} in account {account} ({region}), instance {instance_id}:")
    for step in plan.steps:
        out(step.line())
    for key, value, old in app_changes:
        out(f"  ~ update application {app.name}: {key} {value} (was {old})")
    for line in plan.holding:
        out(f"  = {line}")
    if plan.problems:
        for problem in plan.problems:
            out(f"  ! {problem}")
        raise ProvisioningError(plan.problems[0])
    result = SetupResult(
        account_id=account,
        instance_id=instance_id,
        instance_arn=instance.arn if instance is not None else "",
        provider_arn=the_provider,
        role_arn=plans.role_arn(account, region, conf.role_path, conf.role_name),
        policy_arn=plans.policy_arn(account, region, name),
        changed=bool(plan.steps or app_changes),
    )
    if plan.changes_nothing and not app_changes:
        out("Nothing to change: the AWS side already is as planned.")
        return result
    if dry_run:
        out("Dry run: nothing was changed.")
        return result
    apply_all(aws, plan.steps, out)
    if app_changes:
        saml.reconfigure_amazon_connect_app(
            app, account_id=account, instance_id=instance_id, region=region, actor=actor
        )
        out(f"  done: update application {app.name}")
    count = len(plan.steps) + (1 if app_changes else 0)
    out(f"Done: {count} change{'s' if count != 1 else ''}.")
    return result


def update_provider(app_name: str, aws: Aws, *, dry_run: bool = False, out: Out) -> bool:
    """Bring the app's SAML provider's metadata up to date (key rotation); True if changed.

    Raises:
        ProvisioningError: the provider does not exist (run setup-connect first).
    """
    _, conf = connect_app(app_name)
    account = aws.account_id()
    arn = plans.provider_arn(account, aws.region, conf.provider_name)
    provider = aws.provider(arn)
    if provider is None:
        raise ProvisioningError(
            f"IAM has no SAML provider {arn}: run 'sekisho aws setup-connect {app_name}' first"
        )
    metadata = saml.metadata_xml().decode("utf-8")
    if provider.metadata == metadata:
        out(f"  = SAML provider {conf.provider_name} ({app_name}) has this IdP's metadata")
        return False
    step = plans.Step(
        "~",
        f"update SAML provider {conf.provider_name} ({app_name}) with this IdP's metadata",
        "update_saml_provider",
        {"SAMLProviderArn": arn, "SAMLMetadataDocument": metadata},
    )
    out(step.line())
    if dry_run:
        return True
    apply_all(aws, (step,), out)
    return True


def ensure_saml_instance(aws: Aws, alias: str, *, out: Out) -> str:
    """The id of the SAML instance with this alias, created unless it exists (the demo's
    first step; an administrator creates a real instance in the Connect console)."""
    for summary in aws.pages("connect", "list_instances", "InstanceSummaryList"):
        if str(summary.get("InstanceAlias", "")).lower() == alias.lower():
            return str(summary["Id"])
    out(f"  + create Amazon Connect instance {alias} (SAML identity management)")
    created = aws.call(
        "connect",
        "create_instance",
        IdentityManagementType="SAML",
        InstanceAlias=alias,
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    return str(created["Id"])


# --- set-allowed-ips ----------------------------------------------------------------------------


def set_allowed_ips(
    app_name: str,
    aws: Aws,
    *,
    allowed_ips: Sequence[str] = (),
    rollback: bool = False,
    policy_name: str | None = None,
    dry_run: bool = False,
    out: Out,
) -> bool:
    """A new default version of the federation policy admitting ``allowed_ips`` (deleting
    the oldest non-default version when five exist), or with ``rollback`` the previous
    version made the default again. Returns whether anything changed (or would).

    Raises:
        ProvisioningError: no federation policy (run setup-connect first), bad ranges.
    """
    app, _ = connect_app(app_name)
    name = policy_name or default_policy_name(app.name)
    account = aws.account_id()
    arn = plans.policy_arn(account, aws.region, name)
    info = aws.policy(arn)
    if info is None:
        raise ProvisioningError(
            f"IAM has no policy {arn}: run 'sekisho aws setup-connect {app.name}' first"
        )
    if rollback:
        plan = plans.plan_rollback(name, info)
    else:
        plan = plans.plan_allowed_ips(name, info, docs.parse_cidrs(allowed_ips))
    _print_plan(out, f"Plan for policy {name} of application {app.name}:", plan)
    for line in plan.holding:
        out(f"  = {line}")
    if plan.problems:
        raise ProvisioningError(plan.problems[0])
    if plan.changes_nothing:
        out("Nothing to change.")
        return False
    if dry_run:
        out("Dry run: nothing was changed.")
        return True
    apply_all(aws, plan.steps, out)
    return True


# --- sync-users ---------------------------------------------------------------------------------


def _names(display_name: str, username: str) -> tuple[str, str]:
    """First and last name for Connect (both required for SAML instances)."""
    given, _, family = display_name.strip().partition(" ")
    return given.strip() or username, family.strip() or username


def _connect_username(app: Application, user: User) -> tuple[str, str | None]:
    """The Connect username federation looks for (the RoleSessionName the app asserts for
    ``user``, case included) and why it cannot be one, or None."""
    name = saml.role_session_name(app, user)
    if not name:
        return "", (
            f"the application asserts no RoleSessionName for user {user.username} "
            "(its RoleSessionName mapping has no value for them)"
        )
    problem = role_session_name_problem(
        name, "username" if name == user.username else "RoleSessionName"
    )
    if problem is None and not CONNECT_SAML_USERNAME.fullmatch(name):
        problem = (
            "not a valid Amazon Connect username for SAML instances "
            "(up to 64 of letters, digits and _-.@)"
        )
    return name, problem


def sync_users(
    app_name: str,
    aws: Aws,
    *,
    security_profiles: Sequence[str] = DEFAULT_SECURITY_PROFILES,
    routing_profile: str | None = None,
    delete_missing: bool = False,
    dry_run: bool = False,
    out: Out,
) -> plans.UserPlan:
    """Every user assigned to the app (directly or by group) as a Connect user named
    exactly as their RoleSessionName, names from the directory; print the diff, apply it.

    Raises:
        ProvisioningError: an unknown security or routing profile.
    """
    app, conf = connect_app(app_name)
    instance = conf.instance_id
    wanted: list[plans.Person] = []
    invalid: dict[str, str] = {}
    for user in assignments.assigned_users(app):
        session_name, problem = _connect_username(app, user)
        if problem is not None:
            invalid[session_name or user.username] = problem
            continue
        first, last = _names(user.display_name, session_name)
        wanted.append(plans.Person(session_name, first, last))
    by_name = aws.profile_ids(instance, "list_security_profiles", "SecurityProfileSummaryList")
    unknown = [name for name in security_profiles if name not in by_name]
    if unknown:
        raise ProvisioningError(
            f"instance {instance} has no security profile {unknown[0]!r} "
            f"(it has {', '.join(sorted(by_name)) or 'none'})"
        )
    routing = aws.profile_ids(instance, "list_routing_profiles", "RoutingProfileSummaryList")
    if routing_profile is not None and routing_profile not in routing:
        raise ProvisioningError(
            f"instance {instance} has no routing profile {routing_profile!r} "
            f"(it has {', '.join(sorted(routing)) or 'none'})"
        )
    routing_name = routing_profile or (
        DEFAULT_ROUTING_PROFILE if DEFAULT_ROUTING_PROFILE in routing else min(routing, default="")
    )
    plan = plans.plan_users(
        instance_id=instance,
        wanted=wanted,
        existing=aws.connect_users(instance),
        invalid=invalid,
        security_profile_ids=[by_name[name] for name in security_profiles],
        routing_profile_id=routing.get(routing_name, ""),
        delete_missing=delete_missing,
    )
    _print_plan(out, f"Users of application {app.name} in instance {instance}:", plan)
    if plan.unchanged:
        out(f"  = up to date: {', '.join(plan.unchanged)}")
    if plan.kept:
        out(f"  = not assigned, kept (--delete-missing deletes them): {', '.join(plan.kept)}")
    for problem in plan.problems:
        out(f"  ! {problem}")
    if plan.changes_nothing:
        out("Nothing to change.")
        return plan
    if dry_run:
        out("Dry run: nothing was changed.")
        return plan
    apply_all(aws, plan.steps, out)
    return plan


# --- doctor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One link of the chain: does it hold, and what it means if not."""

    ok: bool
    text: str


def _metadata_facts(document: str) -> tuple[str, set[str]]:
    """(entityID, signing certificates as PEM) of a SAML provider's metadata."""
    try:
        root = parse_xml(document.encode("utf-8"), max_bytes=10 * 1024 * 1024)
    except MalformedMessage:
        return "", set()
    certificates: set[str] = set()
    for descriptor in root.iter(f"{{{MD}}}KeyDescriptor"):
        if descriptor.get("use", "signing") != "signing":
            continue
        for node in descriptor.iter(f"{{{DS}}}X509Certificate"):
            try:
                certificates.add(certificate_pem("".join(element_text(node).split())))
            except ValueError:
                continue
    return (root.get("entityID") or "").strip(), certificates


def _inside(cidr: str) -> str:
    network = ipaddress.ip_network(cidr, strict=False)
    if network.num_addresses > 2:
        return str(network.network_address + 1)
    return str(network.network_address)


def doctor(
    app_name: str, aws: Aws, *, allowed_ips: Sequence[str] = (), policy_name: str | None = None
) -> list[Finding]:
    """Check the whole chain against AWS, each mismatch in the words of AWS's SAML
    troubleshooting page ("Troubleshooting SAML 2.0 federation with AWS") and of Connect.
    """
    app, conf = connect_app(app_name)
    findings: list[Finding] = []

    def check(ok: bool, good: str, bad: str) -> None:
        findings.append(Finding(ok, good if ok else bad))

    account = aws.account_id()
    region = aws.region
    check(
        conf.account_id == account,
        f"the application's Role attribute names account {account}",
        f"Not authorized to perform sts:AssumeRoleWithSAML: the application's Role attribute "
        f"names account {conf.account_id}, these credentials are account {account} "
        f"(sekisho aws setup-connect {app.name} points it at this one)",
    )
    provider_arn = plans.provider_arn(account, region, conf.provider_name)
    role_arn = plans.role_arn(account, region, conf.role_path, conf.role_name)

    # The SAML provider carries this IdP's entity ID and current signing certificate.
    provider = aws.provider(provider_arn)
    if provider is None:
        findings.append(
            Finding(
                False,
                f"Not authorized to perform sts:AssumeRoleWithSAML: IAM has no SAML provider "
                f"{provider_arn}, which the Role attribute names",
            )
        )
    else:
        entity_id, certificates = _metadata_facts(provider.metadata)
        identity = saml.idp_identity()
        current = saml.signing_key()
        check(
            entity_id == identity.entity_id,
            f"SAML provider {conf.provider_name} is this IdP ({identity.entity_id})",
            f"Issuer not present in specified provider: provider {conf.provider_name} is "
            f"{entity_id or 'unreadable'}, this IdP is {identity.entity_id}",
        )
        check(
            current.certificate_pem in certificates,
            f"SAML provider {conf.provider_name} carries the current signing certificate "
            f"({current.certificate_sha256[:16]}…)",
            f"Response signature invalid: SAML provider {conf.provider_name} does not carry "
            f"this IdP's current signing certificate ({current.certificate_sha256[:16]}…); "
            f"update it: sekisho aws setup-connect {app.name}",
        )

    # The role's trust policy admits the provider for the app's ACS.
    role = aws.role(conf.role_name, with_inline=True)
    if role is None:
        findings.append(
            Finding(
                False,
                f"Not authorized to perform sts:AssumeRoleWithSAML: IAM has no role {role_arn}, "
                "which the Role attribute names",
            )
        )
    else:
        try:
            trust = parse_policy(role.trust_policy, kind=PolicyKind.TRUST, name="trust")
            decision = evaluate_trust(
                trust_policy=trust,
                request=Request(
                    "sts:AssumeRoleWithSAML",
                    role.arn,
                    RequestContext.from_mapping({"saml:aud": conf.acs}),
                    principal=provider_arn,
                ),
            )
            trusted, why = decision.allowed, decision.explanation
        except PolicyError as exc:
            trusted, why = False, "; ".join(str(problem) for problem in exc.problems[:2])
        check(
            trusted,
            f"role {conf.role_name} trusts {conf.provider_name} for SAML:aud {conf.acs}",
            f"Not authorized to perform sts:AssumeRoleWithSAML: the trust policy of role "
            f"{conf.role_name} does not let {conf.provider_name} in with SAML:aud {conf.acs} "
            f"({why})",
        )
        check(
            role.max_session_duration >= conf.session_duration,
            f"role {conf.role_name} allows sessions of {conf.session_duration} s",
            f"Requested DurationSeconds exceeds MaxSessionDuration set for this role: the "
            f"application asks {conf.session_duration} s, role {conf.role_name} allows "
            f"{role.max_session_duration} s",
        )

    # The instance: SAML, and where the relay state sends people.
    instance = aws.instance(conf.instance_id)
    if instance is None:
        findings.append(
            Finding(
                False,
                f"Amazon Connect has no instance {conf.instance_id} in {region}: the relay "
                "state leads nowhere",
            )
        )
    else:
        check(
            instance.identity_management_type == "SAML",
            f"instance {instance.instance_id} uses SAML identity management",
            f"instance {instance.instance_id} uses {instance.identity_management_type} identity "
            "management: federation through SAML is refused (the type never changes)",
        )
    relay = _CONSOLE_RELAY.match(conf.relay_state)
    relay_region = relay.group(1) if relay else conf.region
    relay_instance = relay.group(2) if relay else conf.instance_id
    check(
        relay_region == region and relay_instance == conf.instance_id,
        f"the relay state opens instance {conf.instance_id} in {region}",
        f"Session Expired: the relay state opens instance {relay_instance} in {relay_region}, "
        f"the instance is in {region}",
    )

    # The role's policies allow GetFederationToken on user/${aws:userid} from the ranges.
    # Connect matches a session by the RoleSessionName the assertion carries.
    users = [
        name
        for user in assignments.assigned_users(app)
        if (name := _connect_username(app, user)[0])
    ]
    if role is not None and instance is not None:
        name = policy_name or default_policy_name(app.name)
        federation = aws.policy(plans.policy_arn(account, region, name))
        ranges = list(docs.parse_cidrs(allowed_ips)) if allowed_ips else []
        if not ranges and federation is not None:
            ranges = docs.admitted_ranges(federation.document)
        compiled = []
        readable = [
            (arn, info.document) for arn in role.attached if (info := aws.policy(arn)) is not None
        ]
        readable += [(f"inline{n}", doc) for n, doc in enumerate(role.inline_documents)]
        for name, document in readable:
            try:
                # INLINE: the largest size IAM allows; AWS managed policies may be larger
                # than a customer managed one could be.
                compiled.append(parse_policy(document, kind=PolicyKind.INLINE, name=name))
            except PolicyError as exc:
                why = "; ".join(str(problem) for problem in exc.problems[:2])
                findings.append(
                    Finding(
                        False,
                        f"policy {name} of role {conf.role_name} cannot be evaluated here: {why}",
                    )
                )
        if not ranges:
            # A federation policy named otherwise (setup-connect --policy-name, or made by
            # hand): the ranges of whichever attached policy grants GetFederationToken.
            for _, document in readable:
                try:
                    found = docs.admitted_ranges(document)
                except ProvisioningError:  # not JSON: reported above as not evaluable
                    continue
                ranges += [r for r in found if r not in ranges]
        session = users[0] if users else "sekisho-doctor"
        userid = f"{role.role_id}:{session}"
        for cidr in ranges or ["0.0.0.0/0"]:
            source = _inside(cidr)
            decision = evaluate(
                request=Request(
                    docs.FEDERATE_ACTION,
                    f"{instance.arn}/user/{userid}",
                    RequestContext.from_mapping({"aws:SourceIp": source, "aws:userid": userid}),
                    principal=f"arn:aws:sts::{account}:assumed-role/{conf.role_name}/{session}",
                ),
                identity_policies=compiled,
            )
            check(
                decision.allowed,
                f"role {conf.role_name} may call {docs.FEDERATE_ACTION} on "
                f"{instance.arn}/user/${{aws:userid}} from {cidr}",
                f"Access denied (Amazon Connect): role {conf.role_name} may not call "
                f"{docs.FEDERATE_ACTION} for {session} from {source} ({decision.explanation})",
            )

    # Each assigned user exists in Connect under their exact RoleSessionName.
    if instance is not None:
        connect_names = {p.username for p in aws.connect_users(instance.instance_id)}
        for username in users:
            lookalike = next((n for n in connect_names if n.lower() == username.lower()), None)
            check(
                username in connect_names,
                f"Connect user {username} exists",
                f"Access denied (Amazon Connect): no Connect user is named {username!r}"
                + (
                    f"; {lookalike!r} differs in case, and usernames must equal the "
                    "RoleSessionName exactly"
                    if lookalike
                    else f" (sekisho aws sync-users {app.name} creates it)"
                ),
            )
    return findings
