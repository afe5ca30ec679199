"""MFA method registry and the MFA mode decision."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sekisho.errors import ConfigError
from sekisho.mfa import methods
from sekisho.mfa.methods import MethodInfo, MfaMethod, MfaMode, MfaStep


@pytest.fixture
def registry() -> Iterator[dict[str, MfaMethod]]:
    saved = dict(methods.REGISTRY)
    yield methods.REGISTRY
    methods.REGISTRY.clear()
    methods.REGISTRY.update(saved)


def test_totp_is_registered_with_its_audit_credential_type() -> None:
    method = methods.get_method("totp")
    assert method.name == "totp"
    assert method.credential_type == "TOTP"
    assert method.label == "Authenticator app"


def test_a_new_method_plugs_in(registry: dict[str, MfaMethod]) -> None:
    webauthn = MethodInfo(name="webauthn", credential_type="WEBAUTHN", label="Security key")
    assert methods.register(webauthn) is webauthn
    assert methods.get_method("webauthn") is webauthn
    # Registering the same description twice (a re-imported module) is harmless.
    methods.register(MethodInfo(name="webauthn", credential_type="WEBAUTHN", label="Security key"))


def test_a_second_method_with_a_taken_name_is_refused(registry: dict[str, MfaMethod]) -> None:
    with pytest.raises(ValueError, match="already registered"):
        methods.register(MethodInfo(name="totp", credential_type="RADIUS", label="x"))
    assert methods.get_method("totp") is methods.TOTP


def test_any_object_with_the_protocol_attributes_registers(
    registry: dict[str, MfaMethod],
) -> None:
    class Radius:
        name = "radius"
        credential_type = "RADIUS"
        label = "RADIUS one-time password"

    methods.register(Radius())
    assert methods.get_method("radius").credential_type == "RADIUS"


def test_unknown_method_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="totp"):
        methods.get_method("sms")


def test_modes_are_always_and_disabled_only_for_now() -> None:
    assert [mode.value for mode in MfaMode] == ["always", "disabled"]
    assert methods.DEFAULT_MODE is MfaMode.ALWAYS
    assert not hasattr(MfaMode, "CONTEXT_AWARE")


def test_mfa_required() -> None:
    assert methods.mfa_required(MfaMode.ALWAYS) is True
    assert methods.mfa_required(MfaMode.DISABLED) is False


@pytest.mark.parametrize(
    ("mode", "devices", "step"),
    [
        (MfaMode.ALWAYS, 0, MfaStep.ENROLL),
        (MfaMode.ALWAYS, 1, MfaStep.CHALLENGE),
        (MfaMode.ALWAYS, 2, MfaStep.CHALLENGE),
        (MfaMode.DISABLED, 0, MfaStep.NONE),
        (MfaMode.DISABLED, 2, MfaStep.NONE),
    ],
)
def test_next_mfa_step(mode: MfaMode, devices: int, step: MfaStep) -> None:
    assert methods.next_mfa_step(mode, confirmed_devices=devices) is step


def test_next_mfa_step_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        methods.next_mfa_step(MfaMode.ALWAYS, confirmed_devices=-1)


@pytest.mark.parametrize(
    ("text", "mode"),
    [("always", MfaMode.ALWAYS), (" ALWAYS ", MfaMode.ALWAYS), ("disabled", MfaMode.DISABLED)],
)
def test_parse_mfa_mode(text: str, mode: MfaMode) -> None:
    assert methods.parse_mfa_mode(text) is mode


@pytest.mark.parametrize("text", ["", "context_aware", "off", "never"])
def test_parse_mfa_mode_refuses_unknown_values(text: str) -> None:
    with pytest.raises(ConfigError, match="always, disabled"):
        methods.parse_mfa_mode(text)
