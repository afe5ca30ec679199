"""`sekisho mfa configure|show` and `sekisho app require-mfa`."""

from __future__ import annotations

import json

import pytest

from sekisho.audit.models import AuditRecord
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import MfaMode, WithoutDevice
from tests.cli.test_cli import CONNECT, run

pytestmark = pytest.mark.django_db


def test_configure_changes_only_what_is_given(capsys) -> None:
    code, out, err = run(
        capsys,
        "mfa",
        "configure",
        "--mode",
        "context-aware",
        "--without-device",
        "block",
        "--methods",
        "webauthn",
        "--trust-days",
        "14",
        "--known-networks",
        "192.0.2.0/24,2001:db8::/32",
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["mode"] == "context-aware" and shown["without_device"] == "block"
    assert shown["methods"] == ["webauthn"] and shown["trust_days"] == 14
    assert shown["known_networks"] == ["192.0.2.0/24", "2001:db8::/32"]
    code, out, _ = run(capsys, "mfa", "configure", "--mode", "always")
    policy = mfa.current_policy()
    assert policy.mode is MfaMode.ALWAYS and policy.without_device is WithoutDevice.BLOCK
    assert policy.methods == ("webauthn",) and policy.trust_days == 14
    assert json.loads(run(capsys, "mfa", "show")[1])["mode"] == "always"
    record = AuditRecord.objects.filter(event_name="UpdateMfaSettings").last()
    assert record is not None and record.record["requestParameters"] == {"mode": "always"}


def test_webauthn_settings(capsys) -> None:
    code, out, err = run(
        capsys,
        "mfa",
        "configure",
        "--user-verification",
        "required",
        "--aaguids",
        "08987058CADC4B81B6E130DE50DCBE96, fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["webauthn_user_verification"] == "required"
    assert shown["webauthn_aaguids"] == [
        "08987058-cadc-4b81-b6e1-30de50dcbe96",
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
    ]
    assert json.loads(run(capsys, "mfa", "configure", "--aaguids", "")[1])["webauthn_aaguids"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "sometimes"], "MFA mode must be one of context-aware, always, disabled"),
        (["--without-device", "maybe"], "--without-device must be one of"),
        (["--methods", "sms"], "--methods must list one or more of"),
        (["--methods", ""], "--methods must list one or more of"),
        (["--trust-days", "0"], "--trust-days must be between 1 and 365"),
        (["--trust-days", "400"], "--trust-days must be between 1 and 365"),
        (["--known-networks", "10.0.0.0/99"], "expected a CIDR block"),
        (["--aaguids", "not-a-uuid"], "--aaguids expects UUIDs"),
        ([], "nothing to change"),
    ],
)
def test_configure_errors_are_one_line(capsys, argv: list[str], message: str) -> None:
    before = mfa.current_policy()
    code, _, err = run(capsys, "mfa", "configure", *argv)
    assert code == 1 and err.count("\n") == 1 and message in err, err
    assert mfa.current_policy() == before


@pytest.mark.parametrize(
    "argv",
    [["--trust-days", "soon"], ["--user-verification", "maybe"], ["--bogus"]],
)
def test_configure_usage_errors(capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, "mfa", "configure", *argv)
    assert code == 2 and err.count("\n") == 1


def test_app_require_mfa(capsys) -> None:
    assert run(capsys, *CONNECT)[0] == 0
    code, out, _ = run(capsys, "app", "require-mfa", "connect")
    assert code == 0 and "connect requires MFA at launch" in out
    assert json.loads(run(capsys, "app", "show", "connect")[1])["require_mfa"] is True
    code, out, _ = run(capsys, "app", "require-mfa", "connect", "--off")
    assert code == 0 and "no longer requires" in out
    assert json.loads(run(capsys, "app", "show", "connect")[1])["require_mfa"] is False
    code, _, err = run(capsys, "app", "require-mfa", "nothing")
    assert code == 1 and err.count("\n") == 1
