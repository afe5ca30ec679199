"""Application presets (Amazon Connect, AWS console) and the app-to-assertion step.

AWS's rules come from the IAM User Guide ("Configuring SAML assertions for the
authentication response", "IAM identifiers" name limits) and the Amazon Connect
Administrator Guide ("Configure SAML with IAM for Amazon Connect").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from urllib.parse import quote, urlsplit

from sekisho.saml.core.attributes import (
    AttributeMapping,
    UserAttributes,
    evaluate,
    map_attributes,
    validate,
)
from sekisho.saml.core.metadata import (
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
    SpMetadata,
)
from sekisho.saml.core.persistent import persistent_name_id, transient_name_id
from sekisho.saml.core.response import AssertionSpec
from sekisho.saml.core.urls import check_endpoint_url
from sekisho.saml.core.xml import BINDING_HTTP_POST
from sekisho.saml.errors import AcsNotRegistered, EndpointRejected, MappingError, PresetError

KIND_AMAZON_CONNECT: Final = "amazon-connect"
KIND_AWS_CONSOLE: Final = "aws-console"
KIND_SAML: Final = "saml"
AWS_KINDS: Final = frozenset({KIND_AMAZON_CONNECT, KIND_AWS_CONSOLE})

AWS_ENTITY_ID: Final = "urn:amazon:webservices"
AWS_GLOBAL_SIGNIN: Final = "https://signin.aws.amazon.com/saml"
AWS_ATTR: Final = "https://aws.amazon.com/SAML/Attributes/"
AWS_ROLE: Final = AWS_ATTR + "Role"
AWS_ROLE_SESSION_NAME: Final = AWS_ATTR + "RoleSessionName"
AWS_SESSION_DURATION: Final = AWS_ATTR + "SessionDuration"

ROLE_SESSION_NAME_PATTERN: Final = r"[a-zA-Z_0-9+=,.@-]{2,64}"
ROLE_SESSION_NAME_RE: Final = re.compile(ROLE_SESSION_NAME_PATTERN)
_ROLE_SESSION_CHAR = re.compile(r"[a-zA-Z_0-9+=,.@-]")

_REGION = re.compile(r"^[a-z]{2}-[a-z]+-\d{1,2}$")
_INSTANCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM CreateRole RoleName / Path and CreateSAMLProvider Name patterns (IAM API reference).
_ROLE_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")
_ROLE_PATH = re.compile(r"^/([\x21-\x7e]{0,510}/)?$")
_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_DESTINATION_PATH = re.compile(r"^/[\x21-\x7e]{0,1023}$")
_DESTINATIONS: Final = {"ccp": "/ccp-v2/", "agent-app": "/agent-app-v2"}

SESSION_DURATION_MIN: Final = 900
SESSION_DURATION_MAX: Final = 43200


@dataclass(frozen=True)
class AppDefinition:
    """A configured SAML application: where and what to send, plus the preset's parameters."""

    kind: str
    name: str
    entity_id: str
    acs_urls: tuple[str, ...]
    relay_state: str
    name_id_format: str
    # Empty with persistent/transient formats: Sekisho generates the opaque value.
    name_id_expression: str
    attribute_mappings: tuple[AttributeMapping, ...]
    sign_response: bool = False
    sign_assertion: bool = True
    session_duration: int | None = None
    parameters: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    display_name: str = ""

    @property
    def audience(self) -> str:
        """The Audience to assert: the SP's entity ID (saml-core §2.5.1.4)."""
        return self.entity_id

    def parameters_dict(self) -> dict[str, str]:
        """The preset parameters as a dict (for storage and display)."""
        return dict(self.parameters)


def role_session_name_problem(value: str, what: str = "username") -> str | None:
    """Explain why ``value`` (a ``what``: the username, or a mapped value) cannot be an AWS
    RoleSessionName, or None when it can."""
    if ROLE_SESSION_NAME_RE.fullmatch(value):
        return None
    if not 2 <= len(value) <= 64:
        return (
            f"{what} {value!r} is {len(value)} characters long; AWS RoleSessionName "
            "must be 2 to 64 characters"
        )
    bad = sorted({c for c in value if not _ROLE_SESSION_CHAR.fullmatch(c)})
    shown = ", ".join(repr(c) for c in bad)
    return (
        f"{what} {value!r} contains {shown}, not allowed in an AWS RoleSessionName "
        f"(allowed: letters, digits and _+=,.@-; pattern {ROLE_SESSION_NAME_PATTERN})"
    )


def _value_name(value: str, user: UserAttributes) -> str:
    """How a problem names a RoleSessionName value: the username, or the mapped value."""
    return "username" if value == user.username else "RoleSessionName"


def amazon_connect(
    *,
    name: str,
    region: str,
    instance_id: str,
    account_id: str,
    role_name: str,
    provider_name: str,
    destination: str | None = None,
    acs: str = "global",
    session_duration: int | None = None,
    signin_url: str | None = None,
    console_url: str | None = None,
    role_path: str = "/",
    logout_url: str | None = None,
) -> AppDefinition:
    """Define Amazon Connect federation via AWS sign-in (Connect Admin Guide, SAML setup).

    NameID is ``${user:username}`` with Format unspecified: AWS passes it through as
    ``saml:sub`` (visible in CloudTrail next to the RoleSessionName, which Connect
    matches to its username), and a username is neither an email address nor the opaque
    never-reassigned value the persistent format promises (saml-core §8.3.7).

    ``acs="global"`` (the default) matches the standard trust policy condition
    ``SAML:aud = https://signin.aws.amazon.com/saml``; ``"regional"`` posts to
    ``https://<region>.signin.aws.amazon.com/saml``, which AWS recommends for Connect but
    then the role's trust policy must list that URL in ``SAML:aud`` too.

    Connect has no SAML single logout; ``logout_url`` is the instance's own logout
    endpoint (``https://<alias>.my.connect.aws/connect/logout``, Connect Streams
    documentation), which Sekisho's sign-out page requests to end the agent's session.

    Raises:
        PresetError: a parameter AWS would refuse, with the reason.
    """
    _check_name(name)
    _check_region(region)
    if not _INSTANCE_ID.fullmatch(instance_id):
        raise PresetError(
            "expected the Amazon Connect instance ID, a lowercase UUID like "
            f"'0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7', got {instance_id!r}"
        )
    role_arn, provider_arn = _role_and_provider(account_id, role_path, role_name, provider_name)
    console = (
        _base_url(console_url, what="console_url")
        if console_url
        else (f"https://{region}.console.aws.amazon.com")
    )
    relay_state = f"{console}/connect/federate/{instance_id}"
    destination_path = _destination(destination)
    if destination_path is not None:
        relay_state += "?destination=" + quote(destination_path, safe="")
    acs_url = _acs_url(acs, region, signin_url)
    duration = _session_duration(session_duration)
    if logout_url:
        _check_url(logout_url, what="logout_url")
    params = {
        "region": region,
        "instance_id": instance_id,
        "account_id": account_id,
        "role_name": role_name,
        "role_path": role_path,
        "provider_name": provider_name,
        "destination": destination or "",
        "acs": acs,
        "session_duration": str(duration) if duration else "",
        "signin_url": signin_url or "",
        "console_url": console_url or "",
        "logout_url": logout_url or "",
    }
    return AppDefinition(
        kind=KIND_AMAZON_CONNECT,
        name=name,
        entity_id=AWS_ENTITY_ID,
        acs_urls=(acs_url,),
        relay_state=relay_state,
        name_id_format=NAMEID_UNSPECIFIED,
        name_id_expression="${user:username}",
        attribute_mappings=_aws_mappings(role_arn, provider_arn, duration),
        sign_response=False,
        session_duration=duration,
        parameters=tuple(params.items()),
        display_name="Amazon Connect",
    )


def aws_console(
    *,
    name: str,
    account_id: str,
    role_name: str,
    provider_name: str,
    relay_state: str | None = None,
    acs: str = "global",
    region: str | None = None,
    session_duration: int | None = None,
    signin_url: str | None = None,
    role_path: str = "/",
) -> AppDefinition:
    """Define AWS Management Console federation (IAM User Guide, SAML 2.0 federation).

    Raises:
        PresetError: a parameter AWS would refuse, with the reason.
    """
    _check_name(name)
    if acs == "regional" or region is not None:
        if region is None:
            raise PresetError("expected a region for the regional sign-in endpoint, got none")
        _check_region(region)
    role_arn, provider_arn = _role_and_provider(account_id, role_path, role_name, provider_name)
    relay = relay_state if relay_state is not None else "https://console.aws.amazon.com/"
    _check_url(relay, what="relay_state")
    duration = _session_duration(session_duration)
    params = {
        "account_id": account_id,
        "role_name": role_name,
        "role_path": role_path,
        "provider_name": provider_name,
        "acs": acs,
        "region": region or "",
        "session_duration": str(duration) if duration else "",
        "signin_url": signin_url or "",
    }
    return AppDefinition(
        kind=KIND_AWS_CONSOLE,
        name=name,
        entity_id=AWS_ENTITY_ID,
        acs_urls=(_acs_url(acs, region or "", signin_url),),
        relay_state=relay,
        name_id_format=NAMEID_UNSPECIFIED,
        name_id_expression="${user:username}",
        attribute_mappings=_aws_mappings(role_arn, provider_arn, duration),
        sign_response=False,
        session_duration=duration,
        parameters=tuple(params.items()),
        display_name="AWS Management Console",
    )


def saml_app(
    *,
    name: str,
    sp: SpMetadata,
    name_id_format: str = NAMEID_PERSISTENT,
    name_id_expression: str = "",
    attribute_mappings: Sequence[AttributeMapping] = (),
    relay_state: str = "",
    sign_response: bool = False,
) -> AppDefinition:
    """Define a generic SAML 2.0 application from its imported metadata.

    Raises:
        PresetError: the SP has no HTTP-POST ACS, or the NameID settings are unusable.
    """
    _check_name(name)
    acs_urls = tuple(e.location for e in sp.acs if e.binding == BINDING_HTTP_POST)
    if not acs_urls:
        raise PresetError(
            f"expected an HTTP-POST ACS in the metadata of {sp.entity_id!r}, got none"
        )
    if not name_id_expression and name_id_format not in (NAMEID_PERSISTENT, NAMEID_TRANSIENT):
        raise PresetError(
            "expected a NameID expression (only persistent and transient formats are generated), "
            "got none"
        )
    if name_id_expression:
        try:
            validate(name_id_expression)
        except MappingError as exc:
            raise PresetError(f"NameID expression: {exc.message}") from exc
    return AppDefinition(
        kind=KIND_SAML,
        name=name,
        entity_id=sp.entity_id,
        acs_urls=acs_urls,
        relay_state=relay_state,
        name_id_format=name_id_format,
        name_id_expression=name_id_expression,
        attribute_mappings=tuple(attribute_mappings),
        sign_response=sign_response,
    )


def assertion_spec_for(
    app: AppDefinition,
    *,
    user: UserAttributes,
    issuer: str,
    authn_instant: datetime,
    session_index: str,
    mfa_used: bool,
    acs_url: str | None = None,
    in_response_to: str | None = None,
    session_not_on_or_after: datetime | None = None,
    name_id_format: str | None = None,
    persistent_key: bytes | None = None,
    new_id: Callable[[], str] | None = None,
    authn_context_class: str | None = None,
    lifetime_seconds: int = 300,
) -> AssertionSpec:
    """Turn an app and a signed-in user into the AssertionSpec ``build_response`` takes.

    Args:
        acs_url: the ACS chosen for an SP-initiated request; default the app's first.
        name_id_format: the format agreed with an AuthnRequest's NameIDPolicy
            (``authnrequest.choose_name_id_format``); default the app's.
        persistent_key: IdP secret for persistent NameIDs.
        new_id: id source for transient NameIDs.

    Raises:
        MappingError: the user's data cannot be expressed (no NameID value, a username
            AWS refuses as RoleSessionName, characters XML cannot carry).
        AcsNotRegistered: ``acs_url`` is not one of the app's.
    """
    destination = acs_url if acs_url is not None else app.acs_urls[0]
    if destination not in app.acs_urls:
        raise AcsNotRegistered(
            f"expected an ACS configured for {app.name!r}, got {destination[:200]!r}"
        )
    fmt = name_id_format or app.name_id_format
    name_id, sp_name_qualifier = _name_id(app, fmt, user, persistent_key, new_id)
    attributes = map_attributes(app.attribute_mappings, user)
    if app.kind in AWS_KINDS:
        for attribute in attributes:
            if attribute.name == AWS_ROLE_SESSION_NAME:
                for value in attribute.values:
                    problem = role_session_name_problem(value, _value_name(value, user))
                    if problem is not None:
                        raise MappingError(problem)
    return AssertionSpec(
        issuer=issuer,
        destination=destination,
        audience=app.audience,
        recipient=destination,
        in_response_to=in_response_to,
        name_id=name_id,
        name_id_format=fmt,
        sp_name_qualifier=sp_name_qualifier,
        attributes=attributes,
        authn_instant=authn_instant,
        session_index=session_index,
        session_not_on_or_after=session_not_on_or_after,
        mfa_used=mfa_used,
        lifetime_seconds=lifetime_seconds,
        sign_response=app.sign_response,
        sign_assertion=app.sign_assertion,
        authn_context_class=authn_context_class,
    )


def _name_id(
    app: AppDefinition,
    fmt: str,
    user: UserAttributes,
    persistent_key: bytes | None,
    new_id: Callable[[], str] | None,
) -> tuple[str, str | None]:
    """The NameID value for ``fmt`` (saml-core §8.3) and its SPNameQualifier.

    The app's expression gives the value of its own configured format; another format
    the app allows (an SP's NameIDPolicy) gets that format's natural value: an opaque
    per-SP identifier (persistent), a one-time one (transient), the e-mail address
    (emailAddress) or the username (unspecified).
    """
    expression = app.name_id_expression if fmt == app.name_id_format else ""
    if not expression and fmt == NAMEID_PERSISTENT:
        if persistent_key is None:
            raise ValueError("expected persistent_key for a persistent NameID, got none")
        value = persistent_name_id(
            key=persistent_key, sp_entity_id=app.entity_id, user_uid=user.uid
        )
        return value, app.entity_id
    if not expression and fmt == NAMEID_TRANSIENT:
        if new_id is None:
            raise ValueError("expected new_id for a transient NameID, got none")
        return transient_name_id(new_id), None
    if not expression:
        expression = "${user:email}" if fmt == NAMEID_EMAIL else "${user:username}"
    values = evaluate(expression, user)
    if len(values) != 1 or not values[0]:
        raise MappingError(
            f"expected one NameID value (not empty) from {expression!r} for user "
            f"{user.username!r}, got {len(values)} value(s)"
        )
    return values[0], None


def _aws_mappings(
    role_arn: str, provider_arn: str, duration: int | None
) -> tuple[AttributeMapping, ...]:
    mappings = [
        AttributeMapping(AWS_ROLE, f"{role_arn},{provider_arn}", "uri"),
        AttributeMapping(AWS_ROLE_SESSION_NAME, "${user:username}", "uri"),
    ]
    if duration is not None:
        mappings.append(AttributeMapping(AWS_SESSION_DURATION, str(duration), "uri"))
    return tuple(mappings)


def _check_name(name: str) -> None:
    if not name.strip():
        raise PresetError("expected an application name, got an empty one")


def _check_region(region: str) -> None:
    if region.startswith("cn-") or region.startswith("us-gov-"):
        raise PresetError(
            f"region {region!r} is in the aws-cn / aws-us-gov partition, which uses other "
            "sign-in hosts and ARNs; expected a region of the standard aws partition"
        )
    if not _REGION.fullmatch(region):
        raise PresetError(f"expected an AWS region like 'eu-west-2', got {region!r}")


def _role_and_provider(
    account_id: str, role_path: str, role_name: str, provider_name: str
) -> tuple[str, str]:
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise PresetError(f"expected a 12-digit AWS account ID, got {account_id!r}")
    if not _ROLE_NAME.fullmatch(role_name):
        raise PresetError(
            "expected an IAM role name of 1-64 characters from letters, digits and _+=,.@-, "
            f"got {role_name!r}"
        )
    if not _ROLE_PATH.fullmatch(role_path) or len(role_path) > 512:
        raise PresetError(f"expected an IAM path like '/' or '/division/team/', got {role_path!r}")
    if not _PROVIDER_NAME.fullmatch(provider_name):
        raise PresetError(
            "expected a SAML provider name of 1-128 characters from letters, digits and ._-, "
            f"got {provider_name!r}"
        )
    return (
        f"arn:aws:iam::{account_id}:role{role_path}{role_name}",
        f"arn:aws:iam::{account_id}:saml-provider/{provider_name}",
    )


def _destination(destination: str | None) -> str | None:
    if destination is None or destination == "":
        return None
    if destination in _DESTINATIONS:
        return _DESTINATIONS[destination]
    # Only a path on the Connect instance: a full URL here would turn the federate
    # endpoint's redirect into an open redirect.
    if not _DESTINATION_PATH.fullmatch(destination) or destination.startswith("//"):
        raise PresetError(
            "expected destination 'ccp', 'agent-app' or a path starting with '/' "
            f"(printable ASCII, no spaces), got {destination!r}"
        )
    return destination


def _acs_url(acs: str, region: str, signin_url: str | None) -> str:
    if signin_url:
        _check_url(signin_url, what="signin_url")
        return signin_url
    if acs == "global":
        return AWS_GLOBAL_SIGNIN
    if acs == "regional":
        return f"https://{region}.signin.aws.amazon.com/saml"
    raise PresetError(f"expected acs 'global' or 'regional', got {acs!r}")


def _session_duration(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PresetError(f"expected SessionDuration as whole seconds, got {value!r}")
    if not SESSION_DURATION_MIN <= value <= SESSION_DURATION_MAX:
        raise PresetError(
            f"expected SessionDuration between {SESSION_DURATION_MIN} and "
            f"{SESSION_DURATION_MAX} seconds, got {value}"
        )
    return value


def _check_url(url: str, *, what: str) -> None:
    # The same rule as every endpoint a browser is sent to: https, or http on loopback
    # (where the local AWS emulator listens), and only characters a URL may hold.
    try:
        check_endpoint_url(url, what=what)
    except EndpointRejected as exc:
        raise PresetError(exc.message) from None


def _base_url(url: str, *, what: str) -> str:
    _check_url(url, what=what)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise PresetError(f"expected {what} without query or fragment, got {url!r}")
    return url.rstrip("/")
