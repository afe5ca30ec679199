"""SAML glue: the IdP's identity and keys, applications, and the launch (SSO) decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

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
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
    cached_master_key,
    ensure_data_dir,
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
from sekisho.saml.keyring import next_signing_key
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


def _key_paths() -> tuple[Path, Path]:
    data = get_config().data_dir
    return data / SIGNING_KEY_FILE, data / SIGNING_CERT_FILE


@lru_cache(maxsize=4)
def _load_signing_key(key_path: str, cert_path: str, mtime: float) -> SigningKey:
    try:
        key_pem = Path(key_path).read_text()
        cert_pem = Path(cert_path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key: {exc.strerror}: {exc.filename}") from None
    return SigningKey(private_key_pem=key_pem, certificate_pem=cert_pem)


def signing_key() -> SigningKey:
    """The IdP's signing key and certificate from SEKISHO_DATA (reloaded when they change)."""
    key_path, cert_path = _key_paths()
    if not key_path.exists() or not cert_path.exists():
        raise ConfigError(f"no signing key in {key_path.parent}: run 'sekisho init' first")
    return _load_signing_key(str(key_path), str(cert_path), key_path.stat().st_mtime)


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
    tmp = cert_path.with_suffix(".tmp")
    tmp.write_text(key.certificate_pem)
    tmp.chmod(0o644)
    tmp.replace(cert_path)
    return True


def init_instance(*, actor: Actor, quiet: bool = False) -> str:
    """Create the data directory, database schema, master and signing keys (idempotent)."""
    config = get_config()
    ensure_data_dir(config)
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


MAX_ATTRIBUTE_MAPPINGS = 50
NAME_ID_EXPRESSION_MAX = 256
RELAY_STATE_MAX = 2048
DISPLAY_NAME_MAX = 128


def _display_name(value: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > DISPLAY_NAME_MAX or not text.isprintable():
        raise errors.SamlError(
            f"a display name is 1-{DISPLAY_NAME_MAX} printable characters, got {value[:140]!r}",
            code="invalid_display_name",
        )
    return text


def _relay_state(value: str) -> str:
    if len(value) > RELAY_STATE_MAX or not value.isprintable():
        raise errors.SamlError(
            f"a relay state is at most {RELAY_STATE_MAX} printable characters",
            code="invalid_relay_state",
        )
    return value


def update_app(
    app: Application,
    *,
    display_name: str | None = None,
    relay_state: str | None = None,
    name_id_expression: str | None = None,
    attribute_mappings: list[mapping.AttributeMapping] | None = None,
    sign_response: bool | None = None,
    require_mfa: bool | None = None,
    actor: Actor,
) -> list[str]:
    """Change an application's editable settings (only those given); returns what changed.

    Raises:
        SamlError: a value is invalid (the mapping errors name the attribute).
    """
    changed: dict[str, object] = {}
    if display_name is not None and (value := _display_name(display_name)) != app.display_name:
        app.display_name = value
        changed["displayName"] = value
    if relay_state is not None and (value := _relay_state(relay_state)) != app.relay_state:
        app.relay_state = value
        changed["relayState"] = value
    if name_id_expression is not None and name_id_expression != app.name_id_expression:
        if len(name_id_expression) > NAME_ID_EXPRESSION_MAX:
            raise errors.MappingError(
                f"the NameID mapping is at most {NAME_ID_EXPRESSION_MAX} characters"
            )
        if name_id_expression:
            mapping.validate(name_id_expression)
        elif app.name_id_format not in (md.NAMEID_PERSISTENT, md.NAMEID_TRANSIENT):
            raise errors.MappingError("the NameID mapping must not be empty for this format")
        app.name_id_expression = name_id_expression
        changed["nameId"] = name_id_expression
    if attribute_mappings is not None:
        if len(attribute_mappings) > MAX_ATTRIBUTE_MAPPINGS:
            raise errors.MappingError(
                f"at most {MAX_ATTRIBUTE_MAPPINGS} attribute mappings, "
                f"got {len(attribute_mappings)}"
            )
        names = [m.name for m in attribute_mappings]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise errors.MappingError(f"attribute {duplicates[0]!r} is mapped more than once")
        as_json = _mappings_json(tuple(attribute_mappings))
        if as_json != app.attribute_mappings:
            app.attribute_mappings = as_json
            changed["attributes"] = [m["name"] for m in as_json]
    for field, flag, key in (
        ("sign_response", sign_response, "signResponse"),
        ("require_mfa", require_mfa, "requireMfa"),
    ):
        if flag is not None and getattr(app, field) != flag:
            setattr(app, field, flag)
            changed[key] = flag
    if changed:
        app.save()
        admin_audit(actor, "UpdateApplication", {"application": app.name, **changed}, _clock)
    return sorted(changed)


METADATA_FETCH_TIMEOUT = 10.0


def fetch_metadata(url: str, *, timeout: float = METADATA_FETCH_TIMEOUT) -> bytes:
    """An SP's metadata document from its URL (http or https, at most 1 MiB, no redirects).

    Raises:
        MetadataError: the URL is not http(s), or the document could not be fetched.
    """
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable():
        raise errors.MetadataError(f"expected an http:// or https:// metadata URL, got {url!r}")

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(url, timeout=timeout) as response:
            data: bytes = response.read(md.DEFAULT_METADATA_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise errors.MetadataError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise errors.MetadataError(f"cannot fetch {url}: {reason}") from None
    if len(data) > md.DEFAULT_METADATA_MAX_BYTES:
        raise errors.MetadataError(f"{url} is larger than 1 MiB")
    return data


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
