"""`sekisho radius add|list|remove` and `sekisho user set-radius-username`."""

from __future__ import annotations

import io
import json

import pytest

from sekisho.audit.models import AuditRecord
from sekisho.cli.main import main
from sekisho.mfa.models import RadiusAccount, RadiusServer
from sekisho.mfa.radius_admin import radius_username, server_configs

pytestmark = pytest.mark.django_db

SECRET = "cli-shared-secret-0123456789"


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add(capsys, monkeypatch, name: str, *extra: str, secret: str = SECRET) -> tuple[int, str, str]:
    return run(
        capsys,
        monkeypatch,
        "radius",
        "add",
        name,
        "--host",
        "radius1.example.net",
        *extra,
        stdin=secret + "\n",
    )


def test_add_list_remove(capsys, monkeypatch) -> None:
    code, out, err = add(capsys, monkeypatch, "primary", "--timeout", "2.5", "--retries", "2")
    assert code == 0 and err == ""
    assert out == (
        "added RADIUS server primary (radius1.example.net:1812), position 1 in the failover order\n"
    )
    code, out, _ = add(capsys, monkeypatch, "backup", "--port", "11812")
    assert code == 0 and "position 2" in out
    row = RadiusServer.objects.get(name="primary")
    assert SECRET not in row.sealed_secret
    assert [(c.name, c.secret) for c in server_configs()] == [
        ("primary", SECRET.encode()),
        ("backup", SECRET.encode()),
    ]
    code, out, _ = run(capsys, monkeypatch, "radius", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ORDER", "NAME", "HOST", "PORT", "TIMEOUT", "RETRIES"]
    assert lines[1].split() == ["1", "primary", "radius1.example.net", "1812", "2.5", "2"]
    assert lines[2].split() == ["2", "backup", "radius1.example.net", "11812", "5", "1"]
    code, out, _ = run(capsys, monkeypatch, "radius", "list", "--json")
    listed = json.loads(out)
    assert [s["name"] for s in listed] == ["primary", "backup"]
    assert SECRET not in out and "sealed" not in out
    code, out, _ = run(capsys, monkeypatch, "radius", "remove", "primary")
    assert code == 0 and out == "removed RADIUS server primary\n"
    assert [s.name for s in RadiusServer.objects.all()] == ["backup"]
    audit = json.dumps([r.record for r in AuditRecord.objects.all()])
    assert SECRET not in audit
    assert "radiusServerAdded" in audit and "radiusServerRemoved" in audit


def test_empty_list(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "radius", "list")
    assert code == 0 and "no RADIUS server is configured" in out


def test_short_secret_is_accepted_with_a_warning(capsys, monkeypatch) -> None:
    code, _, err = add(capsys, monkeypatch, "weak", secret="testing123")
    assert code == 0 and "shorter than 16 bytes" in err and "testing123" not in err


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["radius", "add", "r1", "--host", "h"], "", "no shared secret on standard input"),
        (["radius", "add", "r1", "--host", "h", "--port", "0"], SECRET, "--port must be 1..65535"),
        (["radius", "add", "r1", "--host", "h", "--timeout", "0"], SECRET, "--timeout must be"),
        (["radius", "add", "r1", "--host", "h", "--retries", "11"], SECRET, "--retries must be"),
        (["radius", "add", "bad name", "--host", "h"], SECRET, "a RADIUS server name is"),
        (["radius", "add", "r1", "--host", "h h"], SECRET, "--host must be"),
        (["radius", "add", "r1", "--host", "h"], "x" * 200, "longer than 128 bytes"),
        (["radius", "remove", "nothing"], "", "no RADIUS server named 'nothing'"),
        (["user", "set-radius-username", "nobody", "x"], "", "no user named 'nobody'"),
    ],
)
def test_errors_are_one_line_with_exit_status_1(
    capsys, monkeypatch, argv: list[str], stdin: str, message: str
) -> None:
    code, out, err = run(capsys, monkeypatch, *argv, stdin=stdin)
    assert code == 1, (out, err)
    assert err.count("\n") == 1 and err.startswith("sekisho: error: ") and message in err
    if stdin:
        assert stdin not in err
    assert not RadiusServer.objects.exists()


def test_duplicate_name_is_refused(capsys, monkeypatch) -> None:
    assert add(capsys, monkeypatch, "r1")[0] == 0
    code, _, err = add(capsys, monkeypatch, "r1")
    assert code == 1 and "already exists" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["radius"],
        ["radius", "add", "r1"],  # --host missing
        ["radius", "add", "r1", "--host", "h", "--port", "x"],
        ["radius", "add", "r1", "--host", "h", "--secret", "s"],  # no secret in argv, ever
        ["radius", "remove"],
    ],
)
def test_usage_errors_exit_2(capsys, monkeypatch, argv: list[str]) -> None:
    code, _, err = run(capsys, monkeypatch, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("sekisho: error: ")


def test_set_radius_username_and_clear(capsys, monkeypatch, make_user) -> None:
    user = make_user("alice.sato")
    code, out, _ = run(capsys, monkeypatch, "user", "set-radius-username", "alice.sato", "asato")
    assert code == 0 and out == "alice.sato signs in to RADIUS as asato\n"
    assert radius_username(user) == "asato"
    code, out, _ = run(capsys, monkeypatch, "user", "set-radius-username", "alice.sato", "--clear")
    assert code == 0 and out == "alice.sato signs in to RADIUS as alice.sato\n"
    assert RadiusAccount.objects.get(user=user).radius_username == ""
    code, _, err = run(
        capsys, monkeypatch, "user", "set-radius-username", "alice.sato", "x", "--clear"
    )
    assert code == 1 and "not both" in err
    code, _, err = run(capsys, monkeypatch, "user", "set-radius-username", "alice.sato", " bad")
    assert code == 1 and err.startswith("sekisho: error: a RADIUS username must be printable")
