"""The pure WebAuthn core: options, parsing, every ceremony check, counters and AAGUIDs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.mfa import errors
from sekisho.mfa import webauthn as core
from tests.unit.fakes import ConstantRandom, FakeRandom
from tests.webauthn_authenticator import SoftAuthenticator, b64url, from_b64url

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
USER_HANDLE = bytes(range(16))
YUBIKEY_5 = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
JSON_KEYS = (
    *("id", "rawId", "type", "response", "clientDataJSON", "authenticatorData", "signature"),
    *("userHandle", "attestationObject", "transports"),
)


def reg_options(**overrides: Any) -> tuple[bytes, dict[str, Any]]:
    challenge, _state = core.new_state(FakeRandom(), now=NOW)
    arguments: dict[str, Any] = {
        "rp_id": RP_ID,
        "user_handle": USER_HANDLE,
        "user_name": "alice",
        "display_name": "Alice Example",
        "challenge": challenge,
        "exclude": [],
        "user_verification": "preferred",
    }
    arguments.update(overrides)
    return challenge, core.registration_options(**arguments)


def register(
    authenticator: SoftAuthenticator,
    *,
    uv_required: bool = False,
    aaguids: tuple[str, ...] = (),
    **answer: Any,
) -> core.Registration:
    challenge, options = reg_options()
    text = json.dumps(authenticator.register(options, **answer))
    return core.verify_registration(
        core.parse_registration(text),
        challenge=challenge,
        origin=ORIGIN,
        rp_id=RP_ID,
        require_user_verification=uv_required,
        aaguids=aaguids,
    )


def stored(registration: core.Registration, sign_count: int | None = None) -> core.StoredCredential:
    return core.StoredCredential(
        credential_id=registration.credential_id,
        public_key=registration.public_key,
        sign_count=registration.sign_count if sign_count is None else sign_count,
        transports=registration.transports,
    )


def authenticate(
    authenticator: SoftAuthenticator,
    credential: core.StoredCredential,
    *,
    uv_required: bool = False,
    **answer: Any,
) -> core.Asserted:
    challenge, _state = core.new_state(FakeRandom(seed=2), now=NOW)
    options = core.authentication_options(
        rp_id=RP_ID, challenge=challenge, allow=[credential], user_verification="preferred"
    )
    text = json.dumps(authenticator.assert_(options, **answer))
    return core.verify_assertion(
        core.parse_assertion(text),
        credential,
        challenge=challenge,
        origin=ORIGIN,
        rp_id=RP_ID,
        require_user_verification=uv_required,
    )


# --- options and state -------------------------------------------------------------------


def test_registration_options_ask_for_a_passkey_and_exclude_known_keys() -> None:
    known = core.StoredCredential(
        credential_id=b64url(b"\x01" * 20), public_key=b"", sign_count=3, transports=("usb",)
    )
    challenge, options = reg_options(exclude=[known], user_verification="required")
    assert options["rp"] == {"name": "Sekisho", "id": "localhost"}
    assert options["user"] == {
        "id": b64url(USER_HANDLE),
        "name": "alice",
        "displayName": "Alice Example",
    }
    assert options["challenge"] == b64url(challenge) and len(challenge) == 32
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["excludeCredentials"] == [
        {"id": b64url(b"\x01" * 20), "type": "public-key", "transports": ["usb"]}
    ]
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "preferred"
    assert selection["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert options["extensions"] == {"credProps": True}
    assert options["timeout"] == core.TIMEOUT_MS


def test_an_aaguid_allow_list_asks_for_direct_attestation() -> None:
    _challenge, options = reg_options(attestation_direct=True)
    assert options["attestation"] == "direct"


def test_authentication_options_list_credentials_or_none_for_passkeys() -> None:
    key = core.StoredCredential(
        credential_id=b64url(b"k" * 16), public_key=b"", sign_count=0, transports=("nfc", "x")
    )
    challenge = b"c" * 32
    options = core.authentication_options(
        rp_id=RP_ID, challenge=challenge, allow=[key], user_verification="preferred"
    )
    assert options["rpId"] == "localhost" and options["challenge"] == b64url(challenge)
    assert options["allowCredentials"] == [
        {"id": b64url(b"k" * 16), "type": "public-key", "transports": ["nfc"]}
    ]
    assert options["userVerification"] == "preferred"
    passkey = core.authentication_options(
        rp_id=RP_ID, challenge=challenge, allow=[], user_verification="required"
    )
    assert passkey["allowCredentials"] == [] and passkey["userVerification"] == "required"


def test_user_verification_setting_must_be_required_or_preferred() -> None:
    with pytest.raises(ValueError, match="required or preferred"):
        reg_options(user_verification="discouraged")


def test_challenge_comes_from_the_injected_random_and_expires() -> None:
    challenge, state = core.new_state(ConstantRandom(9), now=NOW, user="u")
    assert challenge == bytes([9]) * 32
    assert state == {"challenge": b64url(challenge), "issued": NOW.timestamp(), "user": "u"}
    assert json.loads(json.dumps(state)) == state
    assert core.challenge_from_state(state, now=NOW + timedelta(minutes=9)) == challenge
    with pytest.raises(errors.WebAuthnChallengeExpired, match="valid for 600 seconds") as expired:
        core.challenge_from_state(state, now=NOW + timedelta(minutes=11))
    assert not expired.value.counts_as_failure
    for missing in ({}, {"challenge": ""}, {"challenge": b64url(challenge)}):
        with pytest.raises(errors.InvalidWebAuthnResponse, match="no challenge is pending"):
            core.challenge_from_state(missing, now=NOW)


# --- registration ------------------------------------------------------------------------


def test_a_good_registration_is_verified() -> None:
    key = SoftAuthenticator(transports=["usb", "nfc", "bogus"])
    registration = register(key, rk=False)
    assert registration.credential_id == key.id
    assert registration.public_key == key.cose_key()
    assert registration.sign_count == 0
    assert registration.transports == ("usb", "nfc")
    assert registration.aaguid == "00000000-0000-0000-0000-000000000000"
    assert registration.discoverable is False
    assert registration.user_verified and not registration.backed_up
    assert registration.attachment == "cross-platform"


def test_packed_self_attestation_and_a_synced_passkey() -> None:
    passkey = SoftAuthenticator(
        transports=["internal", "hybrid"],
        attachment="platform",
        backup_eligible=True,
        backed_up=True,
        counter=False,
    )
    registration = register(passkey, fmt="packed", rk=True)
    assert registration.discoverable is True
    assert registration.backup_eligible and registration.backed_up
    assert core.describe(discoverable=True, backed_up=True, transports=["internal"]) == (
        "synced passkey (internal)"
    )
    assert core.describe(discoverable=False, backed_up=False, transports=["usb"]) == (
        "security key (usb)"
    )
    assert core.describe(discoverable=True, backed_up=False, transports=[]) == "passkey"


def test_a_forged_packed_signature_is_refused() -> None:
    key = SoftAuthenticator()
    challenge, options = reg_options()
    answer = key.register(options, fmt="packed")
    attestation = cbor2.loads(from_b64url(answer["response"]["attestationObject"]))
    # Signed by another key: the self-attestation does not match the credential key.
    attestation["attStmt"]["sig"] = SoftAuthenticator()._sign(b"something else")
    answer["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))
    for attestation_object in (answer["response"]["attestationObject"], b64url(b"\xa3garbage")):
        answer["response"]["attestationObject"] = attestation_object
        with pytest.raises(errors.InvalidWebAuthnResponse, match="registration refused"):
            core.verify_registration(
                core.parse_registration(json.dumps(answer)),
                challenge=challenge,
                origin=ORIGIN,
                rp_id=RP_ID,
                require_user_verification=False,
            )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"challenge": b64url(b"x" * 32)}, "not the challenge issued"),
        ({"origin": "https://evil.example"}, "expected 'http://localhost:8000', got 'https"),
        ({"rp_id": "evil.example"}, "expected SHA-256 of 'localhost'"),
        ({"kind": "webauthn.get"}, "expected 'webauthn.create', got 'webauthn.get'"),
    ],
)
def test_registration_for_another_ceremony_or_site_is_refused(
    answer: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.InvalidWebAuthnResponse, match=message):
        register(SoftAuthenticator(), **answer)


def test_registration_without_user_verification_when_required() -> None:
    with pytest.raises(errors.InvalidWebAuthnResponse, match="User verification is required"):
        register(SoftAuthenticator(user_verifying=False), uv_required=True)
    assert not register(SoftAuthenticator(user_verifying=False)).user_verified


def test_aaguid_allow_list() -> None:
    yubikey = SoftAuthenticator(aaguid=bytes.fromhex(YUBIKEY_5.replace("-", "")))
    assert register(yubikey, fmt="packed", aaguids=(YUBIKEY_5.upper(),)).aaguid == YUBIKEY_5
    with pytest.raises(errors.AuthenticatorNotAllowed, match="got '00000000-1111") as refused:
        register(
            SoftAuthenticator(aaguid=bytes.fromhex("00000000111122223333444444444444")),
            fmt="packed",
            aaguids=(YUBIKEY_5,),
        )
    assert refused.value.counts_as_failure
    with pytest.raises(errors.AuthenticatorNotAllowed, match="withheld"):
        register(SoftAuthenticator(), aaguids=(YUBIKEY_5,))
    core.check_aaguid(core.NIL_AAGUID, ())  # no list: any authenticator


# --- authentication ----------------------------------------------------------------------


def test_a_good_assertion_is_verified_and_counts_up() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key))
    asserted = authenticate(key, credential)
    assert asserted.credential_id == key.id
    assert asserted.sign_count == 1 and asserted.user_verified
    again = authenticate(key, stored(register(key), sign_count=1))
    assert again.sign_count == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"challenge": b64url(b"old" * 11)}, "not the challenge issued"),
        ({"origin": "http://localhost:8001"}, "expected 'http://localhost:8000'"),
        ({"rp_id": "example.com"}, "rpIdHash: expected SHA-256 of 'localhost'"),
        ({"kind": "webauthn.create"}, "expected 'webauthn.get'"),
    ],
)
def test_an_assertion_for_another_ceremony_or_site_is_refused(
    answer: dict[str, Any], message: str
) -> None:
    key = SoftAuthenticator()
    credential = stored(register(key))
    with pytest.raises(errors.InvalidWebAuthnResponse, match=message):
        authenticate(key, credential, **answer)


def test_a_bad_signature_is_refused() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key))
    impostor = SoftAuthenticator(credential_id=key.credential_id)
    with pytest.raises(errors.InvalidWebAuthnResponse, match="Could not verify"):
        authenticate(impostor, credential)


def test_an_assertion_from_another_credential_is_refused() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key))
    other = SoftAuthenticator()
    register(other)
    with pytest.raises(errors.InvalidWebAuthnResponse, match=r"credential\.id: expected"):
        authenticate(other, credential)


def test_cross_origin_iframes_are_refused() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key))
    challenge = b"c" * 32
    answer = key.assert_({"challenge": b64url(challenge)})
    answer["response"]["clientDataJSON"] = b64url(
        key.client_data("webauthn.get", b64url(challenge), cross_origin=True)
    )
    with pytest.raises(errors.InvalidWebAuthnResponse, match="crossOrigin"):
        core.verify_assertion(
            core.parse_assertion(json.dumps(answer)),
            credential,
            challenge=challenge,
            origin=ORIGIN,
            rp_id=RP_ID,
            require_user_verification=False,
        )


def test_user_verification_required_or_preferred() -> None:
    key = SoftAuthenticator(user_verifying=False)
    credential = stored(register(key))
    assert not authenticate(key, credential).user_verified
    with pytest.raises(errors.InvalidWebAuthnResponse, match="User verification is required"):
        authenticate(key, credential, uv_required=True)


@pytest.mark.parametrize(("stored_count", "received"), [(5, 5), (5, 4), (5, 0), (0, 0)])
def test_a_counter_that_does_not_increase_suggests_a_clone(
    stored_count: int, received: int
) -> None:
    key = SoftAuthenticator()
    credential = stored(register(key), sign_count=stored_count)
    if stored_count == received == 0:
        # Both zero: the authenticator has no counter (most synced passkeys).
        assert authenticate(key, credential, sign_count=0).sign_count == 0
        return
    with pytest.raises(errors.CloneSuspected, match=f"more than {stored_count}, got {received}"):
        authenticate(key, credential, sign_count=received)


def test_a_counter_that_increases_is_accepted_even_by_a_jump() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key), sign_count=5)
    assert authenticate(key, credential, sign_count=6).sign_count == 6
    assert authenticate(key, credential, sign_count=900).sign_count == 900
    core.check_sign_count(stored=0, received=1)


def test_the_counter_is_checked_only_after_the_signature() -> None:
    key = SoftAuthenticator()
    credential = stored(register(key), sign_count=50)
    forger = SoftAuthenticator(credential_id=key.credential_id)
    with pytest.raises(errors.InvalidWebAuthnResponse) as refused:
        authenticate(forger, credential, sign_count=1)
    assert not isinstance(refused.value, errors.CloneSuspected)


# --- malformed input ---------------------------------------------------------------------


def _valid_assertion() -> dict[str, Any]:
    key = SoftAuthenticator()
    register(key)
    return key.assert_({"challenge": b64url(b"c" * 32)})


def _mutate(path: list[str], value: Any) -> str:
    answer = copy.deepcopy(_valid_assertion())
    target = answer
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(answer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no credential was sent"),
        ("not json", "not JSON"),
        ("[1, 2]", "expected an object, got array"),
        ('{"id": "AA", "rawId": 1}', "credential.rawId: expected a string, got number"),
        (_mutate(["rawId"], "***"), "credential.rawId: expected base64url"),
        (_mutate(["rawId"], "abcde"), "expected base64url"),
        (_mutate(["rawId"], "AB=="), "not canonical"),
        (_mutate(["id"], "AAAA"), "credential.id: expected the base64url of rawId"),
        (_mutate(["type"], "password"), "credential.type: expected 'public-key'"),
        (_mutate(["response"], "x"), "credential.response: expected an object, got string"),
        (
            _mutate(["response", "signature"], KeyError),
            "credential.response.signature: expected a string, got null",
        ),
        (_mutate(["response", "signature"], "a+b/"), "signature: expected base64url"),
        (_mutate(["response", "userHandle"], 7), "userHandle: expected a string, got number"),
        (_mutate(["response", "clientDataJSON"], b64url(b"\xff")), "clientDataJSON is not JSON"),
        (_mutate(["response", "clientDataJSON"], b64url(b"[]")), "got array"),
        (
            _mutate(["response", "clientDataJSON"], b64url(b'{"type": "webauthn.get"}')),
            "clientDataJSON.challenge: expected a string",
        ),
        (_mutate(["authenticatorAttachment"], "phone"), "expected 'platform' or"),
        (_mutate(["clientExtensionResults"], []), "clientExtensionResults: expected an object"),
        ("x" * (64 * 1024 + 1), "over 65536 bytes"),
        ('"' + "é" * (40 * 1024) + '"', "over 65536 bytes"),
    ],
)
def test_malformed_assertions_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(errors.InvalidWebAuthnResponse, match=message):
        core.parse_assertion(text)


def test_malformed_registrations_are_refused_clearly() -> None:
    key = SoftAuthenticator()
    _challenge, options = reg_options()
    answer = key.register(options)
    del answer["response"]["attestationObject"]
    with pytest.raises(errors.InvalidWebAuthnResponse, match="attestationObject: expected"):
        core.parse_registration(json.dumps(answer))
    answer = key.register(options)
    answer["response"]["transports"] = "usb"
    with pytest.raises(errors.InvalidWebAuthnResponse, match="transports: expected an array"):
        core.parse_registration(json.dumps(answer))
    # An assertion is not a registration.
    with pytest.raises(errors.InvalidWebAuthnResponse, match="attestationObject"):
        core.parse_registration(json.dumps(_valid_assertion()))


def test_padded_base64url_is_accepted_and_null_user_handle_is_none() -> None:
    assert core.from_b64url("AQ==", field="x") == b"\x01"
    assert core.from_b64url("AQ", field="x") == b"\x01"
    for bad in ("AQ=", "AQ===", "A", "AQ=A", "AQ\n"):
        with pytest.raises(errors.InvalidWebAuthnResponse):
            core.from_b64url(bad, field="x")
    parsed = core.parse_assertion(_mutate(["response", "userHandle"], ""))
    assert parsed.user_handle is None


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(JSON_KEYS),
                children,
                max_size=6,
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_is_refused_with_an_mfa_error_only(value: Any) -> None:
    text = json.dumps(value)
    for parse in (core.parse_assertion, core.parse_registration):
        with pytest.raises(errors.InvalidWebAuthnResponse):
            parse(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["attestationObject", "clientDataJSON"]))
def test_garbage_bytes_in_a_registration_never_escape_as_other_errors(
    garbage: bytes, field_name: str
) -> None:
    key = SoftAuthenticator()
    challenge, options = reg_options()
    answer = key.register(options)
    answer["response"][field_name] = b64url(garbage)
    with pytest.raises(errors.InvalidWebAuthnResponse):
        core.verify_registration(
            core.parse_registration(json.dumps(answer)),
            challenge=challenge,
            origin=ORIGIN,
            rp_id=RP_ID,
            require_user_verification=False,
        )
