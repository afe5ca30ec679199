"""The administration API and console against real `sekisho serve` processes.

Schemathesis fuzzes the served API from its own OpenAPI document (boundary values, random
data, and stateful sequences along the document's links): no answer may be a 5xx, and
every answer must match the document (status, content type, headers, body schema).
Sessions and rate limits live in the database, so two nodes agree on them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.served.client import Browser, seed_directory
from tests.servers import Instance, served_instance

PASSWORD = "correct horse battery staple"
# Bounded: a few examples per operation and phase; the seed makes a run repeatable.
SCHEMATHESIS_EXAMPLES = 6
SCHEMATHESIS_SEED = 1212
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """An installation with the demo's data and two nodes sharing its database."""
    with served_instance(Path(tmp_path_factory.mktemp("admin-api"))) as instance:
        token = instance.cli("api-token", "create", "seed", "--role", "admin").strip()
        environ = {"SEKISHO_API_RATE_LIMIT": "100000"}
        instance.start(workers=2, environ=environ)
        instance.start(workers=1, environ=environ, data=instance.node_data("node-b"))
        seed_directory(instance.nodes[0].url, token)
        yield instance


def _token(site: Instance, name: str, role: str) -> str:
    return site.cli("api-token", "create", name, "--role", role).strip()


def _api(site: Instance, node: int = 0) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only
    session.base_url = site.nodes[node].url + "/api/v1"  # type: ignore[attr-defined]
    return session


def test_a_session_revoked_through_node_a_ends_on_node_b(site: Instance) -> None:
    site.cli(
        "user",
        "create",
        "lena",
        "--email",
        "lena@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    browser = Browser(site.nodes[1].url, origin=site.base_url)
    assert browser.password("lena", PASSWORD) == "/signin/mfa/register"
    browser.register_totp()
    assert browser.get("/apps").status_code == 200
    helpdesk = _api(site)
    helpdesk.headers["Authorization"] = f"Bearer {_token(site, 'helpdesk-a', 'helpdesk')}"
    listed = helpdesk.get(helpdesk.base_url + "/users/lena/sessions", timeout=30)  # type: ignore[attr-defined]
    assert listed.status_code == 200 and len(listed.json()) == 1
    session_id = listed.json()[0]["session_id"]
    ended = helpdesk.delete(helpdesk.base_url + f"/sessions/{session_id}", timeout=30)  # type: ignore[attr-defined]
    assert ended.status_code == 204
    after = browser.get("/apps")  # node B, the session ended through node A
    assert after.status_code == 302 and after.headers["Location"].startswith("/signin")
    audit = site.cli("audit", "tail", "-n", "30")
    assert '"RevokeSessions"' in audit and '"api:helpdesk-a"' in audit


def test_the_rate_limit_is_shared_by_every_node(site: Instance) -> None:
    token = _token(site, "limited", "auditor")
    nodes = [
        site.start(workers=1, environ={"SEKISHO_API_RATE_LIMIT": "4"}, data=site.node_data(name))
        for name in ("node-c", "node-d")
    ]
    statuses = []
    for index in range(6):
        session = requests.Session()
        session.trust_env = False
        response = session.get(
            nodes[index % 2].url + "/api/v1/dashboard",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses[:4] == [200, 200, 200, 200] and statuses[4:] == [429, 429], statuses
    for node in nodes:
        node.stop()
    site.nodes.remove(nodes[0])
    site.nodes.remove(nodes[1])


# Last: fuzzing changes what it finds (policies, MFA settings), so nothing runs after it.
@pytest.mark.once
def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    site: Instance, tmp_path: Path
) -> None:
    token = _token(site, "schemathesis", "admin")
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a test dependency (pyproject [test])"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "*"
    done = subprocess.run(
        [
            binary,
            "run",
            f"{site.nodes[0].url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--phases",
            "coverage,fuzzing,stateful",
            "--max-examples",
            str(SCHEMATHESIS_EXAMPLES),
            "--seed",
            str(SCHEMATHESIS_SEED),
            "--generation-database",
            "none",
            # One worker: with two, schemathesis's threads ran hypothesis's ast.parse
            # at once and CPython 3.11.7 failed the run with "AST constructor recursion
            # depth mismatch" (its AST state is shared between threads; gh-106905).
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--max-failures",
            "20",
            "--output-truncate",
            "true",
        ],
        cwd=tmp_path,  # its cache and reports stay out of the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert " passed" in done.stdout and "failures" not in done.stdout.split("SUMMARY")[-1], report
    # The server never logged a traceback while being fuzzed.
    for node in site.nodes:
        assert "Traceback" not in node.log.read_text(errors="replace"), node.log
