"""Role sessions keep their role's ARN and unique id, and outlive the role (issue 13)."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def snapshot_roles(apps: Any, schema_editor: Any) -> None:
    """Fill the new columns of every existing role session from its role."""
    access_key = apps.get_model("emulator", "AccessKey")
    for key in access_key.objects.filter(role__isnull=False).select_related("role"):
        key.session_role_arn = key.role.arn
        key.session_role_unique_id = key.role.role_id
        key.save(update_fields=["session_role_arn", "session_role_unique_id"])


class Migration(migrations.Migration):
    dependencies = [("emulator", "0005_emergency_sessions")]

    operations = [
        migrations.AddField(
            model_name="accesskey",
            name="session_role_arn",
            field=models.CharField(blank=True, default="", max_length=2048),
        ),
        migrations.AddField(
            model_name="accesskey",
            name="session_role_unique_id",
            field=models.CharField(blank=True, default="", max_length=21),
        ),
        migrations.RunPython(snapshot_roles, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="accesskey",
            name="role",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="session_keys",
                to="emulator.role",
            ),
        ),
    ]
