"""The saml context's error taxonomy: stable codes and the StatusCode each maps to."""

from __future__ import annotations

import inspect

import pytest

from sekisho.errors import SekishoError
from sekisho.saml import errors
from sekisho.saml.errors import SamlError, SamlStatus, StatusCodes

LEAVES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, SamlError) and cls is not SamlError
]


def test_codes_are_unique_and_rooted() -> None:
    codes = [cls.code for cls in LEAVES]
    assert len(codes) == len(set(codes))
    assert all(issubclass(cls, SekishoError) for cls in LEAVES)


@pytest.mark.parametrize(
    "cls",
    [
        errors.UnknownServiceProvider,
        errors.AcsNotRegistered,
        errors.UnsupportedBinding,
        errors.SignatureRequired,
        errors.SignatureInvalid,
        errors.MetadataError,
        errors.PresetError,
        errors.ResponseInvalid,
    ],
)
def test_never_answered_with_a_response(cls: type[SamlError]) -> None:
    assert cls("x").status is None


@pytest.mark.parametrize(
    ("cls", "top", "sub"),
    [
        (errors.MalformedMessage, StatusCodes.REQUESTER, None),
        (errors.UnsupportedVersion, StatusCodes.VERSION_MISMATCH, None),
        (errors.RequestStale, StatusCodes.REQUESTER, StatusCodes.REQUEST_DENIED),
        (errors.InvalidNameIDPolicy, StatusCodes.REQUESTER, StatusCodes.INVALID_NAMEID_POLICY),
        (errors.RequestUnsupported, StatusCodes.RESPONDER, StatusCodes.REQUEST_UNSUPPORTED),
        (errors.NoPassive, StatusCodes.RESPONDER, StatusCodes.NO_PASSIVE),
        (errors.NoAuthnContext, StatusCodes.RESPONDER, StatusCodes.NO_AUTHN_CONTEXT),
        (errors.AuthnFailed, StatusCodes.RESPONDER, StatusCodes.AUTHN_FAILED),
        (errors.RequestDenied, StatusCodes.RESPONDER, StatusCodes.REQUEST_DENIED),
        (errors.MappingError, StatusCodes.RESPONDER, StatusCodes.INVALID_ATTR_NAME_OR_VALUE),
    ],
)
def test_status_codes(cls: type[SamlError], top: str, sub: str | None) -> None:
    assert cls("x").status == SamlStatus(top, sub)


def test_message_code_and_status_override() -> None:
    error = errors.MalformedMessage(
        "expected a, got b", code="custom", status=SamlStatus(StatusCodes.RESPONDER)
    )
    assert error.message == "expected a, got b"
    assert str(error) == "expected a, got b"
    assert error.code == "custom"
    assert error.status == SamlStatus(StatusCodes.RESPONDER)
    assert errors.MalformedMessage("x").status == SamlStatus(StatusCodes.REQUESTER)
