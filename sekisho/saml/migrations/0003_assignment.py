"""Application assignments live with applications; rows of directory_assignment move here."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

OLD_TABLE = "directory_assignment"


def adopt_old_rows(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    # In SQL, so that every value (timestamps included) is copied exactly as stored.
    schema_editor.execute(
        "INSERT INTO saml_assignment (application_id, user_id, group_id, created_at) "
        "SELECT application_id, user_id, group_id, created_at FROM directory_assignment"
    )
    schema_editor.execute(
        schema_editor.sql_delete_table % {"table": schema_editor.quote_name(OLD_TABLE)}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("saml", "0002_application_require_mfa"),
        ("directory", "0002_assignment_moves_to_saml"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Assignment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "application",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="saml.application",
                    ),
                ),
                (
                    "group",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="directory.group",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("group__isnull", True), ("user__isnull", False)),
                            models.Q(("group__isnull", False), ("user__isnull", True)),
                            _connector="OR",
                        ),
                        name="saml_assignment_user_xor_group",
                    ),
                    models.UniqueConstraint(
                        fields=("application", "user"), name="saml_assignment_unique_user"
                    ),
                    models.UniqueConstraint(
                        fields=("application", "group"), name="saml_assignment_unique_group"
                    ),
                ],
            },
        ),
        migrations.RunPython(adopt_old_rows, migrations.RunPython.noop),
    ]
