"""The `sekisho` command in-process: verbs, one-line errors, exit codes, no secrets in argv."""

from __future__ import annotations

import base64
import io
import json

import pytest
from lxml import etree

from sekisho.audit.models import AuditRecord
from sekisho.cli.main import main
from sekisho.directory.models import User

pytestmark = pytest.mark.django_db

CONNECT = [
    "app",
    "create-amazon-connect",
    "connect",
    "--region",
    "ap-northeast-1",
    "--instance-id",
    "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "--account-id",
    "111122223333",
    "--role-name",
    "ConnectRole",
    "--provider-name",
    "Sekisho",
    "--destination",
    "ccp",
]


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_lifecycle(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys,
        "user",
        "create",
        "agent1",
        "--email",
        "agent1@example.com",
        "--display-name",
        "Agent One",
        "--password-stdin",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "created user agent1" in out
    user = User.objects.get(username="agent1")
    assert user.password.startswith("argon2$argon2id$")
    code, out, _ = run(capsys, "user", "show", "agent1")
    assert code == 0 and json.loads(out)["display_name"] == "Agent One"
    assert run(capsys, "user", "disable", "agent1")[0] == 0
    assert User.objects.get(username="agent1").status == "disabled"
    assert run(capsys, "user", "enable", "agent1")[0] == 0
    code, out, _ = run(capsys, "user", "list", "--json")
    assert [u["username"] for u in json.loads(out)] == ["agent1"]
    code, out, _ = run(capsys, "user", "reset-mfa", "agent1")
    assert code == 0 and "removed 0" in out
    assert "correct horse" not in json.dumps([r.record for r in AuditRecord.objects.all()])


def test_errors_are_one_line_with_exit_status(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, "user", "show", "nobody")
    assert code == 1 and err.count("\n") == 1 and err.startswith("sekisho: error: no user")
    code, _, err = run(
        capsys,
        "user",
        "create",
        "x y",
        "--email",
        "a@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(
        capsys,
        "user",
        "create",
        "weak",
        "--email",
        "w@example.com",
        "--password-stdin",
        stdin="short\n",
        monkeypatch=monkeypatch,
    )
    assert code == 1 and "12" in err
    assert main(["user", "frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_no_password_argument_exists(capsys) -> None:
    assert main(["user", "create", "a", "--email", "a@example.com", "--password", "x"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_groups_and_assignments(capsys, monkeypatch) -> None:
    run(
        capsys,
        "user",
        "create",
        "agent1",
        "--email",
        "a@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    assert run(capsys, "group", "create", "agents")[0] == 0
    assert run(capsys, "group", "add-member", "agents", "agent1")[0] == 0
    assert run(capsys, *CONNECT)[0] == 0
    code, out, _ = run(capsys, "app", "assign", "connect", "--group", "agents")
    assert code == 0 and "assigned connect to group agents" in out
    code, out, _ = run(capsys, "app", "show", "connect")
    shown = json.loads(out)
    assert shown["assigned_groups"] == ["agents"]
    assert shown["relay_state"].endswith("?destination=%2Fccp-v2%2F")
    code, _, err = run(capsys, "app", "assign", "connect", "--user", "x", "--group", "agents")
    assert code == 2 and "not allowed" in err
    assert run(capsys, "app", "unassign", "connect", "--group", "agents")[0] == 0
    assert run(capsys, "group", "remove-member", "agents", "agent1")[0] == 0
    assert run(capsys, "app", "delete", "connect")[0] == 0
    assert run(capsys, "app", "show", "connect")[0] == 1


def test_invalid_preset_values_are_explained(capsys) -> None:
    bad = [*CONNECT]
    bad[bad.index("111122223333")] = "1234"
    code, _, err = run(capsys, *bad)
    assert code == 1 and "account" in err.lower() and err.count("\n") == 1


def test_username_that_aws_refuses_cannot_be_assigned(capsys, monkeypatch) -> None:
    run(
        capsys,
        "user",
        "create",
        "山田",
        "--email",
        "y@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    run(capsys, *CONNECT)
    code, _, err = run(capsys, "app", "assign", "connect", "--user", "山田")
    assert code == 1 and "RoleSessionName" in err


def test_saml_preview_and_metadata(capsys, monkeypatch) -> None:
    run(
        capsys,
        "user",
        "create",
        "agent1",
        "--email",
        "a@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    run(capsys, *CONNECT)
    run(capsys, "app", "assign", "connect", "--user", "agent1")
    code, out, _ = run(capsys, "saml", "preview", "--app", "connect", "--user", "agent1")
    assert code == 0
    root = etree.fromstring(base64.b64decode(out.strip()))
    assert root.get("Destination") == "https://signin.aws.amazon.com/saml"
    code, out, _ = run(
        capsys, "saml", "preview", "--app", "connect", "--user", "agent1", "--decode"
    )
    assert code == 0 and "RoleSessionName" in out and "\n  <saml:Issuer>" in out
    code, out, _ = run(capsys, "metadata")
    assert code == 0 and "IDPSSODescriptor" in out


def test_create_saml_app_from_metadata(capsys, tmp_path) -> None:
    from tests.web.saml_helpers import sp_metadata

    path = tmp_path / "sp.xml"
    path.write_bytes(sp_metadata())
    code, out, _ = run(
        capsys,
        "app",
        "create-saml",
        "sp",
        "--metadata",
        str(path),
        "--name-id-format",
        "persistent",
        "--attribute",
        "mail=${user:email};basic",
    )
    assert code == 0 and "https://sp.example.test/metadata" in out
    missing = run(capsys, "app", "create-saml", "sp2", "--metadata", str(tmp_path / "nope.xml"))
    assert missing[0] == 1 and "cannot read" in missing[2]
    (tmp_path / "bad.xml").write_text("<md:EntityDescriptor")
    bad = run(capsys, "app", "create-saml", "sp3", "--metadata", str(tmp_path / "bad.xml"))
    assert bad[0] == 1 and bad[2].count("\n") == 1
    mapping = run(
        capsys, "app", "create-saml", "sp4", "--metadata", str(path), "--attribute", "novalue"
    )
    assert mapping[0] == 1


def test_audit_tail_prints_json_lines(capsys, monkeypatch) -> None:
    run(capsys, "group", "create", "agents")
    code, out, _ = run(capsys, "audit", "tail", "-n", "5")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["eventName"] == "CreateGroup"
    assert lines[-1]["eventVersion"] == "1.11"


def test_aws_bootstrap_prints_a_root_key(capsys) -> None:
    code, out, _ = run(capsys, "aws", "bootstrap", "--account-id", "111122223333")
    keys = json.loads(out)
    assert code == 0 and keys["AccountId"] == "111122223333"
    assert keys["AccessKeyId"].startswith("AKIA") and len(keys["SecretAccessKey"]) == 40
    code, _, err = run(capsys, "aws", "bootstrap", "--account-id", "12")
    assert code == 1 and "12-digit" in err and "unexpected" not in err


def test_connect_logout_url(capsys) -> None:
    """`--logout-url`: the instance logout Sekisho's sign-out requests (no SAML SLO)."""
    url = "https://agents.my.connect.aws/connect/logout"
    code, _, _ = run(capsys, *CONNECT, "--logout-url", url)
    assert code == 0
    code, out, _ = run(capsys, "app", "show", "connect")
    assert json.loads(out)["preset"]["logout_url"] == url
    code, _, err = run(capsys, *CONNECT[:2], "other", *CONNECT[3:], "--logout-url", "/logout")
    assert code == 1 and err.count("\n") == 1 and "logout_url: expected an https://" in err
