"""`sekisho demo`: the seed's whole system on one machine, IdP and (emulated) AWS side."""

from __future__ import annotations

import secrets
import signal
import string
import subprocess
import sys

from sekisho.audit.writer import RequestContext
from sekisho.config import get_config
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.directory.services import Actor
from sekisho.mfa import radius_demo
from sekisho.portal import demo_aws
from sekisho.saml import services as saml
from sekisho.saml.models import Application

DEMO_USER = "agent1"
DEMO_APP = "amazon-connect"
INSPECTOR_APP = "connect-inspector"


def _one_time_password() -> str:
    alphabet = string.ascii_letters + string.digits
    # 16 random characters from 62: about 95 bits, well past any guessing budget.
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _connect_app(
    *, name: str, display_name: str, side: demo_aws.AwsSide, signin_url: str, actor: Actor
) -> Application:
    """The Amazon Connect app for this instance, recreated if an older demo left another."""
    app = Application.objects.filter(name=name).first()
    if app is not None and (
        app.preset.get("instance_id") != side.instance_id or app.default_acs() != signin_url
    ):
        saml.delete_app(app, actor=actor)
        app = None
    if app is None:
        app = saml.create_amazon_connect_app(
            name=name,
            display_name=display_name,
            region=demo_aws.REGION,
            instance_id=side.instance_id,
            account_id=side.account_id,
            role_name=demo_aws.ROLE_NAME,
            provider_name=demo_aws.PROVIDER_NAME,
            destination="ccp",
            acs="global",
            session_duration=43200,
            signin_url=signin_url,
            console_url=None,
            actor=actor,
        )
    return app


def _actor() -> Actor:
    return Actor(
        name="demo", context=RequestContext(source_ip="127.0.0.1", user_agent="sekisho-demo")
    )


def setup() -> tuple[str, str, demo_aws.AwsSide]:
    """Create (or refresh) the seed walkthrough; returns (username, password, AWS side)."""
    actor = _actor()
    saml.init_instance(actor=actor, quiet=True)
    config = get_config()
    side = demo_aws.provision()
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
    demo_aws.ensure_connect_user(side, DEMO_USER, "Agent", "One")
    # The real path: AWS sign-in (emulated under /aws) → Connect federation → agent console.
    app = _connect_app(
        name=DEMO_APP,
        display_name="Amazon Connect",
        side=side,
        signin_url=config.url("/aws/saml"),
        actor=actor,
    )
    # The same assertion into Sekisho's inspector, to read what AWS receives.
    inspector = _connect_app(
        name=INSPECTOR_APP,
        display_name="Amazon Connect (SAML inspector)",
        side=side,
        signin_url=config.url("/saml/inspector"),
        actor=actor,
    )
    directory.assign(app, user=user, actor=actor)
    directory.assign(inspector, user=user, actor=actor)
    return DEMO_USER, password, side


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
    username, password, side = setup()
    config = get_config()
    radius_password = _one_time_password()
    # The demo RADIUS server is a thread of this process: gunicorn must run as a child
    # (not exec) so that it keeps answering while the demo serves.
    radius_server = radius_demo.configure_demo(
        users={username: radius_password},
        announce=lambda line: print(f"[RADIUS demo] {line}", flush=True),
        actor=_actor(),
        serve=serve,
    )
    radius_step = (
        f"""
     "RADIUS one-time password": a demo RADIUS server runs in this process
     on {radius_server.host}:{radius_server.port} (it stands in for your organisation's OTP server).
       RADIUS password  {radius_password}
       then the 6-digit code this console prints as
       "[RADIUS demo] the RADIUS demo server sent {username} code NNNNNN"."""
        if radius_server is not None
        else ""
    )
    policy_file = write_policy_example()
    move_script = demo_aws.write_move_range_script(side)
    user_script = demo_aws.write_connect_user_script(side)
    print(
        f"""
Sekisho demo is ready: the seed's whole system on this machine. Sekisho is the IdP;
the AWS side (IAM, STS, Amazon Connect) is Sekisho's local emulator under /aws, set up
as the seed does it: a SAML Connect instance "{demo_aws.INSTANCE_ALIAS}", the federation
policy with an aws:SourceIp condition admitting this machine, the IAM policy, the SAML
provider from Sekisho's metadata, the role, and the Connect user "{username}".

  1. Open {config.url("/signin")} in a browser.
  2. Sign in as   {username}
     password     {password}   (new on every 'make demo')
  3. Choose your second factor (any of the three kinds Identity Center offers):
     "Security key or passkey": Touch ID, Windows Hello, a phone or a USB key; next
     time, "Sign in with a passkey" signs in without typing the username.
     "Authenticator app" (Google Authenticator, Microsoft Authenticator, Authy): scan
     the QR code, then enter the 6-digit code it shows.{radius_step}
     Then save the ten recovery codes shown: each signs you in once without a device.
  4. In "My applications", choose "Amazon Connect": the signed assertion goes to the
     emulated AWS sign-in, then Connect federation opens the agent console as {username}.
     "Amazon Connect (SAML inspector)" shows the same assertion decoded instead.

  5. "Access denied" from AWS's side (the seed's step 8): move the IP condition of the
     federation policy to a range that excludes your browser (boto3, CreatePolicyVersion):
       .venv/bin/python {move_script} 203.0.113.0/24
     Choose Amazon Connect again: "Access denied". Back: ... {move_script} 127.0.0.1/32 ::1/128
     Without a Connect user named like the IdP user, "Access denied" too:
       .venv/bin/python {user_script} delete {username}
     Back: ... {user_script} create {username}
     (or create it on Connect's emergency-access page, signing in with the key below:
      {config.url("/aws/connect/" + side.instance_id + "/emergency")})
     Opening {config.url("/aws/connect/" + side.instance_id + "/")} directly: "Session Expired".

  6. The same restriction at the IdP, before any assertion exists:
       .venv/bin/sekisho policy put OfficeOnly {policy_file}
       .venv/bin/sekisho policy attach OfficeOnly --idp
       .venv/bin/sekisho policy detach AllowAll --idp
     Launch Amazon Connect again: refused by Sekisho. Why, in the audit trail:
       .venv/bin/sekisho audit tail -n 1
     Ask the simulator:
       .venv/bin/sekisho policy simulate --idp --user {username} \\
           --app {DEMO_APP} --source-ip 127.0.0.1 --mfa
     Undo: .venv/bin/sekisho policy attach AllowAll --idp

  7. MFA modes as Identity Center names them (every sign-in is the default):
       .venv/bin/sekisho mfa configure --mode context-aware
     Sign in again and tick "Trust this browser": from this browser and this address,
     the next sign-ins skip the second factor (the assertion then says so) until you
     choose "Stop trusting" under My security. A launch can still demand MFA:
       .venv/bin/sekisho app require-mfa {DEMO_APP}
     Back: .venv/bin/sekisho mfa configure --mode always

  boto3 / AWS CLI against the emulated account:
      export AWS_ENDPOINT_URL={side.endpoint_url}
      export AWS_ACCESS_KEY_ID={side.access_key_id}
      export AWS_SECRET_ACCESS_KEY={side.secret_access_key}
      export AWS_DEFAULT_REGION={demo_aws.REGION}

  Switch between English and Japanese with the language menu at the top of every page.
  See the assertion without a browser:
      .venv/bin/sekisho saml preview --app {DEMO_APP} --user {username} --decode
  Audit trail:                          .venv/bin/sekisho audit tail
  Data directory:                       {config.data_dir}

Press Ctrl+C to stop.
""",
        flush=True,
    )
    if radius_server is None:
        return 0
    try:
        return _serve(host, port)
    finally:
        radius_demo.shutdown_demo(radius_server, actor=_actor())


def _serve(host: str, port: int) -> int:
    """Run gunicorn as a child until it ends; Ctrl+C reaches both (one process group)."""
    sys.stdout.flush()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
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
        ]
    )
    # `kill <demo pid>` stops gunicorn too instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
