"""Errors of the saml context, each naming the SAML StatusCode an SP should receive.

The web layer maps an error to one of two outcomes in one place: when ``status`` is
set *and* the SP and a registered ACS are already known, it sends a signed
``<samlp:Response>`` carrying that StatusCode (saml-core-2.0-os §3.2.2.2); when
``status`` is ``None`` it shows an error page and sends nothing, because the request
could not be tied to a registered ACS or could not be authenticated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sekisho.errors import SekishoError

_STATUS = "urn:oasis:names:tc:SAML:2.0:status:"


class StatusCodes:
    """StatusCode URIs of saml-core-2.0-os §3.2.2.2."""

    SUCCESS = _STATUS + "Success"
    REQUESTER = _STATUS + "Requester"
    RESPONDER = _STATUS + "Responder"
    VERSION_MISMATCH = _STATUS + "VersionMismatch"
    AUTHN_FAILED = _STATUS + "AuthnFailed"
    INVALID_ATTR_NAME_OR_VALUE = _STATUS + "InvalidAttrNameOrValue"
    INVALID_NAMEID_POLICY = _STATUS + "InvalidNameIDPolicy"
    NO_AUTHN_CONTEXT = _STATUS + "NoAuthnContext"
    NO_PASSIVE = _STATUS + "NoPassive"
    PARTIAL_LOGOUT = _STATUS + "PartialLogout"
    UNKNOWN_PRINCIPAL = _STATUS + "UnknownPrincipal"
    REQUEST_DENIED = _STATUS + "RequestDenied"
    REQUEST_UNSUPPORTED = _STATUS + "RequestUnsupported"
    REQUEST_VERSION_TOO_HIGH = _STATUS + "RequestVersionTooHigh"
    REQUEST_VERSION_TOO_LOW = _STATUS + "RequestVersionTooLow"
    UNSUPPORTED_BINDING = _STATUS + "UnsupportedBinding"


@dataclass(frozen=True)
class SamlStatus:
    """A top-level StatusCode with an optional second-level one (saml-core §3.2.2.2)."""

    top: str
    sub: str | None = None


class SamlError(SekishoError):
    """Root of the saml context's errors."""

    code = "saml_error"
    status: SamlStatus | None = None

    def __init__(
        self, message: str, *, code: str | None = None, status: SamlStatus | None = None
    ) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status


class MalformedMessage(SamlError):
    """A message that is not well-formed: bad base64/DEFLATE/XML, too large, DTDs, bad shape."""

    code = "malformed_message"
    status = SamlStatus(StatusCodes.REQUESTER)


class UnsupportedVersion(MalformedMessage):
    """A message whose Version is not "2.0" (saml-core §3.2.2.2 VersionMismatch)."""

    code = "unsupported_version"
    status = SamlStatus(StatusCodes.VERSION_MISMATCH)


class RequestStale(SamlError):
    """An AuthnRequest issued too long ago or in the future."""

    code = "request_stale"
    status = SamlStatus(StatusCodes.REQUESTER, StatusCodes.REQUEST_DENIED)


class DestinationMismatch(SamlError):
    """A message whose Destination is not this IdP's endpoint (saml-bindings §3.4.5.2)."""

    code = "destination_mismatch"
    status = SamlStatus(StatusCodes.REQUESTER, StatusCodes.REQUEST_DENIED)


class UnknownServiceProvider(SamlError):
    """An Issuer that is not a registered SP; never answered with a Response."""

    code = "unknown_service_provider"
    status = None


class AcsNotRegistered(SamlError):
    """A requested AssertionConsumerService not in the SP's metadata; never answered."""

    code = "acs_not_registered"
    status = None


class UnsupportedBinding(SamlError):
    """A binding Sekisho does not speak (only HTTP-Redirect and HTTP-POST); error page."""

    code = "unsupported_binding"
    status = None


class SignatureRequired(SamlError):
    """An unsigned message where the SP's configuration requires a signature; error page."""

    code = "signature_required"
    status = None


class SignatureInvalid(SamlError):
    """A signature that does not verify against the trusted certificates; error page."""

    code = "signature_invalid"
    status = None


class EndpointRejected(SamlError):
    """An endpoint URL (ACS, single logout, metadata source) Sekisho will not send anyone to."""

    code = "endpoint_rejected"
    status = None


class EncryptionUnavailable(SamlError):
    """An assertion that should be encrypted and cannot be: no usable key or algorithm."""

    code = "encryption_unavailable"
    status = SamlStatus(StatusCodes.RESPONDER)


class MetadataError(SamlError):
    """SAML metadata that is malformed or does not describe what was expected."""

    code = "metadata_error"
    status = None


class MetadataExpired(MetadataError):
    """An SP whose metadata is past its validUntil: its keys and endpoints vouch for nothing."""

    code = "metadata_expired"
    status = None


class InvalidNameIDPolicy(SamlError):
    """A NameIDPolicy Format the IdP cannot satisfy (saml-core §3.4.1.1)."""

    code = "invalid_name_id_policy"
    status = SamlStatus(StatusCodes.REQUESTER, StatusCodes.INVALID_NAMEID_POLICY)


class RequestUnsupported(SamlError):
    """A well-formed request using a feature Sekisho does not implement."""

    code = "request_unsupported"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.REQUEST_UNSUPPORTED)


class NoPassive(SamlError):
    """IsPassive="true" but the user must interact to sign in (saml-core §3.4.1)."""

    code = "no_passive"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.NO_PASSIVE)


class NoAuthnContext(SamlError):
    """The requested authentication context cannot be satisfied (saml-core §3.3.2.2.1)."""

    code = "no_authn_context"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.NO_AUTHN_CONTEXT)


class AuthnFailed(SamlError):
    """The user could not be authenticated."""

    code = "authn_failed"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.AUTHN_FAILED)


class RequestDenied(SamlError):
    """The user authenticated but policy refuses the sign-in to this SP."""

    code = "request_denied"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.REQUEST_DENIED)


class MappingError(SamlError):
    """An attribute mapping expression or a value that cannot be put into an assertion."""

    code = "mapping_error"
    status = SamlStatus(StatusCodes.RESPONDER, StatusCodes.INVALID_ATTR_NAME_OR_VALUE)


class PresetError(SamlError):
    """Application preset parameters that AWS would refuse; shown to the administrator."""

    code = "preset_error"
    status = None


class ResponseInvalid(SamlError):
    """A SAML Response that failed inspection (used by the inspector's callers)."""

    code = "response_invalid"
    status = None


class AssignmentError(SamlError):
    """An assignment that cannot be made (no target, or a user the application cannot name)."""

    code = "assignment_error"
    status = None
