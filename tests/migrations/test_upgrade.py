"""An installation made before the access context (wave 1) upgrades without losing data.

Such a database kept application assignments in directory_assignment and the IdP's
policies in the policy app's tables; `sekisho init` (migrate) must carry every row over
to saml_assignment and the access tables, applications named, and drop the old tables.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ModelState

WAVE_ONE = [
    ("access", None),
    ("saml", "0002_application_require_mfa"),
    ("directory", "0001_initial"),
]


def _old_policy_models() -> list[ModelState]:
    """The policy app's two models as its migration 0001 created them."""
    stored = ModelState(
        "policy",
        "StoredPolicy",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("name", models.CharField(max_length=128, unique=True)),
            ("description", models.CharField(max_length=1000, default="")),
            ("document", models.TextField()),
            ("created_at", models.DateTimeField()),
            ("updated_at", models.DateTimeField()),
        ],
    )
    attachment = ModelState(
        "policy",
        "PolicyAttachment",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("policy", models.ForeignKey("policy.StoredPolicy", models.CASCADE)),
            ("target", models.CharField(max_length=16)),
            ("user", models.ForeignKey("directory.User", models.CASCADE, null=True)),
            ("group", models.ForeignKey("directory.Group", models.CASCADE, null=True)),
            ("application", models.ForeignKey("saml.Application", models.CASCADE, null=True)),
            ("created_at", models.DateTimeField()),
        ],
    )
    return [stored, attachment]


# Serialized rollback: the flush after this test must give later tests back the
# migrations' own rows (AllowAll).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_wave_one_database_keeps_its_assignments_and_policies() -> None:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(WAVE_ONE)
    executor.loader.build_graph()
    state = executor.loader.project_state(WAVE_ONE[1:])
    for model_state in _old_policy_models():
        state.add_model(model_state)
    apps = state.apps
    with connection.schema_editor() as editor:
        # saml/0003 dropped this table when the test database was built: as wave 1 had it.
        editor.create_model(apps.get_model("directory", "Assignment"))
        editor.create_model(apps.get_model("policy", "StoredPolicy"))
        editor.create_model(apps.get_model("policy", "PolicyAttachment"))
    user_model = apps.get_model("directory", "User")
    group_model = apps.get_model("directory", "Group")
    app_model = apps.get_model("saml", "Application")
    alice = user_model.objects.create(
        username="alice", username_key="alice", email="a@example.com", display_name="A"
    )
    agents = group_model.objects.create(name="agents")
    connect = app_model.objects.create(
        name="connect", display_name="Connect", kind="amazon-connect", entity_id="urn:x"
    )
    apps.get_model("directory", "Assignment").objects.create(application=connect, user=alice)
    apps.get_model("directory", "Assignment").objects.create(application=connect, group=agents)
    stored = apps.get_model("policy", "StoredPolicy")
    attachment = apps.get_model("policy", "PolicyAttachment")
    now = datetime(2026, 11, 27, 5, 3, tzinfo=UTC)
    office = stored.objects.create(
        name="OfficeOnly",
        description="the office",
        document=json.dumps({"Version": "2012-10-17", "Statement": []}),
        created_at=now,
        updated_at=now,
    )
    attachment.objects.create(policy=office, target="idp", created_at=now)
    attachment.objects.create(policy=office, target="user", user=alice, created_at=now)
    attachment.objects.create(policy=office, target="group", group=agents, created_at=now)
    attachment.objects.create(
        policy=office, target="application", application=connect, created_at=now
    )

    executor = MigrationExecutor(connection)
    executor.migrate(leaves)

    from sekisho.access.models import PolicyAttachment, StoredPolicy
    from sekisho.saml.models import Assignment

    tables = connection.introspection.table_names()
    for old in ("directory_assignment", "policy_storedpolicy", "policy_policyattachment"):
        assert old not in tables
    assert sorted(
        (a.application.name, a.user_id is not None, a.group_id is not None)
        for a in Assignment.objects.all()
    ) == [("connect", False, True), ("connect", True, False)]

    # Adopted, not seeded: no AllowAll appears beside the installation's own policy.
    assert list(StoredPolicy.objects.values_list("name", "description", "created_at")) == [
        ("OfficeOnly", "the office", now)
    ]
    assert sorted(
        (a.target, a.application)
        for a in PolicyAttachment.objects.filter(policy__name="OfficeOnly")
    ) == [("application", "connect"), ("group", ""), ("idp", ""), ("user", "")]


@pytest.mark.django_db
def test_a_fresh_install_holds_allow_all_on_the_idp() -> None:
    from sekisho.access.models import PolicyAttachment, StoredPolicy

    assert list(StoredPolicy.objects.values_list("name", flat=True)) == ["AllowAll"]
    assert PolicyAttachment.objects.get().target == "idp"
