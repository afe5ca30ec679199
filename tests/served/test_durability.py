"""An acknowledged sign-in keeps its audit record when the server is killed (issue 10).

SQLite runs in WAL mode with synchronous=NORMAL: a commit is in the write-ahead log
before the answer leaves, so killing every server process with SIGKILL right after a
sign-in was acknowledged loses nothing (only a power failure could lose the last
commits, which the README says). On PostgreSQL the same holds by its own durability.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.served.conftest import PASSWORD, browser, make_user
from tests.servers import served_instance


def test_kill_9_after_an_acknowledged_sign_in_loses_no_audit_record(tmp_path: Path) -> None:
    with served_instance(tmp_path) as instance:
        node = instance.start(workers=2)
        make_user(instance, "kimura")
        client = browser(instance)
        assert client.password("kimura", PASSWORD) == "/signin/mfa/register"
        client.register_totp()  # acknowledged: the answer was a 302 to /apps
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait(timeout=10)
        lines = [
            json.loads(line) for line in instance.cli("audit", "tail", "-n", "50").splitlines()
        ]
        signed_in = [
            record
            for record in lines
            if record["eventName"] == "UserAuthentication"
            and record.get("serviceEventDetails", {}).get("UserAuthentication") == "Success"
        ]
        assert signed_in, [record["eventName"] for record in lines]
