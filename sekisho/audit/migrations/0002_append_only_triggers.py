"""Database triggers that make the audit table append-only below the application too."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS audit_auditrecord_no_update BEFORE UPDATE ON audit_auditrecord "
    "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION audit_auditrecord_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'audit records are append-only'; END; $$ LANGUAGE plpgsql;""",
    "DROP TRIGGER IF EXISTS audit_auditrecord_no_change ON audit_auditrecord;",
    "CREATE TRIGGER audit_auditrecord_no_change BEFORE UPDATE OR DELETE ON audit_auditrecord "
    "FOR EACH ROW EXECUTE FUNCTION audit_auditrecord_append_only();",
]


def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Deletes stay possible on SQLite only because Django's test runner empties tables with
    # DELETE there; on PostgreSQL it uses TRUNCATE, which row triggers do not see.
    vendor = schema_editor.connection.vendor
    statements = SQLITE if vendor == "sqlite" else POSTGRES if vendor == "postgresql" else []
    for statement in statements:
        schema_editor.execute(statement)


def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditrecord_no_update;")
    elif vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS audit_auditrecord_no_change ON audit_auditrecord;"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
