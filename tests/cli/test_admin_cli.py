"""`sekisho api-token`, `user grant-role|unlock|import|export|…`, `settings`: same services."""

from __future__ import annotations

import io
import json
import sys

import pytest

from sekisho.admin import roles, tokens
from sekisho.audit.models import AuditRecord
from sekisho.cli.main import main
from sekisho.directory.models import DirectorySettings, User

pytestmark = pytest.mark.django_db


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(
            sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        )
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_api_tokens_print_once_and_list_without_secrets(capsys) -> None:
    code, out, err = run(
        capsys, "api-token", "create", "terraform", "--role", "auditor", "--expires-days", "7"
    )
    assert code == 0 and out.startswith("sek_") and "shown only now" in err
    value = out.strip()
    assert tokens.authenticate(value).role == "auditor"
    code, out, _ = run(capsys, "api-token", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["name"] == "terraform" and value not in out
    assert run(capsys, "api-token", "revoke", "terraform")[0] == 0
    code, _, err = run(capsys, "api-token", "revoke", "nosuch")
    assert code == 1 and err.count("\n") == 1 and "no API token named" in err
    code, _, err = run(capsys, "api-token", "create", "x", "--role", "root")
    assert code == 2 and "invalid choice" in err
    actor = AuditRecord.objects.get(event_name="CreateApiToken").record["userIdentity"]
    assert actor["principalId"].startswith("cli:") and actor["invokedBy"] == "cli"


def test_roles_unlock_update_delete(capsys, make_user) -> None:
    make_user("alice")
    assert run(capsys, "user", "grant-role", "alice", "helpdesk")[0] == 0
    assert roles.roles_of(User.objects.get(username="alice")) == {roles.Role.HELPDESK}
    code, out, _ = run(capsys, "user", "show", "alice")
    assert json.loads(out)["roles"] == ["helpdesk"]
    assert run(capsys, "user", "revoke-role", "alice", "helpdesk")[0] == 0
    assert run(capsys, "user", "unlock", "alice")[0] == 0
    assert run(capsys, "user", "update", "alice", "--time-zone", "Asia/Tokyo")[0] == 0
    assert User.objects.get(username="alice").time_zone == "Asia/Tokyo"
    code, _, err = run(capsys, "user", "update", "alice", "--time-zone", "Mars/Base")
    assert code == 1 and "IANA time zone" in err
    code, out, _ = run(capsys, "user", "sessions", "alice")
    assert code == 0 and "no signed-in session" in out
    assert run(capsys, "user", "delete", "alice")[0] == 0
    assert not User.objects.filter(username="alice").exists()


def test_temporary_passwords_from_the_cli(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys,
        "user",
        "create",
        "bob",
        "--email",
        "bob@example.com",
        "--password-stdin",
        "--temporary",
        stdin="correct horse battery staple\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "temporary" in out
    assert User.objects.get(username="bob").must_change_password


def test_import_export_and_settings(capsys, tmp_path) -> None:
    good = tmp_path / "users.csv"
    good.write_text("username,email\ncarol,carol@example.com\ndave,bad\n")
    code, out, err = run(capsys, "user", "import", str(good), "--dry-run")
    assert code == 1 and "1 bad" in out and "line 3 email" in err
    code, out, err = run(capsys, "user", "import", str(good))
    assert code == 1 and "nothing was imported" in err and not User.objects.exists()
    code, out, _ = run(capsys, "user", "import", str(good), "--skip-bad")
    assert code == 0 and "created 1 user(s)" in out
    exported = tmp_path / "out.csv"
    assert run(capsys, "user", "export", "--output", str(exported))[0] == 0
    assert "carol@example.com" in exported.read_text(encoding="utf-8-sig")
    code, _, err = run(capsys, "user", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot read" in err
    code, out, _ = run(capsys, "settings", "set", "--time-zone", "Asia/Tokyo")
    assert code == 0 and json.loads(out) == {"time_zone": "Asia/Tokyo"}
    assert DirectorySettings.current().time_zone == "Asia/Tokyo"
