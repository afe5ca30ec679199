"""An emulated AWS account made before issue 13 upgrades without losing anything.

Its role sessions learn their role's ARN and unique id (so they outlive the role), and
each Connect instance gets the default authentication profile new instances come with.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("emulator", "0005_emergency_sessions")]


# Serialized rollback: the flush after this test must give later tests back the
# migrations' own rows.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sessions_and_instances_made_before_are_carried_over() -> None:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    now = datetime(2026, 11, 27, 5, 3, tzinfo=UTC)
    account = apps.get_model("emulator", "Account").objects.create(
        account_id="111122223333", created=now
    )
    role = apps.get_model("emulator", "Role").objects.create(
        account=account,
        name="Federation",
        name_key="federation",
        arn="arn:aws:iam::111122223333:role/Federation",
        role_id="AROAEXAMPLEEXAMPLE123",
        trust_policy="{}",
        created=now,
    )
    apps.get_model("emulator", "AccessKey").objects.create(
        account=account,
        access_key_id="ASIAEXAMPLE000000001",
        sealed_secret="x",
        role=role,
        session_name="agent1",
        session_token_sha256="0" * 64,
        created=now,
    )
    apps.get_model("emulator", "ConnectInstance").objects.create(
        account=account,
        instance_id="0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7",
        region="ap-northeast-1",
        arn="arn:aws:connect:ap-northeast-1:111122223333:instance/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7",
        alias="before",
        alias_key="before",
        identity_management_type="SAML",
        inbound_calls_enabled=True,
        outbound_calls_enabled=True,
        created=now,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(leaves)

    from sekisho.emulator.models import AccessKey, ConnectAuthenticationProfile, Role

    key = AccessKey.objects.get(access_key_id="ASIAEXAMPLE000000001")
    assert (key.session_role_arn, key.session_role_unique_id) == (
        "arn:aws:iam::111122223333:role/Federation",
        "AROAEXAMPLEEXAMPLE123",
    )
    Role.objects.filter(name="Federation").delete()
    key.refresh_from_db()
    assert key.role is None and key.session_role_arn  # the session outlives its role
    (profile,) = ConnectAuthenticationProfile.objects.all()
    assert profile.is_default and profile.allowed_ips == [] and profile.name == "Default"
