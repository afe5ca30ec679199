"""SAML glue: the IdP's identity and keys, applications, and the launch (SSO) decision."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.db import IntegrityError, transaction
from lxml import etree

from sekisho.access import decisions as access
from sekisho.access.policies import detach_application
from sekisho.audit import records
from sekisho.audit.writer import Actor, RequestContext, admin_audit, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.config import get_config
from sekisho.crypto import SecretBox
from sekisho.directory.models import User
from sekisho.errors import ConfigError, SekishoError
from sekisho.instance import (
    NEXT_SIGNING_CERT_FILE,
    NEXT_SIGNING_KEY_FILE,
    PREVIOUS_SIGNING_CERT_FILE,
    PREVIOUS_SIGNING_KEY_FILE,
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
    cached_master_key,
    ensure_data_dir,
    secure_data_dir,
    write_private,
)
from sekisho.saml import errors
from sekisho.saml.assignments import assignable_problem, is_assigned
from sekisho.saml.core import attributes as mapping
from sekisho.saml.core import metadata as md
from sekisho.saml.core import presets
from sekisho.saml.core.keys import SigningKey, generate_signing_key
from sekisho.saml.core.response import build_response
from sekisho.saml.core.xml import parse_xml
from sekisho.saml.models import Application, Assignment

NAME_ID_FORMATS = {
    "unspecified": md.NAMEID_UNSPECIFIED,
    "emailAddress": md.NAMEID_EMAIL,
    "persistent": md.NAMEID_PERSISTENT,
    "transient": md.NAMEID_TRANSIENT,
}

_clock: Clock = SYSTEM_CLOCK
_random: Random = SYSTEM_RANDOM


def clock() -> Clock:
    """The clock the web layer uses (tests replace it with set_clock)."""
    return _clock


def set_clock(new: Clock) -> None:
    """Replace the clock (tests only)."""
    global _clock
    _clock = new


# ------------------------------------------------------------------ identity and keys


def _key_paths(kind: str = "current") -> tuple[Path, Path]:
    data = get_config().data_dir
    key_file, cert_file = {
        "current": (SIGNING_KEY_FILE, SIGNING_CERT_FILE),
        "next": (NEXT_SIGNING_KEY_FILE, NEXT_SIGNING_CERT_FILE),
        "previous": (PREVIOUS_SIGNING_KEY_FILE, PREVIOUS_SIGNING_CERT_FILE),
    }[kind]
    return data / key_file, data / cert_file


# A rotation replaces the certificate, then the key: a read in between sees a pair that
# does not belong together, so it reads again rather than keep that pair.
_PAIR_RETRIES = 20


@lru_cache(maxsize=8)
def _load_signing_key(
    key_path: str, cert_path: str, key_mtime: float, cert_mtime: float
) -> SigningKey:
    for _ in range(_PAIR_RETRIES):
        try:
            key_pem = Path(key_path).read_text()
            cert_pem = Path(cert_path).read_text()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the signing key: {exc.strerror}: {exc.filename}"
            ) from None
        key = SigningKey(private_key_pem=key_pem, certificate_pem=cert_pem)
        if _pair_matches(key):
            return key
        time.sleep(0.05)
    raise ConfigError(f"{key_path} and {cert_path} hold a key and a certificate that differ")


def _pair_matches(key: SigningKey) -> bool:
    public = key.certificate.public_key()
    return isinstance(public, rsa.RSAPublicKey) and (
        public.public_numbers() == key.private_key.public_key().public_numbers()
    )


def _stored_key(kind: str) -> SigningKey | None:
    key_path, cert_path = _key_paths(kind)
    try:
        mtimes = (key_path.stat().st_mtime, cert_path.stat().st_mtime)
    except FileNotFoundError:
        return None
    return _load_signing_key(str(key_path), str(cert_path), *mtimes)


def signing_key() -> SigningKey:
    """The IdP's signing key and certificate from SEKISHO_DATA (reloaded when they change)."""
    key = _stored_key("current")
    if key is None:
        key_path, _ = _key_paths()
        raise ConfigError(f"no signing key in {key_path.parent}: run 'sekisho init' first")
    return key


def next_signing_key() -> SigningKey | None:
    """The key a rotation has staged (published, not yet signing), if any."""
    return _stored_key("next")


def idp_identity() -> md.IdpIdentity:
    """Who this IdP is, as published in its metadata (with the next certificate, if staged)."""
    config = get_config()
    staged = next_signing_key()
    return md.IdpIdentity(
        entity_id=config.url("/saml/metadata"),
        sso_redirect_url=config.url("/saml/sso"),
        sso_post_url=config.url("/saml/sso"),
        signing_certificate_pem=signing_key().certificate_pem,
        extra_signing_certificates=(staged.certificate_pem,) if staged is not None else (),
    )


def _write_pair(kind: str, key: SigningKey) -> None:
    """Write a key (owner-only) and its certificate, each by an atomic rename."""
    key_path, cert_path = _key_paths(kind)
    for path, text, mode in (
        (cert_path, key.certificate_pem, 0o644),
        (key_path, key.private_key_pem, 0o600),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        if mode == 0o600:
            write_private(tmp, text.encode())
        else:
            tmp.write_text(text)
            tmp.chmod(mode)
        tmp.replace(path)


def stage_signing_key(*, actor: Actor) -> tuple[SigningKey, bool]:
    """Step 1 of a rotation: make the next key and publish its certificate in the metadata.

    The current key keeps signing; service providers that refresh the metadata (for AWS,
    UpdateSAMLProvider) then trust both. Returns (the next key, whether it was made now).
    """
    staged = next_signing_key()
    if staged is not None:
        return staged, False
    config = get_config()
    key = generate_signing_key(common_name=config.host, now=_clock.now())
    _write_pair("next", key)
    admin_audit(
        actor, "StageSigningKey", {"certificateSha256": key.certificate_sha256}, _clock
    )
    return key, True


def switch_signing_key(*, actor: Actor) -> tuple[SigningKey, SigningKey]:
    """Step 2 of a rotation: the staged key signs from now on; returns (old, new).

    The old key is kept as the previous one (not published). Service providers should
    have the metadata with both certificates before this; refresh them again afterwards
    so they stop trusting the old key.

    Raises:
        SamlError: no key is staged (run step 1 first).
    """
    staged = next_signing_key()
    if staged is None:
        raise errors.SamlError(
            "no next signing key is staged: run 'sekisho keys rotate' first",
            code="no_staged_key",
        )
    old = signing_key()
    _write_pair("previous", old)
    _write_pair("current", staged)
    for path in _key_paths("next"):
        path.unlink(missing_ok=True)
    admin_audit(
        actor,
        "SwitchSigningKey",
        {"previousSha256": old.certificate_sha256, "certificateSha256": staged.certificate_sha256},
        _clock,
    )
    return old, staged


def metadata_xml() -> bytes:
    """The IdP's SAML metadata document."""
    return md.build_idp_metadata(idp_identity())


def require_initialized() -> None:
    """Raise a one-line error unless `sekisho init` has run (keys and database present)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    signing_key()
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise ConfigError("the database is not initialised or is out of date: run 'sekisho init'")


def ensure_signing_key() -> bool:
    """Create the IdP's signing key and certificate unless present; True when created."""
    config = get_config()
    ensure_data_dir(config)
    key_path, cert_path = _key_paths()
    if key_path.exists():
        return False
    key = generate_signing_key(common_name=config.host, now=_clock.now())
    try:
        write_private(key_path, key.private_key_pem.encode())
    except FileExistsError:
        return False  # another process won the race; its key stands
    # 0600 like every file in SEKISHO_DATA: the certificate is public through the metadata,
    # so nobody needs the file, and one rule without exceptions is one rule to check.
    tmp = cert_path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    write_private(tmp, key.certificate_pem.encode())
    tmp.replace(cert_path)
    return True


def init_instance(*, actor: Actor, quiet: bool = False) -> str:
    """Make the data directory owner-only; create schema, master and signing keys (idempotent)."""
    config = get_config()
    # Modes first: the database and keys below must never sit in a directory others can read.
    secure_data_dir(config)
    cached_master_key()
    call_command("migrate", interactive=False, verbosity=0)
    created = ensure_signing_key()
    from sekisho.mfa.models import MfaSettings

    MfaSettings.current()
    if created:
        admin_audit(actor, "InitIdentityProvider", {"entityId": idp_identity().entity_id}, _clock)
    return (
        f"Sekisho is initialised in {config.data_dir}\n"
        f"  entity ID: {idp_identity().entity_id}\n"
        f"  metadata:  {config.url('/saml/metadata')}"
    )


def persistent_key() -> bytes:
    """The secret persistent NameIDs are derived from (stable for the life of master.key)."""
    return SecretBox.from_master_key(cached_master_key()).derive("saml/persistent-nameid")


# ------------------------------------------------------------------ applications


def get_app(name: str) -> Application:
    """The application with this name, or an error naming it."""
    app = Application.objects.filter(name=name).first()
    if app is None:
        raise errors.SamlError(f"no application named {name!r}", code="unknown_application")
    return app


def _check_app_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name):
        raise errors.SamlError(
            f"application names are 1-63 lowercase letters, digits and '-', got {name!r}",
            code="invalid_application_name",
        )
    return name


def _mappings_json(items: tuple[mapping.AttributeMapping, ...]) -> list[dict[str, str]]:
    return [
        {"name": m.name, "value": m.value_expression, "name_format": m.name_format} for m in items
    ]


def _save_app(app: Application, actor: Actor) -> Application:
    try:
        with transaction.atomic():
            app.save()
    except IntegrityError:
        raise errors.SamlError(
            f"an application named {app.name!r} already exists", code="application_exists"
        ) from None
    admin_audit(
        actor,
        "CreateApplication",
        {"application": app.name, "kind": app.kind, "entityId": app.entity_id},
        _clock,
    )
    return app


def _from_definition(
    name: str, display_name: str | None, definition: presets.AppDefinition
) -> Application:
    return Application(
        name=_check_app_name(name),
        display_name=(display_name or definition.display_name or name)[:128],
        kind=definition.kind,
        entity_id=definition.entity_id,
        acs_endpoints=[
            {"url": url, "index": index, "default": index == 0}
            for index, url in enumerate(definition.acs_urls)
        ],
        relay_state=definition.relay_state,
        name_id_format=definition.name_id_format,
        name_id_expression=definition.name_id_expression,
        attribute_mappings=_mappings_json(definition.attribute_mappings),
        sign_response=definition.sign_response,
        preset=definition.parameters_dict(),
    )


def create_amazon_connect_app(
    *,
    name: str,
    display_name: str | None,
    region: str,
    instance_id: str,
    account_id: str,
    role_name: str,
    provider_name: str,
    destination: str | None,
    acs: str,
    session_duration: int | None,
    signin_url: str | None,
    console_url: str | None,
    actor: Actor,
) -> Application:
    """Add an Amazon Connect instance from the preset (ACS, audience, relay state, Role)."""
    definition = presets.amazon_connect(
        name=name,
        region=region,
        instance_id=instance_id,
        account_id=account_id,
        role_name=role_name,
        provider_name=provider_name,
        destination=destination,
        acs=acs,
        session_duration=session_duration,
        signin_url=signin_url,
        console_url=console_url,
    )
    return _save_app(_from_definition(name, display_name, definition), actor)


def reconfigure_amazon_connect_app(
    app: Application,
    *,
    account_id: str | None = None,
    instance_id: str | None = None,
    region: str | None = None,
    actor: Actor,
) -> list[str]:
    """Point an Amazon Connect app at another account, instance or region (its Role
    attribute, relay state and ACS follow); returns what changed, in words (empty: nothing).

    Raises:
        SamlError: the application is not an Amazon Connect one, or the values are invalid.
    """
    if app.kind != Application.KIND_AMAZON_CONNECT:
        raise errors.SamlError(
            f"{app.name!r} is not an Amazon Connect application", code="wrong_application_kind"
        )
    params = {str(k): str(v) for k, v in app.preset.items()}
    wanted = {"account_id": account_id, "instance_id": instance_id, "region": region}
    changes = [
        f"{key} {value} (was {params.get(key) or 'unset'})"
        for key, value in wanted.items()
        if value is not None and params.get(key) != value
    ]
    if not changes:
        return []
    params.update({key: value for key, value in wanted.items() if value is not None})
    duration = params.get("session_duration")
    definition = presets.amazon_connect(
        name=app.name,
        region=params["region"],
        instance_id=params["instance_id"],
        account_id=params["account_id"],
        role_name=params["role_name"],
        provider_name=params["provider_name"],
        destination=params.get("destination") or None,
        acs=params.get("acs") or "global",
        session_duration=int(duration) if duration else None,
        signin_url=params.get("signin_url") or None,
        console_url=params.get("console_url") or None,
        role_path=params.get("role_path") or "/",
    )
    updated = _from_definition(app.name, app.display_name, definition)
    app.acs_endpoints = updated.acs_endpoints
    app.relay_state = updated.relay_state
    app.attribute_mappings = updated.attribute_mappings
    app.preset = updated.preset
    app.save(update_fields=["acs_endpoints", "relay_state", "attribute_mappings", "preset"])
    admin_audit(actor, "UpdateApplication", {"application": app.name, "changes": changes}, _clock)
    return changes


def create_aws_console_app(
    *,
    name: str,
    display_name: str | None,
    account_id: str,
    role_name: str,
    provider_name: str,
    region: str | None,
    relay_state: str | None,
    session_duration: int | None,
    signin_url: str | None,
    actor: Actor,
) -> Application:
    """Add the AWS Management Console from the preset."""
    definition = presets.aws_console(
        name=name,
        account_id=account_id,
        role_name=role_name,
        provider_name=provider_name,
        region=region,
        relay_state=relay_state,
        session_duration=session_duration,
        signin_url=signin_url,
    )
    return _save_app(_from_definition(name, display_name, definition), actor)


def parse_attribute_option(text: str) -> mapping.AttributeMapping:
    """Parse `NAME=EXPRESSION[;FORMAT]` from the CLI into a validated mapping."""
    if "=" not in text:
        raise errors.SamlError(
            f"attribute mappings look like NAME=EXPRESSION[;FORMAT], got {text!r}",
            code="invalid_mapping",
        )
    name, _, rest = text.partition("=")
    expression, _, name_format = rest.rpartition(";") if ";" in rest else (rest, "", "")
    if not expression:
        expression, name_format = rest, ""
    name_format = name_format or "basic"
    if name_format not in ("basic", "uri", "unspecified"):
        raise errors.SamlError(
            f"attribute name format must be basic, uri or unspecified, got {name_format!r}",
            code="invalid_mapping",
        )
    mapping.validate(expression)
    return mapping.AttributeMapping(
        name=name.strip(), value_expression=expression, name_format=_name_format(name_format)
    )


def create_saml_app(
    *,
    name: str,
    display_name: str | None,
    metadata: bytes,
    entity_id: str | None,
    name_id_format: str,
    name_id: str | None,
    attributes: list[str],
    relay_state: str,
    sign_response: bool,
    require_signed_requests: bool,
    actor: Actor,
) -> Application:
    """Add any SAML 2.0 SP from its metadata; only its registered HTTP-POST ACS are used."""
    sp = md.parse_sp_metadata(metadata, entity_id=entity_id)
    endpoints = sp.post_acs()
    if not endpoints:
        raise errors.MetadataError(
            f"{sp.entity_id} lists no HTTP-POST AssertionConsumerService; Sekisho answers by POST"
        )
    if Application.objects.filter(kind=Application.KIND_SAML, entity_id=sp.entity_id).exists():
        raise errors.SamlError(
            f"an application for {sp.entity_id} already exists", code="application_exists"
        )
    fmt = NAME_ID_FORMATS[name_id_format]
    if name_id is None:
        # Persistent and transient values are generated (opaque); the others come from data.
        name_id = {md.NAMEID_EMAIL: "${user:email}", md.NAMEID_UNSPECIFIED: "${user:username}"}.get(
            fmt, ""
        )
    if name_id:
        mapping.validate(name_id)
    mappings = tuple(parse_attribute_option(a) for a in attributes)
    if require_signed_requests and not sp.signing_certificates:
        raise errors.MetadataError(
            "--require-signed-requests needs a signing certificate in the SP's metadata"
        )
    app = Application(
        name=_check_app_name(name),
        display_name=(display_name or name)[:128],
        kind=Application.KIND_SAML,
        entity_id=sp.entity_id,
        acs_endpoints=[
            {
                "url": e.location,
                "index": e.index if e.index is not None else i,
                "default": e.is_default,
            }
            for i, e in enumerate(endpoints)
        ],
        relay_state=relay_state,
        name_id_format=fmt,
        name_id_expression=name_id,
        attribute_mappings=_mappings_json(mappings),
        sign_response=sign_response,
        want_authn_requests_signed=require_signed_requests or sp.authn_requests_signed,
        sp_certificates=list(sp.signing_certificates),
        sp_metadata=metadata.decode("utf-8", "replace"),
        preset={},
    )
    return _save_app(app, actor)


def delete_app(app: Application, *, actor: Actor) -> None:
    """Delete an application, its assignments and the policy attachments naming it."""
    name = app.name
    with transaction.atomic():
        detached = detach_application(name)
        app.delete()
    admin_audit(
        actor, "DeleteApplication", {"application": name, "policiesDetached": detached}, _clock
    )


def set_require_mfa(app: Application, required: bool, *, actor: Actor) -> None:
    """Make launching the application need MFA in the session (step-up), or not."""
    app.require_mfa = required
    app.save(update_fields=["require_mfa"])
    admin_audit(
        actor, "UpdateApplication", {"application": app.name, "requireMfa": required}, _clock
    )


def describe_app(app: Application) -> dict[str, Any]:
    """Everything about an application, for `sekisho app show`."""
    assignments = Assignment.objects.filter(application=app).select_related("user", "group")
    return {
        "name": app.name,
        "display_name": app.display_name,
        "kind": app.kind,
        "entity_id": app.entity_id,
        "acs": app.acs_endpoints,
        "relay_state": app.relay_state,
        "name_id": {"format": app.name_id_format, "value": app.name_id_expression},
        "attributes": app.attribute_mappings,
        "sign_response": app.sign_response,
        "require_mfa": app.require_mfa,
        "require_signed_requests": app.want_authn_requests_signed,
        "preset": app.preset,
        "assigned_users": sorted(a.user.username for a in assignments if a.user),
        "assigned_groups": sorted(a.group.name for a in assignments if a.group),
    }


# ------------------------------------------------------------------ assertions


def user_attributes(user: User) -> mapping.UserAttributes:
    """The user's data as attribute mappings see it."""
    given, _, family = user.display_name.partition(" ")
    return mapping.UserAttributes(
        uid=str(user.uid),
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        given_name=given,
        family_name=family,
        groups=user.group_names(),
    )


def _name_format(value: object) -> mapping.NameFormat:
    if value == "uri":
        return "uri"
    if value == "unspecified":
        return "unspecified"
    return "basic"


def definition_of(app: Application) -> presets.AppDefinition:
    """The stored application as the pure core's AppDefinition (default ACS first)."""
    default = app.default_acs()
    urls = [str(e["url"]) for e in app.acs_endpoints]
    ordered = tuple([default, *[u for u in urls if u != default]]) if default else tuple(urls)
    return presets.AppDefinition(
        kind=app.kind,
        name=app.name,
        entity_id=app.entity_id,
        acs_urls=ordered,
        relay_state=app.relay_state,
        name_id_format=app.name_id_format,
        name_id_expression=app.name_id_expression,
        attribute_mappings=tuple(
            mapping.AttributeMapping(
                name=str(m["name"]),
                value_expression=str(m["value"]),
                name_format=_name_format(m.get("name_format", "basic")),
            )
            for m in app.attribute_mappings
        ),
        sign_response=app.sign_response,
        session_duration=app.preset.get("session_duration"),
        parameters=tuple((str(k), str(v)) for k, v in app.preset.items()),
        display_name=app.display_name,
    )


@dataclass(frozen=True)
class SsoContext:
    """How and when the person signed in, for the AuthnStatement."""

    mfa_used: bool
    authn_instant: datetime
    session_index: str


# How long the IdP session an assertion speaks for lasts (SessionNotOnOrAfter); AWS
# caps the console session at min(SessionDuration, SessionNotOnOrAfter).
IDP_SESSION_SECONDS = 12 * 3600


def build_assertion(
    *,
    app: Application,
    user: User,
    acs_url: str,
    in_response_to: str | None,
    sso: SsoContext,
    name_id_format: str | None = None,
) -> tuple[bytes, str]:
    """A signed Response for this user and app; returns (XML, NameID)."""
    spec = presets.assertion_spec_for(
        definition_of(app),
        user=user_attributes(user),
        issuer=idp_identity().entity_id,
        authn_instant=sso.authn_instant,
        session_index=sso.session_index,
        mfa_used=sso.mfa_used,
        acs_url=acs_url,
        in_response_to=in_response_to,
        session_not_on_or_after=sso.authn_instant + timedelta(seconds=IDP_SESSION_SECONDS),
        name_id_format=name_id_format,
        persistent_key=persistent_key(),
        new_id=_random.new_id,
    )
    xml = build_response(spec, key=signing_key(), now=_clock.now(), new_id=_random.new_id)
    return xml, spec.name_id


def preview(*, app: Application, user: User, mfa_used: bool) -> bytes:
    """Exactly what a launch would post now (IdP-initiated), for debugging mappings."""
    problem = assignable_problem(app, user)
    if problem:
        raise errors.SamlError(f"{user.username!r} cannot use {app.name!r}: {problem}")
    now = _clock.now()
    xml, _ = build_assertion(
        app=app,
        user=user,
        acs_url=app.default_acs(),
        in_response_to=None,
        sso=SsoContext(mfa_used=mfa_used, authn_instant=now, session_index=_random.new_id()),
    )
    return xml


def pretty(xml: bytes) -> str:
    """Indent a SAML message for people; re-indenting breaks its signature, so never post it."""
    root = parse_xml(xml, max_bytes=4 * 1024 * 1024)
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------ the launch decision


@dataclass(frozen=True)
class LaunchOutcome:
    """A launch decision: the POST to make on success, or the refusal code and reason."""

    allowed: bool
    app_name: str
    acs_url: str = ""
    saml_response: str = ""
    relay_state: str = ""
    refusal: str = ""
    reason: str = ""


def launch(
    *,
    app: Application,
    user: User,
    auth: Any,
    context: RequestContext,
    in_response_to: str | None,
    acs_url: str | None = None,
    relay_state: str | None = None,
    name_id_format: str | None = None,
) -> LaunchOutcome:
    """The app launch decision (IdP- or SP-initiated): refuse, or issue a signed Response.

    Refused when the user is disabled, the app is not assigned to them, or the app cannot
    represent them (e.g. a username that is no valid AWS RoleSessionName). Both outcomes
    write a `Federate` audit event; a refusal issues nothing.
    """
    import base64

    now = _clock.now()
    refusal, reason = "", ""
    if not user.is_active:
        refusal, reason = "app_not_assigned", "user is disabled"
    elif not is_assigned(app, user):
        refusal, reason = "app_not_assigned", f"{app.name} is not assigned to {user.username}"
    elif app.require_mfa and not auth.mfa:
        # The views step up before calling; this keeps the rule in the decision itself.
        refusal, reason = "mfa_required", f"{app.name} requires MFA and this session has none"
    else:
        problem = assignable_problem(app, user)
        if problem:
            refusal, reason = "app_cannot_launch", problem
    target = acs_url or app.default_acs()
    if not refusal and not target:
        refusal, reason = "app_cannot_launch", "the application has no ACS"
    if not refusal:
        # The IdP's own policies, evaluated before any assertion exists (audited there).
        facts = access.AccessFacts(
            source_ip=context.source_ip,
            now=now,
            secure_transport=context.secure_transport,
            mfa_present=bool(auth.mfa),
            mfa_method=access.mfa_method(getattr(auth, "methods", ())),
        )
        decision = access.authorize_launch(user, app.name, facts, context=context)
        if decision.decision != "Allow":
            return LaunchOutcome(
                allowed=False,
                app_name=app.display_name,
                refusal="launch_denied",
                reason=decision.explanation,
            )
    name_id = ""
    encoded = ""
    if not refusal:
        try:
            xml, name_id = build_assertion(
                app=app,
                user=user,
                acs_url=target,
                in_response_to=in_response_to,
                sso=SsoContext(
                    mfa_used=bool(auth.mfa),
                    authn_instant=datetime.fromtimestamp(auth.auth_time, tz=now.tzinfo),
                    session_index=auth.session_index,
                ),
                name_id_format=name_id_format,
            )
            encoded = base64.b64encode(xml).decode("ascii")
        except SekishoError as exc:
            refusal, reason = "app_cannot_launch", str(exc)
    common = {
        "user_uid": str(user.uid),
        "identity_store_arn": identity_store_arn(),
        "session_id": getattr(auth, "session_id", None),
        "source_ip": context.source_ip,
        "user_agent": context.user_agent,
        "now": now,
    }
    if refusal:
        emit(
            records.sso_refused(
                reason=refusal,
                message=reason,
                application_id=str(app.pk),
                application_name=app.name,
                in_response_to=in_response_to,
                **common,  # type: ignore[arg-type]
            )
        )
    else:
        emit(
            records.sso_issued(
                application_id=str(app.pk),
                application_name=app.name,
                name_id=name_id,
                acs_url=target,
                in_response_to=in_response_to,
                **common,  # type: ignore[arg-type]
            )
        )
    if refusal:
        return LaunchOutcome(
            allowed=False, app_name=app.display_name, refusal=refusal, reason=reason
        )
    return LaunchOutcome(
        allowed=True,
        app_name=app.display_name,
        acs_url=target,
        saml_response=encoded,
        relay_state=app.relay_state if relay_state is None else relay_state,
    )
