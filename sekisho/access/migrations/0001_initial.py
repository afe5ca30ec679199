"""The IdP's stored policies and attachments, in their own context.

An installation made before the access context existed kept them in the policy app's
tables (policy_storedpolicy, policy_policyattachment): their rows are adopted here, with
application attachments named by the application, and the old tables dropped. A fresh
install gets one policy, AllowAll, attached to the IdP, so IAM's implicit deny holds and
administrators narrow it.
"""

import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

OLD_POLICIES = "policy_storedpolicy"
OLD_ATTACHMENTS = "policy_policyattachment"
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


def adopt_or_seed(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    stored_policy = apps.get_model("access", "StoredPolicy")
    attachment = apps.get_model("access", "PolicyAttachment")
    connection = schema_editor.connection
    tables = connection.introspection.table_names()
    if OLD_POLICIES not in tables:
        policy = stored_policy.objects.create(
            name="AllowAll",
            description="Allows every sign-in and launch; replace or narrow it.",
            document=json.dumps(ALLOW_ALL, indent=2),
        )
        attachment.objects.create(policy=policy, target="idp")
        return
    # In SQL, so that every value (timestamps included) is copied exactly as stored.
    schema_editor.execute(
        "INSERT INTO access_storedpolicy (name, description, document, created_at, updated_at) "
        f"SELECT name, description, document, created_at, updated_at FROM {OLD_POLICIES}"
    )
    # Attachments to applications that no longer exist are dropped with them.
    schema_editor.execute(
        "INSERT INTO access_policyattachment "
        "(policy_id, target, user_id, group_id, application, created_at) "
        "SELECT n.id, a.target, a.user_id, a.group_id, COALESCE(s.name, ''), a.created_at "
        f"FROM {OLD_ATTACHMENTS} a JOIN {OLD_POLICIES} o ON o.id = a.policy_id "
        "JOIN access_storedpolicy n ON n.name = o.name "
        "LEFT JOIN saml_application s ON s.id = a.application_id "
        "WHERE NOT (a.target = 'application' AND s.name IS NULL)"
    )
    for table in (OLD_ATTACHMENTS, OLD_POLICIES):
        schema_editor.execute(
            schema_editor.sql_delete_table % {"table": schema_editor.quote_name(table)}
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('directory', '0002_assignment_moves_to_saml'),
        ('saml', '0003_assignment'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StoredPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=128, unique=True)),
                ('description', models.CharField(blank=True, default='', max_length=1000)),
                ('document', models.TextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='PolicyAttachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('target', models.CharField(choices=[('idp', 'identity provider'), ('group', 'group'), ('user', 'user'), ('application', 'application')], max_length=16)),
                ('application', models.CharField(blank=True, default='', max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('group', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='directory.group')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('policy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attachments', to='access.storedpolicy')),
            ],
            options={
                'indexes': [models.Index(fields=['target', 'application'], name='access_attachment_by_app')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('target', 'idp')), fields=('policy',), name='access_policy_once_on_idp'), models.UniqueConstraint(condition=models.Q(('target', 'group')), fields=('policy', 'group'), name='access_policy_once_per_group'), models.UniqueConstraint(condition=models.Q(('target', 'user')), fields=('policy', 'user'), name='access_policy_once_per_user'), models.UniqueConstraint(condition=models.Q(('target', 'application')), fields=('policy', 'application'), name='access_policy_once_per_application'), models.CheckConstraint(condition=models.Q(models.Q(('application', ''), ('group__isnull', True), ('target', 'idp'), ('user__isnull', True)), models.Q(('application', ''), ('group__isnull', False), ('target', 'group'), ('user__isnull', True)), models.Q(('application', ''), ('group__isnull', True), ('target', 'user'), ('user__isnull', False)), models.Q(('group__isnull', True), ('target', 'application'), ('user__isnull', True), models.Q(('application', ''), _negated=True)), _connector='OR'), name='access_attachment_one_target')],
            },
        ),
        migrations.RunPython(adopt_or_seed, migrations.RunPython.noop),
    ]
