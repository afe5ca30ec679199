"""`sekisho demo`: the seed's whole system on one machine, IdP and (emulated) AWS side.

Set up as its users would: the IdP through the services behind `sekisho user|app …`, the
AWS side through boto3 against /aws (the served endpoint; in this process with
``--no-serve``, where nothing is served).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from sekisho.admin import users as admin_users
from sekisho.audit.writer import Actor, RequestContext
from sekisho.config import get_config
from sekisho.demo import aws as demo_aws
from sekisho.demo.transport import InProcess
from sekisho.directory import errors as directory_errors
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.mfa import radius_demo
from sekisho.provisioning import services as provisioning
from sekisho.saml import assignments
from sekisho.saml import errors as saml_errors
from sekisho.saml import services as saml
from sekisho.saml.models import Application
from sekisho.serving import loopback_for, prepare_server, server_command

DEMO_USER = "agent1"
DEMO_APP = "amazon-connect"
INSPECTOR_APP = "connect-inspector"
STARTUP_SECONDS = 60.0


def _existing_app(name: str) -> Application | None:
    try:
        return saml.get_app(name)
    except saml_errors.SamlError:
        return None


def _connect_app(
    *,
    name: str,
    display_name: str,
    side: demo_aws.AwsSide,
    signin_url: str,
    actor: Actor,
    logout_url: str | None = None,
) -> Application:
    """The Amazon Connect app for this instance, recreated if an older demo left another."""
    app = _existing_app(name)
    if app is not None and (
        app.preset.get("instance_id") != side.instance_id
        or app.default_acs() != signin_url
        or (app.preset.get("logout_url") or None) != logout_url
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
            logout_url=logout_url,
            actor=actor,
        )
    return app


def _actor() -> Actor:
    return Actor(
        name="demo", context=RequestContext(source_ip="127.0.0.1", user_agent="sekisho-demo")
    )


def setup_idp() -> tuple[User, str]:
    """Initialise Sekisho and (re)create the demo user with a fresh temporary password.

    The password is truly initial: agent1 must replace it at the first sign-in. Run again,
    the demo starts agent1 over: a new temporary password, no MFA devices, no locks, no
    sessions, so the walkthrough's first sign-in is a first sign-in again.
    """
    actor = _actor()
    saml.init_instance(actor=actor, quiet=True)
    password = admin_users.temporary_password()
    try:
        user = directory.get_user(DEMO_USER)
    except directory_errors.UserNotFound:
        user = admin_users.create_user(
            username=DEMO_USER,
            email="agent1@example.com",
            display_name="Agent One",
            password=password,
            temporary=True,
            actor=actor,
        )
    else:
        admin_users.reset_mfa(user, actor=actor)
        admin_users.set_password(user, password, temporary=True, actor=actor)
        admin_users.set_status(user, active=True, actor=actor)
        admin_users.unlock(user, actor=actor)
    return user, password


def setup_aws(
    user: User, *, endpoint_url: str, in_process: InProcess | None = None
) -> demo_aws.AwsSide:
    """The AWS side through the provisioning services (boto3), and the two Connect apps."""
    actor = _actor()
    config = get_config()
    key = demo_aws.root_key()
    aws = demo_aws.open_aws(key, endpoint_url=endpoint_url, in_process=in_process)
    quiet: Callable[[str], None] = lambda _line: None  # noqa: E731 - the demo prints its own
    instance_id = provisioning.ensure_saml_instance(aws, demo_aws.INSTANCE_ALIAS, out=quiet)
    side = demo_aws.side(key, instance_id)
    # The real path: AWS sign-in (emulated under /aws) → Connect federation → agent console.
    app = _connect_app(
        name=DEMO_APP,
        display_name="Amazon Connect",
        side=side,
        signin_url=config.url("/aws/saml"),
        # The emulated instance's logout, which Sekisho's sign-out requests (no SAML SLO).
        logout_url=config.url(f"/aws/connect/{demo_aws.INSTANCE_ALIAS}/connect/logout"),
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
    # `sekisho aws setup-connect` and `sync-users`, as an administrator runs them.
    provisioning.setup_connect(
        DEMO_APP,
        aws,
        allowed_ips=demo_aws.ADMITTED,
        policy_name=demo_aws.FEDERATION_POLICY,
        extra_policies=demo_aws.extra_policies(),
        actor=actor,
        out=quiet,
    )
    assignments.assign(app, user=user, actor=actor)
    assignments.assign(inspector, user=user, actor=actor)
    provisioning.sync_users(DEMO_APP, aws, out=quiet)
    return side


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
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "office-only.json"
    path.write_text(json.dumps(OFFICE_ONLY, indent=2) + "\n")
    path.chmod(0o600)  # like every file in SEKISHO_DATA
    return str(path)


def setup() -> tuple[str, str, demo_aws.AwsSide]:
    """The whole walkthrough without serving (AWS side in this process): user, password, AWS."""
    user, password = setup_idp()
    side = setup_aws(user, endpoint_url=get_config().url("/aws"), in_process=InProcess())
    return user.username, password, side


def run(*, host: str, port: int, serve: bool) -> int:
    """Set up the demo, serve it (unless told not to), provision AWS, print what to do."""
    user, password = setup_idp()
    username = user.username
    config = get_config()
    radius_password = admin_users.temporary_password()
    # The demo RADIUS server is a thread of this process: the server must run as a child
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
    child = _start_server(host, port) if serve else None
    try:
        if child is None:
            side = setup_aws(user, endpoint_url=config.url("/aws"), in_process=InProcess())
        else:
            # The AWS side is provisioned over HTTP, through the server people will use.
            served = f"http://{_url_host(loopback_for(host))}:{port}"
            _wait_until_serving(child, f"{served}/saml/metadata")
            side = setup_aws(user, endpoint_url=f"{served}/aws")
    except BaseException:
        if child is not None:
            _stop(child)
        if radius_server is not None:
            radius_demo.shutdown_demo(radius_server, actor=_actor())
        raise
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
     password     {password}
     This password is temporary: after the second factor, choose your own. Every
     'make demo' starts {username} over (a new temporary password, no MFA devices).
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
  (IAM is global: sign it for us-east-1, e.g. aws iam list-roles --region us-east-1.)
  The same AWS side in a real account: see README, "The AWS side in a real account".

  8. The administration console (users, applications, policies, audit) at {config.url("/admin/")},
     for administrators: .venv/bin/sekisho user grant-role {username} admin
     and the REST API at {config.url("/api/v1/")} (OpenAPI: {config.url("/api/v1/openapi.json")}):
       .venv/bin/sekisho api-token create automation --role admin

  Switch between English and Japanese with the language menu at the top of every page.
  See the assertion without a browser:
      .venv/bin/sekisho saml preview --app {DEMO_APP} --user {username} --decode
  Audit trail:                          .venv/bin/sekisho audit tail
  Data directory:                       {config.data_dir}

Press Ctrl+C to stop.
""",
        flush=True,
    )
    if child is None:
        return 0
    try:
        return _wait(child)
    finally:
        if radius_server is not None:
            radius_demo.shutdown_demo(radius_server, actor=_actor())


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _start_server(host: str, port: int) -> subprocess.Popen[bytes]:
    """Start the server as a child: the demo's RADIUS thread must keep running beside it."""
    config = get_config()
    log_config = prepare_server(config.data_dir, host=host, port=port, log_format=config.log_format)
    sys.stdout.flush()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        server_command(host=host, port=port, workers=2, log_config=log_config)
    )
    # `kill <demo pid>` stops the server too instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    return child


def _wait_until_serving(child: subprocess.Popen[bytes], url: str) -> None:
    """Wait until the server answers (or say why it never will)."""
    from sekisho.errors import SekishoError

    # Loopback only: a proxy from the environment must never see the demo's traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SekishoError(f"the server exited with status {child.returncode} on start-up")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SekishoError(f"the server did not answer {url} within {STARTUP_SECONDS:.0f} seconds")


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _wait(child: subprocess.Popen[bytes]) -> int:
    """Wait for the server; Ctrl+C reaches both (one process group)."""
    try:
        return child.wait()
    except KeyboardInterrupt:
        _stop(child)
        return 0
