"""A real FreeRADIUS 3 on 127.0.0.1 for the session, with users for every RADIUS case.

The configuration is written from scratch into a temporary directory rather than copied
from /etc/freeradius/3.0: Debian makes that tree readable by the freerad group only
(2750/0640), so an unprivileged `make test` could not copy it, and its eap module needs
certificates the package does not generate. Everything else is the real server: the
freeradius binary, its dictionaries, rlm_pap, rlm_files and unlang.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sekisho.mfa.radius import ServerConfig
from tests.servers import stop_process_group

SECRET = b"sekisho-test-shared-secret-3f9c"
HOST = "127.0.0.1"

# Single step: the RADIUS password and the token's code typed in one field.
ALICE = ("alice", "alice-pw 314159")
# A multi-block UTF-8 password (PAP hides it in 16-octet blocks, RFC 2865 §5.2).
YAMADA = ("yamada", "秘密のパスワード 271828")
# Exactly RFC 2865 §5.2's maximum of 128 octets.
LONG = ("longpw", "p" * 122 + "161803")
# Always rejected, with a Reply-Message.
MALLORY = ("mallory", "whatever", "Your token is locked; call the help desk")
# Access-Challenge: password first, then the code named in the Reply-Message.
CAROL = ("carol", "carol-password")
CHALLENGE_PREFIX = "Enter the code "

USERS_FILE = f"""\
{ALICE[0]}\tCleartext-Password := "{ALICE[1]}"
{YAMADA[0]}\tCleartext-Password := "{YAMADA[1]}"
{LONG[0]}\tCleartext-Password := "{LONG[1]}"
{MALLORY[0]}\tAuth-Type := Reject
\tReply-Message := "{MALLORY[2]}"
"""

RADIUSD_CONF = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}/log
raddbdir = {dir}
radacctdir = {dir}/log/radacct
name = freeradius
confdir = {dir}
modconfdir = {dir}/mods-config
run_dir = {dir}/run
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no

log {{
	destination = stdout
	colourise = no
	stripped_names = no
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}}

security {{
	allow_core_dumps = no
	max_attributes = 200
	# Answer rejects at once: the tests measure Sekisho, not the anti-guessing delay.
	reject_delay = 0
	status_server = yes
}}

thread pool {{
	start_servers = 2
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 3
	max_requests_per_server = 0
	auto_limit_acct = no
}}

client loopback {{
	ipaddr = 127.0.0.1
	secret = {secret}
	# Drop Access-Requests without a Message-Authenticator (RFC 3579 §3.2, BlastRADIUS).
	require_message_authenticator = yes
}}

modules {{
	pap {{
		normalise = yes
	}}
	files {{
		filename = {dir}/users
	}}
	expr {{
	}}
	always reject {{
		rcode = reject
	}}
	always handled {{
		rcode = handled
	}}
}}

policy {{
	# As raddb/policy.d/control: answer Access-Challenge now.
	challenge {{
		update control {{
			&Response-Packet-Type = Access-Challenge
		}}
		handled
	}}
}}

server sekisho {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {port}
	}}
	authorize {{
		if (!&User-Password) {{
			reject
		}}
		# As raddb/sites-available/challenge: password first, then a random code.
		if (&User-Name == "{carol}") {{
			if (!&State) {{
				update control {{
					&Auth-Type := Step1
					&Cleartext-Password := "{carol_password}"
				}}
			}}
			else {{
				update control {{
					&Auth-Type := Step2
					&Cleartext-Password := &session-state:Tmp-String-0
				}}
			}}
		}}
		else {{
			files
			pap
		}}
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type Step1 {{
			pap
			update session-state {{
				&Tmp-String-0 := "%{{randstr:nnnnnn}}"
			}}
			update reply {{
				&Reply-Message := "{prefix}%{{session-state:Tmp-String-0}}"
			}}
			challenge
		}}
		Auth-Type Step2 {{
			pap
		}}
	}}
}}
"""


@dataclass(frozen=True)
class FreeRadius:
    """The running server: where it listens, its secret, and its log."""

    host: str
    port: int
    secret: bytes
    log: Path

    def config(
        self, name: str = "freeradius", *, timeout: float = 2.0, retries: int = 0
    ) -> ServerConfig:
        """This server as the RADIUS client's configuration."""
        return ServerConfig(
            name=name,
            host=self.host,
            port=self.port,
            timeout=timeout,
            retries=retries,
            secret=self.secret,
        )

    def log_text(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(errors="replace")


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def code_from(message: str) -> str:
    """The code FreeRADIUS put in its challenge's Reply-Message."""
    match = re.fullmatch(re.escape(CHALLENGE_PREFIX) + r"(\d{6})", message)
    assert match, f"unexpected challenge message {message!r}"
    return match.group(1)


def _freeradius() -> str:
    found = shutil.which(
        "freeradius", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    )
    if found is None:
        pytest.fail(
            "FreeRADIUS is not installed: the RADIUS tests need the Debian package "
            "'freeradius' (make test installs it; or: apt-get install freeradius)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    """FreeRADIUS in the foreground on a free UDP port of 127.0.0.1, stopped by PID."""
    binary = _freeradius()
    folder = tmp_path_factory.mktemp("freeradius")
    for sub in ("log", "run", "mods-config"):
        (folder / sub).mkdir()
    port = free_udp_port()
    (folder / "radiusd.conf").write_text(
        RADIUSD_CONF.format(
            dir=folder,
            port=port,
            secret=SECRET.decode(),
            carol=CAROL[0],
            carol_password=CAROL[1],
            prefix=CHALLENGE_PREFIX,
        )
    )
    (folder / "users").write_text(USERS_FILE, encoding="utf-8")
    log = folder / "log" / "stdout.log"
    # -X instead of -f shows every packet (and, this being a test, every password).
    flags = ["-X"] if os.environ.get("SEKISHO_FREERADIUS_DEBUG") else ["-f", "-l", "stdout"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, *flags, "-d", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = FreeRadius(host=HOST, port=port, secret=SECRET, log=log)
    try:
        deadline = time.monotonic() + 30
        while "Ready to process requests" not in server.log_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"FreeRADIUS did not start (exit status {proc.poll()}):\n"
                    + server.log_text()[-3000:],
                    pytrace=False,
                )
            time.sleep(0.05)
        yield server
    finally:
        stop_process_group(proc)
