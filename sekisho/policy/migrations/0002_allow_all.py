"""A fresh install holds an allow-all IdP policy, so IAM's implicit deny holds and admins narrow it."""

import json

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowEverySignInAndLaunch",
            "Effect": "Allow",
            "Action": "sekisho:*",
            "Resource": "*",
        }
    ],
}


def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    stored_policy = apps.get_model("policy", "StoredPolicy")
    attachment = apps.get_model("policy", "PolicyAttachment")
    if stored_policy.objects.exists():
        return
    policy = stored_policy.objects.create(
        name="AllowAll",
        description="Allows every sign-in and launch; replace or narrow it.",
        document=json.dumps(ALLOW_ALL, indent=2),
    )
    attachment.objects.create(policy=policy, target="idp")


class Migration(migrations.Migration):
    dependencies = [("policy", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
