"""Applications for administrators: attribute-mapping edits, metadata by URL, previews."""

from __future__ import annotations

from collections.abc import Sequence

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
    app = Application.objects.filter(name=name).first()
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


def metadata_source(*, document: bytes | None, url: str | None) -> dict[str, bytes | str | None]:
    """An SP's metadata as an uploaded document or a URL (exactly one), as create_saml_app takes it.

    A URL is fetched by the application service itself (its endpoint rules, size and time
    limits), which also records it so that ``app refresh`` can fetch it again.
    """
    if bool(document) == bool(url):
        raise InvalidInput(
            "give the SP's metadata as a file or as a URL (one of them)", field="metadata"
        )
    return {"metadata": document or None, "metadata_url": url or None}
