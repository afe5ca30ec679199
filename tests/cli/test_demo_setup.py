"""`sekisho demo --no-serve`: sets up the walkthrough and prints what to do."""

from __future__ import annotations

import json
import re

import pytest

from sekisho.cli.main import main
from sekisho.config import get_config
from sekisho.directory.models import User
from sekisho.saml.models import Application

pytestmark = pytest.mark.django_db


def test_demo_sets_up_user_app_and_policy_example(capsys) -> None:
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    password = re.search(r"password\s+(\S+)", out)
    assert password is not None
    user = User.objects.get(username="agent1")
    assert user.check_password(password.group(1))
    # Truly initial: agent1 must choose their own at the first sign-in.
    assert user.must_change_password
    app = Application.objects.get(name="amazon-connect")
    assert app.default_acs().endswith("/aws/saml")
    inspector = Application.objects.get(name="connect-inspector")
    assert inspector.default_acs().endswith("/saml/inspector")
    from sekisho.emulator.models import ConnectInstance, ConnectUser, Role

    instance = ConnectInstance.objects.get(alias="sekisho-demo")
    assert instance.identity_management_type == "SAML"
    assert app.preset["instance_id"] == instance.instance_id
    assert ConnectUser.objects.filter(instance=instance, username="agent1").exists()
    assert Role.objects.filter(name="ConnectFederationRole").exists()
    example = get_config().data_dir / "demo-policies" / "office-only.json"
    document = json.loads(example.read_text())
    assert document["Statement"][1]["Condition"]["IpAddress"]["aws:SourceIp"] == ["203.0.113.0/24"]
    assert "sekisho policy put OfficeOnly" in out
    # Running it again refreshes the password instead of failing.
    assert main(["demo", "--no-serve"]) == 0
    again = re.search(r"password\s+(\S+)", capsys.readouterr().out)
    assert again is not None and again.group(1) != password.group(1)
    # Run again, agent1 starts over: a temporary password again, no MFA devices.
    user.refresh_from_db()
    assert user.must_change_password
