"""Users in and out as CSV: a dry run shows every bad row; a real run is all or nothing.

Import columns (header row, any order; only ``username`` and ``email`` are required):
``username, email, display_name, groups, applications, status, time_zone, password``.
``groups`` and ``applications`` are ``;``-separated names that must exist; a password is
temporary (its owner chooses their own at first sign-in). Columns that only an export
writes (``roles``, ``mfa_devices``, …) are ignored, so an export imports back.

Files are UTF-8 (with or without the BOM Excel writes) or, failing that, Shift_JIS
(cp932, what Japanese Excel saves as "CSV"). Exported cells that a spreadsheet would run
as a formula (``= + - @``, tab, CR) are prefixed with ``'``; import removes that prefix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from sekisho.admin import users as admin_users
from sekisho.admin.errors import ImportInvalid
from sekisho.admin.models import RoleGrant
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import errors as directory_errors
from sekisho.directory import rules
from sekisho.directory import services as directory
from sekisho.directory.models import Group, User
from sekisho.errors import SekishoError
from sekisho.mfa import services as mfa
from sekisho.saml import assignments
from sekisho.saml.models import Application, Assignment

IMPORT_COLUMNS = (
    "username",
    "email",
    "display_name",
    "groups",
    "applications",
    "status",
    "time_zone",
    "password",
)
EXPORT_COLUMNS = (
    "username",
    "email",
    "display_name",
    "groups",
    "applications",
    "status",
    "time_zone",
    "roles",
    "mfa_devices",
    "must_change_password",
    "created_at",
    "last_sign_in",
)
REQUIRED = ("username", "email")
MAX_BYTES = 8 * 1024 * 1024
MAX_ROWS = 20_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowProblem:
    """One reason a row cannot be imported: its line in the file, the column, why."""

    line: int
    username: str
    field: str
    code: str
    message: str


@dataclass
class ImportReport:
    """What an import found (and, unless a dry run or refused, did)."""

    dry_run: bool
    rows: int = 0
    valid: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def bad_rows(self) -> int:
        """How many rows have at least one problem."""
        return len({p.line for p in self.problems if p.line})


@dataclass(frozen=True)
class _Row:
    line: int
    username: str
    email: str
    display_name: str
    groups: tuple[str, ...]
    applications: tuple[str, ...]
    status: str
    time_zone: str
    password: str


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM or not), else Shift_JIS; ImportInvalid when neither."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise ImportInvalid("the file is neither UTF-8 nor Shift_JIS text") from None


def _unformula(value: str) -> str:
    if value.startswith("'") and value[1:2] in _FORMULA_START and value[1:2] != "":
        return value[1:]
    return value


def _names(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(";") if part.strip()))


def _read(data: bytes, report: ImportReport) -> list[_Row]:
    if len(data) > MAX_BYTES:
        raise ImportInvalid(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    text = decode(data)
    if "\x00" in text:
        raise ImportInvalid("the file holds NUL characters; it is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportInvalid("the file is empty; expected a header row") from None
    except csv.Error as exc:
        raise ImportInvalid(f"line 1: {exc}") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportInvalid(f"the header row lacks the column(s) {', '.join(missing)}")
    unknown = [h for h in header if h not in IMPORT_COLUMNS and h not in EXPORT_COLUMNS]
    if unknown:
        raise ImportInvalid(
            f"unknown column(s) {', '.join(repr(u[:40]) for u in unknown)}; "
            f"expected {', '.join(IMPORT_COLUMNS)}"
        )
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise ImportInvalid(f"the column {duplicates[0]!r} appears twice in the header")
    rows: list[_Row] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportInvalid(f"more than {MAX_ROWS} rows; split the file")
            if len(values) > len(header):
                report.problems.append(
                    RowProblem(line, "", "", "extra_values", "more values than columns")
                )
                continue
            cells = {h: _unformula(v) for h, v in zip(header, values, strict=False)}
            rows.append(
                _Row(
                    line=line,
                    username=cells.get("username", ""),
                    email=cells.get("email", ""),
                    display_name=cells.get("display_name", ""),
                    groups=_names(cells.get("groups", "")),
                    applications=_names(cells.get("applications", "")),
                    status=cells.get("status", "").strip().lower(),
                    time_zone=cells.get("time_zone", "").strip(),
                    password=cells.get("password", ""),
                )
            )
    except csv.Error as exc:
        raise ImportInvalid(f"line {reader.line_num}: {exc}") from None
    return rows


class _Catalogue:
    """The groups and applications rows may name, and which AWS apps each group reaches."""

    def __init__(self) -> None:
        self.groups = {g.name: g for g in Group.objects.all()}
        self.apps = {a.name: a for a in Application.objects.all()}
        self.apps_of_group: dict[str, list[Application]] = {}
        for assignment in Assignment.objects.filter(group__isnull=False).select_related(
            "group", "application"
        ):
            assert assignment.group is not None
            self.apps_of_group.setdefault(assignment.group.name, []).append(assignment.application)


def _problems(row: _Row, catalogue: _Catalogue, seen: dict[str, int]) -> Iterator[RowProblem]:
    """Every problem of one row (validated exactly as creating the user would)."""

    def problem(column: str, code: str, message: str) -> RowProblem:
        return RowProblem(row.line, row.username[:128], column, code, message)

    username = row.username
    try:
        username = rules.validate_username(row.username)
    except SekishoError as exc:
        yield problem("username", exc.code, str(exc))
        username = ""
    if username:
        key = rules.username_key(username)
        if key in seen:
            yield problem(
                "username", "duplicate", f"{username!r} appears again (first on line {seen[key]})"
            )
        else:
            seen[key] = row.line
    email = row.email
    try:
        email = rules.validate_email(row.email)
    except SekishoError as exc:
        yield problem("email", exc.code, str(exc))
    if row.display_name:
        try:
            rules.validate_display_name(row.display_name)
        except SekishoError as exc:
            yield problem("display_name", exc.code, str(exc))
    if row.status not in ("", "active", "disabled"):
        yield problem(
            "status", "invalid_status", f"status is active or disabled, got {row.status[:20]!r}"
        )
    try:
        rules.validate_time_zone(row.time_zone, allow_empty=True)
    except SekishoError as exc:
        yield problem("time_zone", exc.code, str(exc))
    if row.password:
        try:
            admin_users.check_password(row.password, username=username, email=email)
        except directory_errors.WeakPassword as exc:
            yield problem("password", exc.code, str(exc))
    candidate = User(username=username or row.username)
    for name in row.groups:
        if name not in catalogue.groups:
            yield problem("groups", "unknown_group", f"no group named {name[:130]!r}")
            continue
        for app in catalogue.apps_of_group.get(name, []):
            reason = assignments.assignable_problem(app, candidate)
            if reason and username:
                yield problem(
                    "username",
                    "not_assignable",
                    f"group {name!r} gives {app.name!r}, which cannot be used: {reason}",
                )
    for name in row.applications:
        direct = catalogue.apps.get(name)
        if direct is None:
            yield problem("applications", "unknown_application", f"no application {name[:70]!r}")
            continue
        reason = assignments.assignable_problem(direct, candidate)
        if reason and username:
            yield problem("username", "not_assignable", f"{direct.name!r} cannot be used: {reason}")


def import_users(
    data: bytes,
    *,
    dry_run: bool,
    skip_bad: bool = False,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> ImportReport:
    """Check every row, then (unless ``dry_run``) create the users in one transaction.

    Any bad row refuses the whole file (nothing changes) unless ``skip_bad``, which
    creates the good rows and reports the others. File-level problems (encoding, header)
    raise ImportInvalid.
    """
    report = ImportReport(dry_run=dry_run)
    rows = _read(data, report)
    report.rows = len(rows) + report.bad_rows
    catalogue = _Catalogue()
    existing = set(
        User.objects.filter(
            username_key__in=[rules.username_key(r.username) for r in rows]
        ).values_list("username_key", flat=True)
    )
    seen: dict[str, int] = {}
    good: list[_Row] = []
    for row in rows:
        found = list(_problems(row, catalogue, seen))
        key = rules.username_key(row.username)
        if key in existing and not any(p.code == "duplicate" for p in found):
            found.append(
                RowProblem(
                    row.line,
                    row.username[:128],
                    "username",
                    "duplicate",
                    f"a user named {row.username!r} already exists",
                )
            )
        report.problems.extend(found)
        if not found:
            good.append(row)
    report.valid = len(good)
    if dry_run or (report.problems and not skip_bad) or not good:
        return report
    try:
        with transaction.atomic():
            for row in good:
                _create(row, catalogue, actor=actor, clock=clock)
                report.created.append(row.username)
            admin_audit(
                actor,
                "ImportUsers",
                {
                    "rows": report.rows,
                    "created": len(report.created),
                    "skipped": report.bad_rows,
                },
                clock,
            )
    except SekishoError as exc:
        # Someone changed the directory between the check and now: nothing was applied.
        report.created = []
        report.problems.append(RowProblem(0, "", "", exc.code, str(exc)))
        return report
    report.applied = True
    return report


def _create(row: _Row, catalogue: _Catalogue, *, actor: Actor, clock: Clock) -> None:
    user = directory.create_user(
        username=row.username,
        email=row.email,
        display_name=row.display_name or None,
        password=row.password or None,
        password_only_factor=mfa.password_is_only_factor(),
        must_change_password=bool(row.password),
        time_zone=row.time_zone,
        actor=actor,
        clock=clock,
    )
    for name in row.groups:
        directory.add_member(catalogue.groups[name], user, actor=actor, clock=clock)
    for name in row.applications:
        assignments.assign(catalogue.apps[name], user=user, actor=actor, clock=clock)
    if row.status == "disabled":
        directory.set_status(user, active=False, actor=actor, clock=clock)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows() -> Iterable[list[str]]:
    """Every user as CSV cells (header first), with a bounded number of queries."""
    yield list(EXPORT_COLUMNS)
    direct: dict[int, list[str]] = {}
    for user_id, app in Assignment.objects.filter(user__isnull=False).values_list(
        "user_id", "application__name"
    ):
        direct.setdefault(int(user_id), []).append(app)
    held: dict[int, list[str]] = {}
    for grant in RoleGrant.objects.order_by("role"):
        held.setdefault(int(grant.user_id), []).append(grant.role)
    counts = mfa.device_counts()
    for user in User.objects.order_by("username").prefetch_related("groups_joined"):
        yield [
            _cell(v)
            for v in (
                user.username,
                user.email,
                user.display_name,
                ";".join(sorted(g.name for g in user.groups_joined.all())),
                ";".join(sorted(direct.get(user.pk, []))),
                user.status,
                user.time_zone,
                ";".join(held.get(user.pk, [])),
                counts.get(user.pk, 0),
                "true" if user.must_change_password else "false",
                user.created_at.isoformat() if user.created_at else "",
                user.last_login.isoformat() if user.last_login else "",
            )
        ]


def export_csv() -> bytes:
    """Every user as a UTF-8 CSV file with a BOM (so Excel reads Japanese names right)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(export_rows())
    return ("\ufeff" + out.getvalue()).encode("utf-8")
