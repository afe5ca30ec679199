"""`sekisho demo`: a demo user and an Amazon Connect app whose ACS is the built-in inspector."""

from __future__ import annotations

import os
import secrets
import string
import sys

from sekisho.audit.writer import RequestContext
from sekisho.config import get_config
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.directory.services import Actor
from sekisho.saml import services as saml
from sekisho.saml.models import Application

DEMO_USER = "agent1"
DEMO_APP = "amazon-connect"
DEMO_ACCOUNT = "111122223333"
DEMO_INSTANCE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def _one_time_password() -> str:
    alphabet = string.ascii_letters + string.digits
    # 16 random characters from 62: about 95 bits, well past any guessing budget.
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def setup() -> tuple[str, str]:
    """Create (or refresh) the demo user and app; returns (username, password)."""
    actor = Actor(
        name="demo", context=RequestContext(source_ip="127.0.0.1", user_agent="sekisho-demo")
    )
    saml.init_instance(actor=actor, quiet=True)
    config = get_config()
    password = _one_time_password()
    user = User.objects.filter(username=DEMO_USER).first()
    if user is None:
        user = directory.create_user(
            username=DEMO_USER,
            email="agent1@example.com",
            display_name="Agent One",
            password=password,
            actor=actor,
        )
    else:
        directory.set_password(user, password, actor=actor)
        directory.set_status(user, active=True, actor=actor)
    app = Application.objects.filter(name=DEMO_APP).first()
    if app is None:
        app = saml.create_amazon_connect_app(
            name=DEMO_APP,
            display_name="Amazon Connect (demo)",
            region="ap-northeast-1",
            instance_id=DEMO_INSTANCE,
            account_id=DEMO_ACCOUNT,
            role_name="ConnectFederationRole",
            provider_name="Sekisho",
            destination="ccp",
            acs="regional",
            session_duration=43200,
            # Until the local AWS side exists, Sekisho's own inspector stands in for AWS sign-in.
            signin_url=config.url("/saml/inspector"),
            console_url=None,
            actor=actor,
        )
    directory.assign(app, user=user, actor=actor)
    return DEMO_USER, password


OFFICE_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "SignInFromAnywhere",
            "Effect": "Allow",
            "Action": "sekisho:SignIn",
            "Resource": "*",
        },
        {
            "Sid": "ConnectOnlyFromTheOffice",
            "Effect": "Allow",
            "Action": "sekisho:LaunchApplication",
            "Resource": f"arn:sekisho:::application/{DEMO_APP}",
            # A documentation range (RFC 5737): your browser on this machine is not in it.
            "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}},
        },
    ],
}


def write_policy_example() -> str:
    """Write the seed's IP restriction as an IdP policy file; returns its path."""
    import json

    folder = get_config().data_dir / "demo-policies"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "office-only.json"
    path.write_text(json.dumps(OFFICE_ONLY, indent=2) + "\n")
    return str(path)


def run(*, host: str, port: int, serve: bool) -> int:
    """Set up the demo, print what to open, then serve (unless told not to)."""
    username, password = setup()
    config = get_config()
    policy_file = write_policy_example()
    print(
        f"""
Sekisho demo is ready.

  1. Open {config.url("/signin")} in a browser.
  2. Sign in as   {username}
     password     {password}   (new on every 'make demo')
  3. Register an authenticator app (Google Authenticator, Microsoft Authenticator, Authy):
     scan the QR code, then enter the 6-digit code it shows.
  4. In "My applications", choose "Amazon Connect (demo)".
     Sekisho's built-in SAML inspector receives the signed assertion in place of AWS
     and shows the NameID, the Role and RoleSessionName attributes and the signature check.

  5. IP restriction at the IdP (the seed's aws:SourceIp condition, checked before any
     assertion exists). In another terminal:
       .venv/bin/sekisho policy put OfficeOnly {policy_file}
       .venv/bin/sekisho policy attach OfficeOnly --idp
       .venv/bin/sekisho policy detach AllowAll --idp
     Launch Amazon Connect again: "Access denied". Why, in the audit trail:
       .venv/bin/sekisho audit tail -n 1
     Ask the simulator:
       .venv/bin/sekisho policy simulate --idp --user {username} \\
           --app {DEMO_APP} --source-ip 127.0.0.1 --mfa
     Undo: .venv/bin/sekisho policy attach AllowAll --idp

  Switch between English and Japanese with the language menu at the top of every page.
  See the assertion without a browser:
      .venv/bin/sekisho saml preview --app {DEMO_APP} --user {username} --decode
  Audit trail:                          .venv/bin/sekisho audit tail
  Data directory:                       {config.data_dir}

Press Ctrl+C to stop.
""",
        flush=True,
    )
    if not serve:
        return 0
    sys.stdout.flush()
    os.execv(  # noqa: S606 - replace this process with gunicorn
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "2",
            "--no-control-socket",
            "--access-logfile",
            "-",
            "sekisho.wsgi:application",
        ],
    )
