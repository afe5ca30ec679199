"""Applications for administrators: attribute-mapping edits, metadata by URL, previews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from sekisho.admin.errors import InvalidInput, NotFound
from sekisho.admin.users import get_user
from sekisho.audit.writer import Actor
from sekisho.saml import errors as saml_errors
from sekisho.saml import services as saml
from sekisho.saml.core import attributes as mapping
from sekisho.saml.models import Application

NAME_FORMATS = ("basic", "uri", "unspecified")


def get_app(name: str) -> Application:
    """The application with this name, or NotFound."""
    app = saml.find_app(name)
    if app is None:
        raise NotFound(f"no application named {name[:70]!r}")
    return app


def parse_mappings(rows: Sequence[tuple[str, str, str]]) -> list[mapping.AttributeMapping]:
    """(name, expression, format) rows as validated mappings; blank rows are skipped.

    Raises InvalidInput naming the row (``attributes[2].value``) of the first bad one.
    """
    found = []
    for index, (name, expression, name_format) in enumerate(rows):
        if not name.strip() and not expression.strip():
            continue
        where = f"attributes[{index}]"
        if not name.strip():
            raise InvalidInput(f"{where}: the attribute needs a name", field=f"{where}.name")
        if len(name) > 256:
            raise InvalidInput(f"{where}: a name is at most 256 characters", field=f"{where}.name")
        if name_format not in NAME_FORMATS:
            raise InvalidInput(
                f"{where}: the format is basic, uri or unspecified, got {name_format[:20]!r}",
                field=f"{where}.name_format",
            )
        if len(expression) > mapping.MAX_EXPRESSION_LENGTH:
            raise InvalidInput(
                f"{where}: a value is at most {mapping.MAX_EXPRESSION_LENGTH} characters",
                field=f"{where}.value",
            )
        try:
            found.append(
                mapping.AttributeMapping(
                    name=name.strip(),
                    value_expression=expression,
                    name_format=name_format,  # type: ignore[arg-type]
                )
            )
        except saml_errors.MappingError as exc:
            field = "name" if "attribute name" in str(exc) else "value"
            raise InvalidInput(
                f"{where} ({name.strip()[:60]}): {exc}", field=f"{where}.{field}"
            ) from None
    return found


def update(
    app: Application,
    *,
    display_name: str | None = None,
    relay_state: str | None = None,
    name_id: str | None = None,
    attributes: Sequence[tuple[str, str, str]] | None = None,
    sign_response: bool | None = None,
    require_mfa: bool | None = None,
    actor: Actor,
) -> list[str]:
    """Change an application's settings (only those given); returns what changed."""
    parsed = parse_mappings(attributes) if attributes is not None else None
    return saml.update_app(
        app,
        display_name=display_name,
        relay_state=relay_state,
        name_id_expression=name_id,
        attribute_mappings=parsed,
        sign_response=sign_response,
        require_mfa=require_mfa,
        actor=actor,
    )


def preview(app: Application, username: str, *, mfa: bool = True) -> str:
    """The assertion a launch would post now for this user, decoded and indented.

    Indenting breaks the signature on purpose: what an administrator reads cannot be
    replayed at the service provider.
    """
    user = get_user(username)
    try:
        return saml.pretty(saml.preview(app=app, user=user, mfa_used=mfa))
    except saml_errors.SamlError as exc:
        raise InvalidInput(str(exc), field="user") from None


class MetadataSource(TypedDict):
    """Where an SP's metadata comes from, as ``saml.services.create_saml_app`` takes it."""

    metadata: bytes | None
    metadata_url: str | None
    metadata_certificate: str | None


def metadata_source(
    *, document: bytes | None, url: str | None, certificate: str | None = None
) -> MetadataSource:
    """An SP's metadata as an uploaded document or a URL (exactly one), as create_saml_app takes it.

    A URL is fetched by the application service itself (its endpoint rules, size and time
    limits), which also records it so that ``app refresh`` can fetch it again. A
    ``certificate`` (PEM) makes the metadata's signature mandatory, now and at every refresh.
    """
    if bool(document) == bool(url):
        raise InvalidInput(
            "give the SP's metadata as a file or as a URL (one of them)", field="metadata"
        )
    return MetadataSource(
        metadata=document or None,
        metadata_url=url or None,
        metadata_certificate=(certificate or "").strip() or None,
    )


NAME_ID_FORMATS = tuple(saml.NAME_ID_FORMATS)
ENCRYPT_MODES = saml.ENCRYPT_MODES
ENCRYPTION_ALGORITHMS = ("auto", *saml.ENCRYPTION_ALGORITHMS)


def _one_of(value: str | None, choices: Sequence[str], field: str) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(
            f"{field} must be one of {', '.join(choices)}, got {value[:40]!r}", field=field
        )


def update_saml_settings(
    app: Application,
    *,
    name_id_format: str | None = None,
    allowed_name_id_formats: Sequence[str] | None = None,
    name_id: str | None = None,
    encrypt_assertions: str | None = None,
    encryption_algorithm: str | None = None,
    actor: Actor,
) -> Application:
    """The NameID and encryption settings of `app settings` (only those given change).

    The rules are the application service's (saml.services.update_app_settings); this
    only names the field a refusal is about, for the console and the API.
    """
    _one_of(name_id_format, NAME_ID_FORMATS, "name_id_format")
    for index, fmt in enumerate(allowed_name_id_formats or ()):
        _one_of(fmt, NAME_ID_FORMATS, f"allowed_name_id_formats[{index}]")
    if allowed_name_id_formats is not None and not allowed_name_id_formats:
        raise InvalidInput(
            "allowed_name_id_formats needs at least one format", field="allowed_name_id_formats"
        )
    _one_of(encrypt_assertions, ENCRYPT_MODES, "encrypt_assertions")
    _one_of(encryption_algorithm, ENCRYPTION_ALGORITHMS, "encryption_algorithm")
    if name_id is not None and len(name_id) > mapping.MAX_EXPRESSION_LENGTH:
        raise InvalidInput(
            f"name_id is at most {mapping.MAX_EXPRESSION_LENGTH} characters", field="name_id"
        )
    try:
        return saml.update_app_settings(
            app,
            actor=actor,
            name_id_format=name_id_format,
            name_id_formats=list(allowed_name_id_formats)
            if allowed_name_id_formats is not None
            else None,
            name_id=name_id,
            encrypt_assertions=encrypt_assertions,
            encryption_algorithm=encryption_algorithm,
        )
    except saml_errors.EncryptionUnavailable as exc:
        app.refresh_from_db()
        raise InvalidInput(str(exc), field="encrypt_assertions") from None
    except saml_errors.SamlError as exc:
        app.refresh_from_db()
        raise InvalidInput(str(exc), field="name_id") from None


def refresh_metadata(app: Application, *, actor: Actor) -> Application:
    """Fetch the SP's metadata again from its URL (`app refresh`); on failure keep the old.

    A failure is recorded on the application and audited by the application service,
    then raised (MetadataError) with the reason.
    """
    try:
        saml.refresh_app_metadata(app, actor=actor)
    finally:
        app.refresh_from_db()  # the new metadata, or the reason it was refused
    return app
