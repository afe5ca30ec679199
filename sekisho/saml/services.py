"""SAML glue: the IdP's identity and keys, applications, and the launch (SSO) decision."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from lxml import etree

from sekisho import rows
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
    cached_master_key,
    ensure_data_dir,
    secure_data_dir,
    write_private,
)
from sekisho.saml import errors
from sekisho.saml.assignments import assignable_problem, is_assigned
from sekisho.saml.assignments import role_session_name as role_session_name
from sekisho.saml.assignments import user_attributes as user_attributes
from sekisho.saml.core import attributes as mapping
from sekisho.saml.core import metadata as md
from sekisho.saml.core import presets
from sekisho.saml.core import xmlenc as enc
from sekisho.saml.core.keys import certificate_pem, generate_signing_key
from sekisho.saml.core.persistent import session_bound_id
from sekisho.saml.core.response import build_response
from sekisho.saml.core.urls import check_endpoint_url, is_loopback_host
from sekisho.saml.core.xml import parse_xml
from sekisho.saml.keyring import key_paths
from sekisho.saml.keyring import next_signing_key as next_signing_key
from sekisho.saml.keyring import signing_key as signing_key
from sekisho.saml.keyring import stage_signing_key as stage_signing_key
from sekisho.saml.keyring import switch_signing_key as switch_signing_key
from sekisho.saml.models import Application, Assignment, SpSession

NAME_ID_FORMATS = {
    "unspecified": md.NAMEID_UNSPECIFIED,
    "emailAddress": md.NAMEID_EMAIL,
    "persistent": md.NAMEID_PERSISTENT,
    "transient": md.NAMEID_TRANSIENT,
}
ENCRYPT_MODES = ("auto", "always", "never")
# Short names of the data encryption algorithms `app settings --encryption-algorithm` takes.
ENCRYPTION_ALGORITHMS = {
    "aes256-gcm": enc.AES256_GCM,
    "aes128-gcm": enc.AES128_GCM,
    "aes256-cbc": enc.AES256_CBC,
    "aes128-cbc": enc.AES128_CBC,
}
METADATA_FETCH_TIMEOUT = 10.0

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


def idp_identity() -> md.IdpIdentity:
    """Who this IdP is, as published in its metadata (with the next certificate, if staged)."""
    config = get_config()
    staged = next_signing_key()
    settings = config.metadata
    organization = settings.organization
    return md.IdpIdentity(
        entity_id=config.url("/saml/metadata"),
        sso_redirect_url=config.url("/saml/sso"),
        sso_post_url=config.url("/saml/sso"),
        signing_certificate_pem=signing_key().certificate_pem,
        extra_signing_certificates=(staged.certificate_pem,) if staged is not None else (),
        organization=(
            md.Organization(
                name=organization.name,
                display_name=organization.display_name,
                url=organization.url,
            )
            if organization is not None
            else None
        ),
        slo_redirect_url=config.url("/saml/slo"),
        slo_post_url=config.url("/saml/slo"),
        scopes=(config.scope,) if config.scope else (),
        contacts=tuple(
            md.ContactPerson(contact_type=c.contact_type, email=c.email, name=c.name)
            for c in settings.contacts
        ),
    )


def metadata_xml() -> bytes:
    """The IdP's SAML metadata document, signed and time-limited as configured."""
    settings = get_config().metadata
    now = _clock.now()
    return md.build_idp_metadata(
        idp_identity(),
        valid_until=(
            now + timedelta(days=settings.valid_days) if settings.valid_days is not None else None
        ),
        cache_duration=(
            timedelta(seconds=settings.cache_seconds) if settings.cache_seconds else None
        ),
        signing=(
            md.MetadataSigning(key=signing_key(), new_id=_random.new_id) if settings.sign else None
        ),
    )


def require_initialized() -> None:
    """Raise a one-line error unless `sekisho init` has run (keys and database present)."""
    from django.db.migrations.executor import MigrationExecutor

    signing_key()
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise ConfigError("the database is not initialised or is out of date: run 'sekisho init'")


def ensure_signing_key() -> bool:
    """Create the IdP's signing key and certificate unless present; True when created."""
    config = get_config()
    ensure_data_dir(config)
    key_path, cert_path = key_paths()
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


def find_app(name: str) -> Application | None:
    """The application with this name, or None.

    Asked on every launch: plain SQL (the ORM's compilation of this one cost more than
    three times its run, a sixth of a launch's CPU under py-spy), read as the ORM would.
    """
    return rows.first(Application, "name = %s", [name])


def get_app(name: str) -> Application:
    """The application with this name, or an error naming it."""
    app = find_app(name)
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
    logout_url: str | None = None,
) -> Application:
    """Add an Amazon Connect instance from the preset (ACS, audience, relay state, Role).

    ``logout_url`` is the instance's logout endpoint, requested by Sekisho's sign-out.
    """
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
        logout_url=logout_url,
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
        logout_url=params.get("logout_url") or None,
    )
    updated = _from_definition(app.name, app.display_name, definition)
    app.acs_endpoints = updated.acs_endpoints
    app.relay_state = updated.relay_state
    # Only the Role attribute names the account; every other mapping (an edited
    # RoleSessionName, attributes an administrator added) stays as it was.
    (role,) = [m for m in updated.attribute_mappings if m["name"] == presets.AWS_ROLE]
    current = list(app.attribute_mappings)
    names = [m.get("name") for m in current]
    if presets.AWS_ROLE in names:
        current[names.index(presets.AWS_ROLE)] = role
    else:
        current.insert(0, role)
    app.attribute_mappings = current
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


def fetch_metadata(url: str, *, signed: bool) -> bytes:
    """GET an SP's metadata document (at most 1 MiB, 10 s, no redirects).

    https, or http when the host is loopback or the document must carry a signature
    (``signed``: the signature, not the transport, then vouches for it).

    Raises:
        MetadataError: a URL Sekisho will not fetch, or the fetch failed.
    """
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        if parts.scheme == "http" and signed and not is_loopback_host(parts.hostname or ""):
            check_endpoint_url("https" + url[4:], what="--metadata-url")
        else:
            check_endpoint_url(url, what="--metadata-url")
    except errors.EndpointRejected as exc:
        raise errors.MetadataError(exc.message) from None

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            """Follow no redirect: the HTTPError names where it pointed."""
            return None

    handlers: list[Any] = [_NoRedirect()]
    if is_loopback_host(parts.hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # never send loopback to a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"}
    )
    try:
        with opener.open(request, timeout=METADATA_FETCH_TIMEOUT) as response:
            body: bytes = response.read(md.DEFAULT_METADATA_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        where = exc.headers.get("Location") if 300 <= exc.code < 400 else None
        hint = f" (redirected to {where!r}; give that URL)" if where else ""
        raise errors.MetadataError(f"fetching {url!r} failed: HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise errors.MetadataError(f"fetching {url!r} failed: {reason}") from None
    if len(body) > md.DEFAULT_METADATA_MAX_BYTES:
        raise errors.MetadataError(
            f"metadata at {url!r} is larger than {md.DEFAULT_METADATA_MAX_BYTES} bytes"
        )
    return body


def read_certificate(text: str, *, what: str) -> str:
    """A PEM certificate given by an administrator, normalised, or a one-line error."""
    try:
        return certificate_pem(text)
    except ValueError as exc:
        raise errors.MetadataError(f"{what}: {exc}") from None


def _sp_metadata_of(xml: bytes, *, entity_id: str | None, certificate: str) -> md.SpMetadata:
    sp = md.parse_sp_metadata(
        xml, entity_id=entity_id, trusted_certificates=(certificate,) if certificate else ()
    )
    md.check_metadata_current(sp, now=_clock.now())
    if not sp.post_acs():
        raise errors.MetadataError(
            f"{sp.entity_id} lists no HTTP-POST AssertionConsumerService; Sekisho answers by POST"
        )
    return sp


def _apply_metadata(app: Application, sp: md.SpMetadata, xml: bytes) -> None:
    """Copy what Sekisho uses from SP metadata onto the application (create and refresh)."""
    app.entity_id = sp.entity_id
    app.acs_endpoints = [
        {"url": e.location, "index": e.index if e.index is not None else i, "default": e.is_default}
        for i, e in enumerate(sp.post_acs())
    ]
    app.sp_certificates = list(sp.signing_certificates)
    app.sp_encryption_certificates = list(sp.encryption_certificates)
    app.encryption_methods = list(sp.encryption_methods)
    app.slo_endpoints = [
        {"binding": e.binding, "url": e.location, "response_url": e.response_location or ""}
        for e in sp.front_channel_slo()
    ]
    # Signed requests stay required once required (a refresh never relaxes it).
    app.want_authn_requests_signed = app.want_authn_requests_signed or sp.authn_requests_signed
    app.metadata_valid_until = sp.valid_until
    app.sp_metadata = xml.decode("utf-8", "replace")


def encryption_target(app: Application) -> enc.EncryptionTarget | None:
    """Whom and how to encrypt this application's assertions for, or None for plaintext.

    Raises:
        EncryptionUnavailable: encryption is required and impossible (no key, only
            algorithms Sekisho lacks, a weak or non-RSA key).
    """
    mode = app.encrypt_assertions or "auto"
    if mode == "never" or (mode == "auto" and not app.sp_encryption_certificates):
        return None
    if not app.sp_encryption_certificates:
        raise errors.EncryptionUnavailable(
            f"{app.name} must get encrypted assertions, and its metadata has no encryption key"
        )
    certificate = str(app.sp_encryption_certificates[0])
    data, transport = enc.choose_algorithms(
        [str(m) for m in app.encryption_methods], override=app.encryption_algorithm or None
    )
    enc.check_encryption_certificate(certificate)
    return enc.EncryptionTarget(
        certificate_pem=certificate,
        data_algorithm=data,
        key_transport=transport,
        recipient=app.entity_id,
    )


# Opaque formats reveal nothing about the person (saml-core §8.3.7-§8.3.8): an SP may
# always ask for them. The e-mail address only goes to an SP that declares that format
# or whose administrator chose it.
OPAQUE_NAME_ID_FORMATS = (md.NAMEID_PERSISTENT, md.NAMEID_TRANSIENT)


def allowed_name_id_formats(app: Application) -> list[str]:
    """The NameIDPolicy formats an AuthnRequest may ask this application for."""
    stored = [str(f) for f in app.name_id_formats]
    return list(dict.fromkeys([app.name_id_format, *stored, *OPAQUE_NAME_ID_FORMATS]))


def _name_id_choice(sp: md.SpMetadata, override: str | None) -> tuple[str, list[str]]:
    """(default format, allowed formats): the override, else the SP's first declared one."""
    declared = [f for f in sp.name_id_formats if f in md.IDP_NAMEID_FORMATS]
    if override is not None:
        if override not in NAME_ID_FORMATS:
            raise errors.SamlError(
                f"--name-id-format must be one of {', '.join(NAME_ID_FORMATS)}, got {override!r}",
                code="invalid_name_id_format",
            )
        fmt = NAME_ID_FORMATS[override]
    else:
        # No (usable) declaration: unspecified, the IdP's choice (the username).
        fmt = declared[0] if declared else md.NAMEID_UNSPECIFIED
    return fmt, list(dict.fromkeys([fmt, *declared, *OPAQUE_NAME_ID_FORMATS]))


def create_saml_app(
    *,
    name: str,
    display_name: str | None,
    metadata: bytes | None,
    entity_id: str | None,
    name_id_format: str | None,
    name_id: str | None,
    attributes: list[str],
    relay_state: str,
    sign_response: bool,
    require_signed_requests: bool,
    actor: Actor,
    metadata_url: str | None = None,
    metadata_certificate: str | None = None,
    encrypt_assertions: str = "auto",
) -> Application:
    """Add any SAML 2.0 SP from its metadata (a document or a URL); only its HTTP-POST ACS are used.

    The NameID format is ``name_id_format`` when given, else the first format the SP's
    metadata declares that Sekisho issues (unspecified when none); AuthnRequests may also
    ask for the other declared ones and the opaque persistent and transient. A
    ``metadata_certificate`` (PEM) makes the metadata's signature mandatory.
    """
    if (metadata is None) == (metadata_url is None):
        raise errors.MetadataError("give the SP's metadata as a file or as a URL, not both")
    if encrypt_assertions not in ENCRYPT_MODES:
        raise errors.SamlError(
            f"encryption must be one of {', '.join(ENCRYPT_MODES)}, got {encrypt_assertions!r}"
        )
    certificate = (
        read_certificate(metadata_certificate, what="--metadata-cert")
        if metadata_certificate
        else ""
    )
    if metadata_url is not None:
        metadata = fetch_metadata(metadata_url, signed=bool(certificate))
    assert metadata is not None
    sp = _sp_metadata_of(metadata, entity_id=entity_id, certificate=certificate)
    if Application.objects.filter(kind=Application.KIND_SAML, entity_id=sp.entity_id).exists():
        raise errors.SamlError(
            f"an application for {sp.entity_id} already exists", code="application_exists"
        )
    fmt, allowed = _name_id_choice(sp, name_id_format)
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
        relay_state=relay_state,
        name_id_format=fmt,
        name_id_formats=allowed,
        name_id_expression=name_id,
        attribute_mappings=_mappings_json(mappings),
        sign_response=sign_response,
        want_authn_requests_signed=require_signed_requests,
        encrypt_assertions=encrypt_assertions,
        metadata_url=metadata_url or "",
        metadata_certificate=certificate,
        metadata_refreshed_at=_clock.now() if metadata_url else None,
        preset={},
    )
    _apply_metadata(app, sp, metadata)
    encryption_target(app)  # refuse now what could never be encrypted at sign-in
    return _save_app(app, actor)


def refresh_app_metadata(app: Application, *, actor: Actor) -> md.SpMetadata:
    """Fetch the app's metadata URL again; on any failure keep the metadata it has.

    A refresh that fails (unreachable, bad signature, expired validUntil, another
    entityID) changes nothing but the recorded error, and is audited as a failure.

    Raises:
        SamlError: the app has no metadata URL, or the refresh failed (with why).
    """
    if not app.metadata_url:
        raise errors.MetadataError(
            f"{app.name} was created from a file; re-create it with --metadata-url to refresh"
        )
    try:
        xml = fetch_metadata(app.metadata_url, signed=bool(app.metadata_certificate))
        sp = _sp_metadata_of(xml, entity_id=app.entity_id, certificate=app.metadata_certificate)
        candidate = Application.objects.get(pk=app.pk)
        _apply_metadata(candidate, sp, xml)
        encryption_target(candidate)
    except SekishoError as exc:
        Application.objects.filter(pk=app.pk).update(metadata_refresh_error=exc.message[:1024])
        emit(
            records.admin_change(
                event_name="UpdateApplication",
                actor=actor.name,
                parameters={"application": app.name, "refreshMetadata": app.metadata_url},
                error_code="MetadataRefreshFailed",
                error_message=exc.message[:500],
                source_ip=actor.context.source_ip,
                user_agent=actor.context.user_agent,
                now=_clock.now(),
            )
        )
        raise
    candidate.metadata_refreshed_at = _clock.now()
    candidate.metadata_refresh_error = ""
    candidate.save()
    app.refresh_from_db()
    admin_audit(
        actor,
        "UpdateApplication",
        {"application": app.name, "refreshMetadata": app.metadata_url},
        _clock,
    )
    return sp


def update_app_settings(
    app: Application,
    *,
    actor: Actor,
    name_id_format: str | None = None,
    name_id_formats: list[str] | None = None,
    name_id: str | None = None,
    encrypt_assertions: str | None = None,
    encryption_algorithm: str | None = None,
) -> Application:
    """Change an application's NameID and encryption settings; only the given ones change."""
    changes: dict[str, object] = {}
    if name_id_format is not None:
        if name_id_format not in NAME_ID_FORMATS:
            raise errors.SamlError(
                f"--name-id-format must be one of {', '.join(NAME_ID_FORMATS)}, "
                f"got {name_id_format!r}"
            )
        app.name_id_format = NAME_ID_FORMATS[name_id_format]
        changes["nameIdFormat"] = app.name_id_format
        if name_id is None:
            app.name_id_expression = {
                md.NAMEID_EMAIL: "${user:email}",
                md.NAMEID_UNSPECIFIED: "${user:username}",
            }.get(app.name_id_format, "")
    if name_id_formats is not None:
        unknown = [f for f in name_id_formats if f not in NAME_ID_FORMATS]
        if unknown or not name_id_formats:
            raise errors.SamlError(
                f"--allow-name-id-formats takes a comma-separated list of "
                f"{', '.join(NAME_ID_FORMATS)}, got {','.join(name_id_formats)!r}"
            )
        app.name_id_formats = [NAME_ID_FORMATS[f] for f in name_id_formats]
        changes["allowedNameIdFormats"] = list(app.name_id_formats)
    if app.name_id_format not in app.name_id_formats:
        app.name_id_formats = [app.name_id_format, *app.name_id_formats]
    if name_id is not None:
        if name_id:
            mapping.validate(name_id)
        app.name_id_expression = name_id
        changes["nameId"] = name_id
    if encrypt_assertions is not None:
        if encrypt_assertions not in ENCRYPT_MODES:
            raise errors.SamlError(
                f"--encrypt must be one of {', '.join(ENCRYPT_MODES)}, got {encrypt_assertions!r}"
            )
        app.encrypt_assertions = encrypt_assertions
        changes["encryptAssertions"] = encrypt_assertions
    if encryption_algorithm is not None:
        if encryption_algorithm not in ("", "auto", *ENCRYPTION_ALGORITHMS):
            raise errors.SamlError(
                f"--encryption-algorithm must be auto or one of "
                f"{', '.join(ENCRYPTION_ALGORITHMS)}, got {encryption_algorithm!r}"
            )
        app.encryption_algorithm = ENCRYPTION_ALGORITHMS.get(encryption_algorithm, "")
        changes["encryptionAlgorithm"] = encryption_algorithm or "auto"
    if not app.name_id_expression and app.name_id_format not in (
        md.NAMEID_PERSISTENT,
        md.NAMEID_TRANSIENT,
    ):
        raise errors.SamlError("an emailAddress or unspecified NameID needs a --name-id expression")
    encryption_target(app)
    app.save()
    admin_audit(actor, "UpdateApplication", {"application": app.name, **changes}, _clock)
    return app


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


def encryption_algorithm_name(app: Application) -> str:
    """The app's data encryption algorithm by the short name settings take, or auto."""
    chosen = app.encryption_algorithm
    return next((k for k, v in ENCRYPTION_ALGORITHMS.items() if v == chosen), "auto")


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
        "name_id": {
            "format": app.name_id_format,
            "value": app.name_id_expression,
            "allowed_formats": allowed_name_id_formats(app),
        },
        "attributes": app.attribute_mappings,
        "sign_response": app.sign_response,
        "require_mfa": app.require_mfa,
        "require_signed_requests": app.want_authn_requests_signed,
        "encryption": {
            "mode": app.encrypt_assertions,
            # The short name `app settings` (and the API's PATCH) takes, so a value read
            # can be written back; the XML Encryption URI beside it (None for auto).
            "algorithm": encryption_algorithm_name(app),
            "algorithm_uri": app.encryption_algorithm or None,
            "sp_key": bool(app.sp_encryption_certificates),
            "sp_methods": app.encryption_methods,
        },
        "single_logout": app.slo_endpoints,
        "metadata": {
            "url": app.metadata_url,
            "signature_required": bool(app.metadata_certificate),
            "valid_until": app.metadata_valid_until,
            "refreshed_at": app.metadata_refreshed_at,
            "refresh_error": app.metadata_refresh_error,
        },
        "preset": app.preset,
        "assigned_users": sorted(a.user.username for a in assignments if a.user),
        "assigned_groups": sorted(a.group.name for a in assignments if a.group),
    }


# ------------------------------------------------------------------ assertions


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


@dataclass(frozen=True)
class IssuedResponse:
    """A built Response and the subject exactly as it names it (kept for single logout)."""

    xml: bytes
    name_id: str
    name_id_format: str
    sp_name_qualifier: str


def build_assertion(
    *,
    app: Application,
    user: User,
    acs_url: str,
    in_response_to: str | None,
    sso: SsoContext,
    name_id_format: str | None = None,
    authn_context_class: str | None = None,
    transient_name_id: str | None = None,
) -> IssuedResponse:
    """A signed (and, for SPs that want it, encrypted) Response and the NameID it names.

    ``transient_name_id`` is the transient NameID for this session at this SP (derived by
    the caller), so its later LogoutRequest names the subject as it knows it.
    """
    new_id = (lambda: transient_name_id) if transient_name_id else _random.new_id
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
        new_id=new_id,
        authn_context_class=authn_context_class,
    )
    spec = replace(spec, encrypt_for=encryption_target(app))
    xml = build_response(
        spec,
        key=signing_key(),
        now=_clock.now(),
        new_id=_random.new_id,
        random_bytes=_random.token_bytes,
    )
    return IssuedResponse(
        xml=xml,
        name_id=spec.name_id,
        name_id_format=spec.name_id_format,
        sp_name_qualifier=spec.sp_name_qualifier or "",
    )


def preview(*, app: Application, user: User, mfa_used: bool) -> bytes:
    """Exactly what a launch would post now (IdP-initiated), for debugging mappings.

    An application that gets encrypted assertions is previewed in plaintext (the point
    is to read it); a launch sends it encrypted.
    """
    problem = assignable_problem(app, user)
    if problem:
        raise errors.SamlError(f"{user.username!r} cannot use {app.name!r}: {problem}")
    now = _clock.now()
    plain = Application.objects.get(pk=app.pk) if app.pk else app
    plain.encrypt_assertions = "never"
    return build_assertion(
        app=plain,
        user=user,
        acs_url=app.default_acs(),
        in_response_to=None,
        sso=SsoContext(mfa_used=mfa_used, authn_instant=now, session_index=_random.new_id()),
    ).xml


def pretty(xml: bytes) -> str:
    """Indent a SAML message for people; re-indenting breaks its signature, so never post it."""
    root = parse_xml(xml, max_bytes=4 * 1024 * 1024)
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------ the launch decision


@dataclass(frozen=True)
class LaunchOutcome:
    """A launch decision: the POST to make on success, or the refusal code and reason.

    ``form_origin`` is the checked origin of ``acs_url`` (``urls.CheckedUrl.origin``):
    the only place the auto-POST page's Content-Security-Policy lets its form go.
    """

    allowed: bool
    app_name: str
    acs_url: str = ""
    saml_response: str = ""
    relay_state: str = ""
    refusal: str = ""
    reason: str = ""
    form_origin: str = ""
    field: str = "SAMLResponse"
    signing_out: bool = False


def metadata_expired(app: Application, now: datetime) -> str:
    """Why the app's SP metadata may no longer be used, or "" while it is valid.

    saml-metadata §2.1 (validUntil): expired metadata vouches for nothing any more,
    neither its endpoints nor its keys; a refresh that failed kept it, not renewed it.
    Launches, single logout messages from the SP and those sent to it all ask this.
    """
    if app.metadata_valid_until is None or app.metadata_valid_until > now:
        return ""
    remedy = (
        f"refresh it (sekisho app refresh {app.name})"
        if app.metadata_url
        else "re-create the application from current metadata"
    )
    return (
        f"the SP metadata of {app.name} expired at {app.metadata_valid_until.isoformat()}; {remedy}"
    )


def post_outcome(
    *,
    app_name: str,
    url: str,
    field: str,
    message: bytes,
    relay_state: str,
    signing_out: bool = False,
) -> LaunchOutcome:
    """An auto-POST of a SAML message to an SP endpoint (saml-bindings §3.5.4).

    Raises:
        EndpointRejected: ``url`` is not a URL Sekisho sends browsers to.
    """
    import base64

    checked = check_endpoint_url(url, what="endpoint")
    return LaunchOutcome(
        allowed=True,
        app_name=app_name,
        acs_url=checked.url,
        saml_response=base64.b64encode(message).decode("ascii"),
        relay_state=relay_state,
        form_origin=checked.origin,
        field=field,
        signing_out=signing_out,
    )


def session_key_material() -> bytes:
    """The secret SessionIndex values and transient NameIDs are derived from."""
    return SecretBox.from_master_key(cached_master_key()).derive("saml/session-bound-ids")


def _record_sp_session(
    *,
    app: Application,
    user: User,
    session_id: str,
    session_key: str,
    issued: IssuedResponse,
    session_index: str,
) -> None:
    """Remember what this SP was told in this portal session, for single logout (one query).

    An upsert on (application, portal session): a later launch in the same session
    overwrites it with the same SessionIndex (derived, not stored first), so no read
    is needed on the launch path.
    """
    # Plain SQL: the ORM's compilation of this upsert cost three times its run (py-spy of
    # a served launch). Both SQLite (3.24+) and PostgreSQL take ON CONFLICT ... DO UPDATE.
    table = SpSession._meta.db_table
    created = connection.ops.adapt_datetimefield_value(_clock.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (application_id, user_id, portal_session_id, session_key,"  # noqa: S608 - the model's table; values are parameters
            " session_index, name_id, name_id_format, sp_name_qualifier, created_at, ended_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL)"
            " ON CONFLICT (application_id, portal_session_id) DO UPDATE SET"
            " user_id = excluded.user_id, session_key = excluded.session_key,"
            " session_index = excluded.session_index, name_id = excluded.name_id,"
            " name_id_format = excluded.name_id_format,"
            " sp_name_qualifier = excluded.sp_name_qualifier, ended_at = NULL",
            [
                app.pk,
                user.pk,
                session_id,
                session_key,
                session_index,
                issued.name_id,
                issued.name_id_format,
                issued.sp_name_qualifier,
                created,
            ],
        )


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
    authn_context_class: str | None = None,
    session_key: str = "",
) -> LaunchOutcome:
    """The app launch decision (IdP- or SP-initiated): refuse, or issue a signed Response.

    Refused when the user is disabled, the app is not assigned to them, the app cannot
    represent them (e.g. a username that is no valid AWS RoleSessionName), or its ACS is
    not a URL Sekisho sends browsers to. Both outcomes write a `Federate` audit event
    (the success one only once the Response exists, naming the ACS it goes to); a
    refusal issues nothing. ``authn_context_class`` is the class chosen for an
    AuthnRequest's RequestedAuthnContext (``authnrequest.choose_authn_context``);
    ``session_key`` (the Django session) lets single logout end this session later.
    """
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
    checked_origin = ""
    if not refusal:
        expired = metadata_expired(app, now)
        if expired:
            refusal, reason = "app_cannot_launch", expired
    if not refusal and not target:
        refusal, reason = "app_cannot_launch", "the application has no ACS"
    elif not refusal:
        try:
            checked_origin = check_endpoint_url(target, what=f"{app.name} ACS").origin
        except errors.EndpointRejected as exc:
            # Stored before ACS URLs were checked: refused, never rendered into a page.
            refusal, reason = "app_cannot_launch", exc.message
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
        import base64

        session_id = str(getattr(auth, "session_id", "") or "")
        material = session_key_material()

        def bound(purpose: str) -> str:
            # Derived, so the same all through this sign-in at this SP, with no read first.
            if not session_id:
                return _random.new_id()
            return session_bound_id(
                key=material, purpose=purpose, session_id=session_id, sp_entity_id=app.entity_id
            )

        session_index = bound("session-index")
        try:
            issued = build_assertion(
                app=app,
                user=user,
                acs_url=target,
                in_response_to=in_response_to,
                sso=SsoContext(
                    mfa_used=bool(auth.mfa),
                    authn_instant=datetime.fromtimestamp(auth.auth_time, tz=now.tzinfo),
                    session_index=session_index,
                ),
                name_id_format=name_id_format,
                authn_context_class=authn_context_class,
                transient_name_id=bound("transient"),
            )
            if session_id:
                _record_sp_session(
                    app=app,
                    user=user,
                    session_id=session_id,
                    session_key=session_key,
                    issued=issued,
                    session_index=session_index,
                )
            name_id = issued.name_id
            encoded = base64.b64encode(issued.xml).decode("ascii")
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
        return LaunchOutcome(
            allowed=False, app_name=app.display_name, refusal=refusal, reason=reason
        )
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
    return LaunchOutcome(
        allowed=True,
        app_name=app.display_name,
        acs_url=target,
        saml_response=encoded,
        relay_state=app.relay_state if relay_state is None else relay_state,
        form_origin=checked_origin,
    )
