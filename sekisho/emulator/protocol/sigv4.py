"""Signature Version 4 verification for requests to the emulated AWS endpoint.

Follows "Signature Version 4 signing process" / "Create a signed AWS API request"
(AWS General Reference) for both the ``Authorization`` header and presigned URLs
("Authenticating requests: using query parameters"). The signature is recomputed with
botocore's own ``SigV4Auth`` for the received request, restricted to the headers the
client listed in ``SignedHeaders`` and with the client's timestamp, then compared in
constant time. Error codes and messages are the ones AWS answers with: query services
(IAM, STS) say ``SignatureDoesNotMatch`` / ``IncompleteSignature``; rest-json services
behind AWS's JSON front end (Amazon Connect) say ``InvalidSignatureException`` /
``IncompleteSignatureException``.

Looking up the secret key belongs to the caller: ``parse_authorization`` gives the
access key id (and any session token) first, then ``verify_sigv4`` checks the request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote_from_bytes

from botocore.auth import SigV4Auth  # type: ignore[import-untyped, unused-ignore]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped, unused-ignore]
from botocore.compat import HTTPHeaders  # type: ignore[import-untyped, unused-ignore]
from botocore.credentials import Credentials  # type: ignore[import-untyped, unused-ignore]

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest, decode_query, wire_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_PRESIGNED_EXPIRES = 604_800  # seconds: one week
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_BASIC_ISO8601 = "%Y%m%dT%H%M%SZ"
_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z", re.ASCII)
_SCOPE_DATE = re.compile(r"\d{8}", re.ASCII)
_PRESIGN_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class SigV4Credential:
    """What a request's Signature Version 4 authentication claims (not yet verified)."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    security_token: str | None = None
    presigned: bool = False
    expires: int | None = None

    @property
    def scope(self) -> str:
        """The credential scope ``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"

    @property
    def signed_at(self) -> datetime:
        """The request's signing time (``X-Amz-Date``) as an aware UTC datetime."""
        return datetime.strptime(self.timestamp, _BASIC_ISO8601).replace(tzinfo=UTC)


# --- AWS-shaped authentication errors ----------------------------------------------------------


def _json_style(protocol: str) -> bool:
    return protocol in ("rest-json", "json")


def missing_authentication_error(protocol: str = "query") -> AwsError:
    """The error for a request that carries no authentication where one is required."""
    if _json_style(protocol):
        return AwsError(
            "MissingAuthenticationTokenException", "Missing Authentication Token", http_status=403
        )
    return AwsError(
        "MissingAuthenticationToken", "Request is missing Authentication Token", http_status=403
    )


def unknown_access_key_error(protocol: str = "query") -> AwsError:
    """The error for an access key id or session token that the account does not know."""
    message = "The security token included in the request is invalid."
    code = "UnrecognizedClientException" if _json_style(protocol) else "InvalidClientTokenId"
    return AwsError(code, message, http_status=403)


def expired_token_error(protocol: str = "query") -> AwsError:
    """The error for a session token whose credentials have expired."""
    message = "The security token included in the request is expired"
    if _json_style(protocol):
        return AwsError("ExpiredTokenException", message, http_status=403)
    return AwsError("ExpiredToken", message, http_status=400)


def _incomplete(protocol: str, message: str) -> AwsError:
    if _json_style(protocol):
        return AwsError("IncompleteSignatureException", message, http_status=403)
    return AwsError("IncompleteSignature", message, http_status=400)


def _mismatch(protocol: str, message: str = _MISMATCH) -> AwsError:
    if _json_style(protocol):
        return AwsError("InvalidSignatureException", message, http_status=403)
    return AwsError("SignatureDoesNotMatch", message, http_status=403)


def _presign_expired(protocol: str, message: str) -> AwsError:
    if _json_style(protocol):
        return AwsError("InvalidSignatureException", message, http_status=403)
    return AwsError("RequestExpired", message, http_status=400)


# --- parsing -------------------------------------------------------------------------------------


def parse_authorization(req: AwsHttpRequest, *, protocol: str = "query") -> SigV4Credential:
    """Read the SigV4 credential a request claims, from its header or presigned query.

    ``protocol`` (the service model's: ``query`` or ``rest-json``) picks the error codes.

    Raises:
        AwsError: ``MissingAuthenticationToken`` (403) when the request is unsigned;
            ``IncompleteSignature`` when the authentication is malformed;
            ``SignatureDoesNotMatch`` for a credential scope with a wrong terminator.
    """
    header = req.headers.get("authorization")
    query = dict(decode_query(req.query_string))
    presigned = "X-Amz-Algorithm" in query
    if header is not None and presigned:
        raise _incomplete(
            protocol,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified",
        )
    if header is not None:
        return _from_header(req, header, protocol)
    if presigned:
        return _from_query(query, protocol)
    raise missing_authentication_error(protocol)


def _from_header(req: AwsHttpRequest, header: str, protocol: str) -> SigV4Credential:
    algorithm, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    if algorithm.startswith("AWS4-"):
        # AWS separates the components by commas and/or white space.
        for component in re.split(r"[,\s]+", rest):
            if not component:
                continue
            key, equals, value = component.partition("=")
            if not equals:
                raise _incomplete(
                    protocol,
                    f"'{component}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{header}'.",
                )
            fields[key] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    amz_date = req.headers.get("x-amz-date")
    http_date = req.headers.get("date")
    if amz_date is None and http_date is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing:
        raise _incomplete(protocol, " ".join([*missing, f"Authorization={header}"]))
    if algorithm != ALGORITHM:
        raise _incomplete(protocol, f"Unsupported AWS 'algorithm': '{algorithm}'.")
    timestamp = _timestamp(amz_date, http_date, protocol)
    return _credential(
        credential=fields["Credential"],
        signed_headers=fields["SignedHeaders"],
        signature=fields["Signature"],
        timestamp=timestamp,
        security_token=req.headers.get("x-amz-security-token"),
        expires=None,
        protocol=protocol,
    )


def _from_query(query: Mapping[str, str], protocol: str) -> SigV4Credential:
    if any(not query.get(name) for name in _PRESIGN_PARAMETERS):
        raise _incomplete(
            protocol,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(protocol, f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}'.")
    expires_text = query["X-Amz-Expires"]
    if not expires_text.isdigit() or not 1 <= int(expires_text) <= MAX_PRESIGNED_EXPIRES:
        raise _incomplete(
            protocol,
            "X-Amz-Expires must be a number of seconds from 1 to "
            f"{MAX_PRESIGNED_EXPIRES} (one week), got '{expires_text}'",
        )
    return _credential(
        credential=query["X-Amz-Credential"],
        signed_headers=query["X-Amz-SignedHeaders"],
        signature=query["X-Amz-Signature"],
        timestamp=_timestamp(query["X-Amz-Date"], None, protocol),
        security_token=query.get("X-Amz-Security-Token"),
        expires=int(expires_text),
        protocol=protocol,
    )


def _timestamp(amz_date: str | None, http_date: str | None, protocol: str) -> str:
    if amz_date is not None:
        if not _TIMESTAMP.fullmatch(amz_date):
            raise _incomplete(
                protocol,
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                "See http://en.wikipedia.org/wiki/ISO_8601",
            )
        try:
            datetime.strptime(amz_date, _BASIC_ISO8601)
        except ValueError:
            raise _incomplete(protocol, f"'{amz_date}' is not a valid date and time") from None
        return amz_date
    try:
        parsed = parsedate_to_datetime(http_date or "")
    except (TypeError, ValueError):
        raise _incomplete(protocol, f"Date header '{http_date}' is not an HTTP date") from None
    if parsed.tzinfo is None:  # "-0000": an HTTP date is always UTC (RFC 9110 §5.6.7)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(_BASIC_ISO8601)


def _credential(
    *,
    credential: str,
    signed_headers: str,
    signature: str,
    timestamp: str,
    security_token: str | None,
    expires: int | None,
    protocol: str,
) -> SigV4Credential:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise _incomplete(
            protocol,
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'",
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise _mismatch(
            protocol,
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'.",
        )
    names = tuple(name.strip().lower() for name in signed_headers.split(";"))
    if "host" not in names and ":authority" not in names:
        raise _incomplete(
            protocol, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return SigV4Credential(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=names,
        signature=signature,
        timestamp=timestamp,
        security_token=security_token,
        presigned=expires is not None,
        expires=expires,
    )


# --- verification --------------------------------------------------------------------------------


class _ReceivedRequestSigner(SigV4Auth):  # type: ignore[misc, unused-ignore]
    """botocore's SigV4 signer, fed exactly the headers the client said it signed."""

    def __init__(self, credentials: Any, service: str, region: str, headers: Any) -> None:
        super().__init__(credentials, service, region)
        self._received_headers = headers

    def headers_to_sign(self, request: Any) -> Any:
        """The client's ``SignedHeaders``, with the values as received."""
        return self._received_headers


def _canonical_query(query_string: str, *, presigned: bool) -> str:
    """The canonical query string: each name and value URI-encoded from its bytes, sorted.

    "Create a canonical request": encode every byte but the unreserved characters, then
    sort by name and value. Working from bytes (``wire_bytes``) lets a value that is not
    UTF-8 be signed and verified too, so that the service, not SigV4, refuses it.
    """
    pairs = sorted(
        (
            quote_from_bytes(wire_bytes(name), safe="-_.~"),
            quote_from_bytes(wire_bytes(value), safe="-_.~"),
        )
        for name, value in decode_query(query_string)
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def _expected_signature(
    req: AwsHttpRequest, credential: SigV4Credential, secret_access_key: str, protocol: str
) -> str:
    signed = HTTPHeaders()
    for name in credential.signed_headers:
        value = req.headers.get(name)
        if value is None:
            raise _mismatch(protocol)
        signed[name] = value
    query = _canonical_query(req.query_string, presigned=credential.presigned)
    path = req.path if req.path.startswith("/") else f"/{req.path}"
    aws_request = AWSRequest(
        method=req.method,
        # No params: botocore then signs the URL's query as it stands, which is canonical.
        url=f"https://sekisho.invalid{path}" + (f"?{query}" if query else ""),
        headers={name: req.headers[name] for name in credential.signed_headers},
        data=req.body,
    )
    aws_request.context["timestamp"] = credential.timestamp
    signer = _ReceivedRequestSigner(
        Credentials(credential.access_key_id, secret_access_key, credential.security_token),
        credential.service,
        credential.region,
        signed,
    )
    canonical_request = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical_request)
    return str(signer.signature(string_to_sign, aws_request))


def _check_content_sha256(req: AwsHttpRequest, protocol: str, allow_unsigned: bool) -> None:
    """A signed ``x-amz-content-sha256`` must be the body's hash (or ``UNSIGNED-PAYLOAD``).

    Without this check a body could be swapped under a signature that covers only the
    claimed hash.
    """
    claimed = req.headers.get("x-amz-content-sha256")
    if claimed is None or (allow_unsigned and claimed == UNSIGNED_PAYLOAD):
        return
    if claimed.lower() != hashlib.sha256(req.body).hexdigest():
        raise _mismatch(
            protocol, "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


def _check_time(
    credential: SigV4Credential, now: datetime, max_skew: timedelta, protocol: str
) -> None:
    signed_at = credential.signed_at
    minutes = f"{int(max_skew.total_seconds() // 60)} min."
    now_text = now.astimezone(UTC).strftime(_BASIC_ISO8601)
    if credential.expires is not None and now > signed_at + timedelta(seconds=credential.expires):
        raise _presign_expired(
            protocol,
            f"Signature expired: {credential.timestamp} is now earlier than {now_text} "
            f"(presigned for {credential.expires} seconds)",
        )
    if credential.expires is None and signed_at < now - max_skew:
        earliest = (now - max_skew).astimezone(UTC).strftime(_BASIC_ISO8601)
        raise _mismatch(
            protocol,
            f"Signature expired: {credential.timestamp} is now earlier than {earliest} "
            f"({now_text} - {minutes})",
        )
    if signed_at > now + max_skew:
        latest = (now + max_skew).astimezone(UTC).strftime(_BASIC_ISO8601)
        raise _mismatch(
            protocol,
            f"Signature not yet current: {credential.timestamp} is still later than {latest} "
            f"({now_text} + {minutes})",
        )


def verify_sigv4(
    req: AwsHttpRequest,
    *,
    secret_access_key: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
    protocol: str = "query",
    expected_service: str | None = None,
    expected_region: str | Collection[str] | None = None,
    allow_unsigned_payload: bool = False,
) -> SigV4Credential:
    """Verify a request's Signature Version 4 against the caller's secret access key.

    Args:
        req: the request as received.
        secret_access_key: the secret of the access key id that ``parse_authorization``
            returned (the caller raises ``unknown_access_key_error`` for unknown ids).
        now: the current time (aware).
        max_skew: how far the signing time may be from ``now`` (AWS allows 15 minutes).
        protocol: the service model's protocol, which picks the AWS error codes.
        expected_service: the signing name the credential scope must name (``sts``).
        expected_region: the region (or one of the regions) the credential scope must
            name, if required.
        allow_unsigned_payload: accept ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` (only
            operations modeled with the ``unsignedPayload`` trait; IAM, STS and Connect
            have none, so their bodies are always signed).

    Returns:
        The verified credential (access key id, scope, session token).

    Raises:
        AwsError: ``SignatureDoesNotMatch`` (403) for a wrong signature, scope or a
            signature older than ``max_skew`` ("Signature expired: …");
            ``IncompleteSignature`` for malformed authentication; ``RequestExpired``
            for a presigned URL past its ``X-Amz-Expires``;
            ``MissingAuthenticationToken`` for an unsigned request.
        ValueError: ``now`` is naive.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    credential = parse_authorization(req, protocol=protocol)
    if expected_service is not None and credential.service != expected_service:
        raise _mismatch(
            protocol, f"Credential should be scoped to correct service: '{expected_service}'."
        )
    if expected_region is not None and credential.region not in (
        (expected_region,) if isinstance(expected_region, str) else expected_region
    ):
        raise _mismatch(
            protocol, f"Credential should be scoped to a valid region, not '{credential.region}'."
        )
    if not _SCOPE_DATE.fullmatch(credential.date) or credential.date != credential.timestamp[:8]:
        raise _mismatch(
            protocol,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{credential.date}' != '{credential.timestamp[:8]}', "
            f"from '{credential.timestamp}'.",
        )
    expected = _expected_signature(req, credential, secret_access_key, protocol)
    if not hmac.compare_digest(expected.encode("ascii"), credential.signature.encode("utf-8")):
        raise _mismatch(protocol)
    if "x-amz-content-sha256" in credential.signed_headers:
        _check_content_sha256(req, protocol, allow_unsigned_payload)
    _check_time(credential, now, max_skew, protocol)
    return credential
