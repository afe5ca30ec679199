"""WebAuthn (FIDO2) ceremonies, pure: options, parsing the browser's JSON, and every check.

py_webauthn does the cryptography and the attestation formats; this module adds what
it leaves to the Relying Party: strict parsing of untrusted JSON (its own base64url
decoding skips invalid characters), the signature-counter rule of WebAuthn L3 §6.1.1
(it refuses every non-increasing count with one generic error, so it is always called
with a stored count of 0 and the rule is applied here), the AAGUID allow-list, and
errors that say what was expected and what came. No Django: time and randomness come in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorAssertionResponse,
    AuthenticatorAttachment,
    AuthenticatorAttestationResponse,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sekisho.clock import Random
from sekisho.crypto import b64url
from sekisho.mfa.errors import (
    AuthenticatorNotAllowed,
    CloneSuspected,
    InvalidWebAuthnResponse,
    WebAuthnChallengeExpired,
)

RP_NAME = "Sekisho"
MAX_CREDENTIALS_PER_USER = 6  # IAM Identity Center's limit
CHALLENGE_BYTES = 32  # WebAuthn L3 §13.4.3: at least 16 random bytes
# WebAuthn L3 §15.1 recommends 5 to 10 minutes for a ceremony; the state lives a little
# longer than the browser's timeout so a slow but valid answer is not refused.
TIMEOUT_MS = 300_000
CHALLENGE_TTL = timedelta(minutes=10)
MAX_CREDENTIAL_JSON = 64 * 1024
USER_VERIFICATION_VALUES = ("required", "preferred")
NIL_AAGUID = "00000000-0000-0000-0000-000000000000"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


@dataclass(frozen=True)
class StoredCredential:
    """What the ceremonies need of a registered credential (a database row, elsewhere)."""

    credential_id: str  # canonical unpadded base64url of the raw ID
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    """A verified registration: what to store, and what to tell the person about it."""

    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    # credProps.rk (WebAuthn L3 §10.1.3); None when the client did not say.
    discoverable: bool | None
    backup_eligible: bool
    backed_up: bool
    user_verified: bool
    attachment: str | None


@dataclass(frozen=True)
class Assertion:
    """A parsed (not yet verified) authentication response."""

    credential_id: str
    user_handle: bytes | None
    credential: AuthenticationCredential
    client_data: Mapping[str, Any]


@dataclass(frozen=True)
class ParsedRegistration:
    """A parsed (not yet verified) registration response."""

    credential_id: str
    credential: RegistrationCredential
    client_data: Mapping[str, Any]
    transports: tuple[str, ...]
    discoverable: bool | None


@dataclass(frozen=True)
class Asserted:
    """A verified assertion: the counter to store and the flags that matter."""

    credential_id: str
    sign_count: int
    user_verified: bool
    backed_up: bool


# --- encoding -------------------------------------------------------------------------


def from_b64url(text: str, *, field: str) -> bytes:
    """Strictly decode unpadded (or correctly padded) base64url, or InvalidWebAuthnResponse."""
    bare = text.rstrip("=")
    padding = len(text) - len(bare)
    if (
        not _B64URL.fullmatch(bare)
        or len(bare) % 4 == 1
        or padding > 2
        or (padding and (len(bare) + padding) % 4 != 0)
    ):
        raise InvalidWebAuthnResponse(
            f"{field}: expected base64url (A-Z a-z 0-9 - _), got {_preview(text)}"
        )
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise InvalidWebAuthnResponse(f"{field}: not valid base64url") from None
    if b64url(raw) != bare:
        # Non-zero trailing bits: two spellings of one value would defeat ID comparisons.
        raise InvalidWebAuthnResponse(f"{field}: not canonical base64url")
    return raw


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


# --- challenges ------------------------------------------------------------------------


def new_state(random: Random, *, now: datetime, **extra: Any) -> tuple[bytes, dict[str, Any]]:
    """A fresh single-use challenge and the JSON-serialisable state that remembers it."""
    challenge = random.token_bytes(CHALLENGE_BYTES)
    if len(challenge) != CHALLENGE_BYTES:
        raise ValueError(
            f"random source returned {len(challenge)} bytes, expected {CHALLENGE_BYTES}"
        )
    return challenge, {"challenge": b64url(challenge), "issued": now.timestamp(), **extra}


def challenge_from_state(state: Mapping[str, Any], *, now: datetime) -> bytes:
    """The challenge this ceremony was started with (WebAuthn L3 §13.4.3: used once).

    Missing state means the answer was already used or never asked for: a replay.
    """
    text = state.get("challenge")
    issued = state.get("issued")
    if not isinstance(text, str) or not text or not isinstance(issued, int | float):
        raise InvalidWebAuthnResponse(
            "no challenge is pending for this answer (already used, or never issued)"
        )
    age = now.timestamp() - float(issued)
    if age > CHALLENGE_TTL.total_seconds() or age < -60:
        raise WebAuthnChallengeExpired(
            f"the challenge was issued {int(age)} seconds ago; it is valid for "
            f"{int(CHALLENGE_TTL.total_seconds())} seconds"
        )
    return from_b64url(text, field="state.challenge")


# --- options ---------------------------------------------------------------------------


def _uv(value: str) -> UserVerificationRequirement:
    if value not in USER_VERIFICATION_VALUES:
        raise ValueError(f"user verification must be required or preferred, got {value!r}")
    return UserVerificationRequirement(value)


def _descriptors(credentials: Sequence[StoredCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=from_b64url(c.credential_id, field="stored credential_id"),
            transports=[AuthenticatorTransport(t) for t in c.transports if t in _TRANSPORTS]
            or None,
        )
        for c in credentials
    ]


def registration_options(
    *,
    rp_id: str,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: Sequence[StoredCredential],
    user_verification: str,
    attestation_direct: bool = False,
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as JSON (WebAuthn L3 §5.4), for the page's script.

    residentKey "preferred" makes a passkey wherever the authenticator can (§5.4.4);
    excludeCredentials stops the same key being registered twice (§5.4); credProps
    reports whether it did (§10.1.3). Attestation is "none" unless an AAGUID allow-list
    needs the authenticator's model, which "none" lets the client zero out (§5.4.7).
    """
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name or user_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=(
            AttestationConveyancePreference.DIRECT
            if attestation_direct
            else AttestationConveyancePreference.NONE
        ),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=_uv(user_verification),
        ),
        exclude_credentials=_descriptors(exclude),
    )
    as_dict: dict[str, Any] = json.loads(options_to_json(options))
    as_dict["extensions"] = {"credProps": True}
    return as_dict


def authentication_options(
    *,
    rp_id: str,
    challenge: bytes,
    allow: Sequence[StoredCredential],
    user_verification: str,
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions as JSON (WebAuthn L3 §5.5).

    An empty ``allow`` asks for a discoverable credential: passkey sign-in without a
    username (§5.5, allowCredentials).
    """
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allow),
        user_verification=_uv(user_verification),
    )
    as_dict: dict[str, Any] = json.loads(options_to_json(options))
    return as_dict


# --- parsing the browser's JSON (PublicKeyCredential.toJSON(), WebAuthn L3 §5.1.8) ------


def _load(text: str) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise InvalidWebAuthnResponse("no credential was sent (the browser produced nothing)")
    if len(text) > MAX_CREDENTIAL_JSON or len(text.encode("utf-8", "replace")) > (
        MAX_CREDENTIAL_JSON
    ):
        raise InvalidWebAuthnResponse(
            f"credential JSON is over {MAX_CREDENTIAL_JSON} bytes; a real one is a few KiB"
        )
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidWebAuthnResponse("credential is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidWebAuthnResponse(f"credential: expected an object, got {_kind(value)}")
    return value


def _string(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise InvalidWebAuthnResponse(f"{path}.{key}: expected a string, got {_kind(value)}")
    return value


def _bytes(obj: Mapping[str, Any], key: str, path: str) -> bytes:
    return from_b64url(_string(obj, key, path), field=f"{path}.{key}")


def _common(
    value: dict[str, Any],
) -> tuple[str, bytes, dict[str, Any], AuthenticatorAttachment | None]:
    raw_id = _bytes(value, "rawId", "credential")
    credential_id = _string(value, "id", "credential")
    if credential_id != b64url(raw_id):
        raise InvalidWebAuthnResponse(
            f"credential.id: expected the base64url of rawId ({_preview(b64url(raw_id))}), "
            f"got {_preview(credential_id)}"
        )
    if value.get("type") != "public-key":
        raise InvalidWebAuthnResponse(
            f"credential.type: expected 'public-key', got {_preview(value.get('type'))}"
        )
    response = value.get("response")
    if not isinstance(response, dict):
        raise InvalidWebAuthnResponse(
            f"credential.response: expected an object, got {_kind(response)}"
        )
    attachment_raw = value.get("authenticatorAttachment")
    attachment: AuthenticatorAttachment | None = None
    if attachment_raw is not None:
        try:
            attachment = AuthenticatorAttachment(attachment_raw)
        except ValueError:
            raise InvalidWebAuthnResponse(
                "credential.authenticatorAttachment: expected 'platform' or 'cross-platform', "
                f"got {_preview(attachment_raw)}"
            ) from None
    extensions = value.get("clientExtensionResults", {})
    if not isinstance(extensions, dict):
        raise InvalidWebAuthnResponse(
            f"credential.clientExtensionResults: expected an object, got {_kind(extensions)}"
        )
    return credential_id, raw_id, response, attachment


def _client_data(raw: bytes) -> dict[str, Any]:
    """CollectedClientData (WebAuthn L3 §5.8.1), parsed only for shape and clear messages."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidWebAuthnResponse("credential.response.clientDataJSON is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidWebAuthnResponse(f"clientDataJSON: expected an object, got {_kind(data)}")
    for key in ("type", "challenge", "origin"):
        _string(data, key, "clientDataJSON")
    return data


def parse_registration(text: str) -> ParsedRegistration:
    """Parse navigator.credentials.create()'s answer, refusing any wrong shape or encoding."""
    value = _load(text)
    credential_id, raw_id, response, attachment = _common(value)
    client_data_json = _bytes(response, "clientDataJSON", "credential.response")
    attestation_object = _bytes(response, "attestationObject", "credential.response")
    transports_raw = response.get("transports", [])
    if not isinstance(transports_raw, list) or not all(isinstance(t, str) for t in transports_raw):
        raise InvalidWebAuthnResponse(
            "credential.response.transports: expected an array of strings"
        )
    # Unknown transports are ignored, as clients must (WebAuthn L3 §5.8.4).
    transports = tuple(dict.fromkeys(t for t in transports_raw if t in _TRANSPORTS))
    discoverable: bool | None = None
    cred_props = value.get("clientExtensionResults", {}).get("credProps")
    if isinstance(cred_props, dict) and isinstance(cred_props.get("rk"), bool):
        discoverable = cred_props["rk"]
    return ParsedRegistration(
        credential_id=credential_id,
        credential=RegistrationCredential(
            id=credential_id,
            raw_id=raw_id,
            response=AuthenticatorAttestationResponse(
                client_data_json=client_data_json,
                attestation_object=attestation_object,
                transports=[AuthenticatorTransport(t) for t in transports] or None,
            ),
            authenticator_attachment=attachment,
        ),
        client_data=_client_data(client_data_json),
        transports=transports,
        discoverable=discoverable,
    )


def parse_assertion(text: str) -> Assertion:
    """Parse navigator.credentials.get()'s answer, refusing any wrong shape or encoding."""
    value = _load(text)
    credential_id, raw_id, response, attachment = _common(value)
    client_data_json = _bytes(response, "clientDataJSON", "credential.response")
    authenticator_data = _bytes(response, "authenticatorData", "credential.response")
    signature = _bytes(response, "signature", "credential.response")
    handle_raw = response.get("userHandle")
    user_handle = None
    if handle_raw is not None:
        if not isinstance(handle_raw, str):
            raise InvalidWebAuthnResponse(
                f"credential.response.userHandle: expected a string, got {_kind(handle_raw)}"
            )
        # An empty string is how some encoders write a null user handle.
        user_handle = from_b64url(handle_raw, field="credential.response.userHandle") or None
    return Assertion(
        credential_id=credential_id,
        user_handle=user_handle,
        credential=AuthenticationCredential(
            id=credential_id,
            raw_id=raw_id,
            response=AuthenticatorAssertionResponse(
                client_data_json=client_data_json,
                authenticator_data=authenticator_data,
                signature=signature,
                user_handle=user_handle,
            ),
            authenticator_attachment=attachment,
        ),
        client_data=_client_data(client_data_json),
    )


# --- checks ----------------------------------------------------------------------------


def _check_client_data(
    data: Mapping[str, Any], *, ceremony: str, challenge: bytes, origin: str
) -> None:
    """WebAuthn L3 §7.1 steps 7-10 / §7.2 steps 11-14, with expected-vs-got messages.

    py_webauthn checks the same again; doing it first gives errors a person (or the
    administrator reading the audit trail) can act on.
    """
    if data["type"] != ceremony:
        raise InvalidWebAuthnResponse(
            f"clientDataJSON.type: expected {ceremony!r}, got {_preview(data['type'])}"
        )
    if data["challenge"] != b64url(challenge):
        raise InvalidWebAuthnResponse(
            "clientDataJSON.challenge: not the challenge issued for this ceremony "
            "(an old page, another tab, or a replayed answer)"
        )
    if data["origin"] != origin:
        raise InvalidWebAuthnResponse(
            f"clientDataJSON.origin: expected {origin!r}, got {_preview(data['origin'])}"
        )
    # An iframe on another site cannot run a ceremony for us (frame-ancestors 'none').
    if data.get("crossOrigin") is True:
        raise InvalidWebAuthnResponse("clientDataJSON.crossOrigin: expected false, got true")


def _refused(ceremony: str, exc: Exception, *, rp_id: str) -> InvalidWebAuthnResponse:
    text = str(exc) or type(exc).__name__
    if "RP ID hash" in text:
        text = f"authenticatorData.rpIdHash: expected SHA-256 of {rp_id!r}, got another RP ID"
    return InvalidWebAuthnResponse(f"{ceremony} refused: {text}")


def check_aaguid(aaguid: str, allowed: Sequence[str]) -> None:
    """Refuse an authenticator model not on the administrator's allow-list (empty: any)."""
    if not allowed:
        return
    wanted = {a.strip().lower() for a in allowed}
    if aaguid.lower() not in wanted:
        shown = "none (the browser withheld it)" if aaguid == NIL_AAGUID else repr(aaguid)
        raise AuthenticatorNotAllowed(
            f"AAGUID: expected one of {', '.join(sorted(wanted))}, got {shown}"
        )


def check_sign_count(*, stored: int, received: int) -> None:
    """WebAuthn L3 §6.1.1: a counter that does not increase may mean a cloned authenticator.

    Both zero is allowed: authenticators without a counter (most synced passkeys)
    always report 0.
    """
    if (stored > 0 or received > 0) and received <= stored:
        raise CloneSuspected(
            f"signature counter: expected more than {stored}, got {received} "
            "(a cloned authenticator, or a replayed answer)"
        )


def verify_registration(
    parsed: ParsedRegistration,
    *,
    challenge: bytes,
    origin: str,
    rp_id: str,
    require_user_verification: bool,
    aaguids: Sequence[str] = (),
) -> Registration:
    """The registration ceremony's checks (WebAuthn L3 §7.1), then the AAGUID allow-list."""
    _check_client_data(
        parsed.client_data, ceremony="webauthn.create", challenge=challenge, origin=origin
    )
    try:
        result = verify_registration_response(
            credential=parsed.credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=require_user_verification,
        )
    # Hostile CBOR or certificates surface as KeyError, ValueError or cryptography errors,
    # not only py_webauthn's own: every one is a refused answer, never a server error.
    except Exception as exc:
        raise _refused("registration", exc, rp_id=rp_id) from exc
    check_aaguid(result.aaguid, aaguids)
    return Registration(
        credential_id=b64url(result.credential_id),
        public_key=result.credential_public_key,
        sign_count=result.sign_count,
        transports=parsed.transports,
        aaguid=result.aaguid,
        discoverable=parsed.discoverable,
        backup_eligible=result.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
        backed_up=result.credential_backed_up,
        user_verified=result.user_verified,
        attachment=(
            parsed.credential.authenticator_attachment.value
            if parsed.credential.authenticator_attachment is not None
            else None
        ),
    )


def verify_assertion(
    assertion: Assertion,
    stored: StoredCredential,
    *,
    challenge: bytes,
    origin: str,
    rp_id: str,
    require_user_verification: bool,
) -> Asserted:
    """The authentication ceremony's checks (WebAuthn L3 §7.2), the counter rule last.

    The counter is compared only once the signature is valid, so a forged answer cannot
    raise the cloned-key alarm.
    """
    if assertion.credential_id != stored.credential_id:
        raise InvalidWebAuthnResponse(
            f"credential.id: expected {_preview(stored.credential_id)}, "
            f"got {_preview(assertion.credential_id)}"
        )
    _check_client_data(
        assertion.client_data, ceremony="webauthn.get", challenge=challenge, origin=origin
    )
    try:
        result = verify_authentication_response(
            credential=assertion.credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=stored.public_key,
            # py_webauthn would refuse a lower count with a generic error: see the module doc.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except Exception as exc:
        raise _refused("authentication", exc, rp_id=rp_id) from exc
    check_sign_count(stored=stored.sign_count, received=result.new_sign_count)
    return Asserted(
        credential_id=stored.credential_id,
        sign_count=result.new_sign_count,
        user_verified=result.user_verified,
        backed_up=result.credential_backed_up,
    )


def describe(*, discoverable: bool, backed_up: bool, transports: Sequence[str]) -> str:
    """A short English description of a credential ("synced passkey", "security key (usb)")."""
    kind = "synced passkey" if backed_up else "passkey" if discoverable else "security key"
    return f"{kind} ({', '.join(transports)})" if transports else kind
