"""CSV import and export: a dry run reports every bad row, a real run is all or nothing."""

from __future__ import annotations

import csv
import io
import time

import pytest

from sekisho.admin import csvio
from sekisho.admin.errors import ImportInvalid
from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.directory import services as directory
from sekisho.directory.models import Group, User
from sekisho.saml import assignments

pytestmark = pytest.mark.django_db


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...] = ("username", "email")) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _agents(count: int, *, start: int = 0) -> list[dict[str, str]]:
    return [
        {
            "username": f"agent{n:04d}",
            "email": f"agent{n:04d}@example.com",
            "display_name": f"エージェント {n}",
            "groups": "agents",
        }
        for n in range(start, start + count)
    ]


COLUMNS = ("username", "email", "display_name", "groups")


@pytest.fixture
def agents_group(actor: Actor) -> Group:
    return directory.create_group("agents", actor=actor)


def test_a_thousand_users_in_one_dry_run_and_one_real_run(
    actor: Actor, agents_group: Group
) -> None:
    data = _csv(_agents(1000), COLUMNS)
    started = time.perf_counter()
    dry = csvio.import_users(data, dry_run=True, actor=actor)
    dry_seconds = time.perf_counter() - started
    assert (dry.rows, dry.valid, dry.problems, dry.applied) == (1000, 1000, [], False)
    assert User.objects.count() == 0
    started = time.perf_counter()
    real = csvio.import_users(data, dry_run=False, actor=actor)
    real_seconds = time.perf_counter() - started
    assert real.applied and len(real.created) == 1000
    assert User.objects.count() == 1000
    assert agents_group.members.count() == 1000
    assert User.objects.get(username="agent0042").display_name == "エージェント 42"
    # One CreateUser per user and one ImportUsers summary, each with its actor.
    assert AuditRecord.objects.filter(event_name="CreateUser").count() == 1000
    summary = AuditRecord.objects.get(event_name="ImportUsers").record
    assert summary["requestParameters"] == {"rows": 1000, "created": 1000, "skipped": 0}
    assert summary["userIdentity"]["principalId"] == actor.name
    # Bounded: a checked file of 1,000 rows is seconds, not minutes (2-core CI machine).
    assert dry_seconds < 20 and real_seconds < 60, (dry_seconds, real_seconds)


def test_bad_rows_are_reported_and_nothing_changes(
    actor: Actor, connect_app, agents_group: Group
) -> None:
    assignments.assign(connect_app, group=agents_group, actor=actor)
    directory.create_user(
        username="taken",
        email="taken@example.com",
        display_name=None,
        password=None,
        password_only_factor=False,
        actor=actor,
    )
    rows = _agents(998)
    rows += [
        # A valid Sekisho username that AWS refuses as a RoleSessionName (Connect via the group).
        {
            "username": "山田太郎",
            "email": "yamada@example.com",
            "display_name": "",
            "groups": "agents",
        },
        {"username": "agent0001", "email": "dup@example.com", "display_name": "", "groups": ""},
        {"username": "bademail", "email": "not-an-address", "display_name": "", "groups": ""},
        {"username": "taken", "email": "t2@example.com", "display_name": "", "groups": ""},
        {"username": "nogroup", "email": "n@example.com", "display_name": "", "groups": "nosuch"},
    ]
    data = _csv(rows, COLUMNS)
    before = AuditRecord.objects.count()
    report = csvio.import_users(data, dry_run=False, actor=actor)
    assert not report.applied and report.created == []
    assert User.objects.count() == 1  # only "taken": nothing half-applied
    assert AuditRecord.objects.count() == before
    by_user = {(p.username, p.field, p.code) for p in report.problems}
    assert ("山田太郎", "username", "not_assignable") in by_user
    assert ("agent0001", "username", "duplicate") in by_user
    assert ("bademail", "email", "invalid_email") in by_user
    assert ("taken", "username", "duplicate") in by_user
    assert ("nogroup", "groups", "unknown_group") in by_user
    assert report.bad_rows == 5 and report.valid == 998
    # Lines are the file's (header on line 1): the duplicate is the 1000th data row.
    duplicate = next(p for p in report.problems if p.username == "agent0001")
    assert duplicate.line == 1001 and "line 3" in duplicate.message
    role_session = next(p for p in report.problems if p.username == "山田太郎")
    assert "RoleSessionName" in role_session.message

    skipped = csvio.import_users(data, dry_run=False, skip_bad=True, actor=actor)
    assert skipped.applied and len(skipped.created) == 998
    assert User.objects.count() == 999
    assert not User.objects.filter(username__in=["山田太郎", "bademail", "nogroup"]).exists()


def test_file_level_problems_raise_and_change_nothing(actor: Actor) -> None:
    for data, expected in (
        (b"", "empty"),
        (b"email\nx@example.com\n", "lacks the column"),
        (b"username,email,shoe_size\n", "unknown column"),
        (b"username,email,email\n", "appears twice"),
        (b"\xff\xfe\x00\x00garbage\x00", "NUL"),
    ):
        with pytest.raises(ImportInvalid, match=expected):
            csvio.import_users(data, dry_run=True, actor=actor)
    assert User.objects.count() == 0


def test_shift_jis_from_excel_and_temporary_passwords(actor: Actor) -> None:
    text = (
        "username,email,display_name,password\r\n"
        "sato,sato@example.com,佐藤 花子,correct horse battery staple\r\n"
    )
    report = csvio.import_users(text.encode("cp932"), dry_run=False, actor=actor)
    assert report.applied, report.problems
    user = User.objects.get(username="sato")
    assert user.display_name == "佐藤 花子"
    assert user.must_change_password and user.check_password("correct horse battery staple")
    weak = csvio.import_users(
        _csv(
            [{"username": "weak", "email": "w@example.com", "password": "password"}],
            ("username", "email", "password"),
        ),
        dry_run=True,
        actor=actor,
    )
    assert [(p.field, p.code) for p in weak.problems] == [("password", "weak_password")]


def test_export_escapes_formulas_and_imports_back(actor: Actor, agents_group: Group) -> None:
    directory.create_user(
        username="=cmd",
        email="cmd@example.com",
        display_name="@SUM(A1)",
        password=None,
        password_only_factor=False,
        actor=actor,
    )
    directory.add_member(agents_group, User.objects.get(username="=cmd"), actor=actor)
    exported = csvio.export_csv()
    assert exported.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert rows[0] == list(csvio.EXPORT_COLUMNS)
    assert rows[1][:4] == ["'=cmd", "cmd@example.com", "'@SUM(A1)", "agents"]
    User.objects.all().delete()
    report = csvio.import_users(exported, dry_run=False, actor=actor)
    assert report.applied, report.problems
    again = User.objects.get(username="=cmd")
    assert again.display_name == "@SUM(A1)" and again.group_names() == ("agents",)
