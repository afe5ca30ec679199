"""The MFA method registry and the pure decisions of the three modes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sekisho.errors import ConfigError
from sekisho.mfa import methods
from sekisho.mfa.methods import MfaMethod, MfaMode, MfaStep, SignInContext, WithoutDevice


@pytest.fixture
def registry() -> Iterator[dict[str, MfaMethod]]:
    saved = dict(methods.REGISTRY)
    yield methods.REGISTRY
    methods.REGISTRY.clear()
    methods.REGISTRY.update(saved)


def test_every_method_is_registered_with_its_audit_credential_type() -> None:
    expected = {
        "totp": "TOTP",
        "webauthn": "WEBAUTHN",
        "radius": "RADIUS",
        "recovery": "RECOVERY_CODE",
    }
    for name, credential_type in expected.items():
        method = methods.get_method(name)
        assert method.name == name
        assert method.credential_type == credential_type
    assert methods.get_method("totp").max_devices == 2
    assert methods.get_method("webauthn").max_devices == 6  # Identity Center's limit
    assert not methods.get_method("recovery").user_selectable


def test_a_second_method_with_a_taken_name_is_refused(registry: dict[str, MfaMethod]) -> None:
    class Impostor:
        name = "totp"

    with pytest.raises(ValueError, match="already registered"):
        methods.register(Impostor())  # type: ignore[arg-type]
    # Registering the same class again (a re-imported module) is harmless.
    again = type(methods.get_method("totp"))()
    assert methods.register(again) is again


def test_unknown_method_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="totp"):
        methods.get_method("sms")


def test_methods_are_offered_strongest_first() -> None:
    assert methods.ordered(["totp", "radius", "webauthn", "recovery"]) == [
        "webauthn",
        "totp",
        "radius",
        "recovery",
    ]


def test_the_three_modes_of_identity_center() -> None:
    assert [mode.value for mode in MfaMode] == ["context-aware", "always", "disabled"]
    assert methods.DEFAULT_MODE is MfaMode.ALWAYS


@pytest.mark.parametrize(
    ("trusted", "known", "required"),
    [(True, True, False), (True, False, True), (False, True, True), (False, False, True)],
)
def test_context_aware_asks_unless_trusted_browser_and_known_address(
    trusted: bool, known: bool, required: bool
) -> None:
    context = SignInContext(device_trusted=trusted, address_known=known)
    assert methods.mfa_required(MfaMode.CONTEXT_AWARE, context) is required
    # The other modes ignore the context.
    assert methods.mfa_required(MfaMode.ALWAYS, context) is True
    assert methods.mfa_required(MfaMode.DISABLED, context) is False


def test_context_aware_without_context_fails_safe() -> None:
    assert methods.mfa_required(MfaMode.CONTEXT_AWARE) is True


@pytest.mark.parametrize(
    ("mode", "devices", "without", "step"),
    [
        (MfaMode.ALWAYS, 0, WithoutDevice.REQUIRE_REGISTRATION, MfaStep.ENROLL),
        (MfaMode.ALWAYS, 0, WithoutDevice.BLOCK, MfaStep.BLOCK),
        (MfaMode.ALWAYS, 0, WithoutDevice.ALLOW, MfaStep.NONE),
        (MfaMode.ALWAYS, 1, WithoutDevice.BLOCK, MfaStep.CHALLENGE),
        (MfaMode.ALWAYS, 2, WithoutDevice.ALLOW, MfaStep.CHALLENGE),
        (MfaMode.DISABLED, 0, WithoutDevice.BLOCK, MfaStep.NONE),
        (MfaMode.DISABLED, 2, WithoutDevice.REQUIRE_REGISTRATION, MfaStep.NONE),
        (MfaMode.CONTEXT_AWARE, 1, WithoutDevice.REQUIRE_REGISTRATION, MfaStep.CHALLENGE),
        (MfaMode.CONTEXT_AWARE, 0, WithoutDevice.REQUIRE_REGISTRATION, MfaStep.ENROLL),
    ],
)
def test_next_mfa_step(mode: MfaMode, devices: int, without: WithoutDevice, step: MfaStep) -> None:
    assert methods.next_mfa_step(mode, confirmed_devices=devices, without_device=without) is step


def test_context_aware_skips_for_a_trusted_browser_on_a_known_address() -> None:
    known = SignInContext(device_trusted=True, address_known=True)
    step = methods.next_mfa_step(MfaMode.CONTEXT_AWARE, confirmed_devices=1, context=known)
    assert step is MfaStep.NONE


def test_next_mfa_step_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        methods.next_mfa_step(MfaMode.ALWAYS, confirmed_devices=-1)


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("always", MfaMode.ALWAYS),
        (" ALWAYS ", MfaMode.ALWAYS),
        ("disabled", MfaMode.DISABLED),
        ("context-aware", MfaMode.CONTEXT_AWARE),
    ],
)
def test_parse_mfa_mode(text: str, mode: MfaMode) -> None:
    assert methods.parse_mfa_mode(text) is mode


@pytest.mark.parametrize("text", ["", "context_aware", "off", "never"])
def test_parse_mfa_mode_refuses_unknown_values(text: str) -> None:
    with pytest.raises(ConfigError, match="context-aware, always, disabled"):
        methods.parse_mfa_mode(text)


def test_parse_without_device() -> None:
    assert methods.parse_without_device("block") is WithoutDevice.BLOCK
    with pytest.raises(ConfigError, match="require-registration, block, allow"):
        methods.parse_without_device("maybe")


def test_parse_methods() -> None:
    assert methods.parse_methods("totp, WEBAUTHN") == ("webauthn", "totp")
    for bad in ("", "sms", "totp,sms", ","):
        with pytest.raises(ConfigError, match="--methods"):
            methods.parse_methods(bad)


def test_parse_networks_and_membership() -> None:
    nets = methods.parse_networks("192.0.2.0/24, 2001:db8::/32\n10.1.2.3")
    assert [str(n) for n in nets] == ["192.0.2.0/24", "2001:db8::/32", "10.1.2.3/32"]
    assert methods.address_in("192.0.2.77", nets)
    assert methods.address_in("::ffff:192.0.2.8", nets)  # IPv4-mapped IPv6
    assert methods.address_in("2001:db8::1", nets)
    assert not methods.address_in("198.51.100.1", nets)
    assert not methods.address_in("not an address", nets)
    with pytest.raises(ConfigError, match="CIDR"):
        methods.parse_networks("192.0.2.0/33")


def test_skip_reason_names_why_no_second_factor_was_asked() -> None:
    trusted = SignInContext(device_trusted=True, address_known=True)
    assert methods.skip_reason(MfaMode.DISABLED) == "MfaDisabled"
    assert methods.skip_reason(MfaMode.DISABLED, trusted) == "MfaDisabled"
    assert methods.skip_reason(MfaMode.CONTEXT_AWARE, trusted) == "TrustedDevice"
    assert methods.skip_reason(MfaMode.CONTEXT_AWARE, SignInContext()) == "NoDeviceAllowed"
    assert methods.skip_reason(MfaMode.ALWAYS, trusted) == "NoDeviceAllowed"
