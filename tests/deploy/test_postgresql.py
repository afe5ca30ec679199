"""docs/deploy/postgresql.md as written: a least-privilege role serves Sekisho (issue 9).

On the PostgreSQL pass of scripts/run-tests.sh (DATABASE_URL names a throwaway cluster
where the test's role is a superuser), the documented statements create an owner role, an
app role and a database (names made unique); `sekisho init` migrates as the owner; then
`sekisho serve` and the CLI run as the app role. The app role can do its work, cannot
create, update, delete or truncate what it must not, and a worker whose connection the
server dropped answers the next request normally (CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sekisho.config import DatabaseSettings, parse_database_url
from tests.conftest import PASSWORD
from tests.deploy.agent import Agent
from tests.servers import REPO, Instance, free_port

psycopg = pytest.importorskip("psycopg")
errors = pytest.importorskip("psycopg.errors")

DOC = REPO / "docs" / "deploy" / "postgresql.md"


@dataclass(frozen=True)
class Cluster:
    """The test cluster reached through DATABASE_URL, as its superuser."""

    settings: DatabaseSettings

    def connect(self, dbname: str | None = None, user: str | None = None) -> Any:
        return psycopg.connect(
            host=self.settings.host,
            port=self.settings.port,
            user=user or self.settings.user,
            password=self.settings.password or None,
            dbname=dbname or self.settings.name,
            autocommit=True,
        )

    def url(self, user: str, dbname: str) -> str:
        return f"postgresql://{user}@{self.settings.host}:{self.settings.port}/{dbname}"


@dataclass(frozen=True)
class Names:
    owner: str
    app: str
    database: str

    def apply(self, sql: str) -> str:
        sql = re.sub(r"\bsekisho_owner\b", self.owner, sql)
        sql = re.sub(r"\bsekisho_app\b", self.app, sql)
        return re.sub(r"\bsekisho\b", self.database, sql)


def documented_sql() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 3, "docs/deploy/postgresql.md should hold three SQL blocks"
    return blocks


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("needs PostgreSQL: scripts/run-tests.sh's PostgreSQL pass sets DATABASE_URL")
    found = Cluster(parse_database_url(url))
    with found.connect() as conn:
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not superuser.fetchone()[0]:
            pytest.skip("DATABASE_URL's role is not a superuser: cannot create roles here")
    return found


@pytest.fixture(scope="module")
def names(cluster: Cluster) -> Iterator[Names]:
    suffix = secrets.token_hex(4)
    made = Names(f"sekisho_owner_{suffix}", f"sekisho_app_{suffix}", f"sekisho_{suffix}")
    first, second, _ = documented_sql()
    try:
        with cluster.connect() as conn:
            for statement in made.apply(first).split(";"):
                if statement.strip():
                    conn.execute(statement)
        with cluster.connect(made.database) as conn:
            conn.execute(made.apply(second))
        yield made
    finally:
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {made.database} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {made.app}")
            conn.execute(f"DROP ROLE IF EXISTS {made.owner}")


def test_the_app_role_serves_and_can_only_append_to_the_audit_trail(
    cluster: Cluster, names: Names, tmp_path: Path
) -> None:
    def installation(role: str) -> Instance:
        url = cluster.url(role, names.database)
        return Instance(root=tmp_path, port=free_port(), database_url=url)

    installation(names.owner).cli("init", "--quiet")  # migrations, as the owner
    with cluster.connect(names.database, names.owner) as conn:
        conn.execute(names.apply(documented_sql()[2]))

    app = installation(names.app)  # same data directory, the app role
    try:
        node = app.start(workers=1)  # `sekisho serve` runs `init` first: nothing to migrate
        app.cli(
            "user", "create", "erin", "--email", "erin@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip

        def wrong_password() -> int:
            agent = Agent(node.url, source="127.0.0.2")
            page = agent.get("/signin")
            assert page.status == 200, node.log.read_text()[-3000:]
            form = {"csrfmiddlewaretoken": page.csrf_token(), "username": "erin", "password": "x"}
            return agent.post("/signin", form).status

        assert wrong_password() == 401
        # The database drops the worker's connection (a restart, a failover): the worker
        # notices before reusing it and answers the next request normally.
        with cluster.connect() as conn:
            dropped = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE usename = %s AND datname = %s",
                (names.app, names.database),
            ).fetchone()[0]
        assert dropped >= 1
        assert wrong_password() == 401
        lines = app.cli("audit", "tail", "-n", "1000").splitlines()
        events = [json.loads(line)["eventName"] for line in lines]
        assert events.count("CredentialVerification") == 2
    finally:
        app.stop()

    with cluster.connect(names.database, names.app) as conn:
        assert conn.execute("SELECT count(*) FROM audit_auditrecord").fetchone()[0] > 0
        for forbidden in (
            "UPDATE audit_auditrecord SET event_name = event_name",
            "DELETE FROM audit_auditrecord",
            "TRUNCATE audit_auditrecord",
            "CREATE TABLE sekisho_extra (x int)",
            "DROP TABLE directory_user",
            "ALTER TABLE directory_user ADD COLUMN x int",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(forbidden)


def test_a_backup_restored_as_documented_keeps_the_app_role_least_privileged(
    cluster: Cluster, names: Names, tmp_path: Path
) -> None:
    """`sekisho backup` as the app role; `sekisho restore` as the owner into a database
    prepared by steps 1 and 2: the audit table's revoked privileges come back with it."""
    owner_url = cluster.url(names.owner, names.database)
    Instance(root=tmp_path / "live", port=free_port(), database_url=owner_url).cli(
        "init", "--quiet"
    )
    with cluster.connect(names.database, names.owner) as conn:
        conn.execute(names.apply(documented_sql()[2]))
    app_url = cluster.url(names.app, names.database)
    live = Instance(root=tmp_path / "live", port=free_port(), database_url=app_url)
    live.cli(
        "user", "create", "frank", "--email", "frank@example.com", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    live.cli("backup", str(tmp_path / "backup"))

    restored_names = Names(names.owner, names.app, f"{names.database}_restored")
    first, second, _ = documented_sql()
    try:
        with cluster.connect() as conn:
            for statement in restored_names.apply(first).split(";"):
                if statement.strip() and "CREATE ROLE" not in statement:
                    conn.execute(statement)
        owner = Instance(
            root=tmp_path / "restored",
            port=free_port(),
            database_url=cluster.url(names.owner, restored_names.database),
        )
        # Step 2's default privileges would widen the dump's grants: refused in one line.
        with cluster.connect(restored_names.database) as conn:
            conn.execute(restored_names.apply(second))
        with pytest.raises(AssertionError, match="has default privileges"):
            owner.cli("restore", str(tmp_path / "backup"))
        assert not owner.data.exists()
        # As documented: step 1, then only the schema's owner.
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE {restored_names.database} WITH (FORCE)")
            for statement in restored_names.apply(first).split(";"):
                if statement.strip() and "CREATE ROLE" not in statement:
                    conn.execute(statement)
        with cluster.connect(restored_names.database) as conn:
            conn.execute(f"ALTER SCHEMA public OWNER TO {names.owner}")
        out = owner.cli("restore", str(tmp_path / "backup"))
        assert "restored into" in out
        app = Instance(
            root=tmp_path / "restored",
            port=free_port(),
            database_url=cluster.url(names.app, restored_names.database),
        )
        assert "frank" in app.cli("user", "list")
        with cluster.connect(restored_names.database, names.app) as conn:
            for forbidden in (
                "UPDATE audit_auditrecord SET event_name = event_name",
                "DELETE FROM audit_auditrecord",
                "TRUNCATE audit_auditrecord",
                "CREATE TABLE sekisho_extra (x int)",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(forbidden)
    finally:
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {restored_names.database} WITH (FORCE)")
